// Addresses, prefixes, protocols and ports as the rules use them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace airgap {

// An IPv6 prefix, or an IPv4 one stored IPv4-mapped (::ffff:a.b.c.d), the
// form the BPF maps use. len counts IPv6 bits: an IPv4 /24 has len 120.
struct Prefix {
	std::array<std::uint8_t, 16> addr{};
	std::uint8_t len = 0;

	// Parse "ADDR", "ADDR/LEN" or "any"; throws Error naming the text.
	static Prefix parse(std::string_view text);
	// Every address, IPv4 and IPv6.
	static Prefix any() { return Prefix{}; }

	bool is_ipv4() const;
	bool is_any() const { return len == 0; }
	bool contains(const Prefix &other) const;
	std::string to_string() const;

	bool operator==(const Prefix &) const = default;
	auto operator<=>(const Prefix &) const = default;
};

// "tcp", "udp", "icmp", "icmpv6" or a number 0..255; throws Error.
std::uint8_t parse_protocol(std::string_view text);
std::string protocol_name(std::uint8_t proto);
bool protocol_has_ports(std::uint8_t proto);

// "1".."65535", or "any" (returns 0); throws Error.
std::uint16_t parse_port(std::string_view text);

} // namespace airgap
