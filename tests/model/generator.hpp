// Traffic for the differential test. It sends packets of flows that a
// policy admits and of flows it does not, replies and ICMP errors of tracked
// flows, fragments and link traffic. Then it sends the same packets mutated
// field by field and cut at every offset. Every choice comes from one seeded
// generator, so a seed replays the same packets while the programs decide
// the same.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "frame.hpp"
#include "model.hpp"

namespace model {

// Who hands a packet to a TC hook (skb->ingress_ifindex): the host's own
// stack, or the kernel routing it in from the bridge or the uplink.
enum class Sender { host, bridge, uplink };

struct TestPacket {
	Hook hook = Hook::uplink_xdp;
	Sender sender = Sender::host;
	Bytes frame;
	std::string origin; // how the generator made it, for reports
	bool mutated = false; // changed after it was built, or replayed on another hook
};

// Addresses the generator draws from; the remote and container pools also
// get addresses around every rule's prefix.
struct Endpoints {
	std::vector<Address> host_uplink;     // the host's uplink addresses, IPv4 and IPv6
	std::vector<Address> host_bridge;     // the host's bridge addresses
	std::vector<Address> remotes;         // peers beyond the uplink
	std::vector<Address> containers;      // sources on the bridge
	std::vector<Address> bridge_targets;  // destinations of container traffic
	std::vector<Address> routers;         // senders of ICMP errors
	std::vector<std::uint16_t> service_ports;
};

class Generator {
public:
	Generator(std::uint64_t seed, Endpoints endpoints, const std::vector<Rule> &rules);

	// The next packet for a hook; replies and errors belong to the model's
	// tracked flows.
	TestPacket next(Hook hook, const Model &model);
	// Follow what a packet did, so that later packets can belong to the
	// flows it started even after the tables lose them.
	void learn(const Outcome &outcome);

private:
	struct Conversation {
		Address src{};
		Address dst{};
		std::uint8_t proto = 6;
		std::uint16_t sport = 0;
		std::uint16_t dport = 0;
	};

	struct FirstFragment {
		Hook hook;
		Sender sender;
		int version;
		Address src;
		Address dst;
		std::uint32_t id;
		std::uint8_t next_header; // of the later fragments' fragment header
	};

	TestPacket build(Hook hook);
	const Model *model_ = nullptr; // for the duration of next()
	Ip conversation_packet(Hook hook, std::string &origin);
	Ip icmp_error(Hook hook, std::string &origin);
	Frame link_frame(Hook hook, std::string &origin);
	Conversation fresh_conversation(Hook hook);
	// A conversation that a rule of the hook's kind would admit, but for
	// the destination of a forward, which the FIB lookup judges.
	bool ruled_conversation(Hook hook, Conversation &out);
	Address inside(const Prefix &prefix);
	bool tracked_conversation(Hook hook, Conversation &out);
	L4 l4_for(const Conversation &c);
	void decorate(Ip &ip, std::string &origin);
	void fragment(Hook hook, Sender sender, Ip &ip, std::string &origin);
	Frame later_fragment(const FirstFragment &first, std::string &origin);
	Sender sender_for(Hook hook);
	std::vector<std::uint16_t> vlan_tags(std::string &origin);

	void queue_mutations(const TestPacket &base, const Frame &frame);
	void mutate_field(Frame &frame, const Field &field);
	std::uint32_t interesting_value(const Field &field, std::uint32_t current);
	Address random_address(int version);
	Address pick_family(const std::vector<Address> &pool, int version);

	std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }
	bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
	template <typename T> const T &pick(const std::vector<T> &v) { return v[below(static_cast<std::uint32_t>(v.size()))]; }
	Bytes random_bytes(std::size_t n);

	std::mt19937_64 rng_;
	Endpoints endpoints_;
	std::vector<Rule> rules_;
	std::array<std::deque<TestPacket>, kHookCount> pending_;
	std::vector<FlowKey> flows_;
	std::vector<FirstFragment> first_fragments_;
	std::vector<TestPacket> history_;
	std::size_t history_next_ = 0;
};

} // namespace model
