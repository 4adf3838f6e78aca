/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow tracking of the flows rules admitted, so that their replies pass without
 * the kernel's conntrack. */
#ifndef AG_BPF_FLOW_H
#define AG_BPF_FLOW_H

#include "parse.h"
#include "rule.h"

#define AG_NSEC_PER_SEC 1000000000ULL

/* Idle timeouts in seconds; the loader may set others before load. The TCP
 * and UDP values follow the kernel conntrack defaults for established TCP,
 * TCP after FIN, TCP after RST, UDP streams and ICMP. */
const volatile __u32 ag_timeout_tcp_open = 432000;
const volatile __u32 ag_timeout_tcp_fin = 120;
const volatile __u32 ag_timeout_tcp_rst = 10;
const volatile __u32 ag_timeout_udp = 120;
const volatile __u32 ag_timeout_other = 30;

/* last_seen is rewritten at most this often, so that a busy flow does not
 * bounce its cache line between CPUs on every packet. */
#define AG_FLOW_TOUCH_NS AG_NSEC_PER_SEC

enum ag_direction {
	AG_FROM_HOST, /* the packet's source is the host */
	AG_TO_HOST,   /* the packet's destination is the host */
};

static __always_inline void copy_addr(__be32 dst[4], const __be32 src[4])
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

static __always_inline void flow_key_of(struct ag_flow_key *key, const struct ag_packet *pkt,
					enum ag_direction dir)
{
	if (dir == AG_FROM_HOST) {
		copy_addr(key->local, pkt->saddr);
		copy_addr(key->remote, pkt->daddr);
		key->local_port = pkt->sport;
		key->remote_port = pkt->dport;
	} else {
		copy_addr(key->local, pkt->daddr);
		copy_addr(key->remote, pkt->saddr);
		key->local_port = pkt->dport;
		key->remote_port = pkt->sport;
	}
	key->proto = pkt->proto;
	key->pad[0] = 0;
	key->pad[1] = 0;
	key->pad[2] = 0;
}

static __always_inline __u64 flow_timeout_ns(__u8 proto, __u8 tcp_state)
{
	__u32 seconds = ag_timeout_other;

	if (proto == IPPROTO_TCP) {
		if (tcp_state == AG_TCP_RST)
			seconds = ag_timeout_tcp_rst;
		else if (tcp_state == AG_TCP_FIN)
			seconds = ag_timeout_tcp_fin;
		else
			seconds = ag_timeout_tcp_open;
	} else if (proto == IPPROTO_UDP) {
		seconds = ag_timeout_udp;
	}
	return (__u64)seconds * AG_NSEC_PER_SEC;
}

static __always_inline __u8 tcp_state_after(__u8 state, __u8 tcp_flags)
{
	if (tcp_flags & 0x04) /* RST */
		return AG_TCP_RST;
	if (state == AG_TCP_OPEN && (tcp_flags & 0x01)) /* FIN */
		return AG_TCP_FIN;
	if ((tcp_flags & 0x02) && !(tcp_flags & 0x10)) /* a new SYN reopens the 4-tuple */
		return AG_TCP_OPEN;
	return state;
}

/*
 * Check a tracked flow for this packet and refresh it. Returns 0 when the
 * flow admits the packet (and counts it to the flow's rule), AG_DROP_NO_RULE
 * when there is no flow, or why the flow no longer admits anything.
 */
static __always_inline int flow_admit(const struct ag_flow_key *key, const struct ag_packet *pkt,
				      __u32 len, __u64 now)
{
	struct ag_flow *flow = bpf_map_lookup_elem(&ag_flows, key);
	__u8 state;

	if (!flow)
		return AG_DROP_NO_RULE;
	if (!rule_is_live(flow->rule_id, flow->rule_gen)) {
		bpf_map_delete_elem(&ag_flows, key);
		return AG_DROP_RULE_REMOVED;
	}
	if (now - flow->last_seen_ns > flow_timeout_ns(pkt->proto, flow->tcp_state)) {
		bpf_map_delete_elem(&ag_flows, key);
		return AG_DROP_FLOW_EXPIRED;
	}

	state = flow->tcp_state;
	if (pkt->proto == IPPROTO_TCP)
		state = tcp_state_after(state, pkt->tcp_flags);
	if (state != flow->tcp_state || now - flow->last_seen_ns > AG_FLOW_TOUCH_NS) {
		flow->tcp_state = state;
		flow->last_seen_ns = now;
	}
	count_rule(flow->rule_id, len);
	return 0;
}

/* Record a flow that a rule just admitted, so that its replies pass. */
static __always_inline void flow_record(const struct ag_flow_key *key, const struct ag_packet *pkt,
					const struct ag_rule_ref *rule, __u64 now)
{
	struct ag_flow flow = {
		.last_seen_ns = now,
		.rule_id = rule->id,
		.rule_gen = rule->gen,
		.tcp_state = AG_TCP_OPEN,
	};

	if (pkt->proto == IPPROTO_TCP)
		flow.tcp_state = tcp_state_after(AG_TCP_OPEN, pkt->tcp_flags);
	bpf_map_update_elem(&ag_flows, key, &flow, BPF_ANY);
}

#endif
