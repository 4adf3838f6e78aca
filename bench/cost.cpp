// Per-packet cost: every program on every packet class through
// BPF_PROG_TEST_RUN, at growing rule counts and with a full flow table.
#include "bench/cost.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "bench/xdp_filter.hpp"
#include "bench_bpf.skel.h"
#include "loader/error.hpp"
#include "loader/interfaces.hpp"
#include "loader/programs.hpp"
#include "probe_bpf.skel.h"

namespace bench {
namespace {

constexpr std::uint32_t kPass = XDP_PASS;
constexpr std::uint32_t kDrop = XDP_DROP;
constexpr std::uint32_t kTcPass = static_cast<std::uint32_t>(TC_ACT_UNSPEC);
constexpr std::uint32_t kTcDrop = TC_ACT_SHOT;

std::uint32_t ifindex_of(const char *name)
{
	std::uint32_t index = if_nametoindex(name);
	if (!index)
		airgap::fail("interface {} not found: {}; run the cost benchmark through bench/run.sh, which "
			     "creates it in a namespace",
			     name, airgap::errno_text(errno));
	return index;
}

std::string ns_list(const std::vector<double> &values)
{
	std::string out = "[";
	for (std::size_t i = 0; i < values.size(); i++)
		out += fmt::format("{}{:.2f}", i ? "," : "", values[i]);
	return out + "]";
}

// A packet class and how the kernel must judge it.
struct Case {
	std::string prog;
	std::string cls;
	TestRun run;
	std::uint32_t expect;
	// When set, each repetition is a new flow: the packet is rebuilt with
	// another source port per run, one run per BPF_PROG_TEST_RUN call.
	std::function<std::vector<std::uint8_t>(std::uint32_t)> distinct;
};

struct Unloaders {
	void operator()(bench_bpf *skel) const { bench_bpf__destroy(skel); }
	void operator()(probe_bpf *skel) const { probe_bpf__destroy(skel); }
};

class CostBench {
public:
	explicit CostBench(const CostOptions &options);
	void run();

private:
	void grow_to(std::uint32_t rules);
	void reset_flows();
	void fill_flows();
	std::vector<Case> cases();
	void measure(const Case &c, const std::string &column, std::uint32_t rules);
	void check(const Case &c);

	CostOptions options_;
	std::uint32_t wan_ = 0;
	std::uint32_t bridge_ = 0;
	airgap::Programs programs_;
	airgap::FilterMaps::Fds fds_;
	std::unique_ptr<bench_bpf, Unloaders> refs_;
	std::unique_ptr<probe_bpf, Unloaders> probes_;
	XdpFilter xdp_filter_;
	std::uint32_t rules_ = 0;
	std::uint32_t mid_rule_ = 0;
};

airgap::Programs load_filter(const CostOptions &options)
{
	airgap::ProgramOptions program_options;
	program_options.max_rules = options.max_rules;
	program_options.max_flows = options.max_flows;
	return airgap::Programs::load(program_options);
}

std::unique_ptr<probe_bpf, Unloaders> load_probes(const airgap::FilterMaps::Fds &fds)
{
	std::unique_ptr<probe_bpf, Unloaders> skel(probe_bpf__open());
	if (!skel)
		airgap::fail("cannot open the probe programs: {}", airgap::errno_text(errno));
	bpf_map *map;
	bpf_object__for_each_map(map, skel->obj)
	{
		bpf_map__set_pin_path(map, nullptr);
	}
	// The probes read the filter's own maps, so that they walk the same
	// trie and flow table as the filter does.
	auto reuse = [](bpf_map *m, int fd) {
		if (int err = bpf_map__reuse_fd(m, fd))
			airgap::fail("cannot reuse map {} for the probes: {}", bpf_map__name(m), airgap::errno_text(err));
	};
	reuse(skel->maps.ag_rules, fds.rules);
	reuse(skel->maps.ag_rule_table, fds.rule_table);
	reuse(skel->maps.ag_rule_stats, fds.rule_stats);
	reuse(skel->maps.ag_hook_stats, fds.hook_stats);
	reuse(skel->maps.ag_flows, fds.flows);
	reuse(skel->maps.ag_settings, fds.settings);
	if (int err = probe_bpf__load(skel.get()))
		airgap::fail("cannot load the probe programs: {}", airgap::errno_text(err));
	return skel;
}

CostBench::CostBench(const CostOptions &options)
	: options_(options), wan_(ifindex_of("wan0")), bridge_(ifindex_of("docker0")),
	  programs_(load_filter(options)), fds_(programs_.map_fds()),
	  xdp_filter_(XdpFilter::load(options.xdp_filter_object, options.columns.back()))
{
	refs_.reset(bench_bpf__open_and_load());
	if (!refs_)
		airgap::fail("cannot load the reference programs: {}", airgap::errno_text(errno));
	probes_ = load_probes(fds_);
	xdp_filter_.allow_source(ntohl(parse_ipv4(kRelay)));
	// As load does: the namespace's addresses are the host's.
	airgap::FilterMaps::from_fds(fds_).add_host_addresses(airgap::interface_addresses());
}

void CostBench::grow_to(std::uint32_t rules)
{
	if (rules < kFixedRules + 2)
		airgap::fail("a column needs at least {} rules", kFixedRules + 2);
	write_rules(fds_, rules_, rules);
	std::uint32_t allow_in_before = rules_ > kFixedRules ? rules_ - kFixedRules : 0;
	xdp_filter_.allow_sources(allow_in_before, rules - kFixedRules);
	rules_ = rules;
	mid_rule_ = (rules - kFixedRules) / 2;
}

void CostBench::reset_flows()
{
	ag_flow_key key{};
	while (bpf_map_get_next_key(fds_.flows, nullptr, &key) == 0) {
		if (bpf_map_delete_elem(fds_.flows, &key))
			airgap::fail("cannot delete a flow: {}", airgap::errno_text(errno));
	}
}

// Fill the flow table to its size with flows of the relay rule, so that
// lookups run on a full LRU table and every new flow evicts an old one.
void CostBench::fill_flows()
{
	ag_rule_info relay{};
	std::uint32_t relay_id = 0;
	if (bpf_map_lookup_elem(fds_.rule_table, &relay_id, &relay))
		airgap::fail("cannot read rule slot 0: {}", airgap::errno_text(errno));
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	ag_flow flow{};
	flow.last_seen_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
	flow.rule_id = relay_id;
	flow.rule_gen = relay.gen;

	ag_flow_key key{};
	key.local[2] = htonl(0xffff);
	key.local[3] = parse_ipv4(kHost);
	key.remote[2] = htonl(0xffff);
	key.proto = 6;
	for (std::uint32_t i = 0; i < options_.max_flows; i++) {
		key.remote[3] = htonl((203u << 24 | 0u << 16 | 113u << 8) + (i >> 16) % 256);
		key.remote_port = htons(443);
		key.local_port = htons(static_cast<std::uint16_t>(i));
		if (bpf_map_update_elem(fds_.flows, &key, &flow, BPF_ANY))
			airgap::fail("cannot add flow {}: {}", i, airgap::errno_text(errno));
	}
}

std::vector<Case> CostBench::cases()
{
	std::uint32_t host = parse_ipv4(kHost);
	std::uint32_t relay = parse_ipv4(kRelay);
	std::uint32_t elsewhere = parse_ipv4(kElsewhere);
	std::uint32_t allowed_src = htonl(allow_in_address(mid_rule_));
	std::uint32_t near_src = htonl(allow_in_address(mid_rule_) + 1);
	std::uint32_t bridge_addr = parse_ipv4(kBridgeAddr);
	std::uint32_t forwarded = parse_ipv4(kForwarded);
	std::uint32_t container = parse_ipv4(kContainer);

	auto frame = [](std::uint32_t s, std::uint32_t d, std::uint16_t sp, std::uint16_t dp, std::uint8_t proto,
			std::uint8_t flags = 0x02, std::uint16_t claimed = 0) {
		Frame4 f;
		f.saddr = s;
		f.daddr = d;
		f.sport = sp;
		f.dport = dp;
		f.proto = proto;
		f.tcp_flags = flags;
		f.claimed_ip_len = claimed;
		return build_frame(f);
	};
	auto xdp = [](int fd, std::vector<std::uint8_t> data) {
		TestRun r;
		r.prog_fd = fd;
		r.data = std::move(data);
		return r;
	};
	auto tc = [](int fd, std::vector<std::uint8_t> data, std::uint32_t ifindex, std::uint32_t ingress) {
		TestRun r;
		r.prog_fd = fd;
		r.data = std::move(data);
		r.tc = true;
		r.ifindex = ifindex;
		r.ingress_ifindex = ingress;
		return r;
	};

	auto reply = frame(relay, host, kRelayPort, kHostPort, 6, 0x10);
	auto inbound_new = [=](std::uint32_t n) {
		return frame(allowed_src, host, static_cast<std::uint16_t>(1024 + n % 60000), kAllowInPort, 6);
	};
	auto flood = frame(elsewhere, host, 7, kFloodPort, 17);
	auto near = frame(near_src, host, 50000, kAllowInPort, 6);
	auto malformed = frame(elsewhere, host, 7, kFloodPort, 17, 0, 1500);
	auto outbound_ack = frame(host, relay, kHostPort, kRelayPort, 6, 0x10);
	auto outbound_new = [=](std::uint32_t n) {
		return frame(host, relay, static_cast<std::uint16_t>(1024 + n % 60000), kRelayPort, 6);
	};
	auto outbound_drop = frame(host, elsewhere, kHostPort + 1, kFloodPort, 17);
	auto forward = frame(forwarded, bridge_addr, 50000, kForwardPort, 6);
	auto to_internet = frame(container, elsewhere, 50000, kFloodPort, 17);
	auto host_sent = frame(bridge_addr, forwarded, kForwardPort, 50000, 6, 0x12);
	auto routed_in = frame(elsewhere, container, 7, kFloodPort, 17);
	auto routed_malformed = frame(elsewhere, container, 7, kFloodPort, 17, 0, 1500);

	auto fds = programs_.fds();
	int floor_xdp = bpf_program__fd(refs_->progs.bench_xdp_drop);
	int floor_tc = bpf_program__fd(refs_->progs.bench_tc_drop);
	int xf = xdp_filter_.prog_fd();
	auto single_floor = [=](std::uint32_t) { return flood; };

	std::vector<Case> out = {
		{"floor-xdp", "drop", xdp(floor_xdp, flood), kDrop, {}},
		{"floor-xdp", "new", xdp(floor_xdp, flood), kDrop, single_floor},
		{"floor-tc", "drop", tc(floor_tc, flood, wan_, 0), kTcDrop, {}},
		{"floor-tc", "new", tc(floor_tc, flood, wan_, 0), kTcDrop, single_floor},

		{"uplink-xdp", "tracked", xdp(fds.uplink_xdp, reply), kPass, {}},
		{"uplink-xdp", "new", xdp(fds.uplink_xdp, inbound_new(0)), kPass, inbound_new},
		{"uplink-xdp", "drop", xdp(fds.uplink_xdp, flood), kDrop, {}},
		{"uplink-xdp", "drop-near", xdp(fds.uplink_xdp, near), kDrop, {}},
		{"uplink-xdp", "malformed", xdp(fds.uplink_xdp, malformed), kDrop, {}},

		{"xdp-filter", "tracked", xdp(xf, reply), kPass, {}},
		{"xdp-filter", "new", xdp(xf, inbound_new(0)), kPass, inbound_new},
		{"xdp-filter", "drop", xdp(xf, flood), kDrop, {}},
		{"xdp-filter", "drop-near", xdp(xf, near), kDrop, {}},
		{"xdp-filter", "malformed", xdp(xf, malformed), kDrop, {}},

		{"uplink-egress", "tracked", tc(fds.uplink_egress, outbound_ack, wan_, 0), kTcPass, {}},
		{"uplink-egress", "new", tc(fds.uplink_egress, outbound_new(0), wan_, 0), kTcPass, outbound_new},
		{"uplink-egress", "drop", tc(fds.uplink_egress, outbound_drop, wan_, 0), kTcDrop, {}},
		{"uplink-egress", "malformed", tc(fds.uplink_egress, malformed, wan_, 0), kTcDrop, {}},

		{"bridge-ingress", "new", tc(fds.bridge_ingress, forward, bridge_, bridge_), kTcPass, {}},
		{"bridge-ingress", "drop", tc(fds.bridge_ingress, to_internet, bridge_, bridge_), kTcDrop, {}},
		{"bridge-ingress", "malformed", tc(fds.bridge_ingress, malformed, bridge_, bridge_), kTcDrop, {}},

		{"bridge-egress", "new", tc(fds.bridge_egress, host_sent, bridge_, 0), kTcPass, {}},
		{"bridge-egress", "drop", tc(fds.bridge_egress, routed_in, bridge_, wan_), kTcDrop, {}},
		{"bridge-egress", "malformed", tc(fds.bridge_egress, routed_malformed, bridge_, wan_), kTcDrop, {}},
	};

	struct Probe {
		const char *name;
		bpf_program *prog;
	};
	for (auto probe : {Probe{"probe-parse", probes_->progs.probe_parse}, Probe{"probe-flow", probes_->progs.probe_flow},
			   Probe{"probe-rule", probes_->progs.probe_flow_rule},
			   Probe{"probe-rule-once", probes_->progs.probe_flow_rule_once}}) {
		out.push_back({probe.name, "drop", xdp(bpf_program__fd(probe.prog), flood), kDrop, {}});
		out.push_back({probe.name, "drop-near", xdp(bpf_program__fd(probe.prog), near), kDrop, {}});
	}
	return out;
}

void CostBench::check(const Case &c)
{
	RunResult r = test_run(c.run, 1);
	if (r.retval != c.expect)
		airgap::fail("{} on the {} packet returned {}, expected {}: the benchmark would time the wrong path",
			     c.prog, c.cls, static_cast<std::int32_t>(r.retval), static_cast<std::int32_t>(c.expect));
}

void CostBench::measure(const Case &c, const std::string &column, std::uint32_t rules)
{
	std::vector<double> reps;
	if (!c.distinct) {
		check(c);
		test_run(c.run, options_.repeat / 10); // warm-up
		for (std::uint32_t rep = 0; rep < options_.repetitions; rep++)
			reps.push_back(test_run(c.run, options_.repeat).duration_ns);
	} else {
		static std::uint32_t sequence = 0;
		TestRun run = c.run;
		for (std::uint32_t rep = 0; rep < options_.repetitions; rep++) {
			double total = 0;
			for (std::uint32_t i = 0; i < options_.distinct_packets; i++) {
				run.data = c.distinct(sequence++);
				RunResult r = test_run(run, 1);
				if (r.retval != c.expect)
					airgap::fail("{} on a {} packet returned {}, expected {}", c.prog, c.cls,
						     static_cast<std::int32_t>(r.retval), static_cast<std::int32_t>(c.expect));
				total += r.duration_ns;
			}
			reps.push_back(total / options_.distinct_packets);
		}
	}
	emit(fmt::format(R"({{"kind":"cost","prog":"{}","class":"{}","column":"{}","rules":{},"method":"{}","ns":{}}})",
			 c.prog, c.cls, column, rules, c.distinct ? "single" : "repeat", ns_list(reps)));
}

void CostBench::run()
{
	auto fds = programs_.fds();
	std::uint32_t host = parse_ipv4(kHost);
	std::uint32_t relay = parse_ipv4(kRelay);
	Frame4 syn;
	syn.saddr = host;
	syn.daddr = relay;
	syn.sport = kHostPort;
	syn.dport = kRelayPort;
	syn.proto = 6;
	TestRun open_flow;
	open_flow.prog_fd = fds.uplink_egress;
	open_flow.data = build_frame(syn);
	open_flow.tc = true;
	open_flow.ifindex = wan_;

	auto run_column = [&](const std::string &column, bool full_flows) {
		reset_flows();
		if (full_flows)
			fill_flows();
		// The host opens the flow whose packets the tracked classes are.
		if (test_run(open_flow, 1).retval != kTcPass)
			airgap::fail("the uplink egress program dropped the host's SYN to the relay");
		for (auto &c : cases())
			measure(c, column, rules_);
	};

	for (std::uint32_t rules : options_.columns) {
		grow_to(rules);
		run_column(std::to_string(rules), false);
	}
	run_column(fmt::format("{}+full", rules_), true);
}

} // namespace

void run_cost(const CostOptions &options)
{
	pin_to_cpu(options.cpu);
	CostBench bench(options);
	bench.run();
}

} // namespace bench
