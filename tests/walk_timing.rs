//! Exact timing, derived by hand from the documented latencies, on the plain machine: fixed DRAM
//! latency L, no data caches, no page-walk caches, default TLB latencies (L1 1, L2 9) and
//! fault cost C (os.fault_cycles).

mod common;

use common::{Recorder, VecWorkload, plain_machine, rec};
use vmsim_hw::AccessKind::{Read, Write};
use vmsim_hw::core::{FaultKind, TlbLevel};
use vmsim_hw::pte::Level;
use vmsim_hw::walker::WalkResult;
use vmsim_sim::System;
use vmsim_sim::system::trace_segments;

const L: u64 = 100;
const C: u64 = 4000;

fn run(records: Vec<vmsim_sim::workload::Record>, extra: &[&str]) -> (System, Recorder) {
    let cfg = plain_machine(L, extra);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    let mut rec = Recorder::default();
    sys.run(&mut VecWorkload::new(records), &mut rec).unwrap();
    (sys, rec)
}

/// Timeline of the first access (one instruction, a read of a never-touched page) at cycle 0:
///  1: instruction issued; L1 DTLB lookup (1) misses at 2; L2 lookup (9) misses at 11;
/// 11: the walker takes the request, issues the PML4E read for 12, which returns at 12+L:
///     not present, a page fault; walk 1 lasted L+1 cycles with 1 memory reference;
/// 13+L: the core sees the fault and traps; 14+L: the OS takes it and replies at 14+L+C;
///     the retry looks up L1 (1) and L2 (9) again and starts walk 2 at 24+L+C;
///     four reads of 1+L each: walk 2 ends at 28+5L+C; the core fills the TLBs at 29+5L+C,
///     sends the data read (no caches) for 30+5L+C, which returns at 30+6L+C.
#[test]
fn cold_access_walk_fault_retry_is_exact_to_the_cycle() {
    let (sys, r) = run(vec![rec(Read, 0x1234_5678, 8, 1)], &[]);
    assert_eq!(r.walks.len(), 2);
    let (w1, w2) = (r.walks[0], r.walks[1]);
    assert_eq!((w1.start.0, w1.end.0), (11, 12 + L));
    assert_eq!(w1.mem_refs, 1);
    assert_eq!(w1.start_level, Level::Pml4);
    assert_eq!(w1.result, WalkResult::PageFault);
    assert_eq!((w2.start.0, w2.end.0), (24 + L + C, 28 + 5 * L + C));
    assert_eq!(
        w2.end.0 - w2.start.0,
        4 * L + 4,
        "a 4-level walk costs 4 (L + 1)"
    );
    assert_eq!(w2.mem_refs, 4);
    assert_eq!(w2.result, WalkResult::Fill);
    let a = r.accesses[0];
    assert_eq!((a.start.0, a.end.0), (0, 30 + 6 * L + C));
    assert_eq!(a.tlb, TlbLevel::Walk);
    assert_eq!(a.fault, FaultKind::Minor);
    assert_eq!(a.walk_mem_refs, 5);
    assert_eq!(a.walk_cycles, 5 * L + 5);
    assert_eq!(sys.cycles().0, 30 + 6 * L + C);
}

/// Second access to the same page: L1 hit (1 cycle), and the data read, sent as the hit is known,
/// returns L cycles later.
/// Third access to a new page in the same 2 MiB region: a fault whose first walk reads all four
/// levels and finds the PT entry not present.
#[test]
fn l1_hit_and_fault_at_the_leaf_level() {
    let t1 = 30 + 6 * L + C;
    let (_sys, r) = run(
        vec![
            rec(Read, 0x1234_5678, 8, 1),
            rec(Write, 0x1234_5000, 8, 0),
            rec(Read, 0x1234_6000, 4, 0),
        ],
        &[],
    );
    let a2 = r.accesses[1];
    assert_eq!(a2.tlb, TlbLevel::L1);
    // Starts at t1; L1 hit at t1+1; the data read reaches memory at t1+1 and is back at t1+1+L.
    assert_eq!((a2.start.0, a2.end.0), (t1, t1 + 1 + L));
    let a3 = r.accesses[2];
    let w = r.walks[2];
    assert_eq!(w.mem_refs, 4);
    assert_eq!(w.result, WalkResult::PageFault);
    assert_eq!(w.start.0, t1 + 1 + L + 10);
    assert_eq!(w.end.0 - w.start.0, 4 * L + 4);
    assert_eq!(a3.walk_mem_refs, 8);
}

/// An L2 TLB hit: a 1-entry L1 DTLB forgets page A when page B is used; A then hits the L2
/// (lookup 1 + 9 cycles) and the data read costs L.
#[test]
fn l2_hit_costs_both_lookups() {
    let (sys, r) = run(
        vec![
            rec(Read, 0x10_0000, 8, 0),
            rec(Read, 0x20_0000, 8, 0),
            rec(Read, 0x10_0008, 8, 0),
        ],
        &["tlb.l1d.entries=1", "tlb.l1d.ways=1"],
    );
    let a = r.accesses[2];
    assert_eq!(a.tlb, TlbLevel::L2);
    assert_eq!(a.end.0 - a.start.0, 1 + 9 + L);
    let l2 = sys.core.tlb("l2").unwrap().stats();
    assert_eq!((l2.hits, l2.misses), (1, 4));
}

/// With page-walk caches on (latency 1), a fault in the same 2 MiB region as an earlier page
/// hits the PDE cache and reads only the PT entry: the walk costs 1 + (1 + L).
#[test]
fn pde_cache_hit_skips_three_levels() {
    let (sys, r) = run(
        vec![rec(Read, 0x40_0000, 8, 0), rec(Read, 0x40_1000, 8, 0)],
        &["walker.pwc.enabled=true", "walker.pwc.latency=1"],
    );
    let w = r.walks[2];
    assert_eq!(w.start_level, Level::Pt);
    assert_eq!(w.mem_refs, 1);
    assert_eq!(w.end.0 - w.start.0, 1 + 1 + L);
    assert_eq!(sys.walkers.pwc_stats().pde.hits, 2);
}

/// An access spanning two pages translates both, in address order: two minor faults.
#[test]
fn page_crossing_access_translates_both_pages() {
    let (sys, r) = run(vec![rec(Read, 0x7000_0ffc, 8, 0)], &[]);
    assert_eq!(r.walks.len(), 4);
    assert!(r.walks[0].va.0 < r.walks[2].va.0);
    assert_eq!(sys.kernel.stats().minor_faults, 2);
    assert_eq!(sys.core.tlb("l1d").unwrap().stats().lookups, 4);
}
