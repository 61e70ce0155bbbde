//! Property tests of the kernel's bookkeeping and of the counter identities of ARCHITECTURE.md
//! section 5, on random access sequences run through the whole `System`.
//!
//! Accesses are reads, writes and fetches of 1 to 16 bytes (page-crossing ones included) at
//! addresses drawn from four clustered regions, chosen so that the page tables grow at every
//! level: one region inside a 1 GiB range, one across a 1 GiB boundary, one across a 512 GiB
//! boundary (a new PML4 entry) and one just below the top of the 47-bit user half.
//!
//! After each run the page table is walked in software from the process's root and checked
//! against an independent model of the kernel: with enough frames, page faults are exactly the
//! first touches of pages (section 5, item 5); frames are handed out lowest first from frame 0
//! (the root table), and a fault allocates the data frame first, then the missing tables from
//! the top down (`Kernel::handle_fault`, `PageTable::map`). So the frame of every page and of
//! every table is known in advance, whatever the TLBs, caches, DRAM or timing.

mod common;

use common::{Recorder, VecWorkload, config, rec};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use vmsim_hw::AccessKind::{self, Execute, Read, Write};
use vmsim_hw::core::{FaultKind, TlbLevel};
use vmsim_hw::pte::{ENTRIES_PER_TABLE, Level, PTE_BYTES, Pte};
use vmsim_hw::walker::WalkResult;
use vmsim_hw::{PhysAddr, Ppn, VirtAddr};
use vmsim_os::frames::FrameUse;
use vmsim_sim::system::trace_segments;
use vmsim_sim::workload::Record;
use vmsim_sim::{Config, System};

/// Region bases; each region spans `SPAN_PAGES` pages (an access may spill into the next one).
const REGIONS: [u64; 4] = [
    0x1000_0000,      // 256 MiB: PML4 0, PDPT 0
    0x3fff_8000,      // 8 pages below 1 GiB: crosses a PDPT entry
    0x7f_ffff_8000,   // 8 pages below 512 GiB: crosses a PML4 entry
    0x7fff_fffe_0000, // near the top of the user half (PML4 255)
];
const SPAN_PAGES: u64 = 12;
/// At most 4 x 13 distinct pages: fits a 64-entry fully associative TLB.
const MAX_PAGES: usize = REGIONS.len() * (SPAN_PAGES as usize + 1);

fn kind_of(k: u8) -> AccessKind {
    match k {
        0 => Read,
        1 => Write,
        _ => Execute,
    }
}

fn access() -> impl Strategy<Value = Record> {
    (
        0u8..3,
        0..REGIONS.len(),
        0..SPAN_PAGES,
        // Half the offsets in the last 16 bytes of a page, so that many accesses cross.
        prop_oneof![0u64..4096, 4080u64..4096],
        1u32..=16,
        0u32..3,
    )
        .prop_map(|(k, r, page, off, size, instrs)| {
            rec(kind_of(k), REGIONS[r] + page * 4096 + off, size, instrs)
        })
}

fn workload() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(access(), 1..60)
}

fn run(cfg: &Config, records: &[Record]) -> (System, Recorder) {
    let mut sys = System::new(cfg, trace_segments()).unwrap();
    let mut r = Recorder::default();
    sys.run(&mut VecWorkload::new(records.to_vec()), &mut r)
        .unwrap();
    (sys, r)
}

/// The pages `[va, va + size)` overlaps, in address order (section 5, item 1).
fn pages_of(r: &Record) -> std::ops::RangeInclusive<u64> {
    (r.va.0 >> 12)..=((r.va.0 + r.size.max(1) as u64 - 1) >> 12)
}

/// What the kernel must have done, derived from the access sequence alone.
#[derive(Default, Debug)]
struct KernelModel {
    /// Shifts of the virtual-address prefixes that key the tables below the root:
    /// [39, 30, 21] with 4 levels (PDPT, PD, PT tables), [48, 39, 30, 21] with 5.
    shifts: Vec<u32>,
    /// Data frame of every mapped page (vpn -> frame).
    frame_of: BTreeMap<u64, u64>,
    /// Frame of every table below the root, keyed by (shift, va >> shift).
    table_of: BTreeMap<(u32, u64), u64>,
    /// Pages in first-touch order.
    first_touches: Vec<u64>,
    /// The kind of the access that first touched each page.
    first_kind: BTreeMap<u64, AccessKind>,
    written: BTreeSet<u64>,
    /// PTE reads of every page-fault walk with page-walk caches off: the top entry, then one
    /// more per table that already existed on the page's path.
    fault_walk_reads: u64,
    /// Per access: its first-touched pages and those walks' reads.
    new_pages_per_access: Vec<Vec<(u64, u64)>>,
    /// Page translations without retries, per L1 (X: ITLB; R/W: DTLB).
    x_pages: u64,
    rw_pages: u64,
    /// Retries (one per fault), per L1.
    x_faults: u64,
    rw_faults: u64,
    /// Data accesses (one per page of each access), by direction.
    data_reads: u64,
    data_writes: u64,
    next_frame: u64,
}

impl KernelModel {
    fn new(levels: u8, records: &[Record]) -> KernelModel {
        let mut m = KernelModel {
            shifts: if levels == 5 {
                vec![48, 39, 30, 21]
            } else {
                vec![39, 30, 21]
            },
            next_frame: 1, // frame 0 is the root table, allocated at spawn
            ..Default::default()
        };
        for r in records {
            let mut new_pages = Vec::new();
            for vpn in pages_of(r) {
                let va = vpn << 12;
                match r.kind {
                    Execute => m.x_pages += 1,
                    _ => m.rw_pages += 1,
                }
                match r.kind {
                    Write => {
                        m.data_writes += 1;
                        m.written.insert(vpn);
                    }
                    _ => m.data_reads += 1,
                }
                if m.frame_of.contains_key(&vpn) {
                    continue;
                }
                // First touch: the fault walk reads the top entry and one more per existing
                // table on the path (existence is prefix-closed).
                let existing = m
                    .shifts
                    .iter()
                    .take_while(|&&s| m.table_of.contains_key(&(s, va >> s)))
                    .count() as u64;
                let reads = 1 + existing;
                m.fault_walk_reads += reads;
                new_pages.push((vpn, reads));
                match r.kind {
                    Execute => m.x_faults += 1,
                    _ => m.rw_faults += 1,
                }
                m.first_touches.push(vpn);
                m.first_kind.insert(vpn, r.kind);
                // Data frame first, then the missing tables from the top down.
                m.frame_of.insert(vpn, m.next_frame);
                m.next_frame += 1;
                for &s in &m.shifts.clone() {
                    if let std::collections::btree_map::Entry::Vacant(e) =
                        m.table_of.entry((s, va >> s))
                    {
                        e.insert(m.next_frame);
                        m.next_frame += 1;
                    }
                }
            }
            m.new_pages_per_access.push(new_pages);
        }
        m
    }

    fn minor_faults(&self) -> u64 {
        self.first_touches.len() as u64
    }
}

/// The page table as found in simulated physical memory, walked in software.
#[derive(Default, Debug)]
struct SoftWalk {
    /// Every table frame reachable from the root (root included) -> level.
    tables: BTreeMap<u64, Level>,
    /// Every present leaf: vpn -> PTE.
    leaves: BTreeMap<u64, Pte>,
    /// Every present non-leaf entry: (shift of the table it points to, prefix) -> frame.
    table_of: BTreeMap<(u32, u64), u64>,
}

fn soft_walk(sys: &System) -> SoftWalk {
    let pt = sys.kernel.page_table(sys.pid()).unwrap();
    let mut out = SoftWalk::default();
    fn rec_walk(sys: &System, table: Ppn, level: Level, prefix: u64, out: &mut SoftWalk) {
        assert!(
            out.tables.insert(table.0, level).is_none(),
            "table frame {} reached twice",
            table.0
        );
        for i in 0..ENTRIES_PER_TABLE as u64 {
            let pte = sys.phys.read_pte(PhysAddr(table.base().0 + i * PTE_BYTES));
            if !pte.present() {
                assert_eq!(
                    pte.0, 0,
                    "non-present entry with bits set at {level:?}[{i}]"
                );
                continue;
            }
            assert!(!pte.huge(), "the kernel maps 4 KiB pages only");
            let p = (prefix << 9) | i;
            match level.next() {
                Some(next) => {
                    // The table this entry points to covers va >> level.shift() == p.
                    assert_eq!(
                        pte.0 & 0xfff,
                        Pte::P | Pte::RW | Pte::US,
                        "non-leaf flags at {level:?}[{i}]"
                    );
                    assert!(!pte.no_execute());
                    out.table_of.insert((level.shift(), p), pte.ppn().0);
                    rec_walk(sys, pte.ppn(), next, p, out);
                }
                None => {
                    out.leaves.insert(p, pte);
                }
            }
        }
    }
    rec_walk(sys, pt.root, Level::top(pt.levels), 0, &mut out);
    out
}

fn depth(l: Level) -> u32 {
    match l {
        Level::Pml5 => 5,
        Level::Pml4 => 4,
        Level::Pdpt => 3,
        Level::Pd => 2,
        Level::Pt => 1,
    }
}

/// Invariants that hold on every machine configuration.
fn check_common(
    sys: &System,
    r: &Recorder,
    records: &[Record],
    m: &KernelModel,
) -> Result<(), TestCaseError> {
    let pid = sys.pid();
    let levels = sys.cfg.walker.levels;
    let frames = sys.kernel.frames();
    let os = sys.kernel.stats();

    // (a) Frame accounting.
    prop_assert_eq!(
        frames.free_count() + frames.data_count() + frames.table_count(),
        frames.total()
    );
    prop_assert_eq!(frames.total(), sys.cfg.os.frames);

    // (b) Walk the page table in software; every reachable frame is used as what it is.
    let sw = soft_walk(sys);
    let pt = sys.kernel.page_table(pid).unwrap();
    prop_assert_eq!(pt.root, Ppn(0), "the root is the first frame allocated");
    for &f in sw.tables.keys() {
        prop_assert_eq!(
            frames.use_of(Ppn(f)),
            FrameUse::PageTable(pid.0),
            "table frame {}",
            f
        );
    }
    for (vpn, pte) in &sw.leaves {
        prop_assert_eq!(
            frames.use_of(pte.ppn()),
            FrameUse::Data(pid.0),
            "leaf of page {:#x} -> frame {}",
            vpn,
            pte.ppn().0
        );
        prop_assert!(
            !sw.tables.contains_key(&pte.ppn().0),
            "data frame is also a table"
        );
        // The kernel's own software walk agrees with ours.
        let (addr, p2) = pt.lookup(&sys.phys, VirtAddr(vpn << 12)).unwrap();
        prop_assert_eq!(p2, *pte);
        prop_assert_eq!(addr.0 >> 12, {
            // the leaf lives in the PT table covering the page
            sw.table_of[&(21, vpn >> 9)]
        });
    }
    // Nothing else is in use: every frame not reached is free, and the counts match.
    prop_assert_eq!(frames.table_count(), sw.tables.len() as u64);
    prop_assert_eq!(frames.data_count(), sw.leaves.len() as u64);
    let reached: BTreeSet<u64> = sw
        .tables
        .keys()
        .copied()
        .chain(sw.leaves.values().map(|p| p.ppn().0))
        .collect();
    for f in 0..frames.total() {
        if !reached.contains(&f) {
            prop_assert_eq!(frames.use_of(Ppn(f)), FrameUse::Free, "frame {} leaked", f);
        }
    }
    prop_assert_eq!(os.page_table_pages, frames.table_count());

    // (f) No two pages share a frame.
    let distinct: BTreeSet<u64> = sw.leaves.values().map(|p| p.ppn().0).collect();
    prop_assert_eq!(
        distinct.len(),
        sw.leaves.len(),
        "two pages map to one frame"
    );

    // (c) Mapped pages == touched pages; one minor fault each; frames as the model allocates.
    let mapped: BTreeSet<u64> = sw.leaves.keys().copied().collect();
    let touched: BTreeSet<u64> = m.frame_of.keys().copied().collect();
    prop_assert_eq!(&mapped, &touched);
    prop_assert_eq!(os.minor_faults, m.minor_faults());
    prop_assert_eq!(
        (os.major_faults, os.protection_faults, os.segv_kills),
        (0, 0, 0)
    );
    for (vpn, pte) in &sw.leaves {
        prop_assert_eq!(pte.ppn().0, m.frame_of[vpn], "frame of page {:#x}", vpn);
    }
    prop_assert_eq!(&sw.table_of, &m.table_of);
    prop_assert_eq!(
        frames.table_count(),
        1 + m.table_of.len() as u64,
        "root + one table per distinct prefix"
    );
    prop_assert_eq!(frames.free_count(), frames.total() - m.next_frame);

    // (d) A on every touched page; D exactly on the written ones; leaf flags from RWXU.
    for (vpn, pte) in &sw.leaves {
        prop_assert!(pte.accessed(), "A clear on touched page {:#x}", vpn);
        prop_assert_eq!(
            pte.dirty(),
            m.written.contains(vpn),
            "D bit of page {:#x} (written: {})",
            vpn,
            m.written.contains(vpn)
        );
        prop_assert!(pte.present() && pte.writable() && pte.user() && !pte.no_execute());
        prop_assert!(!pte.global());
    }

    // (e) Counter identities of section 5.
    let tlb = |n: &str| sys.core.tlb(n).unwrap().stats().clone();
    let (l1i, l1d, l2) = (tlb("l1i"), tlb("l1d"), tlb("l2"));
    let w = sys.walkers.stats();
    let core = sys.core.stats();
    let minor = m.minor_faults();
    for s in [&l1i, &l1d, &l2] {
        prop_assert_eq!(s.lookups, s.hits + s.misses);
    }
    // Item 2: fetches look up the ITLB, data the DTLB; each fault adds one retry.
    prop_assert_eq!(l1i.lookups, m.x_pages + m.x_faults);
    prop_assert_eq!(l1d.lookups, m.rw_pages + m.rw_faults);
    prop_assert_eq!(core.page_translations, m.x_pages + m.rw_pages + minor);
    prop_assert_eq!(core.accesses, records.len() as u64);
    // Items 2-3: an L1 miss looks up the L2; an L2 miss starts exactly one walk.
    prop_assert_eq!(l2.lookups, l1i.misses + l1d.misses);
    prop_assert_eq!(w.walks, l2.misses);
    // Item 4: every walk that does not fault fills the L2 and the L1; an L2 hit fills the L1.
    prop_assert_eq!(w.faults, minor);
    prop_assert_eq!(w.protection_faults, 0);
    prop_assert_eq!(l2.fills, w.walks - w.faults);
    prop_assert_eq!(l1i.fills + l1d.fills, l2.hits + w.walks - w.faults);
    // The first walk of a page faults and the retry's walk fills it, so at least 2 walks each.
    prop_assert!(w.walks >= 2 * minor);
    prop_assert!(l2.misses >= 2 * minor);

    // Walk records: one per walk, consistent with the counters.
    prop_assert_eq!(r.walks.len() as u64, w.walks);
    prop_assert_eq!(
        r.walks.iter().map(|x| x.mem_refs as u64).sum::<u64>(),
        w.mem_refs
    );
    prop_assert_eq!(
        r.walks.iter().map(|x| x.cache_hits as u64).sum::<u64>(),
        w.pte_cache_hits
    );
    prop_assert_eq!(w.pte_cache_hits + w.pte_dram_reads, w.mem_refs);
    prop_assert_eq!(
        r.walks
            .iter()
            .filter(|x| x.result == WalkResult::PageFault)
            .count() as u64,
        minor
    );
    let top = depth(Level::top(levels));
    for x in &r.walks {
        prop_assert!(x.end > x.start);
        prop_assert!(x.mem_refs >= 1);
        prop_assert!(x.cache_hits <= x.mem_refs && x.dram_row_hits <= x.mem_refs);
        // A walk that fills reads every level from where the page-walk caches let it start.
        let from = depth(x.start_level);
        prop_assert!(from <= top);
        match x.result {
            WalkResult::Fill => prop_assert_eq!(x.mem_refs, from, "{:?}", x),
            WalkResult::PageFault => prop_assert!(x.mem_refs <= from, "{:?}", x),
            WalkResult::ProtectionFault => prop_assert!(false, "protection fault {:?}", x),
        }
    }
    // Page-walk caches: every walk probes each level; a PDE hit always wins.
    let pwc = sys.walkers.pwc_stats();
    let starts = |l: Level| r.walks.iter().filter(|x| x.start_level == l).count() as u64;
    if sys.cfg.walker.pwc.enabled {
        prop_assert_eq!(pwc.pml4e.lookups, w.walks);
        prop_assert_eq!(pwc.pdpte.lookups, w.walks);
        prop_assert_eq!(pwc.pde.lookups, w.walks);
        prop_assert_eq!(starts(Level::Pt), pwc.pde.hits);
        prop_assert!(starts(Level::Pd) <= pwc.pdpte.hits);
        prop_assert!(starts(Level::Pdpt) <= pwc.pml4e.hits);
    } else {
        prop_assert_eq!(pwc.pde.lookups + pwc.pdpte.lookups + pwc.pml4e.lookups, 0);
        prop_assert_eq!(starts(Level::top(levels)), w.walks);
        // Fill walks read every level; fault walks read as far as the tables existed.
        prop_assert_eq!(
            w.mem_refs,
            m.fault_walk_reads + top as u64 * (w.walks - w.faults)
        );
    }
    // A/D write-backs: one per page at least (its first fill sets A).
    let ad = w.ad_writes + core.dirty_bit_updates;
    prop_assert!(ad >= minor);

    // Time: the in-order core spends each access's instructions, then stalls for translation
    // (faults included) and data, back to back from cycle 0. An L1 TLB hit (1 cycle with the
    // default latencies) is not a miss cycle; every page translated once costs at least that.
    let c = sys.cfg.os.fault_cycles;
    prop_assert_eq!(
        core.instructions + core.translation_cycles + core.data_cycles,
        sys.cycles().0
    );
    prop_assert_eq!(
        core.instructions,
        records.iter().map(|x| x.instrs as u64).sum::<u64>()
    );
    prop_assert_eq!(
        core.translation_cycles - core.tlb_miss_cycles,
        m.x_pages + m.rw_pages
    );
    prop_assert_eq!(core.fault_cycles, minor * c);
    prop_assert_eq!(os.fault_cycles, minor * c);

    // Accesses: one record each, in order, back to back (in-order core, one outstanding).
    prop_assert_eq!(r.accesses.len(), records.len());
    for (i, (a, rc)) in r.accesses.iter().zip(records).enumerate() {
        prop_assert_eq!(a.va, rc.va);
        prop_assert_eq!(a.kind, rc.kind);
        prop_assert!(a.end > a.start);
        if i > 0 {
            prop_assert_eq!(
                a.start,
                r.accesses[i - 1].end,
                "access {} not back to back",
                i
            );
        }
        let new = &m.new_pages_per_access[i];
        prop_assert_eq!(
            a.fault,
            if new.is_empty() {
                FaultKind::None
            } else {
                FaultKind::Minor
            },
            "access {}",
            i
        );
        if !new.is_empty() {
            prop_assert_eq!(a.tlb, TlbLevel::Walk);
        }
        // The physical address of the first byte.
        let vpn = rc.va.0 >> 12;
        prop_assert_eq!(a.pa.0, (m.frame_of[&vpn] << 12) | (rc.va.0 & 0xfff));
    }
    prop_assert_eq!(sys.cycles(), r.accesses.last().unwrap().end);
    Ok(())
}

/// With caches off, every PTE read and every data access goes to DRAM, and so does every A/D
/// write-back.
fn check_caches_off(sys: &System, m: &KernelModel) -> Result<(), TestCaseError> {
    let w = sys.walkers.stats();
    let d = sys.mem.dram().stats();
    prop_assert_eq!(w.pte_cache_hits, 0);
    prop_assert_eq!(d.reads, w.mem_refs + m.data_reads);
    prop_assert_eq!(
        d.writes,
        m.data_writes + w.ad_writes + sys.core.stats().dirty_bit_updates
    );
    Ok(())
}

/// Fixed DRAM latency `l`, page-walk caches off: every walk lasts exactly mem_refs x (l + 1)
/// (each PTE read is issued one cycle after the previous one returned).
fn check_fixed_walk_durations(r: &Recorder, l: u64) -> Result<(), TestCaseError> {
    for x in &r.walks {
        prop_assert_eq!((x.end - x.start).0, x.mem_refs as u64 * (l + 1), "{:?}", x);
    }
    Ok(())
}

// The exact machine: fixed latency L, no caches, no page-walk caches, fault cost C, fully
// associative TLBs larger than the footprint (so nothing is ever evicted): every count and
// every cycle follows from the sequence (`check_exact`).
const L: u64 = 7;
const C: u64 = 10;

fn exact_machine() -> Config {
    config(&[
        "dram.model=fixed",
        &format!("dram.fixed_latency={L}"),
        "caches.enabled=false",
        "walker.pwc.enabled=false",
        &format!("os.fault_cycles={C}"),
        "os.frames=512",
        "tlb.l1i.entries=64",
        "tlb.l1i.ways=64",
        "tlb.l1d.entries=64",
        "tlb.l1d.ways=64",
        "tlb.l2.entries=64",
        "tlb.l2.ways=64",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ])
}

/// Per page translation starting at T (the retry of a fault starts a new one):
/// - L1 hit: the data comes back at T + 1 + L;
/// - L2 hit: T + 1 + 9 + L;
/// - walk of n reads: the walker takes the request at T + 10 and answers at T + 10 + n (L + 1);
///   the core sees the answer a cycle later and sends the data read a cycle after that:
///   T + 12 + n (L + 1) + L; a fault instead traps at T + 12 + n (L + 1) and the retry starts
///   C cycles later.
///
/// An access starting at S with I instructions translates its first page from S + I and each
/// next page when the previous page's data is back.
fn check_exact(
    sys: &System,
    r: &Recorder,
    records: &[Record],
    m: &KernelModel,
) -> Result<(), TestCaseError> {
    assert!(m.frame_of.len() <= MAX_PAGES && MAX_PAGES <= 64);
    let mut l1i: BTreeSet<u64> = BTreeSet::new();
    let mut l1d: BTreeSet<u64> = BTreeSet::new();
    let mut l2: BTreeSet<u64> = BTreeSet::new();
    let mut mapped: BTreeSet<u64> = BTreeSet::new();
    // [lookups, hits] for l1i, l1d, l2; walks; fills of l1i, l1d.
    let (mut i_lk, mut i_hit, mut d_lk, mut d_hit, mut l2_lk, mut l2_hit) = (0, 0, 0, 0, 0, 0);
    let (mut walks, mut i_fill, mut d_fill, mut mem_refs) = (0u64, 0u64, 0u64, 0u64);
    let mut now = 0u64;
    let mut fault_reads = m.new_pages_per_access.iter().flatten();
    for (i, rc) in records.iter().enumerate() {
        let a = &r.accesses[i];
        let start = now;
        let mut t = now + rc.instrs as u64;
        let mut level = TlbLevel::L1;
        let (mut a_refs, mut a_walk_cycles) = (0u64, 0u64);
        for vpn in pages_of(rc) {
            let fetch = rc.kind == Execute;
            loop {
                let (l1, lk, hit, fill) = if fetch {
                    (&mut l1i, &mut i_lk, &mut i_hit, &mut i_fill)
                } else {
                    (&mut l1d, &mut d_lk, &mut d_hit, &mut d_fill)
                };
                *lk += 1;
                if l1.contains(&vpn) {
                    *hit += 1;
                    t += 1 + L;
                    break;
                }
                l2_lk += 1;
                level = level.max(TlbLevel::L2);
                if l2.contains(&vpn) {
                    l2_hit += 1;
                    l1.insert(vpn);
                    *fill += 1;
                    t += 10 + L;
                    break;
                }
                level = TlbLevel::Walk;
                walks += 1;
                let n = if mapped.contains(&vpn) {
                    sys.cfg.walker.levels as u64
                } else {
                    let &(v, n) = fault_reads.next().unwrap();
                    assert_eq!(v, vpn);
                    n
                };
                mem_refs += n;
                a_refs += n;
                a_walk_cycles += n * (L + 1);
                if mapped.insert(vpn) {
                    // Page fault: trap, C cycles in the kernel, retry from the L1 lookup.
                    t += 12 + n * (L + 1) + C;
                    continue;
                }
                l2.insert(vpn);
                l1.insert(vpn);
                *fill += 1;
                t += 12 + n * (L + 1) + L;
                break;
            }
        }
        now = t;
        prop_assert_eq!((a.start.0, a.end.0), (start, now), "access {}: {:?}", i, rc);
        prop_assert_eq!(a.tlb, level, "access {}", i);
        prop_assert_eq!(a.walk_mem_refs as u64, a_refs, "access {}", i);
        prop_assert_eq!(a.walk_cycles, a_walk_cycles, "access {}", i);
    }
    let tlb = |n: &str| sys.core.tlb(n).unwrap().stats().clone();
    let (si, sd, s2) = (tlb("l1i"), tlb("l1d"), tlb("l2"));
    prop_assert_eq!(
        (si.lookups, si.hits, si.fills, si.evictions),
        (i_lk, i_hit, i_fill, 0)
    );
    prop_assert_eq!(
        (sd.lookups, sd.hits, sd.fills, sd.evictions),
        (d_lk, d_hit, d_fill, 0)
    );
    prop_assert_eq!((s2.lookups, s2.hits, s2.evictions), (l2_lk, l2_hit, 0));
    let w = sys.walkers.stats();
    prop_assert_eq!((w.walks, w.mem_refs), (walks, mem_refs));
    // Without evictions each page is filled by exactly one walk (the retry of its first
    // touch), which sets A, and D too if that access was a write; the first later write to a
    // page filled by a read or fetch sets D through the TLB entry: one more write-back.
    let late_dirty = m
        .written
        .iter()
        .filter(|v| m.first_kind[v] != Write)
        .count() as u64;
    prop_assert_eq!(w.ad_writes, m.minor_faults());
    prop_assert_eq!(sys.core.stats().dirty_bit_updates, late_dirty);
    prop_assert_eq!(sys.cycles().0, now);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The hand-derivable machine: counts, frames and every access's cycles follow from the
    /// sequence alone.
    #[test]
    fn plain_machine_matches_the_kernel_and_timing_model(records in workload()) {
        let cfg = exact_machine();
        let (sys, r) = run(&cfg, &records);
        let m = KernelModel::new(4, &records);
        check_common(&sys, &r, &records, &m)?;
        check_caches_off(&sys, &m)?;
        check_fixed_walk_durations(&r, L)?;
        check_exact(&sys, &r, &records, &m)?;
    }

    /// Tiny set-associative TLBs (constant evictions, refills by walks that find the page
    /// mapped) and five-level page tables.
    #[test]
    fn tiny_tlbs_and_five_levels_keep_the_invariants(records in workload()) {
        let cfg = config(&[
            "dram.model=fixed",
            "dram.fixed_latency=5",
            "caches.enabled=false",
            "walker.pwc.enabled=false",
            "walker.levels=5",
            "os.fault_cycles=3",
            "os.frames=512",
            "tlb.l1i.entries=2",
            "tlb.l1i.ways=1",
            "tlb.l1d.entries=4",
            "tlb.l1d.ways=2",
            "tlb.l1d.policy=fifo",
            "tlb.l2.entries=6",
            "tlb.l2.ways=2",
            "tlb.l2.policy=random",
            "output.accesses_csv=false",
            "output.walks_csv=false",
        ]);
        let (sys, r) = run(&cfg, &records);
        let m = KernelModel::new(5, &records);
        check_common(&sys, &r, &records, &m)?;
        check_caches_off(&sys, &m)?;
        check_fixed_walk_durations(&r, 5)?;
    }

    /// The default machine's hardware: DDR4, data caches (PTE reads through them) and
    /// page-walk caches, with small TLBs so that walks find mapped pages too.
    #[test]
    fn ddr4_caches_and_page_walk_caches_keep_the_invariants(records in workload()) {
        let cfg = config(&[
            "os.fault_cycles=50",
            "os.frames=512",
            "tlb.l1d.entries=8",
            "tlb.l1d.ways=2",
            "tlb.l2.entries=16",
            "tlb.l2.ways=4",
            "output.accesses_csv=false",
            "output.walks_csv=false",
        ]);
        let (sys, r) = run(&cfg, &records);
        let m = KernelModel::new(4, &records);
        check_common(&sys, &r, &records, &m)?;
    }

    /// Ticking every cycle gives exactly what skipping idle cycles gives (ARCHITECTURE.md
    /// section 2): the same records, cycle for cycle, and the same statistics; with a tiny L1D
    /// (dirty evictions) and frequent refresh.
    #[test]
    fn ticking_every_cycle_matches_skipping_on_random_sequences(records in workload()) {
        let sets = [
            "os.fault_cycles=40",
            "os.frames=512",
            "tlb.l1d.entries=8",
            "tlb.l1d.ways=2",
            "tlb.l2.entries=16",
            "tlb.l2.ways=4",
            "caches.l1d.size_kib=1",
            "caches.l1d.ways=2",
            // Refresh every 2000 cycles (400 long), so that runs cross refresh windows.
            "dram.refi_ns=500",
            "dram.rfc_ns=100",
            "output.accesses_csv=false",
            "output.walks_csv=false",
        ];
        let (skip, rs) = run(&config(&sets), &records);
        let mut tick_sets = sets.to_vec();
        tick_sets.push("engine.skip_idle=false");
        let (tick, rt) = run(&config(&tick_sets), &records);
        prop_assert_eq!(&rs.accesses, &rt.accesses);
        prop_assert_eq!(&rs.walks, &rt.walks);
        // Every statistic, `dram.refreshes` included (tests/refresh_count_skip_idle.rs).
        let stats = |sys: &System| vmsim_sim::SystemStats::collect(sys).to_json();
        prop_assert_eq!(stats(&skip), stats(&tick));
        prop_assert!(skip.engine.steps <= tick.engine.steps);
    }

    /// DDR4 with walks straight to DRAM, five-level tables, tiny page-walk caches (PML4E and
    /// PDPTE caches of one entry, so that the clustered regions evict each other; their keys
    /// must be whole prefixes, or the regions across the 1 GiB and 512 GiB boundaries alias)
    /// and the default TLBs.
    #[test]
    fn ddr4_walks_bypassing_caches_with_tiny_pwcs_keep_the_invariants(records in workload()) {
        let cfg = config(&[
            "os.fault_cycles=50",
            "os.frames=512",
            "walker.levels=5",
            "walker.through_caches=false",
            "walker.pwc.pml4e.entries=1",
            "walker.pwc.pml4e.ways=1",
            "walker.pwc.pdpte.entries=1",
            "walker.pwc.pdpte.ways=1",
            "walker.pwc.pde.entries=2",
            "walker.pwc.pde.ways=1",
            "walker.pwc.latency=2",
            "output.accesses_csv=false",
            "output.walks_csv=false",
        ]);
        let (sys, r) = run(&cfg, &records);
        let m = KernelModel::new(5, &records);
        check_common(&sys, &r, &records, &m)?;
        prop_assert_eq!(sys.walkers.stats().pte_cache_hits, 0, "walks bypass the caches");
    }
}
