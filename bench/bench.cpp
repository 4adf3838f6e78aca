#include "bench/bench.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "loader/error.hpp"
#include "loader/unique_fd.hpp"

namespace bench {
namespace {

airgap::Rule rule_at(std::uint32_t k)
{
	airgap::Rule rule;
	switch (k) {
	case 0:
		rule.kind = airgap::RuleKind::allow_out;
		rule.proto = 6;
		rule.port = kRelayPort;
		rule.peer = airgap::Prefix::parse(kRelay);
		rule.name = "relay-api";
		break;
	case 1:
		rule.kind = airgap::RuleKind::allow_out;
		rule.proto = 17;
		rule.port = kRelayUdpPort;
		rule.peer = airgap::Prefix::parse(kRelay);
		rule.name = "relay-data";
		break;
	case 2:
		rule.kind = airgap::RuleKind::forward;
		rule.proto = 6;
		rule.port = kForwardPort;
		rule.peer = airgap::Prefix::parse(kForwarded);
		rule.name = "billing-db";
		break;
	default: {
		std::uint32_t i = k - kFixedRules;
		rule.kind = airgap::RuleKind::allow_in;
		rule.proto = 6;
		rule.port = kAllowInPort;
		rule.peer = airgap::Prefix::parse(ipv4_text(allow_in_address(i)));
		rule.name = fmt::format("in-{}", i);
		break;
	}
	}
	return rule;
}

} // namespace

std::uint32_t allow_in_address(std::uint32_t i)
{
	return (172u << 24 | 16u << 16) + 2 + 2 * i;
}

std::vector<airgap::Rule> rule_set(std::uint32_t count)
{
	std::vector<airgap::Rule> rules;
	rules.reserve(count);
	for (std::uint32_t k = 0; k < count; k++)
		rules.push_back(rule_at(k));
	return rules;
}

int open_live_trie(int rules_fd)
{
	std::uint32_t zero = 0;
	std::uint32_t trie_id = 0;
	if (bpf_map_lookup_elem(rules_fd, &zero, &trie_id))
		airgap::fail("cannot read slot 0 of ag_rules: {}", airgap::errno_text(errno));
	int fd = bpf_map_get_fd_by_id(trie_id);
	if (fd < 0)
		airgap::fail("cannot open rule trie map id {}: {}", trie_id, airgap::errno_text(errno));
	return fd;
}

void write_rules(const airgap::FilterMaps::Fds &fds, std::uint32_t from, std::uint32_t to)
{
	airgap::UniqueFd trie(open_live_trie(fds.rules));
	for (std::uint32_t k = from; k < to; k++) {
		airgap::Rule rule = rule_at(k);
		ag_rule_info old{};
		if (bpf_map_lookup_elem(fds.rule_table, &k, &old))
			airgap::fail("cannot read slot {} of ag_rule_table: {}", k, airgap::errno_text(errno));
		if (old.kind != 0)
			airgap::fail("slot {} of ag_rule_table is taken", k);
		std::uint32_t gen = old.gen + 1;
		ag_rule_info info = rule.map_info(gen);
		if (bpf_map_update_elem(fds.rule_table, &k, &info, BPF_ANY))
			airgap::fail("cannot write slot {} of ag_rule_table: {}", k, airgap::errno_text(errno));
		ag_rule_key key = rule.map_key(rule.peer);
		ag_rule_ref ref{k, gen};
		if (bpf_map_update_elem(trie.get(), &key, &ref, BPF_NOEXIST))
			airgap::fail("cannot add {} to the rule trie: {}", rule.describe(), airgap::errno_text(errno));
	}
}

RunResult test_run(const TestRun &run, std::uint32_t repeat)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__sk_buff skb{};
	if (run.tc) {
		skb.ifindex = run.ifindex;
		skb.ingress_ifindex = run.ingress_ifindex;
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
	}
	opts.data_in = run.data.data();
	opts.data_size_in = static_cast<std::uint32_t>(run.data.size());
	opts.repeat = repeat;
	if (bpf_prog_test_run_opts(run.prog_fd, &opts))
		airgap::fail("BPF_PROG_TEST_RUN failed: {}", airgap::errno_text(errno));
	return {opts.retval, opts.duration};
}

double now_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void pin_to_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		airgap::fail("cannot pin to CPU {}: {}", cpu, airgap::errno_text(errno));
}

void emit(const std::string &json_object)
{
	std::fputs(json_object.c_str(), stdout);
	std::fputc('\n', stdout);
	std::fflush(stdout);
}

} // namespace bench
