// airgap-bpf load, unload and status.
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <atomic>
#include <filesystem>
#include <memory>

#include "loader/bpffs.hpp"
#include "loader/bridge_watch.hpp"
#include "loader/error.hpp"
#include "loader/filter.hpp"
#include "loader/policy.hpp"
#include "tools/cli.hpp"
#include "tools/stats_view.hpp"

namespace airgap {
namespace {

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
	auto xdp_mode = std::make_shared<std::string>("auto");
	auto max_rules = std::make_shared<std::uint32_t>(0);
	auto max_flows = std::make_shared<std::uint32_t>(0);

	cmd->add_option("uplink", *uplink, "Interface to the network (XDP and TC egress); default: the policy's");
	cmd->add_option("--bridge", *bridges,
			"Docker bridge to hook (TC ingress and egress); a name or a pattern such as 'br-*'; repeatable");
	cmd->add_option("--policy", *policy_path, "Policy file (TOML) with rules, DNS and DHCP settings");
	cmd->add_option("--xdp-mode", *xdp_mode,
			"XDP mode on the uplink: auto (native, else generic), native or generic")
		->check(CLI::IsMember({"auto", "native", "generic"}));
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
		if (!request.uplink.empty())
			validate_interface_name(request.uplink, false);
		for (auto &bridge : request.bridges)
			validate_interface_name(bridge, true);
		request.replace = *replace;
		// A reload without a policy file swaps the programs and keeps what the
		// operator edited live; an empty policy would delete every rule.
		request.apply_policy = !(*replace && policy_path->empty());
		if (*xdp_mode == "native")
			request.xdp_mode = XdpModeRequest::native;
		else if (*xdp_mode == "generic")
			request.xdp_mode = XdpModeRequest::generic;
		if (*max_rules)
			request.max_rules = *max_rules;
		if (*max_flows)
			request.max_flows = *max_flows;
		check_network_namespace();
		load_filter(request);
		if (request.apply_policy)
			std::printf("airgap-bpf loaded: uplink %s, %zu bridge name(s), %zu rule(s)\n",
				    request.uplink.c_str(), request.bridges.size(),
				    request.policy.effective_rules().size());
		else
			std::printf("airgap-bpf reloaded: uplink %s, live rules kept\n", request.uplink.c_str());
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

std::atomic<bool> stop_watch{false};

void add_watch(CLI::App &app, GlobalOptions &global)
{
	auto *cmd = app.add_subcommand("watch", "Hook bridges that match the loaded bridge names as they appear, and "
						"add the host's new addresses to the filter (runs until stopped)");
	auto once = std::make_shared<bool>(false);
	cmd->add_flag("--once", *once, "Hook what matches now, add the host's addresses, and exit");
	cmd->callback([once, &global] {
		check_network_namespace();
		if (*once) {
			BridgeSync result = sync_bridges(global.pin_dir);
			for (auto &name : result.attached)
				std::printf("hooked bridge %s\n", name.c_str());
			for (auto &name : result.forgotten)
				std::printf("bridge %s is gone\n", name.c_str());
			if (std::size_t added = sync_host_addresses(global.pin_dir))
				std::printf("added %zu address(es) of the host\n", added);
			return;
		}
		struct sigaction action {};
		action.sa_handler = [](int) { stop_watch = true; };
		sigaction(SIGINT, &action, nullptr);
		sigaction(SIGTERM, &action, nullptr);
		watch_bridges(global.pin_dir, stop_watch);
	});
}

} // namespace

void add_filter_commands(CLI::App &app, GlobalOptions &global)
{
	add_load(app, global);
	add_unload(app, global);
	add_status(app, global);
	add_watch(app, global);
}

} // namespace airgap
