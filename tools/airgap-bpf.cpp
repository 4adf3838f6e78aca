// airgap-bpf: load, edit and inspect the air-gap filter.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "loader/bpffs.hpp"
#include "loader/error.hpp"
#include "loader/filter.hpp"
#include "loader/log.hpp"
#include "loader/policy.hpp"
#include "tools/stats_view.hpp"

namespace airgap {
namespace {

struct GlobalOptions {
	int verbose = 0;
	std::string pin_dir = AG_PIN_DIR;
};

// Tests and the demo set AIRGAP_BPF_REQUIRE_NETNS=1 so that a mistake in them
// can never air-gap the machine they run on: the loader then attaches only
// inside a namespace made with 'ip netns add', one listed in /var/run/netns.
void check_network_namespace()
{
	const char *require = std::getenv("AIRGAP_BPF_REQUIRE_NETNS");
	if (!require || std::string_view(require) != "1")
		return;
	struct stat self {};
	if (stat("/proc/self/ns/net", &self))
		fail("cannot read this process's network namespace: {}", errno_text(errno));
	std::error_code ec;
	for (auto &entry : std::filesystem::directory_iterator("/var/run/netns", ec)) {
		struct stat named {};
		if (stat(entry.path().c_str(), &named) == 0 && named.st_ino == self.st_ino &&
		    named.st_dev == self.st_dev)
			return;
	}
	fail("refusing to attach outside a named network namespace (AIRGAP_BPF_REQUIRE_NETNS=1); "
	     "run the loader with 'nsenter --net=/var/run/netns/NAME'");
}

void add_load(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("load", "Load the filter, attach it to the uplink and bridges, and pin it");
	auto uplink = std::make_shared<std::string>();
	auto bridges = std::make_shared<std::vector<std::string>>();
	auto policy_path = std::make_shared<std::string>();
	auto replace = std::make_shared<bool>(false);
	auto max_rules = std::make_shared<std::uint32_t>(0);
	auto max_flows = std::make_shared<std::uint32_t>(0);

	cmd->add_option("uplink", *uplink, "Interface to the network (XDP and TC egress); default: the policy's");
	cmd->add_option("--bridge", *bridges,
			"Docker bridge to hook (TC ingress and egress); a name or a pattern such as 'br-*'; repeatable");
	cmd->add_option("--policy", *policy_path, "Policy file (TOML) with rules, DNS and DHCP settings");
	cmd->add_flag("--replace", *replace,
		      "Swap the programs and policy of a loaded filter in place, keeping flows and counters");
	cmd->add_option("--max-rules", *max_rules,
			fmt::format("Size of the rule table, in rules; first load only (default {})", AG_DEFAULT_MAX_RULES))
		->check(CLI::Range(1u, 1u << 20));
	cmd->add_option("--max-flows", *max_flows,
			fmt::format("Size of the flow table, in flows; first load only (default {})", AG_DEFAULT_MAX_FLOWS))
		->check(CLI::Range(1u, 1u << 24));

	cmd->callback([=, &global] {
		LoadRequest request;
		request.pin_dir = global.pin_dir;
		if (!policy_path->empty())
			request.policy = parse_policy_file(*policy_path);
		request.uplink = !uplink->empty() ? *uplink : request.policy.uplink.value_or("");
		request.bridges = !bridges->empty() ? *bridges : request.policy.bridges;
		request.replace = *replace;
		if (*max_rules)
			request.max_rules = *max_rules;
		if (*max_flows)
			request.max_flows = *max_flows;
		check_network_namespace();
		load_filter(request);
		std::printf("airgap-bpf loaded: uplink %s, %zu bridge name(s), %zu rule(s)\n", request.uplink.c_str(),
			    request.bridges.size(), request.policy.effective_rules().size());
	});
}

void add_unload(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("unload", "Detach every program and remove every pin");
	cmd->callback([&global] {
		if (unload_filter(global.pin_dir))
			std::printf("airgap-bpf unloaded\n");
		else
			std::printf("airgap-bpf was not loaded (no pins under %s)\n", global.pin_dir.c_str());
	});
}

void add_status(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("status", "Show interfaces, hooks, XDP mode, rule and flow counts");
	cmd->callback([&global] {
		if (!filter_is_pinned(global.pin_dir)) {
			std::printf("airgap-bpf is not loaded (no pins under %s)\n", global.pin_dir.c_str());
			throw CLI::RuntimeError(3);
		}
		std::fputs(status_text(read_status(global.pin_dir), global.pin_dir).c_str(), stdout);
	});
}

void add_stats(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("stats", "Show what each rule admitted and why each hook dropped");
	auto json = std::make_shared<bool>(false);
	auto all = std::make_shared<bool>(false);
	cmd->add_flag("--json", *json, "Print JSON");
	cmd->add_flag("--all", *all, "Also list reasons whose counters are zero");
	cmd->callback([=, &global] {
		FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
		auto rules = maps.rule_counters();
		auto hooks = maps.hook_counters();
		if (*json)
			std::cout << stats_json(rules, hooks).dump(2) << "\n";
		else
			std::fputs(stats_text(rules, hooks, *all).c_str(), stdout);
	});
}

void print_rules(const FilterMaps &maps, RuleKind kind)
{
	std::printf("%-4s %-24s %s\n", "ID", "NAME", "MATCH");
	for (auto &live : maps.rules()) {
		if (live.rule.kind == kind)
			std::printf("%-4u %-24s %s\n", live.id, live.rule.name.c_str(),
				    rule_match_text(live.rule).c_str());
	}
}

void add_forward(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("forward", "Forwarded services: which containers reach which host port");
	cmd->require_subcommand(1);

	auto *add = cmd->add_subcommand("add", "Let containers reach a host port, at once");
	auto proto = std::make_shared<std::string>();
	auto port = std::make_shared<std::string>();
	auto from = std::make_shared<std::string>("any");
	auto name = std::make_shared<std::string>();
	add->add_option("proto", *proto, "tcp, udp, or an IP protocol number")->required();
	add->add_option("port", *port, "Host port the forwarder listens on, or 'any'")->required();
	add->add_option("--from", *from, "Container address or prefix (ADDR[/LEN]); default: any container");
	add->add_option("--name", *name, "Rule name, shown by stats")->required();
	add->callback([=, &global] {
		Rule rule;
		rule.kind = RuleKind::forward;
		rule.proto = parse_protocol(*proto);
		rule.port = parse_port(*port);
		rule.peer = Prefix::parse(*from);
		rule.name = *name;
		rule.validate();
		PinLock lock(global.pin_dir, false);
		FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
		std::uint32_t id = maps.add_rule(rule);
		std::printf("added rule %u: %s\n", id, rule.describe().c_str());
	});

	auto *del = cmd->add_subcommand("del", "Remove a forward by name; its open connections stop");
	auto del_name = std::make_shared<std::string>();
	del->add_option("name", *del_name, "Rule name")->required();
	del->callback([=, &global] {
		PinLock lock(global.pin_dir, false);
		FilterMaps maps = FilterMaps::open_pinned(global.pin_dir);
		auto live = maps.find_rule(*del_name);
		if (!live || live->rule.kind != RuleKind::forward)
			fail("no forward named '{}'; 'airgap-bpf forward list' shows them", *del_name);
		maps.delete_rule(*live);
		std::printf("deleted rule %u: %s\n", live->id, live->rule.describe().c_str());
	});

	auto *list = cmd->add_subcommand("list", "List the forwards");
	list->callback([&global] { print_rules(FilterMaps::open_pinned(global.pin_dir), RuleKind::forward); });
}

} // namespace
} // namespace airgap

int main(int argc, char **argv)
{
	using namespace airgap;

	CLI::App app{"airgap-bpf: an XDP and TC filter that air-gaps a docker host"};
	app.require_subcommand(1);
	GlobalOptions global;
	if (const char *env = std::getenv("AIRGAP_BPF_PIN_DIR"))
		global.pin_dir = env;
	app.add_flag("-v,--verbose", global.verbose, "Show debug messages, libbpf's and the verifier's included");
	app.add_option("--pin-dir", global.pin_dir, "bpffs directory of the pinned filter (env AIRGAP_BPF_PIN_DIR)");
	app.parse_complete_callback([&global] {
		log::set_level(global.verbose ? log::Level::debug : log::Level::info);
		log::route_libbpf();
	});

	add_load(app, global);
	add_unload(app, global);
	add_status(app, global);
	add_stats(app, global);
	add_forward(app, global);

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e);
	} catch (const Error &e) {
		log::error("{}", e.what());
		return 1;
	}
	return 0;
}
