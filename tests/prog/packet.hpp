// Builds the frames the table tests feed to the programs: Ethernet, VLAN
// tags, IPv4 (with options, fragments and inconsistent lengths on request),
// IPv6 (with extension headers and fragments), TCP, UDP, ICMP, ICMPv6 and
// ARP. Checksums are filled in although the programs do not check them, so
// that a frame also reads right in a capture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace prog {

using Bytes = std::vector<std::uint8_t>;

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint16_t kEtherVlan = 0x8100; // 802.1Q
constexpr std::uint16_t kEtherQinQ = 0x88a8; // 802.1ad

constexpr std::uint8_t kFin = 0x01;
constexpr std::uint8_t kSyn = 0x02;
constexpr std::uint8_t kRst = 0x04;
constexpr std::uint8_t kPsh = 0x08;
constexpr std::uint8_t kAck = 0x10;
constexpr std::uint8_t kUrg = 0x20;

constexpr std::uint8_t kIcmpEchoReply = 0;
constexpr std::uint8_t kIcmpUnreachable = 3;
constexpr std::uint8_t kIcmpEcho = 8;
constexpr std::uint8_t kIcmpRedirect = 5;
constexpr std::uint8_t kIcmpTimeExceeded = 11;
constexpr std::uint8_t kIcmpPortUnreachable = 3; // code of kIcmpUnreachable
constexpr std::uint8_t kIcmpFragNeeded = 4;      // code of kIcmpUnreachable

constexpr std::uint8_t kIcmp6Unreachable = 1;
constexpr std::uint8_t kIcmp6PacketTooBig = 2;
constexpr std::uint8_t kIcmp6EchoRequest = 128;
constexpr std::uint8_t kIcmp6EchoReply = 129;
constexpr std::uint8_t kIcmp6MldQuery = 130;
constexpr std::uint8_t kIcmp6Mld2Report = 143;
constexpr std::uint8_t kIcmp6RouterSolicit = 133;
constexpr std::uint8_t kIcmp6RouterAdvert = 134;
constexpr std::uint8_t kIcmp6NeighbourSolicit = 135;
constexpr std::uint8_t kIcmp6NeighbourAdvert = 136;
constexpr std::uint8_t kIcmp6Redirect = 137;

constexpr std::uint8_t kProtoIcmp6 = 58;
constexpr std::uint8_t kProtoGre = 47;
constexpr std::uint8_t kProtoSctp = 132;
constexpr std::uint8_t kExtHopByHop = 0;
constexpr std::uint8_t kExtRouting = 43;
constexpr std::uint8_t kExtFragment = 44;
constexpr std::uint8_t kExtDestination = 60;

// The layer-4 part of a packet, shared by the IPv4 and IPv6 builders.
struct L4 {
	std::uint8_t proto = 0;
	// TCP and UDP
	std::uint16_t sport = 0;
	std::uint16_t dport = 0;
	std::uint8_t tcp_flags = 0;
	std::uint8_t tcp_doff = 5;
	// ICMP and ICMPv6: type, code and the 4 bytes after the checksum (the
	// echo identifier and sequence, or an error's unused/MTU field).
	std::uint8_t icmp_type = 0;
	std::uint8_t icmp_code = 0;
	std::uint16_t icmp_rest_high = 0;
	std::uint16_t icmp_rest_low = 0;
	// Any other protocol: the bytes after the IP header(s), as they are.
	Bytes raw;
	Bytes payload;
	std::optional<std::size_t> cut_to;
};

// An IPv4 packet in an Ethernet frame. The setters return *this so a table
// row reads as one expression: Ipv4::tcp(...).vlan().ip_options(8).frame().
class Ipv4 {
public:
	static Ipv4 tcp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport,
			std::uint8_t flags);
	static Ipv4 udp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport);
	static Ipv4 icmp(const char *src, const char *dst, std::uint8_t type, std::uint8_t code,
			 std::uint16_t rest_high, std::uint16_t rest_low);
	static Ipv4 icmp_echo(const char *src, const char *dst, std::uint8_t type, std::uint16_t id);
	// Any protocol, with the bytes after the IPv4 header as given. Also used
	// for a later fragment, whose bytes are payload rather than an L4 header.
	static Ipv4 raw(const char *src, const char *dst, std::uint8_t proto, Bytes l4);

	// Add a VLAN tag with this TPID. The first call adds the outermost tag.
	Ipv4 &vlan(std::uint16_t tpid = kEtherVlan);
	// Add this many bytes of IPv4 options (a multiple of 4, at most 40): NOPs
	// and a final end-of-options byte, so that a parser that ignores them
	// reads the options as ports.
	Ipv4 &ip_options(std::size_t bytes);
	// Write these bytes as the IPv4 options (a multiple of 4, at most 40).
	Ipv4 &ip_option_bytes(Bytes options);
	// Write this IHL instead of the real header length.
	Ipv4 &ihl(std::uint8_t words);
	// Write this total length instead of the real datagram length.
	Ipv4 &total_length(std::uint16_t length);
	// Set the flags and fragment offset field (host order, e.g. 0x2000 for MF).
	Ipv4 &frag_field(std::uint16_t value);
	Ipv4 &id(std::uint16_t value);
	Ipv4 &ttl(std::uint8_t value);
	// Write this TCP data offset instead of 5.
	Ipv4 &tcp_doff(std::uint8_t words);
	Ipv4 &payload(Bytes data);
	// Keep only the first n bytes after the IPv4 header. The total length
	// still matches, so the datagram is consistent but its L4 header is cut.
	Ipv4 &l4_length(std::size_t n);
	// Append bytes after the datagram, as Ethernet padding would be.
	Ipv4 &trailer(Bytes data);

	// The IPv4 datagram (no Ethernet header), e.g. to quote in an ICMP error.
	Bytes datagram() const;
	Bytes frame() const;

private:
	Ipv4(const char *src, const char *dst, std::uint8_t proto);

	std::uint32_t src_; // network order
	std::uint32_t dst_;
	L4 l4_;
	std::vector<std::uint16_t> vlan_tpids_;
	std::size_t options_ = 0;
	std::optional<Bytes> option_bytes_;
	std::optional<std::uint8_t> ihl_;
	std::optional<std::uint16_t> total_length_;
	std::uint16_t frag_field_ = 0;
	std::uint16_t id_ = 0x1234;
	std::uint8_t ttl_ = 64;
	Bytes trailer_;
};

// An IPv6 packet in an Ethernet frame, built like Ipv4.
class Ipv6 {
public:
	static Ipv6 tcp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport,
			std::uint8_t flags);
	static Ipv6 udp(const char *src, std::uint16_t sport, const char *dst, std::uint16_t dport);
	static Ipv6 icmp(const char *src, const char *dst, std::uint8_t type, std::uint8_t code,
			 std::uint16_t rest_high, std::uint16_t rest_low);
	static Ipv6 icmp_echo(const char *src, const char *dst, std::uint8_t type, std::uint16_t id);
	static Ipv6 raw(const char *src, const char *dst, std::uint8_t proto, Bytes l4);

	Ipv6 &vlan(std::uint16_t tpid = kEtherVlan);
	// Append an extension header to the chain: hop-by-hop options, routing
	// or destination options, 8 * (units + 1) bytes long.
	Ipv6 &ext(std::uint8_t type, std::uint8_t units = 0);
	// Append a routing header of this type with this many segments left.
	Ipv6 &routing(std::uint8_t type, std::uint8_t segments_left, std::uint8_t units = 2);
	// Append a fragment header, with the offset in 8-byte units.
	Ipv6 &fragment(std::uint16_t offset, bool more, std::uint32_t id);
	Ipv6 &hop_limit(std::uint8_t value);
	// Write this payload length instead of the real one.
	Ipv6 &payload_length(std::uint16_t length);
	Ipv6 &payload(Bytes data);
	Ipv6 &l4_length(std::size_t n);

	Bytes datagram() const;
	Bytes frame() const;

private:
	Ipv6(const char *src, const char *dst, std::uint8_t proto);

	struct Ext {
		std::uint8_t type;
		Bytes body; // without the next-header byte, which datagram() fills
	};

	std::uint8_t src_[16];
	std::uint8_t dst_[16];
	L4 l4_;
	std::vector<std::uint16_t> vlan_tpids_;
	std::vector<Ext> exts_;
	std::uint8_t hop_limit_ = 64;
	std::optional<std::uint16_t> payload_length_;
};

// An ARP request (who-has target, tell sender), optionally VLAN-tagged.
Bytes arp_request(const char *sender, const char *target, std::size_t vlan_tags = 0);
// An Ethernet header with this EtherType and the given bytes after it.
Bytes ethernet(std::uint16_t ether_type, const Bytes &body);

// The first n bytes of a frame.
Bytes cut(Bytes frame, std::size_t n);
// The frame with one byte replaced.
Bytes with_byte(Bytes frame, std::size_t offset, std::uint8_t value);

} // namespace prog
