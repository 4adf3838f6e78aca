#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "error_message.hpp"
#include "loader/rule.hpp"

using airgap::Prefix;
using airgap::Rule;
using airgap::RuleKind;

namespace {

Rule make_rule(RuleKind kind, std::uint8_t proto, std::uint16_t port, const char *peer, const char *name)
{
	Rule rule;
	rule.kind = kind;
	rule.proto = proto;
	rule.port = port;
	rule.peer = Prefix::parse(peer);
	rule.name = std::string(name);
	return rule;
}

} // namespace

TEST_CASE("Rule::map_key layout", "[rule]")
{
	struct Row {
		const char *what;
		Rule rule;
		std::uint32_t prefixlen;
	};
	const Row rows[] = {
		{"IPv4 address", make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "relay"),
		 AG_RULE_KEY_FIXED_BITS + 96 + 32},
		{"IPv4 /24", make_rule(RuleKind::allow_in, IPPROTO_TCP, 22, "203.0.113.0/24", "ssh"),
		 AG_RULE_KEY_FIXED_BITS + 96 + 24},
		{"IPv4 /0", make_rule(RuleKind::allow_out, IPPROTO_UDP, 0, "0.0.0.0/0", "v4-udp"),
		 AG_RULE_KEY_FIXED_BITS + 96},
		{"IPv6 address", make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "2001:db8::10", "relay6"),
		 AG_RULE_KEY_FIXED_BITS + 128},
		{"IPv6 /32", make_rule(RuleKind::allow_in, IPPROTO_UDP, 53, "2001:db8::/32", "dns6"),
		 AG_RULE_KEY_FIXED_BITS + 32},
		{"any", make_rule(RuleKind::forward, IPPROTO_TCP, 8443, "any", "billing"), AG_RULE_KEY_FIXED_BITS},
		{"protocol without ports", make_rule(RuleKind::allow_out, 47, 0, "203.0.113.10", "gre"),
		 AG_RULE_KEY_FIXED_BITS + 128},
	};
	for (const Row &row : rows) {
		INFO(row.what << ": " << row.rule.describe());
		ag_rule_key key = row.rule.map_key(row.rule.peer);
		CHECK(key.prefixlen == row.prefixlen);
		CHECK(key.kind == static_cast<std::uint8_t>(row.rule.kind));
		CHECK(key.proto == row.rule.proto);
		CHECK(ntohs(key.port) == row.rule.port);
		CHECK(std::memcmp(key.addr, row.rule.peer.addr.data(), sizeof(key.addr)) == 0);
	}
}

TEST_CASE("Rule::map_key bytes of an IPv4 rule", "[rule]")
{
	// The BPF side builds the same bytes from a packet: kind, proto, port in
	// network order, then ::ffff:a.b.c.d.
	Rule rule = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "relay");
	ag_rule_key key = rule.map_key(rule.peer);
	const unsigned char expected_after_prefixlen[20] = {
		AG_RULE_ALLOW_OUT, IPPROTO_TCP, 0x01, 0xbb, // kind, proto, port 443
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 10,
	};
	unsigned char actual[sizeof(key)];
	std::memcpy(actual, &key, sizeof(key));
	// The LPM trie reads prefixlen as a host-order integer.
	CHECK(key.prefixlen == 160);
	for (unsigned i = 0; i < sizeof(expected_after_prefixlen); i++) {
		INFO("byte " << 4 + i);
		CHECK(unsigned(actual[4 + i]) == unsigned(expected_after_prefixlen[i]));
	}
}

TEST_CASE("Rule map_info round trip", "[rule]")
{
	const Rule rows[] = {
		make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "relay-api"),
		make_rule(RuleKind::allow_in, IPPROTO_TCP, 22, "203.0.113.0/24", "mgmt-ssh"),
		make_rule(RuleKind::forward, IPPROTO_TCP, 8443, "172.17.0.5", "billing-db"),
		make_rule(RuleKind::forward, IPPROTO_UDP, 0, "any", "any-udp"),
		make_rule(RuleKind::allow_out, IPPROTO_ICMPV6, 0, "2001:db8::/32", "ping6"),
		make_rule(RuleKind::allow_out, 47, 0, "198.51.100.0/24", "gre"),
		make_rule(RuleKind::allow_out, IPPROTO_UDP, 65535, "2001:db8::1", std::string(AG_RULE_NAME_LEN - 1, 'n').c_str()),
	};
	for (const Rule &rule : rows) {
		INFO(rule.describe());
		ag_rule_info info = rule.map_info(7);
		CHECK(info.gen == 7);
		CHECK(info.kind == static_cast<std::uint8_t>(rule.kind));
		CHECK(info.proto == rule.proto);
		CHECK(ntohs(info.port) == rule.port);
		CHECK(info.addr_prefixlen == rule.peer.len);
		// The name must stay NUL-terminated inside the fixed array.
		CHECK(info.name[AG_RULE_NAME_LEN - 1] == '\0');
		CHECK(Rule::from_map_info(info) == rule);
	}
}

TEST_CASE("validate_rule_name", "[rule]")
{
	const std::string good[] = {"a", "relay-api", "dns-1-udp", "Billing_DB.v2",
				    std::string(AG_RULE_NAME_LEN - 1, 'x')};
	for (const std::string &name : good) {
		INFO("name: " << name);
		CHECK_NOTHROW(airgap::validate_rule_name(name));
	}

	struct Row {
		std::string name;
		const char *what;
	};
	const Row bad[] = {
		{"", "the name is empty"},
		{std::string(AG_RULE_NAME_LEN, 'x'), "longer than 47 characters"},
		{"relay api", "use letters, digits"},
		{"relay/api", "use letters, digits"},
		{"relay:api", "use letters, digits"},
		{"r\xc3\xa9lay", "use letters, digits"},
		// The message stops at the NUL, so only its start can be checked.
		{std::string("relay\0api", 9), "invalid rule name 'relay"},
	};
	for (const Row &row : bad) {
		INFO("name: '" << row.name << "'");
		std::string message = error_message([&] { airgap::validate_rule_name(row.name); });
		CHECK_THAT(message, Catch::Contains("invalid rule name"));
		CHECK_THAT(message, Catch::Contains(row.what));
	}
}

TEST_CASE("Rule::validate ports and protocols", "[rule]")
{
	struct Row {
		Rule rule;
		bool valid;
	};
	const Row rows[] = {
		{make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "tcp-port"), true},
		{make_rule(RuleKind::allow_out, IPPROTO_TCP, 0, "203.0.113.10", "tcp-any"), true},
		{make_rule(RuleKind::allow_out, IPPROTO_UDP, 53, "198.51.100.53", "udp-port"), true},
		{make_rule(RuleKind::allow_out, IPPROTO_ICMP, 0, "203.0.113.10", "icmp-any"), true},
		{make_rule(RuleKind::allow_in, 47, 0, "203.0.113.0/24", "gre-any"), true},
		{make_rule(RuleKind::allow_out, IPPROTO_ICMP, 8, "203.0.113.10", "icmp-port"), false},
		{make_rule(RuleKind::allow_out, IPPROTO_ICMPV6, 1, "2001:db8::1", "icmpv6-port"), false},
		{make_rule(RuleKind::forward, 47, 1723, "any", "gre-port"), false},
	};
	for (const Row &row : rows) {
		INFO(row.rule.describe());
		if (row.valid) {
			CHECK_NOTHROW(row.rule.validate());
			continue;
		}
		std::string message = error_message([&] { row.rule.validate(); });
		CHECK_THAT(message, Catch::Contains("invalid rule '" + row.rule.name + "'"));
		CHECK_THAT(message, Catch::Contains("has no ports, so the port must be 'any'"));
	}

	Rule unnamed = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "");
	CHECK_THAT(error_message([&] { unnamed.validate(); }), Catch::Contains("the name is empty"));
}

TEST_CASE("Rule::same_match ignores the name only", "[rule]")
{
	Rule base = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "a");
	Rule renamed = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "b");
	CHECK(base.same_match(renamed));

	Rule other_kind = renamed;
	other_kind.kind = RuleKind::allow_in;
	Rule other_proto = renamed;
	other_proto.proto = IPPROTO_UDP;
	Rule other_port = renamed;
	other_port.port = 8443;
	Rule other_peer = renamed;
	other_peer.peer = Prefix::parse("203.0.113.0/24");
	CHECK_FALSE(base.same_match(other_kind));
	CHECK_FALSE(base.same_match(other_proto));
	CHECK_FALSE(base.same_match(other_port));
	CHECK_FALSE(base.same_match(other_peer));
}

TEST_CASE("Rule::describe", "[rule]")
{
	CHECK(make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "203.0.113.10", "relay").describe() ==
	      "allow-out relay: tcp to 203.0.113.10 port 443");
	CHECK(make_rule(RuleKind::allow_in, IPPROTO_TCP, 22, "203.0.113.0/24", "ssh").describe() ==
	      "allow-in ssh: tcp from 203.0.113.0/24 port 22");
	CHECK(make_rule(RuleKind::forward, IPPROTO_TCP, 8443, "172.17.0.5", "billing-db").describe() ==
	      "forward billing-db: tcp port 8443 from 172.17.0.5");
	CHECK(make_rule(RuleKind::allow_out, IPPROTO_ICMP, 0, "any", "ping").describe() ==
	      "allow-out ping: icmp to any");
	CHECK(airgap::rule_kind_name(RuleKind::allow_out) == "allow-out");
	CHECK(airgap::rule_kind_name(RuleKind::allow_in) == "allow-in");
	CHECK(airgap::rule_kind_name(RuleKind::forward) == "forward");
}

TEST_CASE("is_host_name", "[rule][host]")
{
	struct Row {
		std::string text;
		bool host;
	};
	const Row rows[] = {
		{"relay.example.net", true},
		{"localhost", true},
		{"relay-1.example.net", true},
		{"a1.b2", true},
		{"xn--bcher-kva.example", true},
		{std::string(AG_RULE_HOST_LEN - 1, 'a'), true}, // one label of the maximum length
		{"", false},
		{"203.0.113.10", false}, // the last label needs a letter, so no address parses as a name
		{"2001:db8::1", false},
		{"203.0.113.0/24", false},
		{"-relay.example.net", false},
		{"relay-.example.net", false},
		{"relay..example.net", false},
		{".example.net", false},
		{"example.net.", false},
		{"under_score.example.net", false},
		{"relay example.net", false},
		{std::string(AG_RULE_HOST_LEN, 'a'), false},
		{std::string(AG_RULE_HOST_LEN - 4, 'a') + ".net", false}, // AG_RULE_HOST_LEN characters
		{std::string(AG_RULE_HOST_LEN - 5, 'a') + ".net", true},  // one fewer
	};
	for (const Row &row : rows) {
		INFO("text: '" << row.text << "' (" << row.text.size() << " characters)");
		CHECK(airgap::is_host_name(row.text) == row.host);
	}
}

TEST_CASE("parse_peer tells addresses from host names", "[rule][host]")
{
	Rule rule;
	airgap::parse_peer("203.0.113.0/24", rule);
	CHECK(rule.peer == Prefix::parse("203.0.113.0/24"));
	CHECK(rule.host.empty());

	airgap::parse_peer("relay.example.net", rule);
	CHECK(rule.host == "relay.example.net");
	CHECK(rule.peer == Prefix::any());

	// An address after a host name clears the name.
	airgap::parse_peer("2001:db8::10", rule);
	CHECK(rule.peer == Prefix::parse("2001:db8::10"));
	CHECK(rule.host.empty());

	airgap::parse_peer("any", rule);
	CHECK(rule.peer.is_any());
	CHECK(rule.host.empty());

	// Neither an address nor a host name: the address error is the one reported.
	CHECK_THAT(error_message([&] { airgap::parse_peer("203.0.113.300", rule); }),
		   Catch::Contains("invalid address '203.0.113.300'"));
	CHECK_THAT(error_message([&] { airgap::parse_peer("relay_api", rule); }),
		   Catch::Contains("invalid address 'relay_api'"));
}

TEST_CASE("Rule with a host name", "[rule][host]")
{
	Rule relay = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "any", "relay");
	airgap::parse_peer("relay.example.net", relay);
	CHECK_NOTHROW(relay.validate());
	CHECK(relay.describe() == "allow-out relay: tcp to relay.example.net port 443");
	CHECK(relay.peer_text() == "relay.example.net");

	ag_rule_info info = relay.map_info(3);
	CHECK(info.host[AG_RULE_HOST_LEN - 1] == '\0');
	CHECK(Rule::from_map_info(info) == relay);

	Rule same_host = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "any", "relay-again");
	airgap::parse_peer("relay.example.net", same_host);
	CHECK(relay.same_match(same_host));
	Rule other_host = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "any", "mirror");
	airgap::parse_peer("mirror.example.net", other_host);
	CHECK_FALSE(relay.same_match(other_host));
	// A host name and "any" are different matches though both peers are ::/0.
	CHECK_FALSE(relay.same_match(make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "any", "all")));

	Rule ssh = make_rule(RuleKind::allow_in, IPPROTO_TCP, 22, "any", "ssh");
	airgap::parse_peer("admin.example.net", ssh);
	CHECK_NOTHROW(ssh.validate());

	Rule forward = make_rule(RuleKind::forward, IPPROTO_TCP, 8443, "any", "db");
	forward.host = "db.example.net";
	CHECK_THAT(error_message([&] { forward.validate(); }),
		   Catch::Contains("a forward's source is a container address or prefix, not a host name"));

	Rule bad_host = make_rule(RuleKind::allow_out, IPPROTO_TCP, 443, "any", "bad");
	bad_host.host = "bad_host.example.net";
	CHECK_THAT(error_message([&] { bad_host.validate(); }),
		   Catch::Contains("'bad_host.example.net' is not a valid host name"));

	// Each resolved address gets its own trie key for the one rule.
	ag_rule_key v4 = relay.map_key(Prefix::parse("203.0.113.11"));
	ag_rule_key v6 = relay.map_key(Prefix::parse("2001:db8:ff::11"));
	CHECK(v4.prefixlen == AG_RULE_KEY_FIXED_BITS + 128);
	CHECK(v6.prefixlen == AG_RULE_KEY_FIXED_BITS + 128);
	CHECK(ntohs(v4.port) == 443);
	CHECK(std::memcmp(v4.addr, Prefix::parse("203.0.113.11").addr.data(), sizeof(v4.addr)) == 0);
	CHECK(std::memcmp(v6.addr, Prefix::parse("2001:db8:ff::11").addr.data(), sizeof(v6.addr)) == 0);
}
