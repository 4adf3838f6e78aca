/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The link's own traffic, which passes without a rule: neighbour discovery
 * and multicast listener messages on IPv6, and DHCP when the policy allows it.
 * ARP is told apart by its EtherType in the hooks. */
#ifndef AG_BPF_LINK_H
#define AG_BPF_LINK_H

#include "maps.h"
#include "parse.h"

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

/* NOTE: DHCP passes by ports alone, whatever the addresses: with the setting
 * on, a process that binds port 68 can reach any address on port 67, and
 * anyone can reach the client on port 68. */
static __always_inline bool is_dhcp_request(const struct ag_packet *pkt)
{
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		return is_udp_ports(pkt, AG_DHCP_CLIENT_PORT, AG_DHCP_SERVER_PORT);
	return is_udp_ports(pkt, AG_DHCPV6_CLIENT_PORT, AG_DHCPV6_SERVER_PORT);
}

static __always_inline bool is_dhcp_reply(const struct ag_packet *pkt)
{
	if (pkt->eth_proto == bpf_htons(ETH_P_IP))
		return is_udp_ports(pkt, AG_DHCP_SERVER_PORT, AG_DHCP_CLIENT_PORT);
	return is_udp_ports(pkt, AG_DHCPV6_SERVER_PORT, AG_DHCPV6_CLIENT_PORT);
}

/*
 * Router and neighbour solicitations and advertisements, which must carry
 * hop limit 255 so that they cannot come from beyond the link (RFC 4861), and
 * MLD messages, which carry hop limit 1 (RFC 3810). Redirects do not pass.
 * NOTE: outbound, the destination is not checked to be on the link, so a
 * process with a raw socket can send such messages to any IPv6 address.
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
