#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

#include "error_message.hpp"
#include "loader/address.hpp"

using airgap::Prefix;

namespace {

using Bytes16 = std::array<std::uint8_t, 16>;

Bytes16 ipv4_mapped(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d)
{
	return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d};
}

// 2001:db8:: followed by the given last two bytes.
Bytes16 documentation_v6(std::uint8_t byte14, std::uint8_t byte15)
{
	return {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte14, byte15};
}

} // namespace

TEST_CASE("Prefix::parse accepts addresses and prefixes", "[address]")
{
	struct Row {
		const char *text;
		Bytes16 addr;
		unsigned len;
		bool ipv4;
	};
	const Row rows[] = {
		{"203.0.113.10", ipv4_mapped(203, 0, 113, 10), 128, true},
		{"203.0.113.0/24", ipv4_mapped(203, 0, 113, 0), 120, true},
		{"198.51.100.0/31", ipv4_mapped(198, 51, 100, 0), 127, true},
		{"198.51.100.7/32", ipv4_mapped(198, 51, 100, 7), 128, true},
		{"0.0.0.0/0", ipv4_mapped(0, 0, 0, 0), 96, true},
		{"172.16.0.0/12", ipv4_mapped(172, 16, 0, 0), 108, true},
		{"2001:db8::1", documentation_v6(0, 1), 128, false},
		{"2001:db8::/32", documentation_v6(0, 0), 32, false},
		{"2001:db8::100/120", documentation_v6(1, 0), 120, false},
	};
	for (const Row &row : rows) {
		INFO("text: " << row.text);
		Prefix prefix = Prefix::parse(row.text);
		CHECK(prefix.addr == row.addr);
		CHECK(unsigned(prefix.len) == row.len);
		CHECK(prefix.is_ipv4() == row.ipv4);
		CHECK_FALSE(prefix.is_any());
	}
}

TEST_CASE("Prefix::parse of any", "[address]")
{
	Prefix any = Prefix::parse("any");
	CHECK(any.is_any());
	CHECK(any.len == 0);
	CHECK(any.addr == Bytes16{});
	CHECK(any == Prefix::any());
	CHECK_FALSE(any.is_ipv4());

	// ::/0 covers IPv6 and the IPv4-mapped range alike, so it is "any" too.
	CHECK(Prefix::parse("::/0") == Prefix::any());
	// 0.0.0.0/0 covers only IPv4.
	CHECK_FALSE(Prefix::parse("0.0.0.0/0").is_any());
}

TEST_CASE("Prefix::parse rejects bad text and names it", "[address]")
{
	struct Row {
		const char *text;
		const char *what; // part of the expected message
	};
	const Row rows[] = {
		{"", "invalid address ''"},
		{"203.0.113", "invalid address '203.0.113'"},
		{"203.0.113.256", "invalid address '203.0.113.256'"},
		{"relay.example", "invalid address 'relay.example'"},
		{" 203.0.113.10", "invalid address ' 203.0.113.10'"},
		{"203.0.113.10 ", "invalid address '203.0.113.10 '"},
		{"2001:db8::g", "invalid address '2001:db8::g'"},
		{"ANY", "invalid address 'ANY'"},
		{"/24", "invalid address '/24'"},
		{"203.0.113.10/", "invalid prefix length in '203.0.113.10/'"},
		{"203.0.113.10/33", "invalid prefix length in '203.0.113.10/33': expected 0..32"},
		{"203.0.113.10/-1", "invalid prefix length in '203.0.113.10/-1'"},
		{"203.0.113.0/24x", "invalid prefix length in '203.0.113.0/24x'"},
		{"203.0.113.0/2 4", "invalid prefix length in '203.0.113.0/2 4'"},
		{"2001:db8::/129", "invalid prefix length in '2001:db8::/129': expected 0..128"},
		{"203.0.113.0/24/8", "invalid prefix length in '203.0.113.0/24/8'"},
	};
	for (const Row &row : rows) {
		INFO("text: '" << row.text << "'");
		std::string message = error_message([&] { Prefix::parse(row.text); });
		CHECK_THAT(message, Catch::Contains(row.what));
	}
}

TEST_CASE("Prefix::parse rejects host bits past the prefix", "[address]")
{
	const char *rows[] = {
		"203.0.113.10/24",
		"198.51.100.1/31",
		"172.17.0.1/16",
		"0.0.0.1/0",
		"2001:db8::1/64",
		"2001:db8::/16",
		"::1/0",
	};
	for (const char *text : rows) {
		INFO("text: " << text);
		std::string message = error_message([&] { Prefix::parse(text); });
		CHECK_THAT(message, Catch::Contains(std::string("'") + text + "'"));
		CHECK_THAT(message, Catch::Contains("bits are set past the prefix length"));
	}
}

TEST_CASE("Prefix::parse rejects IPv4-mapped IPv6 text", "[address]")
{
	// The maps store IPv4 as IPv4-mapped, so "::ffff:a.b.c.d" would silently
	// become an IPv4 rule. The parser requires the IPv4 spelling instead.
	const char *rows[] = {
		"::ffff:203.0.113.10",
		"::ffff:cb00:710a",
		"::ffff:203.0.113.0/120",
		"::ffff:0.0.0.0/96",
	};
	for (const char *text : rows) {
		INFO("text: " << text);
		std::string message = error_message([&] { Prefix::parse(text); });
		CHECK_THAT(message, Catch::Contains(std::string("'") + text + "'"));
		CHECK_THAT(message, Catch::Contains("write IPv4-mapped addresses as IPv4"));
	}

	// Shorter than the mapped prefix, it is an ordinary IPv6 prefix.
	Prefix wide = Prefix::parse("::/80");
	CHECK(wide.len == 80);
	CHECK_FALSE(wide.is_ipv4());
}

TEST_CASE("Prefix::to_string round trip", "[address]")
{
	const char *rows[] = {
		"203.0.113.10", "203.0.113.0/24", "198.51.100.0/31", "0.0.0.0/0", "172.16.0.0/12",
		"2001:db8::1",  "2001:db8::/32",  "2001:db8::100/120", "any",   "::/80",
	};
	for (const char *text : rows) {
		INFO("text: " << text);
		Prefix prefix = Prefix::parse(text);
		CHECK(prefix.to_string() == text);
		CHECK(Prefix::parse(prefix.to_string()) == prefix);
	}

	// Spellings that parse to the same prefix print the canonical form.
	CHECK(Prefix::parse("203.0.113.10/32").to_string() == "203.0.113.10");
	CHECK(Prefix::parse("2001:0db8:0000::0001").to_string() == "2001:db8::1");
	CHECK(Prefix::parse("2001:db8::1/128").to_string() == "2001:db8::1");
}

TEST_CASE("Prefix::contains", "[address]")
{
	Prefix net = Prefix::parse("203.0.113.0/24");
	CHECK(net.contains(Prefix::parse("203.0.113.10")));
	CHECK(net.contains(Prefix::parse("203.0.113.128/25")));
	CHECK(net.contains(net));
	CHECK_FALSE(net.contains(Prefix::parse("203.0.112.0/23")));
	CHECK_FALSE(net.contains(Prefix::parse("198.51.100.10")));
	CHECK_FALSE(net.contains(Prefix::parse("2001:db8::1")));
	CHECK(Prefix::any().contains(Prefix::parse("2001:db8::1")));
	CHECK(Prefix::any().contains(Prefix::parse("203.0.113.10")));
	CHECK(Prefix::parse("0.0.0.0/0").contains(Prefix::parse("203.0.113.10")));
	CHECK_FALSE(Prefix::parse("0.0.0.0/0").contains(Prefix::parse("2001:db8::1")));
}

TEST_CASE("parse_protocol", "[address]")
{
	struct Row {
		const char *text;
		std::uint8_t proto;
	};
	const Row rows[] = {
		{"tcp", IPPROTO_TCP}, {"udp", IPPROTO_UDP}, {"icmp", IPPROTO_ICMP}, {"icmpv6", IPPROTO_ICMPV6},
		{"47", 47},           {"6", 6},             {"0", 0},               {"255", 255},
	};
	for (const Row &row : rows) {
		INFO("text: " << row.text);
		CHECK(unsigned(airgap::parse_protocol(row.text)) == unsigned(row.proto));
	}

	const char *bad[] = {"", "TCP", "gre", "256", "-1", "6x", " 6", "1000", "tcp "};
	for (const char *text : bad) {
		INFO("text: '" << text << "'");
		std::string message = error_message([&] { airgap::parse_protocol(text); });
		CHECK_THAT(message, Catch::Contains(std::string("invalid protocol '") + text + "'"));
	}
}

TEST_CASE("protocol_name and protocol_has_ports", "[address]")
{
	CHECK(airgap::protocol_name(IPPROTO_TCP) == "tcp");
	CHECK(airgap::protocol_name(IPPROTO_UDP) == "udp");
	CHECK(airgap::protocol_name(IPPROTO_ICMP) == "icmp");
	CHECK(airgap::protocol_name(IPPROTO_ICMPV6) == "icmpv6");
	CHECK(airgap::protocol_name(47) == "47");

	CHECK(airgap::protocol_has_ports(IPPROTO_TCP));
	CHECK(airgap::protocol_has_ports(IPPROTO_UDP));
	CHECK_FALSE(airgap::protocol_has_ports(IPPROTO_ICMP));
	CHECK_FALSE(airgap::protocol_has_ports(47));
}

TEST_CASE("parse_port", "[address]")
{
	struct Row {
		const char *text;
		std::uint16_t port;
	};
	const Row rows[] = {{"1", 1}, {"22", 22}, {"443", 443}, {"65535", 65535}, {"any", 0}};
	for (const Row &row : rows) {
		INFO("text: " << row.text);
		CHECK(airgap::parse_port(row.text) == row.port);
	}

	const char *bad[] = {"", "0", "65536", "99999", "-1", "+443", "https", "443 ", "0x1bb", "ANY", "123456"};
	for (const char *text : bad) {
		INFO("text: '" << text << "'");
		std::string message = error_message([&] { airgap::parse_port(text); });
		CHECK_THAT(message, Catch::Contains(std::string("invalid port '") + text + "'"));
	}
}
