#!/usr/bin/env python3
"""check_expected.py - verify (or regenerate) tests/data/expected/*.json with refmodel.

Each expected file is named TRACE__CONFIG.json and holds
    {"trace": "tests/data/traces/TRACE.lackey[.gz]",
     "set": {every tlb.* key -> value, policies as strings},
     "expected": {the counts refmodel prints}}
Paths are relative to the repository root.

    python3 tools/check_expected.py           # re-run refmodel on every file, exit 1 on any difference
    python3 tools/check_expected.py --write   # (re)write the files for every trace x CONFIGS below

The "set" of every file lists all nine tlb.* keys, so a consumer does not
depend on anyone's defaults.
"""

import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
sys.path.insert(0, HERE)
import refmodel  # noqa: E402

EXPECTED_DIR = os.path.join("tests", "data", "expected")
TRACES_DIR = os.path.join("tests", "data", "traces")


def tiny(policy):
    return {
        "tlb.l1d.entries": 8, "tlb.l1d.ways": 2, "tlb.l1d.policy": policy,
        "tlb.l1i.entries": 8, "tlb.l1i.ways": 2, "tlb.l1i.policy": policy,
        "tlb.l2.entries": 32, "tlb.l2.ways": 4, "tlb.l2.policy": policy,
    }


# The configurations the expected files are written for (only used by --write;
# checking reads the "set" stored in each file).
CONFIGS = {
    # Skylake-like defaults: 64-entry 4-way L1D, 128-entry 8-way L1I,
    # 1536-entry 12-way L2, all LRU.
    "default": dict(refmodel.DEFAULTS),
    # The same geometry with FIFO everywhere.
    "default_fifo": {k: ("fifo" if k.endswith(".policy") else v)
                     for k, v in refmodel.DEFAULTS.items()},
    # Tiny TLBs that stress replacement: L1s 4 sets x 2 ways, L2 8 sets x 4 ways.
    "tiny_lru": tiny("lru"),
    "tiny_fifo": tiny("fifo"),
    # Unusual shapes: a fully associative L1D (1 set), an L1I and an L2 whose
    # set counts are not powers of two (3 and 12: set = vpn % sets, not a bit
    # mask), and different policies per TLB.
    "mixed": {
        "tlb.l1d.entries": 8, "tlb.l1d.ways": 8, "tlb.l1d.policy": "lru",
        "tlb.l1i.entries": 6, "tlb.l1i.ways": 2, "tlb.l1i.policy": "fifo",
        "tlb.l2.entries": 48, "tlb.l2.ways": 4, "tlb.l2.policy": "fifo",
    },
}


def trace_name(path):
    base = os.path.basename(path)
    for suffix in (".lackey.gz", ".lackey"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    raise ValueError(f"not a .lackey[.gz] trace: {path}")


def config_from_set(settings):
    """The full refmodel config for a stored "set" (values as JSON types)."""
    return refmodel.parse_sets(f"{k}={v}" for k, v in settings.items())


def write_all():
    traces = sorted(glob.glob(os.path.join(ROOT, TRACES_DIR, "*.lackey")) +
                    glob.glob(os.path.join(ROOT, TRACES_DIR, "*.lackey.gz")))
    os.makedirs(os.path.join(ROOT, EXPECTED_DIR), exist_ok=True)
    for path in traces:
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        names = list(CONFIGS)
        results = refmodel.run_many(path, [config_from_set(CONFIGS[n]) for n in names])
        for cname, counts in zip(names, results):
            doc = {"trace": rel, "set": CONFIGS[cname], "expected": counts}
            out = os.path.join(ROOT, EXPECTED_DIR, f"{trace_name(path)}__{cname}.json")
            with open(out, "w", encoding="ascii") as f:
                json.dump(doc, f, sort_keys=True, indent=2)
                f.write("\n")
            print(f"wrote {os.path.relpath(out, ROOT)}")


def diff(expected, got, prefix=""):
    """List the differing leaves of two nested count dicts."""
    out = []
    for key in sorted(set(expected) | set(got)):
        e, g = expected.get(key), got.get(key)
        name = prefix + key
        if isinstance(e, dict) and isinstance(g, dict):
            out += diff(e, g, name + ".")
        elif e != g:
            out.append(f"{name}: expected {e}, refmodel {g}")
    return out


def check_all():
    files = sorted(glob.glob(os.path.join(ROOT, EXPECTED_DIR, "*.json")))
    if not files:
        print("check_expected: no expected files found", file=sys.stderr)
        return 1
    failures = 0
    start = time.monotonic()
    # Group the files by trace so each trace is read once for all its configs.
    docs = {}
    for path in files:
        with open(path, encoding="ascii") as f:
            doc = json.load(f)
        docs.setdefault(doc["trace"], []).append((path, doc))
    for trace, group in sorted(docs.items()):
        cfgs = [config_from_set(doc["set"]) for _, doc in group]
        results = refmodel.run_many(os.path.join(ROOT, trace), cfgs)
        for (path, doc), got in zip(group, results):
            problems = diff(doc["expected"], got)
            name = os.path.relpath(path, ROOT)
            if problems:
                failures += 1
                print(f"FAIL {name}")
                for p in problems:
                    print(f"    {p}")
            else:
                print(f"ok   {name}")
    elapsed = time.monotonic() - start
    print(f"{len(files) - failures} passed, {failures} failed")
    print(f"({elapsed:.1f} s)", file=sys.stderr)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="regenerate the expected files")
    args = ap.parse_args()
    if args.write:
        write_all()
        return 0
    return check_all()


if __name__ == "__main__":
    sys.exit(main())
