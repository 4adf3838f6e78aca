#include "loader/programs.hpp"

#include <bpf/bpf.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "airgap_bpf.skel.h"
#include "loader/error.hpp"
#include "loader/kernel_features.hpp"
#include "loader/log.hpp"

namespace airgap {
namespace {

// The size of an existing pinned map, which a reload must keep.
std::optional<std::uint32_t> pinned_max_entries(const std::string &pin_dir, const char *name)
{
	std::string path = pin_dir + "/" + name;
	int fd = bpf_obj_get(path.c_str());
	if (fd < 0)
		return std::nullopt;
	bpf_map_info info{};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (err)
		return std::nullopt;
	return info.max_entries;
}

void set_size(bpf_map *map, std::uint32_t size)
{
	int err = bpf_map__set_max_entries(map, size);
	if (err)
		fail("cannot size map {} to {} entries: {}", bpf_map__name(map), size, errno_text(err));
}

// A reload reuses the pinned maps, so it must create nothing of another size.
std::uint32_t map_size(const ProgramOptions &options, const char *name, std::optional<std::uint32_t> requested,
		       std::uint32_t fallback)
{
	auto pinned = options.pin_dir ? pinned_max_entries(*options.pin_dir, name) : std::nullopt;
	if (pinned && requested && *pinned != *requested)
		log::warn("map {} is pinned with {} entries; keeping that size instead of {}", name, *pinned,
			  *requested);
	if (pinned)
		return *pinned;
	return requested.value_or(fallback);
}

} // namespace

void Programs::Destroy::operator()(::airgap_bpf *skel) const
{
	airgap_bpf__destroy(skel);
}

Programs::Programs(std::unique_ptr<::airgap_bpf, Destroy> skel) : skel_(std::move(skel)) {}
Programs::Programs(Programs &&) noexcept = default;
Programs &Programs::operator=(Programs &&) noexcept = default;
Programs::~Programs() = default;

Programs Programs::load(const ProgramOptions &options)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts);
	if (options.pin_dir)
		open_opts.pin_root_path = options.pin_dir->c_str();

	std::unique_ptr<::airgap_bpf, Destroy> skel(airgap_bpf__open_opts(&open_opts));
	if (!skel)
		fail("cannot open the BPF object: {}", errno_text(errno));

	std::uint32_t max_rules = map_size(options, AG_MAP_RULE_TABLE, options.max_rules, AG_DEFAULT_MAX_RULES);
	std::uint32_t max_flows = map_size(options, AG_MAP_FLOWS, options.max_flows, AG_DEFAULT_MAX_FLOWS);
	// The inner-map template of ag_rules keeps its default size: the kernel
	// compares an LPM trie's type, key, value and flags when it is swapped
	// in, not its size.
	set_size(skel->maps.ag_rule_trie, max_rules * kTrieEntriesPerRule);
	set_size(skel->maps.ag_rule_table, max_rules);
	set_size(skel->maps.ag_rule_stats, max_rules);
	set_size(skel->maps.ag_flows, max_flows);

	if (!options.pin_dir) {
		bpf_map *map;
		bpf_object__for_each_map(map, skel->obj)
		{
			bpf_map__set_pin_path(map, nullptr);
		}
	}

	require_kernel_features();
	int err = airgap_bpf__load(skel.get());
	if (err)
		fail("cannot load the BPF programs: {}{}", errno_text(err),
		     log::level() >= log::Level::debug ? "" : "; run with -v to see libbpf's log and the verifier's");
	return Programs(std::move(skel));
}

ProgramFds Programs::fds() const
{
	return ProgramFds{
		.uplink_xdp = bpf_program__fd(skel_->progs.ag_uplink_xdp),
		.uplink_egress = bpf_program__fd(skel_->progs.ag_uplink_out),
		.bridge_ingress = bpf_program__fd(skel_->progs.ag_bridge_in),
		.bridge_egress = bpf_program__fd(skel_->progs.ag_bridge_out),
	};
}

namespace {

std::string program_pin(const std::string &pin_dir, const char *name)
{
	return fmt::format("{}/progs/{}", pin_dir, name);
}

void pin_program(int fd, const std::string &path)
{
	if (unlink(path.c_str()) && errno != ENOENT)
		fail("cannot remove the old pin {}: {}", path, errno_text(errno));
	if (bpf_obj_pin(fd, path.c_str()))
		fail("cannot pin a program at {}: {}", path, errno_text(errno));
}

UniqueFd open_program_pin(const std::string &path)
{
	UniqueFd fd(bpf_obj_get(path.c_str()));
	if (!fd)
		fail("cannot open the pinned program {}: {}; load the filter again to restore it", path,
		     errno_text(errno));
	return fd;
}

} // namespace

void Programs::pin_bridge_programs(const std::string &pin_dir) const
{
	std::string dir = pin_dir + "/progs";
	if (mkdir(dir.c_str(), 0700) && errno != EEXIST)
		fail("cannot create {}: {}", dir, errno_text(errno));
	pin_program(bpf_program__fd(skel_->progs.ag_bridge_in), program_pin(pin_dir, "ag_bridge_in"));
	pin_program(bpf_program__fd(skel_->progs.ag_bridge_out), program_pin(pin_dir, "ag_bridge_out"));
}

PinnedBridgePrograms PinnedBridgePrograms::open(const std::string &pin_dir)
{
	return PinnedBridgePrograms{open_program_pin(program_pin(pin_dir, "ag_bridge_in")),
				    open_program_pin(program_pin(pin_dir, "ag_bridge_out"))};
}

FilterMaps::Fds Programs::map_fds() const
{
	return FilterMaps::Fds{
		.rules = bpf_map__fd(skel_->maps.ag_rules),
		.rule_table = bpf_map__fd(skel_->maps.ag_rule_table),
		.rule_stats = bpf_map__fd(skel_->maps.ag_rule_stats),
		.hook_stats = bpf_map__fd(skel_->maps.ag_hook_stats),
		.flows = bpf_map__fd(skel_->maps.ag_flows),
		.settings = bpf_map__fd(skel_->maps.ag_settings),
		.interfaces = bpf_map__fd(skel_->maps.ag_interfaces),
		.bridge_names = bpf_map__fd(skel_->maps.ag_bridge_names),
		.host_addrs = bpf_map__fd(skel_->maps.ag_host_addrs),
	};
}

bool is_airgap_program(const std::string &name)
{
	return name == "ag_uplink_xdp" || name == "ag_uplink_out" || name == "ag_bridge_in" ||
	       name == "ag_bridge_out";
}

} // namespace airgap
