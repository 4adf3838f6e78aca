#!/usr/bin/env bash
# End-to-end test of path MTU discovery through the filter (see topology.sh,
# TOPO_RELAY_MTU). The relay sits behind a router whose relay-facing link has
# MTU 1280. A bulk TCP transfer from the host with full-size packets then
# completes only if the router's ICMP "fragmentation needed" (IPv4) or ICMPv6
# "packet too big" reaches the host. With the filter these errors pass as
# related to the tracked flow and count to the relay's rule, and an ICMP error
# that quotes a flow the host never opened is dropped. Prints one PASS or FAIL line
# per check and exits 1 if any failed, 77 if this machine cannot run it.
#
# usage: pmtu_test.sh AIRGAP_BPF_BINARY AGPROBE_BINARY
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
topo_init pmtu "$1" "$2" || exit 1
checks_require_netns
TOPO_IPV6=1
TOPO_RELAY_MTU=1280

# The bulk transfer: 2 MiB, given this long to finish.
BULK_BYTES=2097152
BULK_TIMEOUT_MS=30000
# Host ports for the flows whose ICMP errors the test crafts.
TRACKED_PORT=40123
UNTRACKED_PORT=40999
# The MTU the crafted errors announce. It is above the path's, so that they
# change nothing on the host even when delivered.
CRAFTED_MTU=1400

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

# Per family: the relay's address, the host's, the counter of the ICMP error
# in the host's SNMP statistics (group and field), its name, and the relay's
# rule.
declare -A RELAY=([4]=$TOPO_RELAY [6]=$TOPO_RELAY6)
declare -A HOST=([4]=$TOPO_HOST_WAN [6]=$TOPO_HOST_WAN6)
declare -A SNMP_GROUP=([4]=Icmp [6]=Icmp6)
declare -A SNMP_FIELD=([4]=InDestUnreachs [6]=Icmp6InPktTooBigs)
declare -A ICMP_ERROR=([4]="ICMP fragmentation needed" [6]="ICMPv6 packet too big")
declare -A RULE=([4]=relay-api [6]=relay-api-v6)

# route_mtu FAMILY: the path MTU the host has learned for the relay, or
# nothing while it has learned none.
route_mtu() {
	ip -n "$NS_HOST" "-$1" route get "${RELAY[$1]}" | sed -n 's/.* mtu \([0-9]*\).*/\1/p' | head -1
}

# link_mtu NS DEV: the MTU of a link.
link_mtu() {
	ip -n "$1" link show dev "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'
}

# Forget every learned path MTU, so that the next transfer starts with
# full-size packets again.
flush_pmtu() {
	ip -n "$NS_HOST" -4 route flush cache
	ip -n "$NS_HOST" -6 route flush cache
}

host_icmp_errors() {
	netns_snmp "$NS_HOST" "${SNMP_GROUP[$1]}" "${SNMP_FIELD[$1]}"
}

# check_bulk WHEN FAMILY: a 2 MiB transfer host -> relay tcp/443 completes,
# starting with full-size packets, and the router's ICMP error reached the
# host's stack.
check_bulk() {
	local when=$1 family=$2 before output rc
	check_equal "$when: the host has no path MTU for ${RELAY[$family]} before the transfer" "" "$(route_mtu "$family")"
	before=$(host_icmp_errors "$family")
	output=$(topo_probe "$NS_HOST" bulk tcp "${RELAY[$family]}" 443 --bytes "$BULK_BYTES" \
		--timeout-ms "$BULK_TIMEOUT_MS" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$when: bulk transfer of $BULK_BYTES bytes host -> relay ${RELAY[$family]} tcp/443: $output"
	else
		fail "$when: bulk transfer of $BULK_BYTES bytes host -> relay ${RELAY[$family]} tcp/443" \
			"probe exit $rc: $output"
	fi
	check_grew "$when: the host's stack received the router's ${ICMP_ERROR[$family]} (${SNMP_FIELD[$family]})" \
		"$before" "$(host_icmp_errors "$family")" 1
	check_equal "$when: the host learned path MTU $TOPO_RELAY_MTU for ${RELAY[$family]}" \
		"$TOPO_RELAY_MTU" "$(route_mtu "$family")"
}

# sum_passes FILE: the packets of the relay's flows that the uplink hooks
# admitted, each of which a rule counts once: rule and flow matches in both
# directions and related ICMP errors inbound.
sum_passes() {
	echo $(($(snapshot_hook "$1" uplink-egress pass rule) + $(snapshot_hook "$1" uplink-egress pass flow) +
		$(snapshot_hook "$1" uplink-xdp pass flow) + $(snapshot_hook "$1" uplink-xdp pass related)))
}

# send_crafted_error FAMILY HOST_PORT: from the net namespace, send the
# host an ICMP error quoting host:HOST_PORT -> relay:443 over tcp.
send_crafted_error() {
	topo_probe "$NS_NET" icmp-error "${HOST[$1]}" --quote "${HOST[$1]}" "${RELAY[$1]}" tcp "$2" 443 \
		--mtu "$CRAFTED_MTU"
}

# check_crafted_error WHEN FAMILY HOST_PORT DELIVERIES WHAT: send a crafted
# ICMP error and check that the host's stack counted DELIVERIES of them.
check_crafted_error() {
	local when=$1 family=$2 port=$3 expected=$4 what=$5 before output
	before=$(host_icmp_errors "$family")
	if output=$(send_crafted_error "$family" "$port" 2>&1); then
		pass "$when: $output"
	else
		fail "$when: send a crafted ${ICMP_ERROR[$family]}" "$output"
	fi
	# The error goes through veth and the host's backlog before the stack
	# counts it.
	sleep 0.3
	check_delta "$when: $what" "$before" "$(host_icmp_errors "$family")" "$expected"
}

echo "== topology"
topo_create || abort "build the namespace topology with a router of MTU $TOPO_RELAY_MTU"
pass "topology built, relay behind a router with MTU $TOPO_RELAY_MTU on its side (namespaces ag-$TOPO_ID-*)"
check_equal "the router's relay-facing link has MTU $TOPO_RELAY_MTU" "$TOPO_RELAY_MTU" "$(link_mtu "$NS_ROUTER" relay0)"
check_equal "the host's uplink has MTU 1500" 1500 "$(link_mtu "$NS_HOST" "$TOPO_UPLINK")"
check_equal "the relay's own side of its link has MTU 1500" 1500 "$(link_mtu "$NS_RELAY" up0)"

echo "== without the filter"
for family in 4 6; do
	check_bulk "no filter, IPv$family" "$family"
done
for family in 4 6; do
	check_crafted_error "no filter, IPv$family" "$family" "$UNTRACKED_PORT" 1 \
		"the host's stack receives a crafted ${ICMP_ERROR[$family]} quoting a flow it never opened"
done

echo "== load"
flush_pmtu
run_cli output load "$TOPO_UPLINK" --policy "$POLICY" || abort "airgap-bpf load $TOPO_UPLINK" "$output"
pass "airgap-bpf load: $output"

for family in 4 6; do
	echo "== IPv$family with the filter"
	stats_snapshot "$TOPO_WORK/stats-before"
	check_bulk "filter, IPv$family" "$family"
	stats_snapshot "$TOPO_WORK/stats-after"
	check_grew "filter, IPv$family: uplink-xdp passed the ${ICMP_ERROR[$family]} as related" \
		"$(snapshot_hook "$TOPO_WORK/stats-before" uplink-xdp pass related)" \
		"$(snapshot_hook "$TOPO_WORK/stats-after" uplink-xdp pass related)" 1
	# Only the relay's flow ran, so its rule must have counted every packet
	# the uplink hooks admitted for a flow or rule, the related error included.
	check_delta "filter, IPv$family: ${RULE[$family]} counted every admitted packet, the ICMP error included" \
		"$(snapshot_rule "$TOPO_WORK/stats-before" "${RULE[$family]}")" \
		"$(snapshot_rule "$TOPO_WORK/stats-after" "${RULE[$family]}")" \
		$(($(sum_passes "$TOPO_WORK/stats-after") - $(sum_passes "$TOPO_WORK/stats-before")))
done

echo "== crafted ICMP errors with the filter"
for family in 4 6; do
	port=$TRACKED_PORT
	[ "$family" = 6 ] && port=$((TRACKED_PORT + 1))
	output=$(topo_probe "$NS_HOST" bulk tcp "${RELAY[$family]}" 443 --bytes 1000 --sport "$port" 2>&1) ||
		fail "filter, IPv$family: open a flow from host port $port to the relay" "$output"
	stats_snapshot "$TOPO_WORK/stats-before"
	check_crafted_error "filter, IPv$family" "$family" "$port" 1 \
		"a crafted ${ICMP_ERROR[$family]} quoting the tracked flow from port $port reaches the host"
	stats_snapshot "$TOPO_WORK/stats-after"
	check_delta "filter, IPv$family: uplink-xdp passed it as related" \
		"$(snapshot_hook "$TOPO_WORK/stats-before" uplink-xdp pass related)" \
		"$(snapshot_hook "$TOPO_WORK/stats-after" uplink-xdp pass related)" 1

	stats_snapshot "$TOPO_WORK/stats-before"
	check_crafted_error "filter, IPv$family" "$family" "$UNTRACKED_PORT" 0 \
		"a crafted ${ICMP_ERROR[$family]} quoting port $UNTRACKED_PORT, which the host never used, does not reach the host"
	stats_snapshot "$TOPO_WORK/stats-after"
	check_delta "filter, IPv$family: uplink-xdp passed nothing as related" \
		"$(snapshot_hook "$TOPO_WORK/stats-before" uplink-xdp pass related)" \
		"$(snapshot_hook "$TOPO_WORK/stats-after" uplink-xdp pass related)" 0
	check_grew "filter, IPv$family: uplink-xdp dropped it as no-rule" \
		"$(snapshot_hook "$TOPO_WORK/stats-before" uplink-xdp drop no-rule)" \
		"$(snapshot_hook "$TOPO_WORK/stats-after" uplink-xdp drop no-rule)" 1
done

checks_done
