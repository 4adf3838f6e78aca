// Shared pieces of the benchmark binary: BPF_PROG_TEST_RUN wrappers, the
// rule set every measurement uses, and JSON-lines output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/packets.hpp"
#include "loader/rule.hpp"
#include "loader/rule_maps.hpp"

namespace bench {

// Addresses of the simulated host and its peers, inside the ranges the
// project's namespaces use.
inline constexpr const char *kHost = "198.51.100.2";
inline constexpr const char *kGateway = "198.51.100.1";
inline constexpr const char *kRelay = "203.0.113.10";     // allow-out tcp/443 and udp/5000
inline constexpr const char *kElsewhere = "203.0.113.20"; // no rule
inline constexpr const char *kBridgeAddr = "172.17.0.1";
inline constexpr const char *kContainer = "172.17.0.2";   // no forward
inline constexpr const char *kForwarded = "172.17.0.5";   // forward tcp/8443
inline constexpr std::uint16_t kRelayPort = 443;
inline constexpr std::uint16_t kRelayUdpPort = 5000;
inline constexpr std::uint16_t kHostPort = 40000; // the host's side of its tracked flows
inline constexpr std::uint16_t kAllowInPort = 22;
inline constexpr std::uint16_t kForwardPort = 8443;
inline constexpr std::uint16_t kFloodPort = 9;

// The fixed rules of every rule set; the rest are allow-in rules.
inline constexpr std::uint32_t kFixedRules = 3;

// Address of allow-in rule i, host byte order: every other address of
// 172.16.0.0/12 from 172.16.0.2 on, so that an odd address next to a rule
// walks the rule trie as deep as a real rule does and still misses.
std::uint32_t allow_in_address(std::uint32_t i);

// The benchmark's rule set of count rules: allow-out tcp/443 and udp/5000
// to the relay, a forward of tcp/8443, then allow-in tcp/22 rules from
// allow_in_address(0), (1), ...
std::vector<airgap::Rule> rule_set(std::uint32_t count);

// Write rules [from, to) of rule_set() into a filter's maps, rule k in slot
// k, which must be free. This skips the checks of FilterMaps::add_rule,
// because add_rule reads the whole rule table per call. That took tens of
// milliseconds at 131,072 slots on the benchmark machine, so 100,000 calls
// would take over an hour.
void write_rules(const airgap::FilterMaps::Fds &fds, std::uint32_t from, std::uint32_t to);

// Open the live rule trie behind ag_rules.
int open_live_trie(int rules_fd);

struct TestRun {
	int prog_fd = -1;
	std::vector<std::uint8_t> data;
	bool tc = false;
	std::uint32_t ifindex = 0;         // TC: skb->dev
	std::uint32_t ingress_ifindex = 0; // TC: 0 for the host's own packets
};

struct RunResult {
	std::uint32_t retval;
	std::uint32_t duration_ns; // mean per repetition, as the kernel measured it
};

RunResult test_run(const TestRun &run, std::uint32_t repeat);

// Seconds on CLOCK_MONOTONIC.
double now_seconds();

// Pin the calling thread to one CPU; throws airgap::Error.
void pin_to_cpu(int cpu);

// One JSON object per line on stdout, for bench/report.py.
void emit(const std::string &json_object);

} // namespace bench
