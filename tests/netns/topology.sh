# shellcheck shell=bash
# Network namespace topology of a docker host behind an uplink, for the
# end-to-end tests and the demo. Source this file, then call topo_init and
# topo_create. Nothing here touches the caller's own network namespace: every
# link, address, route, sysctl and iptables rule lives in a namespace made here.
#
#  [net]  198.51.100.1 gateway, 198.51.100.53 resolver,
#         203.0.113.10 relay, 203.0.113.20 elsewhere (on lo)
#           | veth up0 -- wan0
#  [host] wan0 198.51.100.2, default via 198.51.100.1, ip_forward=1,
#         MASQUERADE of 172.17.0.0/16 out of wan0, DNAT of tcp/8080 to c1:80
#         docker0 (bridge) 172.17.0.1/16
#           +-- [c1] lan0 172.17.0.2
#           +-- [c2] lan0 172.17.0.3
#
# The net namespace has no route to 172.16.0.0/12: containers reach it only
# through the host's NAT, and it reaches them only through a published port.
#
# Two settings, made before topo_create, extend this:
#
# TOPO_IPV6=1 enables IPv6 in every namespace (it is disabled otherwise, to
# keep IPv6 router and neighbour traffic out of the counters) and adds:
#   net 2001:db8:1::1, host wan0 2001:db8:1::2 (default route via net),
#   relay 2001:db8:2::10 and elsewhere 2001:db8:2::20 (on net's lo),
#   docker0 2001:db8:ac::1/64, c1 2001:db8:ac::2, c2 2001:db8:ac::3,
#   forwarding and MASQUERADE of 2001:db8:ac::/64 out of wan0 on the host,
# with the same listeners as on the IPv4 addresses.
#
# TOPO_RELAY_MTU=N moves the relay (both families) behind a router with a
# link of MTU N on the router's side, so that the host's full-size packets
# to the relay make the router return ICMP "fragmentation needed" or ICMPv6
# "packet too big". The relay's own side of that link keeps MTU 1500, so it
# advertises a TCP MSS that does not fit the path:
#   [net] rt0 203.0.113.249/30 2001:db8:f::1 -- [router] net0 .250 2001:db8:f::2
#   [router] relay0 203.0.113.253/30 2001:db8:3::1, MTU N -- [relay] up0 .254 2001:db8:3::2
#   [relay] lo 203.0.113.10, 2001:db8:2::10
# There the relay's tcp/443 is a sink/ listener (see agprobe), for bulk
# transfers that only send towards the relay: the router's side drops
# full-size frames the relay would send back, so echoing them cannot work.

TOPO_NET_GW=198.51.100.1
TOPO_RESOLVER=198.51.100.53
TOPO_HOST_WAN=198.51.100.2
TOPO_RELAY=203.0.113.10
TOPO_ELSEWHERE=203.0.113.20
TOPO_HOST_BRIDGE=172.17.0.1
TOPO_C1=172.17.0.2
TOPO_C2=172.17.0.3
TOPO_UPLINK=wan0
TOPO_BRIDGE=docker0
# The port docker would publish: tcp/8080 on the host is DNAT'd to c1:80.
TOPO_PUBLISHED_PORT=8080
# The forwarder a container may reach on the host once a forward allows it.
TOPO_FORWARDER_PORT=8443
# A host service that the network must not reach once the filter is loaded.
TOPO_HOST_SERVICE_PORT=22
# Port on which c1 and c2 talk to each other over the bridge.
TOPO_PEER_PORT=7000

TOPO_NET_GW6=2001:db8:1::1
TOPO_HOST_WAN6=2001:db8:1::2
TOPO_RELAY6=2001:db8:2::10
TOPO_ELSEWHERE6=2001:db8:2::20
TOPO_HOST_BRIDGE6=2001:db8:ac::1
TOPO_C16=2001:db8:ac::2
TOPO_C26=2001:db8:ac::3
TOPO_CONTAINER_NET6=2001:db8:ac::/64

# Addresses of the router between net and the relay (TOPO_RELAY_MTU).
TOPO_ROUTER_NET_SIDE=203.0.113.250
TOPO_ROUTER_NET_SIDE6=2001:db8:f::2

TOPO_IPV6=${TOPO_IPV6:-0}
TOPO_RELAY_MTU=${TOPO_RELAY_MTU:-}

# Client timeout of every probe, in milliseconds: a path that gets no reply in
# this time counts as blocked.
TOPO_TIMEOUT_MS=${TOPO_TIMEOUT_MS:-1500}

TOPO_PIDS=()
TOPO_CREATED_NS=()
declare -A TOPO_KEEP_IN=()
declare -A TOPO_KEEP_OUT=()

# Set the names of this run and install the cleanup. TAG goes into every name
# (e.g. "test" or "demo"); the PID and a random number make the names unique.
topo_init() {
	local tag=$1
	AIRGAP_BIN=$2
	PROBE_BIN=$3
	TOPO_ID="$tag-$$-$RANDOM"
	NS_NET="ag-$TOPO_ID-net"
	NS_HOST="ag-$TOPO_ID-host"
	NS_C1="ag-$TOPO_ID-c1"
	NS_C2="ag-$TOPO_ID-c2"
	NS_ROUTER="ag-$TOPO_ID-rt"
	NS_RELAY="ag-$TOPO_ID-relay"
	TOPO_PIN_DIR="/sys/fs/bpf/airgap-$TOPO_ID"
	TOPO_WORK=$(mktemp -d "/tmp/airgap-$TOPO_ID.XXXXXX") || return 1
	trap topo_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Run a command inside one of the namespaces. nsenter keeps the caller's mount
# namespace, so /sys/fs/bpf and its pins stay visible (ip netns exec remounts
# /sys and would hide them).
topo_in() {
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@"
}

topo_add_ns() {
	ip netns add "$1" || return 1
	TOPO_CREATED_NS+=("$1")
	ip -n "$1" link set lo up || return 1
	if [ "$TOPO_IPV6" = 1 ]; then
		# No duplicate address detection, so that addresses, link-local
		# ones included, are usable at once instead of after a second.
		topo_in "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 || return 1
	else
		# IPv6 router and neighbour traffic would only add noise to the
		# counters of an IPv4 test.
		topo_in "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
			2>/dev/null || true
	fi
}

# Add an IPv6 address without duplicate address detection:
# topo_addr6 NS DEV ADDR/LEN.
topo_addr6() {
	ip -n "$1" -6 addr add "$3" dev "$2" nodad
}

# Add a container namespace with its veth port on the host's bridge:
# topo_add_container NS PORT IPV4 [IPV6].
topo_add_container() {
	local ns=$1 port=$2 addr=$3 addr6=${4:-}
	topo_add_ns "$ns" || return 1
	ip -n "$NS_HOST" link add "$port" type veth peer name lan0 netns "$ns" || return 1
	ip -n "$NS_HOST" link set "$port" master "$TOPO_BRIDGE" up || return 1
	ip -n "$ns" addr add "$addr/16" dev lan0 || return 1
	ip -n "$ns" link set lan0 up || return 1
	ip -n "$ns" route add default via "$TOPO_HOST_BRIDGE" || return 1
	if [ "$TOPO_IPV6" = 1 ]; then
		topo_addr6 "$ns" lan0 "$addr6/64" || return 1
		ip -n "$ns" -6 route add default via "$TOPO_HOST_BRIDGE6" || return 1
	fi
}

# Give the topology its IPv6 addresses, routes and NAT (see the file comment).
topo_create_ipv6() {
	topo_addr6 "$NS_NET" up0 "$TOPO_NET_GW6/64" || return 1
	if [ -z "$TOPO_RELAY_MTU" ]; then
		topo_addr6 "$NS_NET" lo "$TOPO_RELAY6/128" || return 1
	fi
	topo_addr6 "$NS_NET" lo "$TOPO_ELSEWHERE6/128" || return 1
	ip -n "$NS_NET" -6 route add unreachable "$TOPO_CONTAINER_NET6" || return 1

	topo_addr6 "$NS_HOST" "$TOPO_UPLINK" "$TOPO_HOST_WAN6/64" || return 1
	ip -n "$NS_HOST" -6 route add default via "$TOPO_NET_GW6" || return 1
	topo_addr6 "$NS_HOST" "$TOPO_BRIDGE" "$TOPO_HOST_BRIDGE6/64" || return 1
	topo_in "$NS_HOST" sysctl -q -w net.ipv6.conf.all.forwarding=1 || return 1
	# docker with ip6tables enabled does the same for an IPv6 network.
	topo_in "$NS_HOST" ip6tables -t nat -A POSTROUTING -s "$TOPO_CONTAINER_NET6" -o "$TOPO_UPLINK" \
		-j MASQUERADE || return 1
}

# Put the relay behind a router whose relay-facing link has MTU
# TOPO_RELAY_MTU (see the file comment).
topo_create_router() {
	topo_add_ns "$NS_ROUTER" || return 1
	topo_add_ns "$NS_RELAY" || return 1
	ip -n "$NS_NET" link add rt0 type veth peer name net0 netns "$NS_ROUTER" || return 1
	ip -n "$NS_ROUTER" link add relay0 type veth peer name up0 netns "$NS_RELAY" || return 1
	ip -n "$NS_ROUTER" link set relay0 mtu "$TOPO_RELAY_MTU" || return 1

	ip -n "$NS_NET" addr add 203.0.113.249/30 dev rt0 || return 1
	ip -n "$NS_ROUTER" addr add "$TOPO_ROUTER_NET_SIDE/30" dev net0 || return 1
	ip -n "$NS_ROUTER" addr add 203.0.113.253/30 dev relay0 || return 1
	ip -n "$NS_RELAY" addr add 203.0.113.254/30 dev up0 || return 1
	ip -n "$NS_RELAY" addr add "$TOPO_RELAY/32" dev lo || return 1
	ip -n "$NS_NET" link set rt0 up || return 1
	ip -n "$NS_ROUTER" link set net0 up || return 1
	ip -n "$NS_ROUTER" link set relay0 up || return 1
	ip -n "$NS_RELAY" link set up0 up || return 1

	topo_in "$NS_NET" sysctl -q -w net.ipv4.ip_forward=1 || return 1
	topo_in "$NS_ROUTER" sysctl -q -w net.ipv4.ip_forward=1 || return 1
	ip -n "$NS_NET" route add "$TOPO_RELAY/32" via "$TOPO_ROUTER_NET_SIDE" || return 1
	ip -n "$NS_ROUTER" route add default via 203.0.113.249 || return 1
	ip -n "$NS_ROUTER" route add "$TOPO_RELAY/32" via 203.0.113.254 || return 1
	ip -n "$NS_RELAY" route add default via 203.0.113.253 || return 1

	[ "$TOPO_IPV6" = 1 ] || return 0
	topo_addr6 "$NS_NET" rt0 2001:db8:f::1/64 || return 1
	topo_addr6 "$NS_ROUTER" net0 "$TOPO_ROUTER_NET_SIDE6/64" || return 1
	topo_addr6 "$NS_ROUTER" relay0 2001:db8:3::1/64 || return 1
	topo_addr6 "$NS_RELAY" up0 2001:db8:3::2/64 || return 1
	topo_addr6 "$NS_RELAY" lo "$TOPO_RELAY6/128" || return 1
	topo_in "$NS_NET" sysctl -q -w net.ipv6.conf.all.forwarding=1 || return 1
	topo_in "$NS_ROUTER" sysctl -q -w net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_NET" -6 route add "$TOPO_RELAY6/128" via "$TOPO_ROUTER_NET_SIDE6" || return 1
	ip -n "$NS_ROUTER" -6 route add default via 2001:db8:f::1 || return 1
	ip -n "$NS_ROUTER" -6 route add "$TOPO_RELAY6/128" via 2001:db8:3::2 || return 1
	ip -n "$NS_RELAY" -6 route add default via 2001:db8:3::1 || return 1
}

# Build the namespaces, links, addresses, routes, NAT and listeners.
topo_create() {
	topo_add_ns "$NS_NET" || return 1
	topo_add_ns "$NS_HOST" || return 1

	ip -n "$NS_HOST" link add "$TOPO_UPLINK" type veth peer name up0 netns "$NS_NET" || return 1
	ip -n "$NS_NET" addr add "$TOPO_NET_GW/24" dev up0 || return 1
	ip -n "$NS_NET" addr add "$TOPO_RESOLVER/24" dev up0 || return 1
	if [ -z "$TOPO_RELAY_MTU" ]; then
		ip -n "$NS_NET" addr add "$TOPO_RELAY/32" dev lo || return 1
	fi
	ip -n "$NS_NET" addr add "$TOPO_ELSEWHERE/32" dev lo || return 1
	ip -n "$NS_NET" link set up0 up || return 1
	ip -n "$NS_NET" route add unreachable 172.16.0.0/12 || return 1

	ip -n "$NS_HOST" addr add "$TOPO_HOST_WAN/24" dev "$TOPO_UPLINK" || return 1
	ip -n "$NS_HOST" link set "$TOPO_UPLINK" up || return 1
	ip -n "$NS_HOST" route add default via "$TOPO_NET_GW" || return 1
	ip -n "$NS_HOST" link add "$TOPO_BRIDGE" type bridge || return 1
	ip -n "$NS_HOST" addr add "$TOPO_HOST_BRIDGE/16" dev "$TOPO_BRIDGE" || return 1
	ip -n "$NS_HOST" link set "$TOPO_BRIDGE" up || return 1
	topo_in "$NS_HOST" sysctl -q -w net.ipv4.ip_forward=1 || return 1
	# What docker sets up: containers go out through NAT, and a published
	# port is DNAT'd to a container.
	topo_in "$NS_HOST" iptables -t nat -A POSTROUTING -s 172.17.0.0/16 -o "$TOPO_UPLINK" \
		-j MASQUERADE || return 1
	topo_in "$NS_HOST" iptables -t nat -A PREROUTING -i "$TOPO_UPLINK" -p tcp \
		--dport "$TOPO_PUBLISHED_PORT" -j DNAT --to-destination "$TOPO_C1:80" || return 1

	topo_add_container "$NS_C1" vc1 "$TOPO_C1" "$TOPO_C16" || return 1
	topo_add_container "$NS_C2" vc2 "$TOPO_C2" "$TOPO_C26" || return 1
	if [ "$TOPO_IPV6" = 1 ]; then
		topo_create_ipv6 || return 1
	fi
	if [ -n "$TOPO_RELAY_MTU" ]; then
		topo_create_router || return 1
	fi

	topo_start_listeners
}

# Start an echo server in a namespace; it is killed at cleanup.
topo_listen() {
	local ns=$1 addr=$2
	shift 2
	local pid_file="$TOPO_WORK/listen-$ns-$addr.pid"
	topo_in "$ns" "$PROBE_BIN" listen --pid-file "$pid_file" "$addr" "$@" \
		>>"$TOPO_WORK/listeners.log" 2>&1 || {
		echo "topology: cannot start listeners on $addr in $ns:" >&2
		cat "$TOPO_WORK/listeners.log" >&2
		return 1
	}
	TOPO_PIDS+=("$(cat "$pid_file")")
}

# Start the listeners of one address family: topo_start_family_listeners
# RELAY ELSEWHERE HOST_WAN HOST_BRIDGE C1 C2.
topo_start_family_listeners() {
	local relay=$1 elsewhere=$2 host_wan=$3 host_bridge=$4 c1=$5 c2=$6
	if [ -n "$TOPO_RELAY_MTU" ]; then
		topo_listen "$NS_RELAY" "$relay" sink/443 tcp/80 || return 1
	else
		topo_listen "$NS_NET" "$relay" tcp/443 tcp/80 || return 1
	fi
	topo_listen "$NS_NET" "$elsewhere" tcp/443 tcp/80 "tcp/$TOPO_FORWARDER_PORT" udp/53 udp/443 ||
		return 1
	topo_listen "$NS_HOST" "$host_wan" "tcp/$TOPO_HOST_SERVICE_PORT" || return 1
	topo_listen "$NS_HOST" "$host_bridge" "tcp/$TOPO_FORWARDER_PORT" || return 1
	topo_listen "$NS_C1" "$c1" tcp/80 "tcp/$TOPO_PEER_PORT" || return 1
	topo_listen "$NS_C2" "$c2" "tcp/$TOPO_PEER_PORT" "udp/$TOPO_PEER_PORT" || return 1
}

topo_start_listeners() {
	topo_start_family_listeners "$TOPO_RELAY" "$TOPO_ELSEWHERE" "$TOPO_HOST_WAN" "$TOPO_HOST_BRIDGE" \
		"$TOPO_C1" "$TOPO_C2" || return 1
	topo_listen "$NS_NET" "$TOPO_RESOLVER" udp/53 tcp/53 || return 1
	# A DHCP server port, to show that the DHCP exchange passes. It listens
	# on the wildcard address, the only one that receives broadcasts.
	topo_listen "$NS_NET" 0.0.0.0 udp/67 || return 1
	if [ "$TOPO_IPV6" = 1 ]; then
		topo_start_family_listeners "$TOPO_RELAY6" "$TOPO_ELSEWHERE6" "$TOPO_HOST_WAN6" \
			"$TOPO_HOST_BRIDGE6" "$TOPO_C16" "$TOPO_C26" || return 1
	fi
}

# Run the probe client in a namespace: topo_probe NS connect tcp ADDR PORT [options].
# connect gets the topology's timeout unless the caller passes one, because a
# later --timeout-ms overrides an earlier one.
topo_probe() {
	local ns=$1
	shift
	if [ "$1" = connect ]; then
		topo_in "$ns" "$PROBE_BIN" "${@:1:4}" --timeout-ms "$TOPO_TIMEOUT_MS" "${@:5}"
	else
		topo_in "$ns" "$PROBE_BIN" "$@"
	fi
}

# Fail unless a process started with nsenter into the host namespace really
# lands there, in a namespace other than the caller's and PID 1's, and the
# uplink exists there. The loader runs only after this check.
topo_check_loader_ns() {
	local named inside own init
	named=$(stat -L -c %d:%i "/var/run/netns/$NS_HOST" 2>/dev/null) || {
		echo "topology: namespace $NS_HOST does not exist; not running the loader" >&2
		return 1
	}
	inside=$(topo_in "$NS_HOST" stat -L -c %d:%i /proc/self/ns/net) || return 1
	own=$(stat -L -c %d:%i /proc/self/ns/net) || return 1
	init=$(stat -L -c %d:%i /proc/1/ns/net 2>/dev/null) || init=none
	if [ "$inside" != "$named" ] || [ "$inside" = "$own" ] || [ "$inside" = "$init" ]; then
		echo "topology: nsenter into $NS_HOST gives namespace $inside (named $named, caller $own," \
			"init $init); not running the loader" >&2
		return 1
	fi
	if ! ip -n "$NS_HOST" link show dev "$TOPO_UPLINK" >/dev/null 2>&1; then
		echo "topology: $TOPO_UPLINK is missing in $NS_HOST; not running the loader" >&2
		return 1
	fi
}

# Run airgap-bpf in the host namespace with this run's pin directory. The
# binary itself also refuses to attach outside a named namespace.
topo_airgap() {
	topo_check_loader_ns || return 1
	AIRGAP_BPF_REQUIRE_NETNS=1 topo_in "$NS_HOST" "$AIRGAP_BIN" --pin-dir "$TOPO_PIN_DIR" "$@"
}

# Start an agprobe keep or accept process whose stdin and stdout stay open
# as file descriptors, for commands later: topo_session_start NAME NS ARGS...
topo_session_start() {
	local name=$1 ns=$2
	shift 2
	local in="$TOPO_WORK/session-$name.in" out="$TOPO_WORK/session-$name.out" write_fd read_fd
	mkfifo "$in" "$out" || return 1
	# Started as a plain command, not through a function, so that $! is the
	# probe itself (nsenter execs it) and cleanup can kill it.
	nsenter --net="/var/run/netns/$ns" "$PROBE_BIN" "$@" \
		<"$in" >"$out" 2>"$TOPO_WORK/session-$name.err" &
	TOPO_PIDS+=("$!")
	exec {write_fd}>"$in"
	exec {read_fd}<"$out"
	TOPO_KEEP_IN[$name]=$write_fd
	TOPO_KEEP_OUT[$name]=$read_fd
}

# Read the next status line of a session; fail unless it is EXPECTED:
# topo_session_wait NAME EXPECTED WHAT.
topo_session_wait() {
	local name=$1 expected=$2 what=$3 line
	IFS= read -r -t 15 line <&"${TOPO_KEEP_OUT[$name]}" || line="no output"
	if [ "$line" != "$expected" ]; then
		echo "topology: $what: expected '$expected', got '$line' $(cat "$TOPO_WORK/session-$name.err")" >&2
		return 1
	fi
}

# Open a TCP connection that stays up, for exchanges later:
# topo_keep_open NAME NS ADDR PORT [--from ADDR] [--sport PORT]. Fails unless
# the first round trip worked.
topo_keep_open() {
	local name=$1 ns=$2 addr=$3 port=$4
	shift 4
	topo_session_start "$name" "$ns" keep tcp "$addr" "$port" --timeout-ms "$TOPO_TIMEOUT_MS" "$@" ||
		return 1
	topo_session_wait "$name" ready "connection $name to $addr:$port did not open"
}

# Listen for one TCP connection that the test controls from both ends:
# topo_accept_start NAME NS ADDR PORT, then topo_keep_open for the client,
# then topo_accept_wait NAME. On such a connection either side can send first
# (topo_keep_command NAME send, and expect on the other side).
topo_accept_start() {
	local name=$1 ns=$2 addr=$3 port=$4
	topo_session_start "$name" "$ns" accept tcp "$addr" "$port" --timeout-ms "$TOPO_TIMEOUT_MS" || return 1
	topo_session_wait "$name" listening "listener $name on $addr:$port"
}

topo_accept_wait() {
	topo_session_wait "$1" ready "listener $1 got no connection"
}

# Run one command (exchange, send or expect) on a session and print its
# result: ok, sent, timeout, closed, error ..., or "gone" when the probe has
# exited.
topo_keep_command() {
	local name=$1 command=$2 line
	# In a subshell, so that a write to a probe that has exited (SIGPIPE)
	# ends only the subshell.
	if ! (printf '%s\n' "$command" >&"${TOPO_KEEP_IN[$name]}") 2>/dev/null; then
		echo gone
		return
	fi
	IFS= read -r -t $((TOPO_TIMEOUT_MS / 1000 + 5)) line <&"${TOPO_KEEP_OUT[$name]}" || line=gone
	echo "$line"
}

# Do one round trip on a connection from topo_keep_open and print the result.
topo_keep_exchange() {
	topo_keep_command "$1" exchange
}

topo_keep_close() {
	local name=$1
	[ -n "${TOPO_KEEP_IN[$name]:-}" ] || return 0
	local write_fd=${TOPO_KEEP_IN[$name]} read_fd=${TOPO_KEEP_OUT[$name]}
	exec {write_fd}>&- {read_fd}<&-
	unset "TOPO_KEEP_IN[$name]" "TOPO_KEEP_OUT[$name]"
}

# Remove everything this run made, whether it passed or failed: the filter
# and its pins, the processes, the namespaces and the work directory.
topo_cleanup() {
	local status=$? name pid ns
	trap - EXIT INT TERM

	for name in "${!TOPO_KEEP_IN[@]}"; do
		topo_keep_close "$name"
	done
	if [ -n "${TOPO_PIN_DIR:-}" ] && [ -e "$TOPO_PIN_DIR" ]; then
		if [ -e "/var/run/netns/$NS_HOST" ]; then
			topo_airgap unload >/dev/null 2>&1 ||
				echo "cleanup: airgap-bpf unload failed; removing $TOPO_PIN_DIR anyway" >&2
		fi
		rm -rf "$TOPO_PIN_DIR"
	fi

	for pid in "${TOPO_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${TOPO_PIDS[@]}"; do
		# Processes keep a deleted namespace alive, so wait for them. Listeners
		# are not children of this shell: poll instead of wait.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done

	for ns in "${TOPO_CREATED_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || echo "cleanup: cannot delete namespace $ns" >&2
	done
	[ -n "${TOPO_WORK:-}" ] && rm -rf "$TOPO_WORK"
	exit "$status"
}
