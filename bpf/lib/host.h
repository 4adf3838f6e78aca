/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The host's own addresses, which allow-in and forward rules open ports on. */
#ifndef AG_BPF_HOST_H
#define AG_BPF_HOST_H

#include "maps.h"
#include "parse.h"

/* Multicast and broadcast addresses, and the unspecified address: none is the
 * host's own, whatever the source field of a packet contains. */
static __always_inline bool is_group_or_unspecified(const __be32 addr[4])
{
	if (addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0xffff))
		return addr[3] == 0 || addr[3] == 0xffffffff ||
		       (addr[3] & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000);
	if (addr[0] == 0 && addr[1] == 0 && addr[2] == 0 && addr[3] == 0)
		return true;
	return (addr[0] & bpf_htonl(0xff000000)) == bpf_htonl(0xff000000);
}

/*
 * Learn the source address of a packet the host sends. A process that forges
 * its source (CAP_NET_RAW) can add any unicast address here, but the routing
 * lookup in is_for_host() still keeps such an address from opening a port on
 * another node. A flood of forged sources can evict the host's real
 * addresses from the LRU map; each comes back with the host's next packet
 * from it.
 */
static __always_inline void host_addr_learn(const struct ag_packet *pkt)
{
	struct ag_host_addr key;
	__u8 seen = 1;

	if (is_group_or_unspecified(pkt->saddr))
		return;
	copy_addr(key.addr, pkt->saddr);
	if (!bpf_map_lookup_elem(&ag_host_addrs, &key))
		bpf_map_update_elem(&ag_host_addrs, &key, &seen, BPF_NOEXIST);
}

static __always_inline bool host_addr_is_known(const __be32 addr[4])
{
	struct ag_host_addr key;

	copy_addr(key.addr, addr);
	return bpf_map_lookup_elem(&ag_host_addrs, &key) != NULL;
}

#endif
