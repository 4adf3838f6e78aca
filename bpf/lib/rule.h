/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Rule lookup in the ag_rules LPM trie: two lookups at most, whatever the
 * number of rules. */
#ifndef AG_BPF_RULE_H
#define AG_BPF_RULE_H

#include "maps.h"

static __always_inline bool proto_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/* Find the rule of this kind for (proto, port, addr): an exact-port rule
 * first, then an any-port rule. */
static __always_inline struct ag_rule_ref *lookup_rule(__u8 kind, __u8 proto, __be16 port,
						       const __be32 addr[4])
{
	struct ag_rule_key key = {
		.prefixlen = AG_RULE_KEY_MAX_BITS,
		.kind = kind,
		.proto = proto,
		.port = proto_has_ports(proto) ? port : 0,
	};
	struct ag_rule_ref *ref;
	__u32 zero = 0;
	void *trie = bpf_map_lookup_elem(&ag_rules, &zero);

	if (!trie)
		return NULL;
	key.addr[0] = addr[0];
	key.addr[1] = addr[1];
	key.addr[2] = addr[2];
	key.addr[3] = addr[3];

	ref = bpf_map_lookup_elem(trie, &key);
	if (ref || key.port == 0)
		return ref;
	key.port = 0;
	return bpf_map_lookup_elem(trie, &key);
}

/* True while the rule that admitted a flow still exists in the same generation,
 * and always for a flow the host opened into a bridge. */
static __always_inline bool rule_is_live(__u32 id, __u32 gen)
{
	struct ag_rule_info *info;

	if (id == AG_RULE_ID_HOST)
		return true;
	info = bpf_map_lookup_elem(&ag_rule_table, &id);

	return info && info->gen == gen;
}

#endif
