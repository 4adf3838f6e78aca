// The uplink hooks. TC egress admits what the host sends to allow-out rules
// and records the flow. XDP admits the replies of recorded flows, allow-in
// rules and DHCP replies.
#include <netinet/in.h>

#include <iostream>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace prog;

namespace {

Bytes tcp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport, std::uint8_t flags)
{
	return Ipv4::tcp(src, sport, dst, dport, flags).frame();
}

Bytes udp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport)
{
	return Ipv4::udp(src, sport, dst, dport).frame();
}

Bytes gre(const char *src, const char *dst)
{
	// GRE header: no flags, protocol IPv4, then a few bytes of payload.
	return Ipv4::raw(src, dst, kProtoGre, {0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x14}).frame();
}

} // namespace

TEST_CASE("uplink egress admits allow-out rules", "[uplink][egress]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	filter.add(allow_out("relay-data", "udp", "any", "203.0.113.30"));
	filter.add(allow_out("relay-pool", "tcp", "443", "203.0.113.64/26"));
	filter.add(allow_out("relay-pool-one", "tcp", "443", "203.0.113.100"));
	filter.add(allow_out("exact-443", "tcp", "443", "203.0.113.40"));
	filter.add(allow_out("any-port-40", "tcp", "any", "203.0.113.40"));
	filter.add(allow_out("dns-1-udp", "udp", "53", kResolver));
	filter.add(allow_out("ping-relay", "icmp", "any", kRelay));
	filter.add(allow_out("gre-tunnel", "47", "any", "203.0.113.50"));

	const auto E = Hook::uplink_egress;
	run_table(filter, {
		{"tcp/443 SYN to a rule address", E, tcp(kHost, 40000, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
		{"next packet of that flow", E, tcp(kHost, 40000, kRelay, 443, kAck | kPsh), sent_by_host,
		 pass(AG_PASS_FLOW), "relay-api"},
		{"tcp/443 to another address", E, tcp(kHost, 40001, kElsewhere, 443, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"tcp/80 to a tcp/443 rule address", E, tcp(kHost, 40002, kRelay, 80, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"udp/443 to a tcp/443 rule address", E, udp(kHost, 40003, kRelay, 443), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"udp/5000 to a port-any rule", E, udp(kHost, 40004, "203.0.113.30", 5000), sent_by_host,
		 pass(AG_PASS_RULE), "relay-data", +1},
		{"udp/65535 to a port-any rule", E, udp(kHost, 40005, "203.0.113.30", 65535), sent_by_host,
		 pass(AG_PASS_RULE), "relay-data", +1},
		{"tcp to a udp port-any rule", E, tcp(kHost, 40006, "203.0.113.30", 5000, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"tcp/443 into a /26 rule", E, tcp(kHost, 40007, "203.0.113.70", 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-pool", +1},
		{"tcp/443 to the last address of a /26", E, tcp(kHost, 40008, "203.0.113.127", 443, kSyn),
		 sent_by_host, pass(AG_PASS_RULE), "relay-pool", +1},
		{"tcp/443 just past a /26", E, tcp(kHost, 40009, "203.0.113.128", 443, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"tcp/443 just before a /26", E, tcp(kHost, 40010, "203.0.113.63", 443, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"longest prefix wins", E, tcp(kHost, 40011, "203.0.113.100", 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-pool-one", +1},
		{"exact port wins over any port", E, tcp(kHost, 40012, "203.0.113.40", 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "exact-443", +1},
		{"any port catches the other ports", E, tcp(kHost, 40013, "203.0.113.40", 80, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "any-port-40", +1},
		{"udp/53 to the resolver", E, udp(kHost, 40014, kResolver, 53), sent_by_host, pass(AG_PASS_RULE),
		 "dns-1-udp", +1},
		{"tcp/53 to a udp-only resolver", E, tcp(kHost, 40015, kResolver, 53, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"icmp echo to an icmp rule", E, Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 0x4242).frame(),
		 sent_by_host, pass(AG_PASS_RULE), "ping-relay", +1},
		{"icmp echo to another address", E, Ipv4::icmp_echo(kHost, kElsewhere, kIcmpEcho, 0x4242).frame(),
		 sent_by_host, drop(AG_DROP_NO_RULE)},
		{"GRE to a protocol 47 rule", E, gre(kHost, "203.0.113.50"), sent_by_host, pass(AG_PASS_RULE),
		 "gre-tunnel", +1},
		{"GRE to another address", E, gre(kHost, "203.0.113.51"), sent_by_host, drop(AG_DROP_NO_RULE)},
		{"protocol 253 to the GRE rule address", E,
		 Ipv4::raw(kHost, "203.0.113.50", 253, {1, 2, 3, 4}).frame(), sent_by_host, drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("uplink egress drops what the host routes", "[uplink][egress]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));

	const auto E = Hook::uplink_egress;
	run_table(filter, {
		// A container's packet after docker's NAT carries the host's
		// address but arrived on docker0.
		{"routed tcp/443 to a rule address", E, tcp(kHost, 40000, kRelay, 443, kSyn), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"routed from the uplink itself", E, tcp(kHost, 40000, kRelay, 443, kSyn), from_uplink,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"host SYN records the flow", E, tcp(kHost, 40001, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
		{"routed packet of a tracked flow", E, tcp(kHost, 40001, kRelay, 443, kAck), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"routed packet to nowhere allowed", E, tcp("172.17.0.2", 40002, kElsewhere, 80, kSyn), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"routed ARP", E, arp_request(kHost, kGateway), from_bridge, pass(AG_PASS_LINK)},
	});
}

// With the setting on, the DHCP client's requests go to the link only, and a
// request opens its exchange: replies pass until the UDP timeout, from any
// server, to the host's address or the broadcast address.
TEST_CASE("uplink DHCP passes only with the setting", "[uplink][dhcp]")
{
	Filter filter;
	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	const Bytes request = udp("0.0.0.0", 68, "255.255.255.255", 67);
	const Bytes broadcast_reply = udp(kGateway, 67, "255.255.255.255", 68);
	const Bytes unicast_reply = udp(kGateway, 67, kHost, 68);

	run_table(filter, {
		{"DHCP request, DHCP off", E, request, sent_by_host, drop(AG_DROP_NO_RULE)},
		{"DHCP reply, DHCP off", X, broadcast_reply, {}, drop(AG_DROP_NO_RULE)},
	});

	filter.set_dhcp(true);
	run_table(filter, {
		{"DHCP reply before any request", X, unicast_reply, {}, drop(AG_DROP_NO_RULE)},
		{"DHCP request opens the exchange", E, request, sent_by_host, pass(AG_PASS_LINK), "", +1},
		{"broadcast DHCP reply", X, broadcast_reply, {}, pass(AG_PASS_LINK)},
		{"unicast DHCP reply", X, unicast_reply, {}, pass(AG_PASS_LINK)},
		{"reply from another server", X, udp("198.51.100.7", 67, kHost, 68), {}, pass(AG_PASS_LINK)},
		{"next DHCP request", E, request, sent_by_host, pass(AG_PASS_LINK)},
		{"unicast renewal without a rule", E, udp(kHost, 68, kGateway, 67), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"DHCP request to another network", E, udp(kHost, 68, kElsewhere, 67), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"DHCP request to a subnet broadcast", E, udp(kHost, 68, "198.51.100.255", 67), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"routed DHCP request", E, request, from_bridge, drop(AG_DROP_NOT_FROM_HOST)},
		{"udp 67 to 67 is no DHCP client traffic", E, udp(kHost, 67, "255.255.255.255", 67), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"udp 68 to 68 inbound", X, udp(kGateway, 68, kHost, 68), {}, drop(AG_DROP_NO_RULE)},
		{"tcp 68 to 67", E, tcp(kHost, 68, kGateway, 67, kSyn), sent_by_host, drop(AG_DROP_NO_RULE)},
		{"DHCP request in the reply direction", X, udp(kGateway, 68, kHost, 67), {}, drop(AG_DROP_NO_RULE)},
	});

	// The exchange closes after the UDP timeout (120 s) without a request.
	const ag_flow_key exchange = flow_key(IPPROTO_UDP, "::", 68, "::", 67, AG_ZONE_DHCP);
	auto opened = filter.flow(exchange);
	REQUIRE(opened.has_value());
	if (opened->last_seen_ns < 200ull * 1000000000ull) {
		WARN("skipped: the coarse monotonic clock is below 200 s, too early to age the exchange by 130 s");
	} else {
		opened->last_seen_ns -= 130ull * 1000000000ull;
		filter.set_flow(exchange, *opened);
		run_table(filter, {
			{"DHCP reply after the exchange timed out", X, unicast_reply, {}, drop(AG_DROP_NO_RULE)},
		});
	}

	filter.set_dhcp(false);
	run_table(filter, {
		{"DHCP request after DHCP is turned off", E, request, sent_by_host, drop(AG_DROP_NO_RULE)},
	});

	// A unicast renewal needs an allow-out rule for the server; its reply
	// then follows the flow. With the setting off, no open exchange can
	// admit the reply instead.
	filter.add(allow_out("dhcp-server", "udp", "67", kGateway));
	run_table(filter, {
		{"unicast renewal by a rule", E, udp(kHost, 68, kGateway, 67), sent_by_host, pass(AG_PASS_RULE),
		 "dhcp-server", +1},
		{"its reply follows the flow", X, unicast_reply, {}, pass(AG_PASS_FLOW), "dhcp-server"},
	});
}

TEST_CASE("uplink XDP admits replies of tracked flows", "[uplink][xdp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	filter.add(allow_out("dns-1-udp", "udp", "53", kResolver));
	filter.add(allow_out("ping-relay", "icmp", "any", kRelay));
	filter.add(allow_out("gre-tunnel", "47", "any", "203.0.113.50"));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"host opens tcp/443", E, tcp(kHost, 40000, kRelay, 443, kSyn), sent_by_host, pass(AG_PASS_RULE),
		 "relay-api", +1},
		{"SYN-ACK reply", X, tcp(kRelay, 443, kHost, 40000, kSyn | kAck), {}, pass(AG_PASS_FLOW), "relay-api"},
		{"data reply", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kAck | kPsh).payload(Bytes(1000, 0xab)).frame(),
		 {}, pass(AG_PASS_FLOW), "relay-api"},
		{"reply to another local port", X, tcp(kRelay, 443, kHost, 40001, kAck), {}, drop(AG_DROP_NO_RULE)},
		{"reply from another remote port", X, tcp(kRelay, 444, kHost, 40000, kAck), {},
		 drop(AG_DROP_NO_RULE)},
		{"same ports from another address", X, tcp(kElsewhere, 443, kHost, 40000, kAck), {},
		 drop(AG_DROP_NO_RULE)},
		{"udp on the ports of a tcp flow", X, udp(kRelay, 443, kHost, 40000), {}, drop(AG_DROP_NO_RULE)},
		{"unsolicited SYN", X, tcp(kElsewhere, 50000, kHost, 22, kSyn), {}, drop(AG_DROP_NO_RULE)},
		{"unsolicited SYN from an allow-out address", X, tcp(kRelay, 50000, kHost, 443, kSyn), {},
		 drop(AG_DROP_NO_RULE)},
		{"unsolicited ACK", X, tcp(kElsewhere, 443, kHost, 40000, kAck), {}, drop(AG_DROP_NO_RULE)},
		{"unsolicited RST", X, tcp(kElsewhere, 443, kHost, 40000, kRst), {}, drop(AG_DROP_NO_RULE)},
		{"reply with URG PSH FIN", X, tcp(kRelay, 443, kHost, 40000, kUrg | kPsh | kFin), {},
		 pass(AG_PASS_FLOW), "relay-api"},
		{"FIN-ACK reply", X, tcp(kRelay, 443, kHost, 40000, kFin | kAck), {}, pass(AG_PASS_FLOW), "relay-api"},
		{"host's last ACK", E, tcp(kHost, 40000, kRelay, 443, kAck), sent_by_host, pass(AG_PASS_FLOW),
		 "relay-api"},
		{"RST reply", X, tcp(kRelay, 443, kHost, 40000, kRst), {}, pass(AG_PASS_FLOW), "relay-api"},

		{"host sends a DNS query", E, udp(kHost, 40053, kResolver, 53), sent_by_host, pass(AG_PASS_RULE),
		 "dns-1-udp", +1},
		{"DNS answer", X, udp(kResolver, 53, kHost, 40053), {}, pass(AG_PASS_FLOW), "dns-1-udp"},
		{"DNS answer to another port", X, udp(kResolver, 53, kHost, 40054), {}, drop(AG_DROP_NO_RULE)},

		{"host sends an echo request", E, Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 0x4242).frame(),
		 sent_by_host, pass(AG_PASS_RULE), "ping-relay", +1},
		{"echo reply", X, Ipv4::icmp_echo(kRelay, kHost, kIcmpEchoReply, 0x4242).frame(), {},
		 pass(AG_PASS_FLOW), "ping-relay"},
		{"echo reply of another identifier", X, Ipv4::icmp_echo(kRelay, kHost, kIcmpEchoReply, 0x4343).frame(),
		 {}, drop(AG_DROP_NO_RULE)},
		{"echo request from the remote", X, Ipv4::icmp_echo(kElsewhere, kHost, kIcmpEcho, 0x4242).frame(), {},
		 drop(AG_DROP_NO_RULE)},

		{"host sends GRE", E, gre(kHost, "203.0.113.50"), sent_by_host, pass(AG_PASS_RULE), "gre-tunnel", +1},
		{"GRE back", X, gre("203.0.113.50", kHost), {}, pass(AG_PASS_FLOW), "gre-tunnel"},
		{"GRE from another address", X, gre("203.0.113.51", kHost), {}, drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("uplink XDP cuts the flows of a deleted rule", "[uplink][xdp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"host opens tcp/443", E, tcp(kHost, 40000, kRelay, 443, kSyn), sent_by_host, pass(AG_PASS_RULE),
		 "relay-api", +1},
		{"reply while the rule exists", X, tcp(kRelay, 443, kHost, 40000, kSyn | kAck), {},
		 pass(AG_PASS_FLOW), "relay-api"},
	});

	filter.remove("relay-api");
	run_table(filter, {
		{"reply after the rule is deleted", X, tcp(kRelay, 443, kHost, 40000, kAck), {},
		 drop(AG_DROP_RULE_REMOVED), "", -1},
		{"next reply finds no flow", X, tcp(kRelay, 443, kHost, 40000, kAck), {}, drop(AG_DROP_NO_RULE)},
		{"host's packet of the cut flow", E, tcp(kHost, 40000, kRelay, 443, kAck), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
	});

	// Deleting and adding the rule again reuses its slot with a new
	// generation, and a flow of the old rule must stay cut.
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	run_table(filter, {
		{"host opens a flow under the re-added rule", E, tcp(kHost, 40001, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
	});
	filter.remove("relay-api");
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	run_table(filter, {
		{"reply of a flow from before delete and re-add", X, tcp(kRelay, 443, kHost, 40001, kAck), {},
		 drop(AG_DROP_RULE_REMOVED), "", -1},
		{"a new flow under the rule passes", E, tcp(kHost, 40002, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
	});
}

TEST_CASE("host-name rule admits each of its addresses", "[uplink][host]")
{
	Filter filter;
	filter.add_resolved(allow_out("relay-name", "tcp", "443", "relay.example.net"),
			    {"203.0.113.11", "2001:db8:ff::11"});

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"tcp/443 to the IPv4 address", E, tcp(kHost, 40000, "203.0.113.11", 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-name", +1},
		{"tcp/443 to the IPv6 address", E, Ipv6::tcp(kHost6, 40001, "2001:db8:ff::11", 443, kSyn).frame(),
		 sent_by_host, pass(AG_PASS_RULE), "relay-name", +1},
		{"tcp/443 next to the addresses", E, tcp(kHost, 40002, "203.0.113.12", 443, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"reply from the IPv4 address", X, tcp("203.0.113.11", 443, kHost, 40000, kSyn | kAck), {},
		 pass(AG_PASS_FLOW), "relay-name"},
	});

	filter.remove("relay-name");
	run_table(filter, {
		{"reply from the IPv6 address after delete", X,
		 Ipv6::tcp("2001:db8:ff::11", 443, kHost6, 40001, kSyn | kAck).frame(), {}, drop(AG_DROP_RULE_REMOVED),
		 "", -1},
		{"tcp/443 to the IPv4 address after delete", E, tcp(kHost, 40003, "203.0.113.11", 443, kSyn),
		 sent_by_host, drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("replacing the rule set keeps flows of kept rules", "[uplink][replace]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	filter.add(allow_out("relay-data", "udp", "any", "203.0.113.30"));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"flow under a rule that stays", E, tcp(kHost, 40000, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
		{"flow under a rule that goes", E, udp(kHost, 40001, "203.0.113.30", 5000), sent_by_host,
		 pass(AG_PASS_RULE), "relay-data", +1},
	});

	filter.replace({allow_out("relay-api", "tcp", "443", kRelay), allow_out("dns-1-udp", "udp", "53", kResolver)});
	run_table(filter, {
		{"reply under the kept rule", X, tcp(kRelay, 443, kHost, 40000, kSyn | kAck), {}, pass(AG_PASS_FLOW),
		 "relay-api"},
		{"reply under the removed rule", X, udp("203.0.113.30", 5000, kHost, 40001), {},
		 drop(AG_DROP_RULE_REMOVED), "", -1},
		{"new flow under the removed rule", E, udp(kHost, 40002, "203.0.113.30", 5000), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"new flow under the added rule", E, udp(kHost, 40003, kResolver, 53), sent_by_host, pass(AG_PASS_RULE),
		 "dns-1-udp", +1},
	});

	// The same name with another port is another rule, so its flows end.
	filter.replace({allow_out("relay-api", "tcp", "8443", kRelay), allow_out("dns-1-udp", "udp", "53", kResolver)});
	run_table(filter, {
		{"reply under a rule changed in place", X, tcp(kRelay, 443, kHost, 40000, kAck), {},
		 drop(AG_DROP_RULE_REMOVED), "", -1},
		{"reply under the unchanged rule", X, udp(kResolver, 53, kHost, 40003), {}, pass(AG_PASS_FLOW),
		 "dns-1-udp"},
		{"tcp/8443 under the changed rule", E, tcp(kHost, 40004, kRelay, 8443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
	});
}

// A rule set with a duplicate name or match is rejected whole: the live rules
// and their flows stay.
TEST_CASE("replacing with a bad rule set changes nothing", "[uplink][replace]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	run_table(filter, {
		{"flow before the bad replace", Hook::uplink_egress, tcp(kHost, 40000, kRelay, 443, kSyn), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
	});

	REQUIRE_THROWS_WITH(filter.replace({allow_out("relay-api", "tcp", "443", kRelay),
					    allow_out("relay-api", "udp", "53", kResolver)}),
			    "rule name 'relay-api' is used twice");
	REQUIRE_THROWS_WITH(filter.replace({allow_out("dns-a", "udp", "53", kResolver),
					    allow_out("dns-b", "udp", "53", kResolver)}),
			    "rules 'dns-a' and 'dns-b' match the same packets");
	auto live = filter.maps().rules();
	REQUIRE(live.size() == 1);
	CHECK(live[0].rule.name == "relay-api");
	run_table(filter, {
		{"reply after the bad replace", Hook::uplink_xdp, tcp(kRelay, 443, kHost, 40000, kSyn | kAck), {},
		 pass(AG_PASS_FLOW), "relay-api"},
	});
}

TEST_CASE("uplink XDP admits allow-in rules", "[uplink][xdp]")
{
	Filter filter;
	filter.add(allow_in("mgmt-ssh", "tcp", "22", "203.0.113.0/24"));
	filter.add(allow_in("gre-in", "47", "any", "203.0.113.50"));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"SYN to an allow-in port", X, tcp("203.0.113.5", 50000, kHost, 22, kSyn), {}, pass(AG_PASS_RULE),
		 "mgmt-ssh", +1},
		{"host's SYN-ACK", E, tcp(kHost, 22, "203.0.113.5", 50000, kSyn | kAck), sent_by_host,
		 pass(AG_PASS_FLOW), "mgmt-ssh"},
		{"next inbound packet", X, tcp("203.0.113.5", 50000, kHost, 22, kAck), {}, pass(AG_PASS_FLOW),
		 "mgmt-ssh"},
		{"SYN from outside the prefix", X, tcp("198.51.100.7", 50000, kHost, 22, kSyn), {},
		 drop(AG_DROP_NO_RULE)},
		{"SYN to another port", X, tcp("203.0.113.5", 50001, kHost, 23, kSyn), {}, drop(AG_DROP_NO_RULE)},
		{"udp to the allow-in port", X, udp("203.0.113.5", 50002, kHost, 22), {}, drop(AG_DROP_NO_RULE)},
		{"allow-in opens nothing outbound", E, tcp(kHost, 22, "203.0.113.6", 50000, kSyn), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"GRE from an allow-in address", X, gre("203.0.113.50", kHost), {}, pass(AG_PASS_RULE), "gre-in", +1},
		{"GRE from another address", X, gre("203.0.113.51", kHost), {}, drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("uplink flows expire after their timeout", "[uplink][xdp]")
{
	Filter filter;
	filter.add(allow_out("ping-relay", "icmp", "any", kRelay));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"host sends an echo request", E, Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 7).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "ping-relay", +1},
	});

	// The flow is aged by moving its last_seen_ns back from the value the
	// program wrote, so no clock is read and nothing waits. ICMP flows time
	// out after 30 s idle (ag_timeout_other), and 10 s either side leaves a margin.
	ag_flow_key key = flow_key(IPPROTO_ICMP, kHost, 7, kRelay, 7);
	auto flow = filter.flow(key);
	REQUIRE(flow.has_value());
	const std::uint64_t second = 1000000000ull;
	if (flow->last_seen_ns < 41 * second) {
		WARN("skipped: the coarse monotonic clock is below 41 s, too early to age a flow by 40 s");
		return;
	}
	const std::uint64_t recorded = flow->last_seen_ns;

	flow->last_seen_ns = recorded - 20 * second;
	filter.set_flow(key, *flow);
	run_table(filter, {
		{"reply 20 s into a 30 s timeout", X, Ipv4::icmp_echo(kRelay, kHost, kIcmpEchoReply, 7).frame(), {},
		 pass(AG_PASS_FLOW), "ping-relay"},
	});

	flow = filter.flow(key);
	REQUIRE(flow.has_value());
	CHECK(flow->last_seen_ns >= recorded); // the reply refreshed it
	flow->last_seen_ns = recorded - 40 * second;
	filter.set_flow(key, *flow);
	run_table(filter, {
		{"reply 40 s into a 30 s timeout", X, Ipv4::icmp_echo(kRelay, kHost, kIcmpEchoReply, 7).frame(), {},
		 drop(AG_DROP_FLOW_EXPIRED), "", -1},
		{"next reply finds no flow", X, Ipv4::icmp_echo(kRelay, kHost, kIcmpEchoReply, 7).frame(), {},
		 drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("TCP flows follow the connection state", "[uplink][tcp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	const ag_flow_key key = flow_key(IPPROTO_TCP, kHost, 40000, kRelay, 443);
	auto state = [&] {
		auto flow = filter.flow(key);
		REQUIRE(flow.has_value());
		return flow->tcp_state;
	};

	run_table(filter, {
		{"SYN out", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host, pass(AG_PASS_RULE),
		 "relay-api", +1},
	});
	CHECK(state() == AG_TCP_SYN);
	run_table(filter, {
		{"SYN-ACK in", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kSyn | kAck).frame(), {}, pass(AG_PASS_FLOW),
		 "relay-api"},
	});
	CHECK(state() == AG_TCP_OPEN);
	run_table(filter, {
		{"FIN out", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kFin | kAck).frame(), sent_by_host,
		 pass(AG_PASS_FLOW), "relay-api"},
	});
	CHECK(state() == AG_TCP_FIN);
	run_table(filter, {
		{"RST in", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kRst).frame(), {}, pass(AG_PASS_FLOW), "relay-api"},
	});
	CHECK(state() == AG_TCP_RST);
	run_table(filter, {
		{"new SYN on the same ports", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host,
		 pass(AG_PASS_FLOW), "relay-api"},
	});
	CHECK(state() == AG_TCP_SYN);

	// Age the flow as the expiry test does: a half-open flow lives 120 s, an
	// established one 5 days, one after a RST 10 s.
	const std::uint64_t second = 1000000000ull;
	auto flow = filter.flow(key);
	REQUIRE(flow.has_value());
	if (flow->last_seen_ns < 200 * second) {
		WARN("skipped: the coarse monotonic clock is below 200 s, too early to age a flow by 130 s");
		return;
	}
	const std::uint64_t now = flow->last_seen_ns;
	flow->tcp_state = AG_TCP_OPEN;
	flow->last_seen_ns = now - 130 * second;
	filter.set_flow(key, *flow);
	run_table(filter, {
		{"established, idle 130 s", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kAck).frame(), {},
		 pass(AG_PASS_FLOW), "relay-api"},
	});
	flow = filter.flow(key);
	REQUIRE(flow.has_value());
	flow->tcp_state = AG_TCP_SYN;
	flow->last_seen_ns = now - 130 * second;
	filter.set_flow(key, *flow);
	run_table(filter, {
		{"half-open, idle 130 s", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kSyn | kAck).frame(), {},
		 drop(AG_DROP_FLOW_EXPIRED), "", -1},
	});
	run_table(filter, {
		{"SYN out again", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host, pass(AG_PASS_RULE),
		 "relay-api", +1},
	});
	flow = filter.flow(key);
	REQUIRE(flow.has_value());
	flow->tcp_state = AG_TCP_RST;
	flow->last_seen_ns = now - 20 * second;
	filter.set_flow(key, *flow);
	run_table(filter, {
		{"after a RST, idle 20 s", X, Ipv4::tcp(kRelay, 443, kHost, 40000, kAck).frame(), {},
		 drop(AG_DROP_FLOW_EXPIRED), "", -1},
	});
}

// An allow-in rule opens a port of the host, not of a network the host
// routes to: docker hosts forward, so a packet to a container or to a
// network behind another interface would otherwise pass on its way there.
TEST_CASE("allow-in admits only packets addressed to the host", "[uplink][ingress]")
{
	Filter filter;
	filter.add(allow_in("mgmt-ssh", "tcp", "22", "203.0.113.0/24"));
	filter.add(allow_in("syslog", "udp", "514", "203.0.113.0/24"));
	filter.add(allow_in("mgmt-ssh6", "tcp", "22", "2001:db8:ff::/48"));

	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"to the uplink address", X, Ipv4::tcp(kRelay, 50000, kHost, 22, kSyn).frame(), {}, pass(AG_PASS_RULE),
		 "mgmt-ssh", +1},
		{"to the host's bridge address", X, Ipv4::tcp(kRelay, 50001, kBridgeAddr, 22, kSyn).frame(), {},
		 pass(AG_PASS_RULE), "mgmt-ssh", +1},
		{"to a container", X, Ipv4::tcp(kRelay, 50002, kContainer1, 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"to a remote the host routes to", X, Ipv4::tcp(kRelay, 50003, kElsewhere, 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"to a multicast group", X, Ipv4::udp(kRelay, 50004, "224.0.0.251", 514).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"to the limited broadcast", X, Ipv4::udp(kRelay, 50005, "255.255.255.255", 514).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"no rule, to a container", X, Ipv4::tcp(kRelay, 50006, kContainer1, 23, kSyn).frame(), {},
		 drop(AG_DROP_NO_RULE)},
		{"IPv6 to the uplink address", X, Ipv6::tcp(kRelay6, 50000, kHost6, 22, kSyn).frame(), {},
		 pass(AG_PASS_RULE), "mgmt-ssh6", +1},
		{"IPv6 to a container", X, Ipv6::tcp(kRelay6, 50001, kContainer1v6, 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"IPv6 to a remote the host routes to", X, Ipv6::tcp(kRelay6, 50002, kElsewhere6, 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"IPv6 to all nodes", X, Ipv6::tcp(kRelay6, 50003, kAllNodes, 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"to the uplink subnet's broadcast address", X, Ipv4::udp(kRelay, 50008, "198.51.100.255", 514).frame(),
		 {}, drop(AG_DROP_NOT_TO_HOST)},
	});

	// An uplink address that came after load, as by DHCP, counts once the
	// host sends from it, whatever the verdict on that packet.
	run_ip({"addr", "add", "198.51.100.9/24", "dev", "wan0"});
	struct RemoveAddress {
		~RemoveAddress()
		{
			try {
				run_ip({"addr", "del", "198.51.100.9/24", "dev", "wan0"});
			} catch (const std::exception &e) {
				std::cerr << "error: cannot remove the test's address: " << e.what() << "\n";
			}
		}
	} remove;
	run_table(filter, {
		{"to a new uplink address", X, Ipv4::tcp(kRelay, 50009, "198.51.100.9", 22, kSyn).frame(), {},
		 drop(AG_DROP_NOT_TO_HOST)},
		{"the host sends from it", Hook::uplink_egress, Ipv4::udp("198.51.100.9", 40000, kElsewhere, 53).frame(),
		 sent_by_host, drop(AG_DROP_NO_RULE)},
		{"to the new uplink address after", X, Ipv4::tcp(kRelay, 50010, "198.51.100.9", 22, kSyn).frame(), {},
		 pass(AG_PASS_RULE), "mgmt-ssh", +1},
	});
}

TEST_CASE("ICMP errors follow the flow they quote", "[uplink][icmp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	filter.add(allow_in("dns-in", "udp", "53", "203.0.113.0/24"));

	// An ICMPv4 error carries the IPv4 header and at least the first 8 bytes
	// of the packet that caused it.
	auto quote = [](Ipv4 packet) { return packet.l4_length(8).datagram(); };
	auto error_to_host = [](const char *from, std::uint8_t type, std::uint8_t code, Bytes quoted) {
		return Ipv4::icmp(from, kHost, type, code, 0, 1400).payload(std::move(quoted)).frame();
	};
	const Bytes tracked = quote(Ipv4::tcp(kHost, 40000, kRelay, 443, kAck));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"fragmentation needed before the flow exists", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, tracked), {}, drop(AG_DROP_NO_RULE)},
		{"host opens tcp/443", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
		{"fragmentation needed for the tracked flow", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, tracked), {}, pass(AG_PASS_RELATED),
		 "relay-api"},
		{"time exceeded for the tracked flow", X,
		 error_to_host("203.0.113.1", kIcmpTimeExceeded, 0, tracked), {}, pass(AG_PASS_RELATED), "relay-api"},
		{"port unreachable from the remote itself", X,
		 error_to_host(kRelay, kIcmpUnreachable, kIcmpPortUnreachable, tracked), {}, pass(AG_PASS_RELATED),
		 "relay-api"},
		{"error quoting another local port", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded,
			       quote(Ipv4::tcp(kHost, 40001, kRelay, 443, kAck))),
		 {}, drop(AG_DROP_NO_RULE)},
		{"error quoting the flow from another host address", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded,
			       quote(Ipv4::tcp("198.51.100.3", 40000, kRelay, 443, kAck))),
		 {}, drop(AG_DROP_NO_RULE)},
		{"error quoting the reply direction", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded,
			       quote(Ipv4::tcp(kRelay, 443, kHost, 40000, kAck))),
		 {}, drop(AG_DROP_NO_RULE)},
		{"error quoting the flow with udp", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded,
			       quote(Ipv4::udp(kHost, 40000, kRelay, 443))),
		 {}, drop(AG_DROP_NO_RULE)},
		{"redirect is no error", X, error_to_host(kGateway, kIcmpRedirect, 0, tracked), {},
		 drop(AG_DROP_NO_RULE)},
		{"error with a truncated quote", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, cut(tracked, 20 + 4)), {},
		 drop(AG_DROP_MALFORMED)},
		{"error with no quote", X, error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, {}), {},
		 drop(AG_DROP_MALFORMED)},
		{"error quoting an IHL 4 header", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, with_byte(tracked, 0, 0x44)), {},
		 drop(AG_DROP_MALFORMED)},
		{"error in a fragment", X,
		 Ipv4::icmp(kGateway, kHost, kIcmpUnreachable, kIcmpFragNeeded, 0, 1400)
			 .payload(tracked)
			 .frag_field(0x2000)
			 .frame(),
		 {}, drop(AG_DROP_NOT_PARSED)},

		// The host replies to an admitted inbound flow with an error.
		{"inbound DNS query", X, Ipv4::udp("203.0.113.5", 5000, kHost, 53).frame(), {}, pass(AG_PASS_RULE),
		 "dns-in", +1},
		{"host's port unreachable for it", E,
		 Ipv4::icmp(kHost, "203.0.113.5", kIcmpUnreachable, kIcmpPortUnreachable, 0, 0)
			 .payload(quote(Ipv4::udp("203.0.113.5", 5000, kHost, 53)))
			 .frame(),
		 sent_by_host, pass(AG_PASS_RELATED), "dns-in"},
		{"host's error quoting an untracked packet", E,
		 Ipv4::icmp(kHost, "203.0.113.6", kIcmpUnreachable, kIcmpPortUnreachable, 0, 0)
			 .payload(quote(Ipv4::udp("203.0.113.6", 5000, kHost, 53)))
			 .frame(),
		 sent_by_host, drop(AG_DROP_NO_RULE)},
	});

	filter.remove("relay-api");
	run_table(filter, {
		{"error quoting a flow of a deleted rule", X,
		 error_to_host(kGateway, kIcmpUnreachable, kIcmpFragNeeded, tracked), {}, drop(AG_DROP_RULE_REMOVED)},
	});
}

// A flow of ICMP echoes is keyed on the echo identifier, a flow of any
// other ICMP message on ports 0; an error quoting either must find it.
TEST_CASE("ICMP errors quoting ICMP messages find their flow", "[uplink][icmp]")
{
	Filter filter;
	filter.add(allow_out("relay-icmp", "icmp", "any", kRelay));
	filter.add(allow_out("relay-icmp6", "icmpv6", "any", kRelay6));
	constexpr std::uint8_t kIcmpTimestamp = 13;
	constexpr std::uint8_t kIcmp6Experimental = 200;

	auto quote4 = [](Ipv4 packet) { return packet.l4_length(8).datagram(); };
	auto quote6 = [](Ipv6 packet) { return packet.l4_length(8).datagram(); };
	auto error4 = [](Bytes quoted) {
		return Ipv4::icmp(kGateway, kHost, kIcmpUnreachable, 1, 0, 0).payload(std::move(quoted)).frame();
	};
	auto error6 = [](Bytes quoted) {
		return Ipv6::icmp(kGateway6, kHost6, kIcmp6Unreachable, 3, 0, 0).payload(std::move(quoted)).frame();
	};

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"host's echo request", E, Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 7).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "relay-icmp", +1},
		{"error quoting the echo", X, error4(quote4(Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 7))), {},
		 pass(AG_PASS_RELATED), "relay-icmp"},
		{"error quoting another echo identifier", X, error4(quote4(Ipv4::icmp_echo(kHost, kRelay, kIcmpEcho, 8))),
		 {}, drop(AG_DROP_NO_RULE)},
		{"host's timestamp request", E, Ipv4::icmp(kHost, kRelay, kIcmpTimestamp, 0, 0x1234, 1).frame(),
		 sent_by_host, pass(AG_PASS_RULE), "relay-icmp", +1},
		{"error quoting the timestamp request", X,
		 error4(quote4(Ipv4::icmp(kHost, kRelay, kIcmpTimestamp, 0, 0x1234, 1))), {}, pass(AG_PASS_RELATED),
		 "relay-icmp"},
		{"host's ICMPv6 echo request", E, Ipv6::icmp_echo(kHost6, kRelay6, kIcmp6EchoRequest, 9).frame(),
		 sent_by_host, pass(AG_PASS_RULE), "relay-icmp6", +1},
		{"error quoting the ICMPv6 echo", X, error6(quote6(Ipv6::icmp_echo(kHost6, kRelay6, kIcmp6EchoRequest, 9))),
		 {}, pass(AG_PASS_RELATED), "relay-icmp6"},
		{"host's experimental ICMPv6 message", E,
		 Ipv6::icmp(kHost6, kRelay6, kIcmp6Experimental, 0, 0x4321, 1).frame(), sent_by_host, pass(AG_PASS_RULE),
		 "relay-icmp6", +1},
		{"error quoting the experimental message", X,
		 error6(quote6(Ipv6::icmp(kHost6, kRelay6, kIcmp6Experimental, 0, 0x4321, 1))), {},
		 pass(AG_PASS_RELATED), "relay-icmp6"},
	});
}

TEST_CASE("uplink IPv6 rules, flows and link traffic", "[uplink][ipv6]")
{
	Filter filter;
	filter.add(allow_out("relay6", "tcp", "443", kRelay6));
	filter.add(allow_in("ssh6", "tcp", "22", "2001:db8:ff::/48"));

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	const Bytes too_big = Ipv6::icmp(kGateway6, kHost6, kIcmp6PacketTooBig, 0, 0, 1280)
				      .payload(Ipv6::tcp(kHost6, 40000, kRelay6, 443, kAck).l4_length(8).datagram())
				      .frame();
	run_table(filter, {
		{"tcp/443 to an IPv6 rule", E, Ipv6::tcp(kHost6, 40000, kRelay6, 443, kSyn).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "relay6", +1},
		{"IPv6 reply", X, Ipv6::tcp(kRelay6, 443, kHost6, 40000, kSyn | kAck).frame(), {}, pass(AG_PASS_FLOW),
		 "relay6"},
		{"tcp/443 to another IPv6 address", E, Ipv6::tcp(kHost6, 40001, kElsewhere6, 443, kSyn).frame(),
		 sent_by_host, drop(AG_DROP_NO_RULE)},
		{"routed IPv6", E, Ipv6::tcp(kHost6, 40002, kRelay6, 443, kSyn).frame(), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"packet too big for the tracked flow", X, too_big, {}, pass(AG_PASS_RELATED), "relay6"},
		{"SYN to an IPv6 allow-in rule", X, Ipv6::tcp("2001:db8:ff::5", 50000, kHost6, 22, kSyn).frame(), {},
		 pass(AG_PASS_RULE), "ssh6", +1},
		{"SYN from outside the /48", X, Ipv6::tcp("2001:db8:fe::5", 50000, kHost6, 22, kSyn).frame(), {},
		 drop(AG_DROP_NO_RULE)},

		{"neighbour solicitation", X,
		 Ipv6::icmp(kLinkLocal, kHost6, kIcmp6NeighbourSolicit, 0, 0, 0).hop_limit(255).frame(), {},
		 pass(AG_PASS_LINK)},
		{"host's neighbour advertisement", E,
		 Ipv6::icmp(kHost6, kLinkLocal, kIcmp6NeighbourAdvert, 0, 0, 0).hop_limit(255).frame(), sent_by_host,
		 pass(AG_PASS_LINK)},
		{"router advertisement", X,
		 Ipv6::icmp(kLinkLocal, kAllNodes, kIcmp6RouterAdvert, 0, 0, 0).hop_limit(255).frame(), {},
		 pass(AG_PASS_LINK)},
		{"host's router solicitation", E,
		 Ipv6::icmp("fe80::1", "ff02::2", kIcmp6RouterSolicit, 0, 0, 0).hop_limit(255).frame(), sent_by_host,
		 pass(AG_PASS_LINK)},
		{"neighbour solicitation with hop limit 64", X,
		 Ipv6::icmp(kLinkLocal, kHost6, kIcmp6NeighbourSolicit, 0, 0, 0).hop_limit(64).frame(), {},
		 drop(AG_DROP_NO_RULE)},
		{"redirect", X, Ipv6::icmp(kLinkLocal, kHost6, kIcmp6Redirect, 0, 0, 0).hop_limit(255).frame(), {},
		 drop(AG_DROP_NO_RULE)},
		{"MLD query", X, Ipv6::icmp(kLinkLocal, kAllNodes, kIcmp6MldQuery, 0, 0, 0).hop_limit(1).frame(), {},
		 pass(AG_PASS_LINK)},
		{"host's MLDv2 report", E,
		 Ipv6::icmp("fe80::1", "ff02::16", kIcmp6Mld2Report, 0, 0, 0).hop_limit(1).frame(), sent_by_host,
		 pass(AG_PASS_LINK)},
		{"MLD query with hop limit 2", X,
		 Ipv6::icmp(kLinkLocal, kAllNodes, kIcmp6MldQuery, 0, 0, 0).hop_limit(2).frame(), {},
		 drop(AG_DROP_NO_RULE)},
		{"routed neighbour advertisement", E,
		 Ipv6::icmp(kHost6, kLinkLocal, kIcmp6NeighbourAdvert, 0, 0, 0).hop_limit(255).frame(), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"neighbour solicitation in a fragment", X,
		 Ipv6::icmp(kLinkLocal, kHost6, kIcmp6NeighbourSolicit, 0, 0, 0)
			 .hop_limit(255)
			 .fragment(0, true, 9)
			 .frame(),
		 {}, drop(AG_DROP_NO_RULE)},
		{"echo request from the remote", X, Ipv6::icmp_echo(kElsewhere6, kHost6, kIcmp6EchoRequest, 5).frame(),
		 {}, drop(AG_DROP_NO_RULE)},
	});
}

// An ICMPv6 error quotes the packet as sent, extension headers included: a
// Packet Too Big about a datagram the host fragmented quotes its fragment
// header, and must reach the host for path MTU discovery to work.
TEST_CASE("ICMPv6 errors quoting extension headers find their flow", "[uplink][icmp][ipv6]")
{
	Filter filter;
	filter.add(allow_out("relay6", "tcp", "443", kRelay6));
	auto too_big = [](Ipv6 quoted) {
		return Ipv6::icmp(kGateway6, kHost6, kIcmp6PacketTooBig, 0, 0, 1280)
			.payload(quoted.l4_length(8).datagram())
			.frame();
	};
	auto sent = [] { return Ipv6::tcp(kHost6, 40000, kRelay6, 443, kAck); };

	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	run_table(filter, {
		{"host opens tcp/443", E, Ipv6::tcp(kHost6, 40000, kRelay6, 443, kSyn).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "relay6", +1},
		{"quoting a first fragment", X, too_big(sent().fragment(0, true, 5)), {}, pass(AG_PASS_RELATED),
		 "relay6"},
		{"quoting destination options and a routing header", X,
		 too_big(sent().ext(kExtDestination).ext(kExtRouting, 2)), {}, pass(AG_PASS_RELATED), "relay6"},
		{"quoting hop-by-hop options", X, too_big(sent().ext(kExtHopByHop)), {}, pass(AG_PASS_RELATED),
		 "relay6"},
		{"quoting an atomic fragment", X, too_big(sent().fragment(0, false, 6)), {}, pass(AG_PASS_RELATED),
		 "relay6"},
		{"quoting another port behind a fragment header", X,
		 too_big(Ipv6::tcp(kHost6, 40001, kRelay6, 443, kAck).fragment(0, true, 7)), {}, drop(AG_DROP_NO_RULE)},
		{"quoting a later fragment", X,
		 too_big(Ipv6::raw(kHost6, kRelay6, IPPROTO_TCP, Bytes(16, 0)).fragment(8, true, 5)), {},
		 drop(AG_DROP_NOT_PARSED)},
		{"quoting hop-by-hop options after another header", X,
		 too_big(sent().ext(kExtDestination).ext(kExtHopByHop)), {}, drop(AG_DROP_MALFORMED)},
		{"quoting seven extension headers", X,
		 too_big(sent()
				 .ext(kExtDestination)
				 .ext(kExtRouting)
				 .ext(kExtDestination)
				 .ext(kExtRouting)
				 .ext(kExtDestination)
				 .ext(kExtRouting)
				 .ext(kExtDestination)),
		 {}, drop(AG_DROP_NOT_PARSED)},
		{"quoting a truncated routing header", X,
		 Ipv6::icmp(kGateway6, kHost6, kIcmp6PacketTooBig, 0, 0, 1280)
			 .payload(cut(sent().ext(kExtRouting, 2).datagram(), 40 + 12))
			 .frame(),
		 {}, drop(AG_DROP_MALFORMED)},
	});
}

TEST_CASE("uplink DHCPv6 passes only with the setting", "[uplink][dhcp][ipv6]")
{
	Filter filter;
	const auto E = Hook::uplink_egress;
	const auto X = Hook::uplink_xdp;
	const Bytes solicit = Ipv6::udp("fe80::1", 546, "ff02::1:2", 547).frame();
	const Bytes advertise = Ipv6::udp(kLinkLocal, 547, "fe80::1", 546).frame();

	run_table(filter, {
		{"DHCPv6 solicit, DHCP off", E, solicit, sent_by_host, drop(AG_DROP_NO_RULE)},
		{"DHCPv6 advertise, DHCP off", X, advertise, {}, drop(AG_DROP_NO_RULE)},
	});
	filter.set_dhcp(true);
	run_table(filter, {
		{"DHCPv6 advertise before a solicit", X, advertise, {}, drop(AG_DROP_NO_RULE)},
		{"DHCPv6 solicit", E, solicit, sent_by_host, pass(AG_PASS_LINK), "", +1},
		{"DHCPv6 advertise", X, advertise, {}, pass(AG_PASS_LINK)},
		{"DHCPv6 ports reversed", E, Ipv6::udp("fe80::1", 547, "ff02::1:2", 546).frame(), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"DHCPv4 ports over IPv6", E, Ipv6::udp("fe80::1", 68, "ff02::1:2", 67).frame(), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
		{"DHCPv6 solicit to a unicast address", E, Ipv6::udp(kHost6, 546, kElsewhere6, 547).frame(), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
	});
}

// The programs key IPv4 addresses IPv4-mapped (::ffff:a.b.c.d), so an IPv6
// packet whose address is itself IPv4-mapped would match the IPv4 rules, and
// a dual-stack socket reports such UDP as coming from the IPv4 peer. Linux
// drops TCP SYNs from a mapped source (tcp_v6_conn_request) but not UDP, so
// the parser drops them all as malformed.
TEST_CASE("IPv6 with IPv4-mapped addresses drops", "[uplink][ipv6]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	filter.add(allow_in("mgmt-ssh", "tcp", "22", "203.0.113.0/24"));
	filter.add(allow_in("dns-in", "udp", "53", "203.0.113.0/24"));
	run_table(filter, {
		{"IPv6 to an IPv4-mapped rule address", Hook::uplink_egress,
		 Ipv6::tcp(kHost6, 40000, "::ffff:203.0.113.10", 443, kSyn).frame(), sent_by_host,
		 drop(AG_DROP_MALFORMED)},
		{"IPv6 SYN from an IPv4-mapped allow-in source", Hook::uplink_xdp,
		 Ipv6::tcp("::ffff:203.0.113.5", 50000, kHost6, 22, kSyn).frame(), {}, drop(AG_DROP_MALFORMED)},
		{"IPv6 udp from an IPv4-mapped allow-in source", Hook::uplink_xdp,
		 Ipv6::udp("::ffff:203.0.113.5", 50000, kHost6, 53).frame(), {}, drop(AG_DROP_MALFORMED)},
	});
}

TEST_CASE("host ICMP errors go only to the quoted sender", "[uplink][icmp][egress]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	const auto E = Hook::uplink_egress;
	run_table(filter, {
		{"SYN out", E, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host, pass(AG_PASS_RULE),
		 "relay-api", +1},
	});

	// The host's error quotes a packet it received from the relay.
	const Bytes received = Ipv4::tcp(kRelay, 443, kHost, 40000, kAck).l4_length(8).datagram();
	auto error_from_host = [&](const char *to, std::size_t extra) {
		Bytes payload = received;
		payload.resize(payload.size() + extra, 0x5a);
		return Ipv4::icmp(kHost, to, kIcmpUnreachable, kIcmpPortUnreachable, 0, 0).payload(payload).frame();
	};
	run_table(filter, {
		{"error back to the quoted sender", E, error_from_host(kRelay, 0), sent_by_host, pass(AG_PASS_RELATED),
		 "relay-api"},
		// A process with a raw socket must not carry data anywhere in an error.
		{"error to another address", E, error_from_host(kElsewhere, 0), sent_by_host, drop(AG_DROP_NO_RULE)},
		{"error longer than the kernel sends", E, error_from_host(kRelay, 600), sent_by_host,
		 drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("ICMP types follow their IP version", "[uplink][icmp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	// An IPv4 header announcing ICMPv6 (58), and an IPv6 one announcing ICMP (1).
	Bytes v4_icmpv6 = Ipv4::icmp(kElsewhere, kHost, kIcmp6Unreachable, 4, 0, 0).frame();
	v4_icmpv6 = with_byte(v4_icmpv6, 14 + 9, 58);
	run_table(filter, {
		{"IPv4 carrying ICMPv6", Hook::uplink_xdp, v4_icmpv6, {}, drop(AG_DROP_MALFORMED)},
		{"IPv6 carrying ICMP", Hook::uplink_xdp,
		 Ipv6::raw(kElsewhere6, kHost6, IPPROTO_ICMP, Bytes{3, 3, 0, 0, 0, 0, 0, 0}).frame(), {},
		 drop(AG_DROP_MALFORMED)},
	});
}

TEST_CASE("a RST followed by traffic keeps the flow", "[uplink][tcp]")
{
	Filter filter;
	filter.add(allow_out("relay-api", "tcp", "443", kRelay));
	const ag_flow_key key = flow_key(IPPROTO_TCP, kHost, 40000, kRelay, 443);
	run_table(filter, {
		{"SYN out", Hook::uplink_egress, Ipv4::tcp(kHost, 40000, kRelay, 443, kSyn).frame(), sent_by_host,
		 pass(AG_PASS_RULE), "relay-api", +1},
		// Anyone who guesses the ports can send a RST; the kernel ignores one
		// outside the window, and so must the flow's timeout.
		{"spoofed RST in", Hook::uplink_xdp, Ipv4::tcp(kRelay, 443, kHost, 40000, kRst | kAck).frame(), {},
		 pass(AG_PASS_FLOW), "relay-api"},
		{"data after it", Hook::uplink_xdp, Ipv4::tcp(kRelay, 443, kHost, 40000, kAck | kPsh).frame(), {},
		 pass(AG_PASS_FLOW), "relay-api"},
	});
	auto flow = filter.flow(key);
	REQUIRE(flow.has_value());
	CHECK(flow->tcp_state == AG_TCP_OPEN);
}
