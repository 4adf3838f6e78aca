#include "loader/interfaces.hpp"

#include <fnmatch.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "loader/attach.hpp"
#include "loader/error.hpp"
#include "loader/log.hpp"

namespace airgap {
namespace {

int ifindex_of(const std::string &name, std::string_view role)
{
	int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
	if (ifindex == 0)
		fail("{} interface '{}' not found: {}", role, name, errno_text(errno));
	return ifindex;
}

} // namespace

bool is_name_pattern(const std::string &name)
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

std::vector<Prefix> interface_addresses()
{
	ifaddrs *list = nullptr;
	if (getifaddrs(&list))
		fail("cannot list the interfaces' addresses: {}", errno_text(errno));
	std::vector<Prefix> out;
	for (ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr)
			continue;
		Prefix address;
		address.len = 128;
		if (ifa->ifa_addr->sa_family == AF_INET) {
			const auto *v4 = reinterpret_cast<const sockaddr_in *>(ifa->ifa_addr);
			address.addr[10] = 0xff;
			address.addr[11] = 0xff;
			std::memcpy(&address.addr[12], &v4->sin_addr, 4);
		} else if (ifa->ifa_addr->sa_family == AF_INET6) {
			const auto *v6 = reinterpret_cast<const sockaddr_in6 *>(ifa->ifa_addr);
			std::memcpy(address.addr.data(), &v6->sin6_addr, 16);
		} else {
			continue;
		}
		out.push_back(address);
	}
	freeifaddrs(list);
	return out;
}

std::vector<Interface> resolve_interfaces(const std::string &uplink, const std::vector<std::string> &bridges)
{
	if (uplink.empty())
		fail("no uplink: name one on the command line or in the policy's [interfaces] table");

	std::vector<Interface> out;
	out.push_back({uplink, ifindex_of(uplink, "uplink"), AG_ROLE_UPLINK});

	auto names = interface_names();
	for (auto &bridge : bridges) {
		if (!is_name_pattern(bridge)) {
			// docker creates docker0 when it starts, possibly after the filter.
			int ifindex = static_cast<int>(if_nametoindex(bridge.c_str()));
			if (ifindex == 0)
				log::warn("bridge '{}' does not exist yet; 'airgap-bpf watch' hooks it when it appears",
					  bridge);
			else
				out.push_back({bridge, ifindex, AG_ROLE_BRIDGE});
			continue;
		}
		bool matched = false;
		for (auto &name : names) {
			if (fnmatch(bridge.c_str(), name.c_str(), 0) == 0 && name != uplink) {
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

void attach_interface(const ProgramFds &programs, const std::string &pin_dir, const Interface &iface,
		      const ag_interface *previous, ag_interface &record)
{
	bool replace = previous != nullptr;
	if (iface.role == AG_ROLE_UPLINK) {
		std::string link = xdp_link_pin(pin_dir, iface.ifindex);
		if (replace && previous->role == AG_ROLE_UPLINK) {
			bool mode_differs = (iface.xdp_mode == XdpModeRequest::native && previous->xdp_mode != AG_XDP_NATIVE) ||
					    (iface.xdp_mode == XdpModeRequest::generic && previous->xdp_mode != AG_XDP_GENERIC);
			if (mode_differs)
				fail("cannot change the XDP mode of {} in place; unload and load again", iface.name);
			replace_xdp(programs.uplink_xdp, iface.name, link);
			record.xdp_mode = previous->xdp_mode;
			record.native_xdp_errno = previous->native_xdp_errno;
		} else {
			XdpAttachment xdp = attach_xdp(programs.uplink_xdp, iface.ifindex, iface.name, link, iface.xdp_mode);
			record.xdp_mode = static_cast<__u8>(xdp.mode);
			record.native_xdp_errno = xdp.native_errno;
		}
		bool created = attach_tc(programs.uplink_egress, iface.ifindex, iface.name, BPF_TC_EGRESS,
					 replace);
		record.clsact_created = replace ? previous->clsact_created : created;
		return;
	}

	bool created_in = attach_tc(programs.bridge_ingress, iface.ifindex, iface.name, BPF_TC_INGRESS, replace);
	bool created_out = attach_tc(programs.bridge_egress, iface.ifindex, iface.name, BPF_TC_EGRESS, replace);
	record.clsact_created = replace ? previous->clsact_created : (created_in || created_out);
}

bool interface_present(const ag_interface &record)
{
	char name[IF_NAMESIZE] = {};
	return if_indextoname(record.ifindex, name) && std::string_view(name) == record.name;
}

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

} // namespace airgap
