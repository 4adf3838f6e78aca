#!/usr/bin/env bash
# Show airgap-bpf at work on a simulated docker host: build a network of
# network namespaces, load the filter with examples/demo-policy.toml, try each
# path with real traffic and print what passed and what was blocked, as
# measured. Removes everything it made at the end, also after a failure.
#
# usage: tools/demo.sh AIRGAP_BPF_BINARY [AGPROBE_BINARY]
#
# AGPROBE_BINARY defaults to tests/netns/agprobe in the build directory of
# AIRGAP_BPF_BINARY. Exits 1 if any step did not behave as expected. Needs
# root; never touches this machine's own network namespace.
set -u -o pipefail

usage() {
	echo "usage: $0 AIRGAP_BPF_BINARY [AGPROBE_BINARY]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
BINARY=$1
PROBE=${2:-$(dirname "$BINARY")/tests/netns/agprobe}
SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
POLICY="$SOURCE_DIR/examples/demo-policy.toml"

if [ "$(id -u)" != 0 ]; then
	echo "demo: must run as root (it creates network namespaces and loads BPF programs)" >&2
	exit 1
fi
if [ ! -x "$BINARY" ]; then
	echo "demo: airgap-bpf binary '$BINARY' not found or not executable" >&2
	exit 1
fi
if [ ! -x "$PROBE" ]; then
	echo "demo: probe binary '$PROBE' not found; build the agprobe target or pass its path" >&2
	exit 1
fi

# shellcheck source=tests/netns/topology.sh
source "$SOURCE_DIR/tests/netns/topology.sh"
topo_init demo "$BINARY" "$PROBE" || exit 1

UNEXPECTED=0
STEPS=0

heading() {
	echo
	echo "$*"
}

# try EXPECTED WHAT WHY NS PROTO ADDR PORT [PROBE OPTIONS]: run one echo round
# trip and print the measured result. EXPECTED is PASS or BLOCKED. A path
# counts as BLOCKED only when nothing at all comes back within the timeout.
try() {
	local expected=$1 what=$2 why=$3 ns=$4 measured rc err note=""
	shift 4
	err=$(topo_probe "$ns" connect "$@" 2>&1 >/dev/null)
	rc=$?
	case $rc in
	0) measured=PASS ;;
	3) measured=BLOCKED ;;
	*) measured="ERROR" note="   ($err)" ;;
	esac
	STEPS=$((STEPS + 1))
	if [ "$measured" != "$expected" ]; then
		UNEXPECTED=$((UNEXPECTED + 1))
		note="   <-- UNEXPECTED: should be $expected$note"
	fi
	printf '  %-8s %-44s %s%s\n' "$measured" "$what" "$why" "$note"
}

# Run airgap-bpf and show the command line a user would type.
run_airgap() {
	echo "  \$ airgap-bpf $*"
	topo_airgap "$@" 2>&1 | sed 's/^/    /'
}

echo "airgap-bpf demo"
echo "==============="
echo "Building a simulated network in network namespaces; this machine's own"
echo "network is not touched."
echo
echo "  [net]   gateway $TOPO_NET_GW, DNS resolver $TOPO_RESOLVER,"
echo "          relay $TOPO_RELAY (the one allowed service), $TOPO_ELSEWHERE (anything else)"
echo "  [host]  uplink $TOPO_UPLINK $TOPO_HOST_WAN; bridge $TOPO_BRIDGE $TOPO_HOST_BRIDGE;"
echo "          NAT for the containers; tcp/$TOPO_PUBLISHED_PORT published to c1:80, as docker -p does"
echo "  [c1]    container $TOPO_C1        [c2] container $TOPO_C2"
if ! topo_create; then
	echo "demo: could not build the namespaces (see the messages above)" >&2
	exit 1
fi

heading "1. Without the filter, every path works."
try PASS "host -> $TOPO_ELSEWHERE tcp/443" "any address" "$NS_HOST" tcp "$TOPO_ELSEWHERE" 443
try PASS "network -> host tcp/$TOPO_HOST_SERVICE_PORT" "from $TOPO_ELSEWHERE" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE"
try PASS "c1 -> $TOPO_ELSEWHERE tcp/443" "through the host's NAT" "$NS_C1" tcp "$TOPO_ELSEWHERE" 443

heading "2. Load the filter in the host's namespace with this policy:"
grep -v '^#' "$POLICY" | sed -e '/./,$!d' -e 's/^/    /'
echo
echo "  (each airgap-bpf command runs in namespace $NS_HOST with --pin-dir $TOPO_PIN_DIR)"
run_airgap load --policy "$POLICY"
if ! topo_airgap status >/dev/null 2>&1; then
	echo "demo: the filter did not load; stopping" >&2
	exit 1
fi
run_airgap status

heading "3. The host reaches only the relay's API and its DNS resolver."
try PASS "host -> relay $TOPO_RELAY tcp/443" "allowed by rule relay-api" \
	"$NS_HOST" tcp "$TOPO_RELAY" 443
try PASS "host -> resolver $TOPO_RESOLVER udp/53" "allowed by the dns setting" \
	"$NS_HOST" udp "$TOPO_RESOLVER" 53
try BLOCKED "host -> $TOPO_ELSEWHERE tcp/443" "no rule allows this address" \
	"$NS_HOST" tcp "$TOPO_ELSEWHERE" 443
try BLOCKED "host -> relay $TOPO_RELAY tcp/80" "the rule allows port 443 only" \
	"$NS_HOST" tcp "$TOPO_RELAY" 80
try BLOCKED "host -> $TOPO_ELSEWHERE udp/53" "UDP is filtered too" \
	"$NS_HOST" udp "$TOPO_ELSEWHERE" 53

heading "4. Nothing on the network can open a connection to the host or a container."
try BLOCKED "network -> host tcp/$TOPO_HOST_SERVICE_PORT" "dropped by XDP on the uplink" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_HOST_SERVICE_PORT" --from "$TOPO_ELSEWHERE"
try BLOCKED "network -> published port tcp/$TOPO_PUBLISHED_PORT -> c1" "docker's DNAT to c1 is closed too" \
	"$NS_NET" tcp "$TOPO_HOST_WAN" "$TOPO_PUBLISHED_PORT" --from "$TOPO_ELSEWHERE"

heading "5. Containers talk to each other, but not to the Internet or the host."
try PASS "c1 -> c2 tcp/$TOPO_PEER_PORT" "same bridge, never filtered" \
	"$NS_C1" tcp "$TOPO_C2" "$TOPO_PEER_PORT"
try BLOCKED "c1 -> $TOPO_ELSEWHERE tcp/443" "containers never reach the Internet" \
	"$NS_C1" tcp "$TOPO_ELSEWHERE" 443
try BLOCKED "c1 -> $TOPO_ELSEWHERE udp/53" "UDP included" \
	"$NS_C1" udp "$TOPO_ELSEWHERE" 53
try BLOCKED "c1 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT" "no forward rule yet" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"

heading "6. Let c1, and only c1, reach the host's forwarder on tcp/$TOPO_FORWARDER_PORT, at once:"
run_airgap forward add tcp "$TOPO_FORWARDER_PORT" --from "$TOPO_C1" --name billing-db
try PASS "c1 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT" "allowed by forward billing-db" \
	"$NS_C1" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"
try BLOCKED "c2 -> host forwarder $TOPO_HOST_BRIDGE tcp/$TOPO_FORWARDER_PORT" "the forward is for c1 only" \
	"$NS_C2" tcp "$TOPO_HOST_BRIDGE" "$TOPO_FORWARDER_PORT"

heading "7. What each rule admitted and why each hook dropped packets:"
run_airgap stats

heading "8. Unload the filter; the namespaces are removed on exit."
run_airgap unload
try PASS "host -> $TOPO_ELSEWHERE tcp/443" "works again without the filter" \
	"$NS_HOST" tcp "$TOPO_ELSEWHERE" 443

echo
if [ "$UNEXPECTED" -eq 0 ]; then
	echo "All $STEPS steps behaved as expected."
else
	echo "$UNEXPECTED of $STEPS steps did not behave as expected (marked UNEXPECTED above)."
fi
[ "$UNEXPECTED" -eq 0 ]
