#include "harness.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "loader/address.hpp"
#include "loader/counter_names.hpp"
#include "loader/error.hpp"
#include "loader/interfaces.hpp"
#include "loader/resolve.hpp"

extern char **environ;

namespace prog {
namespace {

// BPF_PROG_TEST_RUN rejected the input itself (EINVAL).
struct RunRejected : std::runtime_error {
	using std::runtime_error::runtime_error;
};

std::uint32_t g_uplink_ifindex = 0;
std::uint32_t g_bridge_ifindex = 0;

void run_ip_command(std::vector<std::string> args)
{
	args.insert(args.begin(), "ip");
	std::vector<char *> argv;
	for (auto &arg : args)
		argv.push_back(arg.data());
	argv.push_back(nullptr);

	std::string command;
	for (auto &arg : args)
		command += (command.empty() ? "" : " ") + arg;

	pid_t pid;
	int err = posix_spawnp(&pid, "ip", nullptr, nullptr, argv.data(), environ);
	if (err)
		throw std::runtime_error("cannot run '" + command + "': " + std::strerror(err) +
					 "; the test needs iproute2's ip");
	int status = 0;
	if (waitpid(pid, &status, 0) < 0)
		throw std::runtime_error("cannot wait for '" + command + "': " + std::strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		throw std::runtime_error("'" + command + "' failed in the test namespace");
}

void write_sysctl(const std::string &path, const std::string &value)
{
	std::ofstream out(path);
	out << value;
	out.flush();
	if (!out)
		throw std::runtime_error("cannot write " + value + " to " + path);
}

std::uint32_t ifindex_of(const char *name)
{
	unsigned index = if_nametoindex(name);
	if (index == 0)
		throw std::runtime_error(std::string("interface ") + name + " is missing: " + std::strerror(errno));
	return index;
}

ag_hook hook_index(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return AG_HOOK_UPLINK_XDP;
	case Hook::uplink_egress:
		return AG_HOOK_UPLINK_EGRESS;
	case Hook::bridge_ingress:
		return AG_HOOK_BRIDGE_INGRESS;
	case Hook::bridge_egress:
		return AG_HOOK_BRIDGE_EGRESS;
	}
	throw std::logic_error("unknown hook");
}

const char *hook_name(Hook hook)
{
	switch (hook) {
	case Hook::uplink_xdp:
		return "uplink-xdp";
	case Hook::uplink_egress:
		return "uplink-egress";
	case Hook::bridge_ingress:
		return "bridge-ingress";
	case Hook::bridge_egress:
		return "bridge-egress";
	}
	return "unknown";
}

std::string pass_reason_name(int reason)
{
	return airgap::pass_reason_name(static_cast<unsigned>(reason));
}

std::string drop_reason_name(int reason)
{
	return airgap::drop_reason_name(static_cast<unsigned>(reason));
}

int slot_of(Hook hook, const Verdict &verdict)
{
	return verdict.pass ? AG_PASS_SLOT(hook_index(hook), verdict.reason)
			    : AG_DROP_SLOT(hook_index(hook), verdict.reason);
}

// "uplink-egress drop no-rule" for a slot of ag_hook_stats.
std::string slot_name(int slot)
{
	int hook = slot / AG_HOOK_SLOTS;
	int index = slot % AG_HOOK_SLOTS;
	static const char *const hooks[] = {"uplink-xdp", "uplink-egress", "bridge-ingress", "bridge-egress"};
	std::string name = hook < AG_HOOK_COUNT ? hooks[hook] : "hook?";
	if (index < AG_PASS_REASON_COUNT)
		return name + " pass " + pass_reason_name(index);
	return name + " drop " + drop_reason_name(index - AG_PASS_REASON_COUNT);
}

std::string verdict_name(Hook hook, std::uint32_t retval)
{
	if (hook == Hook::uplink_xdp) {
		switch (retval) {
		case XDP_PASS:
			return "XDP_PASS";
		case XDP_DROP:
			return "XDP_DROP";
		}
	} else {
		switch (retval) {
		case TC_ACT_OK:
			return "TC_ACT_OK";
		case TC_ACT_SHOT:
			return "TC_ACT_SHOT";
		case static_cast<std::uint32_t>(TC_ACT_UNSPEC):
			return "TC_ACT_UNSPEC";
		}
	}
	return "return code " + std::to_string(retval);
}

// The programs return XDP_PASS/XDP_DROP, and TC_ACT_UNSPEC/TC_ACT_SHOT so
// that a pass lets filters of other tools after this one still run.
std::uint32_t expected_retval(Hook hook, bool pass)
{
	if (hook == Hook::uplink_xdp)
		return pass ? XDP_PASS : XDP_DROP;
	return pass ? static_cast<std::uint32_t>(TC_ACT_UNSPEC) : TC_ACT_SHOT;
}

std::uint32_t run_program(int prog_fd, Hook hook, const Bytes &packet, const Context &ctx)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	Bytes data;
	xdp_md xdp{};
	__sk_buff skb{};

	if (hook == Hook::uplink_xdp) {
		data.assign(ctx.xdp_meta_len, 0);
		data.insert(data.end(), packet.begin(), packet.end());
		// The uplink as the receiving device, which the FIB lookup uses.
		xdp.data = ctx.xdp_meta_len;
		xdp.data_end = static_cast<std::uint32_t>(data.size());
		xdp.ingress_ifindex = g_uplink_ifindex;
		opts.ctx_in = &xdp;
		opts.ctx_size_in = sizeof(xdp);
	} else {
		data = packet;
		// ifindex sets skb->dev, which the bridge-ingress FIB lookup uses,
		// and ingress_ifindex becomes skb->skb_iif.
		bool on_bridge = hook == Hook::bridge_ingress || hook == Hook::bridge_egress;
		skb.ifindex = on_bridge ? g_bridge_ifindex : g_uplink_ifindex;
		switch (ctx.sender) {
		case Sender::host:
			skb.ingress_ifindex = 0;
			break;
		case Sender::bridge:
			skb.ingress_ifindex = g_bridge_ifindex;
			break;
		case Sender::uplink:
			skb.ingress_ifindex = g_uplink_ifindex;
			break;
		}
		opts.ctx_in = &skb;
		opts.ctx_size_in = sizeof(skb);
	}
	opts.data_in = data.data();
	opts.data_size_in = static_cast<std::uint32_t>(data.size());

	if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
		if (errno == EINVAL)
			throw RunRejected(std::string("BPF_PROG_TEST_RUN of ") + hook_name(hook) +
					  " rejected the input: " + airgap::errno_text(errno));
		throw std::runtime_error(std::string("BPF_PROG_TEST_RUN of ") + hook_name(hook) +
					 " failed: " + airgap::errno_text(errno));
	}
	return opts.retval;
}

std::map<std::string, ag_counter> rule_counters_by_name(const airgap::FilterMaps &maps)
{
	std::map<std::string, ag_counter> out;
	for (auto &counter : maps.rule_counters())
		out[counter.rule.rule.name] = counter.counter;
	return out;
}

std::string counter_text(const ag_counter &delta)
{
	return fmt::format("+{} packets/+{} bytes", delta.packets, delta.bytes);
}

struct Observation {
	std::uint32_t retval = 0;
	std::map<int, ag_counter> slots;         // hook counter slots that moved, by how much
	std::map<std::string, ag_counter> rules; // rule counters that moved
	long flows = 0;

	std::string describe(Hook hook) const
	{
		std::string text = "verdict " + verdict_name(hook, retval) + ", counters [";
		bool first = true;
		for (auto &[slot, delta] : slots) {
			text += (first ? "" : ", ") + slot_name(slot) + " " + counter_text(delta);
			first = false;
		}
		text += "], rules [";
		first = true;
		for (auto &[name, delta] : rules) {
			text += (first ? "" : ", ") + name + " " + counter_text(delta);
			first = false;
		}
		return text + fmt::format("], flows {:+}", flows);
	}
};

Observation expected_observation(const Case &row)
{
	Observation out;
	std::uint64_t len = row.packet.size();
	out.retval = expected_retval(row.hook, row.expect.pass);
	out.slots[slot_of(row.hook, row.expect)] = ag_counter{1, len};
	if (!row.rule.empty())
		out.rules[row.rule] = ag_counter{1, len};
	out.flows = row.flows;
	return out;
}

Observation observe(Filter &filter, const Case &row)
{
	airgap::FilterMaps &maps = filter.maps();
	airgap::HookCounters hooks_before = maps.hook_counters();
	auto rules_before = rule_counters_by_name(maps);
	long flows_before = static_cast<long>(maps.flow_count());

	Observation out;
	out.retval = run_program(filter.program(row.hook), row.hook, row.packet, row.ctx);

	airgap::HookCounters hooks_after = maps.hook_counters();
	for (int slot = 0; slot < AG_HOOK_STATS_LEN; slot++) {
		ag_counter delta{hooks_after[slot].packets - hooks_before[slot].packets,
				 hooks_after[slot].bytes - hooks_before[slot].bytes};
		if (delta.packets || delta.bytes)
			out.slots[slot] = delta;
	}
	for (auto &[name, after] : rule_counters_by_name(maps)) {
		ag_counter before = rules_before.count(name) ? rules_before[name] : ag_counter{};
		ag_counter delta{after.packets - before.packets, after.bytes - before.bytes};
		if (delta.packets || delta.bytes)
			out.rules[name] = delta;
	}
	out.flows = static_cast<long>(maps.flow_count()) - flows_before;
	return out;
}

bool same_counters(const std::map<int, ag_counter> &a, const std::map<int, ag_counter> &b)
{
	if (a.size() != b.size())
		return false;
	for (auto &[slot, delta] : a) {
		auto it = b.find(slot);
		if (it == b.end() || it->second.packets != delta.packets || it->second.bytes != delta.bytes)
			return false;
	}
	return true;
}

bool same_counters(const std::map<std::string, ag_counter> &a, const std::map<std::string, ag_counter> &b)
{
	if (a.size() != b.size())
		return false;
	for (auto &[name, delta] : a) {
		auto it = b.find(name);
		if (it == b.end() || it->second.packets != delta.packets || it->second.bytes != delta.bytes)
			return false;
	}
	return true;
}

} // namespace

void enter_test_netns()
{
	if (unshare(CLONE_NEWNET) != 0) {
		if (errno == EPERM)
			throw SkipRun("entering a new network namespace needs CAP_SYS_ADMIN; run as root");
		throw std::runtime_error(std::string("unshare(CLONE_NEWNET) failed: ") + std::strerror(errno));
	}

	run_ip_command({"link", "set", "lo", "up"});
	// A veth pair rather than a dummy device, which not every kernel has.
	run_ip_command({"link", "add", "wan0", "type", "veth", "peer", "name", "wan0-peer"});
	run_ip_command({"link", "set", "wan0-peer", "up"});
	run_ip_command({"addr", "add", "198.51.100.2/24", "dev", "wan0"});
	run_ip_command({"-6", "addr", "add", "2001:db8::2/64", "dev", "wan0", "nodad"});
	run_ip_command({"link", "set", "wan0", "up"});
	run_ip_command({"route", "add", "default", "via", kGateway, "dev", "wan0"});
	run_ip_command({"-6", "route", "add", "default", "via", kGateway6, "dev", "wan0"});
	run_ip_command({"link", "add", "docker0", "type", "bridge"});
	run_ip_command({"addr", "add", "172.17.0.1/16", "dev", "docker0"});
	run_ip_command({"-6", "addr", "add", "2001:db8:1::1/64", "dev", "docker0", "nodad"});
	run_ip_command({"link", "set", "docker0", "up"});
	// Docker turns forwarding on. Without it every FIB lookup from the
	// bridge returns "forwarding disabled", whatever the destination.
	write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");

	g_uplink_ifindex = ifindex_of("wan0");
	g_bridge_ifindex = ifindex_of("docker0");
}

void run_ip(std::vector<std::string> args)
{
	run_ip_command(std::move(args));
}

std::uint32_t uplink_ifindex()
{
	return g_uplink_ifindex;
}

std::uint32_t bridge_ifindex()
{
	return g_bridge_ifindex;
}

// Maps far smaller than the defaults: every test case loads its own filter,
// and creating the default flow table (a preallocated LRU hash) dominates
// the run time, above all in the kernel gate's emulated machine.
static airgap::ProgramOptions test_program_options()
{
	airgap::ProgramOptions options;
	options.max_rules = 256;
	options.max_flows = 1024;
	return options;
}

Filter::Filter()
	: programs_(airgap::Programs::load(test_program_options())),
	  maps_(airgap::FilterMaps::from_fds(programs_.map_fds())), flows_fd_(programs_.map_fds().flows)
{
	// As load does: the test namespace's addresses are the host's.
	maps_.add_host_addresses(airgap::interface_addresses());
}

int Filter::program(Hook hook) const
{
	airgap::ProgramFds fds = programs_.fds();
	switch (hook) {
	case Hook::uplink_xdp:
		return fds.uplink_xdp;
	case Hook::uplink_egress:
		return fds.uplink_egress;
	case Hook::bridge_ingress:
		return fds.bridge_ingress;
	case Hook::bridge_egress:
		return fds.bridge_egress;
	}
	throw std::logic_error("unknown hook");
}

std::uint32_t Filter::add(const airgap::Rule &rule)
{
	if (!rule.host.empty())
		throw std::logic_error("give the addresses of host-name rule " + rule.name + " to add_resolved()");
	return maps_.add_rule(airgap::resolve_rule(rule));
}

std::uint32_t Filter::add_resolved(const airgap::Rule &rule, const std::vector<const char *> &addresses)
{
	airgap::ResolvedRule resolved{rule, {}};
	for (const char *address : addresses)
		resolved.addresses.push_back(airgap::Prefix::parse(address));
	return maps_.add_rule(resolved);
}

void Filter::replace(const std::vector<airgap::Rule> &rules)
{
	maps_.replace_rules(airgap::resolve_rules(rules));
}

void Filter::remove(std::string_view name)
{
	auto live = maps_.find_rule(name);
	if (!live)
		throw std::runtime_error("no rule named " + std::string(name) + " to remove");
	maps_.delete_rule(*live);
}

void Filter::set_dhcp(bool enabled)
{
	ag_settings settings = maps_.settings();
	settings.flags = enabled ? settings.flags | AG_SETTING_DHCP : settings.flags & ~AG_SETTING_DHCP;
	maps_.set_settings(settings);
}

std::optional<ag_flow> Filter::flow(const ag_flow_key &key) const
{
	ag_flow value{};
	if (bpf_map_lookup_elem(flows_fd_, &key, &value) != 0)
		return std::nullopt;
	return value;
}

void Filter::set_flow(const ag_flow_key &key, const ag_flow &value)
{
	if (bpf_map_update_elem(flows_fd_, &key, &value, BPF_EXIST) != 0)
		throw std::runtime_error("cannot update a flow: " + airgap::errno_text(errno));
}

Case kernel_may_reject(Case row)
{
	row.kernel_may_reject = true;
	return row;
}

static airgap::Rule make_rule(airgap::RuleKind kind, const char *name, const char *proto, const char *port,
			      const char *peer)
{
	airgap::Rule rule;
	rule.kind = kind;
	rule.proto = airgap::parse_protocol(proto);
	rule.port = airgap::parse_port(port);
	rule.name = std::string(name);
	airgap::parse_peer(peer, rule);
	return rule;
}

airgap::Rule allow_out(const char *name, const char *proto, const char *port, const char *to)
{
	return make_rule(airgap::RuleKind::allow_out, name, proto, port, to);
}

airgap::Rule allow_in(const char *name, const char *proto, const char *port, const char *from)
{
	return make_rule(airgap::RuleKind::allow_in, name, proto, port, from);
}

airgap::Rule forward(const char *name, const char *proto, const char *port, const char *from)
{
	return make_rule(airgap::RuleKind::forward, name, proto, port, from);
}

ag_flow_key flow_key(std::uint8_t proto, const char *local, std::uint16_t local_port, const char *remote,
		     std::uint16_t remote_port, std::uint8_t zone)
{
	ag_flow_key key{};
	airgap::Prefix local_addr = airgap::Prefix::parse(local);
	airgap::Prefix remote_addr = airgap::Prefix::parse(remote);
	std::memcpy(key.local, local_addr.addr.data(), sizeof(key.local));
	std::memcpy(key.remote, remote_addr.addr.data(), sizeof(key.remote));
	key.local_port = htons(local_port);
	key.remote_port = htons(remote_port);
	key.proto = proto;
	key.zone = zone;
	return key;
}

// A heading with the Catch2 test case's name before its first row.
static void print_heading()
{
	static std::string last;
	std::string name = Catch::getResultCapture().getCurrentTestName();
	if (name != last) {
		std::cout << "\n" << name << "\n";
		last = name;
	}
}

static void print_row(const char *status, const Case &row, const std::string &detail = {})
{
	print_heading();
	std::cout << fmt::format("  {:<5} {:<14} {}\n", status, hook_name(row.hook), row.name);
	if (!detail.empty())
		std::cout << detail;
	std::cout.flush();
}

void run_table(Filter &filter, const std::vector<Case> &cases, Known known)
{
	const bool defect = known == Known::defect;
	for (const Case &row : cases) {
		Observation expected = expected_observation(row);
		Observation actual;
		try {
			actual = observe(filter, row);
		} catch (const RunRejected &e) {
			if (row.kernel_may_reject) {
				print_row("skip", row, "        this kernel's BPF_PROG_TEST_RUN rejects input this short\n");
				WARN(hook_name(row.hook) << ": " << row.name << ": skipped, the kernel rejects input this short");
				continue;
			}
			print_row(defect ? "xfail" : "FAIL", row, fmt::format("        error: {}\n", e.what()));
			FAIL_CHECK(std::string(hook_name(row.hook)) + ": " + row.name + ": " + e.what());
			continue;
		} catch (const std::exception &e) {
			print_row(defect ? "xfail" : "FAIL", row, fmt::format("        error: {}\n", e.what()));
			FAIL_CHECK(std::string(hook_name(row.hook)) + ": " + row.name + ": " + e.what());
			continue;
		}

		bool verdict_ok = actual.retval == expected.retval;
		bool slots_ok = same_counters(actual.slots, expected.slots);
		bool rules_ok = same_counters(actual.rules, expected.rules);
		bool flows_ok = actual.flows == expected.flows;
		bool ok = verdict_ok && slots_ok && rules_ok && flows_ok;

		const char *status;
		if (ok)
			status = defect ? "XPASS" : "ok";
		else
			status = defect ? "xfail" : "FAIL";
		std::string detail;
		if (!ok)
			detail = fmt::format("        expected: {}\n        actual:   {}\n", expected.describe(row.hook),
					     actual.describe(row.hook));
		print_row(status, row, detail);

		INFO(hook_name(row.hook) << ": " << row.name << "\n  expected: " << expected.describe(row.hook)
					 << "\n  actual:   " << actual.describe(row.hook));
		CHECK(verdict_ok);
		CHECK(slots_ok);
		CHECK(rules_ok);
		CHECK(flows_ok);
	}
}

} // namespace prog
