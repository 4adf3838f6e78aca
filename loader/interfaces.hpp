// Interfaces by role, and what the loader attaches to each: XDP and TC
// egress on the uplink, TC ingress and egress on a bridge.
#pragma once

#include <string>
#include <vector>

#include "loader/address.hpp"
#include "loader/attach.hpp"
#include "loader/programs.hpp"
#include "maps/airgap_maps.h"

namespace airgap {

struct Interface {
	std::string name;
	int ifindex;
	ag_interface_role role;
	XdpModeRequest xdp_mode = XdpModeRequest::automatic; // uplink only
};

bool is_name_pattern(const std::string &name);
// Names of the interfaces in this network namespace.
std::vector<std::string> interface_names();
// Every IPv4 and IPv6 address of the interfaces in this network namespace.
std::vector<Prefix> interface_addresses();
// The uplink, then every bridge a name or pattern matches, without repeats.
// Throws Error for a missing uplink or a missing bridge given by name.
std::vector<Interface> resolve_interfaces(const std::string &uplink, const std::vector<std::string> &bridges);

// Throw Error when another tool's program is attached to a hook the role needs; with
// replace, airgap-bpf's own programs may be there.
void check_hooks_free(const Interface &iface, bool replace);

ag_interface record_of(const Interface &iface);
// True while the interface with the recorded index still has the recorded name.
bool interface_present(const ag_interface &record);

// Attach the role's programs, or swap them in one step when previous (the
// interface's record from the last load) is given. Fills record's XDP mode
// and whether the clsact qdisc was added.
void attach_interface(const ProgramFds &programs, const std::string &pin_dir, const Interface &iface,
		      const ag_interface *previous, ag_interface &record);
// Remove what the loader attached; an interface that is gone took its
// attachments with it.
void detach_interface(const std::string &pin_dir, const ag_interface &record);

} // namespace airgap
