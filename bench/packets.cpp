#include "bench/packets.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

#include "loader/error.hpp"

namespace bench {
namespace {

void put16(std::vector<std::uint8_t> &out, std::size_t at, std::uint16_t value)
{
	out[at] = value >> 8;
	out[at + 1] = value & 0xff;
}

std::uint16_t ip_checksum(const std::uint8_t *header, std::size_t len)
{
	std::uint32_t sum = 0;
	for (std::size_t i = 0; i + 1 < len; i += 2)
		sum += (header[i] << 8) | header[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return static_cast<std::uint16_t>(~sum);
}

} // namespace

Mac parse_mac(const std::string &text)
{
	Mac mac{};
	unsigned int b[6];
	if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		airgap::fail("invalid MAC address '{}': expected aa:bb:cc:dd:ee:ff", text);
	for (int i = 0; i < 6; i++)
		mac[i] = static_cast<std::uint8_t>(b[i]);
	return mac;
}

std::uint32_t parse_ipv4(const std::string &text)
{
	in_addr addr{};
	if (inet_pton(AF_INET, text.c_str(), &addr) != 1)
		airgap::fail("invalid IPv4 address '{}'", text);
	return addr.s_addr;
}

std::string ipv4_text(std::uint32_t host_order)
{
	in_addr addr{htonl(host_order)};
	char text[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &addr, text, sizeof(text));
	return text;
}

std::vector<std::uint8_t> build_frame(const Frame4 &spec)
{
	constexpr std::size_t eth_len = 14;
	constexpr std::size_t ip_len = 20;
	std::size_t l4_len = spec.proto == 6 ? 20 : 8;
	std::size_t len = std::max(spec.frame_len, eth_len + ip_len + l4_len);
	std::vector<std::uint8_t> out(len, 0);

	std::copy(spec.dst_mac.begin(), spec.dst_mac.end(), out.begin());
	std::copy(spec.src_mac.begin(), spec.src_mac.end(), out.begin() + 6);
	put16(out, 12, 0x0800);

	std::size_t ip = eth_len;
	std::uint16_t total = static_cast<std::uint16_t>(len - eth_len);
	out[ip] = 0x45;
	put16(out, ip + 2, spec.claimed_ip_len ? spec.claimed_ip_len : total);
	put16(out, ip + 4, 0x1234);
	put16(out, ip + 6, 0x4000); // don't fragment
	out[ip + 8] = 64;
	out[ip + 9] = spec.proto;
	std::copy_n(reinterpret_cast<const std::uint8_t *>(&spec.saddr), 4, out.begin() + ip + 12);
	std::copy_n(reinterpret_cast<const std::uint8_t *>(&spec.daddr), 4, out.begin() + ip + 16);
	put16(out, ip + 10, ip_checksum(out.data() + ip, ip_len));

	std::size_t l4 = ip + ip_len;
	put16(out, l4, spec.sport);
	put16(out, l4 + 2, spec.dport);
	if (spec.proto == 6) {
		out[l4 + 12] = 5 << 4;
		out[l4 + 13] = spec.tcp_flags;
		put16(out, l4 + 14, 65535);
	} else {
		// No UDP checksum (zero is allowed over IPv4), so that no stack
		// rejects the flood before the filter under test sees it.
		put16(out, l4 + 4, static_cast<std::uint16_t>(len - l4));
	}
	return out;
}

} // namespace bench
