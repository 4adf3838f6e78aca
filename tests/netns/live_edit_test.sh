#!/usr/bin/env bash
# End-to-end test of live rule edits on a loaded filter (see topology.sh).
# Forwards and allow-out rules take effect at the next packet, and deleting a
# rule cuts its open connections in both directions. A forward counts exactly
# the packets sent. Concurrent CLI edits all land, failed edits change
# nothing, and a full rule table rejects the next rule. Prints one PASS or FAIL line
# per check and exits 1 if any failed, 77 if this machine cannot run it.
#
# usage: live_edit_test.sh AIRGAP_BPF_BINARY AGPROBE_BINARY
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
topo_init edit "$1" "$2" || exit 1
checks_require_netns

# A port on "elsewhere" that no policy allows until the test adds a rule.
EDIT_PORT=9000
# Datagrams sent to the UDP forwarder to check its rule's counter.
DATAGRAMS=50
# Concurrent CLI processes, and the rules each one adds (it deletes half).
EDITORS=8
RULES_PER_EDITOR=20
# Rule table size of the full-table check.
SMALL_TABLE=8

POLICY="$TOPO_WORK/policy.toml"
cat >"$POLICY" <<EOF
[[allow-out]]
name = "relay-api"
proto = "tcp"
to = "$TOPO_RELAY"
port = 443
EOF

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

# wait_for_rule_packets SNAPSHOT_BEFORE RULE COUNT: wait until the rule has
# counted COUNT more packets than in the snapshot, or 5 seconds pass, then
# print its packets and bytes. Packets sent by a probe that has exited may
# still sit in the receiving CPU's backlog, so the counter can lag a little.
wait_for_rule_packets() {
	local before=$1 rule=$2 count=$3 start packets now="$TOPO_WORK/stats-wait"
	start=$(snapshot_rule "$before" "$rule")
	for _ in $(seq 50); do
		stats_snapshot "$now"
		packets=$(snapshot_rule "$now" "$rule")
		[[ "$packets" =~ ^[0-9]+$ ]] && [ $((packets - start)) -ge "$count" ] && break
		sleep 0.1
	done
	# One more read after the target, so that extra packets would show.
	sleep 0.2
	stats_snapshot "$now"
	echo "$(snapshot_rule "$now" "$rule") $(snapshot_rule "$now" "$rule" bytes)"
}

echo "== topology and load"
topo_create || abort "build the namespace topology"
topo_listen "$NS_HOST" "$TOPO_HOST_BRIDGE" "udp/$TOPO_FORWARDER_PORT" || abort "start the UDP forwarder"
topo_listen "$NS_NET" "$TOPO_ELSEWHERE" "tcp/$EDIT_PORT" || abort "start a listener on elsewhere tcp/$EDIT_PORT"
pass "topology built (namespaces ag-$TOPO_ID-*)"
check_pass "no filter: c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT" "$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_pass "no filter: c2 -> host forwarder tcp/$TOPO_FORWARDER_PORT" "$NS_C2" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_pass "no filter: c1 -> host forwarder udp/$TOPO_FORWARDER_PORT" "$NS_C1" udp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_pass "no filter: host -> elsewhere tcp/$EDIT_PORT" "$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"
run_cli output load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY" ||
	abort "airgap-bpf load $TOPO_UPLINK --bridge $TOPO_BRIDGE" "$output"
pass "airgap-bpf load: $output"

echo "== forward add lets one container in at once, forward del cuts it"
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT without a forward" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_blocked "c2 -> host forwarder tcp/$TOPO_FORWARDER_PORT without a forward" \
	"$NS_C2" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
if run_cli output forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C1" --name fwd-c1; then
	pass "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-c1: $output"
else
	fail "forward add tcp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-c1" "$output"
fi
check_pass "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT right after forward add" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
check_blocked "c2 -> host forwarder tcp/$TOPO_FORWARDER_PORT (the forward is for c1 only)" \
	"$NS_C2" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"

if topo_keep_open forwarded "$NS_C1" "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"; then
	pass "opened c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT through fwd-c1"
	check_exchange "c1's open connection to the forwarder works before forward del" forwarded ok
	before=$(hook_packets bridge-ingress drop no-rule)
	if run_cli output forward del fwd-c1; then
		pass "forward del fwd-c1: $output"
	else
		fail "forward del fwd-c1" "$output"
	fi
	check_exchange "c1's open connection to the forwarder stops after forward del" forwarded timeout
	check_grew "bridge-ingress dropped c1's next packets as no-rule" \
		"$before" "$(hook_packets bridge-ingress drop no-rule)" 1
else
	fail "open c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT through fwd-c1"
fi
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT after forward del" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"

echo "== a forward counts exactly the packets sent"
run_cli output forward add udp "$TOPO_FORWARDER_PORT" --from "$TOPO_C1" --name fwd-udp ||
	fail "forward add udp $TOPO_FORWARDER_PORT --from $TOPO_C1 --name fwd-udp" "$output"
# One round trip first, so that ARP is resolved on both sides and nothing
# waits in a neighbour queue.
check_pass "c1 -> host forwarder udp/$TOPO_FORWARDER_PORT with fwd-udp" \
	"$NS_C1" udp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
stats_snapshot "$TOPO_WORK/stats-before"
send_output=$(topo_probe "$NS_C1" send udp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT" --count "$DATAGRAMS" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [[ "$send_output" =~ ^sent\ $DATAGRAMS\ of\ $DATAGRAMS\ datagrams\ of\ ([0-9]+)\ bytes ]]; then
	payload_bytes=${BASH_REMATCH[1]}
	pass "c1 sent $DATAGRAMS datagrams of $payload_bytes bytes to the UDP forwarder"
	read -r packets bytes < <(wait_for_rule_packets "$TOPO_WORK/stats-before" fwd-udp "$DATAGRAMS")
	check_delta "fwd-udp counted each datagram once (the echoes go out through bridge-egress)" \
		"$(snapshot_rule "$TOPO_WORK/stats-before" fwd-udp)" "$packets" "$DATAGRAMS"
	# At TC ingress skb->len includes the Ethernet header: 14 bytes of
	# Ethernet, 20 of IPv4 and 8 of UDP come before the payload.
	check_delta "fwd-udp counted the bytes of each frame ($DATAGRAMS x (14 + 20 + 8 + $payload_bytes))" \
		"$(snapshot_rule "$TOPO_WORK/stats-before" fwd-udp bytes)" "$bytes" \
		$((DATAGRAMS * (14 + 20 + 8 + payload_bytes)))
else
	fail "c1 sends $DATAGRAMS datagrams to the UDP forwarder" "probe exit $rc: $send_output"
fi
run_cli output forward del fwd-udp || fail "forward del fwd-udp" "$output"

echo "== rule add out opens an endpoint at once, rule del cuts its connections"
topo_accept_start probe "$NS_NET" "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))" ||
	abort "listen on elsewhere tcp/$((EDIT_PORT + 1))"
check_blocked "host -> elsewhere tcp/$EDIT_PORT without a rule" "$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"
if run_cli output rule add out tcp "$TOPO_ELSEWHERE" "$EDIT_PORT" --name elsewhere-edit; then
	pass "rule add out tcp $TOPO_ELSEWHERE $EDIT_PORT --name elsewhere-edit: $output"
else
	fail "rule add out tcp $TOPO_ELSEWHERE $EDIT_PORT --name elsewhere-edit" "$output"
fi
check_pass "host -> elsewhere tcp/$EDIT_PORT right after rule add" "$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"
check_blocked "host -> elsewhere tcp/$((EDIT_PORT + 1)) (another port of the same address)" \
	"$NS_HOST" tcp "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))"

# Two connections through the rule, each controlled from both ends, so that
# after rule del one sends its next packet from the host and the other from
# the remote side. The listener at the far end accepts one connection and
# then frees its port, so the two are opened one after the other.
run_cli output rule add out tcp "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))" --name elsewhere-edit-2 ||
	fail "rule add out tcp $TOPO_ELSEWHERE $((EDIT_PORT + 1)) --name elsewhere-edit-2" "$output"
opened=0
if topo_keep_open out-first "$NS_HOST" "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))" && topo_accept_wait probe &&
	topo_accept_start in-first-server "$NS_NET" "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))" &&
	topo_keep_open in-first "$NS_HOST" "$TOPO_ELSEWHERE" "$((EDIT_PORT + 1))" &&
	topo_accept_wait in-first-server; then
	opened=1
	pass "opened two connections host -> elsewhere tcp/$((EDIT_PORT + 1)) through elsewhere-edit-2"
else
	fail "open two connections host -> elsewhere tcp/$((EDIT_PORT + 1)) through elsewhere-edit-2"
fi
if [ "$opened" = 1 ]; then
	check_equal "the host sends on the first connection before rule del" sent "$(topo_keep_command out-first send)"
	check_equal "the remote side receives it" ok "$(topo_keep_command probe expect)"
	check_equal "the remote side sends on the second connection before rule del" sent \
		"$(topo_keep_command in-first-server send)"
	check_equal "the host receives it" ok "$(topo_keep_command in-first expect)"
	# Let the delayed ACKs of these exchanges leave first (Linux delays an
	# ACK by at most TCP_DELACK_MAX, 200 ms), so that the next packet of each
	# connection is the one sent below.
	sleep 0.5

	if run_cli output rule del elsewhere-edit-2; then
		pass "rule del elsewhere-edit-2: $output"
	else
		fail "rule del elsewhere-edit-2" "$output"
	fi
	before=$(hook_packets uplink-egress drop rule-removed)
	check_equal "the host sends on the first connection after rule del" sent "$(topo_keep_command out-first send)"
	check_equal "the remote side receives nothing" timeout "$(topo_keep_command probe expect)"
	check_grew "uplink-egress dropped the host's next packet as rule-removed" \
		"$before" "$(hook_packets uplink-egress drop rule-removed)" 1

	before=$(hook_packets uplink-xdp drop rule-removed)
	check_equal "the remote side sends on the second connection after rule del" sent \
		"$(topo_keep_command in-first-server send)"
	check_equal "the host receives nothing" timeout "$(topo_keep_command in-first expect)"
	check_grew "uplink-xdp dropped the remote side's next packet as rule-removed" \
		"$before" "$(hook_packets uplink-xdp drop rule-removed)" 1
fi
check_pass "host -> elsewhere tcp/$EDIT_PORT still passes (rule elsewhere-edit stays)" \
	"$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"
run_cli output rule del elsewhere-edit || fail "rule del elsewhere-edit" "$output"
check_blocked "host -> elsewhere tcp/$EDIT_PORT after rule del" "$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"

echo "== an any-port rule added live"
# The help of rule add allows 'any' as the port of a tcp or udp rule.
if run_cli output rule add out udp "$TOPO_ELSEWHERE" any --name elsewhere-udp-any; then
	pass "rule add out udp $TOPO_ELSEWHERE any (an explicit 'any' port): $output"
	check_pass "host -> elsewhere udp/53 through elsewhere-udp-any" "$NS_HOST" udp "$TOPO_ELSEWHERE" 53
	check_pass "host -> elsewhere udp/443 through elsewhere-udp-any" "$NS_HOST" udp "$TOPO_ELSEWHERE" 443
	check_blocked "host -> elsewhere tcp/443 (the rule is for udp)" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 443
	run_cli output rule del elsewhere-udp-any || fail "rule del elsewhere-udp-any" "$output"
else
	fail "rule add out udp $TOPO_ELSEWHERE any (an explicit 'any' port) is accepted" "$output"
fi
check_blocked "host -> elsewhere udp/53 without an any-port rule" "$NS_HOST" udp "$TOPO_ELSEWHERE" 53

echo "== concurrent edits"
# Editor E adds rules conc-E-1 .. conc-E-N (tcp to elsewhere on a port of its
# own) and then deletes the odd ones, all editors at the same time.
editor() {
	local e=$1 i
	for i in $(seq "$RULES_PER_EDITOR"); do
		topo_airgap rule add out tcp "$TOPO_ELSEWHERE" $((20000 + e * 100 + i)) --name "conc-$e-$i" ||
			return 1
	done
	for i in $(seq 1 2 "$RULES_PER_EDITOR"); do
		topo_airgap rule del "conc-$e-$i" || return 1
	done
}
editor_pids=()
for e in $(seq "$EDITORS"); do
	editor "$e" >"$TOPO_WORK/editor-$e.log" 2>&1 &
	editor_pids+=("$!")
done
editors_failed=0
for e in $(seq "$EDITORS"); do
	if wait "${editor_pids[$((e - 1))]}"; then
		:
	else
		editors_failed=1
		fail "editor $e exits 0" "$(tail -3 "$TOPO_WORK/editor-$e.log")"
	fi
done
[ "$editors_failed" = 0 ] && pass "all $EDITORS concurrent editors exited 0"

expected_names=$( (
	echo relay-api
	for e in $(seq "$EDITORS"); do
		for i in $(seq 2 2 "$RULES_PER_EDITOR"); do echo "conc-$e-$i"; done
	done
) | sort)
listed=$(topo_airgap rule list 2>&1)
listed_names=$(awk 'NR > 1 { print $2 }' <<<"$listed" | sort)
if [ "$listed_names" = "$expected_names" ]; then
	pass "rule list shows exactly the $(wc -l <<<"$expected_names") expected rules"
else
	fail "rule list shows exactly the expected rules" \
		"$(diff <(echo "$expected_names") <(echo "$listed_names") | head -20)"
fi
duplicate_ids=$(awk 'NR > 1 { print $1 }' <<<"$listed" | sort | uniq -d)
check_equal "every listed rule has its own id" "" "$duplicate_ids"
saved_names=$(topo_airgap save | sed -n 's/^name = "\(.*\)"$/\1/p' | sort)
if [ "$saved_names" = "$expected_names" ]; then
	pass "save writes exactly the expected rules"
else
	fail "save writes exactly the expected rules" \
		"$(diff <(echo "$expected_names") <(echo "$saved_names") | head -20)"
fi
check_blocked "host -> elsewhere tcp/$EDIT_PORT (no editor allowed it)" "$NS_HOST" tcp "$TOPO_ELSEWHERE" "$EDIT_PORT"

echo "== failed edits change nothing"
save_to "$TOPO_WORK/save-before"
# Each case: "description|value the message names|airgap-bpf arguments".
ERROR_CASES=(
	"a duplicate rule name|relay-api|rule add out tcp $TOPO_ELSEWHERE 443 --name relay-api"
	"a rule matching the same packets|relay-api|rule add out tcp $TOPO_RELAY 443 --name relay-again"
	"a bad IPv4 address|203.0.113.300|rule add out tcp 203.0.113.300 443 --name bad-address"
	"a bad prefix length|$TOPO_ELSEWHERE/33|rule add out tcp $TOPO_ELSEWHERE/33 443 --name bad-prefix"
	"a bad IPv6 address|2001:db8::zz|rule add out tcp 2001:db8::zz 443 --name bad-address6"
	"a bad container address|172.17.0.300|forward add tcp $TOPO_FORWARDER_PORT --from 172.17.0.300 --name bad-from"
	"deleting an unknown rule|no-such-rule|rule del no-such-rule"
	"deleting an unknown forward|no-such-forward|forward del no-such-forward"
	"deleting a rule through forward del|relay-api|forward del relay-api"
)
for entry in "${ERROR_CASES[@]}"; do
	IFS='|' read -r what value args <<<"$entry"
	# shellcheck disable=SC2086 # args is a list of CLI arguments
	output=$(topo_airgap $args 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -ne 0 ] && [[ "$output" == "error: "* ]] && [[ "$output" == *"$value"* ]]; then
		pass "$what fails naming '$value': $output"
	else
		fail "$what fails with an error naming '$value'" "exit $rc: $output"
	fi
	save_to "$TOPO_WORK/save-after"
	if cmp -s "$TOPO_WORK/save-before" "$TOPO_WORK/save-after"; then
		pass "$what changed nothing (save output identical)"
	else
		fail "$what changed nothing" "$(diff "$TOPO_WORK/save-before" "$TOPO_WORK/save-after" | head -10)"
	fi
done
check_pass "host -> relay tcp/443 after the failed edits" "$NS_HOST" tcp "$TOPO_RELAY" 443

echo "== a full rule table"
run_cli output unload || fail "airgap-bpf unload" "$output"
if run_cli output load "$TOPO_UPLINK" --bridge "$TOPO_BRIDGE" --policy "$POLICY" --max-rules "$SMALL_TABLE"; then
	pass "load with --max-rules $SMALL_TABLE: $output"
else
	abort "load with --max-rules $SMALL_TABLE" "$output"
fi
filled=1
for i in $(seq 2 "$SMALL_TABLE"); do
	if ! run_cli output rule add out tcp "$TOPO_ELSEWHERE" $((30000 + i)) --name "fill-$i"; then
		fail "rule $i of $SMALL_TABLE fits the table" "$output"
		filled=0
		break
	fi
done
[ "$filled" = 1 ] && pass "the table holds $SMALL_TABLE rules"
save_to "$TOPO_WORK/save-full"
output=$(topo_airgap rule add out tcp "$TOPO_ELSEWHERE" 30999 --name one-too-many 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 0 ] && [[ "$output" == "error: "* ]] && grep -qw "$SMALL_TABLE" <<<"$output"; then
	pass "rule $((SMALL_TABLE + 1)) fails naming the table size $SMALL_TABLE: $output"
else
	fail "rule $((SMALL_TABLE + 1)) fails with an error naming the table size $SMALL_TABLE" "exit $rc: $output"
fi
output=$(topo_airgap forward add tcp "$TOPO_FORWARDER_PORT" --name forward-too-many 2>&1 >/dev/null)
rc=$?
if [ "$rc" -ne 0 ] && [[ "$output" == "error: "* ]] && grep -qw "$SMALL_TABLE" <<<"$output"; then
	pass "a forward into the full table fails naming the table size: $output"
else
	fail "a forward into the full table fails with an error naming the table size" "exit $rc: $output"
fi
save_to "$TOPO_WORK/save-full-after"
if cmp -s "$TOPO_WORK/save-full" "$TOPO_WORK/save-full-after"; then
	pass "the rejected rules changed nothing (save output identical)"
else
	fail "the rejected rules changed nothing" "$(diff "$TOPO_WORK/save-full" "$TOPO_WORK/save-full-after" | head -10)"
fi
check_blocked "c1 -> host forwarder tcp/$TOPO_FORWARDER_PORT (the rejected forward is not live)" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
run_cli output rule del fill-2 || fail "rule del fill-2 in the full table" "$output"
if run_cli output rule add out tcp "$TOPO_ELSEWHERE" 30999 --name one-too-many; then
	pass "after a delete the freed slot takes a new rule: $output"
else
	fail "after a delete the freed slot takes a new rule" "$output"
fi

checks_done
