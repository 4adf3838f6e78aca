#!/usr/bin/env bash
# End-to-end test of airgap-bpf: a simulated network, docker host and two
# containers in network namespaces (see topology.sh), real TCP and UDP echo
# traffic through the loaded filter, and the CLI's rule edits, counters, status
# and unload. Prints one PASS or FAIL line per check and exits 1 if any failed,
# 77 if this machine cannot run it.
#
# usage: airgap_test.sh AIRGAP_BPF_BINARY AGPROBE_BINARY
set -u -o pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 AIRGAP_BPF_BINARY AGPROBE_BINARY" >&2
	exit 2
fi

# shellcheck source=tests/netns/topology.sh
source "$(dirname "$0")/topology.sh"
# shellcheck source=tests/netns/checks.sh
source "$(dirname "$0")/checks.sh"
checks_require_setup "$1" "$2"
topo_init test "$1" "$2" || exit 1
checks_require_netns

# Every path of the topology, each working without the filter:
# "description|namespace|probe arguments".
ALL_PATHS=(
	"host -> relay $TOPO_RELAY tcp/443|$NS_HOST|tcp $TOPO_RELAY 443"
	"host -> elsewhere $TOPO_ELSEWHERE tcp/443|$NS_HOST|tcp $TOPO_ELSEWHERE 443"
	"host -> elsewhere $TOPO_ELSEWHERE tcp/80|$NS_HOST|tcp $TOPO_ELSEWHERE 80"
	"host -> relay $TOPO_RELAY tcp/80|$NS_HOST|tcp $TOPO_RELAY 80"
	"host -> resolver $TOPO_RESOLVER udp/53|$NS_HOST|udp $TOPO_RESOLVER 53"
	"host -> resolver $TOPO_RESOLVER tcp/53|$NS_HOST|tcp $TOPO_RESOLVER 53"
	"host -> elsewhere $TOPO_ELSEWHERE udp/53|$NS_HOST|udp $TOPO_ELSEWHERE 53"
	"host udp/68 -> DHCP broadcast udp/67|$NS_HOST|udp 255.255.255.255 67 --sport 68 --from $TOPO_HOST_WAN"
	"host udp/68 -> DHCP server $TOPO_NET_GW udp/67|$NS_HOST|udp $TOPO_NET_GW 67 --sport 68"
	"host udp/5000 -> broadcast udp/67|$NS_HOST|udp 255.255.255.255 67 --sport 5000 --from $TOPO_HOST_WAN"
	"net $TOPO_ELSEWHERE -> host $TOPO_HOST_WAN tcp/$TOPO_HOST_SERVICE_PORT|$NS_NET|tcp $TOPO_HOST_WAN $TOPO_HOST_SERVICE_PORT --from $TOPO_ELSEWHERE"
	"net $TOPO_ELSEWHERE -> published port $TOPO_HOST_WAN tcp/$TOPO_PUBLISHED_PORT (DNAT to c1:80)|$NS_NET|tcp $TOPO_HOST_WAN $TOPO_PUBLISHED_PORT --from $TOPO_ELSEWHERE"
	"c1 -> Internet $TOPO_ELSEWHERE tcp/443 via NAT|$NS_C1|tcp $TOPO_ELSEWHERE 443"
	"c1 -> Internet $TOPO_ELSEWHERE udp/53 via NAT|$NS_C1|udp $TOPO_ELSEWHERE 53"
	"c1 -> Internet $TOPO_ELSEWHERE tcp/$TOPO_FORWARDER_PORT via NAT|$NS_C1|tcp $TOPO_ELSEWHERE $TOPO_FORWARDER_PORT"
	"c1 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT|$NS_C1|tcp $TOPO_HOST_BRIDGE $TOPO_FORWARDER_PORT"
	"c1 -> host $TOPO_HOST_WAN tcp/$TOPO_HOST_SERVICE_PORT|$NS_C1|tcp $TOPO_HOST_WAN $TOPO_HOST_SERVICE_PORT"
	"c2 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT|$NS_C2|tcp $TOPO_HOST_BRIDGE $TOPO_FORWARDER_PORT"
	"c1 -> c2 tcp/$TOPO_PEER_PORT|$NS_C1|tcp $TOPO_C2 $TOPO_PEER_PORT"
	"c1 -> c2 udp/$TOPO_PEER_PORT|$NS_C1|udp $TOPO_C2 $TOPO_PEER_PORT"
	"c2 -> c1 tcp/$TOPO_PEER_PORT|$NS_C2|tcp $TOPO_C1 $TOPO_PEER_PORT"
	"host -> c1 tcp/80|$NS_HOST|tcp $TOPO_C1 80"
	"host -> c2 udp/$TOPO_PEER_PORT|$NS_HOST|udp $TOPO_C2 $TOPO_PEER_PORT"
)

# check_all_paths_pass WHEN: every path of ALL_PATHS works.
check_all_paths_pass() {
	local when=$1 entry what ns args
	for entry in "${ALL_PATHS[@]}"; do
		IFS='|' read -r what ns args <<<"$entry"
		# shellcheck disable=SC2086 # args is a list of probe arguments
		check_pass "$when: $what" "$ns" $args
	done
	# The host replies to a SYN for a closed port with a reset. The filter
	# must drop the SYN instead, and this check shows that the reset would
	# otherwise come back.
	local err rc
	err=$(topo_probe "$NS_NET" connect tcp "$TOPO_HOST_WAN" 23 --from "$TOPO_ELSEWHERE" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 4 ]; then
		pass "$when: net -> host tcp/23 (no listener) is refused by the host"
	else
		fail "$when: net -> host tcp/23 (no listener) is refused by the host" "probe exit $rc: $err"
	fi
}

# The policy of the test, and a variant that also publishes tcp/8080 to the
# network, to show that the bridge hook stops DNAT'd traffic even when the
# uplink admits it.
POLICY="$TOPO_WORK/policy.toml"
cat >"$POLICY" <<EOF
[link]
dhcp = true
dns = ["$TOPO_RESOLVER"]

[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "$TOPO_RELAY"
port = 443
EOF
POLICY_PUBLISHED="$TOPO_WORK/policy-published.toml"
cat "$POLICY" - >"$POLICY_PUBLISHED" <<EOF

[[allow-in]]
name = "published-web"
proto = "tcp"
from = "$TOPO_ELSEWHERE"
port = $TOPO_PUBLISHED_PORT
EOF

echo "== topology"
topo_create || abort "build the namespace topology"
pass "topology built (namespaces ag-$TOPO_ID-*)"
topo_check_loader_ns || abort "the loader runs in the host namespace $NS_HOST"
pass "the loader runs in the host namespace $NS_HOST, not in this one"

echo "== without the filter"
check_all_paths_pass "no filter"

echo "== connections opened before the load"
topo_keep_open relay "$NS_HOST" "$TOPO_RELAY" 443 ||
	abort "open host -> relay tcp/443 before the load"
topo_keep_open elsewhere "$NS_HOST" "$TOPO_ELSEWHERE" 80 ||
	abort "open host -> elsewhere tcp/80 before the load"
pass "opened host -> relay tcp/443 and host -> elsewhere tcp/80"

echo "== load"
load_output=$(topo_airgap load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY" 2>&1) ||
	abort "airgap-bpf load $TOPO_UPLINK --bridge $TOPO_BRIDGE" "$load_output"
pass "airgap-bpf load $TOPO_UPLINK --bridge $TOPO_BRIDGE: $load_output"

status_output=$(topo_airgap status 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then pass "status exits 0 when loaded"; else fail "status exits 0 when loaded" "exit $rc"; fi
# Extended regular expressions, one per line of status that must be there.
for expected in "^uplink $TOPO_UPLINK " "^bridge $TOPO_BRIDGE " "xdp +ag_uplink_xdp .*, native mode$" \
	"tc egress +ag_uplink_out" "tc ingress +ag_bridge_in" "tc egress +ag_bridge_out" "^dhcp: allowed$" \
	"^host addresses: .*$TOPO_HOST_WAN(,|$)" "^host addresses: .*$TOPO_HOST_BRIDGE(,|$)"; do
	if grep -Eq "$expected" <<<"$status_output"; then
		pass "status shows '$expected'"
	else
		fail "status shows '$expected'" "$status_output"
	fi
done
if grep -q MISSING <<<"$status_output"; then
	fail "status lists no missing hook" "$status_output"
else
	pass "status lists no missing hook"
fi

echo "== connections opened before the load"
check_exchange "host -> relay tcp/443 opened before the load still exchanges data" relay ok
before=$(hook_packets uplink-egress drop no-rule)
check_exchange "host -> elsewhere tcp/80 opened before the load exchanges nothing" elsewhere timeout
check_grew "uplink-egress counted the dropped data as no-rule" "$before" "$(hook_packets uplink-egress drop no-rule)" 1

echo "== allowed with the filter"
check_pass "host -> relay $TOPO_RELAY tcp/443 (new connection)" "$NS_HOST" tcp "$TOPO_RELAY" 443
check_pass "host -> resolver $TOPO_RESOLVER udp/53" "$NS_HOST" udp "$TOPO_RESOLVER" 53
check_pass "host -> resolver $TOPO_RESOLVER tcp/53" "$NS_HOST" tcp "$TOPO_RESOLVER" 53
check_pass "host udp/68 -> DHCP broadcast udp/67, the server's unicast reply comes back" \
	"$NS_HOST" udp 255.255.255.255 67 --sport 68 --from "$TOPO_HOST_WAN"
check_pass "c1 -> c2 tcp/$TOPO_PEER_PORT (bridged, not filtered)" "$NS_C1" tcp "$TOPO_C2" "$TOPO_PEER_PORT"
check_pass "c1 -> c2 udp/$TOPO_PEER_PORT (bridged, not filtered)" "$NS_C1" udp "$TOPO_C2" "$TOPO_PEER_PORT"
check_pass "c2 -> c1 tcp/$TOPO_PEER_PORT (bridged, not filtered)" "$NS_C2" tcp "$TOPO_C1" "$TOPO_PEER_PORT"
before=$(hook_packets bridge-ingress pass flow)
check_pass "host -> c1 tcp/80 (the host opens connections into the bridge)" "$NS_HOST" tcp "$TOPO_C1" 80
check_pass "host -> c2 udp/$TOPO_PEER_PORT" "$NS_HOST" udp "$TOPO_C2" "$TOPO_PEER_PORT"
check_grew "bridge-ingress passed the containers' replies as flow" "$before" "$(hook_packets bridge-ingress pass flow)" 2
for rule in relay-api dns-1-udp dns-1-tcp; do
	packets=$(rule_packets "$rule")
	if [[ "$packets" =~ ^[0-9]+$ ]] && [ "$packets" -gt 0 ]; then
		pass "stats counts packets for rule $rule ($packets)"
	else
		fail "stats counts packets for rule $rule" "packets '$packets'"
	fi
done

echo "== blocked with the filter"
before=$(hook_packets uplink-egress drop no-rule)
check_blocked "host -> elsewhere $TOPO_ELSEWHERE tcp/443" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 443
check_grew "uplink-egress counted host -> elsewhere as no-rule" "$before" "$(hook_packets uplink-egress drop no-rule)" 1
check_blocked "host -> elsewhere $TOPO_ELSEWHERE tcp/80" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 80
check_blocked "host -> relay $TOPO_RELAY tcp/80 (allowed address, other port)" "$NS_HOST" tcp "$TOPO_RELAY" 80
check_blocked "host -> elsewhere $TOPO_ELSEWHERE udp/53 (not the resolver)" "$NS_HOST" udp "$TOPO_ELSEWHERE" 53
check_blocked "host udp/68 -> DHCP server $TOPO_NET_GW udp/67 (a unicast renewal needs a rule)" \
	"$NS_HOST" udp "$TOPO_NET_GW" 67 --sport 68
check_blocked "host udp/5000 -> broadcast udp/67 (not from the DHCP client port)" \
	"$NS_HOST" udp 255.255.255.255 67 --sport 5000 --from "$TOPO_HOST_WAN"
check_blocked "host udp/5000 -> $TOPO_NET_GW udp/67 (not from the DHCP client port)" \
	"$NS_HOST" udp "$TOPO_NET_GW" 67 --sport 5000

before=$(hook_packets uplink-xdp drop no-rule)
check_blocked "net $TOPO_ELSEWHERE -> host tcp/$TOPO_HOST_SERVICE_PORT" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE"
check_grew "uplink-xdp counted net -> host as no-rule" "$before" "$(hook_packets uplink-xdp drop no-rule)" 1
check_blocked "net $TOPO_NET_GW -> host tcp/$TOPO_HOST_SERVICE_PORT (from the gateway's address)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT"
check_blocked "net -> host tcp/23 (no listener: no reset comes back)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" 23 --from "$TOPO_ELSEWHERE"
check_blocked "net -> published port tcp/$TOPO_PUBLISHED_PORT (DNAT to c1:80)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_PUBLISHED_PORT" --from "$TOPO_ELSEWHERE"

check_blocked "c1 -> Internet $TOPO_ELSEWHERE tcp/443" "$NS_C1" tcp "$TOPO_ELSEWHERE" 443
check_blocked "c1 -> Internet $TOPO_ELSEWHERE udp/53" "$NS_C1" udp "$TOPO_ELSEWHERE" 53
before_bridge=$(hook_packets bridge-ingress drop no-rule)
before_uplink=$(hook_packets uplink-egress drop not-from-host)
topo_probe "$NS_C1" send udp "$TOPO_ELSEWHERE" 53 --count 5 >/dev/null
check_grew "bridge-ingress counted c1's 5 datagrams to the Internet as no-rule" \
	"$before_bridge" "$(hook_packets bridge-ingress drop no-rule)" 5
after_uplink=$(hook_packets uplink-egress drop not-from-host)
if [ "$after_uplink" = "$before_uplink" ]; then
	pass "c1's datagrams never reached the uplink (uplink-egress not-from-host stays $after_uplink)"
else
	fail "c1's datagrams never reached the uplink" "uplink-egress not-from-host went $before_uplink -> $after_uplink"
fi
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT (no forward yet)" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_blocked "c1 -> host $TOPO_HOST_WAN tcp/$TOPO_HOST_SERVICE_PORT" \
	"$NS_C1" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT"

echo "== forward add and del"
if output=$(topo_airgap forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C1" --name fwd-c1 2>&1); then
	pass "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-c1: $output"
else
	fail "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-c1" "$output"
fi
if topo_airgap forward list 2>&1 | grep -q 'fwd-c1'; then
	pass "forward list shows fwd-c1"
else
	fail "forward list shows fwd-c1" "$(topo_airgap forward list 2>&1)"
fi
check_pass "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT with fwd-c1" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_blocked "c2 -> host forwarder tcp/$TOPO_FORWARDER_PORT (fwd-c1 is for c1 only)" \
	"$NS_C2" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
before=$(hook_packets bridge-ingress drop not-to-host)
check_blocked "c1 -> Internet $TOPO_ELSEWHERE tcp/$TOPO_FORWARDER_PORT (the forward's port, not the host)" \
	"$NS_C1" tcp "$TOPO_ELSEWHERE" "$TOPO_FORWARDER_PORT"
check_grew "bridge-ingress counted it as not-to-host" "$before" "$(hook_packets bridge-ingress drop not-to-host)" 1
packets=$(rule_packets fwd-c1)
if [[ "$packets" =~ ^[0-9]+$ ]] && [ "$packets" -gt 0 ]; then
	pass "stats shows rule fwd-c1 with $packets packets"
else
	fail "stats shows rule fwd-c1 with a non-zero packet count" "packets '$packets'"
fi

topo_keep_open forwarded "$NS_C1" "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT" ||
	fail "open c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT to keep across forward del"
if output=$(topo_airgap forward del fwd-c1 2>&1); then
	pass "forward del fwd-c1: $output"
else
	fail "forward del fwd-c1" "$output"
fi
check_exchange "c1's open connection to the forwarder stops after forward del" forwarded timeout
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT after forward del" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
if output=$(topo_airgap forward del fwd-c1 2>&1); then
	fail "forward del of a missing name fails" "exit 0: $output"
else
	pass "forward del of a missing name fails: $output"
fi

echo "== second load"
status_before=$(topo_airgap status 2>&1)
output=$(topo_airgap load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && [[ "$output" == "error: "* ]]; then
	pass "a second load without --replace fails: $output"
else
	fail "a second load without --replace fails with 'error: '" "exit $rc: $output"
fi
status_after=$(topo_airgap status 2>&1)
if [ "$status_before" = "$status_after" ]; then
	pass "the failed load changed nothing (status is the same, same program ids)"
else
	fail "the failed load changed nothing" "status before:
$status_before
status after:
$status_after"
fi
check_pass "host -> relay tcp/443 after the failed load" "$NS_HOST" tcp "$TOPO_RELAY" 443
check_blocked "host -> elsewhere tcp/443 after the failed load" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 443

echo "== replace: a published port admitted on the uplink"
output=$(topo_airgap load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY_PUBLISHED" --replace 2>&1) ||
	fail "load --replace with allow-in tcp/$TOPO_PUBLISHED_PORT" "$output"
before=$(hook_packets bridge-egress drop not-from-host)
check_blocked "net -> published port tcp/$TOPO_PUBLISHED_PORT with allow-in (DNAT to c1)" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_PUBLISHED_PORT" --from "$TOPO_ELSEWHERE"
packets=$(rule_packets published-web)
if [[ "$packets" =~ ^[0-9]+$ ]] && [ "$packets" -gt 0 ]; then
	pass "uplink-xdp admitted it through rule published-web ($packets packets)"
else
	fail "uplink-xdp admitted it through rule published-web" "packets '$packets'"
fi
check_grew "bridge-egress dropped the DNAT'd packets as not-from-host" \
	"$before" "$(hook_packets bridge-egress drop not-from-host)" 1
check_blocked "net -> host tcp/$TOPO_HOST_SERVICE_PORT with allow-in for another port" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE"

echo "== replace: no bridge hooks, so only the uplink stops containers"
output=$(topo_airgap load "$TOPO_UPLINK" --policy "$POLICY" --replace 2>&1) ||
	fail "load --replace without bridges" "$output"
if tc -n "$NS_HOST" qdisc show dev "$TOPO_BRIDGE" | grep -q clsact; then
	fail "load --replace without bridges removes the clsact qdisc of $TOPO_BRIDGE"
else
	pass "load --replace without bridges removes the clsact qdisc of $TOPO_BRIDGE"
fi
check_pass "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT without bridge hooks" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
before=$(hook_packets uplink-egress drop not-from-host)
check_blocked "c1 -> Internet $TOPO_ELSEWHERE tcp/443 without bridge hooks" "$NS_C1" tcp "$TOPO_ELSEWHERE" 443
topo_probe "$NS_C1" send udp "$TOPO_ELSEWHERE" 53 --count 5 >/dev/null
check_grew "uplink-egress counted c1's NAT'd packets as not-from-host" \
	"$before" "$(hook_packets uplink-egress drop not-from-host)" 6

echo "== unload"
if output=$(topo_airgap unload 2>&1); then
	pass "airgap-bpf unload: $output"
else
	fail "airgap-bpf unload" "$output"
fi
output=$(topo_airgap status 2>&1)
rc=$?
if [ "$rc" -eq 3 ]; then pass "status exits 3 after unload"; else fail "status exits 3 after unload" "exit $rc: $output"; fi
for dev in "$TOPO_UPLINK" "$TOPO_BRIDGE"; do
	if tc -n "$NS_HOST" qdisc show dev "$dev" | grep -q clsact; then
		fail "no clsact qdisc on $dev after unload" "$(tc -n "$NS_HOST" qdisc show dev "$dev")"
	else
		pass "no clsact qdisc on $dev after unload"
	fi
done
if ip -n "$NS_HOST" link show dev "$TOPO_UPLINK" | head -1 | grep -Eq '\<xdp(generic|drv|offload)?\>'; then
	fail "no XDP program on $TOPO_UPLINK after unload" "$(ip -n "$NS_HOST" link show dev "$TOPO_UPLINK")"
else
	pass "no XDP program on $TOPO_UPLINK after unload"
fi
if [ -e "$TOPO_PIN_DIR" ]; then
	fail "pin directory $TOPO_PIN_DIR is gone after unload" "$(ls -la "$TOPO_PIN_DIR")"
else
	pass "pin directory $TOPO_PIN_DIR is gone after unload"
fi
check_all_paths_pass "after unload"

checks_done
