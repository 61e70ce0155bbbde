//! System-level DDR4 timing, derived by hand from the conversion documented in
//! `hw/src/dram/timing.rs` and the constraints of `hw/src/dram/ddr4.rs`: with data caches and
//! page-walk caches off, every PTE read, A/D write-back and data access goes straight to the
//! DDR4 controller, so each walk's latency follows from the row state of the banks its page-table
//! frames live in.
//!
//! DDR4-3200AA 22-22-22 defaults (tCK 0.625 ns), each parameter converted on its own to core
//! cycles and rounded up, `ceil(n * 0.625 * f)`:
//!
//! | parameter (tCK) | 4 GHz (2.5 cycles/tCK) | 3 GHz (1.875 cycles/tCK) |
//! | --- | --- | --- |
//! | command bus, 1 | 3 | 2 |
//! | CL = tRCD = tRP, 22 | 55 | 42 (41.25) |
//! | burst, 4 | 10 | 8 (7.5) |
//! | CWL, 16 | 40 | 30 |
//! | tRAS, 52 | 130 | 98 (97.5) |
//! | tCCD_S, 4 / tCCD_L, 8 | 10 / 20 | 8 / 15 |
//! | tWTR_S, 4 / tWTR_L, 12 | 10 / 30 | 8 / 23 (22.5) |
//! | tRTP, 12 | 30 | 23 (22.5) |
//! | tREFI, 7800 ns | 31200 | 23400 |
//!
//! Unloaded reads at 4 GHz: row hit CL + burst = 65, closed bank tRCD + CL + burst = 120, row
//! conflict tRP + tRCD + CL + burst = 175. At 3 GHz: 50, 92, 134, where rounding the sums
//! instead would give 49, 90, 132.
//!
//! Address mapping (default `page-interleaved`, one channel, one rank, 4 bank groups x 4 banks,
//! 8 KiB rows): line offset bits 0-5, column-low 6-11, bank group 12-13, bank 14-15, column-high
//! 16, row 17-32. For frame f (physical address f << 12): bank group f & 3, bank (f >> 2) & 3,
//! row f >> 5. So frames 0-15 open row 0 of 16 different banks, frames 16-31 fall in the same
//! row of the same banks (f and f + 16 share a row), and frame f + 32 is in row 1 of f's bank:
//! a row conflict with f.
//!
//! The kernel allocates frames lowest first: the root table is frame 0; the first fault takes
//! frame 1 for the data page, then 2 (PDPT), 3 (PD) and 4 (PT).
//!
//! Every run here ends well before the first refresh window (tREFI).

mod common;

use common::{Recorder, VecWorkload, config, rec};
use vmsim_hw::AccessKind::Read;
use vmsim_hw::core::{FaultKind, TlbLevel};
use vmsim_hw::dram::DramCoord;
use vmsim_hw::pte::Level;
use vmsim_hw::walker::WalkResult;
use vmsim_hw::{PhysAddr, Ppn};
use vmsim_sim::System;
use vmsim_sim::system::trace_segments;
use vmsim_sim::workload::Record;

/// DDR4 defaults, caches off, page-walk caches off.
fn run(records: Vec<Record>, extra: &[&str]) -> (System, Recorder) {
    let mut sets = vec![
        "caches.enabled=false",
        "walker.pwc.enabled=false",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ];
    sets.extend_from_slice(extra);
    let cfg = config(&sets);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    let mut r = Recorder::default();
    sys.run(&mut VecWorkload::new(records), &mut r).unwrap();
    (sys, r)
}

/// Where the first line of frame f lives under the default mapping, by the formula in the
/// module comment. The column counts bus-width columns (8 per 64-byte line); column-high (bit
/// 16, frame bit 4) selects the second half of the 128-line row: column 64 x 8.
fn coord_of_frame(f: u64) -> DramCoord {
    DramCoord {
        channel: 0,
        rank: 0,
        bank_group: (f & 3) as u32,
        bank: ((f >> 2) & 3) as u32,
        row: (f >> 5) as u32,
        column: (((f >> 4) & 1) * 64 * 8) as u32,
    }
}

/// The page of the cold access, as in `walk_timing.rs`.
const VA: u64 = 0x1234_5678;
/// Default os.fault_cycles.
const C: u64 = 4000;

#[test]
fn conversion_rounds_each_parameter_up_at_4_and_3_ghz() {
    let (sys, _) = run(vec![], &[]);
    let t = *sys.mem.dram().timing();
    assert_eq!((t.cmd, t.cl, t.rcd, t.rp, t.burst), (3, 55, 55, 55, 10));
    assert_eq!((t.cwl, t.ras, t.rtp, t.wr), (40, 130, 30, 60));
    assert_eq!((t.ccd_s, t.ccd_l, t.wtr_s, t.wtr_l), (10, 20, 10, 30));
    assert_eq!((t.rfc, t.refi), (1400, 31200));
    assert_eq!(
        (t.read_hit(), t.read_closed(), t.read_conflict()),
        (65, 120, 175)
    );

    let (sys, _) = run(vec![], &["core.freq_ghz=3"]);
    let t = *sys.mem.dram().timing();
    assert_eq!((t.cmd, t.cl, t.rcd, t.rp, t.burst), (2, 42, 42, 42, 8));
    assert_eq!((t.cwl, t.ras, t.rtp, t.wr), (30, 98, 23, 45));
    assert_eq!((t.ccd_s, t.ccd_l, t.wtr_s, t.wtr_l), (8, 15, 8, 23));
    assert_eq!((t.rfc, t.refi), (1050, 23400));
    // Each term rounded up on its own: 42 + 8, 42 + 42 + 8, 3 x 42 + 8; not
    // ceil(26 x 1.875) = 49, ceil(48 x 1.875) = 90, ceil(70 x 1.875) = 132.
    assert_eq!(
        (t.read_hit(), t.read_closed(), t.read_conflict()),
        (50, 92, 134)
    );
}

#[test]
fn default_mapping_puts_the_first_frames_where_the_formula_says() {
    let (sys, _) = run(vec![], &[]);
    let d = sys.mem.dram();
    for f in [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 64] {
        assert_eq!(d.decode(Ppn(f).base()), coord_of_frame(f), "frame {f}");
    }
    // A PTE's offset inside its table only moves the column.
    let c = d.decode(PhysAddr((4 << 12) + 0x145 * 8));
    assert_eq!((c.bank_group, c.bank, c.row), (0, 1, 0));
    assert_eq!(c.column, (0x145 * 8 / 64) * 8);
}

/// Timeline of a cold read of one page at 4 GHz, instruction issued at cycle 0 (structure as in
/// `walk_timing.rs`, DRAM latencies from the row state):
///
///  11: the walker takes the request after the L1 (1) and L2 (9) TLB misses; the PML4E read
///      (frame 0: bank group 0, bank 0, row 0; every bank is precharged) reaches DRAM at 12:
///      ACT 12, RD 67 (tRCD), data done 67 + CL + burst = 132: 120 cycles. Not present: walk 1
///      is (11, 132), 1 reference, no row hit.
/// 133: the core sees the fault; 134: the trap; the kernel replies at 134 + C; the retry's L1
///      and L2 lookups start walk 2 at 144 + C.
///      PML4E again, frame 0 row 0 still open: a row hit, 145 + C -> 210 + C (65).
///      PDPTE in frame 2 (bank group 2), closed: 211 + C -> 331 + C (120).
///      PDE in frame 3 (bank group 3), closed: 332 + C -> 452 + C (120).
///      PTE in frame 4 (bank group 0, bank 1), closed: 453 + C -> 573 + C (120); ACT at
///      453 + C, RD at 508 + C. Walk 2 is (144 + C, 573 + C): 4 + 65 + 3 x 120 = 429 cycles.
/// 574 + C: the walker's A-bit write-back to the PTE (posted) reaches DRAM: a row hit in
///      frame 4's bank; every column constraint has passed (bus 518, group 528, data bus
///      573 - CWL), so WR issues at once; its data ends at 574 + 40 + 10 = 624 + C.
///      The core has the translation at 574 + C and sends the data read for 575 + C.
/// 575 + C: the data read of frame 1 (bank group 1, bank 0), closed. The command bus is busy
///      until 574 + 3, so ACT at 577 + C and tRCD allows RD at 632 + C; but a read must wait
///      tWTR_S (10) after the end of write data in the rank: RD at 634 + C, done 699 + C.
///      The data read costs 124 cycles, not 120.
#[test]
fn cold_access_timeline_with_ddr4_is_exact_to_the_cycle() {
    let (sys, r) = run(vec![rec(Read, VA, 8, 1)], &[]);
    assert_eq!(r.walks.len(), 2);
    let (w1, w2) = (r.walks[0], r.walks[1]);
    assert_eq!((w1.start.0, w1.end.0), (11, 132));
    assert_eq!((w1.mem_refs, w1.dram_row_hits, w1.cache_hits), (1, 0, 0));
    assert_eq!(
        (w1.start_level, w1.result),
        (Level::Pml4, WalkResult::PageFault)
    );
    assert_eq!((w2.start.0, w2.end.0), (144 + C, 573 + C));
    assert_eq!(w2.end.0 - w2.start.0, 4 + 65 + 3 * 120);
    assert_eq!((w2.mem_refs, w2.dram_row_hits, w2.cache_hits), (4, 1, 0));
    assert_eq!(w2.result, WalkResult::Fill);

    let a = r.accesses[0];
    assert_eq!((a.start.0, a.end.0), (0, 699 + C));
    assert_eq!((a.tlb, a.fault), (TlbLevel::Walk, FaultKind::Minor));
    assert_eq!(a.walk_cycles, 121 + 429);
    assert_eq!(a.walk_mem_refs, 5);
    assert_eq!(a.pa, PhysAddr((1 << 12) | 0x678), "data page in frame 1");
    assert_eq!(sys.cycles().0, 699 + C);

    let d = sys.mem.dram().stats();
    assert_eq!((d.reads, d.writes), (6, 1));
    // Row hits: walk 2's PML4E read and the A-bit write. Closed: frames 0, 2, 3, 4, 1.
    assert_eq!((d.row_hits, d.row_misses, d.row_conflicts), (2, 5, 0));
    assert_eq!((d.activates, d.precharges, d.refreshes), (5, 0, 0));
    assert_eq!(d.total_read_latency, 120 + 65 + 3 * 120 + 124);
    assert_eq!(d.total_write_latency, 50);
}

/// The same access at 3 GHz (C is in core cycles, unchanged), every DRAM term rounded up on
/// its own: hit 50, closed 92.
///  walk 1: 11, read 12 -> 104 (ACT 12, RD 54): (11, 104).
///  trap at 106, reply at 106 + C, walk 2 from 116 + C: PML4E hit 117 -> 167, PDPTE closed
///  168 -> 260, PDE 261 -> 353, PTE 354 -> 446 (all + C): 4 + 50 + 3 x 92 = 330 cycles
///  (323 with the sums rounded instead).
///  A-bit write at 447 + C: WR at once (column constraints passed: bus 404, group 411, data
///  bus 446 - 30 = 416), data ends 447 + 30 + 8 = 485 + C.
///  Data read of frame 1 at 448 + C: ACT at 449 + C (command bus 447 + 2), tRCD allows RD at
///  491 + C, tWTR_S (8) after 485 delays it to 493 + C; done 543 + C (95 cycles).
#[test]
fn cold_access_at_3_ghz_rounds_each_term_up() {
    let (sys, r) = run(vec![rec(Read, VA, 8, 1)], &["core.freq_ghz=3"]);
    let (w1, w2) = (r.walks[0], r.walks[1]);
    assert_eq!((w1.start.0, w1.end.0), (11, 104));
    assert_eq!((w2.start.0, w2.end.0), (116 + C, 446 + C));
    assert_eq!(w2.end.0 - w2.start.0, 4 + 50 + 3 * 92);
    assert_eq!(w2.dram_row_hits, 1);
    assert_eq!((r.accesses[0].start.0, r.accesses[0].end.0), (0, 543 + C));
    let d = sys.mem.dram().stats();
    assert_eq!(d.total_read_latency, 92 + 50 + 3 * 92 + 95);
    assert_eq!(d.total_write_latency, 38);
    assert_eq!((d.row_hits, d.row_misses, d.row_conflicts), (2, 5, 0));
}

/// Fault cost for the long run: short enough to stay before tREFI, long enough (> tRAS, tWTR_L,
/// tRTP) that a retry's walk finds no constraint left over from the walk that faulted.
const C2: u64 = 200;

/// Page A (as above), then pages A+1 .. A+27 of the same 2 MiB region, then page B, the first
/// page of the next 2 MiB region; each one read once (8 bytes, 1 instruction).
///
/// Frames: A's fault takes 1 (data), 2, 3, 4 (tables); A+i takes frame 4+i, so the data frames
/// run 5..31, all in row 0. B takes 32 (data: bank 0, row 1) and 33 (its PT: bank group 1,
/// bank 0, row 1). Until B every bank keeps row 0 open (no refresh, no other row touched).
///
/// A+i (S = end of the previous access): its fault walk reads PML4E (frame 0), PDPTE (2), PDE (3)
/// and PTE (4): four row hits, 4 x (1 + 65) = 264 cycles, (S + 11, S + 275). The previous
/// access's commands are at least 12 cycles old and its write's data ended 60+ cycles before
/// its read, so no constraint is left. Trap at S + 277, retry walk (S + 287 + C2, S + 551 + C2):
/// the same four hits. A-bit write W = S + 552 + C2 (a hit in frame 4's bank), data read at W +
/// 1: tWTR_S puts RD at W + 60 (done W + 125) for frames outside bank group 0 and tWTR_L at
/// W + 80 (done W + 145) for frames in bank group 0 (frame 4's group: 8, 12, ..., 28) whether
/// the row was closed (frames 5-15: ACT at W + 3, tRCD ends at W + 58) or open (16-31).
///
/// B: its fault walk reads PML4E, PDPTE (hits) and the PDE in frame 3 (a hit, not present):
/// (S + 11, S + 209). Trap at S + 211, retry walk from S + 221 + C2: three hits (198), then the
/// PTE in frame 33 at a = S + 420 + C2: bank group 1 bank 0 has row 0 open (frames 1 and 17):
/// PRE at a, ACT at a + 55, RD at a + 110, done a + 175: a row conflict. Walk: 4 + 3 x 65 + 175
/// = 374 cycles, ending at E = S + 595 + C2, with 3 row hits.
/// A-bit write at E + 1 (row 1 now open: a hit); data read of frame 32 at E + 2: bank 0 has row
/// 0 open: PRE at E + 4 (command bus), ACT at E + 59, RD at E + 114, done E + 179 (177 cycles).
#[test]
fn walks_hit_open_rows_and_conflict_when_a_table_lands_in_row_1() {
    const A: u64 = VA >> 12;
    let mut records: Vec<Record> = (0..28).map(|i| rec(Read, (A + i) << 12, 8, 1)).collect();
    let b = 0x1240_0000u64;
    assert_eq!(b >> 21, (VA >> 21) + 1, "B is in the next 2 MiB region");
    records.push(rec(Read, b, 8, 1));
    let c2 = format!("os.fault_cycles={C2}");
    let (sys, r) = run(records, &[c2.as_str()]);
    assert_eq!(r.accesses.len(), 29);
    assert_eq!(r.walks.len(), 58);

    // A, as in the cold timeline with C2.
    assert_eq!(r.accesses[0].end.0, 699 + C2);
    assert_eq!(r.walks[1].end.0 - r.walks[1].start.0, 429);

    // A+1 .. A+27.
    for i in 1..28usize {
        let a = r.accesses[i];
        let s = a.start.0;
        let frame = 4 + i as u64;
        assert_eq!(a.pa.0 >> 12, frame);
        assert_eq!(sys.mem.dram().decode(Ppn(frame).base()).row, 0);
        let (wf, wr) = (r.walks[2 * i], r.walks[2 * i + 1]);
        assert_eq!(
            (wf.start.0, wf.end.0),
            (s + 11, s + 275),
            "fault walk of A+{i}"
        );
        assert_eq!((wf.mem_refs, wf.dram_row_hits), (4, 4));
        assert_eq!(wf.result, WalkResult::PageFault);
        assert_eq!(
            (wr.start.0, wr.end.0),
            (s + 287 + C2, s + 551 + C2),
            "retry walk of A+{i}"
        );
        assert_eq!((wr.mem_refs, wr.dram_row_hits), (4, 4));
        let w = s + 552 + C2;
        let data_done = if frame & 3 == 0 { w + 145 } else { w + 125 };
        assert_eq!(a.end.0, data_done, "A+{i}, data frame {frame}");
    }

    // B.
    let a = r.accesses[28];
    let s = a.start.0;
    assert_eq!(a.pa.0 >> 12, 32);
    let dram = sys.mem.dram();
    assert_eq!(
        dram.decode(Ppn(32).base()),
        DramCoord {
            row: 1,
            ..coord_of_frame(0)
        }
    );
    assert_eq!(
        dram.decode(Ppn(33).base()),
        DramCoord {
            row: 1,
            ..coord_of_frame(1)
        }
    );
    let (wf, wr) = (r.walks[56], r.walks[57]);
    assert_eq!((wf.start.0, wf.end.0), (s + 11, s + 209));
    assert_eq!(
        (wf.mem_refs, wf.dram_row_hits, wf.result),
        (3, 3, WalkResult::PageFault)
    );
    assert_eq!((wr.start.0, wr.end.0), (s + 221 + C2, s + 595 + C2));
    assert_eq!(wr.end.0 - wr.start.0, 4 + 3 * 65 + 175);
    assert_eq!(
        (wr.mem_refs, wr.dram_row_hits, wr.result),
        (4, 3, WalkResult::Fill)
    );
    assert_eq!(a.end.0, s + 595 + C2 + 179);

    // The whole run: A 699 + C2; 21 pages at 677 + C2 and 6 (bank group 0) at 697 + C2; B
    // 774 + C2. It ends before the first refresh.
    let total = (699 + C2) + 21 * (677 + C2) + 6 * (697 + C2) + (774 + C2);
    assert_eq!(sys.cycles().0, total);
    assert!(total < 31_200);

    let d = sys.mem.dram().stats();
    // Reads: A 1 + 4 + 1, A+i 4 + 4 + 1 each, B 3 + 4 + 1. Writes: one A-bit write per page.
    assert_eq!((d.reads, d.writes), (6 + 27 * 9 + 8, 29));
    // Hits: A 2; A+i 8 walk reads + the write, + the data read for frames 16-31; B 6 walk
    // reads + the write. Closed: A's 5 and frames 5-15. Conflicts: B's PTE and data reads.
    assert_eq!(d.row_hits, 2 + 27 * 9 + 16 + 7);
    assert_eq!(d.row_misses, 5 + 11);
    assert_eq!(d.row_conflicts, 2);
    assert_eq!((d.activates, d.precharges, d.refreshes), (18, 2, 0));
    assert_eq!(
        d.total_read_latency,
        (120 + 65 + 3 * 120 + 124) + 27 * 8 * 65 + 21 * 124 + 6 * 144 + (6 * 65 + 175 + 177)
    );
    assert_eq!(d.total_write_latency, 29 * 50);
}
