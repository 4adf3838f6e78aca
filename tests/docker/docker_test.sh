#!/usr/bin/env bash
# Integration test of airgap-bpf against a real docker engine. Debian's
# docker.io runs inside a simulated host's network namespace (docker_env.sh),
# with containers on docker0 and on user networks, and busybox's wget, nslookup
# and ping inside the containers show what the filter blocks and what it lets
# through. Each path is first shown to work without the filter. Prints one PASS
# or FAIL line per check and exits 1 if any failed, 77 if this machine cannot
# install or run docker.
#
# usage: docker_test.sh AIRGAP_BPF_BINARY
set -u -o pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 AIRGAP_BPF_BINARY" >&2
	exit 2
fi

STARTED=$SECONDS
PASSED=0
FAILED=0
SKIP_REASON=

skip() {
	SKIP_REASON="$*"
	exit 77
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
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces, BPF and dockerd"
for tool in ip nsenter iptables iptables-save ip6tables-save sysctl stat findmnt tar diff apt-get; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (tools/install-deps.sh installs it)"
done
# The image contains one busybox binary, which must need no shared libraries.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
	skip "busybox-static is not installed (tools/install-deps.sh installs it)"
[ -x "$1" ] || { echo "FAIL airgap-bpf binary $1 is not executable"; exit 1; }

# shellcheck source=tests/docker/docker_env.sh
source "$(dirname "$0")/docker_env.sh"
env_init "$1" || exit 1

# Tear down on every exit, then check that this machine's own network
# namespace is as it was, and print the summary.
finish() {
	local status=$?
	trap - EXIT INT TERM
	echo "== teardown"
	env_teardown
	if [ -n "$ENV_ROOT_STATE_BEFORE" ]; then
		local difference
		if difference=$(env_check_caller_netns); then
			pass "this machine's own network namespace is unchanged (iptables, links, addresses, routes, sysctls)"
		else
			fail "this machine's own network namespace is unchanged" "$difference"
		fi
	fi
	env_remove_work
	echo "took $((SECONDS - STARTED)) s"
	if [ "$status" -eq 77 ] && [ "$FAILED" -eq 0 ]; then
		echo "SKIP: $SKIP_REASON"
		exit 77
	fi
	echo "$PASSED passed, $FAILED failed"
	if [ "$FAILED" -gt 0 ] || [ "$status" -ne 0 ]; then
		exit 1
	fi
	exit 0
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

env_record_caller_netns

if ! ip netns add "$ENV_ID-try" 2>/dev/null; then
	skip "cannot create network namespaces here"
fi
ip netns del "$ENV_ID-try"

# --- Probes. A path without a reply within 2 to 3 s counts as blocked: ping
# waits 2 s for its reply, and busybox's timeout ends wget and nslookup after
# 3 s. The wget of busybox-static 1:1.35.0-4+deb12u1 has no -T and crashes
# with SIGSEGV when given one, and nslookup retries on its own.

# http_get CONTAINER URL: print the body that busybox wget fetches in the
# container. Fails when nothing comes back.
http_get() {
	"$DOCKER_CLIENT" exec "$1" timeout 3 wget -q -O - "$2" 2>/dev/null
}

# check_http_pass WHAT CONTAINER URL BODY: the page comes back.
check_http_pass() {
	local what=$1 body
	body=$(http_get "$2" "$3")
	if [ "$body" = "$4" ]; then
		pass "$what passes"
	else
		fail "$what passes" "expected the body '$4' from $3, got '$body'"
	fi
}

# check_http_blocked WHAT CONTAINER URL: no page comes back.
check_http_blocked() {
	local what=$1 body
	if body=$(http_get "$2" "$3"); then
		fail "$what is blocked" "$3 answered '$body'"
	else
		pass "$what is blocked"
	fi
}

# check_ping WHAT CONTAINER ADDR pass|blocked: one ICMP echo round trip.
check_ping() {
	local what="$1 (ping)" container=$2 addr=$3 expected=$4 result=blocked
	"$DOCKER_CLIENT" exec "$container" timeout 4 ping -c 1 -W 2 "$addr" >/dev/null 2>&1 && result=pass
	if [ "$result" = pass ] && [ "$expected" = pass ]; then
		pass "$what passes"
	elif [ "$result" = blocked ] && [ "$expected" = blocked ]; then
		pass "$what is blocked"
	else
		fail "$what expected $expected" "got $result"
	fi
}

# check_internet WHEN CONTAINER pass|blocked: the container's tcp/80, udp/53
# and ICMP echo to the Internet address arrive there (pass) or not (blocked).
# What arrives is counted in the net namespace, so a request that got out but
# whose reply was dropped still counts as a leak.
check_internet() {
	local when=$1 container=$2 expected=$3
	local what="$when: $container -> Internet $ENV_INTERNET"
	local before after body rc

	before=$(env_internet_packets tcp)
	body=$(http_get "$container" "http://$ENV_INTERNET/")
	rc=$?
	after=$(env_internet_packets tcp)
	if [ "$expected" = pass ]; then
		if [ "$rc" -eq 0 ] && [ "$body" = internet ] && [ "$after" -gt "$before" ]; then
			pass "$what tcp/80 passes"
		else
			fail "$what tcp/80 passes" "wget exit $rc, body '$body', $((after - before)) packet(s) arrived"
		fi
	else
		if [ "$after" -eq "$before" ] && [ "$rc" -ne 0 ]; then
			pass "$what tcp/80 is blocked"
		else
			fail "$what tcp/80 is blocked" "wget exit $rc, body '$body', $((after - before)) packet(s) arrived"
		fi
	fi

	# No DNS server runs there, so the query arriving is what counts.
	before=$(env_internet_packets udp)
	"$DOCKER_CLIENT" exec "$container" timeout 3 nslookup probe.example "$ENV_INTERNET" >/dev/null 2>&1
	after=$(env_internet_packets udp)
	if [ "$expected" = pass ] && [ "$after" -gt "$before" ]; then
		pass "$what udp/53 arrives"
	elif [ "$expected" = blocked ] && [ "$after" -eq "$before" ]; then
		pass "$what udp/53 is blocked"
	else
		fail "$what udp/53 expected $expected" "$((after - before)) packet(s) arrived"
	fi

	before=$(env_internet_packets icmp)
	rc=0
	"$DOCKER_CLIENT" exec "$container" timeout 4 ping -c 1 -W 2 "$ENV_INTERNET" >/dev/null 2>&1 || rc=$?
	after=$(env_internet_packets icmp)
	if [ "$expected" = pass ] && [ "$rc" -eq 0 ] && [ "$after" -gt "$before" ]; then
		pass "$what icmp echo passes"
	elif [ "$expected" = blocked ] && [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
		pass "$what icmp echo is blocked"
	else
		fail "$what icmp echo expected $expected" "ping exit $rc, $((after - before)) packet(s) arrived"
	fi
}

# check_internet_port WHEN CONTAINER PORT pass|blocked: a TCP SYN to another
# port of the Internet address arrives there or not (nothing listens there).
check_internet_port() {
	local what="$1: $2 -> Internet $ENV_INTERNET tcp/$3" container=$2 port=$3 expected=$4 before after
	before=$(env_internet_packets tcp)
	http_get "$container" "http://$ENV_INTERNET:$port/" >/dev/null
	after=$(env_internet_packets tcp)
	if [ "$expected" = pass ] && [ "$after" -gt "$before" ]; then
		pass "$what arrives"
	elif [ "$expected" = blocked ] && [ "$after" -eq "$before" ]; then
		pass "$what is blocked"
	else
		fail "$what expected $expected" "$((after - before)) packet(s) arrived"
	fi
}

# check_published WHEN pass|blocked: a client in the net namespace fetches
# the page of the container behind the published port.
check_published() {
	local what="$1: net -> published port $ENV_HOST_WAN:$ENV_PUBLISHED_PORT (c1:80)" expected=$2 body rc=0
	body=$(env_in "$NS_NET" timeout 3 busybox wget -q -O - \
		"http://$ENV_HOST_WAN:$ENV_PUBLISHED_PORT/" 2>/dev/null) || rc=$?
	if [ "$expected" = pass ] && [ "$body" = c1 ]; then
		pass "$what passes"
	elif [ "$expected" = blocked ] && [ "$rc" -ne 0 ]; then
		pass "$what is blocked"
	else
		fail "$what expected $expected" "wget exit $rc, body '$body'"
	fi
}

# --- Containers and networks

# start_container NAME NETWORK [DOCKER RUN OPTIONS]: a container whose httpd
# serves its own name on port 80.
start_container() {
	local name=$1 network=$2
	shift 2
	"$DOCKER_CLIENT" run -d --pull never --name "$name" --network "$network" "$@" "$ENV_IMAGE" \
		sh -c "echo $name >/www/index.html && exec httpd -f -p 80 -h /www" >/dev/null || return 1
	# Wait, at most 10 s, until the server replies inside the container.
	local i
	for ((i = 0; i < 20; i++)); do
		[ "$(http_get "$name" http://127.0.0.1/)" = "$name" ] && return 0
		sleep 0.5
	done
	echo "the httpd of container $name did not reply within 10 s" >&2
	return 1
}

container_addr() {
	"$DOCKER_CLIENT" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}

network_gateway() {
	"$DOCKER_CLIENT" network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' "$1"
}

# docker names the bridge of a user network br- and the network id's first 12
# characters.
network_bridge() {
	local id
	id=$("$DOCKER_CLIENT" network inspect -f '{{.Id}}' "$1") || return 1
	echo "br-${id:0:12}"
}

# rule_packets NAME: print the packets a rule admitted, from the Prometheus
# output of stats, or why stats failed.
rule_packets() {
	local output rc=0
	output=$(env_airgap stats --format prometheus 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "stats exited with status $rc: $output"
		return 1
	fi
	awk -v name="name=\"$1\"" 'index($0, "airgap_rule_packets_total{") == 1 && index($0, name) { print $2 }' \
		<<<"$output"
}

# --- The engine

echo "== docker engine"
env_install_docker 2>"$WORK/install.err" ||
	skip "cannot install Debian's docker.io with apt-get: $(tr '\n' ' ' <"$WORK/install.err")"
env_create_topology || abort "build the namespace topology (namespaces $ENV_ID-*)"
pass "topology built (namespaces $ENV_ID-*)"
env_start_dockerd 2>"$WORK/dockerd.err" ||
	skip "dockerd cannot start in namespace $NS_HOST: $(tr '\n' ' ' <"$WORK/dockerd.err")"
echo "docker $("$DOCKER_CLIENT" version -f 'client {{.Client.Version}}, engine {{.Server.Version}}')"
pass "dockerd runs in namespace $NS_HOST (pid $DOCKERD_PID)"
env_build_image || abort "import the busybox image $ENV_IMAGE from a tar"
pass "imported $ENV_IMAGE from a busybox-static tar"
if ! smoke=$("$DOCKER_CLIENT" run --rm --pull never "$ENV_IMAGE" true 2>&1); then
	skip "the engine cannot run a container here: $smoke"
fi

if [ "$(ip -n "$NS_HOST" -4 -o addr show dev docker0 | awk '{ print $4 }')" = "$ENV_DOCKER0_BIP" ]; then
	pass "docker0 has $ENV_DOCKER0_BIP inside the host namespace"
else
	abort "docker0 has $ENV_DOCKER0_BIP inside the host namespace" \
		"$(ip -n "$NS_HOST" -4 -o addr show dev docker0 2>&1)"
fi

NET1=compose-default
"$DOCKER_CLIENT" network create "$NET1" >/dev/null || abort "docker network create $NET1"
BRIDGE1=$(network_bridge "$NET1") || abort "find the bridge of $NET1"
GW1=$(network_gateway "$NET1")
pass "user network $NET1: bridge $BRIDGE1, gateway $GW1"

start_container c1 bridge -p "$ENV_PUBLISHED_PORT:80" || abort "start c1 on docker0 with -p $ENV_PUBLISHED_PORT:80"
start_container c2 bridge || abort "start c2 on docker0"
start_container c3 "$NET1" || abort "start c3 on $NET1"
start_container c4 "$NET1" || abort "start c4 on $NET1"
C1=$(container_addr c1)
C2=$(container_addr c2)
C3=$(container_addr c3)
C4=$(container_addr c4)
pass "containers c1 $C1, c2 $C2 on docker0; c3 $C3, c4 $C4 on $NET1"

FORWARDER0="http://$ENV_DOCKER0_ADDR:$ENV_FORWARDER_PORT/"
FORWARDER1="http://$GW1:$ENV_FORWARDER_PORT/"

# --- Every path works before the filter, so each check below can fail.

echo "== without the filter"
failed_before=$FAILED
check_internet "no filter" c1 pass
check_internet "no filter" c3 pass
check_internet_port "no filter" c1 "$ENV_FORWARDER_PORT" pass
check_http_pass "no filter: c1 -> host forwarder $FORWARDER0" c1 "$FORWARDER0" forwarder
check_http_pass "no filter: c2 -> host forwarder $FORWARDER0" c2 "$FORWARDER0" forwarder
check_http_pass "no filter: c3 -> host forwarder $FORWARDER1" c3 "$FORWARDER1" forwarder
check_http_pass "no filter: c4 -> host forwarder $FORWARDER1" c4 "$FORWARDER1" forwarder
check_published "no filter" pass
check_http_pass "no filter: c1 -> c2 tcp/80" c1 "http://$C2/" c2
check_http_pass "no filter: c3 -> c4 tcp/80" c3 "http://$C4/" c4
[ "$FAILED" -eq "$failed_before" ] || abort "every path works without the filter"

# --- The filter

echo "== load"
env_check_loader_ns || abort "the loader runs in the host namespace $NS_HOST"
pass "the loader runs in the host namespace $NS_HOST, not in this one"
load_output=$(env_airgap load "$ENV_UPLINK" --bridge docker0 --bridge 'br-*' 2>&1) ||
	abort "airgap-bpf load $ENV_UPLINK --bridge docker0 --bridge 'br-*'" "$load_output"
pass "airgap-bpf load $ENV_UPLINK --bridge docker0 --bridge 'br-*'"
status_output=$(env_airgap status 2>&1)
for bridge in docker0 "$BRIDGE1"; do
	if grep -q "^bridge $bridge (index" <<<"$status_output"; then
		pass "status lists bridge $bridge as hooked"
	else
		fail "status lists bridge $bridge as hooked" "$status_output"
	fi
done
if grep -q MISSING <<<"$status_output"; then
	fail "status lists no missing hook" "$status_output"
else
	pass "status lists no missing hook"
fi
env_start_watch || abort "start airgap-bpf watch"
pass "airgap-bpf watch runs (pid $WATCH_PID)"

echo "== with the filter"
check_internet "filter" c1 blocked
check_internet "filter" c3 blocked
check_http_blocked "filter, no forward: c1 -> host forwarder $FORWARDER0" c1 "$FORWARDER0"
check_http_blocked "filter, no forward: c3 -> host forwarder $FORWARDER1" c3 "$FORWARDER1"
check_published "filter" blocked
check_http_pass "filter: c1 -> c2 tcp/80" c1 "http://$C2/" c2
check_http_pass "filter: c2 -> c1 tcp/80" c2 "http://$C1/" c1
check_ping "filter: c1 -> c2" c1 "$C2" pass
check_http_pass "filter: c3 -> c4 tcp/80" c3 "http://$C4/" c4
check_ping "filter: c4 -> c3" c4 "$C3" pass

echo "== forwards"
for rule in "c1 $C1" "c3 $C3"; do
	read -r name addr <<<"$rule"
	output=$(env_airgap forward add tcp "$ENV_FORWARDER_PORT" --from "$addr" --name "fwd-$name" 2>&1) ||
		abort "airgap-bpf forward add tcp $ENV_FORWARDER_PORT --from $addr --name fwd-$name" "$output"
	pass "airgap-bpf forward add tcp $ENV_FORWARDER_PORT --from $addr --name fwd-$name"
done
check_http_pass "forward: c1 -> host forwarder $FORWARDER0" c1 "$FORWARDER0" forwarder
check_http_pass "forward: c3 -> host forwarder $FORWARDER1" c3 "$FORWARDER1" forwarder
check_http_blocked "forward of c1 only: c2 -> host forwarder $FORWARDER0" c2 "$FORWARDER0"
check_http_blocked "forward of c3 only: c4 -> host forwarder $FORWARDER1" c4 "$FORWARDER1"
check_internet_port "forward of tcp/$ENV_FORWARDER_PORT" c1 "$ENV_FORWARDER_PORT" blocked
check_internet "forward" c1 blocked
for name in fwd-c1 fwd-c3; do
	packets=$(rule_packets "$name")
	if [[ "$packets" =~ ^[0-9]+$ ]] && [ "$packets" -gt 0 ]; then
		pass "rule $name counted $packets packet(s)"
	else
		fail "rule $name counted packets" "stats shows '$packets'"
	fi
done

echo "== network created after the load"
NET2=compose-late
"$DOCKER_CLIENT" network create "$NET2" >/dev/null || abort "docker network create $NET2"
BRIDGE2=$(network_bridge "$NET2") || abort "find the bridge of $NET2"
GW2=$(network_gateway "$NET2")
# watch hooks the bridge when it appears, and the containers start only after that.
hooked=
for ((i = 0; i < 30; i++)); do
	if env_airgap status 2>/dev/null | grep -q "^bridge $BRIDGE2 (index"; then
		hooked=1
		break
	fi
	sleep 0.5
done
if [ -n "$hooked" ]; then
	pass "watch hooked $BRIDGE2 of $NET2"
else
	abort "watch hooked $BRIDGE2 of $NET2 within 15 s" "$(cat "$WORK/watch.log")"
fi
start_container c5 "$NET2" || abort "start c5 on $NET2"
start_container c6 "$NET2" || abort "start c6 on $NET2"
C5=$(container_addr c5)
C6=$(container_addr c6)
pass "containers c5 $C5, c6 $C6 on $NET2"
check_internet "filter, late network" c5 blocked
check_http_blocked "filter, late network: c5 -> host forwarder http://$GW2:$ENV_FORWARDER_PORT/" c5 \
	"http://$GW2:$ENV_FORWARDER_PORT/"
check_http_pass "filter, late network: c5 -> c6 tcp/80" c5 "http://$C6/" c6

echo "== forward removed"
output=$(env_airgap forward del fwd-c1 2>&1) || fail "airgap-bpf forward del fwd-c1" "$output"
check_http_blocked "forward removed: c1 -> host forwarder $FORWARDER0" c1 "$FORWARDER0"
check_http_pass "other forward kept: c3 -> host forwarder $FORWARDER1" c3 "$FORWARDER1" forwarder

# --- After unload every path works again: the blocks above came from the
# filter, the late network included.

echo "== unload"
env_stop_pid "$WATCH_PID" 5
WATCH_PID=
output=$(env_airgap unload 2>&1) || abort "airgap-bpf unload" "$output"
pass "airgap-bpf unload"
env_airgap status >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 3 ]; then pass "status exits 3 after unload"; else fail "status exits 3 after unload" "exit $rc"; fi

echo "== after unload"
check_internet "unloaded" c5 pass
check_internet "unloaded" c1 pass
check_published "unloaded" pass
check_http_pass "unloaded: c2 -> host forwarder $FORWARDER0" c2 "$FORWARDER0" forwarder
check_http_pass "unloaded: c5 -> host forwarder http://$GW2:$ENV_FORWARDER_PORT/" c5 \
	"http://$GW2:$ENV_FORWARDER_PORT/" forwarder
