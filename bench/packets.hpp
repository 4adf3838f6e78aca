// Ethernet frames for the benchmark: IPv4 TCP and UDP, built byte by byte.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

using Mac = std::array<std::uint8_t, 6>;

// Parse "aa:bb:cc:dd:ee:ff"; throws airgap::Error.
Mac parse_mac(const std::string &text);
// Parse a dotted IPv4 address into network byte order; throws airgap::Error.
std::uint32_t parse_ipv4(const std::string &text);
// Host byte order address as dotted text.
std::string ipv4_text(std::uint32_t host_order);

struct Frame4 {
	Mac src_mac{0x02, 0, 0, 0, 0, 0x01};
	Mac dst_mac{0x02, 0, 0, 0, 0, 0x02};
	std::uint32_t saddr = 0; // network byte order
	std::uint32_t daddr = 0; // network byte order
	std::uint16_t sport = 0; // host byte order
	std::uint16_t dport = 0; // host byte order
	std::uint8_t proto = 17; // IPPROTO_UDP or IPPROTO_TCP
	std::uint8_t tcp_flags = 0x02;
	// Whole frame without the FCS: 60 bytes is the minimum Ethernet frame,
	// 64 bytes on the wire.
	std::size_t frame_len = 60;
	// IPv4 total length to write instead of the true one; a value larger
	// than the frame makes the packet malformed.
	std::uint16_t claimed_ip_len = 0;
};

std::vector<std::uint8_t> build_frame(const Frame4 &spec);

} // namespace bench
