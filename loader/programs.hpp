// The BPF programs and maps of one loaded skeleton.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "loader/rule_maps.hpp"
#include "loader/unique_fd.hpp"

struct airgap_bpf;

namespace airgap {

struct ProgramOptions {
	// Pin (or reuse) the maps under this bpffs directory; none: no pinning.
	std::optional<std::string> pin_dir;
	// Map sizes. Unset: the pinned maps' sizes, or the defaults on a first load.
	std::optional<std::uint32_t> max_rules;
	std::optional<std::uint32_t> max_flows;
};

struct ProgramFds {
	int uplink_xdp;
	int uplink_egress;
	int bridge_ingress;
	int bridge_egress;
};

class Programs {
public:
	// Open the skeleton, size the maps, and load it into the kernel. Throws
	// Error; the verifier log goes to the log at debug level (-v).
	static Programs load(const ProgramOptions &options);

	Programs(Programs &&) noexcept;
	Programs &operator=(Programs &&) noexcept;
	~Programs();

	ProgramFds fds() const;
	FilterMaps::Fds map_fds() const;
	// Pin the bridge programs under pin_dir/progs, replacing older pins, so
	// that bridges appearing later can be hooked without a load.
	void pin_bridge_programs(const std::string &pin_dir) const;

private:
	struct Destroy {
		void operator()(::airgap_bpf *skel) const;
	};
	explicit Programs(std::unique_ptr<::airgap_bpf, Destroy> skel);
	std::unique_ptr<::airgap_bpf, Destroy> skel_;
};

// Names the kernel reports for the programs, to tell ours from another tool's.
bool is_airgap_program(const std::string &name);

// The bridge programs pinned by pin_bridge_programs().
struct PinnedBridgePrograms {
	UniqueFd ingress;
	UniqueFd egress;

	static PinnedBridgePrograms open(const std::string &pin_dir);
	ProgramFds fds() const { return {-1, -1, ingress.get(), egress.get()}; }
};

} // namespace airgap
