// The policy file: interfaces, DNS and DHCP switches, and rules, in TOML.
// docs/policy.md documents the format.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loader/address.hpp"
#include "loader/rule.hpp"

namespace airgap {

struct Policy {
	std::optional<std::string> uplink;
	std::vector<std::string> bridges; // names or fnmatch(3) patterns such as "br-*"
	bool dhcp = false;
	std::vector<Prefix> dns; // resolvers: udp and tcp port 53 out
	std::vector<Rule> rules;

	// The rules to load: the DNS resolvers' rules, then the file's rules.
	std::vector<Rule> effective_rules() const;
};

// Parse a policy file. Throws Error naming the file, the line and what is wrong.
Policy parse_policy_file(const std::string &path);
// Parse policy text; source names it in errors.
Policy parse_policy(std::string_view text, const std::string &source);

// Throw Error unless name is a valid Linux interface name (1 to 15
// characters, none of them '/', ':', whitespace or control characters), or,
// with patterns allowed, an fnmatch(3) pattern of such characters.
void validate_interface_name(std::string_view name, bool pattern_allowed);

// Name of the rule that lets the host reach resolver number index (from 1) over proto.
std::string dns_rule_name(std::size_t index, std::uint8_t proto);

} // namespace airgap
