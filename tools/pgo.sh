#!/usr/bin/env bash
# Usage: tools/pgo.sh
#
# Build vmsim with profile-guided optimisation (PGO) into target/pgo/release/vmsim: an
# instrumented build runs a training set, LLVM merges the profile, and a second release build
# uses it to lay out and inline the hot paths. Results are those of the ordinary build, bit for
# bit (same source; tools/golden.sh compares the two); only the speed differs.
#
# The training set covers each kind of work without being either `vmsim bench` workload: uniform
# random accesses over 256 Ki pages (another size and seed than bench (b)), zipf, the listwalk
# and strsort traces (bench (a) replays matmul), the default system and the swap scenario.
#
# Needs the toolchain's llvm-profdata (the `llvm-tools` rustup component; installed here if
# missing; exits with status 3 if it cannot be had). Takes two release builds (about 4 minutes on
# 2 cores).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA="$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
  timeout 300 rustup component add llvm-tools >/dev/null 2>&1 ||
    timeout 300 rustup component add llvm-tools-preview >/dev/null 2>&1 || true
fi
if [ ! -x "$PROFDATA" ]; then
  echo "tools/pgo.sh: $PROFDATA not found (rustup component add llvm-tools)" >&2
  exit 3
fi

PROFILES="$ROOT/target/pgo-profiles"
rm -rf "$PROFILES"
mkdir -p "$PROFILES"

echo "== instrumented build" >&2
CARGO_TARGET_DIR="$ROOT/target/pgo-gen" RUSTFLAGS="-Cprofile-generate=$PROFILES" \
  cargo build --release --bin vmsim
GEN="$ROOT/target/pgo-gen/release/vmsim"

echo "== training" >&2
TRAIN="$ROOT/target/pgo-train"
rm -rf "$TRAIN"
train() {
  name=$1; shift
  "$GEN" run --quiet --out "$TRAIN/$name" "$@" > /dev/null
}
train random --workload random --set workload.pages=262144 --set os.frames=300000 \
  --set workload.accesses=524288 --set seed=7
train zipf --workload zipf --set workload.accesses=200000
train listwalk --trace tests/data/traces/listwalk.lackey.gz --format lackey
train strsort --trace tests/data/traces/strsort.lackey.gz --format lackey
train default
train swap --scenario sim/scenarios/swap.toml
"$PROFDATA" merge -o "$PROFILES/merged.profdata" "$PROFILES"/*.profraw

echo "== optimised build" >&2
CARGO_TARGET_DIR="$ROOT/target/pgo" RUSTFLAGS="-Cprofile-use=$PROFILES/merged.profdata" \
  VMSIM_PGO=1 cargo build --release --bin vmsim
echo "target/pgo/release/vmsim"
