// Rendering of counters and status for the CLI: text tables and JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "loader/counter_names.hpp"
#include "loader/filter.hpp"
#include "loader/rule_maps.hpp"

namespace airgap {

std::string rule_match_text(const Rule &rule);

struct StatsSnapshot {
	std::vector<RuleCounters> rules;
	HookCounters hooks{};
};

StatsSnapshot read_stats(const FilterMaps &maps);

// Per-rule rows, then per-hook rows; with all_reasons, zero rows too. Given
// an earlier snapshot taken `seconds` before, each row also shows its rate.
std::string stats_text(const StatsSnapshot &now, bool all_reasons, const StatsSnapshot *before = nullptr,
		       double seconds = 0);
nlohmann::json stats_json(const StatsSnapshot &now);
// The Prometheus text exposition format, for node_exporter's textfile collector.
std::string stats_prometheus(const StatsSnapshot &now);

std::string status_text(const FilterStatus &status, const std::string &pin_dir);

} // namespace airgap
