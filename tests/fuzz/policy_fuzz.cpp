// libFuzzer harness for the policy parser. Any input either parses or throws
// airgap::Error; a policy that parses must survive format_policy() and parse
// again to the same rules.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "loader/error.hpp"
#include "loader/policy.hpp"
#include "loader/policy_writer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	airgap::Policy policy;
	try {
		policy = airgap::parse_policy(text, "fuzz.toml");
	} catch (const airgap::Error &) {
		return 0;
	}

	std::string written = airgap::format_policy(policy);
	airgap::Policy again;
	try {
		again = airgap::parse_policy(written, "written.toml");
	} catch (const airgap::Error &e) {
		std::fprintf(stderr, "a formatted policy does not parse: %s\n%s\n", e.what(), written.c_str());
		std::abort();
	}
	if (again.effective_rules() != policy.effective_rules() || again.dhcp != policy.dhcp ||
	    again.uplink != policy.uplink || again.bridges != policy.bridges) {
		std::fprintf(stderr, "a policy changed through format and parse:\n%s\n", written.c_str());
		std::abort();
	}
	return 0;
}
