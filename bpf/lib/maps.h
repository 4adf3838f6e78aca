/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Map definitions. Every map is pinned by name under the loader's pin root, so
 * rules, counters and flows outlive the loader and a reload reuses them. */
#ifndef AG_BPF_MAPS_H
#define AG_BPF_MAPS_H

#include "airgap_maps.h"

/* Sizes marked "set by the loader" are placeholders the loader overrides
 * between open and load. */
/*
 * The rules live in an LPM trie reached through a one-slot array of maps, so
 * that the loader can build a whole new rule set in a second trie and switch
 * to it with one update: no packet ever sees half of a policy.
 */
/*
 * Sizes instead of BTF types: Linux 6.1 swaps an inner map only for one that
 * matches the template in having BTF or not, and the loader creates the
 * replacement tries without BTF.
 */
struct ag_rule_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(key_size, sizeof(struct ag_rule_key));
	__uint(value_size, sizeof(struct ag_rule_ref));
	__uint(max_entries, AG_DEFAULT_MAX_RULES); /* set by the loader */
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ag_rule_trie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct ag_rule_trie);
} ag_rules SEC(".maps") = {
	.values = { [0] = &ag_rule_trie },
};

/* Mmapable, so that the loader reads the whole table without a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_rule_info);
	__uint(max_entries, AG_DEFAULT_MAX_RULES); /* set by the loader */
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_rule_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_counter);
	__uint(max_entries, AG_DEFAULT_MAX_RULES); /* set by the loader */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_counter);
	__uint(max_entries, AG_HOOK_STATS_LEN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_hook_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ag_flow_key);
	__type(value, struct ag_flow);
	__uint(max_entries, AG_DEFAULT_MAX_FLOWS); /* set by the loader */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ag_fragment_key);
	__type(value, struct ag_fragment);
	__uint(max_entries, AG_MAX_FRAGMENTED);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_fragments SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_settings);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_settings SEC(".maps");

/* Written and read by the loader only; kept here so it is pinned with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_interface);
	__uint(max_entries, AG_MAX_INTERFACES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_interfaces SEC(".maps");

/* Written and read by the loader only, like ag_interfaces. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ag_bridge_name);
	__uint(max_entries, AG_MAX_BRIDGE_NAMES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_bridge_names SEC(".maps");

/*
 * The host's own addresses: those it had when the loader ran, and every
 * source address the host has sent from since. A rule's "addressed to the
 * host" means one of these, so that no routing lookup has to tell the host's
 * address from a subnet broadcast or another node's link-local address.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ag_host_addr);
	__type(value, __u8);
	__uint(max_entries, AG_MAX_HOST_ADDRS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ag_host_addrs SEC(".maps");

#endif
