#!/usr/bin/env bash
# End-to-end test of the filter on IPv6 (see topology.sh, TOPO_IPV6). Every
# IPv6 path works without the filter. With it, IPv6 is allowed and blocked
# exactly as IPv4 is: the host reaches only the relay's IPv6 address on
# tcp/443, nothing comes in, and containers stay inside. A container reaches
# the host's forwarder only through a forward for its IPv6 address. Neighbour
# discovery keeps working through every hook. Prints one PASS or FAIL line per
# check and exits 1 if any failed, 77 if this machine cannot run it.
#
# usage: ipv6_test.sh AIRGAP_BPF_BINARY AGPROBE_BINARY
set -u -o pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 AIRGAP_BPF_BINARY AGPROBE_BINARY" >&2
	exit 2
fi

# shellcheck source=tests/netns/topology.sh
source "$(dirname "$0")/topology.sh"
# shellcheck source=tests/netns/checks.sh
source "$(dirname "$0")/checks.sh"
checks_require_setup "$1" "$2" ip6tables
topo_init ipv6 "$1" "$2" || exit 1
checks_require_netns
TOPO_IPV6=1

POLICY="$TOPO_WORK/policy.toml"
cat >"$POLICY" <<EOF
[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "$TOPO_RELAY"
port = 443

[[allow-out]]
name = "relay-api-v6"
proto = "tcp"
to = "$TOPO_RELAY6"
port = 443
EOF

# run_cli OUT_VAR ARGS...: run airgap-bpf, store stdout and stderr in
# OUT_VAR, return its exit code.
run_cli() {
	local -n out_ref=$1
	shift
	out_ref=$(topo_airgap "$@" 2>&1)
}

# check_rule_counted RULE: a rule's packet counter is above 0.
check_rule_counted() {
	local packets
	packets=$(rule_packets "$1")
	if [[ "$packets" =~ ^[0-9]+$ ]] && [ "$packets" -gt 0 ]; then
		pass "stats counts packets for rule $1 ($packets)"
	else
		fail "stats counts packets for rule $1" "packets '$packets'"
	fi
}

# Every IPv6 path of the topology, each working without the filter:
# "description|namespace|probe arguments".
V6_PATHS=(
	"host -> relay [$TOPO_RELAY6] tcp/443|$NS_HOST|tcp $TOPO_RELAY6 443"
	"host -> relay [$TOPO_RELAY6] tcp/80|$NS_HOST|tcp $TOPO_RELAY6 80"
	"host -> elsewhere [$TOPO_ELSEWHERE6] tcp/443|$NS_HOST|tcp $TOPO_ELSEWHERE6 443"
	"host -> elsewhere [$TOPO_ELSEWHERE6] udp/53|$NS_HOST|udp $TOPO_ELSEWHERE6 53"
	"net [$TOPO_ELSEWHERE6] -> host [$TOPO_HOST_WAN6] tcp/$TOPO_HOST_SERVICE_PORT|$NS_NET|tcp $TOPO_HOST_WAN6 $TOPO_HOST_SERVICE_PORT --from $TOPO_ELSEWHERE6"
	"c1 -> Internet [$TOPO_ELSEWHERE6] tcp/443 via NAT|$NS_C1|tcp $TOPO_ELSEWHERE6 443"
	"c1 -> Internet [$TOPO_ELSEWHERE6] udp/53 via NAT|$NS_C1|udp $TOPO_ELSEWHERE6 53"
	"c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT|$NS_C1|tcp $TOPO_HOST_BRIDGE6 $TOPO_FORWARDER_PORT"
	"c2 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT|$NS_C2|tcp $TOPO_HOST_BRIDGE6 $TOPO_FORWARDER_PORT"
	"c1 -> c2 [$TOPO_C26] tcp/$TOPO_PEER_PORT|$NS_C1|tcp $TOPO_C26 $TOPO_PEER_PORT"
	"c1 -> c2 [$TOPO_C26] udp/$TOPO_PEER_PORT|$NS_C1|udp $TOPO_C26 $TOPO_PEER_PORT"
)

check_v6_paths_pass() {
	local when=$1 entry what ns args err rc
	for entry in "${V6_PATHS[@]}"; do
		IFS='|' read -r what ns args <<<"$entry"
		# shellcheck disable=SC2086 # args is a list of probe arguments
		check_pass "$when: $what" "$ns" $args
	done
	# The host replies to a SYN for a closed port with a reset, which the
	# filter must stop. This shows that the reset would otherwise come back.
	err=$(topo_probe "$NS_NET" connect tcp "$TOPO_HOST_WAN6" 23 --from "$TOPO_ELSEWHERE6" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 4 ]; then
		pass "$when: net -> host [$TOPO_HOST_WAN6] tcp/23 (no listener) is refused by the host"
	else
		fail "$when: net -> host [$TOPO_HOST_WAN6] tcp/23 (no listener) is refused by the host" "probe exit $rc: $err"
	fi
}

# check_neighbour NS DEV ADDR WHAT: the neighbour entry of ADDR is resolved.
check_neighbour() {
	local entry
	entry=$(ip -n "$1" -6 neigh show "$3" dev "$2")
	if grep -Eq 'lladdr .* (REACHABLE|STALE|DELAY|PROBE)' <<<"$entry"; then
		pass "$4: $entry"
	else
		fail "$4" "neighbour entry '$entry'"
	fi
}

echo "== topology"
topo_create || abort "build the namespace topology with IPv6"
pass "topology built with IPv6 (namespaces ag-$TOPO_ID-*)"

echo "== without the filter"
check_v6_paths_pass "no filter"
check_pass "no filter: host -> relay $TOPO_RELAY tcp/443 (IPv4 still works)" "$NS_HOST" tcp "$TOPO_RELAY" 443

echo "== load"
run_cli output load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY" ||
	abort "airgap-bpf load $TOPO_UPLINK --bridge $TOPO_BRIDGE" "$output"
pass "airgap-bpf load: $output"
stats_snapshot "$TOPO_WORK/stats-load"

echo "== allowed with the filter"
check_pass "host -> relay [$TOPO_RELAY6] tcp/443" "$NS_HOST" tcp "$TOPO_RELAY6" 443
check_rule_counted relay-api-v6
check_pass "host -> relay $TOPO_RELAY tcp/443" "$NS_HOST" tcp "$TOPO_RELAY" 443
check_pass "c1 -> c2 [$TOPO_C26] tcp/$TOPO_PEER_PORT (bridged, not filtered)" "$NS_C1" tcp "$TOPO_C26" "$TOPO_PEER_PORT"
check_pass "c1 -> c2 [$TOPO_C26] udp/$TOPO_PEER_PORT (bridged, not filtered)" "$NS_C1" udp "$TOPO_C26" "$TOPO_PEER_PORT"

echo "== blocked with the filter"
before=$(hook_packets uplink-egress drop no-rule)
check_blocked "host -> elsewhere [$TOPO_ELSEWHERE6] tcp/443" "$NS_HOST" tcp "$TOPO_ELSEWHERE6" 443
check_grew "uplink-egress counted it as no-rule" "$before" "$(hook_packets uplink-egress drop no-rule)" 1
check_blocked "host -> relay [$TOPO_RELAY6] tcp/80 (allowed address, other port)" "$NS_HOST" tcp "$TOPO_RELAY6" 80
check_blocked "host -> elsewhere [$TOPO_ELSEWHERE6] udp/53" "$NS_HOST" udp "$TOPO_ELSEWHERE6" 53
before=$(hook_packets uplink-xdp drop no-rule)
check_blocked "net [$TOPO_ELSEWHERE6] -> host [$TOPO_HOST_WAN6] tcp/$TOPO_HOST_SERVICE_PORT" \
	"$NS_NET" tcp "$TOPO_HOST_WAN6" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE6"
check_grew "uplink-xdp counted it as no-rule" "$before" "$(hook_packets uplink-xdp drop no-rule)" 1
check_blocked "net -> host [$TOPO_HOST_WAN6] tcp/23 (no listener: no reset comes back)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN6" 23 --from "$TOPO_ELSEWHERE6"
check_blocked "net [$TOPO_RELAY6] -> host [$TOPO_HOST_WAN6] tcp/$TOPO_HOST_SERVICE_PORT (from the allowed relay)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN6" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_RELAY6"
before=$(hook_packets bridge-ingress drop no-rule)
check_blocked "c1 -> Internet [$TOPO_ELSEWHERE6] tcp/443" "$NS_C1" tcp "$TOPO_ELSEWHERE6" 443
check_grew "bridge-ingress counted it as no-rule" "$before" "$(hook_packets bridge-ingress drop no-rule)" 1
check_blocked "c1 -> Internet [$TOPO_ELSEWHERE6] udp/53" "$NS_C1" udp "$TOPO_ELSEWHERE6" 53
check_blocked "c1 -> relay [$TOPO_RELAY6] tcp/443 (allowed for the host, not for containers)" \
	"$NS_C1" tcp "$TOPO_RELAY6" 443
check_blocked "c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT (no forward)" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"
check_blocked "c1 -> host [$TOPO_HOST_WAN6] tcp/$TOPO_HOST_SERVICE_PORT" \
	"$NS_C1" tcp "$TOPO_HOST_WAN6" "$TOPO_HOST_SERVICE_PORT"

echo "== forwards over IPv6"
run_cli output forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C1" --name fwd-c1 ||
	fail "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-c1" "$output"
check_pass "c1 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT with a forward for its IPv4 address" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_blocked "c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT with a forward for its IPv4 address only" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"
if run_cli output forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C16" --name fwd-c1-v6; then
	pass "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C16 --name fwd-c1-v6: $output"
else
	fail "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C16 --name fwd-c1-v6" "$output"
fi
check_pass "c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT with fwd-c1-v6" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"
check_rule_counted fwd-c1-v6
check_blocked "c2 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT (fwd-c1-v6 is for c1 only)" \
	"$NS_C2" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"
before=$(hook_packets bridge-ingress drop not-to-host)
check_blocked "c1 -> Internet [$TOPO_ELSEWHERE6] tcp/$TOPO_FORWARDER_PORT (the forward's port, not the host)" \
	"$NS_C1" tcp "$TOPO_ELSEWHERE6" "$TOPO_FORWARDER_PORT"
check_grew "bridge-ingress counted it as not-to-host" "$before" "$(hook_packets bridge-ingress drop not-to-host)" 1
run_cli output forward del fwd-c1-v6 || fail "forward del fwd-c1-v6" "$output"
check_blocked "c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT after forward del fwd-c1-v6" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"

echo "== neighbour discovery with the filter"
# Forget the neighbours on both sides of the uplink, so that the next packet
# needs a neighbour solicitation and advertisement through both uplink hooks.
stats_snapshot "$TOPO_WORK/stats-nd-before"
ip -n "$NS_HOST" -6 neigh flush dev "$TOPO_UPLINK"
ip -n "$NS_NET" -6 neigh flush dev up0
if ip -n "$NS_HOST" -6 neigh show "$TOPO_NET_GW6" dev "$TOPO_UPLINK" | grep -q lladdr; then
	fail "the host forgot the gateway $TOPO_NET_GW6" "$(ip -n "$NS_HOST" -6 neigh show dev "$TOPO_UPLINK")"
else
	pass "the host forgot the gateway $TOPO_NET_GW6"
fi
check_pass "host -> relay [$TOPO_RELAY6] tcp/443 after the neighbour flush" "$NS_HOST" tcp "$TOPO_RELAY6" 443
check_neighbour "$NS_HOST" "$TOPO_UPLINK" "$TOPO_NET_GW6" "the host resolved the gateway $TOPO_NET_GW6 again"
stats_snapshot "$TOPO_WORK/stats-nd-after"
for hook in uplink-egress uplink-xdp; do
	check_grew "$hook passed neighbour discovery as link traffic" \
		"$(snapshot_hook "$TOPO_WORK/stats-nd-before" "$hook" pass link)" \
		"$(snapshot_hook "$TOPO_WORK/stats-nd-after" "$hook" pass link)" 1
done

# The same on the bridge, where c1 resolves the host and the host resolves c1.
run_cli output forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C16" --name fwd-c1-v6 ||
	fail "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C16 --name fwd-c1-v6" "$output"
stats_snapshot "$TOPO_WORK/stats-nd-before"
ip -n "$NS_HOST" -6 neigh flush dev "$TOPO_BRIDGE"
ip -n "$NS_C1" -6 neigh flush dev lan0
check_pass "c1 -> host forwarder [$TOPO_HOST_BRIDGE6] tcp/$TOPO_FORWARDER_PORT after the neighbour flush" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE6" "$TOPO_FORWARDER_PORT"
check_neighbour "$NS_C1" lan0 "$TOPO_HOST_BRIDGE6" "c1 resolved the host $TOPO_HOST_BRIDGE6 again"
check_neighbour "$NS_HOST" "$TOPO_BRIDGE" "$TOPO_C16" "the host resolved c1 $TOPO_C16 again"
stats_snapshot "$TOPO_WORK/stats-nd-after"
check_grew "bridge-ingress passed c1's neighbour discovery as link traffic" \
	"$(snapshot_hook "$TOPO_WORK/stats-nd-before" bridge-ingress pass link)" \
	"$(snapshot_hook "$TOPO_WORK/stats-nd-after" bridge-ingress pass link)" 1

echo "== nothing of IPv6 went unparsed"
stats_snapshot "$TOPO_WORK/stats-end"
for hook in uplink-xdp uplink-egress bridge-ingress; do
	for reason in not-parsed malformed; do
		check_delta "$hook dropped nothing as $reason since the load" \
			"$(snapshot_hook "$TOPO_WORK/stats-load" "$hook" drop "$reason")" \
			"$(snapshot_hook "$TOPO_WORK/stats-end" "$hook" drop "$reason")" 0
	done
done

echo "== unload"
run_cli output unload || fail "airgap-bpf unload" "$output"
check_v6_paths_pass "after unload"

checks_done
