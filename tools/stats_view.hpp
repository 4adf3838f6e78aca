// Rendering of counters and status for the CLI: text tables and JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "loader/filter.hpp"
#include "loader/rule_maps.hpp"

namespace airgap {

std::string hook_name(unsigned hook);
std::string pass_reason_name(unsigned reason);
std::string drop_reason_name(unsigned reason);
std::string rule_match_text(const Rule &rule);

// Per-rule rows, then per-hook rows; with all_reasons, zero rows too.
std::string stats_text(const std::vector<RuleCounters> &rules, const HookCounters &hooks, bool all_reasons);
nlohmann::json stats_json(const std::vector<RuleCounters> &rules, const HookCounters &hooks);

std::string status_text(const FilterStatus &status, const std::string &pin_dir);

} // namespace airgap
