#!/usr/bin/python3
"""Turn bench/run.sh's JSON lines into docs/benchmarks.md and its plot.

Usage: report.py RESULTS.jsonl OUT.md
The plot is written beside OUT.md as benchmarks-cost.png.
"""
import json
import math
import os
import statistics
import subprocess
import sys

COLUMNS = ["10", "1000", "10000", "100000", "100000+full"]
E2E_RULES = [10, 100, 1000, 10000]
E2E_VARIANTS = ["airgap", "xdp-filter", "ipt-legacy", "ipt-nft", "nft-chain", "nft-set"]
E2E_NAMES = {
    "none": "no filter", "xdp-drop": "empty XDP drop (floor)", "xdp-pass": "empty XDP pass (floor)",
    "airgap": "airgap-bpf", "xdp-filter": "xdp-filter", "ipt-legacy": "iptables-legacy",
    "ipt-nft": "iptables-nft", "nft-chain": "nftables, one rule each", "nft-set": "nftables, one set",
}
CLASS_NAMES = {
    "tracked": "reply of a tracked flow", "new": "new allowed flow", "drop": "no rule (UDP flood)",
    "drop-near": "no rule, address next to a rule", "malformed": "malformed",
}
PROG_ORDER = ["floor-xdp", "floor-tc", "uplink-xdp", "xdp-filter", "uplink-egress", "bridge-ingress",
              "bridge-egress"]
BRIDGE_EGRESS_CLASSES = {"new": "sent by the host", "drop": "routed in from the uplink",
                         "malformed": "malformed, routed in"}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def summary(values):
    return statistics.median(values), min(values), max(values)


def fmt_range(values, digits=0, scale=1.0):
    med, lo, hi = summary([v * scale for v in values])
    f = f"{{:.{digits}f}}"
    return f"{f.format(med)} ({f.format(lo)}–{f.format(hi)})"


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class Report:
    def __init__(self, rows):
        self.rows = rows
        self.machine = next((r for r in rows if r["kind"] == "machine"), {})
        self.cost = {(r["prog"], r["class"], r["column"]): r for r in rows if r["kind"] == "cost"}
        # Each variant's runs, and the empty program's runs on the same veth
        # pair just before them (role "floor").
        self.e2e = {}
        self.e2e_floor = {}
        for r in rows:
            if r["kind"] == "e2e":
                pps = r["received"] / r["seconds"]
                table = self.e2e_floor if r.get("role") == "floor" else self.e2e
                table.setdefault((r["variant"], r["rules"], r["traffic"]), []).append((pps, r))
        self.control = {}
        for r in rows:
            if r["kind"] == "control":
                self.control.setdefault(r["what"], []).extend(r["ms"])
        self.edits = {}
        for r in rows:
            if r["kind"] == "edit":
                self.edits.setdefault(r["what"], []).append(r)
        self.duration = next((r["seconds"] for r in rows if r["kind"] == "duration"), None)
        self.load = [(r["section"], r["loadavg"]) for r in rows if r["kind"] == "load"]
        self.out = []

    def w(self, line=""):
        self.out.append(line)

    def ns(self, prog, cls, column):
        r = self.cost.get((prog, cls, column))
        return statistics.median(r["ns"]) if r else None

    def pps(self, variant, rules, traffic):
        v = self.e2e.get((variant, rules, traffic))
        return statistics.median(p for p, _ in v) if v else None

    def floor_pps(self, variant, rules, traffic):
        """The empty program's rate on the variant's own veth pair."""
        v = self.e2e_floor.get((variant, rules, traffic))
        return statistics.median(p for p, _ in v) if v else None

    # ------------------------------------------------------------ targets
    def targets(self):
        t = []
        floor = self.ns("floor-xdp", "drop", "10")
        drop = self.ns("uplink-xdp", "drop", "10")
        near = self.ns("uplink-xdp", "drop-near", "10")
        tracked = self.ns("uplink-xdp", "tracked", "10")
        if None not in (floor, drop, near, tracked):
            t.append(("Uplink XDP drop of a packet with no rule ≤ floor + 30 ns (10 rules)",
                      f"UDP flood {drop:.0f} ns = floor {floor:.0f} + {drop - floor:.0f} ns; "
                      f"next to a rule {near:.0f} ns = floor + {near - floor:.0f} ns",
                      max(drop, near) - floor <= 30))
            t.append(("Reply of a tracked flow ≤ floor + 50 ns (10 rules)",
                      f"{tracked:.0f} ns = floor + {tracked - floor:.0f} ns", tracked - floor <= 50))
        parts, ok = [], True
        for cls in ["tracked", "drop", "drop-near", "malformed"]:
            a, b = self.ns("uplink-xdp", cls, "10"), self.ns("uplink-xdp", cls, "100000")
            if a and b:
                parts.append(f"{cls} {b / a:.2f}x")
                ok = ok and b / a <= 1.15
        for prog, cls in [("uplink-egress", "drop"), ("bridge-ingress", "new")]:
            a, b = self.ns(prog, cls, "10"), self.ns(prog, cls, "100000")
            if a and b:
                parts.append(f"{prog} {cls} {b / a:.2f}x")
                ok = ok and b / a <= 1.15
        if parts:
            t.append(("Cost at 100,000 rules within 1.15x of the cost at 10 rules (uplink XDP unless named)",
                      "; ".join(parts), ok))
        parts, ok = [], True
        for cls in ["tracked", "new", "drop", "drop-near", "malformed"]:
            a, b = self.ns("uplink-xdp", cls, "10"), self.ns("xdp-filter", cls, "10")
            if a and b:
                parts.append(f"{cls} {a / b:.2f}x")
                ok = ok and a / b <= 0.5
        if parts:
            t.append(("At most half of xdp-filter's per-packet cost on the same packets (10 rules; airgap/xdp-filter)",
                      "; ".join(parts), ok))
        parts, ok = [], True
        for n in E2E_RULES:
            p, f = self.pps("airgap", n, "drop"), self.floor_pps("airgap", n, "drop")
            if p and f:
                parts.append(f"{n:,} rules {p / f:.2f}x")
                ok = ok and p / f >= 0.8
        if parts:
            t.append(("End-to-end drop rate ≥ 0.8x the empty-program floor (floor measured on the same veth pair)",
                      "; ".join(parts), ok))
        for n, need in [(1000, 50), (10000, 500)]:
            a, b = self.pps("airgap", n, "drop"), self.pps("ipt-nft", n, "drop")
            fa, fb = self.floor_pps("airgap", n, "drop"), self.floor_pps("ipt-nft", n, "drop")
            if a and b:
                extra = ""
                if fa and fb:
                    extra = (f"; per packet above each one's floor: airgap-bpf {1e9 / a - 1e9 / fa:.0f} ns, "
                             f"iptables-nft {1e9 / b - 1e9 / fb:.0f} ns")
                t.append((f"Drop rate ≥ {need}x iptables-nft at {n:,} rules",
                          f"{a / b:.1f}x ({a / 1e3:.0f} vs {b / 1e3:.1f} kpps){extra}", a / b >= need))
        ag = self.edits.get("airgap-forward-add-3")
        nf = self.edits.get("nft-add-element")
        if ag and nf:
            a = statistics.median(r["first_ms"] for r in ag)
            b = statistics.median(r["first_ms"] for r in nf)
            t.append(("Live `forward add` admits its first packet within 10 ms of the command's start, faster than `nft add element`",
                      f"airgap-bpf {a:.2f} ms, nft {b:.2f} ms (medians)", a <= 10 and a < b))
        self.w("## Targets")
        self.w()
        self.w("| target | measured (medians) | met |")
        self.w("| --- | --- | --- |")
        for name, value, met in t:
            self.w(f"| {name} | {value} | {'yes' if met else '**no**'} |")
        self.w()

    # ------------------------------------------------------------ limits
    def limits(self):
        """What the probes and reference figures of this run say about the unmet targets."""
        def ns(prog, cls, col):
            return self.ns(prog, cls, col)

        lines = []
        floor = ns("floor-xdp", "drop", "10")
        parse = ns("probe-parse", "drop", "10")
        flow = ns("probe-flow", "drop", "10")
        once = ns("probe-rule-once", "drop", "10")
        rule = ns("probe-rule", "drop", "10")
        full = ns("uplink-xdp", "drop", "10")
        if None not in (floor, parse, flow, once, rule, full):
            lines.append(
                f"- **Drop with no rule.** Of the {full - floor:.0f} ns above the floor at 10 rules, parsing takes "
                f"{parse - floor:.0f} ns, the flow table lookup (an LRU hash with a 40-byte key) {flow - parse:.0f} ns, "
                f"the rule lookup {rule - flow:.0f} ns ({once - flow:.0f} ns for one trie lookup, {rule - once:.0f} ns "
                f"for the second, any-port one) and the rest of the program {full - rule:.0f} ns (the clock read, "
                "link-traffic checks and the verdict). The flow lookup alone is more than the 30 ns budget: a packet "
                "that no flow can match, such as one to a port the host never opened a flow from, still pays it. "
                "Skipping the any-port lookup when no any-port rule of that kind and protocol exists would save "
                f"the {rule - once:.0f} ns of the second lookup.")
        tracked = ns("uplink-xdp", "tracked", "10")
        if None not in (floor, parse, flow, tracked):
            lines.append(
                f"- **Reply of a tracked flow.** {tracked - floor:.0f} ns above the floor: parsing "
                f"{parse - floor:.0f} ns and the flow lookup {flow - parse:.0f} ns leave {tracked - flow:.0f} ns for "
                "the rule generation check (an array lookup), the per-rule counter, the clock read and the verdict.")
        near10, near100k = ns("uplink-xdp", "drop-near", "10"), ns("uplink-xdp", "drop-near", "100000")
        r10, r100k = ns("probe-rule", "drop-near", "10"), ns("probe-rule", "drop-near", "100000")
        o10, o100k = ns("probe-rule-once", "drop-near", "10"), ns("probe-rule-once", "drop-near", "100000")
        f10, f100k = ns("probe-flow", "drop-near", "10"), ns("probe-flow", "drop-near", "100000")
        if None not in (near10, near100k, r10, r100k, f10, f100k, o10, o100k):
            lines.append(
                f"- **Cost against rule count.** Only a packet whose address shares a long prefix with rules grows: "
                f"{near10:.0f} ns at 10 rules, {near100k:.0f} ns at 100,000. The rule lookup accounts for it "
                f"({r10 - f10:.0f} ns → {r100k - f100k:.0f} ns): an LPM trie lookup walks one node per branching "
                "bit that the key shares with stored prefixes, about log2 of the rule count for /32 rules, and the "
                "filter does it twice (exact port, then any port). The any-port key, whose port bits differ from "
                f"every rule's, stops early and stays flat ({o10 - f10:.0f} → {o100k - f100k:.0f} ns). The UDP flood "
                "differs from every rule in the kind and protocol bits and stays flat too.")
        x = ns("xdp-filter", "drop", "10")
        if None not in (x, full, flow, parse):
            lines.append(
                f"- **Against xdp-filter.** On the flood xdp-filter takes {x:.0f} ns and airgap-bpf {full:.0f} ns: "
                "xdp-filter makes six hash lookups (two MAC addresses, two IPv4 addresses, two ports) and keeps no "
                "state, airgap-bpf makes one flow and two trie lookups and counts per rule and per drop reason. "
                f"Half of xdp-filter would be {x / 2:.0f} ns, below what parsing and the flow lookup alone take "
                f"here ({flow:.0f} ns).")
        for n in (1000, 10000):
            a, b = self.pps("airgap", n, "drop"), self.pps("ipt-nft", n, "drop")
            fa, fb = self.floor_pps("airgap", n, "drop"), self.floor_pps("ipt-nft", n, "drop")
            if None in (a, b, fa, fb):
                continue
            lines.append(
                f"- **Against iptables-nft end to end, {n:,} rules.** The sender and the receiver share one core, "
                f"and the empty drop program's rate on airgap-bpf's veth pair puts sending plus the cheapest "
                f"receive at {1e9 / fa:.0f} ns per packet. That caps any filter near {fa / 1e3:.0f} kpps, so the "
                f"rate ratio cannot exceed {fa / b:.0f}x whatever the filter does. Per packet above its own floor "
                f"airgap-bpf costs {1e9 / a - 1e9 / fa:.0f} ns and iptables-nft {1e9 / b - 1e9 / fb:.0f} ns.")
        add = self.edits.get("airgap-forward-add-3")
        big = [v for k, v in self.edits.items() if k.startswith("airgap-forward-add-") and k != "airgap-forward-add-3"]
        madd = self.control.get("map-add")
        ladd = self.control.get("library-add")
        if add and madd and ladd:
            first = statistics.median(r["first_ms"] for r in add)
            exited = statistics.median(r["exit_ms"] for r in add)
            text = (f"- **Live edit.** The first packet passes {first:.1f} ms after the command starts, close "
                    f"to the command's own run time ({exited:.1f} ms, both medians): the map update is its last "
                    "step and takes "
                    f"{percentile(madd, 50) * 1e3:.1f} µs (p50), so the latency is the CLI's own run time "
                    "(process start, opening the pins, and FilterMaps::add_rule reading every slot of the rule "
                    "table, 16,384 by default, to check names and matches). With 100,000 rules in a table of "
                    f"131,072 slots add_rule alone takes {percentile(ladd, 50):.0f} ms (p50)")
            if big:
                text += f" and the same edit admits its first packet after {statistics.median(r['first_ms'] for r in big[0]):.0f} ms"
            lines.append(text + ".")
        if not lines:
            return
        self.w("## What limits the targets not met")
        self.w()
        self.w("Each statement below is computed from this run's figures.")
        self.w()
        for line in lines:
            self.w(line)
        self.w()

    # ------------------------------------------------------------ cost
    def cost_table(self):
        if not self.cost:
            return
        self.w("## Per-packet cost")
        self.w()
        self.w("Nanoseconds per packet as BPF_PROG_TEST_RUN measures it, median (min–max) of "
               f"{self.reps_of_cost()} runs. Columns are rule counts; \"+full\" adds a flow table "
               "filled to its size (65,536 flows, LRU). A figure marked † is a new flow per packet: "
               "each packet is one BPF_PROG_TEST_RUN call with repeat 1, because a repeated packet "
               "would find the flow its first copy recorded, and its floor is the empty program timed "
               "the same way. Every other figure is the kernel's mean over 1,000,000 repetitions of one packet, "
               "so caches and branch predictors are warm.")
        self.w()
        cols = [c for c in COLUMNS if any(k[2] == c for k in self.cost)]
        self.w("| program | packet | " + " | ".join(c.replace("+full", " + full flows") for c in cols) + " |")
        self.w("| --- | --- |" + " --- |" * len(cols))
        for prog in PROG_ORDER:
            for cls in ["tracked", "new", "drop", "drop-near", "malformed"]:
                if not any((prog, cls, c) in self.cost for c in cols):
                    continue
                cells = []
                for c in cols:
                    r = self.cost.get((prog, cls, c))
                    if not r:
                        cells.append("–")
                        continue
                    mark = " †" if r["method"] == "single" else ""
                    cells.append(fmt_range(r["ns"]) + mark)
                name = BRIDGE_EGRESS_CLASSES.get(cls, CLASS_NAMES[cls]) if prog == "bridge-egress" else CLASS_NAMES[cls]
                if prog.startswith("floor"):
                    name = "any (empty program)" if cls == "drop" else "any, timed per packet"
                self.w(f"| {prog} | {name} | " + " | ".join(cells) + " |")
        self.w()

    def reps_of_cost(self):
        r = next(iter(self.cost.values()), None)
        return len(r["ns"]) if r else 0

    def attribution(self):
        if not any(k[0].startswith("probe") for k in self.cost):
            return
        self.w("### Where the uplink XDP program's time goes")
        self.w()
        self.w("Programs built from the filter's own inline functions (bench/probe.bpf.c), each adding one "
               "step and each ending in the same counted drop, on the filter's own maps. The difference "
               "between two rows is the cost of the step.")
        self.w()
        steps = [("floor-xdp", "empty program"), ("probe-parse", "parse, count, drop"),
                 ("probe-flow", "+ flow table lookup"),
                 ("probe-rule-once", "+ one rule trie lookup (any-port key only)"),
                 ("probe-rule", "+ rule lookup as the filter does it (exact port, then any port)"),
                 ("uplink-xdp", "the filter's uplink XDP program")]
        for cls in ["drop", "drop-near"]:
            self.w(f"Packet: {CLASS_NAMES[cls]}.")
            self.w()
            self.w("| step | 10 rules | 100,000 rules |")
            self.w("| --- | --- | --- |")
            for prog, label in steps:
                c = "drop" if prog == "floor-xdp" else cls
                a, b = self.cost.get((prog, c, "10")), self.cost.get((prog, c, "100000"))
                self.w(f"| {label} | {fmt_range(a['ns']) if a else '–'} | {fmt_range(b['ns']) if b else '–'} |")
            self.w()

    # ------------------------------------------------------------ end to end
    def e2e_tables(self):
        if not self.e2e:
            return
        reps = len(next(iter(self.e2e.values())))
        self.w("## Throughput end to end")
        self.w()
        self.w("64-byte frames (60 bytes without FCS) of one UDP flow through a veth pair between two "
               "namespaces, from a sender made of BPF_PROG_TEST_RUN in live-frame mode (an XDP_TX program "
               "on the sending veth). The sender and the receiving veth's NAPI poll run on the same pinned "
               "CPU (veth processes frames that XDP sent in the sender's softirq), so each figure is what one "
               "core does sending and filtering together. Thousands of packets per second counted by the "
               "receiving veth's rx_queue_0_xdp_packets over the sender's own run time, median (min–max) "
               f"of {reps} runs of {self.rows_seconds():.0f} s after a 1 s warm-up. Before each filter, the "
               "empty XDP program (drop for the flood, pass for allowed traffic) ran on the same veth pair; "
               "\"x floor\" is the filter's rate over that floor's median, and \"above floor\" is 1/rate minus "
               "1/floor rate, the receiving side's cost per packet beyond the cheapest possible verdict. "
               "Within a few percent of the floor, run-to-run noise of this VM decides the sign. The \"no "
               "filter\" row of the flood is the host stack itself discarding it (UDP to a closed port).")
        self.w()
        for traffic, title in [("drop", "Flood that must be dropped (UDP from an address no rule names)"),
                               ("allowed", "Allowed traffic (replies of a flow the host opened; the host "
                                           "stack then counts them as UDP to a closed port)")]:
            self.w(f"### {title}")
            self.w()
            self.w("| filter | " + " | ".join(f"{n:,} rules" for n in E2E_RULES) + " |")
            self.w("| --- |" + " --- |" * len(E2E_RULES))
            for ref in ["none", "xdp-drop", "xdp-pass"]:
                v = self.e2e.get((ref, 0, traffic))
                if v:
                    self.w(f"| {E2E_NAMES[ref]} | {fmt_range([p for p, _ in v], 0, 1e-3)} kpps (any rule count) |" +
                           " |" * (len(E2E_RULES) - 1))
            for variant in E2E_VARIANTS:
                cells = []
                for n in E2E_RULES:
                    v = self.e2e.get((variant, n, traffic))
                    if not v:
                        cells.append("–")
                        continue
                    cell = fmt_range([p for p, _ in v], 0, 1e-3) + " kpps"
                    floor_pps = self.floor_pps(variant, n, traffic)
                    if floor_pps:
                        median = statistics.median(p for p, _ in v)
                        above = 1e9 / median - 1e9 / floor_pps
                        cell += f"; {median / floor_pps:.2f}x floor, {above:.0f} ns above"
                    cells.append(cell)
                self.w(f"| {E2E_NAMES[variant]} | " + " | ".join(cells) + " |")
            self.w()
            self.w(self.e2e_check(traffic))
            self.w()

    def rows_seconds(self):
        v = next(iter(self.e2e.values()))
        return statistics.median(r["seconds"] for _, r in v)

    def e2e_check(self, traffic):
        """Counters that show each filter did what the figure claims."""
        bad = []
        for (variant, n, t), v in self.e2e.items():
            if t != traffic or variant == "none":
                continue
            for _, r in v:
                if traffic == "drop" and r["delivered"] > 0.01 * r["received"]:
                    bad.append(f"{variant}/{n}: {r['delivered']} of {r['received']} reached UDP")
                if traffic == "drop" and r["filter_drops"] is not None and r["filter_drops"] < 0.99 * r["received"]:
                    bad.append(f"{variant}/{n}: the filter counted {r['filter_drops']} drops of {r['received']}")
                if traffic == "allowed" and r["delivered"] < 0.99 * r["received"]:
                    bad.append(f"{variant}/{n}: only {r['delivered']} of {r['received']} reached UDP")
        if bad:
            return "Counter check failed: " + "; ".join(bad) + "."
        if traffic == "drop":
            return ("Counter check: no run let more than 1% of the flood reach the host's UDP layer "
                    "(/proc/net/snmp Udp NoPorts), and every filter with a drop counter (airgap-bpf's "
                    "uplink-xdp drops, the final DROP rule of iptables, nft's named counter, the empty "
                    "program's rx_queue_0_xdp_drops) counted at least 99% of the frames received.")
        return "Counter check: in every run at least 99% of the frames received reached the host's UDP layer."

    # ------------------------------------------------------------ control plane
    def control_tables(self):
        if not self.control and not self.edits:
            return
        self.w("## Control plane")
        self.w()
        labels = [
            ("library-load", "airgap-bpf: Programs::load, open and verify the four programs (in process)"),
            ("cli-load", "airgap-bpf load wan0 (CLI: load, verify, attach, pin; no rules)"),
            ("bulk-write", "airgap-bpf: bare map writes of all rules (the benchmark's fill, once)"),
            ("library-add", "airgap-bpf: FilterMaps::add_rule at the rule count below"),
            ("library-delete", "airgap-bpf: FilterMaps::delete_rule"),
            ("map-add", "airgap-bpf: the map update alone (rule slot + trie insert)"),
            ("map-delete", "airgap-bpf: trie delete alone"),
            ("cli-add", "airgap-bpf rule add (CLI process)"),
            ("cli-delete", "airgap-bpf rule del (CLI process)"),
            ("cli-restore-10000", "airgap-bpf restore, 10,000 rules into an empty filter"),
            ("cli-restore-20000", "airgap-bpf restore, 20,000 rules into an empty filter"),
            ("cli-restore-100000", "airgap-bpf restore, 100,000 rules into an empty filter"),
            ("cli-restore-100000-timeout", "airgap-bpf restore, 100,000 rules: stopped at the time limit"),
            ("nft-f-set", "nft -f: the rules as one set"),
            ("nft-f-chain", "nft -f: the rules as one rule each"),
            ("nft-f-chain-timeout", "nft -f, one rule each: stopped at the time limit"),
            ("nft-add-element", "nft add element (into that set)"),
            ("nft-delete-element", "nft delete element"),
            ("iptables-legacy-restore", "iptables-legacy-restore of the rules"),
            ("iptables-legacy-append", "iptables-legacy -A"),
            ("iptables-legacy-delete", "iptables-legacy -D"),
            ("iptables-nft-restore", "iptables-nft-restore of the rules"),
            ("iptables-nft-append", "iptables-nft -A"),
            ("iptables-nft-delete", "iptables-nft -D"),
        ]
        self.w("Milliseconds. Edits run with the rule count of the largest rule set (100,000 unless the run "
               "set CONTROL_RULES) already loaded; p50 and p99 are nearest-rank over the samples, so with "
               "30 samples p99 is the slowest one.")
        self.w()
        self.w("| operation | samples | p50 | p99 | min–max |")
        self.w("| --- | --- | --- | --- | --- |")
        for key, label in labels:
            v = self.control.get(key)
            if not v:
                continue
            self.w(f"| {label} | {len(v)} | {percentile(v, 50):.3f} | {percentile(v, 99):.3f} | "
                   f"{min(v):.3f}–{max(v):.3f} |")
        self.w()
        if self.edits:
            self.w("### Live edit to first admitted packet")
            self.w()
            self.w("A container sends a UDP datagram to a host port every 20 µs while the host's filter drops "
                   "them; the edit admits them. Time from the edit command's start (posix_spawn) to the "
                   "first datagram the host's socket receives, and to the command's exit, in milliseconds, "
                   "median (min–max).")
            self.w()
            self.w("| edit | runs | first packet | command exit |")
            self.w("| --- | --- | --- | --- |")
            names = {"airgap-forward-add-3": "airgap-bpf forward add (3 rules loaded)",
                     "nft-add-element": "nft add element (set of 0 elements)",
                     "iptables-legacy-insert": "iptables-legacy -I INPUT 1",
                     "iptables-nft-insert": "iptables-nft -I INPUT 1"}
            for key, v in self.edits.items():
                label = names.get(key, key)
                if key.startswith("airgap-forward-add-") and key != "airgap-forward-add-3":
                    label = f"airgap-bpf forward add ({int(key.rsplit('-', 1)[1]):,} rules loaded)"
                self.w(f"| {label} | {len(v)} | {fmt_range([r['first_ms'] for r in v], 2)} | "
                       f"{fmt_range([r['exit_ms'] for r in v], 2)} |")
            self.w()

    # ------------------------------------------------------------ plot
    def plot(self, png):
        data = os.path.splitext(png)[0] + ".dat"
        series = [("uplink-xdp", "drop"), ("uplink-xdp", "drop-near"), ("uplink-xdp", "tracked"),
                  ("xdp-filter", "drop"), ("uplink-egress", "drop"), ("bridge-ingress", "new"),
                  ("floor-xdp", "drop")]
        rules = [10, 1000, 10000, 100000]
        with open(data, "w") as f:
            for n in rules:
                vals = []
                for prog, cls in series:
                    r = self.cost.get((prog, cls, str(n)))
                    vals += [statistics.median(r["ns"]), min(r["ns"]), max(r["ns"])] if r else [math.nan] * 3
                f.write(f"{n} " + " ".join(f"{v:.2f}" for v in vals) + "\n")
        titles = ["uplink XDP, no rule (UDP flood)", "uplink XDP, no rule, next to a rule",
                  "uplink XDP, tracked reply", "xdp-filter, no rule", "uplink TC egress, no rule",
                  "bridge TC ingress, forward", "empty XDP drop (floor)"]
        plots = ", ".join(
            f"'{data}' using 1:{2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i} with yerrorlines title '{t}'"
            for i, t in enumerate(titles))
        script = (f"set terminal pngcairo size 900,640 font 'sans,10'\nset output '{png}'\n"
                  "set logscale x\nset xlabel 'rules'\nset ylabel 'ns per packet (BPF\\_PROG\\_TEST\\_RUN)'\n"
                  "set yrange [0:*]\nset key below\nset grid\n"
                  "set title 'Per-packet cost against rule count (median, min-max bars)'\n"
                  f"plot {plots}\n")
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
        os.unlink(data)

    def render(self, out_md):
        m = self.machine
        png_name = "benchmarks-cost.png"
        self.w("# Benchmarks")
        self.w()
        self.w("Generated by `bench/report.py` from one run of the whole benchmark; do not edit by hand. "
               "Every figure below comes from that run, and every ratio compares two figures of it.")
        self.w()
        self.w(f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores (a KVM guest), "
               f"kernel {m.get('kernel', '?')}")
        self.w(f"- Packages: {m.get('versions', '?').strip().rstrip(';')}")
        self.w(f"- Source: commit {m.get('commit', '?')}")
        self.w(f"- Command: `{m.get('command', '?')}`, run {m.get('date', '?')}"
               + (f", {self.duration / 60:.1f} minutes" if self.duration else ""))
        if self.load:
            self.w("- Load average (1 minute) before each section, 2.0 being both cores busy: " +
                   ", ".join(f"{section} {value:.1f}" for section, value in self.load) +
                   ". The benchmark keeps about one core busy, so a load well above 1.0 means other work on "
                   "the machine, which widens the spread of the figures.")
        self.w("- Rule set at N rules: allow-out tcp/443 and udp/5000 to one relay, one forward, and N − 3 "
               "allow-in rules (tcp/22 from distinct /32 addresses of 172.16.0.0/12). iptables and nftables "
               "get the recipe's INPUT chain: accept lo, accept established/related (conntrack), one accept "
               "per allow-in rule (or one set lookup), then a counted drop. xdp-filter (deny policy) "
               "allows the same source addresses: it matches an address or a port, never both.")
        self.w()
        self.targets()
        self.limits()
        self.w(f"![Per-packet cost against rule count]({png_name})")
        self.w()
        self.cost_table()
        self.attribution()
        self.e2e_tables()
        self.control_tables()
        with open(out_md, "w") as f:
            f.write("\n".join(self.out).rstrip() + "\n")
        if self.cost:
            self.plot(os.path.join(os.path.dirname(os.path.abspath(out_md)), png_name))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS.jsonl OUT.md")
    Report(load(sys.argv[1])).render(sys.argv[2])


if __name__ == "__main__":
    main()
