// Command groups of the airgap-bpf CLI, each registered on the top-level app.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace airgap {

struct GlobalOptions {
	int verbose = 0;
	std::string pin_dir;
};

// load, unload, status, watch
void add_filter_commands(CLI::App &app, GlobalOptions &global);
// rule add|del|list, forward add|del|list, save, restore, refresh
void add_rule_commands(CLI::App &app, GlobalOptions &global);
// stats
void add_stats_command(CLI::App &app, GlobalOptions &global);

} // namespace airgap
