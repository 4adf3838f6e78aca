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
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

#include "airgap_maps.h"

#define AG_MAX_VLAN_TAGS 2
/* Extension headers walked before the L4 header; a longer chain drops. */
#define AG_MAX_IPV6_EXT_HEADERS 6
/* The furthest into a frame that an L4 header may start. */
#define AG_MAX_L4_OFFSET 4096
#define AG_MAX_IPV4_OPTION_BYTES 40

#define AG_IPOPT_END 0
#define AG_IPOPT_NOOP 1
#define AG_IPOPT_LSRR 0x83
#define AG_IPOPT_SSRR 0x89

#define AG_IP_MF 0x2000
#define AG_IP_OFFSET 0x1fff
#define AG_IPV6_FRAG_OFFSET 0xfff8
#define AG_IPV6_FRAG_MORE 0x0001

/* linux/icmp.h and linux/icmpv6.h pull in libc headers, so the ICMP fields and
 * types the parser reads are declared here. */
#define AG_ICMP_ECHOREPLY 0
#define AG_ICMP_DEST_UNREACH 3
#define AG_ICMP_ECHO 8
#define AG_ICMP_TIME_EXCEEDED 11
#define AG_ICMP_PARAMETERPROB 12

#define AG_ICMPV6_DEST_UNREACH 1
#define AG_ICMPV6_PKT_TOOBIG 2
#define AG_ICMPV6_TIME_EXCEED 3
#define AG_ICMPV6_PARAMPROB 4
#define AG_ICMPV6_ECHO_REQUEST 128
#define AG_ICMPV6_ECHO_REPLY 129

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
	/* Bytes of the IP datagram from pos on, by its length fields: an L4
	 * header must fit in them, not merely in the frame, which may carry
	 * padding after the datagram. */
	__u32 left;
};

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

/* Hop-by-hop, routing and destination options share this start. */
struct ag_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen; /* in 8-byte units, not counting the first 8 bytes */
};

struct ag_ipv6_rt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 type;
	__u8 segments_left;
};

struct ag_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

enum ag_fragment_kind {
	AG_FRAG_NONE = 0,
	AG_FRAG_FIRST = 1, /* offset 0, more fragments follow: contains the L4 header */
	AG_FRAG_LATER = 2, /* offset > 0: payload only, no L4 header */
};

/* The packet an ICMP error quotes: the start of a packet the error's
 * receiver once sent. */
struct ag_quoted {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
};

/* The parsed fields the hooks decide on. Addresses are IPv6 or IPv4-mapped, as in the maps. */
struct ag_packet {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport; /* ICMP echo: the identifier, in both ports */
	__be16 dport;
	__be16 eth_proto;
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 hop_limit; /* IPv4 TTL or IPv6 hop limit */
	__u8 fragment;  /* enum ag_fragment_kind */
	__u8 icmp_error; /* quoted is filled */
	__u16 ip_len; /* IPv4 total length, or IPv6 header plus payload length */
	__be32 frag_id;
	struct ag_quoted quoted;
};

static __always_inline void map_ipv4(__be32 dst[4], __be32 addr)
{
	dst[0] = 0;
	dst[1] = 0;
	dst[2] = bpf_htonl(0xffff);
	dst[3] = addr;
}

static __always_inline void copy_ipv6(__be32 dst[4], const struct in6_addr *addr)
{
	dst[0] = addr->in6_u.u6_addr32[0];
	dst[1] = addr->in6_u.u6_addr32[1];
	dst[2] = addr->in6_u.u6_addr32[2];
	dst[3] = addr->in6_u.u6_addr32[3];
}

static __always_inline void copy_addr(__be32 dst[4], const __be32 src[4])
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

static __always_inline bool is_ipv6_ext_header(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_FRAGMENT;
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
 * Walk the IPv4 options. A source route (LSRR, SSRR) lists hops the packet is
 * still to visit, so its destination field is not where it is going: no rule
 * can judge it, and it drops. So does a malformed option list, which the
 * kernel drops too.
 */
static __always_inline int check_ipv4_options(__u8 *opts, void *end, __u32 opt_len)
{
	__u32 i = 0;

#pragma clang loop unroll(disable)
	while (i < opt_len) {
		__u8 *opt;
		__u8 type, len;

		/* opt_len is at most 40; this bound is for the verifier. */
		ag_barrier_var(i);
		if (i >= AG_MAX_IPV4_OPTION_BYTES)
			return 0;
		opt = opts + i;
		if ((void *)(opt + 1) > end)
			return AG_DROP_MALFORMED;
		type = opt[0];
		if (type == AG_IPOPT_END)
			return 0;
		if (type == AG_IPOPT_NOOP) {
			i++;
			continue;
		}
		if (i + 2 > opt_len || (void *)(opt + 2) > end)
			return AG_DROP_MALFORMED;
		len = opt[1];
		if (len < 2 || i + len > opt_len)
			return AG_DROP_MALFORMED;
		if (type == AG_IPOPT_LSRR || type == AG_IPOPT_SSRR)
			return AG_DROP_NOT_PARSED;
		i += len;
	}
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
	__u16 frag_off;
	int err;

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
	err = check_ipv4_options((__u8 *)(ip + 1), c->end, hdr_len - sizeof(*ip));
	if (err)
		return err;

	frag_off = bpf_ntohs(ip->frag_off);
	if (frag_off & AG_IP_OFFSET)
		pkt->fragment = AG_FRAG_LATER;
	else if (frag_off & AG_IP_MF)
		pkt->fragment = AG_FRAG_FIRST;
	pkt->frag_id = ip->id;

	map_ipv4(pkt->saddr, ip->saddr);
	map_ipv4(pkt->daddr, ip->daddr);
	pkt->proto = ip->protocol;
	pkt->hop_limit = ip->ttl;
	c->pos += hdr_len;
	c->left = bpf_ntohs(ip->tot_len) - hdr_len;
	pkt->ip_len = bpf_ntohs(ip->tot_len);
	return 0;
}

/* An IPv4-mapped address (::ffff:0:0/96) in an IPv6 header would match IPv4
 * rules, and Linux hands such UDP to dual-stack sockets as IPv4. */
static __always_inline bool is_ipv4_mapped(const __be32 addr[4])
{
	return addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0xffff);
}

/*
 * Walk up to AG_MAX_IPV6_EXT_HEADERS extension headers, starting at the
 * cursor with *next as the first one's type, and leave the cursor at the
 * header after them, with its type in *next. A fragment header sets
 * *fragment and *frag_id; the walk stops after that of a later fragment,
 * which is followed by payload. The caller decides what a chain longer than
 * the walk means.
 */
static __always_inline int walk_ipv6_ext_headers(struct ag_cursor *c, __u8 *next, __u8 *fragment, __be32 *frag_id)
{
#pragma unroll
	for (int i = 0; i < AG_MAX_IPV6_EXT_HEADERS; i++) {
		__u8 type = *next;

		if (type == IPPROTO_HOPOPTS || type == IPPROTO_ROUTING || type == IPPROTO_DSTOPTS) {
			struct ag_ipv6_opt_hdr *opt = c->pos;
			__u32 len;

			/* Hop-by-hop options may only come first (RFC 8200). */
			if (type == IPPROTO_HOPOPTS && i > 0)
				return AG_DROP_MALFORMED;
			if ((void *)(opt + 1) > c->end)
				return AG_DROP_MALFORMED;
			len = (opt->hdrlen + 1) * 8;
			if (c->pos + len > c->end || len > c->left)
				return AG_DROP_MALFORMED;
			if (type == IPPROTO_ROUTING) {
				struct ag_ipv6_rt_hdr *rt = c->pos;

				/* Segments left: the destination field is only the
				 * next hop, as with an IPv4 source route. */
				if ((void *)(rt + 1) > c->end)
					return AG_DROP_MALFORMED;
				if (rt->segments_left != 0)
					return AG_DROP_NOT_PARSED;
			}
			*next = opt->nexthdr;
			c->pos += len;
			c->left -= len;
		} else if (type == IPPROTO_FRAGMENT) {
			struct ag_ipv6_frag_hdr *frag = c->pos;
			__u16 frag_off;

			if ((void *)(frag + 1) > c->end || sizeof(*frag) > c->left)
				return AG_DROP_MALFORMED;
			frag_off = bpf_ntohs(frag->frag_off);
			*next = frag->nexthdr;
			c->pos = frag + 1;
			c->left -= sizeof(*frag);
			*frag_id = frag->identification;
			/* Offset 0 without more fragments is an atomic fragment: a
			 * whole packet, judged as one. */
			if (frag_off & AG_IPV6_FRAG_OFFSET) {
				*fragment = AG_FRAG_LATER;
				return 0;
			}
			if (frag_off & AG_IPV6_FRAG_MORE)
				*fragment = AG_FRAG_FIRST;
		} else {
			return 0;
		}
	}
	return 0;
}

/*
 * IPv6 header and up to AG_MAX_IPV6_EXT_HEADERS extension headers, leaving
 * the cursor at the L4 header (or, in a non-first fragment, at payload).
 * Unknown next headers end the walk and count as the L4 protocol.
 */
static __always_inline int parse_ipv6(struct ag_cursor *c, struct ag_packet *pkt, __u32 frame_left)
{
	struct ipv6hdr *ip6 = c->pos;
	__u8 next;
	int err;

	if ((void *)(ip6 + 1) > c->end)
		return AG_DROP_MALFORMED;
	if (ip6->version != 6)
		return AG_DROP_MALFORMED;
	/* A payload length of 0 announces a jumbogram, which Ethernet cannot carry. */
	if (ip6->payload_len == 0 || sizeof(*ip6) + bpf_ntohs(ip6->payload_len) > frame_left)
		return AG_DROP_MALFORMED;

	copy_ipv6(pkt->saddr, &ip6->saddr);
	copy_ipv6(pkt->daddr, &ip6->daddr);
	if (is_ipv4_mapped(pkt->saddr) || is_ipv4_mapped(pkt->daddr))
		return AG_DROP_MALFORMED;
	pkt->hop_limit = ip6->hop_limit;
	next = ip6->nexthdr;
	c->pos = ip6 + 1;
	c->left = bpf_ntohs(ip6->payload_len);
	pkt->ip_len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);

	err = walk_ipv6_ext_headers(c, &next, &pkt->fragment, &pkt->frag_id);
	if (err)
		return err;
	if (pkt->fragment != AG_FRAG_LATER && is_ipv6_ext_header(next))
		return AG_DROP_NOT_PARSED;

	pkt->proto = next;
	return 0;
}

static __always_inline bool is_icmp_echo(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == AG_ICMP_ECHO || type == AG_ICMP_ECHOREPLY;
	return type == AG_ICMPV6_ECHO_REQUEST || type == AG_ICMPV6_ECHO_REPLY;
}

/* Ports of a TCP or UDP header, or the identifier of an ICMP echo, of at
 * least the first 8 bytes that an ICMP error quotes. */
static __always_inline int parse_quoted_ports(struct ag_cursor *c, struct ag_quoted *q)
{
	struct ag_icmp_hdr *l4 = c->pos; /* 8 bytes, the size every layout here needs */

	if ((void *)(l4 + 1) > c->end || sizeof(*l4) > c->left)
		return AG_DROP_MALFORMED;
	if (q->proto == IPPROTO_TCP || q->proto == IPPROTO_UDP) {
		__be16 *ports = c->pos;

		q->sport = ports[0];
		q->dport = ports[1];
	} else if ((q->proto == IPPROTO_ICMP || q->proto == IPPROTO_ICMPV6) && is_icmp_echo(q->proto, l4->type)) {
		/* Flows of other ICMP messages are keyed on ports 0, as in parse_l4(). */
		q->sport = l4->echo_id;
		q->dport = l4->echo_id;
	}
	return 0;
}

/* The IPv4 packet an ICMP error quotes: its header and first 8 bytes. */
static __always_inline int parse_quoted_ipv4(struct ag_cursor *c, struct ag_packet *pkt)
{
	struct iphdr *ip = c->pos;
	__u32 hdr_len;

	if ((void *)(ip + 1) > c->end)
		return AG_DROP_MALFORMED;
	hdr_len = ip->ihl * 4;
	if (ip->version != 4 || hdr_len < sizeof(*ip))
		return AG_DROP_MALFORMED;
	if (c->pos + hdr_len > c->end || hdr_len > c->left)
		return AG_DROP_MALFORMED;
	map_ipv4(pkt->quoted.saddr, ip->saddr);
	map_ipv4(pkt->quoted.daddr, ip->daddr);
	pkt->quoted.proto = ip->protocol;
	c->pos += hdr_len;
	c->left -= hdr_len;
	return parse_quoted_ports(c, &pkt->quoted);
}

/*
 * The IPv6 packet an ICMPv6 error quotes, through its extension headers: a
 * Packet Too Big about a fragmented datagram quotes a fragment header. A
 * quoted later fragment carries no ports to find its flow by.
 */
static __always_inline int parse_quoted_ipv6(struct ag_cursor *c, struct ag_packet *pkt)
{
	struct ipv6hdr *ip6 = c->pos;
	__u8 fragment = AG_FRAG_NONE;
	__be32 frag_id;
	__u8 next;
	int err;

	if ((void *)(ip6 + 1) > c->end || sizeof(*ip6) > c->left)
		return AG_DROP_MALFORMED;
	if (ip6->version != 6)
		return AG_DROP_MALFORMED;
	copy_ipv6(pkt->quoted.saddr, &ip6->saddr);
	copy_ipv6(pkt->quoted.daddr, &ip6->daddr);
	if (is_ipv4_mapped(pkt->quoted.saddr) || is_ipv4_mapped(pkt->quoted.daddr))
		return AG_DROP_MALFORMED;
	next = ip6->nexthdr;
	c->pos = ip6 + 1;
	c->left -= sizeof(*ip6);
	err = walk_ipv6_ext_headers(c, &next, &fragment, &frag_id);
	if (err)
		return err;
	if (fragment == AG_FRAG_LATER || is_ipv6_ext_header(next))
		return AG_DROP_NOT_PARSED;
	pkt->quoted.proto = next;
	return parse_quoted_ports(c, &pkt->quoted);
}

static __always_inline bool is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == AG_ICMP_DEST_UNREACH || type == AG_ICMP_TIME_EXCEEDED ||
		       type == AG_ICMP_PARAMETERPROB;
	return type == AG_ICMPV6_DEST_UNREACH || type == AG_ICMPV6_PKT_TOOBIG ||
	       type == AG_ICMPV6_TIME_EXCEED || type == AG_ICMPV6_PARAMPROB;
}

/* TCP, UDP, ICMP and ICMPv6 headers. Other IP protocols carry no ports and
 * match only rules with port 0. A non-first fragment has no L4 header. */
static __always_inline int parse_l4(struct ag_cursor *c, struct ag_packet *pkt)
{
	if (pkt->fragment == AG_FRAG_LATER)
		return 0;

	if (pkt->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = c->pos;

		if ((void *)(tcp + 1) > c->end || sizeof(*tcp) > c->left)
			return AG_DROP_MALFORMED;
		if (tcp->doff < 5 || tcp->doff * 4 > c->left)
			return AG_DROP_MALFORMED;
		pkt->sport = tcp->source;
		pkt->dport = tcp->dest;
		pkt->tcp_flags = ((__u8 *)tcp)[13];
	} else if (pkt->proto == IPPROTO_UDP) {
		struct udphdr *udp = c->pos;

		if ((void *)(udp + 1) > c->end || sizeof(*udp) > c->left)
			return AG_DROP_MALFORMED;
		pkt->sport = udp->source;
		pkt->dport = udp->dest;
	} else if (pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6) {
		struct ag_icmp_hdr *icmp = c->pos;
		bool ipv6 = pkt->eth_proto == bpf_htons(ETH_P_IPV6);

		/* ICMP belongs to IPv4 and ICMPv6 to IPv6; the other pairing would
		 * quote a packet of the wrong family. */
		if (ipv6 != (pkt->proto == IPPROTO_ICMPV6))
			return AG_DROP_MALFORMED;
		if ((void *)(icmp + 1) > c->end || sizeof(*icmp) > c->left)
			return AG_DROP_MALFORMED;
		pkt->icmp_type = icmp->type;
		if (is_icmp_echo(pkt->proto, icmp->type)) {
			pkt->sport = icmp->echo_id;
			pkt->dport = icmp->echo_id;
		} else if (is_icmp_error(pkt->proto, icmp->type)) {
			/* An error in a fragment is not judged by what it quotes. */
			if (pkt->fragment != AG_FRAG_NONE)
				return AG_DROP_NOT_PARSED;
			c->pos = icmp + 1;
			c->left -= sizeof(*icmp);
			pkt->icmp_error = 1;
			if (pkt->proto == IPPROTO_ICMP)
				return parse_quoted_ipv4(c, pkt);
			return parse_quoted_ipv6(c, pkt);
		}
	}
	return 0;
}

/*
 * Verifier workaround: turn the cursor's position into an offset from the
 * frame's start that the verifier tracks only by its bounds. Every path
 * through the IPv4 options and IPv6 extension headers then reaches the L4
 * header in one state. Without it, the L4 parser and the walk through a
 * quoted packet are checked again for each chain of header lengths. An L4
 * header that starts beyond AG_MAX_L4_OFFSET is not parsed.
 */
static __always_inline int cursor_rebase(struct ag_cursor *c, void *data)
{
	__u32 offset = c->pos - data;

	ag_barrier_var(offset);
	if (offset > AG_MAX_L4_OFFSET)
		return AG_DROP_NOT_PARSED;
	c->pos = data + offset;
	return 0;
}

/*
 * Parse from the Ethernet header to the L4 header. Returns 0 with
 * pkt->eth_proto set for any frame; the IP fields are filled only for IPv4
 * and IPv6.
 */
static __noinline int parse_packet(void *data, void *data_end, __u32 frame_len,
					struct ag_packet *pkt)
{
	struct ag_cursor c = { .pos = data, .end = data_end };
	int err;

	err = parse_eth(&c, pkt);
	if (err)
		return err;
	if (frame_len < c.offset)
		return AG_DROP_MALFORMED;
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		err = parse_ipv4(&c, pkt, frame_len - c.offset);
	else if (pkt->eth_proto == bpf_htons(ETH_P_IPV6))
		err = parse_ipv6(&c, pkt, frame_len - c.offset);
	else
		return 0;
	if (err)
		return err;
	if (pkt->fragment != AG_FRAG_LATER) {
		err = cursor_rebase(&c, data);
		if (err)
			return err;
	}
	return parse_l4(&c, pkt);
}

static __always_inline bool is_ip(const struct ag_packet *pkt)
{
	return pkt->eth_proto == bpf_htons(ETH_P_IP) || pkt->eth_proto == bpf_htons(ETH_P_IPV6);
}

#endif
