#include "bench/xdp_filter.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "bench/bench.hpp"
#include "loader/error.hpp"

namespace bench {
namespace {

// MAP_FLAG_SRC of xdp-filter's common_kern_user.h: the address matches as a source.
constexpr std::uint64_t kMapFlagSrc = 1;

} // namespace

XdpFilter::XdpFilter(std::unique_ptr<bpf_object, Close> obj) : obj_(std::move(obj)) {}

XdpFilter XdpFilter::load(const std::string &object_path, std::uint32_t allowed_sources)
{
	std::unique_ptr<bpf_object, Close> obj(bpf_object__open_file(object_path.c_str(), nullptr));
	if (!obj)
		airgap::fail("cannot open {}: {}; install xdp-tools", object_path, airgap::errno_text(errno));

	bpf_map *map;
	bpf_object__for_each_map(map, obj.get())
	{
		// Unpinned, so that nothing of xdp-filter's own state under
		// /sys/fs/bpf is reused or left behind.
		bpf_map__set_pin_path(map, nullptr);
	}
	bpf_map *ipv4 = bpf_object__find_map_by_name(obj.get(), "filter_ipv4");
	if (!ipv4)
		airgap::fail("{} has no map filter_ipv4", object_path);
	// xdp-filter's table holds 10,000 addresses; the benchmark needs more.
	std::uint32_t size = std::max<std::uint32_t>(10000, allowed_sources + 16);
	if (int err = bpf_map__set_max_entries(ipv4, size))
		airgap::fail("cannot size filter_ipv4 to {}: {}", size, airgap::errno_text(err));
	if (int err = bpf_object__load(obj.get()))
		airgap::fail("cannot load {}: {}", object_path, airgap::errno_text(err));

	XdpFilter filter(std::move(obj));
	filter.ipv4_fd_ = bpf_map__fd(ipv4);
	return filter;
}

void XdpFilter::allow_source(std::uint32_t addr_host_order)
{
	int cpus = libbpf_num_possible_cpus();
	std::vector<std::uint64_t> flags(cpus, kMapFlagSrc);
	std::uint32_t key = htonl(addr_host_order);
	if (bpf_map_update_elem(ipv4_fd_, &key, flags.data(), BPF_ANY))
		airgap::fail("cannot add {} to filter_ipv4: {}", ipv4_text(addr_host_order), airgap::errno_text(errno));
}

void XdpFilter::allow_sources(std::uint32_t from, std::uint32_t to)
{
	for (std::uint32_t i = from; i < to; i++)
		allow_source(allow_in_address(i));
}

int XdpFilter::prog_fd() const
{
	bpf_program *prog = bpf_object__next_program(obj_.get(), nullptr);
	if (!prog)
		airgap::fail("the xdp-filter object has no program");
	return bpf_program__fd(prog);
}

} // namespace bench
