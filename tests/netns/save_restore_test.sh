#!/usr/bin/env bash
# End-to-end test of airgap-bpf save and restore on a loaded filter (see
# topology.sh). Save then restore is an exact round trip, and a policy file
# with an error changes nothing. Rules that a restore keeps keep their ids,
# counters and open connections, while removed rules cut theirs. An allowed
# UDP flow loses no datagram while restores switch the rule set again and
# again.
# Prints one PASS or FAIL line per check and exits 1 if any failed, 77 if this
# machine cannot run it.
#
# usage: save_restore_test.sh AIRGAP_BPF_BINARY AGPROBE_BINARY
set -u -o pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 AIRGAP_BPF_BINARY AGPROBE_BINARY" >&2
	exit 2
fi

# shellcheck source=tests/netns/topology.sh
source "$(dirname "$0")/topology.sh"
# shellcheck source=tests/netns/checks.sh
source "$(dirname "$0")/checks.sh"
checks_require_setup "$1" "$2" cmp
topo_init restore "$1" "$2" || exit 1
checks_require_netns

# The relay's UDP echo port, allowed by both policies.
RELAY_UDP_PORT=4443
# The flood under restores: datagrams and the gap between two of them, so
# that it lasts FLOOD_COUNT x FLOOD_INTERVAL_US = 2.5 s.
FLOOD_COUNT=5000
FLOOD_INTERVAL_US=500
# Fewer restores than this during the flood would not test anything.
MIN_RESTORES=5

# Two policies that share relay-api and relay-udp and differ in everything
# else: rules, forwards, DNS and the DHCP switch.
POLICY_A="$TOPO_WORK/policy-a.toml"
cat >"$POLICY_A" <<EOF
[link]
dhcp = true
dns = ["$TOPO_RESOLVER"]

[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "$TOPO_RELAY"
port = 443

[[allow-out]]
name = "relay-udp"
proto = "udp"
to = "$TOPO_RELAY"
port = $RELAY_UDP_PORT

[[allow-out]]
name = "elsewhere-web"
proto = "tcp"
to = "$TOPO_ELSEWHERE"
port = 80
EOF
POLICY_B="$TOPO_WORK/policy-b.toml"
cat >"$POLICY_B" <<EOF
[link]
dhcp = false

[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "$TOPO_RELAY"
port = 443

[[forward]]
name = "fwd-c1"
proto = "tcp"
port = $TOPO_FORWARDER_PORT
from = "$TOPO_C1"

[[allow-out]]
name = "relay-udp"
proto = "udp"
to = "$TOPO_RELAY"
port = $RELAY_UDP_PORT

[[allow-in]]
name = "mgmt-ssh"
proto = "tcp"
from = "$TOPO_ELSEWHERE"
port = $TOPO_HOST_SERVICE_PORT
EOF
# error_lines FILE TEXT: the line of TEXT in FILE, and the line of the
# [[...]] header of the rule around it. An error may name either.
error_lines() {
	awk -v text="$2" '/^\[\[/ { header = NR } index($0, text) { print NR, header; exit }' "$1"
}
# Policy A with an invalid address.
POLICY_BAD="$TOPO_WORK/policy-bad.toml"
sed "s|to = \"$TOPO_ELSEWHERE\"|to = \"203.0.113.300\"|" "$POLICY_A" >"$POLICY_BAD"
BAD_LINES=$(error_lines "$POLICY_BAD" 203.0.113.300)
# Policy B with a protocol that does not exist.
POLICY_BAD_PROTO="$TOPO_WORK/policy-bad-proto.toml"
sed 's|proto = "udp"|proto = "udpx"|' "$POLICY_B" >"$POLICY_BAD_PROTO"
BAD_PROTO_LINES=$(error_lines "$POLICY_BAD_PROTO" udpx)

# run_cli OUT_VAR ARGS...: run airgap-bpf, store stdout and stderr in
# OUT_VAR, return its exit code.
run_cli() {
	local -n out_ref=$1
	shift
	out_ref=$(topo_airgap "$@" 2>&1)
}

# save_to FILE: the live policy as airgap-bpf save writes it.
save_to() {
	topo_airgap save >"$1" 2>"$1.err" || echo "save failed: $(cat "$1.err")" >>"$1"
}

# check_same_save WHAT BEFORE AFTER: two saves are byte-identical.
check_same_save() {
	if cmp -s "$2" "$3"; then
		pass "$1 (save output identical)"
	else
		fail "$1" "save output differs: $(diff "$2" "$3" | head -20)"
	fi
}

# rule_ids: "NAME ID" lines of rule list and forward list, sorted.
rule_ids() {
	{
		topo_airgap rule list
		topo_airgap forward list
	} | awk '$1 ~ /^[0-9]+$/ { print $2, $1 }' | sort
}

# iptables_packets NS CHAIN: the packet counter of the first rule of CHAIN.
iptables_packets() {
	topo_in "$1" iptables -w -n -v -x -L "$2" 1 | awk '{ print $1 }'
}

echo "== topology and load"
topo_create || abort "build the namespace topology"
topo_listen "$NS_NET" "$TOPO_RELAY" "udp/$RELAY_UDP_PORT" || abort "start the relay's UDP echo"
pass "topology built (namespaces ag-$TOPO_ID-*)"
check_pass "no filter: host -> relay udp/$RELAY_UDP_PORT" "$NS_HOST" udp "$TOPO_RELAY" "$RELAY_UDP_PORT"
run_cli output load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY_A" ||
	abort "airgap-bpf load with policy A" "$output"
pass "airgap-bpf load with policy A: $output"
check_pass "policy A: host -> relay udp/$RELAY_UDP_PORT" "$NS_HOST" udp "$TOPO_RELAY" "$RELAY_UDP_PORT"

echo "== save then restore is an exact round trip"
# Rules of every kind and shape, added live, so that the saved file has more
# than the load's policy: a prefix, any port (the forward), a protocol without
# ports, IPv6.
for args in "rule add in tcp 203.0.113.0/24 $TOPO_HOST_SERVICE_PORT --name mgmt-net" \
	"rule add out icmp $TOPO_RELAY --name relay-ping" \
	"rule add out tcp $TOPO_RELAY6 443 --name relay-api-v6" \
	"rule add out udp 2001:db8:2::/64 53 --name v6-dns" \
	"forward add udp any --from 172.17.0.0/16 --name fwd-bridge-udp"; do
	# shellcheck disable=SC2086 # args is a list of CLI arguments
	run_cli output $args || fail "$args" "$output"
done
save_to "$TOPO_WORK/save-1"
ids_before=$(rule_ids)
if run_cli output restore "$TOPO_WORK/save-1"; then
	pass "restore of the saved file: $output"
else
	fail "restore of the saved file" "$output"
fi
save_to "$TOPO_WORK/save-2"
check_same_save "save, restore, save is a round trip" "$TOPO_WORK/save-1" "$TOPO_WORK/save-2"
check_equal "the round trip kept every rule's id" "$ids_before" "$(rule_ids)"
for name in mgmt-net relay-ping relay-api-v6 v6-dns fwd-bridge-udp relay-api; do
	if grep -q "^name = \"$name\"$" "$TOPO_WORK/save-2"; then
		pass "the saved file has rule $name"
	else
		fail "the saved file has rule $name" "$(cat "$TOPO_WORK/save-2")"
	fi
done
if grep -q "^dns = \[\"$TOPO_RESOLVER\"\]$" "$TOPO_WORK/save-2"; then
	pass "the saved file lists the resolver $TOPO_RESOLVER under dns"
else
	fail "the saved file lists the resolver $TOPO_RESOLVER under dns" "$(cat "$TOPO_WORK/save-2")"
fi
check_pass "host -> relay tcp/443 after the round trip" "$NS_HOST" tcp "$TOPO_RELAY" 443
run_cli output restore "$POLICY_A" || fail "restore policy A" "$output"

echo "== a policy file with an error changes nothing"
save_to "$TOPO_WORK/save-before"
status_before=$(topo_airgap status 2>&1)
# Each case: "description|file|lines the message may name (the value's, the
# rule's), or none|text the message names".
RESTORE_ERRORS=(
	"an invalid address|$POLICY_BAD|$BAD_LINES|203.0.113.300"
	"an unknown protocol|$POLICY_BAD_PROTO|$BAD_PROTO_LINES|udpx"
	"a missing file|$TOPO_WORK/no-such-policy.toml||no-such-policy.toml"
)
for entry in "${RESTORE_ERRORS[@]}"; do
	IFS='|' read -r what file lines value <<<"$entry"
	output=$(topo_airgap restore "$file" 2>&1 >/dev/null)
	rc=$?
	located=0
	if [ -z "$lines" ]; then
		location=$file
		[[ "$output" == *"$file"* ]] && located=1
	else
		location="$file:${lines// / or :}"
		for line in $lines; do
			[[ "$output" == *"$file:$line:"* ]] && located=1
		done
	fi
	if [ "$rc" -ne 0 ] && [[ "$output" == "error: "* ]] && [ "$located" = 1 ] && [[ "$output" == *"$value"* ]]; then
		pass "restore of a file with $what fails naming $location and '$value': $output"
	else
		fail "restore of a file with $what fails naming $location and '$value'" "exit $rc: $output"
	fi
	save_to "$TOPO_WORK/save-after"
	check_same_save "restore of a file with $what changed nothing" "$TOPO_WORK/save-before" "$TOPO_WORK/save-after"
done
status_after=$(topo_airgap status 2>&1)
if [ "$(grep -v '^tracked flows' <<<"$status_before")" = "$(grep -v '^tracked flows' <<<"$status_after")" ]; then
	pass "the failed restores changed no status line (rule count, DHCP, hooks and program ids)"
else
	fail "the failed restores changed no status line" "before:
$status_before
after:
$status_after"
fi
check_pass "host udp/68 -> DHCP broadcast udp/67 (policy A's DHCP switch is still on)" \
	"$NS_HOST" udp 255.255.255.255 67 --sport 68 --from "$TOPO_HOST_WAN"

echo "== a restore keeps the counters and connections of the rules that stay"
for _ in 1 2 3; do
	topo_probe "$NS_HOST" connect tcp "$TOPO_RELAY" 443 >/dev/null 2>&1
done
topo_keep_open relay "$NS_HOST" "$TOPO_RELAY" 443 || fail "open host -> relay tcp/443 before the restore"
topo_keep_open elsewhere "$NS_HOST" "$TOPO_ELSEWHERE" 80 || fail "open host -> elsewhere tcp/80 before the restore"
# Let the delayed ACKs of the opening round trips leave (Linux delays an ACK
# by at most TCP_DELACK_MAX, 200 ms), so that no packet of relay-api is in
# flight while counting.
sleep 0.5
stats_snapshot "$TOPO_WORK/stats-before"
ids_before=$(rule_ids)
if run_cli output restore --dry-run "$POLICY_B"; then
	pass "restore --dry-run policy B exits 0"
	for expected in "^would add forward fwd-c1: " "^would remove allow-out elsewhere-web: " \
		"dhcp blocked \(changes\)$"; do
		if grep -Eq "$expected" <<<"$output"; then
			pass "restore --dry-run prints '$expected'"
		else
			fail "restore --dry-run prints '$expected'" "$output"
		fi
	done
	if grep -q "would .* relay-api:" <<<"$output"; then
		fail "restore --dry-run leaves relay-api, which policy B keeps, out" "$output"
	else
		pass "restore --dry-run leaves relay-api, which policy B keeps, out"
	fi
else
	fail "restore --dry-run policy B" "$output"
fi
check_equal "restore --dry-run changed no rule id" "$ids_before" "$(rule_ids)"
if run_cli output restore "$POLICY_B"; then
	pass "restore policy B: $output"
else
	fail "restore policy B" "$output"
fi
stats_snapshot "$TOPO_WORK/stats-after"
for rule in relay-api relay-udp; do
	before=$(snapshot_rule "$TOPO_WORK/stats-before" "$rule")
	after=$(snapshot_rule "$TOPO_WORK/stats-after" "$rule")
	if [[ "$before" =~ ^[0-9]+$ ]] && [ "$before" -gt 0 ] && [ "$before" = "$after" ]; then
		pass "$rule keeps its packet counter across the restore ($after)"
	else
		fail "$rule keeps its packet counter across the restore" "before '$before', after '$after'"
	fi
	check_equal "$rule keeps its id" "$(grep "^$rule " <<<"$ids_before")" "$(rule_ids | grep "^$rule ")"
done
check_equal "fwd-c1, new in policy B, starts at 0 packets" 0 "$(snapshot_rule "$TOPO_WORK/stats-after" fwd-c1)"
check_equal "elsewhere-web, not in policy B, is gone" "" "$(snapshot_rule "$TOPO_WORK/stats-after" elsewhere-web)"
check_exchange "the open connection to the relay (rule relay-api stays) still works" relay ok
check_exchange "the open connection to elsewhere tcp/80 (rule elsewhere-web went) is cut" elsewhere timeout
after=$(snapshot_rule "$TOPO_WORK/stats-after" relay-api)
check_grew "relay-api counts the open connection's packets after the restore" \
	"$after" "$(rule_packets relay-api)" 2
check_blocked "host -> elsewhere tcp/80 under policy B" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 80
check_blocked "host udp/68 -> DHCP broadcast udp/67 under policy B (DHCP off)" \
	"$NS_HOST" udp 255.255.255.255 67 --sport 68 --from "$TOPO_HOST_WAN"
check_blocked "host -> resolver udp/53 under policy B (no DNS)" "$NS_HOST" udp "$TOPO_RESOLVER" 53
check_pass "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT under policy B" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_pass "net $TOPO_ELSEWHERE -> host tcp/$TOPO_HOST_SERVICE_PORT under policy B" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE"
run_cli output restore "$POLICY_A" || fail "restore policy A" "$output"
check_pass "host udp/68 -> DHCP broadcast udp/67 after restoring policy A (DHCP on)" \
	"$NS_HOST" udp 255.255.255.255 67 --sport 68 --from "$TOPO_HOST_WAN"
check_pass "host -> resolver udp/53 after restoring policy A" "$NS_HOST" udp "$TOPO_RESOLVER" 53
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT after restoring policy A" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
topo_keep_close relay
topo_keep_close elsewhere

echo "== restores under continuous traffic"
# The kernel counts on both sides, apart from the filter and the probe: what
# the relay received and echoed, and what the host sent and got back.
topo_in "$NS_NET" iptables -w -A INPUT -p udp -d "$TOPO_RELAY" --dport "$RELAY_UDP_PORT" &&
	topo_in "$NS_NET" iptables -w -A OUTPUT -p udp -s "$TOPO_RELAY" --sport "$RELAY_UDP_PORT" &&
	topo_in "$NS_HOST" iptables -w -A OUTPUT -p udp -d "$TOPO_RELAY" --dport "$RELAY_UDP_PORT" &&
	topo_in "$NS_HOST" iptables -w -A INPUT -p udp -s "$TOPO_RELAY" --sport "$RELAY_UDP_PORT" ||
	abort "add the iptables counting rules"
stats_snapshot "$TOPO_WORK/stats-before"
topo_probe "$NS_HOST" flood udp "$TOPO_RELAY" "$RELAY_UDP_PORT" --count "$FLOOD_COUNT" \
	--interval-us "$FLOOD_INTERVAL_US" --timeout-ms 3000 >"$TOPO_WORK/flood.out" 2>&1 &
flood_pid=$!
TOPO_PIDS+=("$flood_pid")
restores=0
restore_failures=0
policy=$POLICY_B
while kill -0 "$flood_pid" 2>/dev/null; do
	if run_cli output restore "$policy"; then
		restores=$((restores + 1))
	else
		restore_failures=$((restore_failures + 1))
		echo "restore $policy failed: $output"
	fi
	if [ "$policy" = "$POLICY_B" ]; then policy=$POLICY_A; else policy=$POLICY_B; fi
done
wait "$flood_pid"
flood_rc=$?
flood_output=$(cat "$TOPO_WORK/flood.out")
stats_snapshot "$TOPO_WORK/stats-after"

if [ "$restores" -ge "$MIN_RESTORES" ] && [ "$restore_failures" -eq 0 ]; then
	pass "$restores restores during the flood, alternating policies A and B, all exited 0"
else
	fail "at least $MIN_RESTORES restores during the flood, all exiting 0" \
		"$restores succeeded, $restore_failures failed"
fi
if [ "$flood_rc" -eq 0 ]; then
	pass "the host got an echo of every datagram: $(head -1 <<<"$flood_output")"
else
	fail "the host gets an echo of every datagram" "probe exit $flood_rc: $flood_output"
fi
check_equal "the host's kernel sent $FLOOD_COUNT datagrams to the relay" "$FLOOD_COUNT" \
	"$(iptables_packets "$NS_HOST" OUTPUT)"
check_equal "the relay received $FLOOD_COUNT datagrams" "$FLOOD_COUNT" "$(iptables_packets "$NS_NET" INPUT)"
check_equal "the relay echoed $FLOOD_COUNT datagrams" "$FLOOD_COUNT" "$(iptables_packets "$NS_NET" OUTPUT)"
check_equal "the host's kernel received $FLOOD_COUNT echoes" "$FLOOD_COUNT" "$(iptables_packets "$NS_HOST" INPUT)"
check_delta "relay-udp counted every datagram and every echo" \
	"$(snapshot_rule "$TOPO_WORK/stats-before" relay-udp)" "$(snapshot_rule "$TOPO_WORK/stats-after" relay-udp)" \
	$((2 * FLOOD_COUNT))
for hook in uplink-egress uplink-xdp; do
	for reason in no-rule rule-removed; do
		check_delta "$hook dropped nothing as $reason during the flood" \
			"$(snapshot_hook "$TOPO_WORK/stats-before" "$hook" drop "$reason")" \
			"$(snapshot_hook "$TOPO_WORK/stats-after" "$hook" drop "$reason")" 0
	done
done

checks_done
