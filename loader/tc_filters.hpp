// Listing TC filters over rtnetlink, which libbpf's TC API cannot do.
#pragma once

#include <bpf/libbpf.h>

namespace airgap {

// Number of filters on one direction of an interface's clsact qdisc; 0 when
// the interface has no clsact. Throws Error on a netlink failure.
int count_tc_filters(int ifindex, bpf_tc_attach_point point);

} // namespace airgap
