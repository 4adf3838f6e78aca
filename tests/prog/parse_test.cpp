// Parsing on the three hooks that parse: malformed headers of every layer,
// IPv4 options, VLAN tags, IPv6 extension headers, fragments, ARP and
// protocols without ports. Every row runs once per hook, with rules in place
// that would admit the packet were it well formed, so that only the parser
// can drop it.
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "harness.hpp"

using namespace prog;

namespace {

constexpr std::size_t kEthLen = 14;
constexpr std::size_t kIpv4Len = 20;
constexpr std::size_t kIpv6Len = 40;

// The packets one hook receives that a rule admits: who sends to whom, with
// which context, and whether admitting one records a flow.
struct Direction {
	Hook hook;
	Context ctx;
	const char *src;
	const char *dst;
	const char *src6;
	const char *dst6;
	std::uint16_t dport;
	int flows_per_admit;
	const char *tcp_rule;
	const char *udp_rule;
	const char *icmp_rule;
	const char *gre_rule;
	const char *tcp6_rule;
	const char *udp6_rule;
	std::uint16_t next_sport = 41000;

	// A fresh source port per packet, so that each one is admitted by its
	// rule rather than by the flow an earlier row recorded.
	std::uint16_t sport() { return next_sport++; }

	Ipv4 tcp(std::uint8_t flags = kSyn) { return Ipv4::tcp(src, sport(), dst, dport, flags); }
	Ipv4 udp() { return Ipv4::udp(src, sport(), dst, dport); }
	Ipv4 icmp_echo() { return Ipv4::icmp_echo(src, dst, kIcmpEcho, sport()); }
	Ipv6 tcp6(std::uint8_t flags = kSyn) { return Ipv6::tcp(src6, sport(), dst6, dport, flags); }
	Ipv6 udp6() { return Ipv6::udp(src6, sport(), dst6, dport); }

	Case admit(std::string name, Bytes packet, const char *rule)
	{
		return {std::move(name), hook, std::move(packet), ctx, pass(AG_PASS_RULE), rule, flows_per_admit};
	}

	Case reject(std::string name, Bytes packet, ag_drop_reason reason)
	{
		return {std::move(name), hook, std::move(packet), ctx, drop(reason)};
	}

	Case fragment(std::string name, Bytes packet, const char *rule)
	{
		return {std::move(name), hook, std::move(packet), ctx, pass(AG_PASS_FRAGMENT), rule};
	}
};

Direction uplink_egress()
{
	return {Hook::uplink_egress, sent_by_host, kHost, kRelay, kHost6, kRelay6, 443, 1,
		"out-tcp", "out-udp", "out-icmp", "out-gre", "out-tcp6", "out-udp6"};
}

Direction uplink_xdp()
{
	return {Hook::uplink_xdp, {}, kRelay, kHost, kRelay6, kHost6, 22, 1,
		"in-tcp", "in-udp", "in-icmp", "in-gre", "in-tcp6", "in-udp6"};
}

// Forward rules from any container cover IPv4 and IPv6 alike.
Direction bridge_ingress()
{
	return {Hook::bridge_ingress, from_bridge, kContainer1, kBridgeAddr, kContainer1v6, kBridgeAddr6, 8443, 0,
		"fwd-tcp", "fwd-udp", "fwd-icmp", "fwd-gre", "fwd-tcp", "fwd-udp"};
}

std::vector<Direction> all_directions()
{
	return {uplink_egress(), uplink_xdp(), bridge_ingress()};
}

// Rules that admit every well-formed packet of the three directions.
void add_admitting_rules(Filter &filter)
{
	filter.add(allow_out("out-tcp", "tcp", "443", kRelay));
	filter.add(allow_out("out-udp", "udp", "443", kRelay));
	filter.add(allow_out("out-icmp", "icmp", "any", kRelay));
	filter.add(allow_out("out-tcp6", "tcp", "443", kRelay6));
	filter.add(allow_out("out-udp6", "udp", "443", kRelay6));
	filter.add(allow_in("in-tcp", "tcp", "22", kRelay));
	filter.add(allow_in("in-udp", "udp", "22", kRelay));
	filter.add(allow_in("in-icmp", "icmp", "any", kRelay));
	filter.add(allow_in("in-tcp6", "tcp", "22", kRelay6));
	filter.add(allow_in("in-udp6", "udp", "22", kRelay6));
	filter.add(forward("fwd-tcp", "tcp", "8443"));
	filter.add(forward("fwd-udp", "udp", "8443"));
	filter.add(forward("fwd-icmp", "icmp", "any"));
}

void add_gre_rules(Filter &filter)
{
	filter.add(allow_out("out-gre", "47", "any", kRelay));
	filter.add(allow_in("in-gre", "47", "any", kRelay));
	filter.add(forward("fwd-gre", "47", "any"));
}

} // namespace

TEST_CASE("malformed IPv4 drops on every hook", "[parse][malformed]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		Bytes good_tcp = d.tcp().frame();
		Bytes good_tagged = d.tcp().vlan().frame();

		std::vector<Case> rows = {
			d.admit("well-formed tcp, the control", d.tcp().frame(), d.tcp_rule),
			d.admit("well-formed udp, the control", d.udp().frame(), d.udp_rule),
			d.admit("well-formed icmp, the control", d.icmp_echo().frame(), d.icmp_rule),
			d.admit("short frame with Ethernet padding", d.udp().trailer(Bytes(20, 0)).frame(), d.udp_rule),
			d.reject("truncated VLAN tag", cut(d.tcp().vlan().frame(), kEthLen + 2), AG_DROP_MALFORMED),
			kernel_may_reject(d.reject("Ethernet header only", cut(good_tcp, kEthLen), AG_DROP_MALFORMED)),
			kernel_may_reject(
				d.reject("truncated IPv4 header", cut(good_tcp, kEthLen + kIpv4Len - 1), AG_DROP_MALFORMED)),
			kernel_may_reject(d.reject("one byte of IPv4", cut(good_tcp, kEthLen + 1), AG_DROP_MALFORMED)),
			// Behind a VLAN tag the kernel does not see an IP frame, so
			// every kernel runs these.
			d.reject("VLAN tag and no IPv4 header", cut(good_tagged, kEthLen + 4), AG_DROP_MALFORMED),
			d.reject("truncated IPv4 header behind a VLAN tag", cut(good_tagged, kEthLen + 4 + kIpv4Len - 1),
				 AG_DROP_MALFORMED),
			d.reject("one byte of IPv4 behind a VLAN tag", cut(good_tagged, kEthLen + 4 + 1), AG_DROP_MALFORMED),
			d.reject("version 6 in an IPv4 frame", with_byte(good_tcp, kEthLen, 0x65), AG_DROP_MALFORMED),
			d.reject("IHL 4", d.tcp().ihl(4).frame(), AG_DROP_MALFORMED),
			d.reject("IHL 0", d.tcp().ihl(0).frame(), AG_DROP_MALFORMED),
			d.reject("IHL larger than the datagram", d.tcp().ihl(15).frame(), AG_DROP_MALFORMED),
			d.reject("IHL past the frame", d.tcp().ihl(15).total_length(60).l4_length(0).frame(),
				 AG_DROP_MALFORMED),
			d.reject("total length below the header", d.tcp().total_length(19).frame(), AG_DROP_MALFORMED),
			d.reject("total length 0", d.tcp().total_length(0).frame(), AG_DROP_MALFORMED),
			d.reject("total length one past the frame", d.tcp().total_length(kIpv4Len + 20 + 1).frame(),
				 AG_DROP_MALFORMED),
			d.reject("total length 1500 in a short frame", d.tcp().total_length(1500).frame(),
				 AG_DROP_MALFORMED),
			d.reject("frame cut inside TCP", cut(good_tcp, kEthLen + kIpv4Len + 10), AG_DROP_MALFORMED),
			d.reject("truncated TCP", d.tcp().l4_length(19).frame(), AG_DROP_MALFORMED),
			d.reject("no TCP header", d.tcp().l4_length(0).frame(), AG_DROP_MALFORMED),
			d.reject("TCP doff 4", d.tcp().tcp_doff(4).frame(), AG_DROP_MALFORMED),
			d.reject("TCP doff 0", d.tcp().tcp_doff(0).frame(), AG_DROP_MALFORMED),
			d.reject("truncated UDP", d.udp().l4_length(7).frame(), AG_DROP_MALFORMED),
			d.reject("no UDP header", d.udp().l4_length(0).frame(), AG_DROP_MALFORMED),
			d.reject("truncated ICMP", d.icmp_echo().l4_length(7).frame(), AG_DROP_MALFORMED),
		};
		if (d.hook == Hook::uplink_xdp) {
			// Only XDP can receive a frame shorter than an Ethernet header,
			// because BPF_PROG_TEST_RUN rejects such input for TC programs.
			rows.push_back(kernel_may_reject(d.reject("13-byte frame", cut(good_tcp, 13), AG_DROP_MALFORMED)));
			rows.back().ctx.xdp_meta_len = 4;
			rows.push_back(kernel_may_reject(d.reject("6-byte frame", cut(good_tcp, 6), AG_DROP_MALFORMED)));
			rows.back().ctx.xdp_meta_len = 8;
		}
		run_table(filter, rows);
	}
}

// An L4 header must fit in the IPv4 total length or the IPv6 payload length,
// not merely in the frame: a header in the Ethernet padding after the
// datagram is not part of it, and its ports must match no rule.
TEST_CASE("L4 header past the IP length drops", "[parse][malformed]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		run_table(filter, {
			d.reject("TCP header past the total length", d.tcp().total_length(kIpv4Len).frame(),
				 AG_DROP_MALFORMED),
			d.reject("TCP header cut by the total length", d.tcp().total_length(kIpv4Len + 10).frame(),
				 AG_DROP_MALFORMED),
			d.reject("UDP header past the total length", d.udp().total_length(kIpv4Len).frame(),
				 AG_DROP_MALFORMED),
			d.reject("TCP header cut by the IPv6 payload length", d.tcp6().payload_length(10).frame(),
				 AG_DROP_MALFORMED),
		});
	}
}

TEST_CASE("IPv4 options are skipped before the ports", "[parse][options]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		std::vector<Case> rows;
		// The options are NOPs, so a parser that read the ports at a fixed
		// offset of 20 would see port 257 and find no rule.
		for (unsigned ihl = 6; ihl <= 15; ihl++) {
			std::size_t options = (ihl - 5) * 4;
			rows.push_back(d.admit("tcp with IHL " + std::to_string(ihl), d.tcp().ip_options(options).frame(),
					       d.tcp_rule));
		}
		rows.push_back(d.admit("udp with IHL 15", d.udp().ip_options(40).frame(), d.udp_rule));
		rows.push_back(d.admit("IHL 15 behind two VLAN tags",
				       d.tcp().vlan(kEtherQinQ).vlan().ip_options(40).frame(), d.tcp_rule));
		rows.push_back(d.reject("IHL 15 cut inside the options",
					cut(d.tcp().ip_options(40).frame(), kEthLen + 40), AG_DROP_MALFORMED));
		rows.push_back(d.reject("IHL 6 with a truncated TCP header after it",
					d.tcp().ip_options(4).l4_length(12).frame(), AG_DROP_MALFORMED));
		run_table(filter, rows);
	}
}

// A source route names hops still to come, so the destination field is not
// where the packet goes; such a packet drops on every hook. Other options
// pass, and a malformed option list drops, as the kernel drops it.
TEST_CASE("IPv4 options: source routes and malformed lists drop", "[parse][options]")
{
	// An option with its type, length and body, padded with NOPs and an
	// end-of-options byte to a multiple of 4.
	auto options = [](Bytes bytes) {
		while (bytes.size() % 4)
			bytes.push_back(bytes.size() % 4 == 3 ? 0x00 : 0x01);
		return bytes;
	};
	const Bytes lsrr = options({0x83, 7, 4, 203, 0, 113, 99});
	const Bytes ssrr = options({0x89, 7, 4, 203, 0, 113, 99});
	const Bytes router_alert = {0x94, 4, 0, 0};
	const Bytes record_route = options({0x07, 7, 4, 0, 0, 0, 0});
	const Bytes timestamp = {0x44, 8, 5, 0, 0, 0, 0, 0};

	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		run_table(filter, {
			d.admit("router alert", d.tcp().ip_option_bytes(router_alert).frame(), d.tcp_rule),
			d.admit("record route", d.tcp().ip_option_bytes(record_route).frame(), d.tcp_rule),
			d.admit("timestamp", d.tcp().ip_option_bytes(timestamp).frame(), d.tcp_rule),
			d.admit("end of options, then bytes that are not read",
				d.tcp().ip_option_bytes({0x00, 0x83, 0xff, 0xff}).frame(), d.tcp_rule),
			d.reject("loose source route", d.tcp().ip_option_bytes(lsrr).frame(), AG_DROP_NOT_PARSED),
			d.reject("strict source route", d.tcp().ip_option_bytes(ssrr).frame(), AG_DROP_NOT_PARSED),
			d.reject("loose source route after NOPs and a router alert",
				 d.udp().ip_option_bytes(options({1, 1, 1, 1, 0x94, 4, 0, 0, 0x83, 7, 4, 203, 0, 113, 99}))
					 .frame(),
				 AG_DROP_NOT_PARSED),
			d.reject("option length 1", d.tcp().ip_option_bytes({0x94, 1, 0, 0}).frame(), AG_DROP_MALFORMED),
			d.reject("option length past the header", d.tcp().ip_option_bytes({0x94, 5, 0, 0}).frame(),
				 AG_DROP_MALFORMED),
			d.reject("option type in the last byte", d.tcp().ip_option_bytes({1, 1, 1, 0x94}).frame(),
				 AG_DROP_MALFORMED),
		});
	}
}

// A routing header with segments left names hops still to come, as an IPv4
// source route does; one with none left is passed over.
TEST_CASE("IPv6 routing headers with segments left drop", "[parse][ipv6]")
{
	constexpr std::uint8_t kSegmentRouting = 4;
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		run_table(filter, {
			d.admit("segment routing header, none left", d.tcp6().routing(kSegmentRouting, 0).frame(),
				d.tcp6_rule),
			d.reject("segment routing header, one left", d.tcp6().routing(kSegmentRouting, 1).frame(),
				 AG_DROP_NOT_PARSED),
			d.reject("type 0 routing header, two left", d.udp6().routing(0, 2).frame(), AG_DROP_NOT_PARSED),
			d.reject("routing header with segments left after destination options",
				 d.tcp6().ext(kExtDestination).routing(2, 1).frame(), AG_DROP_NOT_PARSED),
			d.reject("routing header with segments left in a first fragment",
				 d.tcp6().routing(kSegmentRouting, 1).fragment(0, true, 31).payload(Bytes(64, 0)).frame(),
				 AG_DROP_NOT_PARSED),
		});
	}
}

TEST_CASE("VLAN tags: one and two parse, three drop", "[parse][vlan]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		run_table(filter, {
			d.admit("one 802.1Q tag", d.tcp().vlan().frame(), d.tcp_rule),
			d.admit("one 802.1ad tag", d.tcp().vlan(kEtherQinQ).frame(), d.tcp_rule),
			d.admit("802.1ad then 802.1Q", d.tcp().vlan(kEtherQinQ).vlan().frame(), d.tcp_rule),
			d.admit("two 802.1Q tags", d.tcp().vlan().vlan().frame(), d.tcp_rule),
			d.admit("udp in two tags", d.udp().vlan(kEtherQinQ).vlan().frame(), d.udp_rule),
			d.admit("IPv6 in two tags", d.tcp6().vlan(kEtherQinQ).vlan().frame(), d.tcp6_rule),
			d.reject("three tags", d.tcp().vlan(kEtherQinQ).vlan().vlan().frame(), AG_DROP_NOT_PARSED),
			d.reject("three 802.1Q tags", d.tcp().vlan().vlan().vlan().frame(), AG_DROP_NOT_PARSED),
			d.reject("IPv6 in three tags", d.tcp6().vlan().vlan().vlan().frame(), AG_DROP_NOT_PARSED),
			d.reject("second tag truncated", cut(d.tcp().vlan().vlan().frame(), kEthLen + 4 + 2),
				 AG_DROP_MALFORMED),
			d.reject("IPv4 header truncated after two tags",
				 cut(d.tcp().vlan().vlan().frame(), kEthLen + 8 + 10), AG_DROP_MALFORMED),
			{"ARP in a VLAN tag", d.hook, arp_request(kContainer1, kBridgeAddr, 1), d.ctx, pass(AG_PASS_LINK)},
			{"ARP in two VLAN tags", d.hook, arp_request(kContainer1, kBridgeAddr, 2), d.ctx,
			 pass(AG_PASS_LINK)},
			{"ARP in three VLAN tags", d.hook, arp_request(kContainer1, kBridgeAddr, 3), d.ctx,
			 drop(AG_DROP_NOT_PARSED)},
		});
	}
}

TEST_CASE("IPv6 headers parse and malformed IPv6 drops", "[parse][ipv6]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		Bytes good = d.tcp6().frame();
		run_table(filter, {
			d.admit("tcp, the control", d.tcp6().frame(), d.tcp6_rule),
			d.admit("udp", d.udp6().frame(), d.udp6_rule),
			d.admit("after hop-by-hop options", d.tcp6().ext(kExtHopByHop).frame(), d.tcp6_rule),
			d.admit("after a routing header", d.tcp6().ext(kExtRouting).frame(), d.tcp6_rule),
			d.admit("after destination options", d.tcp6().ext(kExtDestination).frame(), d.tcp6_rule),
			d.admit("after a 64-byte destination options header", d.tcp6().ext(kExtDestination, 7).frame(),
				d.tcp6_rule),
			d.admit("after six extension headers",
				d.tcp6().ext(kExtHopByHop)
					.ext(kExtDestination)
					.ext(kExtRouting)
					.ext(kExtDestination)
					.ext(kExtDestination)
					.ext(kExtDestination)
					.frame(),
				d.tcp6_rule),
			// An atomic fragment (offset 0, no more fragments) is a whole packet.
			d.admit("atomic fragment", d.tcp6().fragment(0, false, 77).frame(), d.tcp6_rule),
			d.reject("seven extension headers",
				 d.tcp6().ext(kExtHopByHop)
					 .ext(kExtDestination)
					 .ext(kExtRouting)
					 .ext(kExtDestination)
					 .ext(kExtDestination)
					 .ext(kExtDestination)
					 .ext(kExtDestination)
					 .frame(),
				 AG_DROP_NOT_PARSED),
			d.reject("hop-by-hop options not first", d.tcp6().ext(kExtDestination).ext(kExtHopByHop).frame(),
				 AG_DROP_MALFORMED),
			kernel_may_reject(
				d.reject("truncated IPv6 header", cut(good, kEthLen + kIpv6Len - 1), AG_DROP_MALFORMED)),
			d.reject("truncated IPv6 header behind a VLAN tag",
				 cut(d.tcp6().vlan().frame(), kEthLen + 4 + kIpv6Len - 1), AG_DROP_MALFORMED),
			d.reject("version 4 in an IPv6 frame", with_byte(good, kEthLen, 0x45), AG_DROP_MALFORMED),
			d.reject("payload length 0", d.tcp6().payload_length(0).frame(), AG_DROP_MALFORMED),
			d.reject("payload length one past the frame", d.tcp6().payload_length(21).frame(),
				 AG_DROP_MALFORMED),
			d.reject("extension header cut short", cut(d.tcp6().ext(kExtDestination, 7).frame(), kEthLen + 48),
				 AG_DROP_MALFORMED),
			d.reject("extension header length past the frame",
				 d.tcp6().ext(kExtDestination, 7).payload_length(20).l4_length(0).frame(), AG_DROP_MALFORMED),
			d.reject("truncated TCP after an extension header",
				 d.tcp6().ext(kExtRouting).l4_length(12).frame(), AG_DROP_MALFORMED),
			d.reject("truncated UDP", d.udp6().l4_length(4).frame(), AG_DROP_MALFORMED),
			d.reject("no next header without a rule", Ipv6::raw(d.src6, d.dst6, 59, Bytes(8, 0)).frame(),
				 AG_DROP_NO_RULE),
			d.reject("unknown protocol without a rule", Ipv6::raw(d.src6, d.dst6, 253, Bytes(8, 0)).frame(),
				 AG_DROP_NO_RULE),
		});
	}
}

TEST_CASE("IPv4 fragments follow their first fragment", "[parse][fragments]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		const Bytes data(64, 0xaa);
		auto later = [&](const char *src, std::uint16_t id, std::uint16_t field) {
			return Ipv4::raw(src, d.dst, IPPROTO_TCP, data).id(id).frag_field(field).frame();
		};
		run_table(filter, {
			d.admit("first fragment by its rule", d.tcp().id(0x100).frag_field(0x2000).payload(data).frame(),
				d.tcp_rule),
			d.fragment("middle fragment", later(d.src, 0x100, 0x2000 | 11), d.tcp_rule),
			d.fragment("last fragment", later(d.src, 0x100, 22), d.tcp_rule),
			d.reject("later fragment of another id", later(d.src, 0x101, 11), AG_DROP_ORPHAN_FRAGMENT),
			d.reject("later fragment from another source", later("203.0.113.99", 0x100, 11),
				 AG_DROP_ORPHAN_FRAGMENT),
			d.reject("later fragment of another protocol",
				 Ipv4::raw(d.src, d.dst, IPPROTO_UDP, data).id(0x100).frag_field(11).frame(),
				 AG_DROP_ORPHAN_FRAGMENT),
			d.reject("first fragment without a rule",
				 Ipv4::tcp(d.src, 41999, d.dst, 9, kSyn).id(0x200).frag_field(0x2000).payload(data).frame(),
				 AG_DROP_NO_RULE),
			d.reject("later fragment of a dropped first one", later(d.src, 0x200, 11), AG_DROP_ORPHAN_FRAGMENT),
			d.reject("first fragment with a truncated TCP header",
				 d.tcp().id(0x300).frag_field(0x2000).l4_length(10).frame(), AG_DROP_MALFORMED),
			kernel_may_reject(d.reject("later fragment with a truncated IPv4 header",
						   cut(later(d.src, 0x100, 11), kEthLen + 12), AG_DROP_MALFORMED)),
			d.admit("DF alone is no fragment", d.tcp().frag_field(0x4000).frame(), d.tcp_rule),
			d.admit("DF on a first fragment", d.tcp().id(0x400).frag_field(0x4000 | 0x2000).frame(),
				d.tcp_rule),
		});

		filter.remove(d.tcp_rule);
		run_table(filter, {
			d.reject("later fragment after its rule is deleted", later(d.src, 0x100, 33), AG_DROP_RULE_REMOVED),
		});
	}
}

// A first fragment admits the rest of its packet on its own hook only: the
// same addresses and id on another hook are another packet.
TEST_CASE("later fragments pass only the hook of their first fragment", "[parse][fragments]")
{
	Filter filter;
	add_admitting_rules(filter);
	const Bytes data(64, 0xaa);
	Direction d = bridge_ingress();
	auto later = [&](std::uint32_t id) {
		return Ipv4::raw(d.src, d.dst, IPPROTO_TCP, data).id(static_cast<std::uint16_t>(id)).frag_field(11).frame();
	};
	auto later6 = [&](std::uint32_t id) {
		return Ipv6::raw(d.src6, d.dst6, IPPROTO_TCP, data).fragment(11, false, id).frame();
	};
	run_table(filter, {
		d.admit("first fragment at bridge ingress", d.tcp().id(0x600).frag_field(0x2000).payload(data).frame(),
			d.tcp_rule),
		{"its later fragment at uplink XDP", Hook::uplink_xdp, later(0x600), {}, drop(AG_DROP_ORPHAN_FRAGMENT)},
		{"its later fragment at uplink egress", Hook::uplink_egress, later(0x600), sent_by_host,
		 drop(AG_DROP_ORPHAN_FRAGMENT)},
		d.fragment("its later fragment at bridge ingress", later(0x600), d.tcp_rule),
		d.admit("IPv6 first fragment at bridge ingress", d.tcp6().fragment(0, true, 0x601).payload(data).frame(),
			d.tcp6_rule),
		{"its later fragment at uplink XDP", Hook::uplink_xdp, later6(0x601), {}, drop(AG_DROP_ORPHAN_FRAGMENT)},
		{"its later fragment at uplink egress", Hook::uplink_egress, later6(0x601), sent_by_host,
		 drop(AG_DROP_ORPHAN_FRAGMENT)},
		d.fragment("its later fragment at bridge ingress", later6(0x601), d.tcp6_rule),
	});
}

TEST_CASE("IPv6 fragments follow their first fragment", "[parse][fragments][ipv6]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		const Bytes data(64, 0xaa);
		auto later = [&](std::uint16_t offset, bool more, std::uint32_t id) {
			return Ipv6::raw(d.src6, d.dst6, IPPROTO_TCP, data).fragment(offset, more, id).frame();
		};
		run_table(filter, {
			d.admit("first fragment by its rule", d.tcp6().fragment(0, true, 7).payload(data).frame(),
				d.tcp6_rule),
			d.fragment("middle fragment", later(11, true, 7), d.tcp6_rule),
			d.fragment("last fragment", later(22, false, 7), d.tcp6_rule),
			d.reject("later fragment of another id", later(11, false, 8), AG_DROP_ORPHAN_FRAGMENT),
			d.admit("first fragment after a routing header",
				d.tcp6().ext(kExtRouting).fragment(0, true, 9).payload(data).frame(), d.tcp6_rule),
			d.fragment("its later fragment", Ipv6::raw(d.src6, d.dst6, IPPROTO_TCP, data)
								 .ext(kExtRouting)
								 .fragment(11, false, 9)
								 .frame(),
				   d.tcp6_rule),
			d.reject("first fragment with a truncated TCP header",
				 d.tcp6().fragment(0, true, 10).l4_length(10).frame(), AG_DROP_MALFORMED),
			d.reject("truncated fragment header", cut(later(11, false, 7), kEthLen + kIpv6Len + 4),
				 AG_DROP_MALFORMED),
		});
	}
}

// IPv6 fragments of one packet are matched by addresses and identification
// alone: a later fragment's next header is the fragment header's, which
// differs from the first fragment's L4 protocol when destination options
// follow the fragment header, and RFC 8200 lets it differ anyway.
TEST_CASE("IPv6 later fragment after destination options", "[parse][fragments][ipv6]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		const Bytes data(64, 0xaa);
		run_table(filter, {
			d.admit("first fragment, destination options after the fragment header",
				d.tcp6().fragment(0, true, 21).ext(kExtDestination).payload(data).frame(), d.tcp6_rule),
		});
		run_table(filter, {
			d.fragment("its later fragment",
				   Ipv6::raw(d.src6, d.dst6, kExtDestination, data).fragment(11, false, 21).frame(),
				   d.tcp6_rule),
		});
	}
}

TEST_CASE("other IP protocols need a rule naming them", "[parse][protocols]")
{
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		Bytes gre = Ipv4::raw(d.src, d.dst, kProtoGre, {0x00, 0x00, 0x08, 0x00}).frame();
		Bytes sctp = Ipv4::raw(d.src, d.dst, kProtoSctp, Bytes(12, 0)).frame();
		Bytes empty_gre = Ipv4::raw(d.src, d.dst, kProtoGre, {}).frame();
		run_table(filter, {
			d.reject("GRE without a protocol 47 rule", gre, AG_DROP_NO_RULE),
			d.reject("SCTP without a rule", sctp, AG_DROP_NO_RULE),
		});

		add_gre_rules(filter);
		run_table(filter, {
			d.admit("GRE with a protocol 47 rule", gre, d.gre_rule),
			d.reject("SCTP next to a protocol 47 rule", sctp, AG_DROP_NO_RULE),
		});
		// Uplink hooks recorded a flow for the GRE packet, which admits the
		// next one. The bridge records none, so its rule admits it again.
		if (d.flows_per_admit)
			run_table(filter, {{"GRE again, as a flow", d.hook, empty_gre, d.ctx, pass(AG_PASS_FLOW), d.gre_rule}});
		else
			run_table(filter, {d.admit("GRE again, by the rule", empty_gre, d.gre_rule)});
	}
}

TEST_CASE("TCP flag combinations parse", "[parse][tcp]")
{
	const std::uint8_t flag_sets[] = {0,           kSyn,        kSyn | kAck, kAck, kFin, kRst, kRst | kAck,
					  kSyn | kFin, kSyn | kRst, kFin | kPsh | kUrg, 0x3f, 0xff};
	for (Direction d : all_directions()) {
		Filter filter;
		add_admitting_rules(filter);
		std::vector<Case> rows;
		for (std::uint8_t flags : flag_sets)
			rows.push_back(d.admit(fmt::format("tcp flags {:#04x}", flags), d.tcp(flags).frame(), d.tcp_rule));
		run_table(filter, rows);
	}
}

TEST_CASE("ARP passes on every hook", "[parse][arp]")
{
	Filter filter;
	const Bytes arp = arp_request(kHost, kGateway);
	run_table(filter, {
		{"ARP request", Hook::uplink_xdp, arp, {}, pass(AG_PASS_LINK)},
		{"ARP request from the host", Hook::uplink_egress, arp, sent_by_host, pass(AG_PASS_LINK)},
		{"ARP request from a container", Hook::bridge_ingress, arp_request(kContainer1, kBridgeAddr),
		 from_bridge, pass(AG_PASS_LINK)},
		// The host's own frames into the bridge pass before any parsing.
		{"ARP request from the host", Hook::bridge_egress, arp_request(kBridgeAddr, kContainer1), sent_by_host,
		 pass(AG_PASS_HOST)},
		{"routed ARP", Hook::bridge_egress, arp_request(kBridgeAddr, kContainer1), from_uplink,
		 pass(AG_PASS_LINK)},
		{"truncated ARP", Hook::uplink_xdp, cut(arp, kEthLen + 4), {}, pass(AG_PASS_LINK)},
		{"unknown EtherType", Hook::uplink_xdp, ethernet(0x88cc, Bytes(46, 0)), {}, drop(AG_DROP_NOT_PARSED)},
		{"unknown EtherType from the host", Hook::uplink_egress, ethernet(0x88cc, Bytes(46, 0)), sent_by_host,
		 drop(AG_DROP_NOT_PARSED)},
		{"unknown EtherType from a container", Hook::bridge_ingress, ethernet(0x88cc, Bytes(46, 0)),
		 from_bridge, drop(AG_DROP_NOT_PARSED)},
	});
}
