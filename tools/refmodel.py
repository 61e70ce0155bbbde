#!/usr/bin/env python3
"""refmodel.py - an independent reference model of vmsim's counting semantics.

It replays a Valgrind Lackey memory trace through a two-level TLB hierarchy
and an x86-64 4-level page table that is filled in on demand, and prints the
event counts that vmsim must reproduce (ARCHITECTURE.md section 5), as JSON
with sorted keys:

    python3 tools/refmodel.py TRACE [--set key=value ...]

It is written for clarity over speed, from the prose specification only (not
from vmsim's Rust code), with the Python standard library only.

The model (one process, default in-order front end, page-walk caches off):

* Trace records.  Lackey text: `I  addr,size` is an instruction fetch (kind X,
  and one instruction); ` L addr,size` a read (R); ` S addr,size` a write (W);
  ` M addr,size` a read then a write of the same bytes (two accesses: R, W).
  addr is hex without 0x, size decimal.  Lines starting with `==` (Valgrind's
  own messages) and blank lines are skipped.  Any other line is an error.
* An access (kind, va, size) touches every 4 KiB page that [va, va+size)
  overlaps; each page is translated separately, in address order.
* Translation of one page (vpn = va >> 12):
    L1 (ITLB for X, DTLB for R/W) hit            -> done
    L1 miss -> unified L2 hit                    -> fill the L1, done
    L2 miss -> page walk (walks += 1), reading one PTE per level top-down,
               one mem_ref per entry read, stopping at the first non-present
               entry (page fault) or after the present leaf PTE (success).
    success -> fill the L2, then the L1, done
    fault   -> minor fault: the OS creates the missing page-table pages and
               the leaf mapping; then the translation of this page is retried
               from the L1 lookup, and the retry's lookups count like any other.
               (Only this page is retried, not the pages of the same access
               translated before it: see tests/data/traces/README.md.)
* TLBs are set-associative, sets = entries / ways, set = vpn % sets, tag = vpn.
  "lru": a hit or a fill makes the entry most recent, the least recent is
  evicted.  "fifo": the entry filled longest ago is evicted; hits do not
  reorder.  L1 and L2 are non-inclusive: evicting from one does not touch the
  other.
"""

import argparse
import contextlib
import gzip
import io
import json
import re
import sys
from collections import OrderedDict

PAGE_SHIFT = 12  # 4 KiB pages

# Defaults: a Skylake-like geometry, true LRU everywhere.
DEFAULTS = OrderedDict([
    ("tlb.l1d.entries", 64),
    ("tlb.l1d.ways", 4),
    ("tlb.l1d.policy", "lru"),
    ("tlb.l1i.entries", 128),
    ("tlb.l1i.ways", 8),
    ("tlb.l1i.policy", "lru"),
    ("tlb.l2.entries", 1536),
    ("tlb.l2.ways", 12),
    ("tlb.l2.policy", "lru"),
])

POLICIES = ("lru", "fifo")


# ---------------------------------------------------------------------------
# TLB
# ---------------------------------------------------------------------------

class Tlb:
    """A set-associative TLB with per-set LRU or FIFO replacement.

    Each set is an OrderedDict whose keys are the tags (vpns) it holds, kept
    in replacement order: the first key is the next victim.  For LRU a hit or
    a fill moves the tag to the end (most recent); for FIFO only a fill puts a
    tag at the end, so the first key is the one filled longest ago.  Holding
    fewer than `ways` keys means some way is still invalid, and a fill uses it
    before evicting anything.
    """

    def __init__(self, name, entries, ways, policy):
        if entries <= 0 or ways <= 0:
            raise ValueError(f"{name}: entries and ways must be positive")
        if entries % ways != 0:
            raise ValueError(f"{name}: entries ({entries}) must be a multiple of ways ({ways})")
        if policy not in POLICIES:
            raise ValueError(f"{name}: policy must be one of {POLICIES}, not {policy!r}")
        self.name = name
        self.ways = ways
        self.num_sets = entries // ways
        self.policy = policy
        self.sets = [OrderedDict() for _ in range(self.num_sets)]
        self.lookups = 0
        self.hits = 0
        self.misses = 0

    def lookup(self, vpn):
        """Look vpn up, count a hit or a miss, and return True on a hit."""
        self.lookups += 1
        entries = self.sets[vpn % self.num_sets]
        if vpn in entries:
            self.hits += 1
            if self.policy == "lru":
                entries.move_to_end(vpn)  # a hit makes the entry most recent
            return True
        self.misses += 1
        return False

    def fill(self, vpn):
        """Insert vpn (known to be absent) as the most recently filled entry."""
        entries = self.sets[vpn % self.num_sets]
        # Fills only ever follow a miss in this TLB, so vpn cannot be present.
        assert vpn not in entries, f"{self.name}: fill of a present entry {vpn:#x}"
        if len(entries) == self.ways:
            entries.popitem(last=False)  # evict the LRU / oldest-filled entry
        entries[vpn] = None

    def counts(self):
        return {"lookups": self.lookups, "hits": self.hits, "misses": self.misses}


# ---------------------------------------------------------------------------
# Page table
# ---------------------------------------------------------------------------

def pt_indices(va):
    """The 4 page-table indices of va, top-down: PML4, PDPT, PD, PT."""
    return ((va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511)


class PageTable:
    """An x86-64 4-level page table, filled in on demand.

    Only presence matters for the counts, so the table is kept as one set per
    level holding the index paths of the present entries:
        level 0: (i4,)             PML4 entry present (a PDPT page exists)
        level 1: (i4, i3)          PDPT entry present (a PD page exists)
        level 2: (i4, i3, i2)      PD entry present (a PT page exists)
        level 3: (i4, i3, i2, i1)  PT entry present (the page is mapped)
    Initially only the PML4 page exists and all its entries are non-present.
    """

    def __init__(self):
        self.present = [set(), set(), set(), set()]

    def walk(self, va):
        """Read entries top-down for va.

        Returns (mem_refs, ok): the number of entries read, and whether the
        walk reached a present leaf PTE (ok) or stopped at a non-present
        entry (a page fault).
        """
        idx = pt_indices(va)
        for level in range(4):
            # Reading the entry at this level costs one memory reference.
            if idx[:level + 1] not in self.present[level]:
                return level + 1, False
        return 4, True

    def map(self, va):
        """Handle a fault: create every missing table on the path, and the leaf."""
        idx = pt_indices(va)
        for level in range(4):
            self.present[level].add(idx[:level + 1])


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------

class Model:
    def __init__(self, cfg):
        self.l1i = Tlb("tlb.l1i", cfg["tlb.l1i.entries"], cfg["tlb.l1i.ways"], cfg["tlb.l1i.policy"])
        self.l1d = Tlb("tlb.l1d", cfg["tlb.l1d.entries"], cfg["tlb.l1d.ways"], cfg["tlb.l1d.policy"])
        self.l2 = Tlb("tlb.l2", cfg["tlb.l2.entries"], cfg["tlb.l2.ways"], cfg["tlb.l2.policy"])
        self.page_table = PageTable()
        self.accesses = 0
        self.instructions = 0
        self.walks = 0
        self.mem_refs = 0
        self.minor_faults = 0
        self.pages = set()  # distinct vpns touched

    def translate_page(self, kind, vpn):
        """Translate one page for an access of kind 'X', 'R' or 'W'."""
        l1 = self.l1i if kind == "X" else self.l1d
        va = vpn << PAGE_SHIFT
        while True:  # one iteration, plus one retry after a page fault
            if l1.lookup(vpn):
                return
            if self.l2.lookup(vpn):
                l1.fill(vpn)
                return
            self.walks += 1
            refs, ok = self.page_table.walk(va)
            self.mem_refs += refs
            if ok:
                self.l2.fill(vpn)
                l1.fill(vpn)
                return
            # Non-present entry: a minor fault.  The OS maps the page (frames
            # are plentiful, nothing is ever evicted), then we retry.
            self.minor_faults += 1
            self.page_table.map(va)

    def access(self, kind, va, size):
        """One access: translate every page [va, va+size) overlaps, in order."""
        self.accesses += 1
        first = va >> PAGE_SHIFT
        last = (va + size - 1) >> PAGE_SHIFT
        for vpn in range(first, last + 1):
            self.pages.add(vpn)
            self.translate_page(kind, vpn)

    def counts(self):
        return {
            "accesses": self.accesses,
            "instructions": self.instructions,
            "pages_touched": len(self.pages),
            "tlb": {
                "l1i": self.l1i.counts(),
                "l1d": self.l1d.counts(),
                "l2": self.l2.counts(),
            },
            "walker": {"walks": self.walks, "mem_refs": self.mem_refs},
            "faults": {"minor": self.minor_faults},
        }


# ---------------------------------------------------------------------------
# Trace reading
# ---------------------------------------------------------------------------

class TraceError(Exception):
    pass


@contextlib.contextmanager
def open_trace(path):
    """Open a trace as text, plain or gzip (recognised by its magic bytes).

    The file is opened once and its first bytes peeked at, so that pipes and
    process substitutions work too (reopening them would lose data).
    """
    with open(path, "rb") as raw:
        if raw.peek(2)[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield io.TextIOWrapper(unzipped, encoding="ascii", newline="")
        else:
            yield io.TextIOWrapper(raw, encoding="ascii", newline="")


# Lackey's record tags and the access kinds they stand for.
RECORD_KINDS = {
    "I": ("X",),       # instruction fetch
    "L": ("R",),       # load
    "S": ("W",),       # store
    "M": ("R", "W"),   # modify: a read then a write of the same bytes
}


# Lackey prints `I  %08lx,%lu` for instructions and ` %c %08lx,%lu` for data:
# instruction records start with `I` and two spaces, data records with a
# space, the tag and a space.  Anything else that is not skipped is an error.
RECORD_RE = re.compile(r"(?:I | ([LSM])) ([0-9a-fA-F]+),([0-9]+)")


def parse_record(line, lineno, path):
    """Parse one Lackey record line into (tag, va, size); raise on anything else."""
    m = RECORD_RE.fullmatch(line)
    if m is None:
        raise TraceError(f"{path}:{lineno}: not a Lackey record: {line!r}")
    tag = m.group(1) or "I"
    va = int(m.group(2), 16)
    size = int(m.group(3), 10)
    if size == 0:
        # [va, va+0) overlaps no page; Lackey never printed one in our traces,
        # so treat it as malformed rather than guess a meaning.
        raise TraceError(f"{path}:{lineno}: zero-size access: {line!r}")
    return tag, va, size


def records(path):
    """Yield (tag, va, size) for every record of a trace, skipping `==` and blank lines."""
    with open_trace(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if line.startswith("==") or line.strip() == "":
                continue  # Valgrind's own messages, blank lines
            yield parse_record(line, lineno, path)


def run_many(path, cfgs):
    """Replay one trace through one independent model per config (one pass over the file)."""
    models = [Model(cfg) for cfg in cfgs]
    for tag, va, size in records(path):
        kinds = RECORD_KINDS[tag]
        for model in models:
            if tag == "I":
                model.instructions += 1
            for kind in kinds:
                model.access(kind, va, size)
    return [model.counts() for model in models]


def run(path, cfg):
    """Replay a trace with one config and return its counts."""
    return run_many(path, [cfg])[0]


# ---------------------------------------------------------------------------
# Configuration and command line
# ---------------------------------------------------------------------------

def parse_sets(pairs):
    """Turn ["key=value", ...] into a full config dict over DEFAULTS."""
    cfg = dict(DEFAULTS)
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        if key not in DEFAULTS:
            raise ValueError(f"unknown key {key!r}; known: {', '.join(DEFAULTS)}")
        if key.endswith(".policy"):
            cfg[key] = value
        else:
            cfg[key] = int(value, 10)
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", help="Lackey trace, plain text or gzip")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a parameter; keys: " + ", ".join(DEFAULTS))
    args = ap.parse_args(argv)
    try:
        cfg = parse_sets(args.set)
        counts = run(args.trace, cfg)
    except (ValueError, TraceError, OSError, UnicodeDecodeError) as e:
        print(f"refmodel: {e}", file=sys.stderr)
        return 2
    json.dump(counts, sys.stdout, sort_keys=True, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
