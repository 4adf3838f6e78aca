// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs for the benchmark: the cheapest possible verdict on
 * each hook (the floor every filter is compared with), and the traffic
 * generator's program, which BPF_PROG_TEST_RUN runs in live-frame mode.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bench_xdp_drop(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_DROP;
}

SEC("xdp")
int bench_xdp_pass(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}

SEC("tc")
int bench_tc_drop(struct __sk_buff *skb __attribute__((unused)))
{
	return TC_ACT_SHOT;
}

/* Live-frame mode turns XDP_TX into a transmit out of the interface given
 * as ingress_ifindex, so every repetition sends one copy of the frame. */
SEC("xdp")
int bench_xdp_tx(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
