// Probing the running kernel for what the programs need, so that a kernel
// too old fails with the missing feature's name instead of a verifier dump.
#pragma once

#include <string>
#include <vector>

namespace airgap {

struct MissingFeature {
	std::string name;
	std::string since; // first Linux release that has it
};

std::vector<MissingFeature> missing_kernel_features();

// Throw Error listing every missing feature and the kernel each needs.
void require_kernel_features();

} // namespace airgap
