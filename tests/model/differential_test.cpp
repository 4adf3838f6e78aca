// Runs the four BPF programs and the reference model side by side on the
// same packets. A policy is installed, earlier packets build up flows, and
// rules are deleted and added back during the run. Each packet's verdict and
// counter change must agree, and every few thousand packets the flow and
// fragment tables and the whole counter maps are compared.
//
// A difference is written as a pcapng file, with the packets that built the
// state it depends on, to the cases directory. The differences that the
// model lists as model::Deviation are counted; with --strict they fail too.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include <fmt/format.h>

#include "case_file.hpp"
#include "data_plane.hpp"
#include "generator.hpp"
#include "harness.hpp"
#include "loader/log.hpp"
#include "model.hpp"

using namespace model;

namespace {

// ctest treats this exit code as "skipped" (SKIP_RETURN_CODE).
constexpr int kExitSkipped = 77;

struct Options {
	std::uint64_t seed = 0;
	bool seed_given = false;
	std::uint64_t packets = 1000000; // per program
	std::string cases_dir = AIRGAP_MODEL_CASES_DIR;
	bool strict = false;
};

Options g_options;

// Every kCounterPeriod packets the whole counter maps are compared, and a
// rule may be deleted or added back. Every kTablePeriod packets the flow and
// fragment tables are compared and their timestamps renewed. Both periods
// count packets, not time, so that a seed replays the same run.
constexpr std::uint64_t kCounterPeriod = 4096;
constexpr std::uint64_t kTablePeriod = 16384;
// Differences after which the run stops, as the tables are then resynced
// from the kernel and later packets tell less.
constexpr int kMaxFailures = 20;
// An LRU hash map evicts before it is full: a CPU refills its own free list
// LOCAL_FREE_TARGET (128, kernel/bpf/bpf_lru_list.c) nodes at a time, and
// evicts when the global list has fewer. Half the capacity less that margin
// keeps the tables clear of eviction.
std::size_t table_limit(std::uint32_t capacity)
{
	return std::max<std::size_t>(32, capacity / 2 - 128);
}
constexpr std::uint64_t kSecond = 1000000000ull;
// Idle times an entry gets when the run ages it on purpose. They lie on both
// sides of every timeout (10 s, 30 s, 120 s, 5 days, and 60 s for fragments).
// Each is at least 5 s from every timeout, far more than the time between
// stamping an entry and the packets that meet it. So the model's timeouts
// decide which entries expire, and a wrong one shows.
constexpr std::uint64_t kFlowAges[] = {5, 20, 60, 200, 3 * 86400, 6 * 86400};
constexpr std::uint64_t kFragmentAges[] = {20, 100};

struct PolicyRule {
	airgap::Rule rule;
	std::vector<const char *> resolved; // addresses of a host-name rule
};

std::vector<PolicyRule> policy()
{
	using prog::allow_in;
	using prog::allow_out;
	using prog::forward;
	return {
		{allow_out("relay-api", "tcp", "443", "203.0.113.10"), {}},
		{allow_out("relay-pool", "tcp", "443", "203.0.113.64/26"), {}},
		{allow_out("relay-pool-one", "tcp", "443", "203.0.113.100"), {}},
		{allow_out("exact-443", "tcp", "443", "203.0.113.40"), {}},
		{allow_out("any-port-40", "tcp", "any", "203.0.113.40"), {}},
		{allow_out("web-net", "tcp", "8080", "203.0.113.0/24"), {}},
		{allow_out("dns-1-udp", "udp", "53", "198.51.100.53"), {}},
		{allow_out("dns-1-tcp", "tcp", "53", "198.51.100.53"), {}},
		{allow_out("ping-relay", "icmp", "any", "203.0.113.10"), {}},
		{allow_out("gre-tunnel", "47", "any", "203.0.113.50"), {}},
		{allow_out("relay-udp", "udp", "any", "203.0.113.30"), {}},
		{allow_out("ntp-any", "udp", "123", "any"), {}},
		{allow_out("sctp-out", "132", "any", "203.0.113.60"), {}},
		{allow_out("relay6", "tcp", "443", "2001:db8:ff::10"), {}},
		{allow_out("relay6-net", "udp", "any", "2001:db8:ff::/48"), {}},
		{allow_out("ping6-relay", "icmpv6", "any", "2001:db8:ff::10"), {}},
		{allow_out("dns6-udp", "udp", "53", "2001:db8::53"), {}},
		{allow_out("wide6", "tcp", "any", "2001:db8:ff00::/40"), {}},
		{allow_out("relay-name", "tcp", "443", "relay.example.net"), {"203.0.113.12", "2001:db8:ff::12"}},
		{allow_in("mgmt-ssh", "tcp", "22", "203.0.113.0/24"), {}},
		{allow_in("dns-in", "udp", "53", "203.0.113.0/24"), {}},
		{allow_in("mgmt-ssh6", "tcp", "22", "2001:db8:ff::/48"), {}},
		{allow_in("any-port-in", "tcp", "any", "203.0.113.7"), {}},
		{allow_in("gre-in", "47", "any", "203.0.113.50"), {}},
		{allow_in("ping-in", "icmp", "any", "203.0.113.0/28"), {}},
		{allow_in("ping6-in", "icmpv6", "any", "2001:db8:ff::/64"), {}},
		{allow_in("udp-in-any", "udp", "5000", "any"), {}},
		{allow_in("web-in", "tcp", "80", "203.0.113.128/25"), {}},
		{forward("billing-db", "tcp", "8443", "172.17.0.5"), {}},
		{forward("dns-fwd", "udp", "53", "172.17.0.0/16"), {}},
		{forward("api-fwd", "tcp", "any", "172.17.0.2"), {}},
		{forward("billing-db6", "tcp", "8443", "2001:db8:1::5"), {}},
		{forward("icmp-fwd", "icmp", "any", "172.17.0.0/28"), {}},
		{forward("udp6-fwd", "udp", "any", "2001:db8:1::/64"), {}},
		{forward("metrics", "tcp", "9100", "any"), {}},
		{forward("gre-fwd", "47", "any", "172.17.0.3"), {}},
	};
}

Prefix model_prefix(const airgap::Prefix &prefix)
{
	Prefix out;
	std::memcpy(out.address.data(), prefix.addr.data(), out.address.size());
	out.length = prefix.len;
	return out;
}

Rule model_rule(const PolicyRule &policy_rule, std::uint32_t id)
{
	const airgap::Rule &r = policy_rule.rule;
	Rule out;
	out.id = id;
	out.kind = static_cast<RuleKind>(r.kind);
	out.proto = r.proto;
	out.port = r.port;
	out.name = r.name;
	if (policy_rule.resolved.empty()) {
		out.addresses.push_back(model_prefix(r.peer));
	} else {
		for (const char *address : policy_rule.resolved)
			out.addresses.push_back(Prefix::parse(address));
	}
	return out;
}

Address address_of(const sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ipv4_mapped(ntohl(reinterpret_cast<const sockaddr_in *>(sa)->sin_addr.s_addr));
	Address out;
	std::memcpy(out.data(), reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr.s6_addr, out.size());
	return out;
}

int prefix_length(const sockaddr *mask)
{
	Address bits = address_of(mask);
	int start = mask->sa_family == AF_INET ? 12 : 0;
	int length = 0;
	for (int i = start; i < 16; i++)
		length += __builtin_popcount(bits[i]);
	return length;
}

Prefix masked(const Address &address, int length)
{
	Prefix out{address, length};
	for (int bit = length; bit < 128; bit++)
		out.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
	return out;
}

// The test namespace's addresses, which the loader gives the programs, and
// what bpf_fib_lookup() reports as not forwarded, found by probing bridge
// ingress on Linux 6.18.
Host host_of_namespace()
{
	Host host;
	ifaddrs *list = nullptr;
	if (getifaddrs(&list))
		throw std::runtime_error(std::string("getifaddrs failed: ") + std::strerror(errno));
	for (ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || (ifa->ifa_addr->sa_family != AF_INET && ifa->ifa_addr->sa_family != AF_INET6))
			continue;
		Address address = address_of(ifa->ifa_addr);
		bool v4 = ifa->ifa_addr->sa_family == AF_INET;
		int length = prefix_length(ifa->ifa_netmask) + (v4 ? 96 : 0);
		host.addresses.push_back(address);
		if (ifa->ifa_flags & IFF_LOOPBACK) {
			// The kernel's local route covers all of 127.0.0.0/8.
			host.not_forwarded.push_back(masked(address, length));
			continue;
		}
		host.not_forwarded.push_back({address, 128});
		bool link_local = !v4 && address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
		// An IPv6 router accepts packets to the subnet-router anycast address.
		if (!v4 && !link_local && length < 127)
			host.not_forwarded.push_back({masked(address, length).address, 128});
		// The kernel adds a broadcast route for the subnet's last address,
		// whether or not the address names one.
		if (v4 && length < 127) {
			Prefix broadcast = masked(address, length);
			for (int bit = length; bit < 128; bit++)
				broadcast.address[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
			host.not_forwarded.push_back({broadcast.address, 128});
		}
	}
	freeifaddrs(list);
	host.not_forwarded.push_back(Prefix::parse("ff00::/8"));
	host.not_forwarded.push_back(Prefix::parse("fe80::/10"));
	// IPv6 from these sources is "not forwarded" to any destination.
	host.not_forwarded_ipv6_sources = {Prefix::parse("fe80::/10"), Prefix::parse("ff00::/8"), Prefix::parse("::1")};
	return host;
}

std::vector<Address> addresses(std::initializer_list<const char *> texts)
{
	std::vector<Address> out;
	for (const char *text : texts)
		out.push_back(parse_address(text));
	return out;
}

// A link-local address of the host on the bridge that is the same in every
// run, unlike the one derived from the bridge's random MAC address.
constexpr const char *kBridgeLinkLocal = "fe80::1:1";

Endpoints endpoints()
{
	Endpoints e;
	e.host_uplink = addresses({prog::kHost, prog::kHost6});
	e.host_bridge = addresses({prog::kBridgeAddr, prog::kBridgeAddr6});
	e.remotes = addresses({"203.0.113.20", "203.0.113.1", "203.0.113.5", prog::kGateway, prog::kResolver,
			       "198.51.100.3", prog::kGateway6, "2001:db8::53", prog::kElsewhere6, "2001:db8:ee::1",
			       "fe80::1"});
	e.containers = addresses({prog::kContainer1, prog::kContainer2, prog::kContainer5, "172.17.0.9", "172.18.0.2",
				  prog::kContainer1v6, prog::kContainer5v6, "2001:db8:1::9", "fe80::42"});
	e.bridge_targets = addresses({prog::kBridgeAddr, prog::kHost, prog::kContainer2, prog::kElsewhere,
				      "172.17.255.255", "255.255.255.255", "224.0.0.251", "127.0.0.1", "0.0.0.0",
				      prog::kBridgeAddr6, prog::kHost6, "2001:db8:1::3", prog::kElsewhere6, "ff02::1",
				      "ff02::fb", "fe80::1", "::1", "2001:db8:1::", kBridgeLinkLocal});
	e.routers = addresses({prog::kGateway, "203.0.113.1", prog::kGateway6, "2001:db8:ff::1"});
	e.service_ports = {22, 53, 67, 68, 80, 123, 443, 546, 547, 5000, 8080, 8443, 9100};
	return e;
}

ag_flow_key kernel_key(const FlowKey &key)
{
	ag_flow_key out{};
	std::memcpy(out.local, key.local.data(), sizeof(out.local));
	std::memcpy(out.remote, key.remote.data(), sizeof(out.remote));
	out.local_port = htons(key.local_port);
	out.remote_port = htons(key.remote_port);
	out.proto = key.proto;
	out.zone = key.zone;
	return out;
}

FlowKey model_key(const ag_flow_key &key)
{
	FlowKey out;
	std::memcpy(out.local.data(), key.local, sizeof(key.local));
	std::memcpy(out.remote.data(), key.remote, sizeof(key.remote));
	out.local_port = ntohs(key.local_port);
	out.remote_port = ntohs(key.remote_port);
	out.proto = key.proto;
	out.zone = key.zone;
	return out;
}

ag_fragment_key kernel_key(const FragmentKey &key)
{
	ag_fragment_key out{};
	std::memcpy(out.saddr, key.src.data(), sizeof(out.saddr));
	std::memcpy(out.daddr, key.dst.data(), sizeof(out.daddr));
	out.id = htonl(key.id);
	out.proto = key.proto;
	out.hook = key.hook;
	return out;
}

FragmentKey model_key(const ag_fragment_key &key)
{
	FragmentKey out;
	std::memcpy(out.src.data(), key.saddr, sizeof(key.saddr));
	std::memcpy(out.dst.data(), key.daddr, sizeof(key.daddr));
	out.id = ntohl(key.id);
	out.proto = key.proto;
	out.hook = key.hook;
	return out;
}

std::string describe(const FlowKey &key)
{
	return fmt::format("proto {} {} port {} <-> {} port {} ({})", key.proto, to_string(key.local), key.local_port,
			   to_string(key.remote), key.remote_port, key.zone == AG_ZONE_BRIDGE ? "bridge" : "uplink");
}

std::string describe(const FragmentKey &key)
{
	return fmt::format("proto {} {} -> {} id {:#x} at {}", key.proto, to_string(key.src), to_string(key.dst), key.id,
			   hook_name(static_cast<Hook>(key.hook)));
}

const char *sender_name(Sender sender)
{
	switch (sender) {
	case Sender::host:
		return "sent by the host";
	case Sender::bridge:
		return "routed in from the bridge";
	case Sender::uplink:
		return "routed in from the uplink";
	}
	return "?";
}

// "uplink-xdp drop no-rule" for a slot of ag_hook_stats.
std::string slot_name(int slot)
{
	int hook = slot / AG_HOOK_SLOTS;
	int index = slot % AG_HOOK_SLOTS;
	Verdict verdict = index < AG_PASS_REASON_COUNT ? Verdict{true, index}
						       : Verdict{false, index - AG_PASS_REASON_COUNT};
	return std::string(hook_name(static_cast<Hook>(hook))) + " " + to_string(verdict);
}

std::uint64_t coarse_now()
{
	// bpf_ktime_get_coarse_ns() reads this clock.
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return static_cast<std::uint64_t>(ts.tv_sec) * kSecond + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool operator==(const ag_counter &a, const ag_counter &b)
{
	return a.packets == b.packets && a.bytes == b.bytes;
}

// A packet that started a table entry, kept to replay the state of a case.
struct Origin {
	std::uint64_t step;
	TestPacket packet;
};

class DifferentialRun {
public:
	explicit DifferentialRun(const Options &options);
	void execute();

private:
	// What the programs did with a packet: the return code, and the
	// counters read so far, summed over CPUs.
	struct Observation {
		std::uint32_t retval = 0;
		std::map<int, ag_counter> hooks;
		std::map<std::uint32_t, ag_counter> rules;
	};

	void install_policy();
	void step(Hook hook);
	bool matches(const TestPacket &packet, const Outcome &outcome, Observation &observed);
	Deviation attribute(const Packet &packet, const Outcome &programs, bool &single) const;
	void commit(const TestPacket &packet, const Outcome &outcome);
	// Write the case's file, once per file name. A new difference counts
	// toward the run's limit; a known deviation (under --strict) does not.
	void report_difference(const TestPacket &packet, const Outcome &expected, const Outcome &as_built,
			       const Observation &observed, const std::string &what, const std::string &file_name,
			       bool unknown);
	std::string observed_text(const TestPacket &packet, const Observation &observed) const;
	void resync();
	void compare_counters();
	void compare_tables();
	void renew_and_age();
	void prune();
	void churn_rules();
	void print_summary(std::chrono::steady_clock::duration elapsed);

	Options options_;
	prog::Filter filter_;
	DataPlane plane_;
	std::vector<PolicyRule> policy_;
	std::map<std::string, std::uint32_t> rule_ids_; // live policy rules by name
	std::vector<std::size_t> removed_;               // policy indices deleted for now
	Model model_;
	Generator generator_;
	std::mt19937_64 housekeeping_;

	std::vector<ag_counter> expected_hooks_;
	std::vector<ag_counter> expected_rules_;
	std::map<FlowKey, Origin> flow_origins_;
	std::map<FragmentKey, Origin> fragment_origins_;
	// The namespace's own addresses, which pruning keeps.
	std::set<Address> interface_addresses_;

	std::uint64_t step_ = 0;
	std::array<std::uint64_t, kHookCount> run_{};
	std::array<std::uint64_t, kHookCount> rejected_{};
	std::array<std::uint64_t, kDeviationCount> deviations_{};
	std::uint64_t combined_deviations_ = 0;
	// Case files written, with the score of the packet each holds.
	std::map<std::string, int> cases_written_;
	std::vector<std::string> case_paths_;
	int failures_ = 0;
	bool dhcp_ = true;
	std::uint64_t rules_deleted_ = 0;
	std::uint64_t rules_added_ = 0;
	std::uint64_t flows_aged_ = 0;
	std::uint64_t fragments_aged_ = 0;
};

DifferentialRun::DifferentialRun(const Options &options)
	: options_(options), plane_(filter_), policy_(policy()), model_(host_of_namespace()),
	  generator_(options.seed, endpoints(), {}), housekeeping_(options.seed ^ 0x5eed5eedull)
{
	install_policy();
	// Addresses around the rules' prefixes join the generator's pools.
	generator_ = Generator(options.seed, endpoints(), model_.rules());
	expected_hooks_ = plane_.hook_counters();
	expected_rules_ = plane_.rule_counters();
	model_.set_clock(coarse_now());
	auto own = host_of_namespace().addresses;
	interface_addresses_.insert(own.begin(), own.end());
}

void DifferentialRun::install_policy()
{
	filter_.set_dhcp(dhcp_);
	model_.set_dhcp(dhcp_);
	for (const PolicyRule &rule : policy_) {
		std::uint32_t id = rule.resolved.empty() ? filter_.add(rule.rule)
							 : filter_.add_resolved(rule.rule, rule.resolved);
		model_.add_rule(model_rule(rule, id));
		rule_ids_[rule.rule.name] = id;
	}
}

void DifferentialRun::execute()
{
	auto start = std::chrono::steady_clock::now();
	std::cout << fmt::format("seed {} ({} packets per program; replay with --seed {} --packets {})\n",
				 options_.seed, options_.packets, options_.seed, options_.packets);

	std::uint64_t next_progress = options_.packets / 4;
	for (;;) {
		std::vector<Hook> open;
		for (int i = 0; i < kHookCount; i++) {
			if (run_[i] < options_.packets)
				open.push_back(static_cast<Hook>(i));
		}
		if (open.empty() || failures_ >= kMaxFailures)
			break;
		step(open[housekeeping_() % open.size()]);

		if (step_ % kCounterPeriod == 0) {
			compare_counters();
			churn_rules();
		}
		if (model_.flows().size() > table_limit(plane_.flow_capacity()) ||
		    model_.fragments().size() > table_limit(plane_.fragment_capacity()) ||
		    model_.host_addresses().size() > table_limit(plane_.host_address_capacity()))
			prune();
		if (step_ % kTablePeriod == 0) {
			compare_tables();
			renew_and_age();
		}
		std::uint64_t least = *std::min_element(run_.begin(), run_.end());
		if (least >= next_progress && least < options_.packets) {
			std::cout << fmt::format("  {} packets per program so far\n", least) << std::flush;
			next_progress += options_.packets / 4;
		}
	}
	compare_counters();
	compare_tables();
	print_summary(std::chrono::steady_clock::now() - start);

	if (failures_ >= kMaxFailures)
		FAIL_CHECK("stopped after " << failures_ << " differences");
	for (int i = 0; i < kHookCount; i++) {
		INFO(hook_name(static_cast<Hook>(i)));
		CHECK(run_[i] >= options_.packets);
	}
	CHECK(failures_ == 0);
}

void DifferentialRun::step(Hook hook)
{
	TestPacket packet = generator_.next(hook, model_);
	step_++;
	Packet input{packet.hook, packet.sender == Sender::host, packet.frame};
	Outcome firewall = model_.decide(input, Semantics::firewall());
	Outcome programs = model_.decide(input, Semantics::programs());

	Observation observed;
	std::optional<std::uint32_t> retval = plane_.run(packet.hook, packet.sender, packet.frame);
	if (!retval) {
		rejected_[static_cast<int>(hook)]++;
		return;
	}
	run_[static_cast<int>(hook)]++;
	observed.retval = *retval;

	// Both decisions can fit what the counters show and still differ in
	// how the tables change, and then the kernel's tables followed the
	// programs.
	bool differs = !programs.same_effect(firewall);
	bool firewall_fits = matches(packet, firewall, observed);
	bool programs_fit = differs && matches(packet, programs, observed);
	if (firewall_fits && !programs_fit) {
		commit(packet, firewall);
		return;
	}
	if (programs_fit) {
		bool visible = !firewall_fits;
		if (visible) {
			bool single = false;
			Deviation deviation = attribute(input, programs, single);
			if (single)
				deviations_[static_cast<int>(deviation)]++;
			else
				combined_deviations_++;
			if (options_.strict) {
				std::string name = single ? deviation_name(deviation) : "several-deviations";
				report_difference(packet, firewall, programs, observed, "known deviation " + name,
						  fmt::format("{}-{}", hook_name(hook), name), false);
			}
		}
		commit(packet, programs);
		return;
	}

	std::string actual;
	std::vector<ag_counter> hooks = plane_.hook_counters();
	for (int slot = 0; slot < AG_HOOK_STATS_LEN; slot++) {
		observed.hooks[slot] = hooks[slot];
		if (!(hooks[slot] == expected_hooks_[slot])) {
			int index = slot % AG_HOOK_SLOTS;
			actual = index < AG_PASS_REASON_COUNT
					 ? to_string(Verdict{true, index})
					 : to_string(Verdict{false, index - AG_PASS_REASON_COUNT});
		}
	}
	if (actual.empty())
		actual = observed.retval == DataPlane::pass_code(hook) ? "pass" : "drop";
	auto file_name = [](std::string text) {
		std::replace(text.begin(), text.end(), ' ', '-');
		return text;
	};
	report_difference(packet, firewall, programs, observed, "difference",
			  fmt::format("{}-model-{}-programs-{}", hook_name(hook), file_name(to_string(firewall.verdict)),
				      file_name(actual)),
			  true);
	resync();
}

// The programs call account() once per packet, so the one hook counter
// that the outcome names is read here; compare_counters() finds any other
// that moved.
bool DifferentialRun::matches(const TestPacket &packet, const Outcome &outcome, Observation &observed)
{
	std::uint32_t code = outcome.verdict.pass ? DataPlane::pass_code(packet.hook) : DataPlane::drop_code(packet.hook);
	if (observed.retval != code)
		return false;

	if (!observed.hooks.count(outcome.hook_slot))
		observed.hooks[outcome.hook_slot] = plane_.hook_counter(outcome.hook_slot);
	ag_counter want = expected_hooks_[outcome.hook_slot];
	want.packets += 1;
	want.bytes += outcome.bytes;
	if (!(observed.hooks[outcome.hook_slot] == want))
		return false;

	if (outcome.rule_id) {
		std::uint32_t id = *outcome.rule_id;
		if (!observed.rules.count(id))
			observed.rules[id] = plane_.rule_counter(id);
		ag_counter want_rule = expected_rules_[id];
		want_rule.packets += 1;
		want_rule.bytes += outcome.bytes;
		if (!(observed.rules[id] == want_rule))
			return false;
	}
	return true;
}

// The one deviation that alone turns the model's decision into the
// programs', if there is one.
Deviation DifferentialRun::attribute(const Packet &packet, const Outcome &programs, bool &single) const
{
	for (int i = 0; i < kDeviationCount; i++) {
		auto deviation = static_cast<Deviation>(i);
		if (model_.decide(packet, Semantics::firewall().with(deviation)).same_effect(programs)) {
			single = true;
			return deviation;
		}
	}
	single = false;
	return Deviation::count;
}

void DifferentialRun::commit(const TestPacket &packet, const Outcome &outcome)
{
	expected_hooks_[outcome.hook_slot].packets++;
	expected_hooks_[outcome.hook_slot].bytes += outcome.bytes;
	if (outcome.rule_id) {
		expected_rules_[*outcome.rule_id].packets++;
		expected_rules_[*outcome.rule_id].bytes += outcome.bytes;
	}
	model_.apply(outcome);
	if (outcome.flow_write && outcome.verdict == Verdict{true, AG_PASS_RULE})
		flow_origins_[outcome.flow_write->first] = {step_, packet};
	if (outcome.fragment_write)
		fragment_origins_[outcome.fragment_write->first] = {step_, packet};
	generator_.learn(outcome);
}

std::string DifferentialRun::observed_text(const TestPacket &packet, const Observation &observed) const
{
	std::string text = observed.retval == DataPlane::pass_code(packet.hook) ? "passed" : "dropped";
	text += " (return code " + std::to_string(static_cast<std::int32_t>(observed.retval)) + "), counters:";
	for (auto &[slot, now] : observed.hooks) {
		const ag_counter &before = expected_hooks_[slot];
		if (!(now == before))
			text += fmt::format(" {} +{}/+{}B", slot_name(slot), now.packets - before.packets,
					    now.bytes - before.bytes);
	}
	for (auto &[id, counter] : observed.rules) {
		const ag_counter &before = expected_rules_[id];
		text += fmt::format(" rule {} +{}/+{}B", id, counter.packets - before.packets,
				    counter.bytes - before.bytes);
	}
	return text;
}

void DifferentialRun::report_difference(const TestPacket &packet, const Outcome &expected, const Outcome &as_built,
					const Observation &observed, const std::string &what,
					const std::string &file_name, bool unknown)
{
	std::string model = to_string(expected.verdict);
	if (expected.rule_id)
		model += fmt::format(", rule {} counts", *expected.rule_id);
	if (!as_built.same_effect(expected))
		model += ", as built " + to_string(as_built.verdict);
	std::string summary = fmt::format("{} at packet {} of seed {}: {} ({}, {} bytes: {}); model: {}; programs: {}",
					  what, step_, options_.seed, hook_name(packet.hook), sender_name(packet.sender),
					  packet.frame.size(), packet.origin, model, observed_text(packet, observed));

	if (unknown)
		failures_++;
	// One file per case. A later packet replaces the one written when it
	// makes a better table case: one that passes where the other side
	// drops, rather than one that drops for another reason, and then one
	// as built rather than mutated.
	bool passes = observed.retval == DataPlane::pass_code(packet.hook);
	int score = (expected.verdict.pass != passes ? 2 : 0) + (packet.mutated ? 0 : 1);
	auto written = cases_written_.find(file_name);
	if (written != cases_written_.end() && written->second >= score)
		return;
	bool replacing = written != cases_written_.end();
	cases_written_[file_name] = score;

	CaseFile file;
	std::set<std::uint64_t> added;
	auto add_origin = [&](const Origin &origin, const std::string &role) {
		if (!added.insert(origin.step).second)
			return;
		file.add(origin.packet.hook, origin.step, origin.packet.frame,
			 fmt::format("packet {}: {}, {}; {}", origin.step, sender_name(origin.packet.sender),
				     origin.packet.origin, role));
	};
	// The packets that made the table entries either decision read.
	for (const Outcome *outcome : {&expected, &as_built}) {
		for (const FlowKey &key : outcome->flows_read) {
			auto it = flow_origins_.find(key);
			if (it != flow_origins_.end() && model_.flows().count(key))
				add_origin(it->second, "started the flow " + describe(key));
		}
		for (const FragmentKey &key : outcome->fragments_read) {
			auto it = fragment_origins_.find(key);
			if (it != fragment_origins_.end() && model_.fragments().count(key))
				add_origin(it->second, "first fragment of " + describe(key));
		}
	}
	file.add(packet.hook, step_, packet.frame, summary);

	std::string path = options_.cases_dir + "/" + file_name + ".pcapng";
	try {
		mkdir(options_.cases_dir.c_str(), 0755);
		file.write(path);
		if (!replacing)
			case_paths_.push_back(path);
	} catch (const std::exception &e) {
		std::cout << "error: " << e.what() << "\n";
	}
	std::cout << summary << "\n  written to " << path << "\n" << std::flush;
	if (!replacing)
		FAIL_CHECK(summary);
}

// After a difference, take the kernel's tables and counters as the truth so
// that one difference does not cascade into many.
void DifferentialRun::resync()
{
	// The kernel stamped its entries with times up to now.
	model_.set_clock(coarse_now());
	auto addresses = plane_.host_addresses();
	model_.host_addresses() = std::set<Address>(addresses.begin(), addresses.end());
	expected_hooks_ = plane_.hook_counters();
	expected_rules_ = plane_.rule_counters();
	model_.flows().clear();
	for (auto &[key, flow] : plane_.flows()) {
		RuleRef rule = model_.current(flow.rule_id);
		if (plane_.rule_generation(flow.rule_id) != flow.rule_gen)
			rule.installation = 0;
		model_.flows()[model_key(key)] = {rule, static_cast<ag_tcp_state>(flow.tcp_state), flow.last_seen_ns};
	}
	model_.fragments().clear();
	for (auto &[key, fragment] : plane_.fragments()) {
		RuleRef rule = model_.current(fragment.rule_id);
		if (plane_.rule_generation(fragment.rule_id) != fragment.rule_gen)
			rule.installation = 0;
		model_.fragments()[model_key(key)] = {rule, fragment.first_seen_ns};
	}
}

void DifferentialRun::compare_counters()
{
	std::vector<ag_counter> hooks = plane_.hook_counters();
	std::vector<ag_counter> rules = plane_.rule_counters();
	for (int slot = 0; slot < AG_HOOK_STATS_LEN; slot++) {
		if (!(hooks[slot] == expected_hooks_[slot])) {
			failures_++;
			FAIL_CHECK(fmt::format("after packet {}: counter {} is {}/{}B, the model expects {}/{}B", step_,
					       slot_name(slot), hooks[slot].packets, hooks[slot].bytes,
					       expected_hooks_[slot].packets, expected_hooks_[slot].bytes));
		}
	}
	for (std::uint32_t id = 0; id < rules.size(); id++) {
		if (!(rules[id] == expected_rules_[id])) {
			failures_++;
			FAIL_CHECK(fmt::format("after packet {}: rule {} counted {}/{}B, the model expects {}/{}B", step_,
					       id, rules[id].packets, rules[id].bytes, expected_rules_[id].packets,
					       expected_rules_[id].bytes));
		}
	}
	expected_hooks_ = hooks;
	expected_rules_ = rules;
}

void DifferentialRun::compare_tables()
{
	std::map<std::uint32_t, std::uint32_t> generations;
	auto generation = [&](std::uint32_t id) {
		auto it = generations.find(id);
		if (it == generations.end())
			it = generations.emplace(id, plane_.rule_generation(id)).first;
		return it->second;
	};
	int differences = 0;
	auto differ = [&](const std::string &text) {
		if (differences++ < 5)
			FAIL_CHECK(fmt::format("after packet {}: {}", step_, text));
	};

	auto kernel_flows = plane_.flows();
	for (auto &[kernel, flow] : kernel_flows) {
		FlowKey key = model_key(kernel);
		auto it = model_.flows().find(key);
		if (it == model_.flows().end()) {
			differ("the kernel tracks a flow the model does not: " + describe(key));
			continue;
		}
		bool live = generation(flow.rule_id) == flow.rule_gen;
		if (flow.rule_id != it->second.rule.id || live != model_.is_live(it->second.rule) ||
		    flow.tcp_state != it->second.tcp_state)
			differ(fmt::format("flow {}: kernel rule {} ({}), tcp state {}; model rule {} ({}), tcp state {}",
					   describe(key), flow.rule_id, live ? "live" : "deleted", flow.tcp_state,
					   it->second.rule.id, model_.is_live(it->second.rule) ? "live" : "deleted",
					   static_cast<int>(it->second.tcp_state)));
	}
	std::set<FlowKey> kernel_flow_keys;
	for (auto &[kernel, flow] : kernel_flows)
		kernel_flow_keys.insert(model_key(kernel));
	for (auto &[key, flow] : model_.flows()) {
		if (!kernel_flow_keys.count(key))
			differ("the model tracks a flow the kernel does not: " + describe(key));
	}
	if (kernel_flows.size() != model_.flows().size())
		differ(fmt::format("the kernel tracks {} flows, the model {}", kernel_flows.size(), model_.flows().size()));

	auto kernel_fragments = plane_.fragments();
	for (auto &[kernel, fragment] : kernel_fragments) {
		FragmentKey key = model_key(kernel);
		auto it = model_.fragments().find(key);
		if (it == model_.fragments().end()) {
			differ("the kernel awaits fragments the model does not: " + describe(key));
			continue;
		}
		bool live = generation(fragment.rule_id) == fragment.rule_gen;
		if (fragment.rule_id != it->second.rule.id || live != model_.is_live(it->second.rule))
			differ(fmt::format("fragments of {}: kernel rule {}, model rule {}", describe(key), fragment.rule_id,
					   it->second.rule.id));
	}
	std::set<FragmentKey> kernel_fragment_keys;
	for (auto &[kernel, fragment] : kernel_fragments)
		kernel_fragment_keys.insert(model_key(kernel));
	for (auto &[key, entry] : model_.fragments()) {
		if (!kernel_fragment_keys.count(key))
			differ("the model awaits fragments the kernel does not: " + describe(key));
	}
	if (kernel_fragments.size() != model_.fragments().size())
		differ(fmt::format("the kernel awaits fragments of {} packets, the model of {}", kernel_fragments.size(),
				   model_.fragments().size()));

	auto kernel_addresses = plane_.host_addresses();
	std::set<Address> kernel_address_set(kernel_addresses.begin(), kernel_addresses.end());
	for (const Address &address : kernel_address_set) {
		if (!model_.host_addresses().count(address))
			differ("the kernel takes " + to_string(address) + " for the host's, the model does not");
	}
	for (const Address &address : model_.host_addresses()) {
		if (!kernel_address_set.count(address))
			differ("the model takes " + to_string(address) + " for the host's, the kernel does not");
	}

	if (differences) {
		failures_++;
		resync();
	}
}

// Stamp every entry with the current time, in the kernel and the model alike,
// so that no entry expires because the run takes time. A few get an idle
// time from kFlowAges or kFragmentAges instead, so that expiry happens on
// purpose.
void DifferentialRun::renew_and_age()
{
	std::uint64_t now = coarse_now();
	model_.set_clock(now);
	std::uniform_real_distribution<double> unit(0, 1);

	// The model's tables are ordered, the kernel's hash maps are not: the
	// model's order keeps the choice of what to age the same for a seed.
	std::map<FlowKey, ag_flow> kernel_flows;
	for (auto &[key, flow] : plane_.flows())
		kernel_flows[model_key(key)] = flow;
	std::vector<std::pair<ag_flow_key, ag_flow>> flows;
	for (auto &[key, flow] : model_.flows()) {
		auto it = kernel_flows.find(key);
		if (it == kernel_flows.end())
			continue; // compare_tables() reported it
		std::uint64_t stamp = now;
		if (unit(housekeeping_) < 0.04) {
			stamp = now - kFlowAges[housekeeping_() % std::size(kFlowAges)] * kSecond;
			flows_aged_++;
		}
		flow.last_seen_ns = stamp;
		it->second.last_seen_ns = stamp;
		flows.emplace_back(kernel_key(key), it->second);
	}
	plane_.write_flows(flows);

	std::map<FragmentKey, ag_fragment> kernel_fragments;
	for (auto &[key, fragment] : plane_.fragments())
		kernel_fragments[model_key(key)] = fragment;
	std::vector<std::pair<ag_fragment_key, ag_fragment>> fragments;
	for (auto &[key, entry] : model_.fragments()) {
		auto it = kernel_fragments.find(key);
		if (it == kernel_fragments.end())
			continue;
		std::uint64_t stamp = now;
		if (unit(housekeeping_) < 0.05) {
			stamp = now - kFragmentAges[housekeeping_() % std::size(kFragmentAges)] * kSecond;
			fragments_aged_++;
		}
		entry.first_seen_ns = stamp;
		it->second.first_seen_ns = stamp;
		fragments.emplace_back(kernel_key(key), it->second);
	}
	plane_.write_fragments(fragments);
}

// Delete about half the entries of a table that outgrows its limit, in the
// kernel and the model alike.
void DifferentialRun::prune()
{
	if (model_.flows().size() > table_limit(plane_.flow_capacity()) / 2) {
		for (auto it = model_.flows().begin(); it != model_.flows().end();) {
			if (housekeeping_() & 1) {
				plane_.delete_flow(kernel_key(it->first));
				flow_origins_.erase(it->first);
				it = model_.flows().erase(it);
			} else {
				++it;
			}
		}
	}
	if (model_.fragments().size() > table_limit(plane_.fragment_capacity()) / 2) {
		for (auto it = model_.fragments().begin(); it != model_.fragments().end();) {
			if (housekeeping_() & 1) {
				plane_.delete_fragment(kernel_key(it->first));
				fragment_origins_.erase(it->first);
				it = model_.fragments().erase(it);
			} else {
				++it;
			}
		}
	}
	// Source addresses the host was seen to send from, mostly mutated ones;
	// the interfaces' own stay.
	if (model_.host_addresses().size() > table_limit(plane_.host_address_capacity()) / 2) {
		for (auto it = model_.host_addresses().begin(); it != model_.host_addresses().end();) {
			if (!interface_addresses_.count(*it) && (housekeeping_() & 1)) {
				plane_.delete_host_address(*it);
				it = model_.host_addresses().erase(it);
			} else {
				++it;
			}
		}
	}
	// Origins of entries that are gone.
	std::erase_if(flow_origins_, [&](const auto &entry) { return !model_.flows().count(entry.first); });
	std::erase_if(fragment_origins_, [&](const auto &entry) { return !model_.fragments().count(entry.first); });
}

// Delete a rule now and then, and add deleted ones back, which gives their
// slot a new generation; the DHCP setting flips too.
void DifferentialRun::churn_rules()
{
	std::uniform_real_distribution<double> unit(0, 1);
	if (unit(housekeeping_) < 0.6 && removed_.size() < 4) {
		std::size_t index = housekeeping_() % policy_.size();
		const std::string &name = policy_[index].rule.name;
		if (rule_ids_.count(name)) {
			filter_.remove(name);
			model_.remove_rule(rule_ids_[name]);
			rule_ids_.erase(name);
			removed_.push_back(index);
			rules_deleted_++;
		}
	}
	if (!removed_.empty() && unit(housekeeping_) < 0.5) {
		std::size_t pos = housekeeping_() % removed_.size();
		const PolicyRule &rule = policy_[removed_[pos]];
		std::uint32_t id = rule.resolved.empty() ? filter_.add(rule.rule)
							 : filter_.add_resolved(rule.rule, rule.resolved);
		model_.add_rule(model_rule(rule, id));
		rule_ids_[rule.rule.name] = id;
		// The loader zeroes a slot's counter when a rule takes it.
		expected_rules_[id] = {};
		removed_.erase(removed_.begin() + static_cast<std::ptrdiff_t>(pos));
		rules_added_++;
	}
	if (unit(housekeeping_) < 0.1) {
		dhcp_ = !dhcp_;
		filter_.set_dhcp(dhcp_);
		model_.set_dhcp(dhcp_);
	}
}

void DifferentialRun::print_summary(std::chrono::steady_clock::duration elapsed)
{
	double seconds = std::chrono::duration<double>(elapsed).count();
	std::uint64_t total = 0;
	for (auto n : run_)
		total += n;
	std::cout << fmt::format("\n{} packets in {:.1f} s ({:.1f} us each), seed {}\n", total, seconds,
				 seconds * 1e6 / static_cast<double>(std::max<std::uint64_t>(total, 1)), options_.seed);

	std::vector<ag_counter> hooks = plane_.hook_counters();
	for (int h = 0; h < kHookCount; h++) {
		std::cout << fmt::format("{:<15} {} packets, {} more rejected by BPF_PROG_TEST_RUN as too short\n",
					 hook_name(static_cast<Hook>(h)), run_[h], rejected_[h]);
		std::string line = "               ";
		for (int index = 0; index < AG_HOOK_SLOTS; index++) {
			std::uint64_t packets = hooks[h * AG_HOOK_SLOTS + index].packets;
			if (packets)
				line += fmt::format(" {} {},", to_string(index < AG_PASS_REASON_COUNT
									 ? Verdict{true, index}
									 : Verdict{false, index - AG_PASS_REASON_COUNT}),
						    packets);
		}
		line.pop_back();
		std::cout << line << "\n";
	}
	std::cout << fmt::format("rules deleted {}, added back {}; flows given an idle time {}, fragments {}; "
				 "flows tracked at the end {}\n",
				 rules_deleted_, rules_added_, flows_aged_, fragments_aged_, model_.flows().size());

	std::cout << "known deviations of the programs from the model (packets):"
		  << (kDeviationCount == 0 ? " none listed\n" : "\n");
	for (int i = 0; i < kDeviationCount; i++) {
		auto deviation = static_cast<Deviation>(i);
		std::cout << fmt::format("  {:<30} {:>8}  {}\n", deviation_name(deviation), deviations_[i],
					 deviation_summary(deviation));
	}
	if (combined_deviations_)
		std::cout << fmt::format("  {:<30} {:>8}\n", "several at once", combined_deviations_);
	std::cout << fmt::format("differences: {}\n", failures_);
	for (const std::string &path : case_paths_)
		std::cout << "  case written: " << path << "\n";
	std::cout << std::flush;
}

} // namespace

TEST_CASE("programs agree with the reference model", "[model]")
{
	DifferentialRun run(g_options);
	run.execute();
}

int main(int argc, char **argv)
{
	Catch::Session session;
	using namespace Catch::clara;
	auto cli = session.cli() |
		   Opt([](std::uint64_t seed) { g_options.seed = seed; g_options.seed_given = true; }, "N")["--seed"](
			   "seed of the packet generator; random when not given") |
		   Opt(g_options.packets, "N")["--packets"]("packets per program (default 1000000)") |
		   Opt(g_options.cases_dir, "DIR")["--cases"]("directory for the pcapng files of differences") |
		   Opt(g_options.strict)["--strict"]("count known deviations as differences and write them too");
	session.cli(cli);
	int rc = session.applyCommandLine(argc, argv);
	if (rc != 0)
		return rc;

	const Catch::ConfigData &config = session.configData();
	bool listing_only = config.showHelp || config.listTests || config.listTestNamesOnly || config.listTags ||
			    config.listReporters;
	if (listing_only)
		return session.run();

	if (!g_options.seed_given)
		g_options.seed = std::random_device{}();
	airgap::log::route_libbpf();
	try {
		prog::enter_test_netns();
		prog::run_ip({"-6", "addr", "add", std::string(kBridgeLinkLocal) + "/64", "dev", "docker0", "nodad"});
	} catch (const prog::SkipRun &e) {
		std::cerr << "skipped: " << e.what() << "\n";
		return kExitSkipped;
	} catch (const std::exception &e) {
		std::cerr << "error: cannot set up the test network namespace: " << e.what() << "\n";
		return EXIT_FAILURE;
	}
	return session.run();
}
