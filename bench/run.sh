#!/usr/bin/env bash
# Run the whole benchmark and write docs/benchmarks.md and its plot:
#   sudo bench/run.sh [BUILD_DIR]
# BUILD_DIR defaults to build-bench; it is configured and built first. Takes
# about 20 minutes on 2 cores. Every namespace, iptables rule, nft table and
# pinned filter lives in namespaces made here, which are removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath -m "${1:-$ROOT/build-bench}")
COMMAND="sudo bench/run.sh${1:+ $1}"
# Knobs for a quick trial run; the published figures use the defaults.
E2E_RULES=${E2E_RULES:-"10 100 1000 10000"}
E2E_SECONDS=${E2E_SECONDS:-2}
E2E_REPS=${E2E_REPS:-3}
E2E_FLOOR_REPS=${E2E_FLOOR_REPS:-2}
COST_ARGS=${COST_ARGS:-}
CONTROL_RULES=${CONTROL_RULES:-100000}
CONTROL_EDITS=${CONTROL_EDITS:-30}
RESTORE_TIMEOUT=${RESTORE_TIMEOUT:-120}
SENDER_CPU=1
OUT_DOC=${OUT_DOC:-$ROOT/docs/benchmarks.md}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: must run as root (BPF, namespaces, iptables)" >&2
	exit 1
fi
# A fresh machine gets what the benchmark runs against from Debian's packages.
"$ROOT/tools/install-deps.sh"
for tool in nft iptables-legacy iptables-nft xdp-filter gnuplot ethtool python3 taskset nsenter; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool not found; install nftables, iptables, xdp-tools, gnuplot-nox, ethtool, python3, util-linux" >&2; exit 1; }
done

cmake -S "$ROOT" -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j2 --target airgap-bpf airgap-bench >/dev/null
BENCH=$BUILD/bench/airgap-bench
AIRGAP=$BUILD/airgap-bpf
POLICIES=$ROOT/bench/policies.py

ID="$$-$RANDOM"
WORK=$(mktemp -d "/tmp/agbench-$ID.XXXXXX")
RESULTS=$WORK/results.jsonl
CREATED_NS=()
PIN_DIRS=()

cleanup() {
	local status=$?
	for pin in "${PIN_DIRS[@]}"; do
		"$AIRGAP" --pin-dir "$pin" unload >/dev/null 2>&1 || true
		rm -rf "$pin"
	done
	for ns in "${CREATED_NS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		echo "bench/run.sh: failed (status $status); partial results in $WORK" >&2
	fi
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*" >&2; }

# Create namespace agb-ID-SUFFIX and store its name in the variable VAR; not
# in a subshell, so that cleanup finds every namespace made.
new_ns() {
	local -n out=$1
	out="agb-$ID-$2"
	ip netns add "$out"
	CREATED_NS+=("$out")
	ip -n "$out" link set lo up
}

del_ns() {
	ip netns pids "$1" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$1"
}

in_ns() { local ns=$1; shift; nsenter --net="/var/run/netns/$ns" "$@"; }

# The loader refuses to attach outside a named namespace with this set.
airgap_in() { local ns=$1; shift; AIRGAP_BPF_REQUIRE_NETNS=1 nsenter --net="/var/run/netns/$ns" "$AIRGAP" "$@"; }

mac_of() { ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }

record() { echo "$1" >>"$RESULTS"; }

# The 1-minute load average before a section: on a shared machine, other
# work running at the same time is the first suspect for noisy figures.
record_load() { record "{\"kind\":\"load\",\"section\":\"$1\",\"loadavg\":$(cut -d' ' -f1 /proc/loadavg)}"; }

# ---------------------------------------------------------------- machine
machine_info() {
	local cpu
	cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
	record "$(python3 -c 'import json,sys; print(json.dumps({"kind":"machine","cpu":sys.argv[1],"cores":int(sys.argv[2]),"kernel":sys.argv[3],"date":sys.argv[4],"command":sys.argv[5],"versions":sys.argv[6],"commit":sys.argv[7]}))' \
		"$cpu" "$(nproc)" "$(uname -r)" "$(date -u +%Y-%m-%dT%H:%MZ)" "$COMMAND" \
		"$(dpkg-query -W -f='${Package} ${Version}; ' nftables iptables xdp-tools libbpf1 2>/dev/null)" \
		"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- bpf maps loader tools 2>/dev/null || echo ', with uncommitted changes to bpf/, maps/, loader/ or tools/')")"
}

# ---------------------------------------------------------------- per-packet cost
run_cost() {
	log "per-packet cost (BPF_PROG_TEST_RUN)"
	local ns
	new_ns ns cost
	ip -n "$ns" link add wan0 type veth peer name wan0-peer
	ip -n "$ns" link set wan0-peer up
	ip -n "$ns" addr add 198.51.100.2/24 dev wan0
	ip -n "$ns" link set wan0 up
	ip -n "$ns" route add default via 198.51.100.1 dev wan0
	ip -n "$ns" link add docker0 type bridge
	ip -n "$ns" addr add 172.17.0.1/16 dev docker0
	ip -n "$ns" link set docker0 up
	# Docker turns forwarding on; the bridge program's FIB lookup needs it.
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
	# shellcheck disable=SC2086
	in_ns "$ns" "$BENCH" cost --cpu "$SENDER_CPU" $COST_ARGS >>"$RESULTS"
	del_ns "$ns"
}

# ---------------------------------------------------------------- end to end
# A sender namespace and a host namespace joined by a veth pair, up0 -- wan0.
E2E_PAIR=0
e2e_pair() {
	E2E_PAIR=$((E2E_PAIR + 1))
	new_ns SEND_NS "s$E2E_PAIR"
	new_ns HOST_NS "h$E2E_PAIR"
	ip link add up0 netns "$SEND_NS" type veth peer name wan0 netns "$HOST_NS"
	ip -n "$SEND_NS" addr add 198.51.100.1/24 dev up0
	ip -n "$SEND_NS" link set up0 up
	ip -n "$HOST_NS" addr add 198.51.100.2/24 dev wan0
	ip -n "$HOST_NS" link set wan0 up
	ip -n "$HOST_NS" route add default via 198.51.100.1 dev wan0
	ip netns exec "$HOST_NS" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.wan0.rp_filter=0
	# veth receives frames sent by XDP only when its NAPI is on, which an
	# XDP program or GRO turns on; GRO is on for every variant alike.
	ip netns exec "$HOST_NS" ethtool -K wan0 gro on >/dev/null
	SEND_MAC=$(mac_of "$SEND_NS" up0)
	HOST_MAC=$(mac_of "$HOST_NS" wan0)
}

rx_frames() { ip netns exec "$HOST_NS" ethtool -S wan0 | awk '/rx_queue_0_xdp_packets/ {print $2}'; }
udp_no_ports() { ip netns exec "$HOST_NS" awk '/^Udp:/ {n++; if (n == 2) print $3}' /proc/net/snmp; }

# The filter's own count of dropped packets, or -1 where the variant has none.
filter_drops() {
	case $1 in
	airgap) airgap_in "$HOST_NS" --pin-dir "$PIN" stats --format json |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["hooks"]["uplink-xdp"]["drop"]; print(sum(v["packets"] for v in d.values()))' ;;
	ipt-legacy) ip netns exec "$HOST_NS" iptables-legacy -nvxL INPUT | tail -1 | awk '{print $1}' ;;
	ipt-nft) ip netns exec "$HOST_NS" iptables-nft -nvxL INPUT | tail -1 | awk '{print $1}' ;;
	nft-chain | nft-set) ip netns exec "$HOST_NS" nft list counter inet agbench dropped | awk '/packets/ {print $2}' ;;
	xdp-drop) ip netns exec "$HOST_NS" ethtool -S wan0 | awk '/rx_queue_0_xdp_drops/ {print $2}' ;;
	*) echo -1 ;;
	esac
}

e2e_setup() {
	local variant=$1 rules=$2 file=$WORK/policy
	case $variant in
	none) ;;
	xdp-drop | xdp-pass) in_ns "$HOST_NS" "$BENCH" attach --ifname wan0 --prog "${variant#xdp-}" ;;
	xdp-filter) in_ns "$HOST_NS" "$BENCH" attach --ifname wan0 --prog xdp-filter --allow-in $((rules - 3)) ;;
	airgap)
		python3 "$POLICIES" airgap "$rules" wan0 >"$file"
		PIN=/sys/fs/bpf/agbench-$ID-$E2E_PAIR
		PIN_DIRS+=("$PIN")
		airgap_in "$HOST_NS" --pin-dir "$PIN" load --policy "$file" --max-rules 16384 >/dev/null ;;
	ipt-legacy | ipt-nft)
		python3 "$POLICIES" iptables "$rules" >"$file"
		ip netns exec "$HOST_NS" "iptables-${variant#ipt-}-restore" <"$file" ;;
	nft-chain | nft-set)
		python3 "$POLICIES" "$variant" "$rules" >"$file"
		ip netns exec "$HOST_NS" nft -f "$file" ;;
	esac
	# The host opens the flow whose replies are the allowed traffic.
	in_ns "$HOST_NS" "$BENCH" datagram --local-port 40000 --to 203.0.113.10 --port 5000
}

e2e_send() {
	local src=$1 sport=$2 dport=$3 seconds=$4
	in_ns "$SEND_NS" "$BENCH" send --ifname up0 --src-mac "$SEND_MAC" --dst-mac "$HOST_MAC" \
		--src "$src" --dst 198.51.100.2 --sport "$sport" --dport "$dport" --seconds "$seconds" --cpu "$SENDER_CPU"
}

# Measure one traffic class: ROLE is "filter" for the variant itself or
# "floor" for the empty XDP program measured on the same pair just before.
e2e_measure() {
	local variant=$1 rules=$2 traffic=$3 role=$4 counted=$5 reps=$6 src sport dport
	if [ "$traffic" = drop ]; then src=203.0.113.20 sport=7 dport=9; else src=203.0.113.10 sport=5000 dport=40000; fi
	e2e_send "$src" "$sport" "$dport" 1 >/dev/null # warm-up
	local rep rx0 rx1 np0 np1 fd0 fd1 out
	for rep in $(seq "$reps"); do
		rx0=$(rx_frames) np0=$(udp_no_ports) fd0=$(filter_drops "$counted")
		out=$(e2e_send "$src" "$sport" "$dport" "$E2E_SECONDS")
		rx1=$(rx_frames) np1=$(udp_no_ports) fd1=$(filter_drops "$counted")
		record "$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); v=sys.argv[2:]; print(json.dumps({"kind":"e2e","variant":v[0],"rules":int(v[1]),"traffic":v[2],"role":v[3],"sent":s["sent"],"seconds":s["seconds"],"received":int(v[5])-int(v[4]),"delivered":int(v[7])-int(v[6]),"filter_drops":(int(v[9])-int(v[8])) if v[8] != "-1" else None}))' \
			"$out" "$variant" "$rules" "$traffic" "$role" "$rx0" "$rx1" "$np0" "$np1" "$fd0" "$fd1")"
	done
}

e2e_variant() {
	local variant=$1 rules=$2 traffic reference; shift 2
	log "end to end: $variant, $rules rules"
	e2e_pair
	if [ "$variant" != none ] && [ "${variant#xdp-}" = "$variant" ] || [ "$variant" = xdp-filter ]; then
		# The empty program on this same pair right before, so that each
		# ratio compares runs minutes apart at most.
		for traffic in "$@"; do
			if [ "$traffic" = drop ]; then reference=xdp-drop; else reference=xdp-pass; fi
			in_ns "$HOST_NS" "$BENCH" attach --ifname wan0 --prog "${reference#xdp-}"
			e2e_measure "$variant" "$rules" "$traffic" floor "$reference" "$E2E_FLOOR_REPS"
			ip -n "$HOST_NS" link set dev wan0 xdp off
		done
	fi
	e2e_setup "$variant" "$rules"
	for traffic in "$@"; do
		e2e_measure "$variant" "$rules" "$traffic" filter "$variant" "$E2E_REPS"
	done
	if [ "$variant" = airgap ]; then
		airgap_in "$HOST_NS" --pin-dir "$PIN" unload >/dev/null
	fi
	del_ns "$SEND_NS"
	del_ns "$HOST_NS"
}

run_e2e() {
	e2e_variant none 0 drop allowed
	e2e_variant xdp-drop 0 drop
	e2e_variant xdp-pass 0 allowed
	for rules in $E2E_RULES; do
		for variant in airgap xdp-filter ipt-legacy ipt-nft nft-chain nft-set; do
			e2e_variant "$variant" "$rules" drop allowed
		done
	done
}

# ---------------------------------------------------------------- control plane
time_cmd() { "$BENCH" time "$@" >>"$RESULTS"; }

run_control() {
	log "control plane: library and map updates at $CONTROL_RULES rules"
	local ns rules=$CONTROL_RULES
	new_ns ns ctl
	in_ns "$ns" taskset -c 0 "$BENCH" control --rules "$rules" --library-edits "$CONTROL_EDITS" >>"$RESULTS"

	log "control plane: CLI load, edits and restore"
	ip -n "$ns" link add wan0 type veth peer name wan0-peer
	ip -n "$ns" link set wan0-peer up
	ip -n "$ns" link set wan0 up
	PIN=/sys/fs/bpf/agbench-$ID-ctl
	PIN_DIRS+=("$PIN")
	local envs=(env AIRGAP_BPF_REQUIRE_NETNS=1 nsenter --net="/var/run/netns/$ns" taskset -c 0 "$AIRGAP" --pin-dir "$PIN")
	for _ in 1 2 3 4 5; do
		time_cmd --label cli-load -- "${envs[@]}" load wan0 --max-rules 131072
		airgap_in "$ns" --pin-dir "$PIN" unload >/dev/null
	done

	python3 "$POLICIES" airgap "$rules" wan0 >"$WORK/policy-big.toml"
	# Two sizes below the large one show how restore time grows.
	for small in 10000 20000; do
		python3 "$POLICIES" airgap "$small" wan0 >"$WORK/policy-small.toml"
		airgap_in "$ns" --pin-dir "$PIN" load wan0 --max-rules 131072 >/dev/null
		time_cmd --label "cli-restore-$small" -- "${envs[@]}" restore "$WORK/policy-small.toml"
		airgap_in "$ns" --pin-dir "$PIN" unload >/dev/null
	done
	airgap_in "$ns" --pin-dir "$PIN" load wan0 --max-rules 131072 >/dev/null
	if ! time_cmd --label "cli-restore-$rules" -- timeout "$RESTORE_TIMEOUT" "${envs[@]}" restore "$WORK/policy-big.toml"; then
		record "{\"kind\":\"control\",\"what\":\"cli-restore-$rules-timeout\",\"ms\":[$((RESTORE_TIMEOUT * 1000))]}"
	fi
	airgap_in "$ns" --pin-dir "$PIN" unload >/dev/null
	airgap_in "$ns" --pin-dir "$PIN" load wan0 --max-rules 131072 >/dev/null
	"$BENCH" fill-pinned --pin-dir "$PIN" --rules "$rules"
	time_cmd --label cli-add --count "$CONTROL_EDITS" -- "${envs[@]}" rule add in tcp "172.24.1.{i}" 22 --name "extra-{i}"
	time_cmd --label cli-delete --count "$CONTROL_EDITS" -- "${envs[@]}" rule del "extra-{i}"
	airgap_in "$ns" --pin-dir "$PIN" unload >/dev/null

	local nsx=(ip netns exec "$ns" taskset -c 0)
	python3 "$POLICIES" nft-set "$rules" >"$WORK/nft-set"
	python3 "$POLICIES" nft-chain "$rules" >"$WORK/nft-chain"
	python3 "$POLICIES" iptables "$rules" >"$WORK/iptables"
	time_cmd --label nft-f-set -- "${nsx[@]}" nft -f "$WORK/nft-set"
	time_cmd --label nft-add-element --count "$CONTROL_EDITS" -- "${nsx[@]}" nft add element inet agbench allow_in "{ 172.24.1.{i} . 22 }"
	time_cmd --label nft-delete-element --count "$CONTROL_EDITS" -- "${nsx[@]}" nft delete element inet agbench allow_in "{ 172.24.1.{i} . 22 }"
	ip netns exec "$ns" nft delete table inet agbench
	time_cmd --label nft-f-chain -- "${nsx[@]}" timeout "$RESTORE_TIMEOUT" nft -f "$WORK/nft-chain" ||
		record "{\"kind\":\"control\",\"what\":\"nft-f-chain-timeout\",\"ms\":[$((RESTORE_TIMEOUT * 1000))]}"
	ip netns exec "$ns" nft delete table inet agbench 2>/dev/null || true
	for backend in legacy nft; do
		time_cmd --label "iptables-$backend-restore" -- "${nsx[@]}" "iptables-$backend-restore" "$WORK/iptables"
		time_cmd --label "iptables-$backend-append" --count "$CONTROL_EDITS" -- "${nsx[@]}" "iptables-$backend" -A INPUT -s "172.24.1.{i}" -p tcp --dport 22 -j ACCEPT
		time_cmd --label "iptables-$backend-delete" --count "$CONTROL_EDITS" -- "${nsx[@]}" "iptables-$backend" -D INPUT -s "172.24.1.{i}" -p tcp --dport 22 -j ACCEPT
		ip netns exec "$ns" "iptables-$backend" -F INPUT
	done
	del_ns "$ns"
}

# Time from an edit command's start to the first datagram it admits, with a
# container sending to the host's port every 20 microseconds.
run_live_edit() {
	log "control plane: live edit to first admitted packet"
	local host c1
	new_ns host edit-host
	new_ns c1 edit-c1
	ip -n "$host" link add wan0 type veth peer name wan0-peer
	ip -n "$host" link set wan0-peer up
	ip -n "$host" addr add 198.51.100.2/24 dev wan0
	ip -n "$host" link set wan0 up
	ip -n "$host" link add br0 type bridge
	ip -n "$host" addr add 172.17.0.1/16 dev br0
	ip -n "$host" link set br0 up
	ip link add lan0 netns "$c1" type veth peer name c1p netns "$host"
	ip -n "$host" link set c1p master br0 up
	ip -n "$c1" addr add 172.17.0.2/16 dev lan0
	ip -n "$c1" link set lan0 up
	ip netns exec "$host" sysctl -qw net.ipv4.ip_forward=1
	PIN=/sys/fs/bpf/agbench-$ID-edit
	PIN_DIRS+=("$PIN")

	local port=8443 reps=5 i
	blast() { in_ns "$c1" taskset -c "$SENDER_CPU" "$BENCH" blast --to 172.17.0.1 --port "$port" --interval-us 20 --seconds 600 >/dev/null & BLAST_PID=$!; }
	first() { local label=$1; shift; in_ns "$host" taskset -c 0 "$BENCH" first-packet --port "$port" -- "$@" |
		python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d.update(kind="edit",what=sys.argv[1]); print(json.dumps(d))' "$label" >>"$RESULTS"; }
	blast

	local ag=(env AIRGAP_BPF_REQUIRE_NETNS=1 "$AIRGAP" --pin-dir "$PIN")
	for rules in 3 "$CONTROL_RULES"; do
		# The default table size for the small rule set, as an operator would
		# have it; room for the large one.
		if [ "$rules" -gt 3 ]; then
			airgap_in "$host" --pin-dir "$PIN" load wan0 --bridge br0 --max-rules 131072 >/dev/null
			"$BENCH" fill-pinned --pin-dir "$PIN" --rules "$rules"
		else
			airgap_in "$host" --pin-dir "$PIN" load wan0 --bridge br0 >/dev/null
		fi
		for i in $(seq "$reps"); do
			first "airgap-forward-add-$rules" "${ag[@]}" forward add udp "$port" --from 172.17.0.2 --name "live-$i"
			airgap_in "$host" --pin-dir "$PIN" forward del "live-$i" >/dev/null
			sleep 0.2
		done
		airgap_in "$host" --pin-dir "$PIN" unload >/dev/null
	done

	printf '%s\n' 'table inet agbench {' \
		'  set forwards { type ipv4_addr . inet_service; }' \
		'  chain input {' \
		'    type filter hook input priority filter; policy accept;' \
		'    iifname "br0" ip saddr . udp dport @forwards accept' \
		'    iifname "br0" drop' \
		'  }' \
		'}' | ip netns exec "$host" nft -f -
	for i in $(seq "$reps"); do
		first nft-add-element nft add element inet agbench forwards "{ 172.17.0.2 . $port }"
		ip netns exec "$host" nft delete element inet agbench forwards "{ 172.17.0.2 . $port }"
		sleep 0.2
	done
	ip netns exec "$host" nft delete table inet agbench

	for backend in legacy nft; do
		ip netns exec "$host" "iptables-$backend" -A INPUT -i br0 -j DROP
		for i in $(seq "$reps"); do
			# -I, not -A: an appended rule would land after the drop.
			first "iptables-$backend-insert" "iptables-$backend" -I INPUT 1 -i br0 -s 172.17.0.2 -p udp --dport "$port" -j ACCEPT
			ip netns exec "$host" "iptables-$backend" -D INPUT -i br0 -s 172.17.0.2 -p udp --dport "$port" -j ACCEPT
			sleep 0.2
		done
		ip netns exec "$host" "iptables-$backend" -F INPUT
	done
	kill "$BLAST_PID" 2>/dev/null || true
	wait "$BLAST_PID" 2>/dev/null || true
	del_ns "$c1"
	del_ns "$host"
}

START=$(date +%s)
machine_info
record_load per-packet
${SKIP_COST:+:} run_cost
record_load end-to-end
${SKIP_E2E:+:} run_e2e
record_load control-plane
${SKIP_CONTROL:+:} run_control
record_load live-edit
${SKIP_CONTROL:+:} run_live_edit
record_load end
record "{\"kind\":\"duration\",\"seconds\":$(($(date +%s) - START))}"
log "writing $OUT_DOC"
python3 "$ROOT/bench/report.py" "$RESULTS" "$OUT_DOC"
cp "$RESULTS" "$WORK/../agbench-last-results.jsonl" 2>/dev/null || true
log "done in $(($(date +%s) - START)) s; raw results in $RESULTS"
