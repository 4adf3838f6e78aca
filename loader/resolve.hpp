// Rules with the addresses they match: their own address or prefix, or
// what their host name resolves to when the rule is applied.
#pragma once

#include <vector>

#include "loader/address.hpp"
#include "loader/rule.hpp"

namespace airgap {

struct ResolvedRule {
	Rule rule;
	std::vector<Prefix> addresses; // one trie entry each
};

// Every address the system resolver (getaddrinfo) returns for host, IPv4 and
// IPv6, without repeats. Throws Error naming the host when there is none.
std::vector<Prefix> resolve_host(const std::string &host);

// Resolve every rule's host name; rules without one keep their own prefix.
// Throws Error naming the rule when a name does not resolve.
std::vector<ResolvedRule> resolve_rules(const std::vector<Rule> &rules);
ResolvedRule resolve_rule(const Rule &rule);
// As resolve_rules(), but a name that does not resolve leaves its rule with
// no address, after a warning, so that a filter loaded at boot before DNS
// works is still loaded. 'airgap-bpf refresh' resolves the name later.
std::vector<ResolvedRule> resolve_rules_or_warn(const std::vector<Rule> &rules);

} // namespace airgap
