#!/bin/bash
# Show that the differential test notices a change in the data plane. The
# script copies the committed tree (git HEAD) with the working tree's
# tests/model to a scratch directory and changes one behaviour of the BPF
# programs in the copy. It then builds the test there and runs it, and the
# run must fail and write a pcapng case. The source tree is never changed.
#
# Needs root, like the test. Each mutation rebuilds the BPF skeleton in the
# scratch build; the first build compiles the loader too (minutes on 2 cores).
set -euo pipefail

usage() {
	cat <<EOF
usage: $0 [--seed N] [--packets N] [--cases DIR] MUTATION...

Mutations:
  nd-any-hop-limit     neighbour discovery passes with any hop limit
  related-any-host     ICMP errors skip the check that the quoted packet
                       belongs to the host address the error is for
  dhcp-always          DHCP passes whether or not the setting allows it

--cases sets where the runs write their pcapng files (default: a new
directory under /tmp, printed at the end).
EOF
}

seed=1
packets=200000
cases=""
mutations=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seed) seed="$2"; shift 2 ;;
	--packets) packets="$2"; shift 2 ;;
	--cases) cases="$2"; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "error: unknown option $1" >&2; usage >&2; exit 1 ;;
	*) mutations+=("$1"); shift ;;
	esac
done
if [ ${#mutations[@]} -eq 0 ]; then
	usage >&2
	exit 1
fi

src=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d /tmp/airgap-mutation.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
if [ -z "$cases" ]; then
	cases=$(mktemp -d /tmp/airgap-mutation-cases.XXXXXX)
fi

# The file each mutation edits, and the sed expression that edits it. The
# expression must change the file, or the mutation is out of date.
mutation_file() {
	case "$1" in
	nd-any-hop-limit) echo bpf/lib/link.h ;;
	related-any-host) echo bpf/airgap.bpf.c ;;
	dhcp-always) echo bpf/lib/link.h ;;
	*) return 1 ;;
	esac
}

mutation_sed() {
	case "$1" in
	nd-any-hop-limit) echo 's/return pkt->hop_limit == 255;/return true;/' ;;
	related-any-host) echo 's/if (host\[0\] != quoted_host\[0\] ||/if (0 \&\& (host[0] != quoted_host[0] ||/; s/host\[3\] != quoted_host\[3\])/host[3] != quoted_host[3]))/; s/if (!same_addr(host, quoted_host))/if (0 \&\& !same_addr(host, quoted_host))/' ;;
	dhcp-always) echo 's/return settings && (settings->flags & AG_SETTING_DHCP);/return settings || true;/' ;;
	*) return 1 ;;
	esac
}

echo "copying $(git -C "$src" rev-parse --short HEAD) and tests/model to $scratch/src"
mkdir "$scratch/src"
git -C "$src" archive HEAD | tar -x -C "$scratch/src"
rm -rf "$scratch/src/tests/model"
cp -r "$src/tests/model" "$scratch/src/tests/model"
rm -rf "$scratch/src/tests/model/cases"
grep -q 'add_subdirectory(model)' "$scratch/src/tests/CMakeLists.txt" ||
	echo 'add_subdirectory(model)' >>"$scratch/src/tests/CMakeLists.txt"
cmake -S "$scratch/src" -B "$scratch/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

status=0
for mutation in "${mutations[@]}"; do
	if ! file=$(mutation_file "$mutation"); then
		echo "error: unknown mutation $mutation" >&2
		usage >&2
		exit 1
	fi
	git -C "$src" show "HEAD:$file" >"$scratch/original"
	cp "$scratch/original" "$scratch/src/$file"
	sed -i "$(mutation_sed "$mutation")" "$scratch/src/$file"
	if cmp -s "$scratch/original" "$scratch/src/$file"; then
		echo "error: mutation $mutation no longer applies to $file" >&2
		exit 1
	fi
	echo "== $mutation: $file changed as follows"
	diff -u "$scratch/original" "$scratch/src/$file" | tail -n +3 || true

	cmake --build "$scratch/build" --target airgap-model-tests -j2 >"$scratch/build.log" 2>&1 || {
		tail -30 "$scratch/build.log" >&2
		echo "error: the build with mutation $mutation failed" >&2
		exit 1
	}
	mkdir -p "$cases/$mutation"
	set +e
	"$scratch/build/tests/model/airgap-model-tests" --seed "$seed" --packets "$packets" \
		--cases "$cases/$mutation" >"$cases/$mutation/output.txt" 2>&1
	rc=$?
	set -e
	cp "$scratch/original" "$scratch/src/$file"

	written=$(find "$cases/$mutation" -name '*.pcapng' | sort)
	if [ "$rc" -eq 0 ] || [ -z "$written" ]; then
		echo "FAIL: the test did not notice mutation $mutation (exit code $rc)"
		status=1
		continue
	fi
	echo "ok: the test failed (exit code $rc) and wrote:"
	echo "$written" | sed 's/^/  /'
	grep -m 3 '^difference at' "$cases/$mutation/output.txt" | sed 's/^/  /' || true
done
echo "cases and output in $cases"
exit $status
