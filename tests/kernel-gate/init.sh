#!/bin/sh
# PID 1 of the kernel gate's guest, run by busybox sh under Debian 12's kernel.
# It loads the filter in native and in generic XDP mode, checks the hooks and
# their verdicts on real packets, runs the program tests and the verifier
# probes, and reports each check on the serial console as
#   GATE-RESULT NAME PASS|FAIL DETAIL
# then GATE-DONE. run-gate.sh contains the list of names it expects.
#
# The guest has no network device and its root network namespace is its own,
# so attaching there is safe. The interfaces still carry names of their own.
#
# Layout of the initramfs (see run-gate.sh): busybox in /bin, iproute2's ip in
# /usr/sbin, the tested binaries in /usr/bin, modules under /lib/modules and the
# files this script reads under /gate.

PATH=/usr/bin:/usr/sbin:/bin:/sbin
export PATH
# busybox sh runs its own applets before anything on PATH, and its ip applet
# lacks 'ip netns': iproute2's ip is called by its path.
IP=/usr/sbin/ip

mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ln -s /run /var/run 2>/dev/null
# Kernel notices (bridge ports changing state and the like) would interleave
# with the result lines. Warnings and errors still reach the console.
echo 4 >/proc/sys/kernel/printk

# The firmware's terminal reset codes end without a newline, so start a new line.
echo
echo "GATE-KERNEL $(uname -r) $(uname -v)"
echo "GATE-UPTIME init $(cut -d ' ' -f 1 /proc/uptime)"

PIN_DIR=/sys/fs/bpf/airgap-gate
# Upper bound for one command, so a hang shows as one failed check instead of
# the host's timeout swallowing every result after it.
STEP_TIMEOUT=120

result()
{
	echo "GATE-RESULT $1 $2 $3"
}

# Print a captured output on the console, each line tagged with the check
# it belongs to, so the host log shows why a check failed.
show_log()
{
	sed "s/^/GATE-LOG $1: /" "$2"
}

# Run a command that must succeed, and pass or fail the check NAME by its status.
expect_success()
{
	name=$1
	shift
	if timeout "$STEP_TIMEOUT" "$@" >/tmp/out.txt 2>&1; then
		result "$name" PASS "exit 0"
	else
		result "$name" FAIL "exit $?: $*"
		show_log "$name" /tmp/out.txt
	fi
}

# Run a command that must fail, such as a ping the filter drops.
expect_failure()
{
	name=$1
	shift
	if timeout "$STEP_TIMEOUT" "$@" >/tmp/out.txt 2>&1; then
		result "$name" FAIL "succeeded: $*"
		show_log "$name" /tmp/out.txt
	else
		result "$name" PASS "exit $?"
	fi
}

load_modules()
{
	failed=
	while read -r module; do
		if ! insmod "/lib/modules/$(uname -r)/$module" >/tmp/out.txt 2>&1; then
			failed="$failed $module"
			show_log modules /tmp/out.txt
		fi
	done </gate/modules.list
	if [ -z "$failed" ]; then
		result modules PASS "$(wc -l </gate/modules.list) loaded"
	else
		result modules FAIL "insmod failed:$failed"
	fi
}

# The simulated host: uplink gate-up with its remote end gate-peer in
# namespace gate-net (198.51.100.1 and .3), and bridge gate-br0 with one
# container end gate-ctr in namespace gate-c1 (172.17.0.2).
make_topology()
{
	{
		$IP link add gate-up type veth peer name gate-peer &&
			$IP link add gate-br0 type bridge &&
			$IP link add gate-ctr0 type veth peer name gate-ctr &&
			$IP link set gate-ctr0 master gate-br0 &&
			$IP netns add gate-net &&
			$IP netns add gate-c1 &&
			$IP link set gate-peer netns gate-net &&
			$IP link set gate-ctr netns gate-c1 &&
			$IP addr add 198.51.100.2/24 dev gate-up &&
			$IP addr add 172.17.0.1/16 dev gate-br0 &&
			$IP link set gate-up up &&
			$IP link set gate-br0 up &&
			$IP link set gate-ctr0 up &&
			$IP -n gate-net link set lo up &&
			$IP -n gate-net addr add 198.51.100.1/24 dev gate-peer &&
			$IP -n gate-net addr add 198.51.100.3/24 dev gate-peer &&
			$IP -n gate-net link set gate-peer up &&
			$IP -n gate-net route add 172.16.0.0/12 via 198.51.100.2 &&
			$IP -n gate-c1 link set lo up &&
			$IP -n gate-c1 addr add 172.17.0.2/16 dev gate-ctr &&
			$IP -n gate-c1 link set gate-ctr up &&
			$IP -n gate-c1 route add default via 172.17.0.1 &&
			# With forwarding off, bpf_fib_lookup reports every destination
			# as local, and the routed ping would not be routed at all.
			echo 1 >/proc/sys/net/ipv4/ip_forward
	} >/tmp/out.txt 2>&1
	status=$?
	if [ "$status" -eq 0 ]; then
		result topology PASS "veth gate-up, bridge gate-br0"
	else
		result topology FAIL "exit $status"
		show_log topology /tmp/out.txt
	fi
}


# Print the line of HOOK ("xdp", "tc ingress", "tc egress") in the block of
# interface IFACE of /tmp/status.txt.
hook_line()
{
	awk -v iface="$1" -v hook="$2" '
		/^(uplink|bridge) / { inside = ($2 == iface) }
		inside && index($0, "  " hook " ") == 1 { print }
	' /tmp/status.txt
}

# Succeed when /tmp/status.txt shows PROGRAM on HOOK of IFACE, followed by
# DETAIL (the XDP mode) if given.
hook_attached()
{
	case "$(hook_line "$1" "$2")" in
	*" $3 (id "*"$4"*) return 0 ;;
	*) return 1 ;;
	esac
}

# Check that HOOK of IFACE runs PROGRAM, and for XDP the mode too.
expect_hook()
{
	name=$1
	line=$(hook_line "$2" "$3")
	if hook_attached "$2" "$3" "$4" "$5"; then
		result "$name" PASS "$(echo "$line" | sed 's/^ *//')"
	else
		result "$name" FAIL "no '$3' line with $4$5 for $2: '$line'"
	fi
}

# Print the packet count of one series of /tmp/stats.txt (Prometheus text
# format): a rule by name, or a hook, verdict and reason.
rule_packets()
{
	awk -v label="name=\"$1\"" \
		'index($0, "airgap_rule_packets_total{") == 1 && index($0, label) { print $NF }' /tmp/stats.txt
}

hook_packets()
{
	awk -v labels="hook=\"$1\",verdict=\"$2\",reason=\"$3\"" \
		'index($0, "airgap_hook_packets_total{" labels "}") == 1 { print $NF }' /tmp/stats.txt
}

expect_counted()
{
	name=$1
	count=$2
	what=$3
	if [ -n "$count" ] && [ "$count" -ge 1 ]; then
		result "$name" PASS "$what: $count packet(s)"
	else
		result "$name" FAIL "$what: '${count:-missing}' packets, expected at least 1"
		show_log "$name" /tmp/stats.txt
	fi
}

# Check that 'airgap-bpf watch' hooks a bridge that appears after load, with
# the programs load pinned. MODE prefixes the check names.
check_new_bridge()
{
	mode=$1
	airgap-bpf --pin-dir "$PIN_DIR" watch >/tmp/watch.txt 2>&1 &
	watch_pid=$!
	$IP link add gate-br9 type bridge
	$IP link set gate-br9 up

	# Poll for up to 30 s: watch hooks the bridge when rtnetlink reports it.
	attempt=0
	while [ "$attempt" -lt 60 ]; do
		airgap-bpf --pin-dir "$PIN_DIR" status >/tmp/status.txt 2>&1
		if hook_attached gate-br9 "tc ingress" ag_bridge_in "" &&
			hook_attached gate-br9 "tc egress" ag_bridge_out ""; then
			break
		fi
		sleep 0.5
		attempt=$((attempt + 1))
	done
	expect_hook "$mode-new-bridge-ingress" gate-br9 "tc ingress" ag_bridge_in ""
	expect_hook "$mode-new-bridge-egress" gate-br9 "tc egress" ag_bridge_out ""

	kill "$watch_pid"
	wait "$watch_pid"
	if ! hook_attached gate-br9 "tc ingress" ag_bridge_in "" ||
		! hook_attached gate-br9 "tc egress" ag_bridge_out ""; then
		show_log "$mode-watch" /tmp/watch.txt
	fi
	$IP link del gate-br9
}

# One full cycle of load, status, traffic, counters and unload. MODE is the
# XDP mode the status must report: "native" or "generic".
gate_cycle()
{
	mode=$1

	# The pattern also covers gate-br9, which check_new_bridge adds later.
	if timeout "$STEP_TIMEOUT" airgap-bpf -v --pin-dir "$PIN_DIR" load gate-up --bridge 'gate-br*' \
		--policy /gate/policy.toml >/tmp/load.txt 2>&1; then
		result "$mode-load" PASS "$(tail -n 1 /tmp/load.txt)"
	else
		result "$mode-load" FAIL "exit $?"
		# The -v output contains libbpf's messages and the verifier log.
		show_log "$mode-load" /tmp/load.txt
	fi

	timeout "$STEP_TIMEOUT" airgap-bpf --pin-dir "$PIN_DIR" status >/tmp/status.txt 2>&1
	show_log "$mode-status" /tmp/status.txt
	expect_hook "$mode-uplink-xdp" gate-up xdp ag_uplink_xdp ", $mode mode"
	expect_hook "$mode-uplink-egress" gate-up "tc egress" ag_uplink_out ""
	expect_hook "$mode-bridge-ingress" gate-br0 "tc ingress" ag_bridge_in ""
	expect_hook "$mode-bridge-egress" gate-br0 "tc egress" ag_bridge_out ""

	# A ping that must pass may wait 5 s for its reply and one the filter drops
	# only 1 s, because the counters, not the timeout, show that the filter
	# dropped it.
	expect_success "$mode-allow-in-ping" "$IP" netns exec gate-net ping -c 1 -W 5 -I 198.51.100.1 198.51.100.2
	expect_failure "$mode-no-rule-ping" "$IP" netns exec gate-net ping -c 1 -W 1 -I 198.51.100.3 198.51.100.2
	expect_success "$mode-forward-ping" "$IP" netns exec gate-c1 ping -c 1 -W 5 172.17.0.1
	expect_failure "$mode-routed-ping" "$IP" netns exec gate-c1 ping -c 1 -W 1 198.51.100.1

	timeout "$STEP_TIMEOUT" airgap-bpf --pin-dir "$PIN_DIR" stats --format prometheus >/tmp/stats.txt 2>&1
	expect_counted "$mode-count-allow-in" "$(rule_packets gate-ping-in)" "rule gate-ping-in"
	expect_counted "$mode-count-forward" "$(rule_packets gate-ping-fwd)" "rule gate-ping-fwd"
	expect_counted "$mode-count-reply" "$(hook_packets uplink-egress pass flow)" "uplink-egress pass flow"
	expect_counted "$mode-count-no-rule" "$(hook_packets uplink-xdp drop no-rule)" "uplink-xdp drop no-rule"
	expect_counted "$mode-count-not-to-host" "$(hook_packets bridge-ingress drop not-to-host)" \
		"bridge-ingress drop not-to-host"

	check_new_bridge "$mode"

	expect_success "$mode-unload" airgap-bpf --pin-dir "$PIN_DIR" unload
	timeout "$STEP_TIMEOUT" airgap-bpf --pin-dir "$PIN_DIR" status >/tmp/out.txt 2>&1
	status=$?
	if [ "$status" -eq 3 ] && ! $IP link show gate-up | grep -q xdp; then
		result "$mode-detached" PASS "status exit 3, no XDP program on gate-up"
	else
		result "$mode-detached" FAIL "status exit $status; $($IP link show gate-up | grep xdp)"
	fi
}

# The movsx probe must be rejected, and for the reason the probe is about:
# 6.1's verifier reports an ISA v4 move as "BPF_MOV uses reserved fields".
expect_rejected_probe()
{
	timeout "$STEP_TIMEOUT" verifier_probe movsx >/tmp/probe.txt 2>&1
	status=$?
	if [ "$status" -eq 2 ] && grep -q "BPF_MOV uses reserved fields" /tmp/probe.txt; then
		result verifier-rejects-movsx PASS "$(grep -m 1 'reserved fields' /tmp/probe.txt)"
	else
		result verifier-rejects-movsx FAIL "exit $status, expected 2 with 'BPF_MOV uses reserved fields'"
	fi
	show_log verifier-rejects-movsx /tmp/probe.txt
}

load_modules

# qemu runs with more possible CPUs (4) than online ones (2), so the per-CPU
# counters that every count-* check reads are sized by possible CPUs, as the
# kernel returns them, not by online ones.
possible=$(cat /sys/devices/system/cpu/possible)
online=$(cat /sys/devices/system/cpu/online)
if [ "$possible" = "0-3" ] && [ "$online" = "0-1" ]; then
	result possible-cpus PASS "possible $possible, online $online"
else
	result possible-cpus FAIL "possible $possible, online $online; expected 0-3 and 0-1"
fi

make_topology

# The filter's negative checks mean something only if the same paths work
# without it.
expect_success topology-peer-ping "$IP" netns exec gate-net ping -c 1 -W 5 -I 198.51.100.3 198.51.100.2
expect_success topology-routed-ping "$IP" netns exec gate-c1 ping -c 1 -W 5 198.51.100.1

gate_cycle native
# veth refuses native XDP when its peer's MTU exceeds one page (for programs
# without multi-buffer support), so the loader falls back to generic mode.
$IP -n gate-net link set gate-peer mtu 9000
gate_cycle generic

# The BPF_PROG_TEST_RUN tables, when run-gate.sh was given their binary.
# They make thousands of bpf() calls and take about a minute even on the
# host, so they get a longer limit than one command.
if [ -x /usr/bin/airgap-prog-tests ]; then
	STEP_TIMEOUT=600
	expect_success prog-tests airgap-prog-tests --durations yes
	STEP_TIMEOUT=120
	grep -E '^[0-9.]+ s: |^test cases|^assertions' /tmp/out.txt >/tmp/prog-tests-summary.txt
	show_log prog-tests /tmp/prog-tests-summary.txt
fi

expect_success verifier-accepts-baseline verifier_probe baseline
expect_rejected_probe

echo "GATE-UPTIME done $(cut -d ' ' -f 1 /proc/uptime)"
echo GATE-DONE
poweroff -f
