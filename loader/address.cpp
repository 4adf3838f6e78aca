#include "loader/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "loader/error.hpp"

namespace airgap {
namespace {

constexpr std::uint8_t kIpv4MappedBits = 96;
constexpr std::array<std::uint8_t, 12> kIpv4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool parse_number(std::string_view text, unsigned max, unsigned &value)
{
	if (text.empty() || text.size() > 5)
		return false;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	return ec == std::errc() && end == text.data() + text.size() && value <= max;
}

bool prefix_bits_clear(const std::array<std::uint8_t, 16> &addr, unsigned len)
{
	for (unsigned bit = len; bit < 128; bit++) {
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	}
	return true;
}

} // namespace

Prefix Prefix::parse(std::string_view text)
{
	if (text == "any")
		return any();

	std::string_view addr_text = text;
	std::string_view len_text;
	if (auto slash = text.find('/'); slash != std::string_view::npos) {
		addr_text = text.substr(0, slash);
		len_text = text.substr(slash + 1);
	}

	Prefix prefix;
	std::string addr_string(addr_text);
	in_addr v4{};
	in6_addr v6{};
	unsigned max_len;
	if (inet_pton(AF_INET, addr_string.c_str(), &v4) == 1) {
		std::copy(kIpv4MappedPrefix.begin(), kIpv4MappedPrefix.end(), prefix.addr.begin());
		std::memcpy(&prefix.addr[12], &v4, 4);
		max_len = 32;
	} else if (inet_pton(AF_INET6, addr_string.c_str(), &v6) == 1) {
		std::memcpy(prefix.addr.data(), &v6, 16);
		max_len = 128;
	} else {
		fail("invalid address '{}': expected an IPv4 or IPv6 address, optionally with /LEN", text);
	}

	unsigned len = max_len;
	if (!len_text.empty() || text.find('/') != std::string_view::npos) {
		if (!parse_number(len_text, max_len, len))
			fail("invalid prefix length in '{}': expected 0..{}", text, max_len);
	}
	if (max_len == 32) {
		len += kIpv4MappedBits;
	} else if (len >= kIpv4MappedBits &&
		   std::equal(kIpv4MappedPrefix.begin(), kIpv4MappedPrefix.end(), prefix.addr.begin())) {
		fail("invalid address '{}': write IPv4-mapped addresses as IPv4", text);
	}
	if (!prefix_bits_clear(prefix.addr, len))
		fail("invalid prefix '{}': bits are set past the prefix length", text);
	prefix.len = static_cast<std::uint8_t>(len);
	return prefix;
}

bool Prefix::is_ipv4() const
{
	return len >= kIpv4MappedBits &&
	       std::equal(kIpv4MappedPrefix.begin(), kIpv4MappedPrefix.end(), addr.begin());
}

bool Prefix::contains(const Prefix &other) const
{
	if (other.len < len)
		return false;
	for (unsigned bit = 0; bit < len; bit++) {
		std::uint8_t mask = 0x80 >> (bit % 8);
		if ((addr[bit / 8] & mask) != (other.addr[bit / 8] & mask))
			return false;
	}
	return true;
}

std::string Prefix::to_string() const
{
	if (is_any())
		return "any";
	char text[INET6_ADDRSTRLEN];
	if (is_ipv4()) {
		inet_ntop(AF_INET, &addr[12], text, sizeof(text));
		unsigned v4_len = len - kIpv4MappedBits;
		return v4_len == 32 ? std::string(text) : fmt::format("{}/{}", text, v4_len);
	}
	inet_ntop(AF_INET6, addr.data(), text, sizeof(text));
	return len == 128 ? std::string(text) : fmt::format("{}/{}", text, len);
}

std::uint8_t parse_protocol(std::string_view text)
{
	if (text == "tcp")
		return IPPROTO_TCP;
	if (text == "udp")
		return IPPROTO_UDP;
	if (text == "icmp")
		return IPPROTO_ICMP;
	if (text == "icmpv6")
		return IPPROTO_ICMPV6;
	unsigned number;
	if (parse_number(text, 255, number))
		return static_cast<std::uint8_t>(number);
	fail("invalid protocol '{}': expected tcp, udp, icmp, icmpv6 or a number 0..255", text);
}

std::string protocol_name(std::uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return std::to_string(proto);
	}
}

bool protocol_has_ports(std::uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

std::uint16_t parse_port(std::string_view text)
{
	if (text == "any")
		return 0;
	unsigned number;
	if (!parse_number(text, 65535, number) || number == 0)
		fail("invalid port '{}': expected 1..65535 or 'any'", text);
	return static_cast<std::uint16_t>(number);
}

} // namespace airgap
