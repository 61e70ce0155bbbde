#!/bin/bash
# Usage: tools/golden.sh BINARY OUTDIR
#
# Runs a fixed set of configurations (random over 1 M pages, eviction, the default system, the
# matmul trace, zipf, pointer-chase on fixed DRAM, stride with PLRU and no PWC, the swap and
# DMA scenarios, a run without idle skipping, a VCD) with every output on, and writes one
# sha256 line per output file to OUTDIR/sums.txt. A performance change must leave the sums of
# its binary identical to those of the binary before it:
#
#   tools/golden.sh old/vmsim /tmp/g-old && tools/golden.sh target/release/vmsim /tmp/g-new
#   diff /tmp/g-old/sums.txt /tmp/g-new/sums.txt      # must print nothing
#
# Takes about two minutes.
set -e
BIN=$(realpath "$1"); OUT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$OUT"; mkdir -p "$OUT"; OUT=$(realpath "$OUT")
# Inputs by paths relative to the repository (config.toml records the trace's path), so that
# checkouts in different directories give the same sums.
cd "$ROOT"
run() {
  name=$1; shift
  "$BIN" run --quiet --out "$OUT/$name" --set output.events_csv=true "$@" > "$OUT/$name.stdout" 2>&1 \
    || echo "FAILED $name" >> "$OUT/failures"
}
run b100k --workload random --set workload.pages=1048576 --set os.frames=1100000 --set workload.accesses=100000
run bsmall --workload random --set workload.pages=65536 --set os.frames=20000 --set workload.accesses=200000
run default
run matmul --trace tests/data/traces/matmul.lackey.gz --format lackey
run zipf --workload zipf --set workload.accesses=200000
run chase --workload pointer-chase --set workload.accesses=100000 --set dram.model=fixed
run stride --workload stride --set workload.accesses=100000 --set tlb.l2.policy=plru --set walker.pwc.enabled=false
run swap --scenario sim/scenarios/swap.toml
run dma --scenario sim/scenarios/dma.toml
run noskip --workload random --set workload.pages=4096 --set os.frames=2000 --set workload.accesses=20000 --set engine.skip_idle=false
run vcd --workload random --set workload.pages=4096 --set workload.accesses=3000 --vcd "$OUT/vcd.vcd"
cd "$OUT"
find . -type f ! -name sums.txt ! -name '*.stdout' -print0 | sort -z | xargs -0 sha256sum > sums.txt
# Printed summaries too, without the host timing line and the output directory's name.
for f in *.stdout; do
  grep -v "^host:" "$f" | sed "s|$OUT|OUT|g" | sha256sum | sed "s|-|$f|" >> sums.txt
done
if [ -f failures ]; then cat failures; exit 1; fi
