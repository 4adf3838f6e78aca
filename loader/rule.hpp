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
	// Instead of peer, a host name whose addresses are looked up when the
	// rule is applied (allow-out and allow-in only).
	std::string host;
	std::string name;

	// Throws Error when the name or the port does not fit the rule.
	void validate() const;
	// True when both admit the same packets, whatever their names.
	bool same_match(const Rule &other) const;
	// What same_match() compares, as text, for indexing rules by it.
	std::string match_key() const;
	// One line for messages: "forward billing-db: tcp port 8443 from 172.17.0.5".
	std::string describe() const;
	// The host name, or the peer address or prefix, as text.
	std::string peer_text() const;

	// The trie key for one of the rule's addresses.
	ag_rule_key map_key(const Prefix &address) const;
	ag_rule_info map_info(std::uint32_t gen) const;
	static Rule from_map_info(const ag_rule_info &info);

	bool operator==(const Rule &) const = default;
};

// Throws Error unless the name is 1..AG_RULE_NAME_LEN-1 characters of
// letters, digits, '.', '_' and '-'.
void validate_rule_name(std::string_view name);

// True for a DNS host name (RFC 1123 labels, at most AG_RULE_HOST_LEN-1
// characters, a letter in the last label so that no address parses as one).
bool is_host_name(std::string_view text);

// Parse a rule's peer: an address, a prefix, "any", or a host name.
void parse_peer(std::string_view text, Rule &rule);

} // namespace airgap
