#!/usr/bin/env bash
# Kernel gate: boot Debian 12's own kernel under qemu (TCG) with an initramfs
# that loads the filter, and pass only if every check inside the guest passed.
#
# The development machine runs a much newer kernel whose verifier accepts
# programs that 6.1 rejects, so tests on the host alone cannot show that the
# filter works on the kernel it ships for.
#
# usage: run-gate.sh --airgap-bpf PATH --probe PATH [--prog-tests PATH] --work DIR
#
# Environment:
#   AIRGAP_BPF_KERNEL_CACHE  where the kernel package is kept between runs
#                            (default /var/cache/airgap-bpf/kernel)
#   AIRGAP_BPF_GATE_TIMEOUT  seconds qemu may run before it is killed (default 900)
#
# Exit status: 0 every check passed, 1 a check failed or the gate could not
# run, 77 (skip) qemu-system-x86_64 is not installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${AIRGAP_BPF_KERNEL_CACHE:-/var/cache/airgap-bpf/kernel}
qemu_timeout=${AIRGAP_BPF_GATE_TIMEOUT:-900}
# Modules the checks need, besides what the kernel has built in: veth,
# clsact (sch_ingress), the BPF classifier and the bridge. Their dependencies
# are resolved from the package's own modules.
modules=(veth sch_ingress cls_bpf bridge)
skip_status=77

airgap_bpf=
probe=
prog_tests=
work=

die()
{
	echo "kernel-gate: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--airgap-bpf) airgap_bpf=$2 ;;
	--probe) probe=$2 ;;
	--prog-tests) prog_tests=$2 ;;
	--work) work=$2 ;;
	*) die "unknown argument '$1'; usage: run-gate.sh --airgap-bpf PATH --probe PATH [--prog-tests PATH] --work DIR" ;;
	esac
	shift 2
done
if [ -z "$airgap_bpf" ] || [ -z "$probe" ] || [ -z "$work" ]; then
	die "missing argument; usage: run-gate.sh --airgap-bpf PATH --probe PATH [--prog-tests PATH] --work DIR"
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "kernel-gate: SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86)"
	exit "$skip_status"
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get download into $cache, mknod, BPF on the host)"
for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip ldd flock timeout; do
	command -v "$tool" >/dev/null || die "'$tool' is not installed; tools/install-deps.sh lists the packages"
done
# The guest has no C library of its own, so busybox must be the static build.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
	die "busybox-static is not installed (apt-get install busybox-static)"
for binary in "$airgap_bpf" "$probe" ${prog_tests:+"$prog_tests"}; do
	[ -x "$binary" ] || die "$binary is missing or not executable; build the project first"
done

# The movsx probe only shows that the gate bites if a kernel that supports
# ISA v4 (Linux 6.6 and later) accepts it. Loading it attaches nothing.
check_probe_on_host()
{
	local release major minor output
	release=$(uname -r)
	major=${release%%.*}
	minor=${release#*.}
	minor=${minor%%[!0-9]*}
	if output=$("$probe" movsx 2>&1); then
		echo "kernel-gate: host kernel $release accepts the movsx probe: $output"
	elif [ "$major" -gt 6 ] || { [ "$major" -eq 6 ] && [ "$minor" -ge 6 ]; }; then
		die "host kernel $release rejects the movsx probe, which 6.6 and later accept: $output"
	else
		echo "kernel-gate: NOTE: host kernel $release predates BPF ISA v4, so it cannot confirm the movsx probe is valid"
	fi
}

# Print the kernel image package that linux-image-amd64 depends on and its
# candidate version, as "PACKAGE VERSION", or nothing when apt lists neither.
kernel_candidate()
{
	local package version
	package=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$package" ] || return 0
	version=$(apt-cache policy "$package" | awk '$1 == "Candidate:" { print $2 }')
	if [ -n "$version" ] && [ "$version" != "(none)" ]; then
		echo "$package $version"
	fi
}

# Download PACKAGE=VERSION into the cache as DEB. Returns non-zero on failure.
download_kernel()
{
	local package=$1 version=$2 deb=$3 tmp status=0
	# Download next to the cache and rename, so an interrupted download never
	# looks like a cached package. apt's sandbox user cannot write into a
	# directory owned by root, hence the sandbox setting.
	tmp=$(mktemp -d "$cache/download.XXXXXX")
	if (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "$package=$version" >&2); then
		mv "$tmp"/*.deb "$deb"
	else
		status=1
	fi
	rm -rf "$tmp"
	return "$status"
}

# Make sure the cache has the current Debian 12 kernel package and print its
# path. Stale or missing apt lists get one 'apt-get update'.
fetch_kernel()
{
	local attempt candidate package version deb
	for attempt in 1 2; do
		candidate=$(kernel_candidate)
		if [ -n "$candidate" ]; then
			read -r package version <<<"$candidate"
			deb="$cache/${package}_${version//:/%3a}_amd64.deb"
			if [ -f "$deb" ]; then
				echo "kernel-gate: using cached $deb" >&2
				echo "$deb"
				return
			fi
			if download_kernel "$package" "$version" "$deb"; then
				# Keep only the current kernel, because each package is about 70 MB.
				find "$cache" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$deb" -delete
				echo "kernel-gate: downloaded $deb" >&2
				echo "$deb"
				return
			fi
		fi
		if [ "$attempt" -eq 1 ]; then
			echo "kernel-gate: no kernel package downloaded; running apt-get update and trying again" >&2
			apt-get update -q >&2
		fi
	done
	die "cannot download the kernel package that linux-image-amd64 depends on (${candidate:-apt lists none})"
}

# Copy a binary's shared libraries and the dynamic loader into the root, at
# the paths ldd names.
copy_libraries()
{
	local root=$1 binary=$2 lib
	for lib in $(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# Print the module files, relative to the module tree, that insmod must load
# in this order for the modules above.
module_load_order()
{
	local tree=$1 release=$2 module
	for module in "${modules[@]}"; do
		modprobe -d "$tree" -S "$release" --show-depends "$module" ||
			die "modprobe cannot resolve module $module of $release"
	done | awk -v prefix="$tree/lib/modules/$release/" '
		$1 == "insmod" && !seen[$2]++ { print substr($2, length(prefix) + 1) }'
}

build_initramfs()
{
	local tree=$1 release=$2 root=$3 output=$4 applet binary module
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var,gate}
	# The kernel opens /dev/console for init before devtmpfs is mounted.
	mknod -m 600 "$root/dev/console" c 5 1

	cp /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		# iproute2's ip replaces busybox's, which lacks 'ip netns'.
		[ "$applet" = busybox ] || [ "$applet" = ip ] || ln -s busybox "$root/bin/$applet"
	done
	cp "$(command -v ip)" "$root/usr/sbin/ip"
	copy_libraries "$root" "$root/usr/sbin/ip"

	cp "$airgap_bpf" "$root/usr/bin/airgap-bpf"
	cp "$probe" "$root/usr/bin/verifier_probe"
	if [ -n "$prog_tests" ]; then
		cp "$prog_tests" "$root/usr/bin/airgap-prog-tests"
	fi
	for binary in "$root"/usr/bin/*; do
		copy_libraries "$root" "$binary"
	done

	module_load_order "$tree" "$release" >"$root/gate/modules.list"
	[ -s "$root/gate/modules.list" ] || die "no module files found for: ${modules[*]}"
	while read -r module; do
		mkdir -p "$root/lib/modules/$release/$(dirname "$module")"
		cp "$tree/lib/modules/$release/$module" "$root/lib/modules/$release/$module"
	done <"$root/gate/modules.list"

	cp "$here/policy.toml" "$root/gate/policy.toml"
	install -m 755 "$here/init.sh" "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$output"
}

# Names of every check init.sh reports; each must come back PASS exactly once.
expected_checks()
{
	local mode check
	echo modules possible-cpus topology topology-peer-ping topology-routed-ping
	for mode in native generic; do
		for check in load uplink-xdp uplink-egress bridge-ingress bridge-egress \
			allow-in-ping no-rule-ping forward-ping routed-ping \
			count-allow-in count-forward count-reply count-no-rule count-not-to-host \
			new-bridge-ingress new-bridge-egress unload detached; do
			echo "$mode-$check"
		done
	done
	[ -z "$prog_tests" ] || echo prog-tests
	echo verifier-accepts-baseline verifier-rejects-movsx
}

# Judge the serial log; print a summary and return non-zero on any failure.
judge_log()
{
	local log=$1 release=$2 failures=0 name lines booted

	booted=$(awk '$1 == "GATE-KERNEL" { print $2; exit }' "$log")
	if [ "$booted" != "$release" ]; then
		echo "kernel-gate: FAIL: the guest reports kernel '${booted:-none}', expected $release"
		failures=$((failures + 1))
	fi

	for name in $(expected_checks); do
		lines=$(awk -v name="$name" '$1 == "GATE-RESULT" && $2 == name' "$log")
		if [ -z "$lines" ]; then
			echo "kernel-gate: FAIL: no result for check $name"
			failures=$((failures + 1))
		elif [ "$(echo "$lines" | wc -l)" -ne 1 ]; then
			echo "kernel-gate: FAIL: check $name reported more than once"
			failures=$((failures + 1))
		elif [ "$(echo "$lines" | awk '{ print $3 }')" != PASS ]; then
			echo "kernel-gate: FAIL: $lines"
			failures=$((failures + 1))
		fi
	done
	# A check the list above does not know is a mismatch between the two
	# scripts; a failing one must not go unnoticed either.
	while read -r name; do
		if ! expected_checks | tr ' ' '\n' | grep -qx -- "$name"; then
			echo "kernel-gate: FAIL: unexpected check $name"
			failures=$((failures + 1))
		fi
	done < <(awk '$1 == "GATE-RESULT" { print $2 }' "$log")
	if ! grep -qx GATE-DONE "$log"; then
		echo "kernel-gate: FAIL: the guest never printed GATE-DONE (crash, hang or timeout)"
		failures=$((failures + 1))
	fi
	[ "$failures" -eq 0 ]
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

check_probe_on_host
deb=$(fetch_kernel)

rm -rf "$work"
mkdir -p "$work"
tree="$work/kernel"
dpkg-deb -x "$deb" "$tree"
release=$(ls "$tree/lib/modules")
[ "$(echo "$release" | wc -l)" -eq 1 ] || die "expected one module tree in $deb, found: $release"
# The package leaves modules.dep to its postinst; make it for the scratch copy.
depmod -b "$tree" "$release"
flock -u 9

kernel_image="$tree/boot/vmlinuz-$release"
initramfs="$work/initramfs.cpio.gz"
log="$work/serial.log"
build_initramfs "$tree" "$release" "$work/root" "$initramfs"
# The initramfs has the modules it needs; the rest of the tree is about 400 MB.
rm -rf "${tree:?}/lib" "${tree:?}/usr"
echo "kernel-gate: booting $(basename "$deb") ($(du -h "$initramfs" | cut -f 1) initramfs), serial log $log"

start=$(date +%s)
set +e
timeout -k 10 "$qemu_timeout" qemu-system-x86_64 \
	-accel tcg -m 1G -smp 2,maxcpus=4 \
	-nographic -no-reboot -nic none -monitor none \
	-serial "file:$log" \
	-kernel "$kernel_image" -initrd "$initramfs" \
	-append "console=ttyS0 panic=-1 quiet" </dev/null
qemu_status=$?
set -e
elapsed=$(($(date +%s) - start))
if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
	echo "kernel-gate: qemu timed out after ${qemu_timeout}s"
fi

# The serial log has CRLF line ends and the firmware's terminal escape codes.
results="$work/gate.log"
sed -E 's/\r$//; s/\x1b(\[[0-9;?]*[A-Za-z]|c)//g' "$log" >"$results"
grep '^GATE-' "$results" || true
# The guest's uptime at init and at the end: under TCG the guest clock
# follows the host's, so these are wall-clock seconds too.
awk -v wall="$elapsed" '
	$1 == "GATE-KERNEL" { kernel = $2 }
	$1 == "GATE-UPTIME" && $2 == "init" { boot = $3 }
	$1 == "GATE-UPTIME" && $2 == "done" { done_at = $3 }
	END {
		printf "kernel-gate: booted %s: boot %s s, checks %s s, qemu %d s in all\n",
			kernel ? kernel : "nothing", boot != "" ? boot : "?",
			(boot != "" && done_at != "") ? sprintf("%.1f", done_at - boot) : "?", wall
	}' "$results"

if judge_log "$results" "$release"; then
	echo "kernel-gate: PASS: $(expected_checks | wc -w) checks on $release"
	exit 0
fi
echo "kernel-gate: the full serial log is $log"
exit 1
