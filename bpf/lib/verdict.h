/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdicts and counters. A hook's decision function returns a verdict that
 * carries its reason; the entry point passes it through account(), the one
 * place that counts it, and turns it into the hook's return code. */
#ifndef AG_BPF_VERDICT_H
#define AG_BPF_VERDICT_H

#include <stdbool.h>

#include "maps.h"

#define AG_VERDICT_DROP_BIT 0x100
#define AG_PASS(reason) (reason)
#define AG_DROP(reason) (AG_VERDICT_DROP_BIT | (reason))

static __always_inline void count(void *map, __u32 index, __u32 len)
{
	struct ag_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* A flow the host opened into a bridge has the id AG_RULE_ID_HOST, which is
 * past the end of the table, so it counts to no rule. */
static __always_inline void count_rule(__u32 rule_id, __u32 len)
{
	count(&ag_rule_stats, rule_id, len);
}

/* Count the verdict for the hook; true when the packet passes. */
static __always_inline bool account(enum ag_hook hook, int verdict, __u32 len)
{
	__u32 reason = verdict & 0xff;

	if (verdict & AG_VERDICT_DROP_BIT) {
		count(&ag_hook_stats, AG_DROP_SLOT(hook, reason), len);
		return false;
	}
	count(&ag_hook_stats, AG_PASS_SLOT(hook, reason), len);
	return true;
}

#endif
