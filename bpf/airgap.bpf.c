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
#include "lib/link.h"
#include "lib/host.h"

#define AG_AF_INET 2
#define AG_AF_INET6 10

/* How much of an skb must be linear for the parser: Ethernet, two VLAN tags,
 * an IPv6 header with a few extension headers, and a TCP header with options,
 * or an ICMP error with the packet it quotes. */
#define AG_PULL_LEN 256

/* Longest ICMP errors Linux sends: 576 bytes for IPv4 (icmp_send) and the
 * IPv6 minimum MTU for ICMPv6 (icmp6_send). */
#define AG_MAX_ICMP_ERROR_LEN 576
#define AG_MAX_ICMPV6_ERROR_LEN 1280

static __always_inline bool same_addr(const __be32 a[4], const __be32 b[4])
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* Make the headers the parser reads linear, when the skb is long enough to have them. */
static __always_inline void pull_headers(struct __sk_buff *skb)
{
	__u32 want = skb->len < AG_PULL_LEN ? skb->len : AG_PULL_LEN;

	if ((__u32)(skb->data_end - skb->data) < want)
		bpf_skb_pull_data(skb, want);
}

/*
 * True when the packet, received on ifindex, is for the host's own stack: it
 * is sent to one of the host's addresses, and the kernel does not route it
 * on. ctx is the hook's context, which bpf_fib_lookup() takes in XDP and TC
 * alike.
 */
static __always_inline bool is_for_host(void *ctx, __u32 ifindex, const struct ag_packet *pkt)
{
	struct bpf_fib_lookup fib = {
		.l4_protocol = pkt->proto,
		.sport = pkt->sport,
		.dport = pkt->dport,
		.ifindex = ifindex,
	};
	int rc;

	if (!host_addr_is_known(pkt->daddr))
		return false;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP)) {
		fib.family = AG_AF_INET;
		fib.ipv4_src = pkt->saddr[3];
		fib.ipv4_dst = pkt->daddr[3];
	} else {
		fib.family = AG_AF_INET6;
		copy_addr(fib.ipv6_src, pkt->saddr);
		copy_addr(fib.ipv6_dst, pkt->daddr);
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);

	/* The lookup keeps a forged entry of ag_host_addrs from opening a port
	 * on a node the host routes to. With forwarding off on the interface
	 * the kernel routes nothing that arrives on it. */
	return rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/*
 * Decide what the uplink hooks share once the link's own traffic is out of
 * the way. Later fragments follow their first one and ICMP errors follow the
 * flow they quote. Other packets need a tracked flow or a rule of kind
 * rule_kind, matched on the remote address and the host-side port.
 */
static __always_inline int uplink_flow_verdict(void *ctx, __u32 ifindex, struct ag_packet *pkt,
					       enum ag_direction dir, __u8 rule_kind, __u32 len)
{
	struct ag_rule_ref admitted;
	struct ag_flow_key key;
	struct ag_rule_ref *rule;
	enum ag_hook hook = dir == AG_TO_HOST ? AG_HOOK_UPLINK_XDP : AG_HOOK_UPLINK_EGRESS;
	__u64 now = bpf_ktime_get_coarse_ns();
	int err;

	if (pkt->fragment == AG_FRAG_LATER) {
		err = fragment_admit(pkt, hook, len, now);
		return err ? AG_DROP(err) : AG_PASS(AG_PASS_FRAGMENT);
	}

	if (pkt->icmp_error) {
		/* The quoted packet travelled the other way, between the same
		 * host address and remote. An inbound error may come from any
		 * router on the path. An outbound one goes back only to the
		 * quoted packet's sender, and is no longer than the errors the
		 * kernel makes, so that no process can carry data out in one. */
		const __be32 *host = dir == AG_TO_HOST ? pkt->daddr : pkt->saddr;
		const __be32 *quoted_host = dir == AG_TO_HOST ? pkt->quoted.saddr : pkt->quoted.daddr;

		if (!same_addr(host, quoted_host))
			return AG_DROP(AG_DROP_NO_RULE);
		if (dir == AG_FROM_HOST) {
			bool ipv6 = pkt->eth_proto == bpf_htons(ETH_P_IPV6);

			if (!same_addr(pkt->daddr, pkt->quoted.saddr) ||
			    pkt->ip_len > (ipv6 ? AG_MAX_ICMPV6_ERROR_LEN : AG_MAX_ICMP_ERROR_LEN))
				return AG_DROP(AG_DROP_NO_RULE);
		}
		err = related_admit(pkt, dir == AG_TO_HOST ? AG_FROM_HOST : AG_TO_HOST, len, now);
		return err ? AG_DROP(err) : AG_PASS(AG_PASS_RELATED);
	}

	flow_key_of(&key, pkt, dir, AG_ZONE_UPLINK);
	err = flow_admit(&key, pkt, len, now, &admitted);
	if (!err) {
		fragment_record(pkt, hook, &admitted, now);
		return AG_PASS(AG_PASS_FLOW);
	}

	if (dir == AG_TO_HOST)
		rule = lookup_rule(rule_kind, pkt->proto, pkt->dport, pkt->saddr);
	else
		rule = lookup_rule(rule_kind, pkt->proto, pkt->dport, pkt->daddr);
	if (!rule)
		return AG_DROP(err);
	/* An allow-in rule opens the host's port, not one of a network the
	 * host routes to. */
	if (dir == AG_TO_HOST && !is_for_host(ctx, ifindex, pkt))
		return AG_DROP(AG_DROP_NOT_TO_HOST);
	flow_record(&key, pkt, rule, now);
	fragment_record(pkt, hook, rule, now);
	count_rule(rule->id, len);
	return AG_PASS(AG_PASS_RULE);
}

/* Inbound on the uplink: replies of tracked flows, allow-in rules, ARP,
 * neighbour discovery and the replies of an open DHCP exchange. */
static __always_inline int uplink_ingress_verdict(struct xdp_md *ctx, struct ag_packet *pkt, void *data,
						  void *data_end, __u32 len)
{
	int err = parse_packet(data, data_end, len, pkt);

	if (err)
		return AG_DROP(err);
	if (pkt->eth_proto == bpf_htons(ETH_P_ARP))
		return AG_PASS(AG_PASS_LINK);
	if (!is_ip(pkt))
		return AG_DROP(AG_DROP_NOT_PARSED);
	if (is_link_local_control(pkt))
		return AG_PASS(AG_PASS_LINK);
	if (is_dhcp_reply(pkt) && dhcp_enabled() && dhcp_exchange_is_open(pkt, bpf_ktime_get_coarse_ns()))
		return AG_PASS(AG_PASS_LINK);
	return uplink_flow_verdict(ctx, ctx->ingress_ifindex, pkt, AG_TO_HOST, AG_RULE_ALLOW_IN, len);
}

/* Outbound on the uplink: only what the host itself sends, to allow-out rules
 * and replies of flows admitted inbound; ARP, neighbour discovery and DHCP. */
static __always_inline int uplink_egress_verdict(struct __sk_buff *skb, struct ag_packet *pkt)
{
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
	if (!is_ip(pkt))
		return AG_DROP(AG_DROP_NOT_PARSED);
	host_addr_learn(pkt);
	if (is_link_local_control(pkt))
		return AG_PASS(AG_PASS_LINK);
	if (is_dhcp_request(pkt) && dhcp_enabled()) {
		dhcp_exchange_open(pkt, bpf_ktime_get_coarse_ns());
		return AG_PASS(AG_PASS_LINK);
	}
	return uplink_flow_verdict(skb, skb->ifindex, pkt, AG_FROM_HOST, AG_RULE_ALLOW_OUT, skb->len);
}

/* From containers into the host stack: replies of flows the host opened into
 * the bridge, and forwards to the host itself. */
static __always_inline int bridge_ingress_verdict(struct __sk_buff *skb, struct ag_packet *pkt)
{
	struct ag_rule_ref admitted;
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
	if (!is_ip(pkt))
		return AG_DROP(AG_DROP_NOT_PARSED);
	/* A container is no router: its router advertisements would redirect
	 * the host's traffic, so they drop as any unforwarded packet. */
	if (is_link_local_control(pkt) && pkt->icmp_type != AG_ND_ROUTER_ADVERT)
		return AG_PASS(AG_PASS_LINK);

	now = bpf_ktime_get_coarse_ns();
	if (pkt->fragment == AG_FRAG_LATER) {
		err = fragment_admit(pkt, AG_HOOK_BRIDGE_INGRESS, skb->len, now);
		return err ? AG_DROP(err) : AG_PASS(AG_PASS_FRAGMENT);
	}
	err = AG_DROP_NO_RULE;
	if (!pkt->icmp_error) {
		flow_key_of(&key, pkt, AG_TO_HOST, AG_ZONE_BRIDGE);
		err = flow_admit(&key, pkt, skb->len, now, &admitted);
		if (!err) {
			fragment_record(pkt, AG_HOOK_BRIDGE_INGRESS, &admitted, now);
			return AG_PASS(AG_PASS_FLOW);
		}
	}
	rule = lookup_rule(AG_RULE_FORWARD, pkt->proto, pkt->dport, pkt->saddr);
	if (!rule)
		return AG_DROP(err);
	if (!is_for_host(skb, skb->ifindex, pkt))
		return AG_DROP(AG_DROP_NOT_TO_HOST);
	fragment_record(pkt, AG_HOOK_BRIDGE_INGRESS, rule, now);
	count_rule(rule->id, skb->len);
	return AG_PASS(AG_PASS_RULE);
}

/*
 * Learn the source address of what the host sends into a bridge, and track a
 * flow the host opens there, so that the container's replies pass bridge
 * ingress: a TCP SYN opens one, and so does any other packet unless it
 * replies to a forward, whose rule counts and cuts that exchange. A packet of a
 * tracked flow refreshes it. The verdict does not depend on either.
 */
static __always_inline void bridge_host_packet(struct __sk_buff *skb)
{
	struct ag_rule_ref host = { .id = AG_RULE_ID_HOST };
	struct ag_rule_ref admitted;
	struct ag_packet pkt = {};
	struct ag_flow_key key;
	__u64 now;

	pull_headers(skb);
	if (parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &pkt))
		return;
	if (!is_ip(&pkt))
		return;
	host_addr_learn(&pkt);
	if (pkt.fragment == AG_FRAG_LATER || pkt.icmp_error)
		return;
	now = bpf_ktime_get_coarse_ns();
	flow_key_of(&key, &pkt, AG_FROM_HOST, AG_ZONE_BRIDGE);
	if (pkt.proto == IPPROTO_TCP) {
		if ((pkt.tcp_flags & (AG_TCP_FLAG_SYN | AG_TCP_FLAG_ACK)) == AG_TCP_FLAG_SYN)
			flow_record(&key, &pkt, &host, now);
		else
			flow_admit(&key, &pkt, skb->len, now, &admitted);
		return;
	}
	if (!flow_admit(&key, &pkt, skb->len, now, &admitted))
		return;
	if (lookup_rule(AG_RULE_FORWARD, pkt.proto, pkt.sport, pkt.daddr))
		return;
	flow_record(&key, &pkt, &host, now);
}

/* From the host stack into a bridge: what the host sends (replies to forwards,
 * host-initiated traffic); never what it routes in from elsewhere, such as
 * docker's DNAT of published ports. */
static __always_inline int bridge_egress_verdict(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex != 0) {
		struct ag_packet pkt = {};
		int err;

		/* Only the link's own traffic may have come from elsewhere: ARP
		 * and neighbour discovery the bridge floods back. */
		pull_headers(skb);
		err = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len,
				   &pkt);
		if (!err && (pkt.eth_proto == bpf_htons(ETH_P_ARP) || is_link_local_control(&pkt)))
			return AG_PASS(AG_PASS_LINK);
		return AG_DROP(AG_DROP_NOT_FROM_HOST);
	}
	bridge_host_packet(skb);
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
	int verdict = uplink_ingress_verdict(ctx, &pkt, data, data_end, len);

	return account(AG_HOOK_UPLINK_XDP, verdict, len) ? XDP_PASS : XDP_DROP;
}

/*
 * Attached as TC egress (clsact) on the uplink. A pass returns TC_ACT_UNSPEC
 * rather than TC_ACT_OK, so that filters of other tools after this one still
 * run; they see only what the air gap admitted.
 */
SEC("tc")
int ag_uplink_out(struct __sk_buff *skb)
{
	struct ag_packet pkt = {};
	int verdict = uplink_egress_verdict(skb, &pkt);

	return account(AG_HOOK_UPLINK_EGRESS, verdict, skb->len) ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

/* Attached as TC ingress (clsact) on each docker bridge. */
SEC("tc")
int ag_bridge_in(struct __sk_buff *skb)
{
	struct ag_packet pkt = {};
	int verdict = bridge_ingress_verdict(skb, &pkt);

	return account(AG_HOOK_BRIDGE_INGRESS, verdict, skb->len) ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

/* Attached as TC egress (clsact) on each docker bridge. */
SEC("tc")
int ag_bridge_out(struct __sk_buff *skb)
{
	int verdict = bridge_egress_verdict(skb);

	return account(AG_HOOK_BRIDGE_EGRESS, verdict, skb->len) ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
