#include "loader/bridge_watch.hpp"

#include <fnmatch.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "loader/bpffs.hpp"
#include "loader/error.hpp"
#include "loader/interfaces.hpp"
#include "loader/log.hpp"
#include "loader/programs.hpp"
#include "loader/rule_maps.hpp"

namespace airgap {
namespace {

bool matches_any(const std::string &name, const std::vector<std::string> &patterns)
{
	return std::any_of(patterns.begin(), patterns.end(),
			   [&](const std::string &p) { return fnmatch(p.c_str(), name.c_str(), 0) == 0; });
}

struct SocketCloser {
	void operator()(mnl_socket *socket) const { mnl_socket_close(socket); }
};

} // namespace

BridgeSync sync_bridges(const std::string &pin_dir)
{
	PinLock lock(pin_dir, false);
	FilterMaps maps = FilterMaps::open_pinned(pin_dir);
	auto patterns = maps.bridge_names();
	auto records = maps.interfaces();
	BridgeSync result;

	std::erase_if(records, [&](const ag_interface &record) {
		if (record.role != AG_ROLE_BRIDGE || interface_present(record))
			return false;
		result.forgotten.emplace_back(record.name);
		return true;
	});

	std::string uplink;
	for (auto &record : records) {
		if (record.role == AG_ROLE_UPLINK)
			uplink = record.name;
	}

	std::optional<PinnedBridgePrograms> programs;
	for (auto &name : interface_names()) {
		if (name == uplink || !matches_any(name, patterns))
			continue;
		bool hooked = std::any_of(records.begin(), records.end(),
					  [&](const ag_interface &r) { return r.name == name; });
		if (hooked)
			continue;
		if (records.size() >= AG_MAX_INTERFACES) {
			log::warn("cannot hook bridge {}: {} interfaces are hooked already", name, records.size());
			continue;
		}
		auto found = resolve_interfaces(uplink, {name});
		if (found.size() != 2)
			continue; // gone again since it was listed
		const Interface &iface = found.back();
		try {
			check_hooks_free(iface, false);
		} catch (const Error &e) {
			log::warn("skipped bridge {}: {}", name, e.what());
			continue;
		}
		if (!programs)
			programs = PinnedBridgePrograms::open(pin_dir);
		records.push_back(record_of(iface));
		try {
			attach_interface(programs->fds(), pin_dir, iface, nullptr, records.back());
		} catch (const Error &) {
			maps.set_interfaces(records);
			throw;
		}
		result.attached.push_back(name);
	}
	maps.set_interfaces(records);
	return result;
}

std::size_t sync_host_addresses(const std::string &pin_dir)
{
	PinLock lock(pin_dir, false);
	return FilterMaps::open_pinned(pin_dir).add_host_addresses(interface_addresses());
}

void watch_bridges(const std::string &pin_dir, const std::atomic<bool> &stop)
{
	std::unique_ptr<mnl_socket, SocketCloser> socket(mnl_socket_open(NETLINK_ROUTE));
	if (!socket)
		fail("cannot open an rtnetlink socket: {}", errno_text(errno));
	if (mnl_socket_bind(socket.get(), RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0)
		fail("cannot subscribe to link and address changes: {}", errno_text(errno));

	auto sync = [&] {
		BridgeSync result = sync_bridges(pin_dir);
		for (auto &name : result.attached)
			log::info("hooked bridge {}", name);
		for (auto &name : result.forgotten)
			log::info("bridge {} is gone", name);
		if (std::size_t added = sync_host_addresses(pin_dir))
			log::info("added {} address(es) of the host", added);
	};
	sync();

	std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
	pollfd pfd{mnl_socket_get_fd(socket.get()), POLLIN, 0};
	while (!stop) {
		int ready = poll(&pfd, 1, 500);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0)
			fail("cannot wait for link and address changes: {}", errno_text(errno));
		if (ready == 0)
			continue;
		// Drain what is queued; every message means "links or addresses
		// changed", and one sync covers them all.
		while (mnl_socket_recvfrom(socket.get(), buffer.data(), buffer.size()) > 0) {
			pfd.revents = 0;
			if (poll(&pfd, 1, 0) <= 0)
				break;
		}
		sync();
	}
}

} // namespace airgap
