/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The link's own traffic, which passes without a rule: neighbour discovery
 * and multicast listener messages on IPv6, and the DHCP client's exchange when
 * the policy allows it. The hooks recognize ARP by its EtherType. */
#ifndef AG_BPF_LINK_H
#define AG_BPF_LINK_H

#include "maps.h"
#include "parse.h"
#include "flow.h"

#define AG_DHCP_SERVER_PORT 67
#define AG_DHCP_CLIENT_PORT 68
#define AG_DHCPV6_CLIENT_PORT 546
#define AG_DHCPV6_SERVER_PORT 547

#define AG_MLD_QUERY 130
#define AG_MLD_REPORT 131
#define AG_MLD_DONE 132
#define AG_ND_ROUTER_SOLICIT 133
#define AG_ND_ROUTER_ADVERT 134
#define AG_ND_NEIGHBOUR_ADVERT 136
#define AG_MLD2_REPORT 143

static __always_inline bool dhcp_enabled(void)
{
	__u32 zero = 0;
	struct ag_settings *settings = bpf_map_lookup_elem(&ag_settings, &zero);

	return settings && (settings->flags & AG_SETTING_DHCP);
}

static __always_inline bool is_udp_ports(const struct ag_packet *pkt, __u16 sport, __u16 dport)
{
	return pkt->proto == IPPROTO_UDP && pkt->fragment == AG_FRAG_NONE && pkt->sport == bpf_htons(sport) &&
	       pkt->dport == bpf_htons(dport);
}

/*
 * The DHCP client's requests go to the link only: the IPv4 limited broadcast
 * or the DHCPv6 servers' link-scope group (RFC 8415), so that no process with
 * the client's port can reach another network. A unicast renewal is no link
 * traffic: it needs an allow-out rule for the server, or the client falls
 * back to a broadcast rebind.
 */
static __always_inline bool is_dhcp_request(const struct ag_packet *pkt)
{
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		return is_udp_ports(pkt, AG_DHCP_CLIENT_PORT, AG_DHCP_SERVER_PORT) &&
		       pkt->daddr[3] == 0xffffffff;
	return is_udp_ports(pkt, AG_DHCPV6_CLIENT_PORT, AG_DHCPV6_SERVER_PORT) &&
	       pkt->daddr[0] == bpf_htonl(0xff020000) && pkt->daddr[1] == 0 && pkt->daddr[2] == 0 &&
	       pkt->daddr[3] == bpf_htonl(0x00010002);
}

static __always_inline bool is_dhcp_reply(const struct ag_packet *pkt)
{
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		return is_udp_ports(pkt, AG_DHCP_SERVER_PORT, AG_DHCP_CLIENT_PORT);
	return is_udp_ports(pkt, AG_DHCPV6_SERVER_PORT, AG_DHCPV6_CLIENT_PORT);
}

/* The DHCP client's exchange, as a flow without addresses: a server replies
 * from an address the client does not know yet, often to one it does not
 * have yet. */
static __always_inline void dhcp_key_of(struct ag_flow_key *key, const struct ag_packet *pkt)
{
	__be32 none[4] = {};

	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		flow_key_of_tuple(key, none, none, bpf_htons(AG_DHCP_CLIENT_PORT), bpf_htons(AG_DHCP_SERVER_PORT),
				  IPPROTO_UDP, AG_FROM_HOST, AG_ZONE_DHCP);
	else
		flow_key_of_tuple(key, none, none, bpf_htons(AG_DHCPV6_CLIENT_PORT),
				  bpf_htons(AG_DHCPV6_SERVER_PORT), IPPROTO_UDP, AG_FROM_HOST, AG_ZONE_DHCP);
}

/* A DHCP request opens the client's exchange for the UDP timeout. */
static __always_inline void dhcp_exchange_open(const struct ag_packet *pkt, __u64 now)
{
	struct ag_rule_ref host = { .id = AG_RULE_ID_HOST };
	struct ag_flow_key key;

	dhcp_key_of(&key, pkt);
	flow_record(&key, pkt, &host, now);
}

/* A DHCP reply passes only while the client's exchange is open, so that the
 * client's port is closed to the network between exchanges. */
static __always_inline bool dhcp_exchange_is_open(const struct ag_packet *pkt, __u64 now)
{
	struct ag_flow_key key;
	struct ag_flow *flow;

	dhcp_key_of(&key, pkt);
	flow = bpf_map_lookup_elem(&ag_flows, &key);
	return flow && now - flow->last_seen_ns <= flow_timeout_ns(IPPROTO_UDP, flow->tcp_state);
}

/*
 * Router and neighbour solicitations and advertisements, which must carry
 * hop limit 255 so that they cannot come from beyond the link (RFC 4861), and
 * MLD messages, which carry hop limit 1 (RFC 3810), so that no router
 * forwards them. Redirects do not pass.
 * NOTE: an outbound neighbour discovery message to a unicast address is not
 * checked to stay on the link, and routers forward it. A process with
 * CAP_NET_RAW in the host's network namespace can send one to any IPv6
 * address. Docker gives that capability to a container run with
 * --network host.
 */
static __always_inline bool is_link_local_control(const struct ag_packet *pkt)
{
	__u8 type = pkt->icmp_type;

	if (pkt->proto != IPPROTO_ICMPV6 || pkt->eth_proto != bpf_htons(ETH_P_IPV6) ||
	    pkt->fragment != AG_FRAG_NONE)
		return false;
	if (type >= AG_ND_ROUTER_SOLICIT && type <= AG_ND_NEIGHBOUR_ADVERT)
		return pkt->hop_limit == 255;
	if (type == AG_MLD_QUERY || type == AG_MLD_REPORT || type == AG_MLD_DONE || type == AG_MLD2_REPORT)
		return pkt->hop_limit == 1;
	return false;
}

#endif
