#include "loader/kernel_features.hpp"

#include <bpf/libbpf.h>

#include <string_view>

#include "loader/error.hpp"
#include "loader/log.hpp"

namespace airgap {
namespace {

struct ProgTypeProbe {
	bpf_prog_type type;
	std::string_view name;
	std::string_view since;
};

struct MapTypeProbe {
	bpf_map_type type;
	std::string_view name;
	std::string_view since;
};

struct HelperProbe {
	bpf_prog_type prog_type;
	bpf_func_id helper;
	std::string_view name;
	std::string_view since;
};

constexpr ProgTypeProbe kProgTypes[] = {
	{BPF_PROG_TYPE_XDP, "XDP programs", "4.8"},
	{BPF_PROG_TYPE_SCHED_CLS, "TC (sched_cls) programs", "4.1"},
};

constexpr MapTypeProbe kMapTypes[] = {
	{BPF_MAP_TYPE_LPM_TRIE, "LPM trie maps", "4.11"},
	{BPF_MAP_TYPE_LRU_HASH, "LRU hash maps", "4.10"},
	{BPF_MAP_TYPE_ARRAY_OF_MAPS, "array-of-maps maps", "4.12"},
	{BPF_MAP_TYPE_PERCPU_ARRAY, "per-CPU array maps", "4.6"},
};

constexpr HelperProbe kHelpers[] = {
	{BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_fib_lookup, "bpf_fib_lookup() in TC programs", "4.18"},
	{BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_skb_pull_data, "bpf_skb_pull_data() in TC programs", "4.9"},
	{BPF_PROG_TYPE_XDP, BPF_FUNC_ktime_get_coarse_ns, "bpf_ktime_get_coarse_ns() in XDP programs", "5.11"},
	{BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_ktime_get_coarse_ns, "bpf_ktime_get_coarse_ns() in TC programs", "5.11"},
};

// A probe that cannot run at all (no BPF, no permission) is an error of its
// own, not a missing feature.
bool probe_result(int rc, std::string_view what)
{
	if (rc < 0)
		fail("cannot probe the kernel for {}: {}", what, errno_text(rc));
	return rc == 1;
}

} // namespace

std::vector<MissingFeature> missing_kernel_features()
{
	std::vector<MissingFeature> missing;
	for (auto &probe : kProgTypes) {
		if (!probe_result(libbpf_probe_bpf_prog_type(probe.type, nullptr), probe.name))
			missing.push_back({std::string(probe.name), std::string(probe.since)});
	}
	for (auto &probe : kMapTypes) {
		if (!probe_result(libbpf_probe_bpf_map_type(probe.type, nullptr), probe.name))
			missing.push_back({std::string(probe.name), std::string(probe.since)});
	}
	for (auto &probe : kHelpers) {
		if (!probe_result(libbpf_probe_bpf_helper(probe.prog_type, probe.helper, nullptr), probe.name))
			missing.push_back({std::string(probe.name), std::string(probe.since)});
	}
	return missing;
}

void require_kernel_features()
{
	auto missing = missing_kernel_features();
	if (missing.empty())
		return;
	std::string list;
	for (auto &feature : missing)
		list += fmt::format("{}{} (Linux {})", list.empty() ? "" : ", ", feature.name, feature.since);
	fail("this kernel lacks what airgap-bpf needs: {}; it runs on Linux 5.11 or newer, and is tested on "
	     "Debian 12's 6.1",
	     list);
}

} // namespace airgap
