#!/usr/bin/env bash
# make_traces.sh - regenerate the real Lackey traces in tests/data/traces/.
#
# Depends on: gcc (with static glibc, i.e. libc6-dev), valgrind (Lackey tool),
# gzip.  Run from anywhere:   bash tools/make_traces.sh
#
# The traces are COMMITTED because their exact contents depend on the versions
# of gcc, glibc and valgrind (and on the kernel's auxv/stack set-up): rerunning
# this script elsewhere may give different records and so different counts.
# The committed ones were made on Debian 12 with gcc 12.2.0, glibc 2.36 and
# valgrind 3.19.0.  After regenerating, regenerate the expected counts too:
# python3 tools/check_expected.py --write (then review the diff).
#
# What it makes (each NAME.lackey.gz keeps Valgrind's own `==PID==` header and
# footer lines, which consumers must skip; gzip -n so reruns are byte-stable
# apart from those PID lines):
#   matmul    tests/data/programs/matmul.c,   gcc -O1 -static
#   listwalk  tests/data/programs/listwalk.c, gcc -O1 -static
#   strsort   tests/data/programs/strsort.c,  gcc -O1 -static
#   bin_true  /bin/true (dynamically linked: mostly the dynamic loader)
#
# The programs are linked statically so that their traces are mostly the
# program itself rather than ld.so relocation; bin_true covers ld.so.
# Every program runs with an empty environment (env -i) and a fixed short
# argv[0] from a scratch directory, since both land on the initial stack and
# shift stack addresses.  matmul, listwalk and strsort then give the same
# records on every run here; bin_true does not quite: ld.so does 3 one-byte
# reads whose addresses change from run to run (table look-ups indexed by
# per-run random bytes, at ld.so+0x239c0), all within one stack page, so the
# counts do not change.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/tests/data/traces"
src="$repo/tests/data/programs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "make_traces: valgrind not found" >&2; exit 1; }
command -v gcc >/dev/null || { echo "make_traces: gcc not found" >&2; exit 1; }
mkdir -p "$out"

trace() {  # trace NAME PROGRAM...
    local name=$1; shift
    (cd "$work" && env -i valgrind --tool=lackey --trace-mem=yes \
        --log-file="$work/$name.log" "$@" >/dev/null)
    gzip -9n <"$work/$name.log" >"$out/$name.lackey.gz"
    printf '%-10s %8d lines %9d bytes gz\n' "$name" \
        "$(wc -l <"$work/$name.log")" "$(wc -c <"$out/$name.lackey.gz")"
}

for prog in matmul listwalk strsort; do
    gcc -O1 -static -o "$work/$prog" "$src/$prog.c"
    trace "$prog" "./$prog"
done
trace bin_true /bin/true
