//! Property tests of the kernel on random small machines built with `System::with_processes`:
//! one to three processes, each with one to three segments (private anonymous ones, shared
//! objects `s0` and `s1` mapped by several processes at different addresses, read-only ones),
//! a handful of frames so that pages are evicted and swapped back, random accesses inside the
//! segments, timed mmap/munmap/mprotect calls, and any of the four eviction policies.
//!
//! Accesses to private memory carry data (a write stores a unique value, a read expects the
//! last value its process wrote there, or 0), so every page that goes to swap and comes back is
//! checked word by word; accesses to shared objects carry none (two processes may write one
//! address in an order the scheduler decides). The generator follows each process's segment
//! list through its system calls, so every access is legal except rare "wild" ones (outside every
//! segment), which must kill their process with SIGSEGV and nothing else.
//!
//! Checked: the kernel's invariants after every step (`check_invariants`: frame accounting,
//! page tables against segment lists, reverse map) never fail; no integrity error and no swap
//! integrity error; exactly the processes with a wild access are killed, at it; after the run
//! every present leaf of every live page table maps an allocated frame of the right kind and
//! every table page is a page-table frame of its process.

mod common;

use common::{VecWorkload, drec, plain_machine, segment};
use proptest::prelude::*;
use std::collections::BTreeMap;
use vmsim_hw::AccessKind::{Read, Write};
use vmsim_hw::core::FaultKind;
use vmsim_hw::pte::Pte;
use vmsim_hw::{PhysAddr, Ppn, VirtAddr};
use vmsim_os::frames::FrameUse;
use vmsim_os::{Pid, Segment, SegmentKind};
use vmsim_sim::scenario::Syscall;
use vmsim_sim::system::{ProcessSpec, SyscallEvent};
use vmsim_sim::workload::Record;
use vmsim_sim::{System, workload};

/// Segments sit 8 pages apart from here (at most 6 pages each), so that all of a process's
/// memory shares one page table at every level.
const BASE: u64 = 0x1000_0000;
const SLOT: u64 = 0x8000;
/// An address outside every segment.
const WILD: u64 = 0x7000_0000;
/// Pages of the shared objects s0 and s1 (every segment of one object has its length).
const SHARED_PAGES: [u64; 2] = [3, 2];

#[derive(Clone, Debug)]
struct SegPlan {
    /// 0, 1: anonymous; 2: shared:s0; 3: shared:s1.
    kind: u8,
    /// Anonymous only: 1..=6 pages.
    pages: u64,
    read_only: bool,
}

#[derive(Clone, Debug)]
struct EventPlan {
    /// Fraction of the process's accesses made before the call, in 1/256.
    at: u8,
    /// 0: munmap a whole segment, 1: munmap its first page, 2: mprotect it read-only,
    /// 3: mprotect it read-write, 4, 5: mmap a new anonymous segment.
    op: u8,
    target: u8,
    pages: u64,
}

#[derive(Clone, Debug)]
struct AccessPlan {
    seg: u8,
    page: u8,
    word: u16,
    write: bool,
    wild: bool,
}

#[derive(Clone, Debug)]
struct ProcPlan {
    segs: Vec<SegPlan>,
    events: Vec<EventPlan>,
    accesses: Vec<AccessPlan>,
}

#[derive(Clone, Debug)]
struct Plan {
    procs: Vec<ProcPlan>,
    frames: u64,
    policy: &'static str,
    /// Give every process a one-page DMA segment (pinned, populated at spawn) in the page table
    /// all its segments share, so that its tables exist from the start and no fault ever needs
    /// a new one.
    tables_at_spawn: bool,
    /// `disk.fail_probability`: with failures, a process may also die of SIGBUS.
    fail: f64,
}

fn seg_plan(shared: bool) -> impl Strategy<Value = SegPlan> {
    let kinds = if shared { 0u8..4 } else { 0u8..2 };
    (kinds, 1u64..=6, prop::bool::weighted(0.2)).prop_map(|(kind, pages, read_only)| SegPlan {
        kind,
        pages,
        read_only,
    })
}

fn proc_plan(shared: bool) -> impl Strategy<Value = ProcPlan> {
    (
        prop::collection::vec(seg_plan(shared), 1..=3),
        prop::collection::vec(
            (any::<u8>(), 0u8..6, any::<u8>(), 1u64..=3).prop_map(|(at, op, target, pages)| {
                EventPlan {
                    at,
                    op,
                    target,
                    pages,
                }
            }),
            0..=3,
        ),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u8>(),
                0u16..512,
                any::<bool>(),
                prop::bool::weighted(0.005),
            )
                .prop_map(|(seg, page, word, write, wild)| AccessPlan {
                    seg,
                    page,
                    word,
                    write,
                    wild,
                }),
            1..=20,
        ),
    )
        .prop_map(|(segs, mut events, accesses)| {
            events.sort_by_key(|e| e.at);
            ProcPlan {
                segs,
                events,
                accesses,
            }
        })
}

fn plan(shared: bool, tables_at_spawn: bool, fail: f64) -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(proc_plan(shared), 1..=3),
        2u64..=6,
        prop::sample::select(vec!["fifo", "clock", "lru", "random"]),
    )
        .prop_map(move |(procs, data, policy)| Plan {
            // Four page-table frames per process (all its segments share one table at each
            // level), its pinned DMA page if any, and 2 to 6 frames for data: memory is tight,
            // pages are evicted. A process's first fault can always find its 3 tables and a data
            // frame by evicting (3 + data frames are never tables or pinned pages of the others).
            // The machine has at least 8 frames.
            frames: ((4 + u64::from(tables_at_spawn)) * procs.len() as u64 + data).max(8),
            procs,
            policy,
            tables_at_spawn,
            fail,
        })
}

/// One process, resolved: its spec, its records, and what must happen to it.
struct Built {
    spec: ProcessSpec,
    records: Vec<Record>,
    /// Index of the first wild access (the process dies there), if any.
    dies_at: Option<usize>,
}

fn kind_name(k: u8) -> String {
    match k {
        0 | 1 => "anonymous".into(),
        2 => "shared:s0".into(),
        _ => "shared:s1".into(),
    }
}

/// Remove `[start, end)` from a sorted segment list (the kernel's munmap).
fn carve(segs: &mut Vec<Segment>, start: u64, end: u64) {
    let mut kept = Vec::new();
    for s in segs.drain(..) {
        if s.end.0 <= start || s.start.0 >= end {
            kept.push(s);
            continue;
        }
        if s.start.0 < start {
            kept.push(Segment {
                end: VirtAddr(start),
                ..s.clone()
            });
        }
        if s.end.0 > end {
            kept.push(Segment {
                start: VirtAddr(end),
                ..s
            });
        }
    }
    *segs = kept;
}

/// Resolve process `pid`'s plan against a model of its segment list and private memory.
fn build_proc(pid: u32, p: &ProcPlan, tables_at_spawn: bool) -> Built {
    let mut segs: Vec<Segment> = p
        .segs
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let pages = match s.kind {
                0 | 1 => s.pages,
                k => SHARED_PAGES[k as usize - 2],
            };
            let perms = if s.read_only { "r--u" } else { "rw-u" };
            segment(
                BASE + j as u64 * SLOT,
                pages * 4096,
                perms,
                &kind_name(s.kind),
            )
        })
        .collect();
    let mut initial = segs.clone();
    if tables_at_spawn {
        // Outside the model: never accessed, never named by a system call.
        initial.push(segment(BASE + 7 * SLOT, 0x1000, "rw-u", "dma"));
    }
    let n = p.accesses.len();
    // Events at access counts in 0..n, non-decreasing (the plan is sorted by `at`).
    let mut pending: Vec<(usize, &EventPlan)> = p
        .events
        .iter()
        .map(|e| (e.at as usize * n / 256, e))
        .collect();
    pending.reverse();
    let mut events = Vec::new();
    let mut memory: BTreeMap<u64, u64> = BTreeMap::new();
    let mut records = Vec::new();
    let mut mmaps = 0;
    let mut writes = 0u64;
    let mut dies_at = None;
    for (i, a) in p.accesses.iter().enumerate() {
        while pending.last().is_some_and(|(at, _)| *at <= i) {
            let (after, e) = pending.pop().unwrap();
            let call = if e.op >= 4 {
                let start = BASE + (3 + mmaps) * SLOT;
                mmaps += 1;
                let s = segment(start, e.pages * 4096, "rw-u", "anonymous");
                let at = segs.partition_point(|x| x.start < s.start);
                segs.insert(at, s.clone());
                Some(Syscall::Mmap(s))
            } else if segs.is_empty() {
                None
            } else {
                let t = segs[e.target as usize % segs.len()].clone();
                let (start, end) = (t.start.0, t.end.0);
                match e.op {
                    0 | 1 => {
                        let end = if e.op == 0 { end } else { start + 4096 };
                        carve(&mut segs, start, end);
                        memory.retain(|va, _| !(start..end).contains(va));
                        Some(Syscall::Munmap {
                            start: VirtAddr(start),
                            end: VirtAddr(end),
                        })
                    }
                    _ => {
                        let perms = if e.op == 2 { "r--u" } else { "rw-u" };
                        let perms = vmsim_os::SegmentPerms::parse(perms).unwrap();
                        let j = segs.iter().position(|x| x.start == t.start).unwrap();
                        segs[j].perms = perms;
                        Some(Syscall::Mprotect {
                            start: VirtAddr(start),
                            end: VirtAddr(end),
                            perms,
                        })
                    }
                }
            };
            if let Some(call) = call {
                events.push(SyscallEvent {
                    after: after as u64,
                    call,
                });
            }
        }
        if a.wild || segs.is_empty() {
            records.push(drec(Read, WILD + 8 * a.word as u64, 0));
            dies_at.get_or_insert(i);
            continue;
        }
        let s = &segs[a.seg as usize % segs.len()];
        let pages = (s.end.0 - s.start.0) / 4096;
        let va = s.start.0 + (a.page as u64 % pages) * 4096 + 8 * a.word as u64;
        let write = a.write && s.perms.w;
        let shared = matches!(s.kind, SegmentKind::Shared(_));
        let r = match (write, shared) {
            (true, true) => common::rec(Write, va, 8, 0),
            (false, true) => common::rec(Read, va, 8, 0),
            (true, false) => {
                writes += 1;
                let v = vmsim_sim::workload::data::value(pid, va, writes);
                memory.insert(va, v);
                drec(Write, va, v)
            }
            (false, false) => drec(Read, va, memory.get(&va).copied().unwrap_or(0)),
        };
        records.push(r);
    }
    Built {
        spec: ProcessSpec {
            name: format!("p{pid}"),
            segments: initial,
            events,
        },
        records,
        dies_at,
    }
}

/// Walk a 4-level table from `table` (at `level`, 4 = PML4) in software: every page-table page
/// below the root and every non-zero leaf.
fn soft_walk(
    sys: &System,
    table: Ppn,
    level: u32,
    base: u64,
    tables: &mut Vec<Ppn>,
    leaves: &mut Vec<(u64, Pte)>,
) {
    for i in 0..512u64 {
        let pte = sys.phys.read_pte(PhysAddr(table.base().0 + 8 * i));
        if pte.0 == 0 {
            continue;
        }
        let va = base + (i << (12 + 9 * (level - 1)));
        if level == 1 {
            leaves.push((va, pte));
        } else if pte.present() {
            tables.push(pte.ppn());
            soft_walk(sys, pte.ppn(), level - 1, va, tables, leaves);
        }
    }
}

fn check(plan: &Plan) -> Result<(), TestCaseError> {
    let policy = format!("os.eviction={}", plan.policy);
    let frames = format!("os.frames={}", plan.frames);
    let fail = format!("disk.fail_probability={}", plan.fail);
    let cfg = plain_machine(50, &[&policy, &frames, &fail, "os.time_slice=20000"]);
    let built: Vec<Built> = plan
        .procs
        .iter()
        .enumerate()
        .map(|(i, p)| build_proc(i as u32 + 1, p, plan.tables_at_spawn))
        .collect();
    let specs = built
        .iter()
        .map(|b| ProcessSpec {
            name: b.spec.name.clone(),
            segments: b.spec.segments.clone(),
            events: b.spec.events.clone(),
        })
        .collect();
    let mut sys = System::with_processes(&cfg, specs, Vec::new()).unwrap();
    sys.check_invariants = true;
    let mut wls: Vec<VecWorkload> = built
        .iter()
        .map(|b| VecWorkload::new(b.records.clone()))
        .collect();
    let mut refs: Vec<&mut dyn workload::Workload> = wls
        .iter_mut()
        .map(|w| w as &mut dyn workload::Workload)
        .collect();
    let mut rec = common::PidRecorder::default();
    let result = sys.run_all(&mut refs, &mut rec);
    if let Err(vmsim_sim::SimError::Os(vmsim_os::OsError::OutOfFrames { frames })) = &result {
        // Page tables made on demand can outgrow the plan's estimate of four per process (a
        // segment mapped far from the others needs tables of its own). The kernel gives up
        // only when that is really so: not one frame holds an evictable page.
        let f = sys.kernel.frames();
        let stuck = (0..*frames)
            .map(vmsim_hw::Ppn)
            .filter(|&p| matches!(f.use_of(p), FrameUse::PageTable(_)) || f.pinned(p))
            .count() as u64;
        prop_assert_eq!(
            stuck + f.free_count(),
            *frames,
            "gave up with evictable pages"
        );
        return Ok(());
    }
    prop_assert!(result.is_ok(), "run failed: {}", result.unwrap_err());

    let integrity = sys.integrity().clone();
    prop_assert_eq!(integrity.errors, 0, "{:?}", integrity.first_error);
    let os = sys.kernel.stats().clone();
    prop_assert_eq!(os.swap_integrity_errors, 0);
    prop_assert_eq!(os.swap_ins, os.major_faults);
    prop_assert_eq!(sys.disk.stats().writes, os.swap_outs);
    if plan.fail == 0.0 {
        prop_assert_eq!(os.bus_kills, 0);
        prop_assert_eq!(sys.disk.stats().reads, os.swap_ins);
    } else {
        // A read that does not end in a swap-in kills its process: it failed at the disk, or
        // its slot's last write failed (the disk then returns an older copy, or nothing).
        let d = sys.disk.stats();
        prop_assert!(d.reads >= os.swap_ins);
        prop_assert!(d.reads - os.swap_ins <= os.bus_kills);
        prop_assert!(d.errors >= os.swap_write_errors);
        prop_assert!(d.errors - os.swap_write_errors <= d.reads - os.swap_ins);
    }
    prop_assert_eq!(
        sys.dma.stats().transfers,
        os.swap_ins + os.swap_outs + os.swap_outs_dropped
    );
    if let Err(e) = sys.kernel.check_invariants(&sys.phys) {
        return Err(TestCaseError::fail(format!("after the run: {e}")));
    }

    // Exactly the processes with a wild access die, at it; the others make every access.
    let kills = sys.kills().to_vec();
    let stats: Vec<_> = sys
        .process_stats()
        .map(|(pid, _, s)| (pid, s.accesses))
        .collect();
    let mut expected_kills = 0;
    let mut bus_kills = 0;
    for (i, b) in built.iter().enumerate() {
        let pid = Pid(i as u32 + 1);
        let p = sys.kernel.process(pid).unwrap();
        let bus = kills
            .iter()
            .find(|k| k.pid == pid && k.signal == vmsim_os::Signal::Sigbus);
        match (b.dies_at, bus) {
            (_, Some(k)) => {
                // Only with disk failures, at or before the wild access, at a page its process
                // may touch (no wild page).
                prop_assert!(plan.fail > 0.0, "SIGBUS without disk failures: {:?}", k);
                bus_kills += 1;
                let n = stats[i].1;
                prop_assert!(n as usize <= b.dies_at.map_or(b.records.len(), |w| w + 1));
                prop_assert!(n < b.records.len() as u64 + 1);
                prop_assert_ne!(k.va.0 & !0xfff, WILD & !0xfff);
                prop_assert!(k.reason.contains("swap"), "{:?}", k);
                prop_assert!(p.status.describe().starts_with("SIGBUS"));
                let last = rec.accesses.iter().rev().find(|(q, _)| *q == pid).unwrap();
                prop_assert_eq!(last.1.fault, FaultKind::Bus);
                prop_assert_eq!(last.1.va.0 & !0xfff, k.va.0);
            }
            (Some(w), None) => {
                expected_kills += 1;
                prop_assert_eq!(stats[i].1, w as u64 + 1, "pid {}", pid.0);
                let k = kills.iter().find(|k| k.pid == pid);
                prop_assert!(k.is_some(), "pid {} not killed", pid.0);
                let k = k.unwrap();
                prop_assert_eq!(k.signal, vmsim_os::Signal::Sigsegv);
                prop_assert_eq!(k.va.0, b.records[w].va.0 & !0xfff);
                prop_assert_eq!(k.reason.as_str(), "address outside every segment");
                let last = rec.accesses.iter().rev().find(|(q, _)| *q == pid).unwrap();
                prop_assert_eq!(last.1.fault, FaultKind::Segv);
            }
            (None, None) => {
                prop_assert_eq!(stats[i].1, b.records.len() as u64, "pid {}", pid.0);
                prop_assert_eq!(p.status.describe(), "exited");
            }
        }
        // The calls due before the process's last access ran (an event `after = k` runs
        // before access k + 1).
        let due = b
            .spec
            .events
            .iter()
            .filter(|e| e.after < stats[i].1)
            .count() as u64;
        prop_assert_eq!(p.stats.syscalls, due, "pid {}", pid.0);
    }
    prop_assert_eq!(kills.len(), expected_kills + bus_kills);
    prop_assert_eq!(os.segv_kills, expected_kills as u64);
    prop_assert_eq!(os.bus_kills, bus_kills as u64);

    // Every present leaf of every live page table maps an allocated frame of the right kind;
    // every table page belongs to its process; free + data + tables = total.
    let f = sys.kernel.frames();
    prop_assert_eq!(f.free_count() + f.data_count() + f.table_count(), f.total());
    let mut all_tables = 0;
    // Every swap slot in use is held by exactly one thing: a swap entry in a live page table, a
    // resident data frame's copy (the swap cache), or a swapped page of a shared object.
    let mut slots: Vec<u64> = Vec::new();
    for ppn in 0..f.total() {
        let ppn = Ppn(ppn);
        if matches!(f.use_of(ppn), FrameUse::Data(_) | FrameUse::Shared(_))
            && let Some(s) = f.slot(ppn)
        {
            slots.push(s);
        }
    }
    for o in sys.kernel.shared_objects() {
        for page in &o.pages {
            if let vmsim_os::shm::ShmPage::Swapped(s) = page {
                slots.push(*s);
            }
        }
    }
    for p in sys.kernel.processes() {
        let Some(pt) = sys.kernel.page_table(p.pid) else {
            continue;
        };
        prop_assert_eq!(f.use_of(pt.root), FrameUse::PageTable(p.pid.0));
        let (mut tables, mut leaves) = (Vec::new(), Vec::new());
        soft_walk(&sys, pt.root, 4, 0, &mut tables, &mut leaves);
        all_tables += 1 + tables.len() as u64;
        for t in tables {
            prop_assert_eq!(f.use_of(t), FrameUse::PageTable(p.pid.0));
        }
        for (va, pte) in leaves {
            let seg = p.segment_of(VirtAddr(va));
            prop_assert!(seg.is_some(), "pid {}: leaf at {:#x} outside", p.pid.0, va);
            if !pte.present() {
                let slot = vmsim_os::swap::swap_slot(pte);
                prop_assert!(slot.is_some(), "pid {}: {:#x}: {:#x}", p.pid.0, va, pte.0);
                slots.push(slot.unwrap());
                continue;
            }
            let u = f.use_of(pte.ppn());
            prop_assert_ne!(
                u,
                FrameUse::Free,
                "pid {} maps free frame at {:#x}",
                p.pid.0,
                va
            );
            match &seg.unwrap().kind {
                SegmentKind::Shared(_) => prop_assert!(matches!(u, FrameUse::Shared(_))),
                _ => prop_assert_eq!(u, FrameUse::Data(p.pid.0)),
            }
        }
    }
    prop_assert_eq!(all_tables, f.table_count());
    let held = slots.len() as u64;
    slots.sort_unstable();
    slots.dedup();
    prop_assert_eq!(slots.len() as u64, held, "a swap slot held twice");
    prop_assert_eq!(sys.kernel.swap().used(), held, "swap slots leaked");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Private memory only: every swapped page comes back bit for bit.
    #[test]
    fn private_scenarios_keep_invariants_and_data(p in plan(false, false, 0.0)) {
        check(&p)?;
    }

    /// With shared objects mapped by several processes (or twice by one) at different
    /// addresses; page tables made at spawn, to steer clear of the bug the test below finds.
    #[test]
    fn shared_scenarios_keep_invariants_and_data(p in plan(true, true, 0.0)) {
        check(&p)?;
    }

    /// The same, with page tables made on demand: a process's first touch of a shared page
    /// another mapping made resident may evict that very frame to make room for its tables
    /// (see `mapping_a_resident_shared_page_never_maps_a_frame_evicted_meanwhile` in
    /// tests/os_scenarios.rs).
    #[test]
    fn shared_scenarios_with_tables_on_demand_keep_invariants_and_data(p in plan(true, false, 0.0)) {
        check(&p)?;
    }

    /// Private memory with one disk request in ten failing: a process whose page is lost (a
    /// failed write) or cannot be read dies of SIGBUS, at the page it needed; nobody ever reads
    /// wrong data, and no slot leaks.
    #[test]
    fn private_scenarios_with_disk_errors_kill_with_sigbus_and_never_corrupt(p in plan(false, false, 0.1)) {
        check(&p)?;
    }
}
