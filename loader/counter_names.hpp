// Names of hooks and of pass and drop reasons, as stats, the tests and the
// docs show them.
#pragma once

#include <string>

namespace airgap {

std::string hook_name(unsigned hook);         // enum ag_hook
std::string pass_reason_name(unsigned reason); // enum ag_pass_reason
std::string drop_reason_name(unsigned reason); // enum ag_drop_reason

} // namespace airgap
