// Attaching the programs to interfaces: XDP through a pinned bpf_link, TC
// through cls_bpf filters on a clsact qdisc (TC links need kernel 6.6).
#pragma once

#include <optional>
#include <string>

#include <bpf/libbpf.h>

#include "maps/airgap_maps.h"

namespace airgap {

// Priority and handle of the loader's cls_bpf filters. Priority 1 runs them
// before filters other tools add with the usual higher numbers.
constexpr std::uint32_t kTcPriority = 1;
constexpr std::uint32_t kTcHandle = 0xa16a;

struct AttachedProgram {
	std::uint32_t id;
	std::string name;
};

// Requested XDP mode. automatic tries native and falls back to generic.
enum class XdpModeRequest { automatic, native, generic };

struct XdpAttachment {
	ag_xdp_mode mode;
	int native_errno; // why native mode failed, when mode is generic
};

std::string xdp_link_pin(const std::string &pin_dir, int ifindex);

// Attach XDP in the requested mode and pin the link; automatic uses native
// mode, or generic mode when the driver has none. Throws Error when another
// XDP program is on the interface or the requested mode fails.
XdpAttachment attach_xdp(int prog_fd, int ifindex, const std::string &ifname, const std::string &link_pin,
			 XdpModeRequest request);
// Swap the program behind a pinned XDP link in one step.
void replace_xdp(int prog_fd, const std::string &ifname, const std::string &link_pin);
// Unpin the link, which detaches the program.
void detach_xdp(const std::string &ifname, const std::string &link_pin);
std::optional<AttachedProgram> xdp_program(int ifindex);

// Attach a TC program; returns true when this call created the clsact qdisc.
// With replace, an existing filter of this loader is swapped in one step.
bool attach_tc(int prog_fd, int ifindex, const std::string &ifname, bpf_tc_attach_point point, bool replace);
// Remove the loader's filter, if it is there.
void detach_tc(int ifindex, const std::string &ifname, bpf_tc_attach_point point);
// Remove the clsact qdisc unless a filter is left on either direction.
void remove_clsact_if_unused(int ifindex, const std::string &ifname);
std::optional<AttachedProgram> tc_program(int ifindex, bpf_tc_attach_point point);

const char *tc_point_name(bpf_tc_attach_point point);

} // namespace airgap
