// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The air gap's four entry points. Each hook's decision function returns a
 * verdict with its reason; the entry point counts it through account() and
 * maps it to the hook's return code.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "lib/maps.h"
#include "lib/verdict.h"
#include "lib/parse.h"
#include "lib/rule.h"
#include "lib/flow.h"

#define AG_AF_INET 2

/* How much of an skb must be linear for the parser: Ethernet, two VLAN tags,
 * an IPv4 header with options and a TCP header with options. */
#define AG_PULL_LEN (14 + 2 * 4 + 60 + 60)

#define AG_DHCP_SERVER_PORT 67
#define AG_DHCP_CLIENT_PORT 68

static __always_inline bool dhcp_enabled(void)
{
	__u32 zero = 0;
	struct ag_settings *settings = bpf_map_lookup_elem(&ag_settings, &zero);

	return settings && (settings->flags & AG_SETTING_DHCP);
}

static __always_inline bool is_dhcp(const struct ag_packet *pkt, __u16 sport, __u16 dport)
{
	return pkt->proto == IPPROTO_UDP && pkt->sport == bpf_htons(sport) &&
	       pkt->dport == bpf_htons(dport);
}

/* Make the headers the parser reads linear, when the skb is long enough to have them. */
static __always_inline void pull_headers(struct __sk_buff *skb)
{
	__u32 want = skb->len < AG_PULL_LEN ? skb->len : AG_PULL_LEN;

	if ((__u32)(skb->data_end - skb->data) < want)
		bpf_skb_pull_data(skb, want);
}

/* Inbound on the uplink: replies of tracked flows, allow-in rules, ARP and DHCP replies. */
static __always_inline int uplink_ingress_verdict(struct ag_packet *pkt, void *data, void *data_end,
						  __u32 len)
{
	struct ag_flow_key key;
	struct ag_rule_ref *rule;
	__u64 now;
	int err;

	err = parse_packet(data, data_end, len, pkt);
	if (err)
		return AG_DROP(err);
	if (pkt->eth_proto == bpf_htons(ETH_P_ARP))
		return AG_PASS(AG_PASS_LINK);
	if (pkt->eth_proto != bpf_htons(ETH_P_IP))
		return AG_DROP(AG_DROP_NOT_PARSED);
	if (is_dhcp(pkt, AG_DHCP_SERVER_PORT, AG_DHCP_CLIENT_PORT) && dhcp_enabled())
		return AG_PASS(AG_PASS_LINK);

	now = bpf_ktime_get_coarse_ns();
	flow_key_of(&key, pkt, AG_TO_HOST);
	err = flow_admit(&key, pkt, len, now);
	if (!err)
		return AG_PASS(AG_PASS_FLOW);

	rule = lookup_rule(AG_RULE_ALLOW_IN, pkt->proto, pkt->dport, pkt->saddr);
	if (!rule)
		return AG_DROP(err);
	flow_record(&key, pkt, rule, now);
	count_rule(rule->id, len);
	return AG_PASS(AG_PASS_RULE);
}

/* Outbound on the uplink: only what the host itself sends, to allow-out rules
 * and replies of flows admitted inbound; ARP and DHCP requests. */
static __always_inline int uplink_egress_verdict(struct __sk_buff *skb, struct ag_packet *pkt)
{
	struct ag_flow_key key;
	struct ag_rule_ref *rule;
	__u64 now;
	int err;

	pull_headers(skb);
	err = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, pkt);
	if (err)
		return AG_DROP(err);
	if (pkt->eth_proto == bpf_htons(ETH_P_ARP))
		return AG_PASS(AG_PASS_LINK);
	/* A routed packet (from a container, after docker's NAT) arrived on
	 * another interface; what the host sends itself has no ingress device. */
	if (skb->ingress_ifindex != 0)
		return AG_DROP(AG_DROP_NOT_FROM_HOST);
	if (pkt->eth_proto != bpf_htons(ETH_P_IP))
		return AG_DROP(AG_DROP_NOT_PARSED);
	if (is_dhcp(pkt, AG_DHCP_CLIENT_PORT, AG_DHCP_SERVER_PORT) && dhcp_enabled())
		return AG_PASS(AG_PASS_LINK);

	now = bpf_ktime_get_coarse_ns();
	flow_key_of(&key, pkt, AG_FROM_HOST);
	err = flow_admit(&key, pkt, skb->len, now);
	if (!err)
		return AG_PASS(AG_PASS_FLOW);

	rule = lookup_rule(AG_RULE_ALLOW_OUT, pkt->proto, pkt->dport, pkt->daddr);
	if (!rule)
		return AG_DROP(err);
	flow_record(&key, pkt, rule, now);
	count_rule(rule->id, skb->len);
	return AG_PASS(AG_PASS_RULE);
}

/* True when the kernel will deliver the packet locally rather than route it. */
static __always_inline bool is_for_host(struct __sk_buff *skb, const struct ag_packet *pkt)
{
	struct bpf_fib_lookup fib = {
		.family = AG_AF_INET,
		.l4_protocol = pkt->proto,
		.sport = pkt->sport,
		.dport = pkt->dport,
		.ifindex = skb->ifindex,
		.ipv4_src = pkt->saddr[3],
		.ipv4_dst = pkt->daddr[3],
	};
	int rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);

	/* A local destination is "not forwarded". With forwarding off on the
	 * bridge the kernel routes nothing from it, so local delivery is all
	 * that can happen. */
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/* From containers into the host stack: only forwards to the host's own addresses. */
static __always_inline int bridge_ingress_verdict(struct __sk_buff *skb, struct ag_packet *pkt)
{
	struct ag_rule_ref *rule;
	int err;

	pull_headers(skb);
	err = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, pkt);
	if (err)
		return AG_DROP(err);
	if (pkt->eth_proto == bpf_htons(ETH_P_ARP))
		return AG_PASS(AG_PASS_LINK);
	if (pkt->eth_proto != bpf_htons(ETH_P_IP))
		return AG_DROP(AG_DROP_NOT_PARSED);

	rule = lookup_rule(AG_RULE_FORWARD, pkt->proto, pkt->dport, pkt->saddr);
	if (!rule)
		return AG_DROP(AG_DROP_NO_RULE);
	if (!is_for_host(skb, pkt))
		return AG_DROP(AG_DROP_NOT_TO_HOST);
	count_rule(rule->id, skb->len);
	return AG_PASS(AG_PASS_RULE);
}

/* From the host stack into a bridge: what the host sends (replies to forwards,
 * host-initiated traffic); never what it routes in from elsewhere, such as
 * docker's DNAT of published ports. */
static __always_inline int bridge_egress_verdict(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex != 0) {
		struct ag_packet pkt = {};
		int err;

		/* ARP replies are answered by the host, but a proxied or routed
		 * ARP frame is still only ARP. */
		pull_headers(skb);
		err = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
				   &pkt);
		if (!err && pkt.eth_proto == bpf_htons(ETH_P_ARP))
			return AG_PASS(AG_PASS_LINK);
		return AG_DROP(AG_DROP_NOT_FROM_HOST);
	}
	return AG_PASS(AG_PASS_HOST);
}

/* Attached as XDP on the uplink (native, or generic as a fallback). */
SEC("xdp")
int ag_uplink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct ag_packet pkt = {};
	int verdict = uplink_ingress_verdict(&pkt, data, data_end, len);

	return account(AG_HOOK_UPLINK_XDP, verdict, len) ? XDP_PASS : XDP_DROP;
}

/* Attached as TC egress (clsact) on the uplink. */
SEC("tc")
int ag_uplink_out(struct __sk_buff *skb)
{
	struct ag_packet pkt = {};
	int verdict = uplink_egress_verdict(skb, &pkt);

	return account(AG_HOOK_UPLINK_EGRESS, verdict, skb->len) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* Attached as TC ingress (clsact) on each docker bridge. */
SEC("tc")
int ag_bridge_in(struct __sk_buff *skb)
{
	struct ag_packet pkt = {};
	int verdict = bridge_ingress_verdict(skb, &pkt);

	return account(AG_HOOK_BRIDGE_INGRESS, verdict, skb->len) ? TC_ACT_OK : TC_ACT_SHOT;
}

/* Attached as TC egress (clsact) on each docker bridge. */
SEC("tc")
int ag_bridge_out(struct __sk_buff *skb)
{
	int verdict = bridge_egress_verdict(skb);

	return account(AG_HOOK_BRIDGE_EGRESS, verdict, skb->len) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
