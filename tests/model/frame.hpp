// Frames built from protocol headers, with the offset and kind of every
// header field recorded, so that a mutator can change one field at a time.
// Lengths and checksums come out right unless a caller overrides them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "model.hpp"

namespace model {

enum class FieldKind : std::uint8_t {
	mac,
	ether_type,
	vlan_tci,
	ipv4_version_ihl,
	ipv4_tos,
	ipv4_total_length,
	ipv4_id,
	ipv4_fragment,
	ipv4_ttl,
	ipv4_protocol,
	ipv4_checksum,
	ipv4_address,
	ipv4_option,
	ipv6_version_class,
	ipv6_flow_label,
	ipv6_payload_length,
	ipv6_next_header,
	ipv6_hop_limit,
	ipv6_address,
	extension_next_header,
	extension_length,
	extension_body,
	ipv6_fragment_field,
	ipv6_fragment_id,
	port,
	tcp_sequence,
	tcp_offset,
	tcp_flags,
	tcp_window,
	l4_checksum,
	udp_length,
	icmp_type,
	icmp_code,
	icmp_rest,
	arp,
	payload,
};

struct Field {
	FieldKind kind;
	std::uint16_t offset;
	std::uint8_t size; // bytes: 1, 2, 4 or 16
};

struct Frame {
	Bytes bytes;
	std::vector<Field> fields;
};

// An IPv6 extension header: hop-by-hop (0), routing (43), destination
// options (60) of 8 * (units + 1) bytes, or a fragment header (44).
struct Extension {
	std::uint8_t type = 60;
	std::uint8_t units = 0;
	std::uint16_t fragment_offset = 0; // 8-byte units
	bool more_fragments = false;
	std::uint32_t fragment_id = 0;
	std::uint8_t segments_left = 0; // routing header
};

struct Ip;

// The part of a packet after the IP header(s).
struct L4 {
	std::uint8_t proto = 6;
	std::uint16_t sport = 0;
	std::uint16_t dport = 0;
	std::uint8_t tcp_flags = 0;
	std::uint8_t tcp_options = 0; // 4-byte words of TCP options
	std::uint8_t icmp_type = 0;
	std::uint8_t icmp_code = 0;
	std::uint16_t icmp_rest_high = 0; // echo identifier, or unused/MTU
	std::uint16_t icmp_rest_low = 0;
	// An ICMP error's quoted packet and how many of its bytes to include.
	std::shared_ptr<const Ip> quote;
	std::size_t quote_len = 0;
	// No L4 header, only the payload: any protocol other than TCP, UDP and
	// ICMP, and a later fragment.
	bool raw = false;
	Bytes payload;
};

struct Ip {
	int version = 4;
	Address src{};
	Address dst{};
	// IPv4
	std::uint16_t id = 0;
	std::uint16_t fragment_field = 0; // flags and offset, host order
	std::uint8_t ttl = 64;
	std::uint8_t options = 0; // bytes, a multiple of 4, at most 40
	// The options' first bytes; the rest are NOPs and an end of options.
	Bytes option_bytes;
	// IPv6
	std::uint8_t hop_limit = 64;
	std::vector<Extension> extensions;
	bool router_alert = false; // a hop-by-hop router alert option, as MLD carries

	L4 l4;
};

// Ethernet with these VLAN TPIDs (outermost first) and the IP packet.
Frame ip_frame(const std::vector<std::uint16_t> &vlan_tpids, const Ip &ip);
// An ARP request or reply.
Frame arp_frame(const std::vector<std::uint16_t> &vlan_tpids, std::uint16_t operation, const Address &sender,
		const Address &target);
// Ethernet with any EtherType and body.
Frame raw_frame(std::uint16_t ether_type, const Bytes &body);
// Keep the first len bytes, and the fields that lie wholly inside them.
void cut(Frame &frame, std::size_t len);

} // namespace model
