#include "packet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace prog {
namespace {

constexpr std::uint8_t kDstMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr std::uint8_t kSrcMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr std::uint16_t kVlanId = 100;
// Routing header type 253 is reserved for experiments. With segments left 0
// a node passes over a routing type it does not know.
constexpr std::uint8_t kRoutingExperimental = 253;
constexpr std::uint8_t kOptionPadN = 1;

std::uint32_t ipv4_address(const char *text)
{
	in_addr addr{};
	if (inet_pton(AF_INET, text, &addr) != 1)
		throw std::invalid_argument(std::string("not an IPv4 address: ") + text);
	return addr.s_addr;
}

void ipv6_address(const char *text, std::uint8_t out[16])
{
	in6_addr addr{};
	if (inet_pton(AF_INET6, text, &addr) != 1)
		throw std::invalid_argument(std::string("not an IPv6 address: ") + text);
	std::memcpy(out, addr.s6_addr, 16);
}

void put16(Bytes &out, std::uint16_t value)
{
	out.push_back(value >> 8);
	out.push_back(value & 0xff);
}

void put32(Bytes &out, std::uint32_t value)
{
	put16(out, value >> 16);
	put16(out, value & 0xffff);
}

void put_address(Bytes &out, std::uint32_t network_order)
{
	const auto *bytes = reinterpret_cast<const std::uint8_t *>(&network_order);
	out.insert(out.end(), bytes, bytes + 4);
}

void set16(Bytes &out, std::size_t offset, std::uint16_t value)
{
	out[offset] = value >> 8;
	out[offset + 1] = value & 0xff;
}

// Internet checksum of the bytes, added to a running sum.
std::uint32_t sum16(const std::uint8_t *data, std::size_t len, std::uint32_t sum = 0)
{
	for (std::size_t i = 0; i + 1 < len; i += 2)
		sum += (data[i] << 8) | data[i + 1];
	if (len % 2)
		sum += data[len - 1] << 8;
	return sum;
}

std::uint16_t fold(std::uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<std::uint16_t>(~sum);
}

Bytes ethernet_header(const std::vector<std::uint16_t> &vlan_tpids, std::uint16_t ether_type)
{
	Bytes out(kDstMac, kDstMac + 6);
	out.insert(out.end(), kSrcMac, kSrcMac + 6);
	for (std::uint16_t tpid : vlan_tpids) {
		put16(out, tpid);
		put16(out, kVlanId);
	}
	put16(out, ether_type);
	return out;
}

bool is_icmp(std::uint8_t proto)
{
	return proto == IPPROTO_ICMP || proto == kProtoIcmp6;
}

// The L4 bytes with their checksum. pseudo_addresses is the checksum sum of
// the pseudo-header's addresses, unused for ICMPv4, which has no pseudo-header.
Bytes build_l4(const L4 &l4, std::uint32_t pseudo_addresses)
{
	Bytes out;
	std::size_t checksum_at;

	if (l4.proto == IPPROTO_TCP) {
		put16(out, l4.sport);
		put16(out, l4.dport);
		put32(out, 0x10000001); // sequence number
		put32(out, l4.tcp_flags & kAck ? 0x20000001 : 0);
		out.push_back(l4.tcp_doff << 4);
		out.push_back(l4.tcp_flags);
		put16(out, 64240); // window
		put16(out, 0);     // checksum
		put16(out, 0);     // urgent pointer
		checksum_at = 16;
	} else if (l4.proto == IPPROTO_UDP) {
		put16(out, l4.sport);
		put16(out, l4.dport);
		put16(out, static_cast<std::uint16_t>(8 + l4.payload.size()));
		put16(out, 0);
		checksum_at = 6;
	} else if (is_icmp(l4.proto)) {
		out.push_back(l4.icmp_type);
		out.push_back(l4.icmp_code);
		put16(out, 0);
		put16(out, l4.icmp_rest_high);
		put16(out, l4.icmp_rest_low);
		checksum_at = 2;
	} else {
		out = l4.raw;
		if (l4.cut_to)
			out.resize(std::min(*l4.cut_to, out.size()));
		return out;
	}
	out.insert(out.end(), l4.payload.begin(), l4.payload.end());

	std::uint32_t sum = 0;
	if (l4.proto != IPPROTO_ICMP)
		sum = pseudo_addresses + l4.proto + static_cast<std::uint32_t>(out.size());
	std::uint16_t checksum = fold(sum16(out.data(), out.size(), sum));
	if (l4.proto == IPPROTO_UDP && checksum == 0)
		checksum = 0xffff;
	set16(out, checksum_at, checksum);

	if (l4.cut_to)
		out.resize(std::min(*l4.cut_to, out.size()));
	return out;
}

L4 tcp_l4(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags)
{
	L4 l4;
	l4.proto = IPPROTO_TCP;
	l4.sport = sport;
	l4.dport = dport;
	l4.tcp_flags = flags;
	return l4;
}

L4 udp_l4(std::uint16_t sport, std::uint16_t dport)
{
	L4 l4;
	l4.proto = IPPROTO_UDP;
	l4.sport = sport;
	l4.dport = dport;
	return l4;
}

L4 icmp_l4(std::uint8_t proto, std::uint8_t type, std::uint8_t code, std::uint16_t rest_high,
	   std::uint16_t rest_low)
{
	L4 l4;
	l4.proto = proto;
	l4.icmp_type = type;
	l4.icmp_code = code;
	l4.icmp_rest_high = rest_high;
	l4.icmp_rest_low = rest_low;
	return l4;
}

L4 raw_l4(std::uint8_t proto, Bytes bytes)
{
	L4 l4;
	l4.proto = proto;
	l4.raw = std::move(bytes);
	return l4;
}

} // namespace

Ipv4::Ipv4(const char *src, const char *dst, std::uint8_t proto) : src_(ipv4_address(src)), dst_(ipv4_address(dst))
{
	l4_.proto = proto;
}

Ipv4 Ipv4::tcp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport, std::uint8_t flags)
{
	Ipv4 packet(src, dst, IPPROTO_TCP);
	packet.l4_ = tcp_l4(sport, dport, flags);
	return packet;
}

Ipv4 Ipv4::udp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport)
{
	Ipv4 packet(src, dst, IPPROTO_UDP);
	packet.l4_ = udp_l4(sport, dport);
	return packet;
}

Ipv4 Ipv4::icmp(const char *src, const char *dst, std::uint8_t type, std::uint8_t code, std::uint16_t rest_high,
		std::uint16_t rest_low)
{
	Ipv4 packet(src, dst, IPPROTO_ICMP);
	packet.l4_ = icmp_l4(IPPROTO_ICMP, type, code, rest_high, rest_low);
	return packet;
}

Ipv4 Ipv4::icmp_echo(const char *src, const char *dst, std::uint8_t type, std::uint16_t id)
{
	return icmp(src, dst, type, 0, id, 1);
}

Ipv4 Ipv4::raw(const char *src, const char *dst, std::uint8_t proto, Bytes l4)
{
	Ipv4 packet(src, dst, proto);
	packet.l4_ = raw_l4(proto, std::move(l4));
	return packet;
}

Ipv4 &Ipv4::vlan(std::uint16_t tpid)
{
	vlan_tpids_.push_back(tpid);
	return *this;
}

Ipv4 &Ipv4::ip_options(std::size_t bytes)
{
	if (bytes % 4 || bytes > 40)
		throw std::invalid_argument("IPv4 options must be a multiple of 4 bytes, at most 40");
	options_ = bytes;
	option_bytes_.reset();
	return *this;
}

Ipv4 &Ipv4::ip_option_bytes(Bytes options)
{
	if (options.size() % 4 || options.size() > 40)
		throw std::invalid_argument("IPv4 options must be a multiple of 4 bytes, at most 40");
	options_ = options.size();
	option_bytes_ = std::move(options);
	return *this;
}

Ipv4 &Ipv4::ihl(std::uint8_t words)
{
	ihl_ = words;
	return *this;
}

Ipv4 &Ipv4::total_length(std::uint16_t length)
{
	total_length_ = length;
	return *this;
}

Ipv4 &Ipv4::frag_field(std::uint16_t value)
{
	frag_field_ = value;
	return *this;
}

Ipv4 &Ipv4::id(std::uint16_t value)
{
	id_ = value;
	return *this;
}

Ipv4 &Ipv4::ttl(std::uint8_t value)
{
	ttl_ = value;
	return *this;
}

Ipv4 &Ipv4::tcp_doff(std::uint8_t words)
{
	l4_.tcp_doff = words;
	return *this;
}

Ipv4 &Ipv4::payload(Bytes data)
{
	l4_.payload = std::move(data);
	return *this;
}

Ipv4 &Ipv4::l4_length(std::size_t n)
{
	l4_.cut_to = n;
	return *this;
}

Ipv4 &Ipv4::trailer(Bytes data)
{
	trailer_ = std::move(data);
	return *this;
}

Bytes Ipv4::datagram() const
{
	std::size_t header_len = 20 + options_;
	Bytes header;
	header.push_back(0x40 | (ihl_ ? *ihl_ : header_len / 4));
	header.push_back(0); // DSCP and ECN
	put16(header, 0);    // total length, set below
	put16(header, id_);
	put16(header, frag_field_);
	header.push_back(ttl_);
	header.push_back(l4_.proto);
	put16(header, 0); // header checksum, set below
	put_address(header, src_);
	put_address(header, dst_);
	if (option_bytes_)
		header.insert(header.end(), option_bytes_->begin(), option_bytes_->end());
	else
		for (std::size_t i = 0; i < options_; i++)
			header.push_back(i + 1 == options_ ? 0x00 : 0x01); // NOP ... end of options

	Bytes l4 = build_l4(l4_, sum16(&header[12], 8));
	std::size_t real_total = header.size() + l4.size();
	set16(header, 2, total_length_ ? *total_length_ : static_cast<std::uint16_t>(real_total));
	set16(header, 10, fold(sum16(header.data(), header.size())));

	Bytes out = header;
	out.insert(out.end(), l4.begin(), l4.end());
	return out;
}

Bytes Ipv4::frame() const
{
	Bytes out = ethernet_header(vlan_tpids_, kEtherIpv4);
	Bytes ip = datagram();
	out.insert(out.end(), ip.begin(), ip.end());
	out.insert(out.end(), trailer_.begin(), trailer_.end());
	return out;
}

Ipv6::Ipv6(const char *src, const char *dst, std::uint8_t proto)
{
	ipv6_address(src, src_);
	ipv6_address(dst, dst_);
	l4_.proto = proto;
}

Ipv6 Ipv6::tcp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport, std::uint8_t flags)
{
	Ipv6 packet(src, dst, IPPROTO_TCP);
	packet.l4_ = tcp_l4(sport, dport, flags);
	return packet;
}

Ipv6 Ipv6::udp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport)
{
	Ipv6 packet(src, dst, IPPROTO_UDP);
	packet.l4_ = udp_l4(sport, dport);
	return packet;
}

Ipv6 Ipv6::icmp(const char *src, const char *dst, std::uint8_t type, std::uint8_t code, std::uint16_t rest_high,
		std::uint16_t rest_low)
{
	Ipv6 packet(src, dst, kProtoIcmp6);
	packet.l4_ = icmp_l4(kProtoIcmp6, type, code, rest_high, rest_low);
	return packet;
}

Ipv6 Ipv6::icmp_echo(const char *src, const char *dst, std::uint8_t type, std::uint16_t id)
{
	return icmp(src, dst, type, 0, id, 1);
}

Ipv6 Ipv6::raw(const char *src, const char *dst, std::uint8_t proto, Bytes l4)
{
	Ipv6 packet(src, dst, proto);
	packet.l4_ = raw_l4(proto, std::move(l4));
	return packet;
}

Ipv6 &Ipv6::vlan(std::uint16_t tpid)
{
	vlan_tpids_.push_back(tpid);
	return *this;
}

Ipv6 &Ipv6::ext(std::uint8_t type, std::uint8_t units)
{
	std::size_t len = 8 * (units + 1);
	Bytes body;
	body.push_back(units);
	if (type == kExtRouting) {
		body.push_back(kRoutingExperimental);
		body.push_back(0); // segments left
		body.resize(len - 1, 0);
	} else {
		// One PadN option fills the header.
		body.push_back(kOptionPadN);
		body.push_back(static_cast<std::uint8_t>(len - 4));
		body.resize(len - 1, 0);
	}
	exts_.push_back({type, std::move(body)});
	return *this;
}

Ipv6 &Ipv6::routing(std::uint8_t type, std::uint8_t segments_left, std::uint8_t units)
{
	Bytes body;
	body.push_back(units);
	body.push_back(type);
	body.push_back(segments_left);
	body.resize(8 * (units + 1u) - 1, 0);
	exts_.push_back({kExtRouting, std::move(body)});
	return *this;
}

Ipv6 &Ipv6::fragment(std::uint16_t offset, bool more, std::uint32_t id)
{
	Bytes body;
	body.push_back(0); // reserved
	put16(body, static_cast<std::uint16_t>(offset << 3 | (more ? 1 : 0)));
	put32(body, id);
	exts_.push_back({kExtFragment, std::move(body)});
	return *this;
}

Ipv6 &Ipv6::hop_limit(std::uint8_t value)
{
	hop_limit_ = value;
	return *this;
}

Ipv6 &Ipv6::payload_length(std::uint16_t length)
{
	payload_length_ = length;
	return *this;
}

Ipv6 &Ipv6::payload(Bytes data)
{
	l4_.payload = std::move(data);
	return *this;
}

Ipv6 &Ipv6::l4_length(std::size_t n)
{
	l4_.cut_to = n;
	return *this;
}

Bytes Ipv6::datagram() const
{
	Bytes chain;
	for (std::size_t i = 0; i < exts_.size(); i++) {
		chain.push_back(i + 1 < exts_.size() ? exts_[i + 1].type : l4_.proto);
		chain.insert(chain.end(), exts_[i].body.begin(), exts_[i].body.end());
	}
	Bytes l4 = build_l4(l4_, sum16(src_, 16) + sum16(dst_, 16));
	chain.insert(chain.end(), l4.begin(), l4.end());

	Bytes out;
	put32(out, 0x60000000); // version 6, traffic class and flow label 0
	put16(out, payload_length_ ? *payload_length_ : static_cast<std::uint16_t>(chain.size()));
	out.push_back(exts_.empty() ? l4_.proto : exts_.front().type);
	out.push_back(hop_limit_);
	out.insert(out.end(), src_, src_ + 16);
	out.insert(out.end(), dst_, dst_ + 16);
	out.insert(out.end(), chain.begin(), chain.end());
	return out;
}

Bytes Ipv6::frame() const
{
	Bytes out = ethernet_header(vlan_tpids_, kEtherIpv6);
	Bytes ip = datagram();
	out.insert(out.end(), ip.begin(), ip.end());
	return out;
}

Bytes ethernet(std::uint16_t ether_type, const Bytes &body)
{
	Bytes out = ethernet_header({}, ether_type);
	out.insert(out.end(), body.begin(), body.end());
	return out;
}

Bytes arp_request(const char *sender, const char *target, std::size_t vlan_tags)
{
	Bytes arp;
	put16(arp, 1);          // hardware type: Ethernet
	put16(arp, kEtherIpv4); // protocol type
	arp.push_back(6);
	arp.push_back(4);
	put16(arp, 1); // request
	arp.insert(arp.end(), kSrcMac, kSrcMac + 6);
	put_address(arp, ipv4_address(sender));
	arp.insert(arp.end(), 6, 0);
	put_address(arp, ipv4_address(target));

	Bytes out = ethernet_header(std::vector<std::uint16_t>(vlan_tags, kEtherVlan), kEtherArp);
	out.insert(out.end(), arp.begin(), arp.end());
	return out;
}

Bytes cut(Bytes frame, std::size_t n)
{
	frame.resize(std::min(n, frame.size()));
	return frame;
}

Bytes with_byte(Bytes frame, std::size_t offset, std::uint8_t value)
{
	frame.at(offset) = value;
	return frame;
}

} // namespace prog
