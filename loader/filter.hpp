// The filter as a whole: load, unload and status over the pin directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "loader/address.hpp"
#include "loader/attach.hpp"
#include "loader/policy.hpp"
#include "loader/rule_maps.hpp"

namespace airgap {

struct LoadRequest {
	std::string pin_dir = AG_PIN_DIR;
	std::string uplink;
	std::vector<std::string> bridges; // names or fnmatch(3) patterns
	Policy policy;
	// With replace: false keeps the live rules, DHCP setting and, when no
	// bridges are given, the bridge names, as when no policy file is given.
	bool apply_policy = true;
	bool replace = false; // swap the programs of a loaded filter, keeping its maps
	XdpModeRequest xdp_mode = XdpModeRequest::automatic;
	std::optional<std::uint32_t> max_rules; // unset: pinned size, or the default
	std::optional<std::uint32_t> max_flows;
};

// Load the programs, apply the policy's rules, attach to the uplink and the
// bridges and pin it all. Throws Error; a failed first load leaves nothing
// behind. Logs each rule a reload adds or removes.
void load_filter(const LoadRequest &request);

// Log each added and removed rule, for commands that switch rule sets.
void log_rule_changes(const RuleChanges &changes);

// Detach everything and remove the pins. Returns false when nothing was loaded.
bool unload_filter(const std::string &pin_dir);

struct HookStatus {
	std::string hook; // "xdp", "tc ingress", "tc egress"
	std::string program; // attached program name, empty when missing
	std::uint32_t program_id = 0;
};

struct InterfaceStatus {
	ag_interface recorded;
	bool present; // the interface still exists with the recorded index
	std::vector<HookStatus> hooks;
};

struct FilterStatus {
	std::vector<InterfaceStatus> interfaces;
	std::size_t rules = 0;
	std::uint32_t max_rules = 0;
	std::size_t flows = 0;
	ag_settings settings{};
	std::vector<std::string> bridge_names; // names and patterns given at load time
	std::vector<Prefix> host_addresses;    // what allow-in and forward rules open ports on
};

FilterStatus read_status(const std::string &pin_dir);

} // namespace airgap
