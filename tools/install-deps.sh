#!/usr/bin/env bash
# Install every Debian 12 package that building, testing and running the demo need.
set -euo pipefail

packages=(
	# build
	cmake make g++ clang llvm pkg-config bpftool
	libbpf-dev libelf-dev zlib1g-dev libmnl-dev
	libcli11-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev catch2
	# fuzzing: libFuzzer and the sanitizer runtimes of clang 14
	libclang-rt-14-dev
	# tests and demo
	iproute2 iptables kmod procps util-linux
	# kernel gate: Debian 12's 6.1 kernel booted under qemu
	qemu-system-x86 busybox-static cpio
	# the test against a real docker engine, which it starts itself
	docker.io
	# the benchmark (bench/run.sh) and what it measures against
	xdp-tools nftables gnuplot-nox ethtool python3
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: must run as root (it calls apt-get)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# Packages such as docker.io start their service on install; the tests
	# start their own instances inside network namespaces instead.
	no_start=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		no_start=1
	fi
	trap '[ -n "$no_start" ] && rm -f /usr/sbin/policy-rc.d' EXIT
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
