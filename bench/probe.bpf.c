// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pieces of the uplink XDP program, each ending in the same drop, so that
 * the benchmark can attribute the program's per-packet cost to its parts.
 * Each program adds one step to the previous one and uses the filter's own
 * inline functions; the loader points their maps at a loaded filter's maps,
 * so that the rule trie and flow table are the ones being measured.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"
#include "lib/verdict.h"
#include "lib/parse.h"
#include "lib/rule.h"
#include "lib/flow.h"
#include "lib/link.h"

/* Parse the frame, count the verdict and drop. */
SEC("xdp")
int probe_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ag_packet pkt = {};
	int err = parse_packet(data, data_end, len, &pkt);

	account(AG_HOOK_UPLINK_XDP, AG_DROP(err ? err : AG_DROP_NO_RULE), len);
	return XDP_DROP;
}

/* Parse, look the packet up in the flow table, count and drop. */
SEC("xdp")
int probe_flow(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ag_packet pkt = {};
	struct ag_flow_key key;
	int err = parse_packet(data, data_end, len, &pkt);

	if (!err) {
		flow_key_of(&key, &pkt, AG_TO_HOST, AG_ZONE_UPLINK);
		if (bpf_map_lookup_elem(&ag_flows, &key))
			err = AG_DROP_NONE;
	}
	account(AG_HOOK_UPLINK_XDP, AG_DROP(err ? err : AG_DROP_NO_RULE), len);
	return XDP_DROP;
}

/* Parse, look the flow up, then the allow-in rule with its exact port and
 * any port, as a packet that no rule admits goes through; count and drop. */
SEC("xdp")
int probe_flow_rule(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ag_packet pkt = {};
	struct ag_flow_key key;
	int err = parse_packet(data, data_end, len, &pkt);

	if (!err) {
		flow_key_of(&key, &pkt, AG_TO_HOST, AG_ZONE_UPLINK);
		if (!bpf_map_lookup_elem(&ag_flows, &key) &&
		    lookup_rule(AG_RULE_ALLOW_IN, pkt.proto, pkt.dport, pkt.saddr))
			err = AG_DROP_NONE;
	}
	account(AG_HOOK_UPLINK_XDP, AG_DROP(err ? err : AG_DROP_NO_RULE), len);
	return XDP_DROP;
}

/* Like probe_flow_rule, but with one trie lookup, of the any-port key,
 * where the filter makes two: the cost of a single lookup. */
SEC("xdp")
int probe_flow_rule_once(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ag_packet pkt = {};
	struct ag_flow_key key;
	int err = parse_packet(data, data_end, len, &pkt);

	if (!err) {
		flow_key_of(&key, &pkt, AG_TO_HOST, AG_ZONE_UPLINK);
		if (!bpf_map_lookup_elem(&ag_flows, &key) &&
		    lookup_rule(AG_RULE_ALLOW_IN, pkt.proto, 0, pkt.saddr))
			err = AG_DROP_NONE;
	}
	account(AG_HOOK_UPLINK_XDP, AG_DROP(err ? err : AG_DROP_NO_RULE), len);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
