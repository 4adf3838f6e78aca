#include "loader/counter_names.hpp"

#include <fmt/format.h>

#include "maps/airgap_maps.h"

namespace airgap {

std::string hook_name(unsigned hook)
{
	switch (hook) {
	case AG_HOOK_UPLINK_XDP:
		return "uplink-xdp";
	case AG_HOOK_UPLINK_EGRESS:
		return "uplink-egress";
	case AG_HOOK_BRIDGE_INGRESS:
		return "bridge-ingress";
	case AG_HOOK_BRIDGE_EGRESS:
		return "bridge-egress";
	}
	return fmt::format("hook-{}", hook);
}

std::string pass_reason_name(unsigned reason)
{
	switch (reason) {
	case AG_PASS_RULE:
		return "rule";
	case AG_PASS_FLOW:
		return "flow";
	case AG_PASS_LINK:
		return "link";
	case AG_PASS_HOST:
		return "from-host";
	case AG_PASS_RELATED:
		return "related";
	case AG_PASS_FRAGMENT:
		return "fragment";
	}
	return fmt::format("pass-{}", reason);
}

std::string drop_reason_name(unsigned reason)
{
	switch (reason) {
	case AG_DROP_NO_RULE:
		return "no-rule";
	case AG_DROP_MALFORMED:
		return "malformed";
	case AG_DROP_NOT_PARSED:
		return "not-parsed";
	case AG_DROP_NOT_FROM_HOST:
		return "not-from-host";
	case AG_DROP_NOT_TO_HOST:
		return "not-to-host";
	case AG_DROP_RULE_REMOVED:
		return "rule-removed";
	case AG_DROP_FLOW_EXPIRED:
		return "flow-expired";
	case AG_DROP_ORPHAN_FRAGMENT:
		return "orphan-fragment";
	}
	return fmt::format("drop-{}", reason);
}

} // namespace airgap
