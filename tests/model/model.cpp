#include "model.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace model {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88a8;
constexpr int kMaxVlanTags = 2;

constexpr std::uint8_t kProtoHopByHop = 0;
constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoRouting = 43;
constexpr std::uint8_t kProtoFragment = 44;
constexpr std::uint8_t kProtoIcmp6 = 58;
constexpr std::uint8_t kProtoDestination = 60;
constexpr int kMaxIpv6ExtensionHeaders = 6;
constexpr std::size_t kMaxL4Offset = 4096;

constexpr std::uint8_t kIpOptionEnd = 0;
constexpr std::uint8_t kIpOptionNop = 1;
constexpr std::uint8_t kIpOptionLooseSourceRoute = 0x83;
constexpr std::uint8_t kIpOptionStrictSourceRoute = 0x89;

constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kTcpAck = 0x10;

constexpr std::uint64_t kFlowTouchNs = 1000000000ull;

// The longest ICMP errors Linux sends: 576 bytes for IPv4 (icmp_send()) and
// the IPv6 minimum MTU for ICMPv6 (icmp6_send()).
constexpr std::size_t kMaxIcmpErrorLength = 576;
constexpr std::size_t kMaxIcmpv6ErrorLength = 1280;

constexpr std::uint8_t kRouterAdvertisement = 134;

// Reads a frame's fields in network order. Callers check bounds first,
// because each header's rules decide which bound applies.
struct FrameReader {
	std::span<const std::uint8_t> frame;

	std::uint8_t u8(std::size_t at) const { return frame[at]; }
	std::uint16_t be16(std::size_t at) const { return static_cast<std::uint16_t>(frame[at] << 8 | frame[at + 1]); }
	std::uint32_t be32(std::size_t at) const
	{
		return static_cast<std::uint32_t>(be16(at)) << 16 | be16(at + 2);
	}
	Address ipv4(std::size_t at) const { return ipv4_mapped(be32(at)); }
	Address ipv6(std::size_t at) const
	{
		Address out;
		std::memcpy(out.data(), &frame[at], out.size());
		return out;
	}
};

bool is_ipv6_extension_header(std::uint8_t next)
{
	return next == kProtoHopByHop || next == kProtoRouting || next == kProtoDestination ||
	       next == kProtoFragment;
}

bool is_icmp_error(std::uint8_t proto, std::uint8_t type)
{
	if (proto == kProtoIcmp)
		return type == 3 || type == 11 || type == 12; // unreachable, time exceeded, parameter problem
	return type >= 1 && type <= 4; // unreachable, packet too big, time exceeded, parameter problem
}

bool is_icmp_echo(std::uint8_t proto, std::uint8_t type)
{
	if (proto == kProtoIcmp)
		return type == 0 || type == 8;
	return type == 128 || type == 129;
}

bool has_ports(std::uint8_t proto)
{
	return proto == kProtoTcp || proto == kProtoUdp;
}

// A SYN without ACK opens a connection, possibly on the ports of a closed
// one. An ACK establishes it, and a FIN or RST closes it.
ag_tcp_state tcp_state_after(ag_tcp_state state, std::uint8_t flags)
{
	if (flags & kTcpRst)
		return AG_TCP_RST;
	if ((flags & kTcpSyn) && !(flags & kTcpAck))
		return AG_TCP_SYN;
	// Without sequence numbers the filter cannot distinguish a valid RST
	// from a spoofed one, so traffic after it keeps the connection.
	if ((state == AG_TCP_SYN || state == AG_TCP_RST) && (flags & kTcpAck))
		state = AG_TCP_OPEN;
	if ((flags & kTcpFin) && state == AG_TCP_OPEN)
		return AG_TCP_FIN;
	return state;
}

Verdict pass(ag_pass_reason reason)
{
	return {true, reason};
}

Verdict drop(ag_drop_reason reason)
{
	return {false, reason};
}

ag_hook hook_index(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return AG_HOOK_UPLINK_XDP;
	case Hook::uplink_egress:
		return AG_HOOK_UPLINK_EGRESS;
	case Hook::bridge_ingress:
		return AG_HOOK_BRIDGE_INGRESS;
	case Hook::bridge_egress:
		return AG_HOOK_BRIDGE_EGRESS;
	}
	throw std::logic_error("unknown hook");
}

// Ports of the L4 header that an ICMP error quotes, the first 8 bytes of it.
ag_drop_reason parse_quoted_ports(FrameReader b, std::size_t at, std::size_t limit, Quote &quote)
{
	if (at + 8 > limit)
		return AG_DROP_MALFORMED;
	if (has_ports(quote.proto)) {
		quote.sport = b.be16(at);
		quote.dport = b.be16(at + 2);
	} else if (quote.proto == kProtoIcmp || quote.proto == kProtoIcmp6) {
		// Flows of ICMP messages other than echoes are keyed on ports 0.
		if (is_icmp_echo(quote.proto, b.u8(at))) {
			quote.sport = b.be16(at + 4);
			quote.dport = quote.sport;
		}
	}
	return AG_DROP_NONE;
}

ag_drop_reason parse_quoted_ipv4(FrameReader b, std::size_t at, std::size_t limit, Quote &quote)
{
	if (at + 20 > limit)
		return AG_DROP_MALFORMED;
	std::size_t header_len = (b.u8(at) & 0x0f) * 4u;
	if (b.u8(at) >> 4 != 4 || header_len < 20)
		return AG_DROP_MALFORMED;
	if (at + header_len > limit)
		return AG_DROP_MALFORMED;
	quote.src = b.ipv4(at + 12);
	quote.dst = b.ipv4(at + 16);
	quote.proto = b.u8(at + 9);
	return parse_quoted_ports(b, at + header_len, limit, quote);
}

// Walk at most kMaxIpv6ExtensionHeaders extension headers from pos, with
// next the first one's type, to the header after them. A fragment header
// sets fragment and fragment_id; the walk stops after that of a later
// fragment, which payload follows. The caller decides what a chain longer
// than the walk means.
ag_drop_reason walk_extension_headers(FrameReader b, std::size_t limit, std::size_t &pos, std::uint8_t &next,
				      FragmentKind &fragment, std::uint32_t &fragment_id)
{
	for (int i = 0; i < kMaxIpv6ExtensionHeaders; i++) {
		if (next == kProtoHopByHop || next == kProtoRouting || next == kProtoDestination) {
			// Hop-by-hop options may only come first (RFC 8200 4.1).
			if (next == kProtoHopByHop && i > 0)
				return AG_DROP_MALFORMED;
			if (pos + 2 > limit)
				return AG_DROP_MALFORMED;
			std::size_t len = (b.u8(pos + 1) + 1u) * 8;
			if (pos + len > limit)
				return AG_DROP_MALFORMED;
			// With segments left, the destination is only the next hop.
			if (next == kProtoRouting && b.u8(pos + 3) != 0)
				return AG_DROP_NOT_PARSED;
			next = b.u8(pos);
			pos += len;
		} else if (next == kProtoFragment) {
			if (pos + 8 > limit)
				return AG_DROP_MALFORMED;
			std::uint16_t fragment_field = b.be16(pos + 2);
			next = b.u8(pos);
			fragment_id = b.be32(pos + 4);
			pos += 8;
			// Offset 0 without more fragments is an atomic fragment: a
			// whole packet.
			if (fragment_field & 0xfff8) {
				fragment = FragmentKind::later;
				return AG_DROP_NONE;
			}
			if (fragment_field & 0x0001)
				fragment = FragmentKind::first;
		} else {
			return AG_DROP_NONE;
		}
	}
	return AG_DROP_NONE;
}

// The IPv6 packet an ICMPv6 error quotes, through the same extension headers
// as the packet's own: a quoted later fragment carries no ports to match a
// flow with.
ag_drop_reason parse_quoted_ipv6(FrameReader b, std::size_t at, std::size_t limit, Quote &quote)
{
	if (at + 40 > limit)
		return AG_DROP_MALFORMED;
	if (b.u8(at) >> 4 != 6)
		return AG_DROP_MALFORMED;
	quote.src = b.ipv6(at + 8);
	quote.dst = b.ipv6(at + 24);
	if (is_ipv4_mapped(quote.src) || is_ipv4_mapped(quote.dst))
		return AG_DROP_MALFORMED;

	std::uint8_t next = b.u8(at + 6);
	std::size_t pos = at + 40;
	FragmentKind fragment = FragmentKind::none;
	std::uint32_t fragment_id = 0;
	if (ag_drop_reason err = walk_extension_headers(b, limit, pos, next, fragment, fragment_id))
		return err;
	if (fragment == FragmentKind::later || is_ipv6_extension_header(next))
		return AG_DROP_NOT_PARSED;
	quote.proto = next;
	return parse_quoted_ports(b, pos, limit, quote);
}

// The L4 header at `at`, which must lie before limit, the end of the IP
// datagram: a frame may carry padding after it.
ag_drop_reason parse_l4(FrameReader b, std::size_t at, std::size_t limit, Parsed &pkt)
{
	if (pkt.fragment == FragmentKind::later)
		return AG_DROP_NONE; // payload only, no L4 header
	// The programs give up on an L4 header this far into the frame.
	if (at > kMaxL4Offset)
		return AG_DROP_NOT_PARSED;

	if (pkt.proto == kProtoTcp) {
		if (at + 20 > limit)
			return AG_DROP_MALFORMED;
		std::size_t data_offset = b.u8(at + 12) >> 4;
		if (data_offset < 5)
			return AG_DROP_MALFORMED;
		if (at + data_offset * 4 > limit)
			return AG_DROP_MALFORMED;
		pkt.sport = b.be16(at);
		pkt.dport = b.be16(at + 2);
		pkt.tcp_flags = b.u8(at + 13);
	} else if (pkt.proto == kProtoUdp) {
		if (at + 8 > limit)
			return AG_DROP_MALFORMED;
		pkt.sport = b.be16(at);
		pkt.dport = b.be16(at + 2);
	} else if (pkt.proto == kProtoIcmp || pkt.proto == kProtoIcmp6) {
		// ICMP belongs to IPv4 and ICMPv6 to IPv6. The other pairing would
		// quote a packet of the wrong family.
		if ((pkt.ip_version == 6) != (pkt.proto == kProtoIcmp6))
			return AG_DROP_MALFORMED;
		if (at + 8 > limit)
			return AG_DROP_MALFORMED;
		pkt.icmp_type = b.u8(at);
		if (is_icmp_echo(pkt.proto, pkt.icmp_type)) {
			pkt.sport = b.be16(at + 4);
			pkt.dport = pkt.sport;
		} else if (is_icmp_error(pkt.proto, pkt.icmp_type)) {
			// An error in a fragment is not judged by what it quotes.
			if (pkt.fragment != FragmentKind::none)
				return AG_DROP_NOT_PARSED;
			Quote quote;
			ag_drop_reason err = pkt.proto == kProtoIcmp
						     ? parse_quoted_ipv4(b, at + 8, limit, quote)
						     : parse_quoted_ipv6(b, at + 8, limit, quote);
			if (err)
				return err;
			pkt.quote = quote;
		}
	}
	return AG_DROP_NONE;
}

// IPv4 options from at to end. A source route (LSRR, SSRR) names hops the
// packet is still to visit, so its destination is not where it goes. The
// kernel drops a malformed list too.
ag_drop_reason check_ipv4_options(FrameReader b, std::size_t at, std::size_t end)
{
	if (end > b.frame.size())
		return AG_DROP_MALFORMED;
	std::size_t i = at;
	while (i < end) {
		std::uint8_t type = b.u8(i);
		if (type == kIpOptionEnd)
			break;
		if (type == kIpOptionNop) {
			i++;
			continue;
		}
		if (i + 2 > end)
			return AG_DROP_MALFORMED;
		std::size_t len = b.u8(i + 1);
		if (len < 2 || i + len > end)
			return AG_DROP_MALFORMED;
		if (type == kIpOptionLooseSourceRoute || type == kIpOptionStrictSourceRoute)
			return AG_DROP_NOT_PARSED;
		i += len;
	}
	return AG_DROP_NONE;
}

ag_drop_reason parse_ipv4(FrameReader b, std::size_t at, Parsed &pkt)
{
	std::size_t remaining = b.frame.size() - at;
	if (remaining < 20)
		return AG_DROP_MALFORMED;
	if (b.u8(at) >> 4 != 4)
		return AG_DROP_MALFORMED;
	std::size_t header_len = (b.u8(at) & 0x0f) * 4u;
	if (header_len < 20)
		return AG_DROP_MALFORMED;
	std::size_t total_len = b.be16(at + 2);
	if (total_len < header_len || total_len > remaining)
		return AG_DROP_MALFORMED;
	if (ag_drop_reason err = check_ipv4_options(b, at + 20, at + header_len))
		return err;

	pkt.ip_version = 4;
	pkt.ip_length = static_cast<std::uint16_t>(total_len);
	std::uint16_t fragment_field = b.be16(at + 6);
	if (fragment_field & 0x1fff)
		pkt.fragment = FragmentKind::later;
	else if (fragment_field & 0x2000)
		pkt.fragment = FragmentKind::first;
	pkt.fragment_id = static_cast<std::uint32_t>(b.be16(at + 4)) << 16;
	pkt.hop_limit = b.u8(at + 8);
	pkt.proto = b.u8(at + 9);
	pkt.src = b.ipv4(at + 12);
	pkt.dst = b.ipv4(at + 16);

	return parse_l4(b, at + header_len, at + total_len, pkt);
}

ag_drop_reason parse_ipv6(FrameReader b, std::size_t at, Parsed &pkt)
{
	std::size_t remaining = b.frame.size() - at;
	if (remaining < 40)
		return AG_DROP_MALFORMED;
	if (b.u8(at) >> 4 != 6)
		return AG_DROP_MALFORMED;
	std::size_t payload_len = b.be16(at + 4);
	// A payload length of 0 announces a jumbogram, which Ethernet cannot carry.
	if (payload_len == 0 || 40 + payload_len > remaining)
		return AG_DROP_MALFORMED;

	pkt.ip_version = 6;
	pkt.ip_length = static_cast<std::uint16_t>(40 + payload_len);
	pkt.hop_limit = b.u8(at + 7);
	pkt.src = b.ipv6(at + 8);
	pkt.dst = b.ipv6(at + 24);
	// An IPv4-mapped address on the wire is no IPv6 peer (RFC 4291 2.5.5.2),
	// and the tables store IPv4 peers that way: it would match IPv4 rules.
	if (is_ipv4_mapped(pkt.src) || is_ipv4_mapped(pkt.dst))
		return AG_DROP_MALFORMED;

	std::size_t limit = at + 40 + payload_len;
	std::uint8_t next = b.u8(at + 6);
	std::size_t pos = at + 40;
	if (ag_drop_reason err = walk_extension_headers(b, limit, pos, next, pkt.fragment, pkt.fragment_id))
		return err;
	if (pkt.fragment != FragmentKind::later && is_ipv6_extension_header(next))
		return AG_DROP_NOT_PARSED; // a chain longer than the walk

	pkt.proto = next;
	return parse_l4(b, pos, limit, pkt);
}

} // namespace

Address ipv4_mapped(std::uint32_t host_order)
{
	Address out{};
	out[10] = 0xff;
	out[11] = 0xff;
	out[12] = host_order >> 24;
	out[13] = host_order >> 16 & 0xff;
	out[14] = host_order >> 8 & 0xff;
	out[15] = host_order & 0xff;
	return out;
}

bool is_ipv4_mapped(const Address &address)
{
	static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return std::memcmp(address.data(), prefix, sizeof(prefix)) == 0;
}

Address parse_address(std::string_view text)
{
	std::string copy(text);
	in_addr v4{};
	if (inet_pton(AF_INET, copy.c_str(), &v4) == 1)
		return ipv4_mapped(ntohl(v4.s_addr));
	Address out;
	if (inet_pton(AF_INET6, copy.c_str(), out.data()) == 1)
		return out;
	throw std::invalid_argument("not an IP address: " + copy);
}

std::string to_string(const Address &address)
{
	char text[INET6_ADDRSTRLEN] = "";
	if (is_ipv4_mapped(address))
		inet_ntop(AF_INET, &address[12], text, sizeof(text));
	else
		inet_ntop(AF_INET6, address.data(), text, sizeof(text));
	return text;
}

Prefix Prefix::parse(std::string_view text)
{
	if (text == "any")
		return Prefix{};
	Prefix out;
	auto slash = text.find('/');
	out.address = parse_address(text.substr(0, slash));
	bool v4 = is_ipv4_mapped(out.address) && text.find(':') == std::string_view::npos;
	int max = v4 ? 32 : 128;
	int length = max;
	if (slash != std::string_view::npos)
		length = std::stoi(std::string(text.substr(slash + 1)));
	if (length < 0 || length > max)
		throw std::invalid_argument("invalid prefix length in " + std::string(text));
	out.length = v4 ? 96 + length : length;
	return out;
}

bool Prefix::contains(const Address &other) const
{
	int full_bytes = length / 8;
	if (std::memcmp(address.data(), other.data(), full_bytes) != 0)
		return false;
	int rest = length % 8;
	if (rest == 0)
		return true;
	std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
	return (address[full_bytes] & mask) == (other[full_bytes] & mask);
}

std::string Prefix::to_string() const
{
	if (length == 0)
		return "any";
	if (is_ipv4_mapped(address) && length >= 96)
		return model::to_string(address) + "/" + std::to_string(length - 96);
	return model::to_string(address) + "/" + std::to_string(length);
}

const char *hook_name(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return "uplink-xdp";
	case Hook::uplink_egress:
		return "uplink-egress";
	case Hook::bridge_ingress:
		return "bridge-ingress";
	case Hook::bridge_egress:
		return "bridge-egress";
	}
	return "unknown";
}

const char *deviation_name(Deviation deviation)
{
	switch (deviation) {
	case Deviation::count:
		break;
	}
	return "unknown";
}

const char *deviation_summary(Deviation deviation)
{
	switch (deviation) {
	case Deviation::count:
		break;
	}
	return "unknown";
}

std::string to_string(const Verdict &verdict)
{
	static const char *const passes[] = {"rule", "flow", "link", "host", "related", "fragment"};
	static const char *const drops[] = {"none",         "no-rule",      "malformed",   "not-parsed",
					    "not-from-host", "not-to-host", "rule-removed", "flow-expired",
					    "orphan-fragment"};
	if (verdict.pass && verdict.reason >= 0 && verdict.reason < AG_PASS_REASON_COUNT)
		return std::string("pass ") + passes[verdict.reason];
	if (!verdict.pass && verdict.reason >= 0 && verdict.reason < AG_DROP_REASON_COUNT)
		return std::string("drop ") + drops[verdict.reason];
	return std::string(verdict.pass ? "pass " : "drop ") + std::to_string(verdict.reason);
}

std::uint64_t Timeouts::flow_timeout(std::uint8_t proto, ag_tcp_state state) const
{
	if (proto == kProtoTcp) {
		if (state == AG_TCP_SYN)
			return tcp_syn_ns;
		if (state == AG_TCP_RST)
			return tcp_rst_ns;
		if (state == AG_TCP_FIN)
			return tcp_fin_ns;
		return tcp_open_ns;
	}
	if (proto == kProtoUdp)
		return udp_ns;
	return other_ns;
}

ParseResult parse(std::span<const std::uint8_t> frame)
{
	ParseResult out;
	FrameReader b{frame};

	if (frame.size() < 14) {
		out.error = AG_DROP_MALFORMED;
		return out;
	}
	std::uint16_t type = b.be16(12);
	std::size_t pos = 14;
	for (int i = 0; i < kMaxVlanTags && (type == kEtherVlan || type == kEtherQinQ); i++) {
		if (pos + 4 > frame.size()) {
			out.error = AG_DROP_MALFORMED;
			return out;
		}
		type = b.be16(pos + 2);
		pos += 4;
	}
	if (type == kEtherVlan || type == kEtherQinQ) {
		out.error = AG_DROP_NOT_PARSED; // a third tag
		return out;
	}
	out.packet.ether_type = type;

	if (type == kEtherIpv4)
		out.error = parse_ipv4(b, pos, out.packet);
	else if (type == kEtherIpv6)
		out.error = parse_ipv6(b, pos, out.packet);
	return out;
}

bool Outcome::same_effect(const Outcome &other) const
{
	return verdict == other.verdict && hook_slot == other.hook_slot && rule_id == other.rule_id &&
	       bytes == other.bytes && flow_delete == other.flow_delete && flow_write == other.flow_write &&
	       fragment_delete == other.fragment_delete && fragment_write == other.fragment_write &&
	       host_address == other.host_address;
}

Model::Model(Host host, Timeouts timeouts) : host_(std::move(host)), timeouts_(timeouts)
{
	host_addresses_.insert(host_.addresses.begin(), host_.addresses.end());
}

void Model::add_rule(const Rule &rule)
{
	if (installed_.count(rule.id))
		throw std::logic_error("rule slot " + std::to_string(rule.id) + " is taken");
	installed_[rule.id] = Installed{rule, next_installation_++};
}

void Model::remove_rule(std::uint32_t id)
{
	installed_.erase(id);
}

std::vector<Rule> Model::rules() const
{
	std::vector<Rule> out;
	for (auto &[id, installed] : installed_)
		out.push_back(installed.rule);
	return out;
}

bool Model::is_live(const RuleRef &rule) const
{
	// The host's own flows into a bridge belong to no rule.
	if (rule.id == AG_RULE_ID_HOST)
		return true;
	auto it = installed_.find(rule.id);
	return it != installed_.end() && it->second.installation == rule.installation;
}

RuleRef Model::current(std::uint32_t id) const
{
	auto it = installed_.find(id);
	return {id, it == installed_.end() ? 0 : it->second.installation};
}

bool Model::is_expired(std::uint64_t since_ns, std::uint64_t timeout_ns) const
{
	// Unsigned, as in the programs, so that a stamp from before the clock's
	// start still ages correctly.
	return now_ns_ - since_ns > timeout_ns;
}

std::optional<RuleRef> Model::match_rule(RuleKind kind, std::uint8_t proto, std::uint16_t port,
					 const Address &address) const
{
	// An exact-port rule wins over an any-port rule; among rules of one
	// port, the longest prefix wins.
	auto longest = [&](std::uint16_t wanted_port) -> std::optional<RuleRef> {
		std::optional<RuleRef> best;
		int best_length = -1;
		for (auto &[id, installed] : installed_) {
			const Rule &rule = installed.rule;
			if (rule.kind != kind || rule.proto != proto || rule.port != wanted_port)
				continue;
			for (const Prefix &prefix : rule.addresses) {
				if (prefix.length > best_length && prefix.contains(address)) {
					best = RuleRef{id, installed.installation};
					best_length = prefix.length;
				}
			}
		}
		return best;
	};

	std::uint16_t wanted = has_ports(proto) ? port : 0;
	auto exact = longest(wanted);
	if (exact || wanted == 0)
		return exact;
	return longest(0);
}

// Router and neighbour solicitations and advertisements carry hop limit 255
// so that they cannot come from beyond the link (RFC 4861); MLD messages
// carry hop limit 1 (RFC 3810). Redirects are not link traffic here.
bool Model::is_link_control(const Parsed &pkt) const
{
	if (pkt.ip_version != 6 || pkt.proto != kProtoIcmp6 || pkt.fragment != FragmentKind::none)
		return false;
	std::uint8_t type = pkt.icmp_type;
	if (type >= 133 && type <= 136)
		return pkt.hop_limit == 255;
	if (type == 130 || type == 131 || type == 132 || type == 143)
		return pkt.hop_limit == 1;
	return false;
}

namespace {

bool is_udp_ports(const Parsed &pkt, std::uint16_t sport, std::uint16_t dport)
{
	return pkt.proto == kProtoUdp && pkt.fragment == FragmentKind::none && pkt.sport == sport && pkt.dport == dport;
}

// The DHCP client's requests stay on the link: to the IPv4 limited broadcast
// or to the DHCPv6 servers' link-scope group ff02::1:2 (RFC 8415).
bool is_dhcp_request(const Parsed &pkt)
{
	if (pkt.ip_version == 4)
		return is_udp_ports(pkt, 68, 67) && pkt.dst == ipv4_mapped(0xffffffff);
	static const Address servers = parse_address("ff02::1:2");
	return is_udp_ports(pkt, 546, 547) && pkt.dst == servers;
}

// The DHCP client's exchange, a flow without addresses: a server replies from
// an address the client does not know yet.
FlowKey dhcp_exchange_key(const Parsed &pkt)
{
	FlowKey key;
	key.local_port = pkt.ip_version == 4 ? 68 : 546;
	key.remote_port = pkt.ip_version == 4 ? 67 : 547;
	key.proto = kProtoUdp;
	key.zone = AG_ZONE_DHCP;
	return key;
}

bool is_dhcp_reply(const Parsed &pkt)
{
	return pkt.ip_version == 4 ? is_udp_ports(pkt, 67, 68) : is_udp_ports(pkt, 547, 546);
}

FragmentKey fragment_key(const Parsed &pkt, Hook hook)
{
	// The next header of a later IPv6 fragment is that of the first header
	// after the fragment header, not necessarily the packet's protocol.
	return {pkt.src, pkt.dst, pkt.fragment_id, pkt.ip_version == 6 ? std::uint8_t{0} : pkt.proto,
		static_cast<std::uint8_t>(hook_index(hook))};
}

} // namespace

void Model::record_first_fragment(const Parsed &pkt, const RuleRef &rule, Hook hook, Outcome &out) const
{
	if (pkt.fragment != FragmentKind::first)
		return;
	out.fragment_write = {fragment_key(pkt, hook), FragmentEntry{rule, now_ns_}};
}

Verdict Model::later_fragment(const Parsed &pkt, Hook hook, Outcome &out) const
{
	FragmentKey key = fragment_key(pkt, hook);
	out.fragments_read.push_back(key);

	auto found = fragments_.find(key);
	if (found == fragments_.end())
		return drop(AG_DROP_ORPHAN_FRAGMENT);

	const FragmentEntry &first = found->second;
	if (!is_live(first.rule))
		return drop(AG_DROP_RULE_REMOVED);
	if (is_expired(first.first_seen_ns, timeouts_.fragment_ns)) {
		out.fragment_delete = found->first;
		return drop(AG_DROP_ORPHAN_FRAGMENT);
	}
	if (first.rule.id != AG_RULE_ID_HOST)
		out.rule_id = first.rule.id;
	return pass(AG_PASS_FRAGMENT);
}

Verdict Model::related_error(const Parsed &pkt, bool to_host, Outcome &out) const
{
	const Quote &quote = *pkt.quote;
	FlowKey key;
	if (to_host)
		key = {quote.src, quote.dst, quote.sport, quote.dport, quote.proto};
	else
		key = {quote.dst, quote.src, quote.dport, quote.sport, quote.proto};
	out.flows_read.push_back(key);

	// The quoted packet travelled the other way, between the same host
	// address and some remote.
	const Address &host = to_host ? pkt.dst : pkt.src;
	const Address &quoted_host = to_host ? quote.src : quote.dst;
	if (host != quoted_host)
		return drop(AG_DROP_NO_RULE);
	// Any router on the path may send an error to the host. The host's own
	// errors go back to the quoted packet's sender only, and no longer than
	// Linux makes them, so that no process can carry data out in one.
	if (!to_host) {
		std::size_t max = pkt.ip_version == 6 ? kMaxIcmpv6ErrorLength : kMaxIcmpErrorLength;
		if (pkt.dst != quote.src || pkt.ip_length > max)
			return drop(AG_DROP_NO_RULE);
	}

	auto it = flows_.find(key);
	if (it == flows_.end())
		return drop(AG_DROP_NO_RULE);
	const Flow &flow = it->second;
	if (!is_live(flow.rule))
		return drop(AG_DROP_RULE_REMOVED);
	// An error is no sign that the flow is alive, so it neither refreshes
	// nor removes the flow.
	if (is_expired(flow.last_seen_ns, timeouts_.flow_timeout(quote.proto, flow.tcp_state)))
		return drop(AG_DROP_FLOW_EXPIRED);
	out.rule_id = flow.rule.id;
	return pass(AG_PASS_RELATED);
}

std::optional<RuleRef> Model::admit_by_flow(const FlowKey &key, const Parsed &pkt, Outcome &out,
					    ag_drop_reason &no_flow) const
{
	out.flows_read.push_back(key);
	auto it = flows_.find(key);
	if (it == flows_.end())
		return std::nullopt;
	const Flow &flow = it->second;
	if (!is_live(flow.rule)) {
		out.flow_delete = key;
		no_flow = AG_DROP_RULE_REMOVED;
		return std::nullopt;
	}
	if (is_expired(flow.last_seen_ns, timeouts_.flow_timeout(pkt.proto, flow.tcp_state))) {
		out.flow_delete = key;
		no_flow = AG_DROP_FLOW_EXPIRED;
		return std::nullopt;
	}
	Flow next = flow;
	ag_tcp_state state = pkt.proto == kProtoTcp ? tcp_state_after(flow.tcp_state, pkt.tcp_flags) : flow.tcp_state;
	if (state != flow.tcp_state || now_ns_ - flow.last_seen_ns > kFlowTouchNs) {
		next.tcp_state = state;
		next.last_seen_ns = now_ns_;
	}
	out.flow_write = {key, next};
	if (flow.rule.id != AG_RULE_ID_HOST)
		out.rule_id = flow.rule.id;
	return flow.rule;
}

Verdict Model::uplink_flow(const Parsed &pkt, bool to_host, RuleKind kind, Hook hook, Outcome &out) const
{
	if (pkt.fragment == FragmentKind::later)
		return later_fragment(pkt, hook, out);
	if (pkt.quote)
		return related_error(pkt, to_host, out);

	FlowKey key;
	if (to_host)
		key = {pkt.dst, pkt.src, pkt.dport, pkt.sport, pkt.proto};
	else
		key = {pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto};
	ag_drop_reason no_flow = AG_DROP_NO_RULE;
	if (std::optional<RuleRef> rule = admit_by_flow(key, pkt, out, no_flow)) {
		record_first_fragment(pkt, *rule, hook, out);
		return pass(AG_PASS_FLOW);
	}

	// Allow-out rules match the remote the host sends to, allow-in rules
	// the remote that sends; both match the host's port.
	std::optional<RuleRef> rule = match_rule(kind, pkt.proto, pkt.dport, to_host ? pkt.src : pkt.dst);
	if (!rule)
		return drop(no_flow);
	// An allow-in rule opens the host's port, not one of a network the host
	// routes to.
	if (to_host && !is_for_host(pkt))
		return drop(AG_DROP_NOT_TO_HOST);
	Flow flow{*rule, AG_TCP_OPEN, now_ns_};
	if (pkt.proto == kProtoTcp)
		flow.tcp_state = tcp_state_after(AG_TCP_OPEN, pkt.tcp_flags);
	out.flow_write = {key, flow};
	record_first_fragment(pkt, *rule, hook, out);
	out.rule_id = rule->id;
	return pass(AG_PASS_RULE);
}

Verdict Model::uplink_ingress(const Parsed &pkt, Outcome &out) const
{
	if (pkt.ether_type == kEtherArp)
		return pass(AG_PASS_LINK);
	if (pkt.ip_version == 0)
		return drop(AG_DROP_NOT_PARSED);
	if (is_link_control(pkt))
		return pass(AG_PASS_LINK);
	// A DHCP reply passes while a request of the client's opened the
	// exchange, within the UDP timeout; it does not refresh the exchange.
	if (dhcp_ && is_dhcp_reply(pkt)) {
		FlowKey key = dhcp_exchange_key(pkt);
		out.flows_read.push_back(key);
		auto it = flows_.find(key);
		if (it != flows_.end() && !is_expired(it->second.last_seen_ns, timeouts_.udp_ns))
			return pass(AG_PASS_LINK);
	}
	return uplink_flow(pkt, true, RuleKind::allow_in, Hook::uplink_xdp, out);
}

Verdict Model::uplink_egress(const Parsed &pkt, bool from_host, Outcome &out) const
{
	if (pkt.ether_type == kEtherArp)
		return pass(AG_PASS_LINK);
	// A routed packet, such as a container's after NAT, entered the host on
	// another interface; only what the host sends itself may leave.
	if (!from_host)
		return drop(AG_DROP_NOT_FROM_HOST);
	if (pkt.ip_version == 0)
		return drop(AG_DROP_NOT_PARSED);
	learn_host_address(pkt, out);
	if (is_link_control(pkt))
		return pass(AG_PASS_LINK);
	if (dhcp_ && is_dhcp_request(pkt)) {
		out.flow_write = {dhcp_exchange_key(pkt), Flow{current(AG_RULE_ID_HOST), AG_TCP_OPEN, now_ns_}};
		return pass(AG_PASS_LINK);
	}
	return uplink_flow(pkt, false, RuleKind::allow_out, Hook::uplink_egress, out);
}

namespace {

bool contains(const std::vector<Prefix> &prefixes, const Address &address)
{
	return std::any_of(prefixes.begin(), prefixes.end(), [&](const Prefix &prefix) { return prefix.contains(address); });
}

} // namespace

namespace {

// Multicast groups, the IPv4 limited broadcast and the unspecified address:
// none is the host's own, whatever the source field of a packet contains.
bool is_group_or_unspecified(const Address &address)
{
	static const Address unspecified{};
	if (address == unspecified || address == ipv4_mapped(0))
		return true;
	if (is_ipv4_mapped(address))
		return (address[12] & 0xf0) == 0xe0 ||
		       (address[12] == 0xff && address[13] == 0xff && address[14] == 0xff && address[15] == 0xff);
	return address[0] == 0xff;
}

} // namespace

void Model::learn_host_address(const Parsed &pkt, Outcome &out) const
{
	if (!is_group_or_unspecified(pkt.src))
		out.host_address = pkt.src;
}

bool Model::is_for_host(const Parsed &pkt) const
{
	if (!host_addresses_.count(pkt.dst))
		return false;
	// The routing lookup, which keeps a forged source the host "sent from"
	// from opening a port on another node.
	if (pkt.ip_version == 6 && contains(host_.not_forwarded_ipv6_sources, pkt.src))
		return true;
	return contains(host_.not_forwarded, pkt.dst);
}

Verdict Model::bridge_ingress(const Parsed &pkt, Outcome &out) const
{
	if (pkt.ether_type == kEtherArp)
		return pass(AG_PASS_LINK);
	if (pkt.ip_version == 0)
		return drop(AG_DROP_NOT_PARSED);
	// A container is no router: its router advertisements would redirect the
	// host's traffic.
	if (is_link_control(pkt) && pkt.icmp_type != kRouterAdvertisement)
		return pass(AG_PASS_LINK);
	if (pkt.fragment == FragmentKind::later)
		return later_fragment(pkt, Hook::bridge_ingress, out);

	// Replies of a flow the host opened into the bridge.
	ag_drop_reason no_flow = AG_DROP_NO_RULE;
	if (!pkt.quote) {
		FlowKey key{pkt.dst, pkt.src, pkt.dport, pkt.sport, pkt.proto, AG_ZONE_BRIDGE};
		if (std::optional<RuleRef> flow_rule = admit_by_flow(key, pkt, out, no_flow)) {
			record_first_fragment(pkt, *flow_rule, Hook::bridge_ingress, out);
			return pass(AG_PASS_FLOW);
		}
	}

	std::optional<RuleRef> rule = match_rule(RuleKind::forward, pkt.proto, pkt.dport, pkt.src);
	if (!rule)
		return drop(no_flow);

	if (!is_for_host(pkt))
		return drop(AG_DROP_NOT_TO_HOST);

	record_first_fragment(pkt, *rule, Hook::bridge_ingress, out);
	out.rule_id = rule->id;
	return pass(AG_PASS_RULE);
}

// What the host sends into a bridge teaches its source address. A TCP SYN
// opens a flow, so that the container's replies pass bridge ingress. Any
// other packet opens one too, unless it replies to a forward, because that
// forward's rule counts and cuts the exchange. A packet of a tracked flow
// refreshes it.
void Model::bridge_egress_flow(const Parsed &pkt, Outcome &out) const
{
	if (pkt.ip_version == 0)
		return;
	learn_host_address(pkt, out);
	if (pkt.fragment == FragmentKind::later || pkt.quote)
		return;
	FlowKey key{pkt.src, pkt.dst, pkt.sport, pkt.dport, pkt.proto, AG_ZONE_BRIDGE};
	Flow opened{current(AG_RULE_ID_HOST), AG_TCP_OPEN, now_ns_};
	ag_drop_reason no_flow = AG_DROP_NO_RULE;

	if (pkt.proto == kProtoTcp) {
		if ((pkt.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
			opened.tcp_state = tcp_state_after(AG_TCP_OPEN, pkt.tcp_flags);
			out.flow_write = {key, opened};
		} else {
			admit_by_flow(key, pkt, out, no_flow);
		}
		return;
	}
	if (admit_by_flow(key, pkt, out, no_flow))
		return;
	if (match_rule(RuleKind::forward, pkt.proto, pkt.sport, pkt.dst))
		return;
	out.flow_write = {key, opened};
}

Outcome Model::decide(const Packet &packet, [[maybe_unused]] const Semantics &semantics) const
{
	// No deviation of the programs is known at present, so semantics
	// changes nothing until the next one is listed.
	Outcome out;
	out.bytes = static_cast<std::uint32_t>(packet.frame.size());
	ParseResult parsed = parse(packet.frame);

	switch (packet.hook) {
	case Hook::uplink_xdp:
		out.verdict = parsed.error ? drop(parsed.error)
					   : uplink_ingress(parsed.packet, out);
		break;
	case Hook::uplink_egress:
		out.verdict = parsed.error ? drop(parsed.error)
					   : uplink_egress(parsed.packet, packet.from_host, out);
		break;
	case Hook::bridge_ingress:
		out.verdict = parsed.error ? drop(parsed.error)
					   : bridge_ingress(parsed.packet, out);
		break;
	case Hook::bridge_egress:
		// What the host sends passes, whatever it is, and may open a flow.
		// From elsewhere, only the link's own traffic that the bridge
		// floods back may pass.
		if (packet.from_host) {
			out.verdict = pass(AG_PASS_HOST);
			if (!parsed.error)
				bridge_egress_flow(parsed.packet, out);
		} else if (!parsed.error &&
			   (parsed.packet.ether_type == kEtherArp || is_link_control(parsed.packet))) {
			out.verdict = pass(AG_PASS_LINK);
		} else {
			out.verdict = drop(AG_DROP_NOT_FROM_HOST);
		}
		break;
	}

	ag_hook hook = hook_index(packet.hook);
	out.hook_slot = out.verdict.pass ? AG_PASS_SLOT(hook, out.verdict.reason)
					 : AG_DROP_SLOT(hook, out.verdict.reason);
	return out;
}

void Model::apply(const Outcome &outcome)
{
	if (outcome.flow_delete)
		flows_.erase(*outcome.flow_delete);
	if (outcome.flow_write)
		flows_[outcome.flow_write->first] = outcome.flow_write->second;
	if (outcome.fragment_delete)
		fragments_.erase(*outcome.fragment_delete);
	if (outcome.fragment_write)
		fragments_[outcome.fragment_write->first] = outcome.fragment_write->second;
	if (outcome.host_address)
		host_addresses_.insert(*outcome.host_address);
}

} // namespace model
