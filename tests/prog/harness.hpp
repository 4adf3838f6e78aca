// Runs the filter's programs on built packets with BPF_PROG_TEST_RUN and
// checks each table row's verdict and counter changes.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "loader/programs.hpp"
#include "loader/rule.hpp"
#include "loader/rule_maps.hpp"
#include "maps/airgap_maps.h"
#include "packet.hpp"

namespace prog {

// Addresses of the simulated host and its peers.
inline constexpr const char *kHost = "198.51.100.2";      // uplink address of the host
inline constexpr const char *kGateway = "198.51.100.1";   // gateway and DHCP server
inline constexpr const char *kResolver = "198.51.100.53";
inline constexpr const char *kRelay = "203.0.113.10";      // allowed endpoint
inline constexpr const char *kElsewhere = "203.0.113.20";  // not allowed
inline constexpr const char *kBridgeAddr = "172.17.0.1";   // the host on docker0
inline constexpr const char *kContainer1 = "172.17.0.2";
inline constexpr const char *kContainer2 = "172.17.0.3";
inline constexpr const char *kContainer5 = "172.17.0.5";

inline constexpr const char *kHost6 = "2001:db8::2";
inline constexpr const char *kGateway6 = "2001:db8::1";
inline constexpr const char *kRelay6 = "2001:db8:ff::10";
inline constexpr const char *kElsewhere6 = "2001:db8:ff::20";
inline constexpr const char *kBridgeAddr6 = "2001:db8:1::1";
inline constexpr const char *kContainer1v6 = "2001:db8:1::2";
inline constexpr const char *kContainer5v6 = "2001:db8:1::5";
inline constexpr const char *kLinkLocal = "fe80::2";
inline constexpr const char *kAllNodes = "ff02::1";

enum class Hook { uplink_xdp, uplink_egress, bridge_ingress, bridge_egress };

// Who hands a packet to a TC hook, which the programs see as
// skb->ingress_ifindex: 0 for the host's own stack, else the interface the
// packet arrived on before the kernel routed it.
enum class Sender { host, bridge, uplink };

struct Context {
	Sender sender = Sender::host;
	// XDP only: bytes of metadata in front of the frame. BPF_PROG_TEST_RUN
	// takes no buffer shorter than an Ethernet header, so a shorter frame
	// is passed after metadata that makes up the difference.
	std::uint32_t xdp_meta_len = 0;
};

inline constexpr Context sent_by_host{Sender::host};
inline constexpr Context from_bridge{Sender::bridge};
inline constexpr Context from_uplink{Sender::uplink};

struct Verdict {
	bool pass;
	int reason; // ag_pass_reason or ag_drop_reason
};

constexpr Verdict pass(ag_pass_reason reason)
{
	return {true, reason};
}

constexpr Verdict drop(ag_drop_reason reason)
{
	return {false, reason};
}

// One table row: a packet run through one program, the verdict it must get,
// and the counters it must move. Exactly one hook counter slot moves, by one
// packet and the packet's length. The named rule's counter moves the same
// way, and no other rule's counter moves.
struct Case {
	std::string name;
	Hook hook;
	Bytes packet;
	Context ctx;
	Verdict expect;
	std::string rule = {}; // the rule whose counter moves, or empty for none
	int flows = 0;         // change in the number of tracked flows
	// Input shorter than some kernels' BPF_PROG_TEST_RUN accepts. Linux
	// 6.18 and Debian 12's 6.1.192 reject a TC frame whose IP header is
	// incomplete and an XDP frame shorter than an Ethernet header with
	// EINVAL, so such a row is reported as skipped there instead of failing.
	bool kernel_may_reject = false;
};

// The row, marked as input that some kernels reject.
Case kernel_may_reject(Case row);

// Create the test's network namespace: docker0 (bridge, 172.17.0.1/16 and
// 2001:db8:1::1/64), wan0 (veth, 198.51.100.2/24 and 2001:db8::2/64, default
// routes via .1 and ::1), loopback up and forwarding on, as on a docker
// host. Throws SkipRun without the privileges for unshare(CLONE_NEWNET),
// std::runtime_error otherwise.
void enter_test_netns();

struct SkipRun : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// Run iproute2's ip with these arguments in the test's namespace; throws
// std::runtime_error when it fails.
void run_ip(std::vector<std::string> args);

std::uint32_t uplink_ifindex();
std::uint32_t bridge_ifindex();

// The four programs, loaded unpinned, and their maps.
class Filter {
public:
	Filter();

	airgap::FilterMaps &maps() { return maps_; }
	int program(Hook hook) const;

	// Add a rule of one address or prefix.
	std::uint32_t add(const airgap::Rule &rule);
	// Add a host-name rule as if its name had resolved to these addresses,
	// so that no test depends on DNS.
	std::uint32_t add_resolved(const airgap::Rule &rule, const std::vector<const char *> &addresses);
	// Switch to this rule set in one step, as a policy reload does.
	void replace(const std::vector<airgap::Rule> &rules);
	void remove(std::string_view name);
	void set_dhcp(bool enabled);

	std::optional<ag_flow> flow(const ag_flow_key &key) const;
	void set_flow(const ag_flow_key &key, const ag_flow &value);

private:
	airgap::Programs programs_;
	airgap::FilterMaps maps_;
	int flows_fd_;
};

// Rules as the CLI takes them; a peer that is no address is a host name.
airgap::Rule allow_out(const char *name, const char *proto, const char *port, const char *to);
airgap::Rule allow_in(const char *name, const char *proto, const char *port, const char *from);
airgap::Rule forward(const char *name, const char *proto, const char *port, const char *from = "any");

// A flow as the programs key it: local is the host's side.
ag_flow_key flow_key(std::uint8_t proto, const char *local, std::uint16_t local_port, const char *remote,
		     std::uint16_t remote_port, std::uint8_t zone = AG_ZONE_UPLINK);

enum class Known { good, defect };

// Run the rows in order, printing one result line per row, and check each
// with Catch2. Rows of a table marked Known::defect print "xfail" when they
// fail and "XPASS" when they pass.
void run_table(Filter &filter, const std::vector<Case> &cases, Known known = Known::good);

} // namespace prog
