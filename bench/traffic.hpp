// Traffic for the end-to-end and control-plane benchmarks: the live-frame
// sender, XDP references on an interface, and UDP helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/packets.hpp"

namespace bench {

struct SendOptions {
	std::string ifname; // the sending side of the veth pair
	Frame4 frame;
	double seconds = 3;
	std::uint32_t batch = 64; // frames per live-frame batch; the kernel allows 1..256
	int cpu = 1;
};

// Transmit copies of one frame out of ifname for the given time, from
// BPF_PROG_TEST_RUN in live-frame mode, and print how many and how long.
void send_frames(const SendOptions &options);

// Attach a reference XDP program (native mode) that stays after exit:
// "drop", "pass", or "xdp-filter" allowing the relay and allow-in sources.
void attach_reference(const std::string &ifname, const std::string &which, std::uint32_t allow_in_sources,
		      const std::string &xdp_filter_object);

// Send one UDP datagram from the given local port, so that the host opens
// the flow whose replies the benchmark then sends.
void send_datagram(std::uint16_t local_port, const std::string &to, std::uint16_t port);

// Send UDP datagrams to to:port every interval_us for seconds.
void blast(const std::string &to, std::uint16_t port, std::uint32_t interval_us, double seconds);

// Bind UDP port, run command, and print the time from the command's start
// to the first datagram received and to the command's exit.
void first_packet(std::uint16_t port, const std::vector<std::string> &command, double timeout_seconds);

} // namespace bench
