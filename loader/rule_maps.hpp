// The filter's BPF maps, opened from their pins or from a loaded skeleton,
// with typed reads and edits. Callers serialise edits (see bpffs.hpp).
#pragma once

#include <array>
#include <map>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loader/resolve.hpp"
#include "loader/rule.hpp"
#include "loader/unique_fd.hpp"
#include "maps/airgap_maps.h"

namespace airgap {

struct LiveRule {
	std::uint32_t id;
	Rule rule;
};

struct RuleCounters {
	LiveRule rule;
	ag_counter counter;
};

// The rules a switch of the whole rule set added and removed. Rules that
// stayed are in neither list.
struct RuleChanges {
	std::vector<Rule> added;
	std::vector<Rule> removed;
};

using HookCounters = std::array<ag_counter, AG_HOOK_STATS_LEN>;

// Trie entries per rule slot: a host-name rule has one per address.
constexpr std::uint32_t kTrieEntriesPerRule = 4;

class FilterMaps {
public:
	struct Fds {
		int rules, rule_table, rule_stats, hook_stats, flows, settings, interfaces, bridge_names, host_addrs;
	};

	// Open the maps pinned under pin_dir; throws Error naming the missing pin.
	static FilterMaps open_pinned(const std::string &pin_dir);
	// Use maps already open, such as a loaded skeleton's; the fds are duplicated.
	static FilterMaps from_fds(const Fds &fds);

	std::vector<LiveRule> rules() const;
	std::optional<LiveRule> find_rule(std::string_view name) const;

	// Add a rule with one trie entry per address; returns its id. Throws
	// Error, changing nothing, when the rule is invalid, its name or its
	// match is taken, or a map is full.
	std::uint32_t add_rule(const ResolvedRule &rule);
	// Delete a rule and cut the flows it admitted.
	void delete_rule(const LiveRule &live);
	// What replace_rules() would add and remove, changing nothing. Throws
	// Error for the rule sets it would reject.
	RuleChanges plan_rules(const std::vector<Rule> &rules) const;
	// Make the live rules exactly rules, in one switch: the new rule set is
	// built in a new trie beside the live one, then swapped in. Rules that
	// stay keep their ids, counters and flows; removed rules' flows are cut.
	// Throws Error, changing nothing, when a rule is invalid or a map full.
	RuleChanges replace_rules(const std::vector<ResolvedRule> &rules);
	// The addresses each rule id has trie entries for.
	std::map<std::uint32_t, std::vector<Prefix>> rule_addresses() const;

	// Per-rule counters summed over CPUs, for live rules.
	std::vector<RuleCounters> rule_counters() const;
	HookCounters hook_counters() const;
	std::size_t flow_count() const;

	ag_settings settings() const;
	void set_settings(const ag_settings &settings);

	std::vector<ag_interface> interfaces() const;
	void set_interfaces(const std::vector<ag_interface> &interfaces);

	// The bridge names and patterns given at load time.
	std::vector<std::string> bridge_names() const;
	void set_bridge_names(const std::vector<std::string> &names);

	// Add addresses to the host's own, which allow-in and forward rules open
	// ports on; the programs add every source address the host sends from.
	// Returns how many were new.
	std::size_t add_host_addresses(const std::vector<Prefix> &addresses);
	std::vector<Prefix> host_addresses() const;

	std::uint32_t max_rules() const { return max_rules_; }

private:
	FilterMaps() = default;
	void check_layouts() const;
	// Throws Error for an invalid rule, a repeated name or match, or a set
	// larger than the table.
	void check_rule_set(const std::vector<Rule> &rules) const;
	ag_rule_info rule_info(std::uint32_t id) const;
	void read_max_rules();
	std::vector<ag_rule_info> rule_table() const;
	void write_info(std::uint32_t id, const ag_rule_info &info);
	void zero_rule_counter(std::uint32_t id);
	ag_counter sum_percpu(int fd, std::uint32_t index, const char *map_name) const;
	UniqueFd live_trie() const;
	std::vector<std::pair<ag_rule_key, ag_rule_ref>> trie_entries(int trie) const;
	UniqueFd create_trie() const;
	void free_slot(std::uint32_t id, std::uint32_t gen);

	UniqueFd rules_, rule_table_, rule_stats_, hook_stats_, flows_, settings_, interfaces_, bridge_names_,
		host_addrs_;
	std::uint32_t max_rules_ = 0;
};

} // namespace airgap
