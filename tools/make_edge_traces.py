#!/usr/bin/env python3
"""make_edge_traces.py - write the hand-made edge-case traces tests/data/traces/edge_*.lackey.

Lackey text has no comment syntax, so what each trace is for is described in
tests/data/traces/README.md (and briefly below).  Rerunning this script
rewrites the files byte for byte; it is the source of truth for them.

    python3 tools/make_edge_traces.py
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "data", "traces")


def rec(tag, va, size):
    """One Lackey record, formatted as Lackey prints it."""
    if tag == "I":
        return f"I  {va:08x},{size}\n"
    return f" {tag} {va:08x},{size}\n"


# Small traces, written out literally (Lackey's exact columns).
LITERAL = {
    # Hand-derived in the README: a crossing instruction fetch, the unified L2
    # shared by the I and D sides, an M on a new PD entry, a write ending
    # exactly at a page boundary.
    "edge_tiny": (
        "I  00400ffe,4\n"
        " L 00400010,8\n"
        " M 00600000,8\n"
        " S 00600ff8,8\n"
        "I  00401000,2\n"
    ),
    # Page-table levels: addresses that share or do not share PML4 / PDPT /
    # PD entries (new PT, new PD, new PDPT, new PML4 entry; 1 GiB and 512 GiB
    # regions; the top of user space 7ffffffde000..7ffffffff000), crossings of
    # a PD-entry (2 MiB) and a PDPT-entry (1 GiB) boundary, repeats.
    "edge_levels": (
        " L 00400000,8\n"
        " L 00401000,8\n"
        " L 00600000,8\n"
        " L 3ffffffc,8\n"
        " L 40001000,8\n"
        " L 8000000000,8\n"
        " L 7ffffffde000,8\n"
        " L 7ffffffdf000,8\n"
        " L 7fffffffeff8,16\n"
        " L 00400008,8\n"
        " L 7ffffffff000,8\n"
        " L 40000ff8,16\n"
    ),
    # Page crossings of every kind: the L from the spec (vpn 1 and 2), a write
    # ending exactly at a boundary (no crossing), an M crossing (R over both
    # pages, then W over both), one access of 4104 bytes spanning 3 pages,
    # one-byte accesses at both ends of a page, a crossing whose first page is
    # mapped and second is not, and instruction fetches crossing pages.
    "edge_cross": (
        "I  00400ffe,4\n"
        " L 00001ffc,8\n"
        " S 00002ff8,8\n"
        " M 00003ffc,8\n"
        " L 00004ffc,4104\n"
        " L 00006fff,1\n"
        " L 00007000,1\n"
        " L 00007fff,2\n"
        "I  00401ffc,8\n"
        "I  00402004,3\n"
    ),
    # Virtual page 0 (tag 0, set 0, all page-table indices 0): catches a TLB
    # that uses tag 0 or vpn 0 as "invalid".  Also an instruction fetch on a
    # page the data side has mapped (L1I miss, L2 hit).
    "edge_vpn0": (
        " L 00000000,8\n"
        "I  00000ff8,8\n"
        " S 00000ffc,8\n"
        " L 00000000,1\n"
        " M 00000010,4\n"
        "I  00000000,1\n"
    ),
    # Replacement: five pages that all fall in L1D set 0 and L2 set 0 of the
    # tiny geometry (L1D 4 sets x 2 ways, L2 8 sets x 4 ways), in the order
    # A B C D A E A B A.  LRU and FIFO differ in hits (hand-derived in README).
    "edge_lru_fifo": "".join(
        rec("L", vpn << 12, 8)
        for vpn in (0x200, 0x208, 0x210, 0x218, 0x200, 0x220, 0x200, 0x208, 0x200)
    ),
    # Trace-format details: Valgrind '==PID==' lines at the start, in the
    # middle and at the end (one with a trailing space, as Valgrind prints
    # them), empty lines, addresses longer than 8 hex digits, and a last line
    # with no final newline.
    "edge_format": (
        "==4242== Lackey, an example Valgrind tool\n"
        "==4242== \n"
        "I  0401ab70,3\n"
        "\n"
        " S 1fff000778,8\n"
        "==4242== some message in the middle\n"
        " L 1fff000778,8\n"
        "\n"
        "\n"
        " M 1fff000770,8\n"
        "I  0401ab73,5\n"
        "==4242== \n"
        "==4242== Counted 0 calls to main()\n"
        " L 0401ab70,1"
    ),
}


def capacity_trace():
    """Enough pages to overflow the default TLBs.

    1400 data pages (from 0x10000000) and 200 code pages (from 0x00400000):
    1600 distinct pages > 1536 L2 entries, and 200 code pages > 128 L1I
    entries.  Each step is one instruction fetch then one read.  Three passes
    over the data pages: forward, backward, forward (code pages cycle
    forward), so that LRU and FIFO give different L2 counts even in the
    default geometry (configs "default" and "default_fifo").
    """
    data_pages, code_pages = 1400, 200
    order = list(range(data_pages))
    lines = []
    step = 0
    for data_order in (order, order[::-1], order):
        for d in data_order:
            code_va = 0x00400000 + (step % code_pages) * 4096 + (step * 4) % 4096
            lines.append(rec("I", code_va, 4))
            lines.append(rec("L", 0x10000000 + d * 4096 + 8 * (d % 8), 8))
            step += 1
    return "".join(lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    traces = dict(LITERAL)
    traces["edge_capacity"] = capacity_trace()
    for name, text in sorted(traces.items()):
        path = os.path.join(OUT, name + ".lackey")
        with open(path, "w", encoding="ascii", newline="") as f:
            f.write(text)
        print(f"{os.path.relpath(path)}: {text.count(chr(10))} newlines, {len(text)} bytes")


if __name__ == "__main__":
    main()
