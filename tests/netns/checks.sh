# shellcheck shell=bash
# Checks and counter readers shared by the network namespace tests. Source it
# after topology.sh. Every check prints one PASS or FAIL line; checks_done
# prints the totals and sets the exit status.

PASSED=0
FAILED=0

skip() {
	echo "SKIP: $*"
	exit 77
}

# Exit 77 unless this machine can run a namespace test, and fail on missing
# binaries: checks_require_setup AIRGAP_BPF_BINARY AGPROBE_BINARY [TOOL...].
checks_require_setup() {
	local airgap=$1 probe=$2 tool
	shift 2
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces and BPF"
	for tool in ip nsenter iptables tc sysctl stat mkfifo "$@"; do
		command -v "$tool" >/dev/null || skip "$tool is not installed (tools/install-deps.sh installs it)"
	done
	[ -x "$airgap" ] || { echo "FAIL airgap-bpf binary $airgap is not executable"; exit 1; }
	[ -x "$probe" ] || { echo "FAIL probe binary $probe is not executable"; exit 1; }
}

# Exit 77 when network namespaces cannot be made here; call after topo_init.
checks_require_netns() {
	if ! ip netns add "ag-$TOPO_ID-try" 2>/dev/null; then
		skip "cannot create network namespaces here"
	fi
	ip netns del "ag-$TOPO_ID-try"
}

pass() {
	PASSED=$((PASSED + 1))
	echo "PASS $1"
}

# fail CHECK [DETAIL]
fail() {
	FAILED=$((FAILED + 1))
	echo "FAIL $1${2:+: $2}"
}

# Stop the test after a failure that makes the remaining checks meaningless.
abort() {
	fail "$@"
	echo "stopping: the checks after this one depend on it"
	echo "$PASSED passed, $FAILED failed"
	exit 1
}

# Print the totals; the exit status is 0 only when nothing failed.
checks_done() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# check_pass WHAT NS PROTO ADDR PORT [PROBE OPTIONS]: an echo round trip works.
check_pass() {
	local what=$1 ns=$2 err rc
	shift 2
	err=$(topo_probe "$ns" connect "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$what passes"
	else
		fail "$what passes" "probe exit $rc: $err"
	fi
}

# check_blocked WHAT NS PROTO ADDR PORT [PROBE OPTIONS]: the probe times out,
# so neither data nor a TCP reset nor an ICMP error came back.
check_blocked() {
	local what=$1 ns=$2 err rc
	shift 2
	err=$(topo_probe "$ns" connect "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq 3 ]; then
		pass "$what is blocked"
	elif [ "$rc" -eq 0 ]; then
		fail "$what is blocked" "the echo round trip worked"
	else
		fail "$what is blocked" "expected no answer, got probe exit $rc: $err"
	fi
}

# check_exchange WHAT NAME EXPECTED: one round trip on a kept connection.
check_exchange() {
	local what=$1 name=$2 expected=$3 result
	result=$(topo_keep_exchange "$name")
	if [ "$result" = "$expected" ]; then
		pass "$what ($result)"
	else
		fail "$what" "expected $expected, got $result"
	fi
}

# check_equal WHAT EXPECTED ACTUAL
check_equal() {
	if [ "$2" = "$3" ]; then
		pass "$1 ($3)"
	else
		fail "$1" "expected '$2', got '$3'"
	fi
}

# Print the stats JSON as "path value" lines, e.g.
# "hooks.uplink-xdp.drop.no-rule.packets 4" or "rules.0.name "relay-api"".
# Array elements are numbered from 0. Made for the pretty-printed output of
# stats --json: one key per line.
flatten_json() {
	awk '
	{
		line = $0
		sub(/^[ \t]+/, "", line)
		sub(/,$/, "", line)
	}
	line ~ /^"[^"]*": [{[]$/ {
		key = line
		sub(/^"/, "", key)
		sub(/": [{[]$/, "", key)
		path[++depth] = key
		is_array[depth] = line ~ /\[$/
		elements[depth] = 0
		next
	}
	line == "{" || line == "[" {
		element = is_array[depth] ? elements[depth]++ : ""
		path[++depth] = element
		is_array[depth] = line == "["
		elements[depth] = 0
		next
	}
	line == "}" || line == "]" { depth--; next }
	line ~ /^"[^"]*": / {
		key = line
		sub(/^"/, "", key)
		sub(/": .*$/, "", key)
		value = line
		sub(/^"[^"]*": /, "", value)
		prefix = ""
		for (i = 1; i <= depth; i++)
			if (path[i] != "")
				prefix = prefix path[i] "."
		print prefix key " " value
	}'
}

# Save the flattened stats JSON to FILE, one snapshot for several reads.
stats_snapshot() {
	topo_airgap stats --json | flatten_json >"$1"
}

# snapshot_hook FILE HOOK pass|drop REASON [packets|bytes]
snapshot_hook() {
	awk -v key="hooks.$2.$3.$4.${5:-packets}" '$1 == key { print $2 }' "$1"
}

# snapshot_rule FILE NAME [packets|bytes]: a rule's counter; empty when the
# rule is not listed.
snapshot_rule() {
	awk -v name="\"$2\"" -v field="${3:-packets}" '
	{ split($1, part, ".") }
	part[1] == "rules" && part[3] == "name" && $2 == name { index_of_rule = part[2] }
	part[1] == "rules" && part[3] == field { value[part[2]] = $2 }
	END { if (index_of_rule != "") print value[index_of_rule] }' "$1"
}

# hook_packets HOOK pass|drop REASON: the packet counter of one hook reason.
hook_packets() {
	topo_airgap stats --json | flatten_json | awk -v key="hooks.$1.$2.$3.packets" '$1 == key { print $2 }'
}

# rule_packets NAME: the packet counter of a rule, from the text output of stats.
rule_packets() {
	topo_airgap stats | awk -v name="$1" '$2 == name { print $(NF - 1) }'
}

# check_grew WHAT BEFORE AFTER MIN: a counter grew by at least MIN.
check_grew() {
	local what=$1 before=$2 after=$3 min=$4
	if ! [[ "$before" =~ ^[0-9]+$ && "$after" =~ ^[0-9]+$ ]]; then
		fail "$what" "cannot read the counter (before '$before', after '$after')"
	elif [ $((after - before)) -ge "$min" ]; then
		pass "$what (+$((after - before)))"
	else
		fail "$what" "grew by $((after - before)), expected at least $min"
	fi
}

# check_delta WHAT BEFORE AFTER EXPECTED: a counter grew by exactly EXPECTED.
check_delta() {
	local what=$1 before=$2 after=$3 expected=$4
	if ! [[ "$before" =~ ^[0-9]+$ && "$after" =~ ^[0-9]+$ ]]; then
		fail "$what" "cannot read the counter (before '$before', after '$after')"
	elif [ $((after - before)) -eq "$expected" ]; then
		pass "$what (+$expected)"
	else
		fail "$what" "grew by $((after - before)), expected exactly $expected"
	fi
}

# Print one counter of the kernel's SNMP statistics in a namespace, such as
# Icmp InDestUnreachs or Icmp6InPktTooBigs: netns_snmp NS GROUP FIELD.
# /proc/net belongs to the reading process's network namespace.
netns_snmp() {
	local ns=$1 group=$2 field=$3
	if [ "$group" = Icmp6 ]; then
		topo_in "$ns" cat /proc/net/snmp6 | awk -v key="$field" '$1 == key { print $2 }'
	else
		topo_in "$ns" cat /proc/net/snmp | awk -v group="$group:" -v key="$field" '
		$1 == group && !header { for (i = 2; i <= NF; i++) col[$i] = i; header = 1; next }
		$1 == group && header { print $col[key]; exit }'
	fi
}
