/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow tracking of the flows rules admitted, so that their replies pass without
 * the kernel's conntrack. */
#ifndef AG_BPF_FLOW_H
#define AG_BPF_FLOW_H

#include "parse.h"
#include "rule.h"

#define AG_NSEC_PER_SEC 1000000000ULL

/* Idle timeouts in seconds; the loader may set others before load. The values
 * follow the kernel conntrack defaults for TCP after a SYN, established TCP,
 * TCP after FIN, TCP after RST, UDP streams and ICMP. */
const volatile __u32 ag_timeout_tcp_syn = 120;
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

static __always_inline void flow_key_of_tuple(struct ag_flow_key *key, const __be32 saddr[4],
					      const __be32 daddr[4], __be16 sport, __be16 dport, __u8 proto,
					      enum ag_direction dir, enum ag_flow_zone zone)
{
	if (dir == AG_FROM_HOST) {
		copy_addr(key->local, saddr);
		copy_addr(key->remote, daddr);
		key->local_port = sport;
		key->remote_port = dport;
	} else {
		copy_addr(key->local, daddr);
		copy_addr(key->remote, saddr);
		key->local_port = dport;
		key->remote_port = sport;
	}
	key->proto = proto;
	key->zone = zone;
	key->pad[0] = 0;
	key->pad[1] = 0;
}

static __always_inline void flow_key_of(struct ag_flow_key *key, const struct ag_packet *pkt,
					enum ag_direction dir, enum ag_flow_zone zone)
{
	flow_key_of_tuple(key, pkt->saddr, pkt->daddr, pkt->sport, pkt->dport, pkt->proto, dir, zone);
}

static __always_inline __u64 flow_timeout_ns(__u8 proto, __u8 tcp_state)
{
	__u32 seconds = ag_timeout_other;

	if (proto == IPPROTO_TCP) {
		if (tcp_state == AG_TCP_SYN)
			seconds = ag_timeout_tcp_syn;
		else if (tcp_state == AG_TCP_RST)
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

#define AG_TCP_FLAG_FIN 0x01
#define AG_TCP_FLAG_SYN 0x02
#define AG_TCP_FLAG_RST 0x04
#define AG_TCP_FLAG_ACK 0x10

static __always_inline __u8 tcp_state_after(__u8 state, __u8 tcp_flags)
{
	bool syn = tcp_flags & AG_TCP_FLAG_SYN, ack = tcp_flags & AG_TCP_FLAG_ACK;

	if (tcp_flags & AG_TCP_FLAG_RST)
		return AG_TCP_RST;
	if (syn && !ack) /* a new connection, possibly reusing a closed 4-tuple */
		return AG_TCP_SYN;
	/* The filter reads no sequence numbers, so it cannot tell a valid RST
	 * from a spoofed one. Traffic after a RST means the connection lives. */
	if ((state == AG_TCP_SYN || state == AG_TCP_RST) && ack)
		state = AG_TCP_OPEN;
	if ((tcp_flags & AG_TCP_FLAG_FIN) && state == AG_TCP_OPEN)
		return AG_TCP_FIN;
	return state;
}

/*
 * Check a tracked flow for this packet and refresh it. Returns 0 when the
 * flow admits the packet (and counts it to the flow's rule, which it stores
 * in admitted), AG_DROP_NO_RULE when there is no flow, or why the flow no
 * longer admits anything.
 */
static __always_inline int flow_admit(const struct ag_flow_key *key, const struct ag_packet *pkt,
				      __u32 len, __u64 now, struct ag_rule_ref *admitted)
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
	admitted->id = flow->rule_id;
	admitted->gen = flow->rule_gen;
	return 0;
}

/*
 * Admit an ICMP error whose quoted packet belongs to a tracked flow; dir is
 * the quoted packet's direction. The flow is not refreshed: an error is no
 * sign that the flow is alive.
 */
static __always_inline int related_admit(const struct ag_packet *pkt, enum ag_direction dir, __u32 len,
					 __u64 now)
{
	const struct ag_quoted *q = &pkt->quoted;
	struct ag_flow_key key;
	struct ag_flow *flow;

	flow_key_of_tuple(&key, q->saddr, q->daddr, q->sport, q->dport, q->proto, dir, AG_ZONE_UPLINK);
	flow = bpf_map_lookup_elem(&ag_flows, &key);
	if (!flow)
		return AG_DROP_NO_RULE;
	if (!rule_is_live(flow->rule_id, flow->rule_gen))
		return AG_DROP_RULE_REMOVED;
	if (now - flow->last_seen_ns > flow_timeout_ns(q->proto, flow->tcp_state))
		return AG_DROP_FLOW_EXPIRED;
	count_rule(flow->rule_id, len);
	return 0;
}

/* Later fragments are admitted this long after their first one; Linux gives
 * up reassembly after 30 s (IPv4) and 60 s (IPv6) by default. */
#define AG_FRAGMENT_TIMEOUT_NS (60 * AG_NSEC_PER_SEC)

/* Keyed by hook too: a first fragment admitted on one hook admits nothing
 * on another, such as a datagram sent from the uplink with the addresses
 * and id of one a container sent to the host. */
static __always_inline void fragment_key_of(struct ag_fragment_key *key, const struct ag_packet *pkt,
					    enum ag_hook hook)
{
	copy_addr(key->saddr, pkt->saddr);
	copy_addr(key->daddr, pkt->daddr);
	key->id = pkt->frag_id;
	/* IPv4 reassembles by (addresses, id, protocol) (RFC 791). IPv6 by
	 * (addresses, id) only: its fragments' next-header fields may differ
	 * (RFC 8200), and a later fragment has none past the fragment header. */
	key->proto = pkt->eth_proto == bpf_htons(ETH_P_IPV6) ? 0 : pkt->proto;
	key->hook = hook;
	key->pad[0] = 0;
	key->pad[1] = 0;
}

/* Remember an admitted first fragment, so that the rest of its packet passes
 * the same hook. */
static __always_inline void fragment_record(const struct ag_packet *pkt, enum ag_hook hook,
					    const struct ag_rule_ref *rule, __u64 now)
{
	struct ag_fragment_key key;
	struct ag_fragment value = {
		.first_seen_ns = now,
		.rule_id = rule->id,
		.rule_gen = rule->gen,
	};

	if (pkt->fragment != AG_FRAG_FIRST)
		return;
	fragment_key_of(&key, pkt, hook);
	bpf_map_update_elem(&ag_fragments, &key, &value, BPF_ANY);
}

/* Admit a later fragment whose first fragment was admitted; it carries no
 * ports, so nothing else may judge it. */
static __always_inline int fragment_admit(const struct ag_packet *pkt, enum ag_hook hook, __u32 len,
					  __u64 now)
{
	struct ag_fragment_key key;
	struct ag_fragment *first;

	fragment_key_of(&key, pkt, hook);
	first = bpf_map_lookup_elem(&ag_fragments, &key);
	if (!first)
		return AG_DROP_ORPHAN_FRAGMENT;
	if (!rule_is_live(first->rule_id, first->rule_gen))
		return AG_DROP_RULE_REMOVED;
	if (now - first->first_seen_ns > AG_FRAGMENT_TIMEOUT_NS) {
		bpf_map_delete_elem(&ag_fragments, &key);
		return AG_DROP_ORPHAN_FRAGMENT;
	}
	count_rule(first->rule_id, len);
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
