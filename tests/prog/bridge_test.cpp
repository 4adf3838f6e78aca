// The bridge hooks. TC ingress admits forwards to the host's own addresses.
// TC egress admits what the host sends, not what it routes in.
#include <netinet/in.h>

#include <iostream>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "loader/interfaces.hpp"

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

} // namespace

TEST_CASE("bridge ingress admits forwards to the host", "[bridge][ingress]")
{
	Filter filter;
	filter.add(forward("billing-db", "tcp", "8443", kContainer5));
	filter.add(forward("metrics", "udp", "9125"));
	filter.add(forward("subnet-api", "tcp", "9000", "172.17.0.0/16"));

	const auto I = Hook::bridge_ingress;
	run_table(filter, {
		{"forward to the bridge address", I, tcp(kContainer5, 50000, kBridgeAddr, 8443, kSyn), from_bridge,
		 pass(AG_PASS_RULE), "billing-db"},
		{"forward to the host's uplink address", I, tcp(kContainer5, 50001, kHost, 8443, kSyn), from_bridge,
		 pass(AG_PASS_RULE), "billing-db"},
		{"forward match to a remote address", I, tcp(kContainer5, 50002, kElsewhere, 8443, kSyn), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"forward match to another container", I, tcp(kContainer5, 50003, kContainer2, 8443, kSyn), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"forward match to the gateway", I, tcp(kContainer5, 50004, kGateway, 8443, kSyn), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"forward limited to another container", I, tcp(kContainer2, 50005, kBridgeAddr, 8443, kSyn),
		 from_bridge, drop(AG_DROP_NO_RULE)},
		{"host port without a forward", I, tcp(kContainer1, 50006, kBridgeAddr, 9999, kSyn), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"udp to a tcp forward port", I, udp(kContainer5, 50007, kBridgeAddr, 8443), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"forward from any container", I, udp(kContainer1, 50008, kBridgeAddr, 9125), from_bridge,
		 pass(AG_PASS_RULE), "metrics"},
		{"forward from the bridge subnet", I, tcp(kContainer1, 50009, kBridgeAddr, 9000, kSyn), from_bridge,
		 pass(AG_PASS_RULE), "subnet-api"},
		{"forward subnet excludes another bridge", I, tcp("172.18.0.2", 50010, kBridgeAddr, 9000, kSyn),
		 from_bridge, drop(AG_DROP_NO_RULE)},
		{"container to the Internet", I, tcp(kContainer1, 50011, kElsewhere, 443, kSyn), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"container DNS to the resolver", I, udp(kContainer1, 50012, kResolver, 53), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"container ping to the host", I, Ipv4::icmp_echo(kContainer1, kBridgeAddr, kIcmpEcho, 1).frame(),
		 from_bridge, drop(AG_DROP_NO_RULE)},
		{"forward match to a multicast group", I, udp(kContainer1, 50013, "224.0.0.251", 9125), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"forward match to the limited broadcast", I, udp(kContainer1, 50014, "255.255.255.255", 9125),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
		{"forward match to IPv6 all nodes", I, Ipv6::udp(kContainer1v6, 50015, kAllNodes, 9125).frame(),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
	});

	// A first fragment that the FIB lookup sends elsewhere is not
	// recorded, so its later fragments stay orphans.
	const Bytes data(64, 0xaa);
	run_table(filter, {
		{"first fragment to a remote address", I,
		 Ipv4::tcp(kContainer5, 50020, kElsewhere, 8443, kSyn).id(0x500).frag_field(0x2000).payload(data).frame(),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
		{"its later fragment", I, Ipv4::raw(kContainer5, kElsewhere, IPPROTO_TCP, data).id(0x500).frag_field(11).frame(),
		 from_bridge, drop(AG_DROP_ORPHAN_FRAGMENT)},
	});

	filter.remove("billing-db");
	run_table(filter, {
		{"forward after its rule is deleted", I, tcp(kContainer5, 50000, kBridgeAddr, 8443, kSyn), from_bridge,
		 drop(AG_DROP_NO_RULE)},
	});
}

TEST_CASE("bridge egress admits only what the host sends", "[bridge][egress]")
{
	Filter filter;
	filter.add(forward("billing-db", "tcp", "8443", kContainer5));

	const auto O = Hook::bridge_egress;
	run_table(filter, {
		{"host's reply to a forward", O, tcp(kBridgeAddr, 8443, kContainer5, 50000, kSyn | kAck), sent_by_host,
		 pass(AG_PASS_HOST)},
		{"host-initiated packet", O, tcp(kBridgeAddr, 40000, kContainer1, 80, kSyn), sent_by_host,
		 pass(AG_PASS_HOST), "", +1},
		// docker's DNAT of a published port, which arrived on the uplink.
		{"routed in from the uplink", O, tcp(kElsewhere, 50000, kContainer1, 80, kSyn), from_uplink,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"routed reply to a forward port", O, tcp(kBridgeAddr, 8443, kContainer5, 50000, kAck), from_uplink,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"routed between containers", O, tcp(kContainer2, 50000, kContainer1, 80, kSyn), from_bridge,
		 drop(AG_DROP_NOT_FROM_HOST)},
		kernel_may_reject({"routed truncated IPv4", O, cut(tcp(kElsewhere, 50000, kContainer1, 80, kSyn), 14 + 10),
				   from_uplink, drop(AG_DROP_NOT_FROM_HOST)}),
		{"routed truncated IPv4 behind a VLAN tag", O,
		 cut(Ipv4::tcp(kElsewhere, 50000, kContainer1, 80, kSyn).vlan().frame(), 14 + 4 + 10), from_uplink,
		 drop(AG_DROP_NOT_FROM_HOST)},
		{"host-sent truncated IPv4 is not parsed", O,
		 cut(Ipv4::tcp(kBridgeAddr, 8443, kContainer5, 50000, kAck).vlan().frame(), 14 + 4 + 10), sent_by_host,
		 pass(AG_PASS_HOST)},
	});
}

TEST_CASE("bridge ingress admits IPv6 forwards to the host", "[bridge][ingress][ipv6]")
{
	Filter filter;
	filter.add(forward("billing-db6", "tcp", "8443", kContainer5v6));
	filter.add(forward("subnet-api6", "tcp", "9000", "2001:db8:1::/64"));

	const auto I = Hook::bridge_ingress;
	run_table(filter, {
		{"forward to the bridge address", I, Ipv6::tcp(kContainer5v6, 50000, kBridgeAddr6, 8443, kSyn).frame(),
		 from_bridge, pass(AG_PASS_RULE), "billing-db6"},
		{"forward to the host's uplink address", I, Ipv6::tcp(kContainer5v6, 50001, kHost6, 8443, kSyn).frame(),
		 from_bridge, pass(AG_PASS_RULE), "billing-db6"},
		{"forward match to a remote address", I,
		 Ipv6::tcp(kContainer5v6, 50002, kElsewhere6, 8443, kSyn).frame(), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"forward limited to another container", I,
		 Ipv6::tcp(kContainer1v6, 50003, kBridgeAddr6, 8443, kSyn).frame(), from_bridge, drop(AG_DROP_NO_RULE)},
		{"forward from the bridge's /64", I, Ipv6::tcp(kContainer1v6, 50004, kBridgeAddr6, 9000, kSyn).frame(),
		 from_bridge, pass(AG_PASS_RULE), "subnet-api6"},
		{"forward /64 excludes other prefixes", I,
		 Ipv6::tcp("2001:db8:2::2", 50005, kBridgeAddr6, 9000, kSyn).frame(), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"IPv4 container to an IPv6-only forward", I, tcp(kContainer1, 50006, kBridgeAddr, 9000, kSyn),
		 from_bridge, drop(AG_DROP_NO_RULE)},
		{"neighbour solicitation from a container", I,
		 Ipv6::icmp("fe80::5", kBridgeAddr6, kIcmp6NeighbourSolicit, 0, 0, 0).hop_limit(255).frame(), from_bridge,
		 pass(AG_PASS_LINK)},
		{"routed neighbour advertisement into the bridge", Hook::bridge_egress,
		 Ipv6::icmp("fe80::1", "fe80::5", kIcmp6NeighbourAdvert, 0, 0, 0).hop_limit(255).frame(), from_uplink,
		 pass(AG_PASS_LINK)},
		{"routed IPv6 into the bridge", Hook::bridge_egress,
		 Ipv6::tcp(kElsewhere6, 50000, kContainer1v6, 80, kSyn).frame(), from_uplink,
		 drop(AG_DROP_NOT_FROM_HOST)},
	});
}

// "To the host" means one of the host's own addresses. A routing lookup alone
// would also take a destination without a route, a subnet's broadcast
// address and another node's link-local address for the host's.
TEST_CASE("forward matches to what is not the host's address drop", "[bridge][ingress]")
{
	Filter filter;
	filter.add(forward("billing-db", "tcp", "8443", kContainer5));
	filter.add(forward("metrics", "udp", "9125"));
	filter.add(forward("metrics6", "udp", "9125", "2001:db8:1::/64"));
	filter.add(forward("ll-metrics", "udp", "9125", "fe80::/10"));

	const auto I = Hook::bridge_ingress;
	run_table(filter, {
		{"to the subnet's broadcast address", I, udp(kContainer1, 50000, "172.17.255.255", 9125), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
		{"to another node's link-local address", I, Ipv6::udp("fe80::5", 50001, "fe80::99", 9125).frame(),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
		{"from a link-local source to a remote", I, Ipv6::udp("fe80::5", 50002, kElsewhere6, 9125).frame(),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
		{"to the host's bridge address", I, udp(kContainer1, 50003, kBridgeAddr, 9125), from_bridge,
		 pass(AG_PASS_RULE), "metrics"},
	});

	// Without the default route, 203.0.113.20 matches no route.
	run_ip({"route", "del", "default"});
	struct RestoreDefaultRoute {
		~RestoreDefaultRoute()
		{
			try {
				run_ip({"route", "add", "default", "via", kGateway, "dev", "wan0"});
			} catch (const std::exception &e) {
				std::cerr << "error: cannot restore the default route: " << e.what() << "\n";
			}
		}
	} restore;

	run_table(filter, {
		{"forward match to an unroutable address", I, tcp(kContainer5, 50000, kElsewhere, 8443, kSyn), from_bridge,
		 drop(AG_DROP_NOT_TO_HOST)},
	});
}

// An address the host gets after load counts as the host's once the host
// sends from it, or once the loader adds it (watch does on every change).
TEST_CASE("addresses the host gets after load", "[bridge][ingress]")
{
	Filter filter;
	filter.add(forward("metrics", "udp", "9125"));
	run_ip({"addr", "add", "172.17.0.100/16", "dev", "docker0"});
	run_ip({"-6", "addr", "add", "2001:db8:1::100/64", "dev", "docker0", "nodad"});
	struct RemoveAddresses {
		~RemoveAddresses()
		{
			try {
				run_ip({"addr", "del", "172.17.0.100/16", "dev", "docker0"});
				run_ip({"-6", "addr", "del", "2001:db8:1::100/64", "dev", "docker0"});
			} catch (const std::exception &e) {
				std::cerr << "error: cannot remove the test's addresses: " << e.what() << "\n";
			}
		}
	} remove;

	const auto I = Hook::bridge_ingress;
	run_table(filter, {
		{"to a new address before the host used it", I, udp(kContainer1, 50000, "172.17.0.100", 9125),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
		{"the host sends from it", Hook::bridge_egress, udp("172.17.0.100", 9125, kContainer1, 50000),
		 sent_by_host, pass(AG_PASS_HOST)},
		{"to the new address after", I, udp(kContainer1, 50001, "172.17.0.100", 9125), from_bridge,
		 pass(AG_PASS_RULE), "metrics"},
		{"to a new IPv6 address before", I, Ipv6::udp(kContainer1v6, 50002, "2001:db8:1::100", 9125).frame(),
		 from_bridge, drop(AG_DROP_NOT_TO_HOST)},
	});
	CHECK(filter.maps().add_host_addresses(airgap::interface_addresses()) == 1);
	run_table(filter, {
		{"to the new IPv6 address once the loader added it", I,
		 Ipv6::udp(kContainer1v6, 50003, "2001:db8:1::100", 9125).frame(), from_bridge, pass(AG_PASS_RULE),
		 "metrics"},
	});
}

TEST_CASE("router advertisements from containers drop", "[bridge][ingress][ipv6]")
{
	Filter filter;
	run_table(filter, {
		{"container router advertisement", Hook::bridge_ingress,
		 Ipv6::icmp("fe80::5", kAllNodes, kIcmp6RouterAdvert, 0, 0, 0).hop_limit(255).frame(), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"container router solicitation", Hook::bridge_ingress,
		 Ipv6::icmp("fe80::5", "ff02::2", kIcmp6RouterSolicit, 0, 0, 0).hop_limit(255).frame(), from_bridge,
		 pass(AG_PASS_LINK)},
	});
}

// The host may open connections into a bridge, as the iptables baseline
// allows ("accept docker0 in both directions" with established/related):
// bridge egress tracks them and bridge ingress admits the containers'
// replies. A reply to a forward opens nothing: its forward counts and cuts
// that exchange.
TEST_CASE("bridge ingress admits replies to the host's flows", "[bridge][ingress][egress]")
{
	Filter filter;
	filter.add(forward("metrics", "udp", "9125"));
	filter.add(forward("billing-db", "tcp", "8443", kContainer5));

	const auto I = Hook::bridge_ingress;
	const auto O = Hook::bridge_egress;
	run_table(filter, {
		{"container answers before the host opened", I, tcp(kContainer1, 80, kBridgeAddr, 40000, kSyn | kAck),
		 from_bridge, drop(AG_DROP_NO_RULE)},
		{"host opens tcp/80 on a container", O, tcp(kBridgeAddr, 40000, kContainer1, 80, kSyn), sent_by_host,
		 pass(AG_PASS_HOST), "", +1},
		{"container's SYN-ACK", I, tcp(kContainer1, 80, kBridgeAddr, 40000, kSyn | kAck), from_bridge,
		 pass(AG_PASS_FLOW)},
		{"host's ACK", O, tcp(kBridgeAddr, 40000, kContainer1, 80, kAck), sent_by_host, pass(AG_PASS_HOST)},
		{"container's data", I, tcp(kContainer1, 80, kBridgeAddr, 40000, kAck), from_bridge, pass(AG_PASS_FLOW)},
		{"another host port", I, tcp(kContainer1, 80, kBridgeAddr, 40001, kAck), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"another container", I, tcp(kContainer2, 80, kBridgeAddr, 40000, kAck), from_bridge,
		 drop(AG_DROP_NO_RULE)},
		{"same ports from the uplink", Hook::uplink_xdp, tcp(kContainer1, 80, kBridgeAddr, 40000, kAck), {},
		 drop(AG_DROP_NO_RULE)},
		{"host's udp to a container", O, udp(kBridgeAddr, 5353, kContainer1, 53), sent_by_host,
		 pass(AG_PASS_HOST), "", +1},
		{"container's udp reply", I, udp(kContainer1, 53, kBridgeAddr, 5353), from_bridge, pass(AG_PASS_FLOW)},
		{"host pings a container", O, Ipv4::icmp_echo(kBridgeAddr, kContainer1, kIcmpEcho, 77).frame(),
		 sent_by_host, pass(AG_PASS_HOST), "", +1},
		{"container's echo reply", I, Ipv4::icmp_echo(kContainer1, kBridgeAddr, kIcmpEchoReply, 77).frame(),
		 from_bridge, pass(AG_PASS_FLOW)},
		{"host opens tcp/80 over IPv6", O, Ipv6::tcp(kBridgeAddr6, 40000, kContainer1v6, 80, kSyn).frame(),
		 sent_by_host, pass(AG_PASS_HOST), "", +1},
		{"container's IPv6 SYN-ACK", I, Ipv6::tcp(kContainer1v6, 80, kBridgeAddr6, 40000, kSyn | kAck).frame(),
		 from_bridge, pass(AG_PASS_FLOW)},

		{"container sends to a udp forward", I, udp(kContainer2, 5000, kBridgeAddr, 9125), from_bridge,
		 pass(AG_PASS_RULE), "metrics"},
		{"host's udp reply to the forward", O, udp(kBridgeAddr, 9125, kContainer2, 5000), sent_by_host,
		 pass(AG_PASS_HOST)},
		{"container's next datagram counts to the forward", I, udp(kContainer2, 5000, kBridgeAddr, 9125),
		 from_bridge, pass(AG_PASS_RULE), "metrics"},
		{"host's SYN-ACK to a tcp forward", O, tcp(kBridgeAddr, 8443, kContainer5, 50000, kSyn | kAck),
		 sent_by_host, pass(AG_PASS_HOST)},
	});

	// A forward's exchange stays cut when the forward goes, even though the
	// host still replies.
	filter.remove("metrics");
	run_table(filter, {
		{"container's datagram after the forward is deleted", I, udp(kContainer2, 5000, kBridgeAddr, 9125),
		 from_bridge, drop(AG_DROP_NO_RULE)},
	});
}
