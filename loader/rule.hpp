// A rule as the operator writes it, and its encoding in the BPF maps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "loader/address.hpp"
#include "maps/airgap_maps.h"

namespace airgap {

enum class RuleKind : std::uint8_t {
	allow_out = AG_RULE_ALLOW_OUT,
	allow_in = AG_RULE_ALLOW_IN,
	forward = AG_RULE_FORWARD,
};

std::string_view rule_kind_name(RuleKind kind); // "allow-out", "allow-in", "forward"

struct Rule {
	RuleKind kind = RuleKind::allow_out;
	std::uint8_t proto = 0;
	std::uint16_t port = 0; // host byte order; 0 is any port
	// The remote endpoint for allow-out, the remote source for allow-in, the
	// container source for forward.
	Prefix peer;
	std::string name;

	// Throws Error when the name or the port does not fit the rule.
	void validate() const;
	// True when both admit the same packets, whatever their names.
	bool same_match(const Rule &other) const;
	// One line for messages: "forward billing-db: tcp port 8443 from 172.17.0.5".
	std::string describe() const;

	ag_rule_key map_key() const;
	ag_rule_info map_info(std::uint32_t gen) const;
	static Rule from_map_info(const ag_rule_info &info);

	bool operator==(const Rule &) const = default;
};

// Throws Error unless the name is 1..AG_RULE_NAME_LEN-1 characters of
// letters, digits, '.', '_' and '-'.
void validate_rule_name(std::string_view name);

} // namespace airgap
