// Hooking docker bridges that appear after load: docker makes a br-<id>
// bridge for each compose network and recreates docker0 when it restarts.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <vector>

namespace airgap {

struct BridgeSync {
	std::vector<std::string> attached;  // bridges hooked by this sync
	std::vector<std::string> forgotten; // records of bridges that are gone
};

// Hook every interface that matches a bridge name or pattern given at load
// time and is not hooked yet, and drop the records of bridges that are gone.
// A bridge where another tool's program is attached is skipped with a warning.
BridgeSync sync_bridges(const std::string &pin_dir);

// Add the interfaces' addresses to the host's own in the filter's map, so
// that allow-in and forward rules open ports on an address the host got after
// load before it sent anything from it. Returns how many were new.
std::size_t sync_host_addresses(const std::string &pin_dir);

// Sync bridges and addresses now, then again on every link or address change
// rtnetlink reports, until stop is set.
void watch_bridges(const std::string &pin_dir, const std::atomic<bool> &stop);

} // namespace airgap
