// Writing a policy back in the policy file format, for `airgap-bpf save`.
#pragma once

#include <string>
#include <vector>

#include "loader/policy.hpp"

namespace airgap {

// The policy as TOML that parse_policy() reads back to an equal policy.
std::string format_policy(const Policy &policy);

// Split rules into a policy: the allow-out rules that effective_rules() makes
// for DNS resolvers become dns entries again, the rest stay rules.
Policy policy_from_rules(const std::vector<Rule> &rules);

} // namespace airgap
