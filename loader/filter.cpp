#include "loader/filter.hpp"

#include <fnmatch.h>
#include <net/if.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include "loader/attach.hpp"
#include "loader/bpffs.hpp"
#include "loader/error.hpp"
#include "loader/log.hpp"
#include "loader/programs.hpp"

namespace airgap {
namespace {

struct Interface {
	std::string name;
	int ifindex;
	ag_interface_role role;
};

bool is_pattern(const std::string &name)
{
	return name.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> interface_names()
{
	std::vector<std::string> names;
	struct if_nameindex *list = if_nameindex();
	if (!list)
		fail("cannot list network interfaces: {}", errno_text(errno));
	for (struct if_nameindex *it = list; it->if_index != 0; it++)
		names.emplace_back(it->if_name);
	if_freenameindex(list);
	return names;
}

int ifindex_of(const std::string &name, std::string_view role)
{
	int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
	if (ifindex == 0)
		fail("{} interface '{}' not found: {}", role, name, errno_text(errno));
	return ifindex;
}

std::vector<Interface> resolve_interfaces(const LoadRequest &request)
{
	if (request.uplink.empty())
		fail("no uplink: name one on the command line or in the policy's [interfaces] table");

	std::vector<Interface> out;
	out.push_back({request.uplink, ifindex_of(request.uplink, "uplink"), AG_ROLE_UPLINK});

	auto names = interface_names();
	for (auto &bridge : request.bridges) {
		if (!is_pattern(bridge)) {
			out.push_back({bridge, ifindex_of(bridge, "bridge"), AG_ROLE_BRIDGE});
			continue;
		}
		bool matched = false;
		for (auto &name : names) {
			if (fnmatch(bridge.c_str(), name.c_str(), 0) == 0 && name != request.uplink) {
				out.push_back({name, ifindex_of(name, "bridge"), AG_ROLE_BRIDGE});
				matched = true;
			}
		}
		if (!matched)
			log::info("bridge pattern '{}' matches no interface yet", bridge);
	}

	std::sort(out.begin() + 1, out.end(), [](auto &a, auto &b) { return a.ifindex < b.ifindex; });
	out.erase(std::unique(out.begin() + 1, out.end(), [](auto &a, auto &b) { return a.ifindex == b.ifindex; }),
		  out.end());
	for (auto it = out.begin() + 1; it != out.end(); ++it) {
		if (it->ifindex == out[0].ifindex)
			fail("interface '{}' cannot be both the uplink and a bridge", it->name);
	}
	if (out.size() > AG_MAX_INTERFACES)
		fail("too many interfaces: {} (at most {})", out.size(), AG_MAX_INTERFACES);
	return out;
}

// Refuse, before anything changes, to take a hook another tool holds.
void check_hooks_free(const Interface &iface, bool replace)
{
	if (iface.role == AG_ROLE_UPLINK) {
		if (auto xdp = xdp_program(iface.ifindex); xdp && !(replace && is_airgap_program(xdp->name)))
			fail("cannot attach XDP to {}: program {} (id {}) is already attached; detach it first",
			     iface.name, xdp->name, xdp->id);
	}
	for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
		if (auto tc = tc_program(iface.ifindex, point); tc && !(replace && is_airgap_program(tc->name)))
			fail("cannot attach TC {} to {}: program {} (id {}) holds priority {} handle {:#x}",
			     tc_point_name(point), iface.name, tc->name, tc->id, kTcPriority, kTcHandle);
	}
}

ag_interface record_of(const Interface &iface)
{
	ag_interface record{};
	record.ifindex = static_cast<__u32>(iface.ifindex);
	record.role = static_cast<__u8>(iface.role);
	std::snprintf(record.name, sizeof(record.name), "%s", iface.name.c_str());
	return record;
}

// Attach the programs of the interface's role, or swap them when already ours.
void attach_interface(const Programs &programs, const std::string &pin_dir, const Interface &iface,
		      const ag_interface *previous, ag_interface &record)
{
	bool replace = previous != nullptr;
	if (iface.role == AG_ROLE_UPLINK) {
		std::string link = xdp_link_pin(pin_dir, iface.ifindex);
		if (replace && previous->role == AG_ROLE_UPLINK) {
			replace_xdp(programs.uplink_xdp(), iface.name, link);
			record.xdp_mode = previous->xdp_mode;
			record.native_xdp_errno = previous->native_xdp_errno;
		} else {
			XdpAttachment xdp = attach_xdp(programs.uplink_xdp(), iface.ifindex, iface.name, link);
			record.xdp_mode = static_cast<__u8>(xdp.mode);
			record.native_xdp_errno = xdp.native_errno;
		}
		bool created = attach_tc(programs.uplink_egress(), iface.ifindex, iface.name, BPF_TC_EGRESS,
					 replace);
		record.clsact_created = replace ? previous->clsact_created : created;
		return;
	}

	bool created_in = attach_tc(programs.bridge_ingress(), iface.ifindex, iface.name, BPF_TC_INGRESS, replace);
	bool created_out = attach_tc(programs.bridge_egress(), iface.ifindex, iface.name, BPF_TC_EGRESS, replace);
	record.clsact_created = replace ? previous->clsact_created : (created_in || created_out);
}

bool interface_present(const ag_interface &record)
{
	char name[IF_NAMESIZE] = {};
	return if_indextoname(record.ifindex, name) && std::string_view(name) == record.name;
}

// Remove what the loader attached to one interface. An interface that is gone
// took its attachments with it.
void detach_interface(const std::string &pin_dir, const ag_interface &record)
{
	std::string name = record.name;
	if (record.role == AG_ROLE_UPLINK)
		detach_xdp(name, xdp_link_pin(pin_dir, static_cast<int>(record.ifindex)));
	if (!interface_present(record)) {
		log::info("interface {} (index {}) is gone; nothing to detach there", name, record.ifindex);
		return;
	}

	int ifindex = static_cast<int>(record.ifindex);
	std::vector<bpf_tc_attach_point> points = {BPF_TC_EGRESS};
	if (record.role == AG_ROLE_BRIDGE)
		points.push_back(BPF_TC_INGRESS);
	for (auto point : points) {
		auto tc = tc_program(ifindex, point);
		if (tc && !is_airgap_program(tc->name)) {
			log::warn("left TC {} filter on {} alone: program {} (id {}) is not airgap-bpf's",
				  tc_point_name(point), name, tc->name, tc->id);
			continue;
		}
		detach_tc(ifindex, name, point);
	}
	if (record.clsact_created)
		remove_clsact_if_unused(ifindex, name);
}

void load_fresh(const LoadRequest &request, const std::vector<Interface> &interfaces)
{
	Programs programs = Programs::load({request.pin_dir, request.max_rules, request.max_flows});
	std::vector<ag_interface> records;
	try {
		FilterMaps maps = FilterMaps::from_fds(programs.map_fds());
		maps.set_settings({request.policy.dhcp ? AG_SETTING_DHCP : 0u, 0});
		maps.replace_rules(request.policy.effective_rules());

		std::string link_dir = request.pin_dir + "/links";
		if (mkdir(link_dir.c_str(), 0700) && errno != EEXIST)
			fail("cannot create {}: {}", link_dir, errno_text(errno));
		for (auto &iface : interfaces) {
			ag_interface record = record_of(iface);
			// Recorded before attaching so that a rollback detaches a half-done interface.
			records.push_back(record);
			attach_interface(programs, request.pin_dir, iface, nullptr, records.back());
		}
		maps.set_interfaces(records);
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

void load_replace(const LoadRequest &request, const std::vector<Interface> &interfaces)
{
	FilterMaps old_maps = FilterMaps::open_pinned(request.pin_dir);
	auto previous = old_maps.interfaces();
	Programs programs = Programs::load({request.pin_dir, request.max_rules, request.max_flows});
	FilterMaps maps = FilterMaps::from_fds(programs.map_fds());

	maps.set_settings({request.policy.dhcp ? AG_SETTING_DHCP : 0u, 0});
	maps.replace_rules(request.policy.effective_rules());

	std::vector<ag_interface> records;
	for (auto &iface : interfaces) {
		auto old = std::find_if(previous.begin(), previous.end(), [&](auto &p) {
			return p.ifindex == static_cast<__u32>(iface.ifindex) && p.role == iface.role;
		});
		records.push_back(record_of(iface));
		attach_interface(programs, request.pin_dir, iface, old == previous.end() ? nullptr : &*old,
				 records.back());
		maps.set_interfaces(records);
	}
	for (auto &old : previous) {
		bool kept = std::any_of(records.begin(), records.end(), [&](auto &r) {
			return r.ifindex == old.ifindex && r.role == old.role;
		});
		if (!kept)
			detach_interface(request.pin_dir, old);
	}
	maps.set_interfaces(records);
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
		auto interfaces = resolve_interfaces(request);
		for (auto &iface : interfaces)
			check_hooks_free(iface, loaded);
		if (loaded)
			load_replace(request, interfaces);
		else
			load_fresh(request, interfaces);
	} catch (const Error &) {
		// The lock made the directory; a failed first load must not leave it.
		if (!loaded)
			remove_pins(request.pin_dir);
		throw;
	}

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
	return status;
}

} // namespace airgap
