# shellcheck shell=bash
# The environment of the docker test: a simulated uplink and host in network
# namespaces, a dockerd of its own inside the host namespace, and a busybox
# image imported from a local tar. Source this file, call env_init, then the
# other env_* functions. Nothing here changes the caller's network namespace:
# links, addresses, routes, sysctls, iptables rules, docker0 and docker's NAT
# all live in namespaces made here, and env_check_caller_netns checks it.
#
#  [net]  up0 198.51.100.1/24, "Internet" 203.0.113.20 on lo (httpd tcp/80),
#         iptables counters of every packet that reaches 203.0.113.20
#           | veth up0 -- wan0
#  [host] wan0 198.51.100.2/24, default via 198.51.100.1
#         dockerd: docker0 172.17.0.1/16, user networks from 172.28.0.0/16,
#         its own iptables rules and NAT; forwarder httpd on 0.0.0.0:8443
#
# The net namespace has no route to 172.16.0.0/12, as the Internet has none:
# containers reach it only through docker's NAT, and it reaches them only
# through a published port.

ENV_NET_GW=198.51.100.1
ENV_HOST_WAN=198.51.100.2
ENV_INTERNET=203.0.113.20
# Containers get this unused address of the net namespace as their resolver,
# so that a stray name lookup stays inside the namespaces.
ENV_RESOLVER=198.51.100.53
ENV_UPLINK=wan0
ENV_DOCKER0_ADDR=172.17.0.1
ENV_DOCKER0_BIP=172.17.0.1/16
ENV_ADDRESS_POOL=172.28.0.0/16
ENV_FORWARDER_PORT=8443
ENV_PUBLISHED_PORT=8080
ENV_IMAGE=airgap-busybox:test
# Debian's client, the same version as its dockerd; another docker client may
# be first on PATH.
DOCKER_CLIENT=/usr/bin/docker
DOCKERD=/usr/sbin/dockerd
# Upper bound of the wait for dockerd's API, in seconds.
ENV_DOCKERD_START_TIMEOUT=60

ENV_PIDS=()
ENV_CREATED_NS=()
ENV_CREATED_DIRS=()
ENV_ROOT_STATE_BEFORE=
DOCKERD_PID=
CONTAINERD_PID=

# Set the names of this run. The PID and a random number make them unique.
env_init() {
	AIRGAP_BIN=$1
	ENV_ID="agd-$$-$RANDOM"
	NS_NET="$ENV_ID-net"
	NS_HOST="$ENV_ID-host"
	PIN_DIR="/sys/fs/bpf/airgap-$ENV_ID"
	# Short, because unix socket paths inside it are limited to 107 bytes.
	WORK=$(mktemp -d "/tmp/$ENV_ID.XXXX") || return 1
	DOCKER_SOCK="$WORK/docker.sock"
	export DOCKER_HOST="unix://$DOCKER_SOCK"
	# Keeps the client's config and any proxy setting out of the test.
	export DOCKER_CONFIG="$WORK/client"
	unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY
}

# Print what of the caller's network namespace the test could change, without
# counters, timestamps and address lifetimes, so that two calls compare equal
# when nothing changed.
env_caller_netns_state() {
	echo "== iptables"
	iptables-save 2>&1 | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	echo "== ip6tables"
	ip6tables-save 2>&1 | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
	echo "== links"
	ip -o link show
	echo "== addresses"
	ip -o addr show | sed -E 's/ (valid|preferred)_lft [^ ]+//g'
	echo "== routes"
	ip route show table all
	ip -6 route show table all | sed -E 's/ expires [^ ]+//'
	echo "== sysctls"
	sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding 2>&1
	sysctl -a 2>/dev/null | grep '^net\.bridge\.' || true
}

env_record_caller_netns() {
	ENV_ROOT_STATE_BEFORE="$WORK/caller-netns-before.txt"
	env_caller_netns_state >"$ENV_ROOT_STATE_BEFORE"
}

# Fail, printing the difference, unless the caller's network namespace is as
# env_record_caller_netns found it.
env_check_caller_netns() {
	local after="$WORK/caller-netns-after.txt"
	env_caller_netns_state >"$after"
	diff -u "$ENV_ROOT_STATE_BEFORE" "$after"
}

# Install Debian's docker.io unless dockerd is there already. Its maintainer
# scripts would start the docker service in this machine's own namespace (with
# its own docker0 and iptables rules), so a policy-rc.d that denies every
# start is in place during the install when the machine has none.
env_install_docker() {
	if [ -x "$DOCKERD" ] && [ -x "$DOCKER_CLIENT" ]; then
		return 0
	fi
	echo "docker.io is not installed; installing it with apt-get"
	local guard='' rc
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d || return 1
		guard=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends docker.io >"$WORK/apt.log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		# The package lists may be missing or stale on a fresh machine.
		apt-get update -q >>"$WORK/apt.log" 2>&1
		apt-get install -y -q --no-install-recommends docker.io >>"$WORK/apt.log" 2>&1
		rc=$?
	fi
	[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
	if [ "$rc" -ne 0 ]; then
		echo "apt-get install docker.io exited with status $rc; the end of its log:" >&2
		tail -n 5 "$WORK/apt.log" >&2
		return 1
	fi
	if [ ! -x "$DOCKERD" ] || [ ! -x "$DOCKER_CLIENT" ]; then
		echo "apt-get installed docker.io, but $DOCKERD or $DOCKER_CLIENT is missing" >&2
		return 1
	fi
}

# Run a command in a namespace of this run. nsenter keeps the caller's mount
# namespace, so /sys/fs/bpf and the cgroup mounts stay visible (ip netns exec
# remounts /sys and hides both).
env_in() {
	local ns=$1
	shift
	nsenter --net="/var/run/netns/$ns" "$@"
}

env_add_ns() {
	ip netns add "$1" || return 1
	ENV_CREATED_NS+=("$1")
	ip -n "$1" link set lo up || return 1
	# The checks use IPv4, so router and neighbour solicitations would only
	# add drops to the counters.
	env_in "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		2>/dev/null || true
}

# Start a busybox httpd that serves BODY. Teardown stops it.
# env_serve NS [ADDR:]PORT BODY
env_serve() {
	local ns=$1 listen=$2 body=$3
	local root="$WORK/www-$ns-${listen//[:.]/-}"
	mkdir -p "$root" || return 1
	printf '%s\n' "$body" >"$root/index.html" || return 1
	# nsenter execs busybox, so $! is the server itself.
	nsenter --net="/var/run/netns/$ns" busybox httpd -f -p "$listen" -h "$root" \
		>>"$WORK/httpd.log" 2>&1 &
	ENV_PIDS+=("$!")
}

# Count every packet that reaches the Internet address, by protocol, in a chain
# of the net namespace. env_internet_packets reads the counters.
env_count_internet() {
	env_in "$NS_NET" iptables -N AGD-SEEN || return 1
	env_in "$NS_NET" iptables -A INPUT -d "$ENV_INTERNET" -j AGD-SEEN || return 1
	local proto
	for proto in tcp udp icmp; do
		env_in "$NS_NET" iptables -A AGD-SEEN -p "$proto" -m comment --comment "seen-$proto" -j RETURN ||
			return 1
	done
}

# Print how many packets of PROTO (tcp, udp or icmp) reached the Internet
# address so far.
env_internet_packets() {
	env_in "$NS_NET" iptables -n -v -x -L AGD-SEEN |
		awk -v tag="seen-$1" '$0 ~ "/\\* " tag " \\*/" { print $1 }'
}

# Build the uplink and host namespaces and the Internet's listener.
env_create_topology() {
	env_add_ns "$NS_NET" || return 1
	env_add_ns "$NS_HOST" || return 1

	ip -n "$NS_HOST" link add "$ENV_UPLINK" type veth peer name up0 netns "$NS_NET" || return 1
	ip -n "$NS_NET" addr add "$ENV_NET_GW/24" dev up0 || return 1
	ip -n "$NS_NET" addr add "$ENV_INTERNET/32" dev lo || return 1
	ip -n "$NS_NET" link set up0 up || return 1
	ip -n "$NS_NET" route add unreachable 172.16.0.0/12 || return 1

	ip -n "$NS_HOST" addr add "$ENV_HOST_WAN/24" dev "$ENV_UPLINK" || return 1
	ip -n "$NS_HOST" link set "$ENV_UPLINK" up || return 1
	ip -n "$NS_HOST" route add default via "$ENV_NET_GW" || return 1

	env_count_internet || return 1
	env_serve "$NS_NET" "$ENV_INTERNET:80" internet || return 1
	env_serve "$NS_HOST" "$ENV_FORWARDER_PORT" forwarder || return 1
}

# Remember which parts of a path outside the work directory do not exist yet,
# deepest first, so that teardown removes only the directories this run made.
env_note_created_dir() {
	local dir=$1
	while [ ! -e "$dir" ]; do
		ENV_CREATED_DIRS+=("$dir")
		dir=$(dirname "$dir")
	done
}

# Start dockerd inside the host namespace, with every path of its own under
# the work directory, and wait for its API. Returns 1 with the reason on
# stderr when it does not come up.
env_start_dockerd() {
	local dir="$WORK/docker"
	mkdir -p "$dir" || return 1
	# With a config file of its own, whose key path points here, dockerd
	# 20.10 neither reads /etc/docker/daemon.json nor writes /etc/docker/key.json.
	printf '{ "deprecated-key-path": "%s" }\n' "$dir/key.json" >"$dir/daemon.json" || return 1
	if [ -S /run/containerd/containerd.sock ]; then
		echo "note: dockerd uses the containerd already running on this machine" \
			"(/run/containerd/containerd.sock)"
	fi
	# dockerd and containerd's shim create these fixed paths whatever the
	# other options say.
	env_note_created_dir /run/docker/plugins
	env_note_created_dir /run/containerd/s

	# The options set no registry and no IPv6 NAT. Containers resolve names
	# through an address of the net namespace, not this machine's resolver.
	nsenter --net="/var/run/netns/$NS_HOST" "$DOCKERD" \
		--config-file "$dir/daemon.json" \
		--data-root "$dir/data" \
		--exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" \
		-H "unix://$DOCKER_SOCK" \
		--bip "$ENV_DOCKER0_BIP" \
		--default-address-pool "base=$ENV_ADDRESS_POOL,size=24" \
		--dns "$ENV_RESOLVER" \
		--ip6tables=false \
		--cgroup-parent "/$ENV_ID" \
		>"$WORK/dockerd.log" 2>&1 &
	DOCKERD_PID=$!

	local waited=0
	until "$DOCKER_CLIENT" version >/dev/null 2>&1; do
		if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
			wait "$DOCKERD_PID"
			echo "dockerd exited with status $? before its API was up; the end of its log:" >&2
			tail -n 5 "$WORK/dockerd.log" >&2
			DOCKERD_PID=
			return 1
		fi
		if [ "$waited" -ge $((ENV_DOCKERD_START_TIMEOUT * 2)) ]; then
			echo "dockerd's API at $DOCKER_SOCK timed out after ${ENV_DOCKERD_START_TIMEOUT}s;" \
				"the end of its log:" >&2
			tail -n 5 "$WORK/dockerd.log" >&2
			return 1
		fi
		sleep 0.5
		waited=$((waited + 1))
	done
	CONTAINERD_PID=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null)
}

# Write a busybox root filesystem to a tar and import it: no registry is
# reachable, as on an air-gapped host. busybox-static's binary needs no
# libraries, so the image contains that one file and a link per applet.
env_build_image() {
	local rootfs="$WORK/rootfs" applet
	mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/etc" "$rootfs/www" || return 1
	cp /bin/busybox "$rootfs/bin/busybox" || return 1
	for applet in $(/bin/busybox --list); do
		[ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet" || return 1
	done
	tar -C "$rootfs" -cf "$WORK/rootfs.tar" . || return 1
	"$DOCKER_CLIENT" import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' "$WORK/rootfs.tar" "$ENV_IMAGE" >/dev/null
}

# Fail unless a process started with nsenter into the host namespace lands
# there, in a namespace other than the caller's and PID 1's, and the uplink
# exists there. The loader runs only after this check.
env_check_loader_ns() {
	local named inside own init
	named=$(stat -L -c %d:%i "/var/run/netns/$NS_HOST" 2>/dev/null) || {
		echo "namespace $NS_HOST does not exist; not running the loader" >&2
		return 1
	}
	inside=$(env_in "$NS_HOST" stat -L -c %d:%i /proc/self/ns/net) || return 1
	own=$(stat -L -c %d:%i /proc/self/ns/net) || return 1
	init=$(stat -L -c %d:%i /proc/1/ns/net 2>/dev/null) || init=none
	if [ "$inside" != "$named" ] || [ "$inside" = "$own" ] || [ "$inside" = "$init" ]; then
		echo "nsenter into $NS_HOST gives namespace $inside (named $named, caller $own, init $init);" \
			"not running the loader" >&2
		return 1
	fi
	if ! ip -n "$NS_HOST" link show dev "$ENV_UPLINK" >/dev/null 2>&1; then
		echo "$ENV_UPLINK is missing in $NS_HOST; not running the loader" >&2
		return 1
	fi
}

# Run airgap-bpf in the host namespace with this run's pin directory. The
# binary itself also refuses to attach outside a named namespace.
env_airgap() {
	env_check_loader_ns || return 1
	AIRGAP_BPF_REQUIRE_NETNS=1 env_in "$NS_HOST" "$AIRGAP_BIN" --pin-dir "$PIN_DIR" "$@"
}

# Start 'airgap-bpf watch' in the background. Teardown stops it.
env_start_watch() {
	env_check_loader_ns || return 1
	AIRGAP_BPF_REQUIRE_NETNS=1 nsenter --net="/var/run/netns/$NS_HOST" \
		"$AIRGAP_BIN" --pin-dir "$PIN_DIR" watch >"$WORK/watch.log" 2>&1 &
	WATCH_PID=$!
}

# Send SIGTERM to a process and wait up to SECONDS for it to end, then
# SIGKILL it. env_stop_pid PID SECONDS
env_stop_pid() {
	local pid=$1 seconds=$2 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < seconds * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "teardown: process $pid did not stop on SIGTERM within ${seconds}s; killing it" >&2
		kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

env_stop_docker() {
	if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
		local ids
		ids=$("$DOCKER_CLIENT" ps -aq 2>/dev/null)
		# shellcheck disable=SC2086 # one argument per container id
		[ -n "$ids" ] && "$DOCKER_CLIENT" rm -f $ids >/dev/null 2>&1
	fi
	env_stop_pid "$DOCKERD_PID" 30
	DOCKERD_PID=
	# dockerd stops the containerd it started, unless it had to be killed.
	env_stop_pid "$CONTAINERD_PID" 10
	CONTAINERD_PID=
}

# Remove everything this run made, in the order that frees each piece: the
# watcher, the containers and dockerd, the filter and its pins, the
# listeners, the namespaces, the cgroups and the directories.
env_teardown() {
	local pid ns dir mount

	env_stop_pid "${WATCH_PID:-}" 5
	WATCH_PID=
	env_stop_docker

	if [ -n "${PIN_DIR:-}" ] && [ -e "$PIN_DIR" ]; then
		if [ -e "/var/run/netns/$NS_HOST" ]; then
			env_airgap unload >/dev/null 2>&1 ||
				echo "teardown: airgap-bpf unload failed; removing $PIN_DIR anyway" >&2
		fi
		rm -rf "$PIN_DIR"
	fi

	for pid in "${ENV_PIDS[@]}"; do
		env_stop_pid "$pid" 5
	done
	ENV_PIDS=()

	for ns in "${ENV_CREATED_NS[@]}"; do
		ip netns del "$ns" 2>/dev/null || echo "teardown: failed to delete namespace $ns" >&2
	done
	ENV_CREATED_NS=()

	# The container cgroups are gone with the containers; their parent is not.
	if [ -n "${ENV_ID:-}" ]; then
		find /sys/fs/cgroup -maxdepth 2 -type d -name "$ENV_ID" -exec rmdir {} + 2>/dev/null
	fi

	if [ -n "${WORK:-}" ] && [ -d "$WORK" ]; then
		# A dockerd that was killed can leave overlay and shm mounts behind.
		findmnt -rn -o TARGET | grep -F "$WORK/" | sort -r | while read -r mount; do
			umount -l "$mount" || echo "teardown: failed to unmount $mount" >&2
		done
	fi
	# Deepest first. A directory that is not empty is in use by someone else.
	for dir in "${ENV_CREATED_DIRS[@]}"; do
		rmdir "$dir" 2>/dev/null
	done
	ENV_CREATED_DIRS=()
}

# Remove the work directory: the docker data root, logs and snapshots.
env_remove_work() {
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
	WORK=
}
