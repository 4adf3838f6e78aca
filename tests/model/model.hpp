// A reference model of the air gap's policy: for one frame at one hook it
// parses the frame with plain code, decides the verdict and its reason, and
// names the counters that move and the flow and fragment table changes. It
// keeps its own rule, flow and fragment tables, so that a test can run it
// beside the BPF programs packet by packet.
//
// The model states what the filter should do. On details without
// consequence, such as which drop reason a truncated header gets, it follows
// the programs. Where they differ in substance, the model keeps the rule a
// firewall should follow. The programs' behaviour is then kept as a named
// Deviation that a caller can switch on, so that a test can tell a known
// difference from a new one.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "maps/airgap_maps.h"

namespace model {

using Bytes = std::vector<std::uint8_t>;

// An IPv6 address, or an IPv4 address mapped into IPv6 (::ffff:a.b.c.d), as
// the rule and flow tables store addresses.
using Address = std::array<std::uint8_t, 16>;

Address ipv4_mapped(std::uint32_t host_order);
bool is_ipv4_mapped(const Address &address);
// Parse an IPv4 or IPv6 address; IPv4 comes back IPv4-mapped. Throws
// std::invalid_argument.
Address parse_address(std::string_view text);
std::string to_string(const Address &address);

// A prefix in IPv6 terms: an IPv4 /n is ::ffff:a.b.c.d/(96 + n).
struct Prefix {
	Address address{};
	int length = 0;

	// Parse "ADDR", "ADDR/LEN" or "any".
	static Prefix parse(std::string_view text);
	bool contains(const Address &other) const;
	std::string to_string() const;
};

enum class Hook { uplink_xdp, uplink_egress, bridge_ingress, bridge_egress };
inline constexpr int kHookCount = 4;
const char *hook_name(Hook hook); // "uplink-xdp", as `stats` names it

enum class RuleKind : std::uint8_t {
	allow_out = AG_RULE_ALLOW_OUT,
	allow_in = AG_RULE_ALLOW_IN,
	forward = AG_RULE_FORWARD,
};

struct Rule {
	std::uint32_t id = 0; // the slot the loader gave the rule
	RuleKind kind = RuleKind::allow_out;
	std::uint8_t proto = 0;
	std::uint16_t port = 0; // 0: any port
	std::vector<Prefix> addresses; // one for an address or prefix, more for a host name
	std::string name;
};

// Each way the BPF programs knowingly differ from the model. Model::decide()
// follows the model's rule unless a Semantics enables the deviation.
enum class Deviation {
	count
};
inline constexpr int kDeviationCount = static_cast<int>(Deviation::count);
const char *deviation_name(Deviation deviation); // "headers-past-datagram"
const char *deviation_summary(Deviation deviation);

// Which deviations a decision follows.
class Semantics {
public:
	// The model's own rules.
	static Semantics firewall() { return Semantics(0); }
	// Every known behaviour of the programs as they are.
	static Semantics programs() { return Semantics((1u << kDeviationCount) - 1); }

	Semantics with(Deviation deviation) const { return Semantics(bits_ | bit(deviation)); }
	bool follows(Deviation deviation) const { return bits_ & bit(deviation); }
	bool operator==(const Semantics &) const = default;

private:
	explicit Semantics(std::uint32_t bits) : bits_(bits) {}
	static std::uint32_t bit(Deviation deviation) { return 1u << static_cast<int>(deviation); }
	std::uint32_t bits_;
};

enum class FragmentKind { none, first, later };

// The packet an ICMP error quotes.
struct Quote {
	Address src{};
	Address dst{};
	std::uint8_t proto = 0;
	std::uint16_t sport = 0;
	std::uint16_t dport = 0;
};

// What the policy decides on. Addresses are IPv6 or IPv4-mapped; ports in
// host order; ICMP echoes carry their identifier in both ports.
struct Parsed {
	std::uint16_t ether_type = 0; // after the VLAN tags
	int ip_version = 0;            // 0: not IP
	Address src{};
	Address dst{};
	std::uint8_t proto = 0;
	std::uint16_t sport = 0;
	std::uint16_t dport = 0;
	std::uint8_t tcp_flags = 0;
	std::uint8_t icmp_type = 0;
	std::uint8_t hop_limit = 0;
	std::uint16_t ip_length = 0; // IPv4 total length, or IPv6 header and payload length
	FragmentKind fragment = FragmentKind::none;
	// The identification as the fragment table keys it, read big-endian:
	// IPv6's 32 bits, or IPv4's 16 bits in the upper half.
	std::uint32_t fragment_id = 0;
	std::optional<Quote> quote;    // set for an ICMP error
};

struct ParseResult {
	ag_drop_reason error = AG_DROP_NONE;
	Parsed packet;
};

// Parse a frame from its Ethernet header on.
ParseResult parse(std::span<const std::uint8_t> frame);

// A flow as seen from the host: local is the host's side.
struct FlowKey {
	Address local{};
	Address remote{};
	std::uint16_t local_port = 0;
	std::uint16_t remote_port = 0;
	std::uint8_t proto = 0;
	std::uint8_t zone = AG_ZONE_UPLINK; // ag_flow_zone

	auto operator<=>(const FlowKey &) const = default;
};

// One rule as it was installed: a deleted rule's flows keep a reference to
// an installation that no longer exists, which is how deleting cuts them.
struct RuleRef {
	std::uint32_t id = 0;
	std::uint64_t installation = 0;

	bool operator==(const RuleRef &) const = default;
};

struct Flow {
	RuleRef rule;
	ag_tcp_state tcp_state = AG_TCP_OPEN;
	std::uint64_t last_seen_ns = 0;

	bool operator==(const Flow &) const = default;
};

// A fragmented packet at one hook: IPv4 reassembles by addresses,
// identification and protocol (RFC 791), IPv6 by addresses and identification
// only (RFC 8200), so proto is 0 for IPv6. A first fragment admits later ones
// on its own hook only.
struct FragmentKey {
	Address src{};
	Address dst{};
	std::uint32_t id = 0; // as Parsed::fragment_id
	std::uint8_t proto = 0;
	std::uint8_t hook = 0; // ag_hook

	auto operator<=>(const FragmentKey &) const = default;
};

struct FragmentEntry {
	RuleRef rule;
	std::uint64_t first_seen_ns = 0;

	bool operator==(const FragmentEntry &) const = default;
};

// Idle timeouts, as the programs' defaults.
struct Timeouts {
	std::uint64_t tcp_syn_ns = 120ull * 1000000000ull;
	std::uint64_t tcp_open_ns = 432000ull * 1000000000ull;
	std::uint64_t tcp_fin_ns = 120ull * 1000000000ull;
	std::uint64_t tcp_rst_ns = 10ull * 1000000000ull;
	std::uint64_t udp_ns = 120ull * 1000000000ull;
	std::uint64_t other_ns = 30ull * 1000000000ull;
	std::uint64_t fragment_ns = 60ull * 1000000000ull;

	std::uint64_t flow_timeout(std::uint8_t proto, ag_tcp_state state) const;
};

// The host the filter runs on, as allow-in and forward decisions need it.
struct Host {
	// The interfaces' addresses, which the loader gives the programs.
	std::vector<Address> addresses;
	// What bpf_fib_lookup() reports as not forwarded: the host's addresses,
	// the loopback range and IPv6 subnet-router anycast addresses, subnet
	// broadcasts, multicast and link-local destinations, and IPv6 packets
	// from these sources, whatever their destination.
	std::vector<Prefix> not_forwarded;
	std::vector<Prefix> not_forwarded_ipv6_sources;
};

// One frame handed to one hook.
struct Packet {
	Hook hook = Hook::uplink_xdp;
	// TC hooks: the host's own stack sent it (skb->ingress_ifindex is 0),
	// rather than the kernel routing it in from another interface.
	bool from_host = true;
	std::span<const std::uint8_t> frame;
};

struct Verdict {
	bool pass = false;
	int reason = 0; // ag_pass_reason or ag_drop_reason

	bool operator==(const Verdict &) const = default;
};
std::string to_string(const Verdict &verdict); // "pass flow", "drop no-rule"

// The decision for one packet: its verdict, the counters it moves, and how
// the flow and fragment tables change. Deletes apply before writes.
struct Outcome {
	Verdict verdict;
	int hook_slot = 0; // index into ag_hook_stats
	std::optional<std::uint32_t> rule_id; // ag_rule_stats entry that moves
	std::uint32_t bytes = 0;

	std::optional<FlowKey> flow_delete;
	std::optional<std::pair<FlowKey, Flow>> flow_write;
	std::optional<FragmentKey> fragment_delete;
	std::optional<std::pair<FragmentKey, FragmentEntry>> fragment_write;
	// A source address the host sent from, which becomes one of its own.
	std::optional<Address> host_address;

	// Table entries the decision read, for reporting a difference.
	std::vector<FlowKey> flows_read;
	std::vector<FragmentKey> fragments_read;

	// Same verdict, counters and table changes.
	bool same_effect(const Outcome &other) const;
};

class Model {
public:
	explicit Model(Host host, Timeouts timeouts = {});

	void add_rule(const Rule &rule);
	void remove_rule(std::uint32_t id);
	void set_dhcp(bool enabled) { dhcp_ = enabled; }
	// The time that table entries are stamped with and aged against.
	void set_clock(std::uint64_t now_ns) { now_ns_ = now_ns; }
	std::uint64_t clock() const { return now_ns_; }

	Outcome decide(const Packet &packet, const Semantics &semantics) const;
	void apply(const Outcome &outcome);

	bool is_live(const RuleRef &rule) const;
	// The installation of the rule in slot id, or a reference that is not
	// live when the slot is free.
	RuleRef current(std::uint32_t id) const;
	std::vector<Rule> rules() const;
	const Timeouts &timeouts() const { return timeouts_; }

	std::map<FlowKey, Flow> &flows() { return flows_; }
	const std::map<FlowKey, Flow> &flows() const { return flows_; }
	std::map<FragmentKey, FragmentEntry> &fragments() { return fragments_; }
	const std::map<FragmentKey, FragmentEntry> &fragments() const { return fragments_; }
	// The host's own addresses: the interfaces' at start, and every source
	// address the host has sent from since.
	std::set<Address> &host_addresses() { return host_addresses_; }

private:
	struct Installed {
		Rule rule;
		std::uint64_t installation;
	};

	Verdict uplink_ingress(const Parsed &pkt, Outcome &out) const;
	Verdict uplink_egress(const Parsed &pkt, bool from_host, Outcome &out) const;
	Verdict bridge_ingress(const Parsed &pkt, Outcome &out) const;
	Verdict uplink_flow(const Parsed &pkt, bool to_host, RuleKind kind, Hook hook, Outcome &out) const;
	Verdict later_fragment(const Parsed &pkt, Hook hook, Outcome &out) const;
	Verdict related_error(const Parsed &pkt, bool to_host, Outcome &out) const;
	// Check the tracked flow of key for pkt: its rule when it admits the
	// packet, with the refreshed flow in out, or none with the reason why.
	std::optional<RuleRef> admit_by_flow(const FlowKey &key, const Parsed &pkt, Outcome &out,
					     ag_drop_reason &no_flow) const;
	void bridge_egress_flow(const Parsed &pkt, Outcome &out) const;
	void record_first_fragment(const Parsed &pkt, const RuleRef &rule, Hook hook, Outcome &out) const;

	std::optional<RuleRef> match_rule(RuleKind kind, std::uint8_t proto, std::uint16_t port,
					  const Address &address) const;
	bool is_link_control(const Parsed &pkt) const;
	// True when the packet is sent to one of the host's addresses and the
	// kernel does not route it on.
	bool is_for_host(const Parsed &pkt) const;
	void learn_host_address(const Parsed &pkt, Outcome &out) const;
	bool is_expired(std::uint64_t since_ns, std::uint64_t timeout_ns) const;

	Host host_;
	Timeouts timeouts_;
	bool dhcp_ = false;
	std::uint64_t now_ns_ = 0;
	std::uint64_t next_installation_ = 1;
	std::map<std::uint32_t, Installed> installed_; // by rule id
	std::map<FlowKey, Flow> flows_;
	std::map<FragmentKey, FragmentEntry> fragments_;
	std::set<Address> host_addresses_;
};

} // namespace model
