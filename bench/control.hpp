// Control-plane costs measured inside one process: program load with
// verification, rule inserts and deletes through the loader library, and
// the bare map updates beneath them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct ControlOptions {
	std::uint32_t rules = 100000;
	std::uint32_t max_rules = 131072;
	std::uint32_t loads = 5;          // program loads timed
	std::uint32_t library_edits = 30; // FilterMaps::add_rule and delete_rule calls timed
	std::uint32_t map_edits = 2000;   // bare trie updates timed
};

void run_control(const ControlOptions &options);

// Write rule_set(rules) into the maps of a filter pinned under pin_dir,
// which must hold no rules yet.
void fill_pinned(const std::string &pin_dir, std::uint32_t rules);

// Run a command count times, with "{i}" in its arguments replaced by the
// run's number, and print each run's wall time.
void time_commands(const std::string &label, std::uint32_t count, const std::vector<std::string> &command);

} // namespace bench
