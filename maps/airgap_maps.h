/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map keys, values, counter indices and pin names shared by the BPF programs
 * and the loader. Every layout here is ABI between the two and between loader
 * versions that reuse pinned maps: change a size only with a new pin directory.
 */
#ifndef AIRGAP_MAPS_H
#define AIRGAP_MAPS_H

#include <linux/types.h>

/* bpffs directory that contains the pinned maps and links. */
#define AG_PIN_DIR "/sys/fs/bpf/airgap"
#define AG_LINK_DIR AG_PIN_DIR "/links"

/* Map names; with LIBBPF_PIN_BY_NAME they are also the pin file names. */
#define AG_MAP_RULES "ag_rules"
#define AG_MAP_RULE_TABLE "ag_rule_table"
#define AG_MAP_RULE_STATS "ag_rule_stats"
#define AG_MAP_HOOK_STATS "ag_hook_stats"
#define AG_MAP_FLOWS "ag_flows"
#define AG_MAP_SETTINGS "ag_settings"
#define AG_MAP_INTERFACES "ag_interfaces"
#define AG_MAP_FRAGMENTS "ag_fragments"
#define AG_MAP_BRIDGE_NAMES "ag_bridge_names"
#define AG_MAP_HOST_ADDRS "ag_host_addrs"

/* Default map sizes; the loader can set others before the maps are created. */
#define AG_DEFAULT_MAX_RULES 16384
#define AG_DEFAULT_MAX_FLOWS 65536
#define AG_MAX_INTERFACES 64
#define AG_MAX_BRIDGE_NAMES 16
#define AG_MAX_FRAGMENTED 8192 /* packets whose later fragments are awaited */
#define AG_MAX_HOST_ADDRS 1024 /* addresses of the host, as ag_host_addrs learns them */

#define AG_RULE_NAME_LEN 48
#define AG_RULE_HOST_LEN 64
#define AG_IFNAME_LEN 16

/* Rule kinds. The kind decides which packet fields the rule's key is matched against. */
enum ag_rule_kind {
	/* The host opens a flow to (proto, remote address, remote port). */
	AG_RULE_ALLOW_OUT = 1,
	/* A remote address opens a flow to (proto, local port) on the host. */
	AG_RULE_ALLOW_IN = 2,
	/* A container address reaches (proto, host port) on the host. */
	AG_RULE_FORWARD = 3,
};

/*
 * Key of the ag_rules LPM trie. The trie matches a bit prefix of the fields
 * after prefixlen, in order: kind, proto and port always take part (32 bits),
 * then the leading bits of the address. IPv4 addresses are stored IPv4-mapped
 * (::ffff:a.b.c.d), so an IPv4 /24 is prefixlen 32 + 96 + 24.
 * Port 0 means any port. The programs look up the packet's port first and
 * then port 0, so an exact-port rule wins over an any-port rule.
 */
struct ag_rule_key {
	__u32 prefixlen;
	__u8 kind;
	__u8 proto;
	__be16 port;
	__be32 addr[4];
};

#define AG_RULE_KEY_FIXED_BITS 32
#define AG_RULE_KEY_MAX_BITS (AG_RULE_KEY_FIXED_BITS + 128)

/* Value of ag_rules: the rule's slot in ag_rule_table and its generation. */
struct ag_rule_ref {
	__u32 id;
	__u32 gen;
};

/*
 * One slot of ag_rule_table, indexed by rule id. The programs read only gen:
 * a flow remembers the (id, gen) that admitted it and is cut once the slot's
 * gen changes. The loader increments gen when it frees a slot and again when
 * it reuses it, which is how deleting a rule also ends the flows it admitted.
 * The remaining fields describe the rule for the loader (list, stats, save).
 */
struct ag_rule_info {
	__u32 gen;
	__u8 kind; /* 0: slot free */
	__u8 proto;
	__be16 port;
	__be32 addr[4];
	__u8 addr_prefixlen; /* 0..128 in IPv6 terms; IPv4 /n is 96 + n */
	__u8 pad[3];
	char name[AG_RULE_NAME_LEN];
	/* A host name resolved when the rule is applied, whose addresses have
	 * one trie entry each; empty for a rule of one address or prefix. */
	char host[AG_RULE_HOST_LEN];
};

/* Per-CPU packet and byte counter. */
struct ag_counter {
	__u64 packets;
	__u64 bytes;
};

/* Key of ag_host_addrs: an IPv6 or IPv4-mapped address of the host. */
struct ag_host_addr {
	__be32 addr[4];
};

/* The part of the host a flow belongs to. Flows of the uplink, flows the host
 * opened into a bridge and the DHCP client's exchange never match each
 * other's packets. */
enum ag_flow_zone {
	AG_ZONE_UPLINK = 0,
	AG_ZONE_BRIDGE = 1,
	AG_ZONE_DHCP = 2, /* the DHCP client's exchange on the uplink, addresses 0 */
};

/* Key of the ag_flows LRU hash: a flow as seen from the host. */
struct ag_flow_key {
	__be32 local[4];
	__be32 remote[4];
	__be16 local_port;
	__be16 remote_port;
	__u8 proto;
	__u8 zone; /* enum ag_flow_zone */
	__u8 pad[2];
};

/* The rule id of a flow the host opened into a bridge, or of the DHCP
 * client's exchange: no rule admitted it, so none counts it or cuts it. */
#define AG_RULE_ID_HOST 0xffffffffu

enum ag_tcp_state {
	AG_TCP_OPEN = 0, /* established, or met after it was */
	AG_TCP_FIN = 1, /* a FIN was seen in either direction */
	AG_TCP_RST = 2,
	AG_TCP_SYN = 3, /* opened by a SYN, no ACK seen yet */
};

struct ag_flow {
	__u64 last_seen_ns; /* bpf_ktime_get_coarse_ns() */
	__u32 rule_id;
	__u32 rule_gen;
	__u8 tcp_state;
	__u8 pad[7];
};

/*
 * Key of ag_fragments: one fragmented packet whose first fragment a rule or
 * flow admitted, so that its later fragments, which carry no ports, pass too.
 */
struct ag_fragment_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be32 id; /* IPv4's 16-bit id or IPv6's 32-bit identification */
	__u8 proto;
	__u8 hook; /* enum ag_hook that admitted the first fragment */
	__u8 pad[2];
};

struct ag_fragment {
	__u64 first_seen_ns;
	__u32 rule_id;
	__u32 rule_gen;
};

/* Hooks, the first index of ag_hook_stats. */
enum ag_hook {
	AG_HOOK_UPLINK_XDP = 0,
	AG_HOOK_UPLINK_EGRESS = 1,
	AG_HOOK_BRIDGE_INGRESS = 2,
	AG_HOOK_BRIDGE_EGRESS = 3,
	AG_HOOK_COUNT
};

/* Pass reasons, counted per hook. */
enum ag_pass_reason {
	AG_PASS_RULE = 0,  /* matched a rule, which counts it too */
	AG_PASS_FLOW = 1,  /* belongs to a tracked flow */
	AG_PASS_LINK = 2,  /* ARP or DHCP, which the link needs */
	AG_PASS_HOST = 3,  /* sent by the host into a bridge */
	AG_PASS_RELATED = 4, /* an ICMP error quoting a tracked flow, such as PMTU */
	AG_PASS_FRAGMENT = 5, /* a later fragment of an admitted packet */
	AG_PASS_REASON_COUNT
};

/*
 * Drop reasons, counted per hook. 0 is no reason, so that the parsers can
 * return 0 for success and a reason otherwise. Its counter slot stays unused.
 */
enum ag_drop_reason {
	AG_DROP_NONE = 0,
	AG_DROP_NO_RULE = 1,       /* parsed fine, no rule or flow admits it */
	AG_DROP_MALFORMED = 2,     /* a header is truncated or inconsistent */
	AG_DROP_NOT_PARSED = 3,    /* a layout the parser does not handle, or a source route */
	AG_DROP_NOT_FROM_HOST = 4, /* routed through the host, not sent by it */
	AG_DROP_NOT_TO_HOST = 5,   /* an allow-in or forward matched, but not addressed to the host */
	AG_DROP_RULE_REMOVED = 6,  /* belongs to a flow whose rule was deleted */
	AG_DROP_FLOW_EXPIRED = 7,  /* belongs to a flow idle past its timeout */
	AG_DROP_ORPHAN_FRAGMENT = 8, /* a later fragment whose first one was not admitted */
	AG_DROP_REASON_COUNT
};

/* ag_hook_stats index: per hook, the pass reasons then the drop reasons. */
#define AG_HOOK_SLOTS ((int)AG_PASS_REASON_COUNT + (int)AG_DROP_REASON_COUNT)
#define AG_HOOK_STATS_LEN ((int)AG_HOOK_COUNT * AG_HOOK_SLOTS)
#define AG_PASS_SLOT(hook, reason) ((hook) * AG_HOOK_SLOTS + (reason))
#define AG_DROP_SLOT(hook, reason) ((hook) * AG_HOOK_SLOTS + (int)AG_PASS_REASON_COUNT + (reason))

/* ag_settings has one entry, at index 0. */
#define AG_SETTING_DHCP (1u << 0) /* DHCPv4 and DHCPv6 client traffic on the uplink */

struct ag_settings {
	__u32 flags;
	__u32 pad;
};

enum ag_interface_role {
	AG_ROLE_NONE = 0,
	AG_ROLE_UPLINK = 1,
	AG_ROLE_BRIDGE = 2,
};

enum ag_xdp_mode {
	AG_XDP_NONE = 0,
	AG_XDP_NATIVE = 1,
	AG_XDP_GENERIC = 2,
};

/* One slot of ag_interfaces: what the loader attached where, for status and unload. */
struct ag_interface {
	__u32 ifindex; /* 0: slot free */
	__u8 role;
	__u8 xdp_mode;
	__u8 clsact_created; /* the loader added the clsact qdisc */
	__u8 pad;
	__s32 native_xdp_errno; /* why native XDP failed when xdp_mode is generic */
	char name[AG_IFNAME_LEN];
};

/* One slot of ag_bridge_names: a bridge name or fnmatch(3) pattern given at
 * load time, for hooking bridges that appear later; empty when unused. */
struct ag_bridge_name {
	char name[AG_IFNAME_LEN];
};

#ifdef __cplusplus
static_assert(sizeof(struct ag_rule_key) == 24, "ag_rule_key layout");
static_assert(sizeof(struct ag_rule_ref) == 8, "ag_rule_ref layout");
static_assert(sizeof(struct ag_rule_info) == 140, "ag_rule_info layout");
static_assert(sizeof(struct ag_counter) == 16, "ag_counter layout");
static_assert(sizeof(struct ag_flow_key) == 40, "ag_flow_key layout");
static_assert(sizeof(struct ag_flow) == 24, "ag_flow layout");
static_assert(sizeof(struct ag_settings) == 8, "ag_settings layout");
static_assert(sizeof(struct ag_interface) == 28, "ag_interface layout");
static_assert(sizeof(struct ag_fragment_key) == 40, "ag_fragment_key layout");
static_assert(sizeof(struct ag_fragment) == 16, "ag_fragment layout");
#else
_Static_assert(sizeof(struct ag_rule_key) == 24, "ag_rule_key layout");
_Static_assert(sizeof(struct ag_rule_ref) == 8, "ag_rule_ref layout");
_Static_assert(sizeof(struct ag_rule_info) == 140, "ag_rule_info layout");
_Static_assert(sizeof(struct ag_counter) == 16, "ag_counter layout");
_Static_assert(sizeof(struct ag_flow_key) == 40, "ag_flow_key layout");
_Static_assert(sizeof(struct ag_flow) == 24, "ag_flow layout");
_Static_assert(sizeof(struct ag_settings) == 8, "ag_settings layout");
_Static_assert(sizeof(struct ag_interface) == 28, "ag_interface layout");
_Static_assert(sizeof(struct ag_fragment_key) == 40, "ag_fragment_key layout");
_Static_assert(sizeof(struct ag_fragment) == 16, "ag_fragment layout");
#endif

#endif /* AIRGAP_MAPS_H */
