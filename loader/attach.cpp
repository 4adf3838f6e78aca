#include "loader/attach.hpp"

#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cerrno>

#include "loader/error.hpp"
#include "loader/log.hpp"
#include "loader/tc_filters.hpp"
#include "loader/unique_fd.hpp"

namespace airgap {
namespace {

std::optional<AttachedProgram> program_by_id(std::uint32_t id)
{
	if (id == 0)
		return std::nullopt;
	UniqueFd fd(bpf_prog_get_fd_by_id(id));
	if (!fd)
		return AttachedProgram{id, "?"};
	bpf_prog_info info{};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd.get(), &info, &len))
		return AttachedProgram{id, "?"};
	return AttachedProgram{id, info.name};
}

UniqueFd create_xdp_link(int prog_fd, int ifindex, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);
	return UniqueFd(bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts));
}

} // namespace

std::string xdp_link_pin(const std::string &pin_dir, int ifindex)
{
	return fmt::format("{}/links/xdp-{}", pin_dir, ifindex);
}

XdpAttachment attach_xdp(int prog_fd, int ifindex, const std::string &ifname, const std::string &link_pin,
			 XdpModeRequest request)
{
	if (auto other = xdp_program(ifindex))
		fail("cannot attach XDP to {}: program {} (id {}) is already attached; detach it first",
		     ifname, other->name, other->id);

	XdpAttachment result{AG_XDP_NATIVE, 0};
	UniqueFd link;
	if (request == XdpModeRequest::generic) {
		result.mode = AG_XDP_GENERIC;
		link = create_xdp_link(prog_fd, ifindex, XDP_FLAGS_SKB_MODE);
		if (!link)
			fail("cannot attach generic XDP to {}: {}", ifname, errno_text(errno));
	} else {
		link = create_xdp_link(prog_fd, ifindex, XDP_FLAGS_DRV_MODE);
		if (!link && request == XdpModeRequest::native)
			fail("cannot attach native XDP to {}: {}; the driver may lack XDP support, or try "
			     "--xdp-mode generic",
			     ifname, errno_text(errno));
	}
	if (!link) {
		result.native_errno = errno;
		log::warn("native XDP on {} failed ({}); using generic XDP, which runs later and costs more",
			  ifname, errno_text(result.native_errno));
		result.mode = AG_XDP_GENERIC;
		link = create_xdp_link(prog_fd, ifindex, XDP_FLAGS_SKB_MODE);
		if (!link)
			fail("cannot attach XDP to {}: native: {}; generic: {}", ifname,
			     errno_text(result.native_errno), errno_text(errno));
	}
	if (bpf_obj_pin(link.get(), link_pin.c_str()))
		fail("cannot pin the XDP link of {} at {}: {}", ifname, link_pin, errno_text(errno));
	return result;
}

void replace_xdp(int prog_fd, const std::string &ifname, const std::string &link_pin)
{
	UniqueFd link(bpf_obj_get(link_pin.c_str()));
	if (!link)
		fail("cannot open the XDP link of {} at {}: {}", ifname, link_pin, errno_text(errno));
	if (bpf_link_update(link.get(), prog_fd, nullptr))
		fail("cannot replace the XDP program on {}: {}", ifname, errno_text(errno));
}

void detach_xdp(const std::string &ifname, const std::string &link_pin)
{
	if (unlink(link_pin.c_str()) && errno != ENOENT)
		fail("cannot unpin the XDP link of {} at {}: {}", ifname, link_pin, errno_text(errno));
}

std::optional<AttachedProgram> xdp_program(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, opts);
	if (bpf_xdp_query(ifindex, 0, &opts))
		fail("cannot query XDP on interface {}: {}", ifindex, errno_text(errno));
	return program_by_id(opts.prog_id ? opts.prog_id : (opts.drv_prog_id ? opts.drv_prog_id : opts.skb_prog_id));
}

const char *tc_point_name(bpf_tc_attach_point point)
{
	return point == BPF_TC_INGRESS ? "ingress" : "egress";
}

bool attach_tc(int prog_fd, int ifindex, const std::string &ifname, bpf_tc_attach_point point, bool replace)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	bool created = false;
	int err = bpf_tc_hook_create(&hook);
	if (err == 0)
		created = true;
	else if (err != -EEXIST)
		fail("cannot add a clsact qdisc to {}: {}", ifname, errno_text(err));

	if (!replace) {
		if (auto ours = tc_program(ifindex, point))
			fail("cannot attach TC {} to {}: program {} (id {}) already holds priority {} handle {:#x}",
			     tc_point_name(point), ifname, ours->name, ours->id, kTcPriority, kTcHandle);
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd,
		    .flags = replace ? static_cast<__u32>(BPF_TC_F_REPLACE) : 0u, .handle = kTcHandle,
		    .priority = kTcPriority);
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		fail("cannot attach TC {} program to {}: {}", tc_point_name(point), ifname, errno_text(err));
	return created;
}

void detach_tc(int ifindex, const std::string &ifname, bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
	int err = bpf_tc_detach(&hook, &opts);
	if (err && err != -ENOENT && err != -EINVAL)
		fail("cannot detach TC {} program from {}: {}", tc_point_name(point), ifname, errno_text(err));
}

void remove_clsact_if_unused(int ifindex, const std::string &ifname)
{
	if (count_tc_filters(ifindex, BPF_TC_INGRESS) + count_tc_filters(ifindex, BPF_TC_EGRESS) > 0) {
		log::info("kept the clsact qdisc on {}: other TC filters use it", ifname);
		return;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
	int err = bpf_tc_hook_destroy(&hook);
	if (err && err != -ENOENT && err != -EINVAL)
		fail("cannot remove the clsact qdisc from {}: {}", ifname, errno_text(err));
}

std::optional<AttachedProgram> tc_program(int ifindex, bpf_tc_attach_point point)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
	int err = bpf_tc_query(&hook, &opts);
	if (err == -ENOENT || err == -EINVAL)
		return std::nullopt;
	if (err)
		fail("cannot query TC {} on interface {}: {}", tc_point_name(point), ifindex, errno_text(err));
	return program_by_id(opts.prog_id);
}

} // namespace airgap
