/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing: one function per layer over a cursor. Each checks its
 * header against the end of the data, advances the cursor, fills its part of
 * struct ag_packet and returns 0, or the drop reason when the header is
 * truncated, inconsistent or of a kind this parser does not handle. An air gap
 * drops what it cannot parse, so callers drop on any non-zero return.
 */
#ifndef AG_BPF_PARSE_H
#define AG_BPF_PARSE_H

#include <stdbool.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "airgap_maps.h"

#define AG_MAX_VLAN_TAGS 2

#define AG_IP_MF 0x2000
#define AG_IP_OFFSET 0x1fff

/* Verifier workaround: hides a value from the compiler, so that it cannot
 * rebuild a scalar from packet pointers with 32-bit arithmetic, which the
 * verifier rejects. */
#define ag_barrier_var(var) asm volatile("" : "+r"(var))

struct ag_cursor {
	void *pos;
	void *end;
	/* Bytes from the frame's start to pos, kept as a scalar because the
	 * verifier rejects 32-bit arithmetic on packet pointers. */
	__u32 offset;
};

/* linux/icmp.h would pull in libc's socket headers, so the two fields the
 * parser reads are declared here. */
#define AG_ICMP_ECHOREPLY 0
#define AG_ICMP_ECHO 8

struct ag_icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 echo_id;
	__be16 echo_sequence;
};

struct ag_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* What the hooks decide on. Addresses are IPv6 or IPv4-mapped, as in the maps. */
struct ag_packet {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport; /* ICMP echo: the identifier, in both ports */
	__be16 dport;
	__be16 eth_proto;
	__u8 proto;
	__u8 tcp_flags;
};

static __always_inline void map_ipv4(__be32 dst[4], __be32 addr)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0xffff);
	dst[3] = addr;
}

/* Ethernet, then at most AG_MAX_VLAN_TAGS 802.1Q or 802.1ad tags. */
static __always_inline int parse_eth(struct ag_cursor *c, struct ag_packet *pkt)
{
	struct ethhdr *eth = c->pos;
	__be16 proto;

	if ((void *)(eth + 1) > c->end)
		return AG_DROP_MALFORMED;
	c->pos = eth + 1;
	c->offset = sizeof(*eth);
	ag_barrier_var(c->offset);
	proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < AG_MAX_VLAN_TAGS; i++) {
		struct ag_vlan_hdr *vlan = c->pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > c->end)
			return AG_DROP_MALFORMED;
		proto = vlan->encap_proto;
		c->pos = vlan + 1;
		c->offset += sizeof(*vlan);
		ag_barrier_var(c->offset);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return AG_DROP_NOT_PARSED;

	pkt->eth_proto = proto;
	return 0;
}

/*
 * IPv4 header, options included. frame_left is the number of bytes of the
 * frame from the cursor on, which may exceed c->end - c->pos when only part
 * of an skb is linear; the total length must fit in it.
 */
static __always_inline int parse_ipv4(struct ag_cursor *c, struct ag_packet *pkt, __u32 frame_left)
{
	struct iphdr *ip = c->pos;
	__u32 hdr_len;

	if ((void *)(ip + 1) > c->end)
		return AG_DROP_MALFORMED;
	if (ip->version != 4)
		return AG_DROP_MALFORMED;
	hdr_len = ip->ihl * 4;
	if (hdr_len < sizeof(*ip))
		return AG_DROP_MALFORMED;
	if (bpf_ntohs(ip->tot_len) < hdr_len || bpf_ntohs(ip->tot_len) > frame_left)
		return AG_DROP_MALFORMED;
	if (c->pos + hdr_len > c->end)
		return AG_DROP_MALFORMED;
	/* TODO: fragments. A non-first fragment has no L4 header to match, and a
	 * first fragment may hold only part of it; both drop until the parser
	 * tracks fragment ids of admitted flows. */
	if (ip->frag_off & bpf_htons(AG_IP_MF | AG_IP_OFFSET))
		return AG_DROP_NOT_PARSED;

	map_ipv4(pkt->saddr, ip->saddr);
	map_ipv4(pkt->daddr, ip->daddr);
	pkt->proto = ip->protocol;
	c->pos += hdr_len;
	return 0;
}

/* TCP, UDP and ICMP headers. Other IP protocols carry no ports and match
 * only rules with port 0. */
static __always_inline int parse_l4(struct ag_cursor *c, struct ag_packet *pkt)
{
	if (pkt->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = c->pos;

		if ((void *)(tcp + 1) > c->end)
			return AG_DROP_MALFORMED;
		if (tcp->doff < 5)
			return AG_DROP_MALFORMED;
		pkt->sport = tcp->source;
		pkt->dport = tcp->dest;
		pkt->tcp_flags = ((__u8 *)tcp)[13];
	} else if (pkt->proto == IPPROTO_UDP) {
		struct udphdr *udp = c->pos;

		if ((void *)(udp + 1) > c->end)
			return AG_DROP_MALFORMED;
		pkt->sport = udp->source;
		pkt->dport = udp->dest;
	} else if (pkt->proto == IPPROTO_ICMP) {
		struct ag_icmp_hdr *icmp = c->pos;

		if ((void *)(icmp + 1) > c->end)
			return AG_DROP_MALFORMED;
		if (icmp->type == AG_ICMP_ECHO || icmp->type == AG_ICMP_ECHOREPLY) {
			pkt->sport = icmp->echo_id;
			pkt->dport = icmp->echo_id;
		}
	}
	return 0;
}

/*
 * Parse from the Ethernet header to the L4 header. Returns 0 with
 * pkt->eth_proto set for any frame; the IP fields are filled only for IPv4.
 */
static __always_inline int parse_packet(void *data, void *data_end, __u32 frame_len,
					struct ag_packet *pkt)
{
	struct ag_cursor c = { .pos = data, .end = data_end };
	int err;

	err = parse_eth(&c, pkt);
	if (err)
		return err;
	if (pkt->eth_proto != bpf_htons(ETH_P_IP))
		return 0;

	if (frame_len < c.offset)
		return AG_DROP_MALFORMED;
	err = parse_ipv4(&c, pkt, frame_len - c.offset);
	if (err)
		return err;
	return parse_l4(&c, pkt);
}

#endif
