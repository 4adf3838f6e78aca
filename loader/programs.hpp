// The BPF programs and maps of one loaded skeleton.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "loader/rule_maps.hpp"

struct airgap_bpf;

namespace airgap {

struct ProgramOptions {
	// Pin (or reuse) the maps under this bpffs directory; none: no pinning.
	std::optional<std::string> pin_dir;
	// Map sizes. Unset: the pinned maps' sizes, or the defaults on a first load.
	std::optional<std::uint32_t> max_rules;
	std::optional<std::uint32_t> max_flows;
};

class Programs {
public:
	// Open the skeleton, size the maps, and load it into the kernel. Throws
	// Error; the verifier log goes to the log at debug level (-v).
	static Programs load(const ProgramOptions &options);

	Programs(Programs &&) noexcept;
	Programs &operator=(Programs &&) noexcept;
	~Programs();

	int uplink_xdp() const;
	int uplink_egress() const;
	int bridge_ingress() const;
	int bridge_egress() const;
	FilterMaps::Fds map_fds() const;

private:
	struct Destroy {
		void operator()(::airgap_bpf *skel) const;
	};
	explicit Programs(std::unique_ptr<::airgap_bpf, Destroy> skel);
	std::unique_ptr<::airgap_bpf, Destroy> skel_;
};

// Names the kernel reports for the programs, to tell ours from another tool's.
bool is_airgap_program(const std::string &name);

} // namespace airgap
