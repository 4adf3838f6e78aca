#include "loader/filter.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "loader/attach.hpp"
#include "loader/bpffs.hpp"
#include "loader/error.hpp"
#include "loader/log.hpp"
#include "loader/interfaces.hpp"
#include "loader/programs.hpp"
#include "loader/resolve.hpp"

namespace airgap {
namespace {

void load_fresh(const LoadRequest &request, const std::vector<Interface> &interfaces,
		const std::vector<ResolvedRule> &rules)
{
	Programs programs = Programs::load({request.pin_dir, request.max_rules, request.max_flows});
	std::vector<ag_interface> records;
	try {
		FilterMaps maps = FilterMaps::from_fds(programs.map_fds());
		maps.set_settings({request.policy.dhcp ? AG_SETTING_DHCP : 0u, 0});
		maps.add_host_addresses(interface_addresses());
		maps.replace_rules(rules);

		std::string link_dir = request.pin_dir + "/links";
		if (mkdir(link_dir.c_str(), 0700) && errno != EEXIST)
			fail("cannot create {}: {}", link_dir, errno_text(errno));
		for (auto &iface : interfaces) {
			ag_interface record = record_of(iface);
			// Recorded before attaching so that a rollback detaches a half-done interface.
			records.push_back(record);
			attach_interface(programs.fds(), request.pin_dir, iface, nullptr, records.back());
		}
		maps.set_interfaces(records);
		maps.set_bridge_names(request.bridges);
		programs.pin_bridge_programs(request.pin_dir);
	} catch (const Error &) {
		for (auto &record : records) {
			try {
				detach_interface(request.pin_dir, record);
			} catch (const Error &e) {
				log::error("while undoing the load: {}", e.what());
			}
		}
		remove_pins(request.pin_dir);
		throw;
	}
}

void load_replace(const LoadRequest &request, const std::vector<Interface> &interfaces,
		  const std::vector<std::string> &bridges, const std::vector<ResolvedRule> &rules)
{
	FilterMaps old_maps = FilterMaps::open_pinned(request.pin_dir);
	auto previous = old_maps.interfaces();
	Programs programs = Programs::load({request.pin_dir, request.max_rules, request.max_flows});
	FilterMaps maps = FilterMaps::from_fds(programs.map_fds());
	maps.add_host_addresses(interface_addresses());

	if (request.apply_policy) {
		maps.set_settings({request.policy.dhcp ? AG_SETTING_DHCP : 0u, 0});
		log_rule_changes(maps.replace_rules(rules));
	}
	maps.set_bridge_names(bridges);
	programs.pin_bridge_programs(request.pin_dir);

	auto same = [](const ag_interface &a, const ag_interface &b) {
		return a.ifindex == b.ifindex && a.role == b.role;
	};
	std::vector<ag_interface> records;
	try {
		for (auto &iface : interfaces) {
			records.push_back(record_of(iface));
			auto old = std::find_if(previous.begin(), previous.end(),
						[&](auto &p) { return same(p, records.back()); });
			attach_interface(programs.fds(), request.pin_dir, iface,
					 old == previous.end() ? nullptr : &*old, records.back());
		}
	} catch (const Error &) {
		// Keep every attachment, old and new, on record, so that unload
		// finds them all.
		for (auto &old : previous) {
			if (std::none_of(records.begin(), records.end(), [&](auto &r) { return same(r, old); }))
				records.push_back(old);
		}
		maps.set_interfaces(records);
		throw;
	}
	maps.set_interfaces(records);
	for (auto &old : previous) {
		if (std::none_of(records.begin(), records.end(), [&](auto &r) { return same(r, old); })) {
			detach_interface(request.pin_dir, old);
			log::warn("detached {} (not in the new interface list)", old.name);
		}
	}
}

} // namespace

void load_filter(const LoadRequest &request)
{
	ensure_bpffs(request.pin_dir);
	PinLock lock(request.pin_dir, true);

	bool loaded = filter_is_pinned(request.pin_dir);
	if (loaded && !request.replace)
		fail("airgap-bpf is already loaded (pins under {}); run 'airgap-bpf unload' first, or load "
		     "with --replace to swap in this policy and these interfaces",
		     request.pin_dir);

	try {
		std::vector<std::string> bridges = request.bridges;
		if (loaded && !request.apply_policy && bridges.empty())
			bridges = FilterMaps::open_pinned(request.pin_dir).bridge_names();
		auto interfaces = resolve_interfaces(request.uplink, bridges);
		interfaces.front().xdp_mode = request.xdp_mode;
		for (auto &iface : interfaces)
			check_hooks_free(iface, loaded);
		auto effective = request.policy.effective_rules();
		auto rules = resolve_rules_or_warn(effective);
		if (request.apply_policy && std::none_of(effective.begin(), effective.end(), [](const Rule &r) {
			    return r.kind == RuleKind::allow_in;
		    }))
			log::info("the policy has no allow-in rule: nothing on the network can open a connection to "
				  "this host, SSH included");
		if (loaded)
			load_replace(request, interfaces, bridges, rules);
		else
			load_fresh(request, interfaces, rules);
	} catch (const Error &) {
		// The lock made the directory; a failed first load must not leave it.
		if (!loaded)
			remove_pins(request.pin_dir);
		throw;
	}

}

void log_rule_changes(const RuleChanges &changes)
{
	for (auto &rule : changes.added)
		log::info("added {}", rule.describe());
	for (auto &rule : changes.removed)
		log::info("removed {}", rule.describe());
}

bool unload_filter(const std::string &pin_dir)
{
	if (!filter_is_pinned(pin_dir)) {
		struct stat st {};
		if (stat(pin_dir.c_str(), &st) == 0)
			remove_pins(pin_dir);
		return false;
	}
	PinLock lock(pin_dir, false);
	FilterMaps maps = FilterMaps::open_pinned(pin_dir);
	for (auto &record : maps.interfaces())
		detach_interface(pin_dir, record);
	remove_pins(pin_dir);
	return true;
}

FilterStatus read_status(const std::string &pin_dir)
{
	FilterMaps maps = FilterMaps::open_pinned(pin_dir);
	FilterStatus status;
	for (auto &record : maps.interfaces()) {
		InterfaceStatus iface{record, interface_present(record), {}};
		if (iface.present) {
			int ifindex = static_cast<int>(record.ifindex);
			if (record.role == AG_ROLE_UPLINK) {
				auto xdp = xdp_program(ifindex);
				iface.hooks.push_back({"xdp", xdp ? xdp->name : "", xdp ? xdp->id : 0});
			} else {
				auto in = tc_program(ifindex, BPF_TC_INGRESS);
				iface.hooks.push_back({"tc ingress", in ? in->name : "", in ? in->id : 0});
			}
			auto out = tc_program(ifindex, BPF_TC_EGRESS);
			iface.hooks.push_back({"tc egress", out ? out->name : "", out ? out->id : 0});
		}
		status.interfaces.push_back(std::move(iface));
	}
	status.rules = maps.rules().size();
	status.max_rules = maps.max_rules();
	status.flows = maps.flow_count();
	status.settings = maps.settings();
	status.bridge_names = maps.bridge_names();
	status.host_addresses = maps.host_addresses();
	std::sort(status.host_addresses.begin(), status.host_addresses.end());
	return status;
}

} // namespace airgap
