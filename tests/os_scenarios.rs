//! Whole-machine OS scenarios: SIGSEGV and SIGBUS kills, swapping under memory pressure for
//! every eviction policy, the exact timing of a major fault, disk errors, mmap/munmap/mprotect,
//! a DMA device and shared memory. Each run goes through the real `System`, with the kernel's
//! invariants checked after every step where it matters.

mod common;

use common::{
    PidRecorder, VecWorkload, drec, plain_machine, run_built, scenario, segment, toml_config,
};
use vmsim_hw::AccessKind::{Read, Write};
use vmsim_hw::core::FaultKind;
use vmsim_hw::{PhysAddr, VirtAddr};
use vmsim_os::{Pid, Signal};
use vmsim_sim::scenario::Syscall;
use vmsim_sim::stats::SystemStats;
use vmsim_sim::system::{ProcessSpec, SyscallEvent};
use vmsim_sim::workload::Record;
use vmsim_sim::{NoObserver, System};

// ---------------------------------------------------------------------------------------------
// SIGSEGV

/// `sim/scenarios/segv.toml`: the intruder (pid 2) writes into its read-only segment at
/// 0x2000_0000 on its very first access and is killed; the worker (pid 1) makes all 20000 of its
/// accesses and exits.
#[test]
fn segv_scenario_kills_the_intruder_on_its_first_access_and_the_worker_runs_on() {
    let cfg = scenario("segv.toml", &[]);
    let out = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    let s = &out.stats;
    assert_eq!(s.faults.segv_kills, 1);
    assert_eq!(s.faults.bus_kills, 0);
    assert_eq!(s.processes.len(), 2);
    let (worker, intruder) = (&s.processes[0], &s.processes[1]);
    assert_eq!((worker.pid, intruder.pid), (1, 2));
    assert_eq!(worker.accesses, 20_000);
    assert_eq!(worker.exit, "exited");
    assert_eq!(intruder.accesses, 1, "killed on its first access");
    assert!(
        intruder.exit.starts_with("SIGSEGV"),
        "exit: {}",
        intruder.exit
    );
    assert!(
        intruder.exit.starts_with("SIGSEGV at 0x20000000:"),
        "exit: {}",
        intruder.exit
    );
    assert!(
        intruder.exit.ends_with("write to a read-only segment"),
        "exit: {}",
        intruder.exit
    );
    assert_eq!(s.accesses, 20_001);
    // Reported once.
    assert_eq!(out.kills.len(), 1, "{:?}", out.kills);
    let (_, line) = &out.kills[0];
    assert!(
        line.starts_with("pid 2 killed by SIGSEGV at 0x20000000"),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------------
// mprotect.toml

/// `sim/scenarios/mprotect.toml`, counted by hand from its comments. The remapper strides over
/// its 128-page heap, one access per page, 8 passes: pass 1 makes 128 minor faults; the
/// read-only mprotect after 256 accesses rewrites present PTEs (its reads go on, no fault); the
/// munmap + mmap of the upper 64 pages after 512 brings them back fresh, 64 more minor faults;
/// the mmap after 768 is never touched. 4 system calls. The victim writes its 32 pages (32
/// minor faults), and after 100 accesses its buffer becomes read-only: its 101st access, a
/// write to page 100 mod 32 = 4, is a protection fault on a present PTE and kills it.
#[test]
fn mprotect_scenario_counts_follow_from_its_description() {
    let cfg = scenario("mprotect.toml", &[]);
    let out = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    let s = &out.stats;
    let (remapper, victim) = (&s.processes[0], &s.processes[1]);
    assert_eq!(
        (remapper.accesses, remapper.exit.as_str()),
        (1024, "exited")
    );
    assert_eq!(
        (
            remapper.minor_faults,
            remapper.major_faults,
            remapper.protection_faults
        ),
        (192, 0, 0)
    );
    assert_eq!(remapper.syscalls, 4);
    assert_eq!(victim.accesses, 101);
    assert_eq!(
        (
            victim.minor_faults,
            victim.major_faults,
            victim.protection_faults
        ),
        (32, 0, 1)
    );
    assert_eq!(victim.syscalls, 1);
    assert_eq!(
        victim.exit,
        "SIGSEGV at 0x30004000: write to a read-only segment"
    );
    assert_eq!(s.faults.segv_kills, 1);
    assert_eq!(s.faults.minor, 224);
    assert_eq!(s.os.syscalls, 5);
    assert_eq!(out.kills.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Swap under pressure

/// One data-carrying process making `accesses` random accesses (half of them writes) over a heap
/// of `4 * frames - 16` pages: with the 4 page-table frames taken, the footprint is more than 4x
/// the data frames.
fn pressure(policy: &str, frames: u64, accesses: u64) -> vmsim_sim::Config {
    let pages = 4 * frames - 16;
    let text = format!(
        r#"
        [os]
        frames = {frames}
        [disk]
        preset = "nvme"
        [[process]]
        name = "thrasher"
        segments = [ {{ start = 0x1000_0000, len = {len}, perms = "rw-u" }} ]
        [process.workload]
        kind = "random"
        base = 0x1000_0000
        pages = {pages}
        accesses = {accesses}
        write_ratio = 0.5
        data = true
    "#,
        len = pages * 4096
    );
    let eviction = format!("os.eviction={policy}");
    toml_config(&text, &[&eviction])
}

fn check_swap_counters(s: &SystemStats, what: &str, frames: u64, tables: u64, accesses: u64) {
    assert_eq!(s.processes[0].accesses, accesses, "{what}");
    assert_eq!(s.processes[0].exit, "exited", "{what}");
    assert_eq!(
        s.integrity.errors, 0,
        "{what}: {:?}",
        s.integrity.first_error
    );
    assert!(s.integrity.loads_checked > 0, "{what}");
    assert!(s.integrity.stores > 0, "{what}");
    assert!(s.os.swap_ins > 0, "{what}");
    assert!(s.os.evictions > 0, "{what}");
    assert_eq!(s.faults.major, s.os.swap_ins, "{what}");
    assert_eq!(s.processes[0].major_faults, s.os.swap_ins, "{what}");
    assert_eq!(s.os.swap_outs, s.disk.writes, "{what}");
    assert_eq!(s.disk.reads, s.os.swap_ins, "{what}");
    assert_eq!(s.disk.errors, 0, "{what}");
    assert_eq!(s.dma.transfers, s.os.swap_ins + s.os.swap_outs, "{what}");
    assert_eq!(s.os.swap_integrity_errors, 0, "{what}");
    assert_eq!(s.os.swap_write_errors, 0, "{what}");
    // A write-back is needed only for an evicted page: never more swap-outs than evictions.
    assert!(s.os.swap_outs <= s.os.evictions, "{what}");
    // Memory is full at the end: the table frames, the rest data.
    assert_eq!(s.os.page_table_pages, tables, "{what}");
    assert_eq!(s.os.frames_free, 0, "{what}");
    assert_eq!(s.os.data_pages, frames - tables, "{what}");
    assert_eq!(s.faults.segv_kills + s.faults.bus_kills, 0, "{what}");
}

/// For one policy: a short run with the kernel's invariants checked after every step (the check
/// costs about 0.1 ms a step in a debug build, and a swapping access takes about 200 steps), and
/// a long one (3000 accesses over 256 pages with 64 frames) for the counters.
fn swap_under_pressure(policy: &str) {
    let cfg = pressure(policy, 16, 40);
    let sys = run_built(&cfg, true, &mut NoObserver).unwrap_or_else(|e| panic!("{policy}: {e}"));
    let what = format!("{policy}, checked");
    check_swap_counters(&SystemStats::collect(&sys), &what, 16, 4, 40);
    let cfg = pressure(policy, 64, 3000);
    let sys = run_built(&cfg, false, &mut NoObserver).unwrap_or_else(|e| panic!("{policy}: {e}"));
    check_swap_counters(&SystemStats::collect(&sys), policy, 64, 4, 3000);
}

#[test]
fn swap_under_pressure_fifo() {
    swap_under_pressure("fifo");
}
#[test]
fn swap_under_pressure_clock() {
    swap_under_pressure("clock");
}
#[test]
fn swap_under_pressure_lru() {
    swap_under_pressure("lru");
}
#[test]
fn swap_under_pressure_random() {
    swap_under_pressure("random");
}

/// `sim/scenarios/swap.toml` as shipped (shortened to 1500 accesses): the same identities.
#[test]
fn swap_scenario_keeps_data_and_counters() {
    let cfg = scenario("swap.toml", &["process[0].workload.accesses=1500"]);
    let out = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    // The 4 MiB heap spans two 2 MiB regions: root, PDPT, PD and two PTs.
    check_swap_counters(&out.stats, "swap.toml", 256, 5, 1500);
    assert!(out.kills.is_empty());
}

/// Every major fault in `accesses.csv` lasts at least the NVMe read (88 us = 352,000 cycles at
/// 4 GHz) plus the kernel's `os.major_fault_cycles`.
#[test]
fn major_faults_in_accesses_csv_cost_at_least_a_disk_read_plus_the_handler() {
    let cfg = pressure("clock", 64, 3000);
    let dir = tempfile::tempdir().unwrap();
    let out = vmsim_sim::run(&cfg, Some(dir.path()), &mut NoObserver).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("accesses.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (c0, c1, cf) = (col("cycle_start"), col("cycle_end"), col("fault"));
    let floor = 352_000 + cfg.os.major_fault_cycles;
    assert_eq!(cfg.os.major_fault_cycles, 12_000);
    let mut majors = 0;
    let mut rows = 0;
    for line in lines {
        rows += 1;
        let f: Vec<&str> = line.split(',').collect();
        if f[cf] != "major" {
            continue;
        }
        majors += 1;
        let (a, b): (u64, u64) = (f[c0].parse().unwrap(), f[c1].parse().unwrap());
        assert!(
            b - a >= floor,
            "major fault lasting {} < {floor}: {line}",
            b - a
        );
    }
    assert_eq!(rows, 3000);
    assert_eq!(majors, out.stats.faults.major);
    assert!(majors > 0);
}

// ---------------------------------------------------------------------------------------------
// Exact major-fault timing

/// DRAM latency, minor and major fault costs, DMA setup (500 ns at 4 GHz), NVMe write and read.
const L: u64 = 100;
const C: u64 = 4000;
const M: u64 = 12_000;
const S: u64 = 2000;
const DISK_W: u64 = 80_000;
const DISK_R: u64 = 352_000;

/// The plain machine with 8 frames (the fewest allowed) and one process whose 3-page DMA segment
/// (pinned, populated at spawn) uses them up but one: root table in frame 0, the first DMA page
/// in frame 1, its PDPT, PD and PT in frames 2-4, the other DMA pages in frames 5 and 6. Frame 7
/// is the only one left for data, and pages A and B lie in the same PT as the DMA pages, so
/// mapping them needs no table.
fn one_free_frame_machine(extra: &[&str]) -> vmsim_sim::Config {
    let mut sets = vec![
        "os.frames=8",
        "os.fault_cycles=4000",
        "os.major_fault_cycles=12000",
        "disk.preset=nvme",
        "dma.setup_ns=500.0",
        "dma.max_outstanding=16",
    ];
    sets.extend_from_slice(extra);
    plain_machine(L, &sets)
}

const DMA_BASE: u64 = 0x1000_0000;
const PAGE_A: u64 = 0x1000_3000;
const PAGE_B: u64 = 0x1000_4000;

fn single(
    cfg: &vmsim_sim::Config,
    segments: Vec<vmsim_os::Segment>,
    events: Vec<SyscallEvent>,
    records: Vec<Record>,
    check: bool,
) -> (System, PidRecorder) {
    let mut sys = System::with_processes(
        cfg,
        vec![ProcessSpec {
            name: "p".into(),
            segments,
            events,
        }],
        Vec::new(),
    )
    .unwrap();
    sys.check_invariants = check;
    let mut r = PidRecorder::default();
    sys.run_all(&mut [&mut VecWorkload::new(records)], &mut r)
        .unwrap();
    (sys, r)
}

fn tiny_segments() -> Vec<vmsim_os::Segment> {
    vec![
        segment(DMA_BASE, 0x3000, "rw-u", "dma"),
        segment(PAGE_A, 0x2000, "rw-u", "anonymous"),
    ]
}

/// Write A (minor fault), write B (A, dirty, is evicted: DMA out, then the disk write is queued;
/// B is zero-filled), read A (a major fault: B, dirty, goes out by DMA, its disk write is queued
/// behind A's, and A's disk read waits behind both; then the DMA brings A in).
///
/// Access-level formulas (tests/walk_timing.rs, with no instruction per access): an access
/// starting at `t` misses the L1 DTLB at t+1 and the L2 at t+10, where the walk starts; a walk
/// reading all four levels (the tables exist) takes 4(L+1); a walk that faults ends at
/// t+14+4L, the core sees the fault one cycle later and the OS takes it at `trap = t+16+4L`.
/// A retry released at `r` walks again from r+10 to r+14+4L, fills the TLBs at r+15+4L and sends
/// the data access for r+16+4L, which DRAM answers L later: the access ends at `r+16+5L`.
/// The DMA engine (module doc of hw/src/dma.rs) completes a page (n = 64 lines, 16 in flight)
/// submitted to an idle engine at t0 at `t0 + S + ceil(64/16)(L+1) + 1 = t0 + S + 4L + 5`, the
/// completion interrupt being taken in that cycle. The disk serves one request at a time in
/// FIFO order. A minor fault replies C after the trap (or after the last I/O it waited for), a
/// major one M after the DMA that filled the page.
///
/// With L = 100, C = 4000, M = 12000, S = 2000:
///  1. write A at 0: trap at 16+4L = 416, zero-filled into frame 7, retry at 4416,
///     end E1 = 4416+16+5L = 4932.
///  2. write B at E1: trap T2 = E1+16+4L = 5348; no free frame: A is evicted (dirty), DMA out
///     from T2, done D2 = T2+S+4L+5 = 7753; the disk write of A (slot 0) is submitted at D2 and
///     runs 7753..87753; frame 7 is free again and B is zero-filled into it; retry at D2+C =
///     11753; end E2 = 11753+16+5L = 12269.
///  3. read A at E2: trap T3 = E2+16+4L = 12685; B is evicted (dirty): DMA out done at
///     T3+S+4L+5 = 15090, when B's disk write (slot 1) is queued behind A's (87753..167753),
///     and A's read of slot 0 behind that (167753..519753); at 519753 the DMA writes A into
///     frame 7, done 519753+S+4L+5 = 522158; the retry is released M later at 534158; the
///     access ends at 534158+16+5L = 534674.
#[test]
fn major_fault_timing_is_exact_to_the_cycle() {
    let cfg = one_free_frame_machine(&[]);
    assert_eq!(cfg.os.eviction.as_str(), "clock");
    let records = vec![
        drec(Write, PAGE_A, 0xa11a),
        drec(Write, PAGE_B, 0xb22b),
        drec(Read, PAGE_A, 0xa11a),
    ];
    let (sys, r) = single(&cfg, tiny_segments(), Vec::new(), records, true);
    assert_eq!(sys.dma.setup_cycles(), S);
    let a: Vec<_> = r.accesses.iter().map(|(_, a)| *a).collect();
    assert_eq!(a.len(), 3);
    assert_eq!(
        a.iter().map(|x| x.fault).collect::<Vec<_>>(),
        vec![FaultKind::Minor, FaultKind::Minor, FaultKind::Major]
    );

    let e1 = 16 + 4 * L + C + 16 + 5 * L;
    assert_eq!(e1, 4932);
    let t2 = e1 + 16 + 4 * L;
    let d2 = t2 + S + 4 * (L + 1) + 1;
    assert_eq!(d2, 7753);
    let e2 = d2 + C + 16 + 5 * L;
    assert_eq!(e2, 12_269);
    let t3 = e2 + 16 + 4 * L;
    let d3_out = t3 + S + 4 * (L + 1) + 1;
    assert_eq!(d3_out, 15_090);
    // Disk: A's write from d2, B's write after it, A's read after that.
    let read_done = d2 + DISK_W + DISK_W + DISK_R;
    assert!(d3_out < d2 + DISK_W, "B's write waits behind A's");
    assert_eq!(read_done, 519_753);
    let d3_in = read_done + S + 4 * (L + 1) + 1;
    assert_eq!(d3_in, 522_158);
    let e3 = d3_in + M + 16 + 5 * L;
    assert_eq!(e3, 534_674);

    assert_eq!((a[0].start.0, a[0].end.0), (0, e1));
    assert_eq!((a[1].start.0, a[1].end.0), (e1, e2));
    assert_eq!((a[2].start.0, a[2].end.0), (e2, e3));

    let os = sys.kernel.stats();
    assert_eq!((os.minor_faults, os.major_faults), (2, 1));
    assert_eq!((os.evictions, os.swap_outs, os.swap_ins), (2, 2, 1));
    assert_eq!(os.fault_cycles, C + (d2 + C - t2) + (d3_in + M - t3));
    let d = sys.disk.stats();
    assert_eq!((d.reads, d.writes, d.errors), (1, 2, 0));
    // A's read waited for both writes: 519753 - 15090 cycles from its submission.
    assert_eq!(d.total_read_latency, read_done - d3_out);
    assert_eq!(d.total_write_latency, DISK_W + (d2 + 2 * DISK_W - d3_out));
    assert_eq!(sys.dma.stats().transfers, 3);
    assert_eq!(sys.integrity().errors, 0);
    assert_eq!(sys.integrity().loads_checked, 1);
    // A is back in frame 7 with its value; B is on the swap device.
    assert_eq!(sys.frame_of(Pid(1), VirtAddr(PAGE_A)).map(|p| p.0), Some(7));
    assert_eq!(sys.phys.read_u64(PhysAddr(7 * 4096)), 0xa11a);
    assert_eq!(
        sys.kernel.swap().used(),
        2,
        "A keeps its slot (swap cache); B has one"
    );
}

/// The same three accesses, then a read of B: A came back clean and keeps its copy in slot 0
/// (the swap cache), so evicting it needs no DMA and no disk write; B's read of slot 1 finds the
/// disk idle (its last request, A's read, ended at 519,753).
///  4. read B at E3 = 534,674: trap T4 = E3+16+4L = 535,090; A is dropped at once; the disk read
///     runs 535,090..887,090; the DMA writes B into frame 7, done 887,090+S+4L+5 = 889,495; the
///     retry is released at 901,495 and the access ends at 901,495+16+5L = 902,011.
#[test]
fn evicting_a_clean_page_with_a_swap_copy_costs_no_write() {
    let cfg = one_free_frame_machine(&[]);
    let records = vec![
        drec(Write, PAGE_A, 0xa11a),
        drec(Write, PAGE_B, 0xb22b),
        drec(Read, PAGE_A, 0xa11a),
        drec(Read, PAGE_B, 0xb22b),
    ];
    let (sys, r) = single(&cfg, tiny_segments(), Vec::new(), records, true);
    let a = r.accesses[3].1;
    let e3 = 534_674;
    assert_eq!(r.accesses[2].1.end.0, e3);
    let t4 = e3 + 16 + 4 * L;
    let d4 = t4 + DISK_R + S + 4 * (L + 1) + 1;
    assert_eq!(d4, 889_495);
    assert_eq!(
        (a.start.0, a.end.0, a.fault),
        (e3, d4 + M + 16 + 5 * L, FaultKind::Major)
    );
    assert_eq!(a.end.0, 902_011);
    let os = sys.kernel.stats();
    assert_eq!((os.evictions, os.swap_outs, os.swap_ins), (3, 2, 2));
    let d = sys.disk.stats();
    assert_eq!((d.reads, d.writes), (2, 2));
    assert_eq!(sys.dma.stats().transfers, 4);
    assert_eq!(
        (sys.integrity().loads_checked, sys.integrity().errors),
        (2, 0)
    );
    // Slot 0 is held by A's swap entry, slot 1 by B's frame (its swap-cache copy).
    assert_eq!(sys.kernel.swap().used(), 2);
    assert_eq!(sys.kernel.frames().slot(vmsim_hw::Ppn(7)), Some(1));
}

/// Thrashing windows, exactly, on the three-access timeline above with 10,000-cycle windows and
/// a 0.9 threshold. Paging faults (those that wait for the swap device) cover [5348, 11753)
/// (B's fault waits for A's write-out) and [12685, 534158) (A's swap-in); A's first, minor
/// fault [416, 4416) does not count. The run ends at 534,674.
///  - window 0: 4652 busy cycles of 10,000 (5348..10,000): 0.465, not thrashing;
///  - window 1: 1753 + 7315 = 9068: thrashing;
///  - windows 2 to 52 (20,000..530,000): wholly busy, 51 of them;
///  - window 53, partial (530,000..534,674, 4674 cycles): 4158 busy, 0.89: not thrashing.
///
/// So 52 windows; with the default threshold 0.5, 53 (all but window 0).
#[test]
fn thrashing_windows_follow_fault_service_exactly() {
    let records = vec![
        drec(Write, PAGE_A, 0xa11a),
        drec(Write, PAGE_B, 0xb22b),
        drec(Read, PAGE_A, 0xa11a),
    ];
    for (threshold, windows) in [("0.9", 52), ("0.5", 53)] {
        let th = format!("os.thrashing_threshold={threshold}");
        let cfg = one_free_frame_machine(&["os.thrashing_window=10000", &th]);
        let (mut sys, _) = single(&cfg, tiny_segments(), Vec::new(), records.clone(), false);
        assert_eq!(sys.cycles().0, 534_674);
        assert_eq!(
            sys.kernel.stats().fault_cycles,
            4000 + (11_753 - 5348) + (534_158 - 12_685)
        );
        assert_eq!(sys.kernel.stats().thrashing_windows, windows, "{threshold}");
        // Finishing again at the same end changes nothing.
        sys.kernel.finish(sys.cycles());
        assert_eq!(sys.kernel.stats().thrashing_windows, windows);
    }
}

// ---------------------------------------------------------------------------------------------
// Disk errors

/// Two data-carrying processes swapping against each other: 32 frames (8 of them the two
/// processes' page tables) for 2 x 48 pages.
fn two_swappers(sets: &[&str]) -> vmsim_sim::Config {
    let text = r#"
        [os]
        frames = 32
        [disk]
        preset = "nvme"
        [[process]]
        name = "a"
        segments = [ { start = 0x1000_0000, len = 0x3_0000, perms = "rw-u" } ]
        [process.workload]
        kind = "random"
        base = 0x1000_0000
        pages = 48
        accesses = 600
        write_ratio = 0.5
        data = true
        [[process]]
        name = "b"
        segments = [ { start = 0x2000_0000, len = 0x3_0000, perms = "rw-u" } ]
        [process.workload]
        kind = "random"
        base = 0x2000_0000
        pages = 48
        accesses = 600
        write_ratio = 0.5
        data = true
    "#;
    toml_config(text, sets)
}

/// A disk request the kernel made, in submission order (the disk serves them in FIFO order, so
/// the order of their completion events), with the page last evicted to its slot.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DiskReq {
    Write { pid: Pid, page: u64, slot: u64 },
    Read { pid: Pid, page: u64, slot: u64 },
}

#[derive(Default)]
struct EventLog(Vec<vmsim_sim::system::Event>);
impl vmsim_sim::Observer for EventLog {
    fn on_event(&mut self, e: &vmsim_sim::system::Event) {
        self.0.push(e.clone());
    }
}

/// Run `cfg` with events recorded; the disk requests in order.
fn run_logged(cfg: &vmsim_sim::Config) -> (System, Vec<DiskReq>) {
    let vmsim_sim::run::Built {
        system: mut sys,
        mut workloads,
        ..
    } = vmsim_sim::run::build(cfg).unwrap();
    sys.record_events(true);
    let mut refs: Vec<&mut dyn vmsim_sim::workload::Workload> = workloads
        .iter_mut()
        .map(|w| &mut **w as &mut dyn vmsim_sim::workload::Workload)
        .collect();
    let mut log = EventLog::default();
    sys.run_all(&mut refs, &mut log).unwrap();
    let mut reqs = Vec::new();
    // The page last evicted to each slot.
    let mut in_slot = std::collections::BTreeMap::new();
    for e in log.0 {
        match e.kind {
            "eviction" => {
                in_slot.insert(e.slot.unwrap(), (e.pid.unwrap(), e.va.unwrap().0));
            }
            "disk_write" | "disk_read" => {
                let slot = e.slot.unwrap();
                let (pid, page) = in_slot[&slot];
                reqs.push(if e.kind == "disk_write" {
                    DiskReq::Write { pid, page, slot }
                } else {
                    DiskReq::Read { pid, page, slot }
                });
            }
            _ => {}
        }
    }
    let d = sys.disk.stats();
    let writes = reqs
        .iter()
        .filter(|r| matches!(r, DiskReq::Write { .. }))
        .count() as u64;
    assert_eq!((d.writes, d.reads), (writes, reqs.len() as u64 - writes));
    (sys, reqs)
}

/// The process that was not killed ran to its end.
fn other_completes(s: &SystemStats, killed: Pid) {
    for p in &s.processes {
        if p.pid != killed.0 {
            assert_eq!(p.accesses, 600, "pid {}", p.pid);
            assert_eq!(p.exit, "exited", "pid {}", p.pid);
        }
    }
}

/// `disk.fail_nth` names a swap-in read (found by counting the requests of a first run with no
/// errors): the process waiting for that page is killed with SIGBUS at the faulting address;
/// the other runs to its end; nobody reads wrong data.
#[test]
fn failed_swap_in_kills_the_process_that_needs_the_page_with_sigbus() {
    let (_, reqs) = run_logged(&two_swappers(&[]));
    // The tenth swap-in: by then both processes are swapping.
    let (n, (pid, page, slot)) = reqs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match *r {
            DiskReq::Read { pid, page, slot } => Some((i as u64 + 1, (pid, page, slot))),
            _ => None,
        })
        .nth(9)
        .expect("at least ten swap-ins");
    let nth = format!("disk.fail_nth={n}");
    let cfg = two_swappers(&[&nth]);
    let sys = run_built(&cfg, false, &mut NoObserver).unwrap();
    let s = SystemStats::collect(&sys);
    assert_eq!(s.faults.bus_kills, 1);
    assert_eq!(s.faults.segv_kills, 0);
    assert_eq!(s.disk.errors, 1);
    let kills = sys.kills();
    assert_eq!(kills.len(), 1, "{kills:?}");
    let k = &kills[0];
    assert_eq!((k.pid, k.signal), (pid, Signal::Sigbus));
    assert_eq!(k.va.0 & !0xfff, page, "{k:?}");
    assert!(
        k.reason
            .starts_with(&format!("swap-in of slot {slot} failed: I/O error")),
        "{k:?}"
    );
    let p = &s.processes[pid.0 as usize - 1];
    assert!(p.exit.starts_with("SIGBUS"), "{}", p.exit);
    assert!(p.accesses < 600);
    other_completes(&s, pid);
    assert_eq!(s.integrity.errors, 0, "{:?}", s.integrity.first_error);
    assert_eq!(s.os.swap_integrity_errors, 0);
}

/// `disk.fail_nth` names a swap-out write whose page is read back later in the error-free run:
/// the page is lost, so its process is killed with SIGBUS when it touches the page again (and
/// not before); it never reads the stale or zeroed content.
#[test]
fn failed_swap_out_loses_the_page_and_its_owner_dies_with_sigbus_on_next_touch() {
    let (_, reqs) = run_logged(&two_swappers(&[]));
    // The first write (after the fifth request) whose page comes back later.
    let (n, pid, page) = reqs
        .iter()
        .enumerate()
        .skip(5)
        .find_map(|(i, r)| match *r {
            DiskReq::Write { pid, page, .. } => reqs[i + 1..]
                .iter()
                .any(|q| matches!(*q, DiskReq::Read { pid: p2, page: g2, .. } if p2 == pid && g2 == page))
                .then_some((i as u64 + 1, pid, page)),
            _ => None,
        })
        .expect("a swapped-out page that is read back");
    let nth = format!("disk.fail_nth={n}");
    let cfg = two_swappers(&[&nth]);
    let mut obs = PidRecorder::default();
    let sys = run_built(&cfg, false, &mut obs).unwrap();
    let s = SystemStats::collect(&sys);
    assert_eq!(s.os.swap_write_errors, 1);
    assert_eq!(s.disk.errors, 1);
    assert_eq!(s.faults.bus_kills, 1);
    let kills = sys.kills();
    assert_eq!(kills.len(), 1, "{kills:?}");
    let k = &kills[0];
    assert_eq!((k.pid, k.signal), (pid, Signal::Sigbus));
    assert_eq!(k.va.0 & !0xfff, page, "{k:?}");
    assert!(k.reason.contains("was lost: its write failed"), "{k:?}");
    let p = &s.processes[pid.0 as usize - 1];
    assert!(p.exit.starts_with("SIGBUS"), "{}", p.exit);
    // The killing access is the process's last.
    let last = obs
        .accesses
        .iter()
        .rev()
        .find(|(q, _)| *q == pid)
        .unwrap()
        .1;
    assert_eq!(last.fault, FaultKind::Bus);
    assert_eq!(last.va.0 & !0xfff, page);
    other_completes(&s, pid);
    assert_eq!(s.integrity.errors, 0, "{:?}", s.integrity.first_error);
    assert_eq!(s.os.swap_integrity_errors, 0);
}

/// Two swapping processes sharing the core: every eviction of the other process's page must
/// drop its translation (tagged with that process's ASID) even when the TLBs are not flushed at
/// context switches (PCID). With PCID no switch flushes; without, every switch does. Either way
/// no load ever finds another value than the last one stored.
#[test]
fn evictions_across_address_spaces_keep_data_with_and_without_pcid() {
    for pcid in [true, false] {
        let p = format!("os.pcid={pcid}");
        let cfg = two_swappers(&[
            &p,
            "os.time_slice=200000",
            "process[0].workload.accesses=300",
            "process[1].workload.accesses=300",
        ]);
        let sys = run_built(&cfg, false, &mut NoObserver).unwrap();
        let s = SystemStats::collect(&sys);
        assert_eq!(
            s.integrity.errors, 0,
            "pcid {pcid}: {:?}",
            s.integrity.first_error
        );
        assert!(s.integrity.loads_checked > 100);
        assert!(s.os.swap_ins > 50, "pcid {pcid}");
        assert!(s.os.context_switches > 10, "pcid {pcid}");
        let flushes = if pcid { 0 } else { s.os.context_switches };
        assert_eq!(s.os.tlb_flushes, flushes, "pcid {pcid}");
        for p in &s.processes {
            assert_eq!((p.accesses, p.exit.as_str()), (300, "exited"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// mmap, munmap, mprotect

const X: u64 = 0x1000_0000;
const Y: u64 = 0x2000_0000;

fn munmap(after: u64, start: u64, len: u64) -> SyscallEvent {
    SyscallEvent {
        after,
        call: Syscall::Munmap {
            start: VirtAddr(start),
            end: VirtAddr(start + len),
        },
    }
}

fn mprotect(after: u64, start: u64, len: u64, perms: &str) -> SyscallEvent {
    SyscallEvent {
        after,
        call: Syscall::Mprotect {
            start: VirtAddr(start),
            end: VirtAddr(start + len),
            perms: vmsim_os::SegmentPerms::parse(perms).unwrap(),
        },
    }
}

fn mmap(after: u64, start: u64, len: u64, perms: &str, kind: &str) -> SyscallEvent {
    SyscallEvent {
        after,
        call: Syscall::Mmap(segment(start, len, perms, kind)),
    }
}

/// 64 frames, plenty: no eviction.
fn roomy() -> vmsim_sim::Config {
    plain_machine(L, &["os.frames=64"])
}

fn faults(r: &PidRecorder) -> Vec<FaultKind> {
    r.accesses.iter().map(|(_, a)| a.fault).collect()
}

/// After munmap of two pages, reading one of them kills the process with SIGSEGV: the address
/// is outside every segment.
#[test]
fn access_after_munmap_is_sigsegv_outside_every_segment() {
    let records = vec![
        drec(Write, X, 1),
        drec(Write, X + 0x1000, 2),
        drec(Read, X + 0x1000, 2),
        drec(Read, X, 1),
    ];
    let (sys, r) = single(
        &roomy(),
        vec![segment(X, 0x4000, "rw-u", "anonymous")],
        vec![munmap(2, X + 0x1000, 0x2000)],
        records,
        true,
    );
    assert_eq!(
        faults(&r),
        vec![FaultKind::Minor, FaultKind::Minor, FaultKind::Segv]
    );
    let k = &sys.kills()[0];
    assert_eq!(sys.kills().len(), 1);
    assert_eq!((k.signal, k.va.0), (Signal::Sigsegv, X + 0x1000));
    assert_eq!(k.reason, "address outside every segment");
    let s = SystemStats::collect(&sys);
    assert_eq!(s.processes[0].accesses, 3);
    assert_eq!(
        s.processes[0].exit,
        "SIGSEGV at 0x10001000: address outside every segment"
    );
    assert_eq!(s.os.syscalls, 1);
    assert_eq!(s.faults.segv_kills, 1);
    assert_eq!(s.integrity.errors, 0);
}

/// After mprotect to read-only, a read of a written page works (and finds its value); a write
/// kills the process with SIGSEGV (a protection fault on a present read-only PTE).
#[test]
fn mprotect_read_only_allows_reads_and_kills_writers() {
    let records = vec![
        drec(Write, X + 8, 0x77),
        drec(Read, X + 8, 0x77),
        drec(Read, X + 0x1000, 0),
        drec(Write, X + 16, 0x78),
        drec(Read, X + 8, 0x77),
    ];
    let (sys, r) = single(
        &roomy(),
        vec![segment(X, 0x2000, "rw-u", "anonymous")],
        vec![mprotect(1, X, 0x2000, "r--u")],
        records,
        true,
    );
    // The read after mprotect misses the TLB (the entry was shot down) but the PTE is present:
    // no fault. The untouched page is a minor fault mapped read-only.
    assert_eq!(
        faults(&r),
        vec![
            FaultKind::Minor,
            FaultKind::None,
            FaultKind::Minor,
            FaultKind::Segv
        ]
    );
    assert_eq!(r.accesses[1].1.tlb, vmsim_hw::core::TlbLevel::Walk);
    // The fault, hence the kill, names the base of the faulting page (the core raises faults
    // with `vpn.base()`), not the access's address X + 16.
    let k = &sys.kills()[0];
    assert_eq!((k.signal, k.va.0), (Signal::Sigsegv, X));
    assert_eq!(k.reason, "write to a read-only segment");
    let s = SystemStats::collect(&sys);
    assert_eq!(
        s.processes[0].exit,
        "SIGSEGV at 0x10000000: write to a read-only segment"
    );
    assert_eq!(s.faults.protection, 1);
    assert_eq!(s.faults.segv_kills, 1);
    assert_eq!((s.integrity.loads_checked, s.integrity.errors), (2, 0));
}

/// Before mmap, an access to the new range is SIGSEGV; after it, first touches are minor faults
/// (zero-filled) and later ones hit.
#[test]
fn mmap_maps_a_new_segment_whose_first_touches_are_minor_faults() {
    let records = vec![
        drec(Write, X, 5),
        drec(Write, Y, 6),
        drec(Read, Y, 6),
        drec(Read, Y + 0x1008, 0),
        drec(Write, Y + 0x1008, 7),
    ];
    let (sys, r) = single(
        &roomy(),
        vec![segment(X, 0x1000, "rw-u", "anonymous")],
        vec![mmap(1, Y, 0x2000, "rw-u", "anonymous")],
        records.clone(),
        true,
    );
    assert_eq!(
        faults(&r),
        vec![
            FaultKind::Minor,
            FaultKind::Minor,
            FaultKind::None,
            FaultKind::Minor,
            FaultKind::None
        ]
    );
    let s = SystemStats::collect(&sys);
    assert_eq!(s.processes[0].exit, "exited");
    assert_eq!(
        (s.faults.minor, s.faults.major, s.faults.segv_kills),
        (3, 0, 0)
    );
    assert_eq!((s.integrity.loads_checked, s.integrity.errors), (2, 0));
    // X and Y share the PML4, PDPT and PD entries (both below 1 GiB) but not the 2 MiB region:
    // root + PDPT + PD + X's PT + Y's PT.
    assert_eq!(s.os.page_table_pages, 5);
    assert_eq!(s.os.data_pages, 3);
    // Without the mmap, the access to Y kills.
    let (sys, r) = single(
        &roomy(),
        vec![segment(X, 0x1000, "rw-u", "anonymous")],
        vec![mmap(2, Y, 0x2000, "rw-u", "anonymous")],
        records,
        true,
    );
    assert_eq!(faults(&r), vec![FaultKind::Minor, FaultKind::Segv]);
    assert_eq!(sys.kills()[0].reason, "address outside every segment");
}

/// munmap returns the range's frames to the free list: 4 pages written, unmapped, one more page
/// written: 64 frames = 4 tables + 1 data + 59 free (without the munmap: 5 data, 55 free).
#[test]
fn munmap_returns_the_frames_of_the_range_to_the_free_list() {
    let records: Vec<_> = (0..5).map(|i| drec(Write, X + i * 0x1000, i + 1)).collect();
    let segs = || vec![segment(X, 0x8000, "rw-u", "anonymous")];
    for (events, data) in [(vec![munmap(4, X, 0x4000)], 1), (vec![], 5)] {
        let (sys, _) = single(&roomy(), segs(), events, records.clone(), true);
        let f = sys.kernel.frames();
        assert_eq!((f.table_count(), f.data_count()), (4, data));
        assert_eq!(f.free_count(), 60 - data);
        let s = SystemStats::collect(&sys);
        assert_eq!(s.os.frames_free, 60 - data);
        assert_eq!(s.processes[0].resident_pages, data);
        for i in 0..4 {
            let mapped = sys.frame_of(Pid(1), VirtAddr(X + i * 0x1000)).is_some();
            assert_eq!(mapped, data == 5, "page {i}");
        }
    }
}

/// A swapped-out private page that is munmapped gives its swap slot back.
#[test]
fn munmap_of_a_swapped_page_releases_its_slot() {
    // Frame 7 is the only data frame: writing B evicts A to slot 0.
    let records = vec![
        drec(Write, PAGE_A, 0xa),
        drec(Write, PAGE_B, 0xb),
        drec(Read, PAGE_B, 0xb),
    ];
    for (events, used) in [(vec![munmap(2, PAGE_A, 0x1000)], 0), (vec![], 1)] {
        let cfg = one_free_frame_machine(&[]);
        let (sys, _) = single(&cfg, tiny_segments(), events, records.clone(), true);
        assert_eq!(sys.kernel.stats().swap_outs, 1);
        assert_eq!(sys.kernel.swap().used(), used);
        assert_eq!(SystemStats::collect(&sys).os.swap_slots_used, used);
        assert_eq!(sys.integrity().errors, 0);
    }
}

/// A shared page swapped out (its object records the slot) whose last mapping is munmapped gives
/// its slot back; the object is left with no attachments and no pages.
#[test]
fn munmap_of_the_last_mapping_of_a_swapped_shared_page_releases_its_slot() {
    let segs = || {
        vec![
            segment(DMA_BASE, 0x3000, "rw-u", "dma"),
            segment(PAGE_A, 0x1000, "rw-u", "shared:buf"),
            segment(PAGE_B, 0x1000, "rw-u", "anonymous"),
        ]
    };
    let records = vec![
        drec(Write, PAGE_A, 0xa),
        drec(Write, PAGE_B, 0xb),
        drec(Read, PAGE_B, 0xb),
    ];
    for (events, used) in [(vec![munmap(2, PAGE_A, 0x1000)], 0), (vec![], 1)] {
        let cfg = one_free_frame_machine(&[]);
        let (sys, _) = single(&cfg, segs(), events, records.clone(), true);
        assert_eq!(sys.kernel.stats().swap_outs, 1);
        assert_eq!(sys.kernel.swap().used(), used);
        let o = &sys.kernel.shared_objects()[0];
        assert_eq!(o.name, "buf");
        assert_eq!(o.attachments.is_empty(), used == 0);
        let swapped = matches!(o.pages[0], vmsim_os::shm::ShmPage::Swapped(_));
        assert_eq!(swapped, used == 1);
    }
}

/// A resident shared page whose only mapping is munmapped goes back to the free list.
#[test]
fn munmap_of_the_last_mapping_of_a_resident_shared_page_frees_its_frame() {
    let records = vec![drec(Write, X, 1), drec(Write, X + 0x1000, 2)];
    let segs = || vec![segment(X, 0x2000, "rw-u", "shared:buf")];
    for (events, data) in [(vec![munmap(2, X, 0x2000)], 0), (vec![], 2)] {
        let (sys, _) = single(&roomy(), segs(), events, records.clone(), true);
        let f = sys.kernel.frames();
        assert_eq!((f.table_count(), f.data_count()), (4, data));
        assert_eq!(f.free_count(), 60 - data);
    }
}

/// A failed swap write whose slot is released (munmap) and reused by another page's write
/// before the failure is reported must not doom the new page: the disk stored the new page's
/// content (FIFO), so reading it back must succeed.
///
/// Machine: frame 7 is the only data frame. Write A (frame 7); write B: A is evicted, its write
/// to slot 0 is disk request #1 (injected failure, done 80,000 cycles later); munmap A releases
/// slot 0; write C: B is evicted to slot 0 (request #2, issued a few thousand cycles later, long
/// before #1 completes); read B: C is evicted to slot 1 (#3), B read from slot 0 (#4), behind
/// #1 (failed), #2 (stored B) and #3.
#[test]

fn a_failed_write_to_a_released_slot_does_not_doom_its_next_user() {
    let cfg = one_free_frame_machine(&["disk.fail_nth=1"]);
    let segs = vec![
        segment(DMA_BASE, 0x3000, "rw-u", "dma"),
        segment(PAGE_A, 0x3000, "rw-u", "anonymous"),
    ];
    let page_c = PAGE_B + 0x1000;
    let records = vec![
        drec(Write, PAGE_A, 0xa),
        drec(Write, PAGE_B, 0xb),
        drec(Write, page_c, 0xc),
        drec(Read, PAGE_B, 0xb),
    ];
    let (sys, r) = single(&cfg, segs, vec![munmap(2, PAGE_A, 0x1000)], records, true);
    let s = SystemStats::collect(&sys);
    assert_eq!(s.os.swap_write_errors, 1);
    assert_eq!(s.disk.errors, 1);
    assert_eq!(sys.kills(), &[], "{:?}", sys.kills());
    assert_eq!(s.faults.bus_kills, 0);
    assert_eq!(faults(&r).last(), Some(&FaultKind::Major));
    assert_eq!(s.processes[0].exit, "exited");
    assert_eq!((s.integrity.loads_checked, s.integrity.errors), (1, 0));
}

// ---------------------------------------------------------------------------------------------
// A DMA device

/// `sim/scenarios/dma.toml` as shipped: the receiver (pid 1) runs first and finishes its 10,000
/// reads within its first time slice, at cycle E; the device, which submits burst k at
/// (k + 1) x 5000, stops with its process, so it has sent floor(E / 5000) bursts, all delivered.
#[test]
fn dma_scenario_delivers_every_burst_it_sends() {
    let cfg = scenario("dma.toml", &[]);
    let out = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    let s = &out.stats;
    let d = &s.devices[0];
    assert!(d.sent > 0);
    assert_eq!(d.delivered, d.sent);
    assert!(s.dma.transfers >= d.delivered);
    let receiver = &s.processes[0];
    assert_eq!(
        (receiver.accesses, receiver.exit.as_str()),
        (10_000, "exited")
    );
    assert!(receiver.core_cycles < cfg.os.time_slice);
    assert_eq!(d.sent, receiver.core_cycles / 5000);
    assert!(out.kills.is_empty());
}

/// `sim/scenarios/dma.toml`, with the receiver (pid 1) lengthened to 100,000 accesses (it outlives
/// its first time slice and the device's 200 bursts, one every 5000 cycles) and the busy process
/// shortened to 500 (done within one slice), so that the receiver ends last and keeps its memory
/// for inspection: every burst is sent and delivered, and the ring pages hold the last burst
/// written to each, word for word, and zeros past the burst.
#[test]
fn dma_device_bursts_land_in_the_pinned_ring() {
    let cfg = scenario(
        "dma.toml",
        &[
            "process[0].workload.accesses=100000",
            "process[1].workload.accesses=500",
        ],
    );
    let sys = run_built(&cfg, false, &mut NoObserver).unwrap();
    let s = SystemStats::collect(&sys);
    assert_eq!(s.devices.len(), 1);
    let d = &s.devices[0];
    assert_eq!(d.pid, 1);
    assert!(d.sent > 0);
    assert_eq!(d.delivered, d.sent);
    assert_eq!(d.sent, 200);
    assert!(s.dma.transfers >= d.delivered);
    // Nothing swaps (1024 frames): every transfer is a burst, each a DRAM write of 1536 bytes.
    assert_eq!(s.os.swap_outs + s.os.swap_ins, 0);
    assert_eq!(s.dma.transfers, d.delivered);
    assert_eq!(s.dma.bytes, 1536 * d.delivered);
    assert_eq!(s.processes[0].exit, "exited");
    assert_eq!(s.processes[0].accesses, 100_000);
    assert_eq!(s.processes[1].accesses, 500);
    let ring = 0x4000_0000u64;
    let words = 1536 / 8;
    for k in d.sent.saturating_sub(16)..d.sent {
        let va = VirtAddr(ring + (k % 16) * 4096);
        let f = sys
            .frame_of(Pid(1), va)
            .unwrap_or_else(|| panic!("ring page {} unmapped", k % 16));
        assert!(sys.kernel.frames().pinned(f));
        for i in 0..512u64 {
            let got = sys.phys.read_u64(PhysAddr(f.base().0 + 8 * i));
            let want = if i < words {
                vmsim_sim::device::burst_word(0, k, i)
            } else {
                0
            };
            assert_eq!(got, want, "burst {k}, word {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared memory

/// Two processes map the object `buf` (2 pages) at different addresses. Pid 1 writes values
/// (twice at one address), then pid 2 reads them back through its own mapping: its first
/// touches are minor faults that map the frames pid 1 filled, every load finds pid 1's last
/// value, and the frame holds it after the run.
#[test]
fn shared_object_pages_are_the_same_frames_in_both_processes() {
    const P1: u64 = 0x1000_0000;
    const P2: u64 = 0x5000_0000;
    let w = [(0x8, 0x1111), (0x1010, 0x2222), (0x8, 0x3333)];
    let writes: Vec<_> = w.iter().map(|&(o, v)| drec(Write, P1 + o, v)).collect();
    let reads = vec![
        drec(Read, P2 + 0x8, 0x3333),
        drec(Read, P2 + 0x1010, 0x2222),
        drec(Read, P2 + 0x10, 0),
    ];
    let specs = vec![
        ProcessSpec {
            name: "writer".into(),
            segments: vec![segment(P1, 0x2000, "rw-u", "shared:buf")],
            events: vec![],
        },
        ProcessSpec {
            name: "reader".into(),
            segments: vec![segment(P2, 0x2000, "r--u", "shared:buf")],
            events: vec![],
        },
    ];
    let mut sys = System::with_processes(&roomy(), specs, Vec::new()).unwrap();
    sys.check_invariants = true;
    let mut r = PidRecorder::default();
    sys.run_all(
        &mut [&mut VecWorkload::new(writes), &mut VecWorkload::new(reads)],
        &mut r,
    )
    .unwrap();
    let ppn = |pid: u32, va: u64| {
        let (_, a) = r
            .accesses
            .iter()
            .find(|(p, a)| p.0 == pid && a.va.0 == va)
            .unwrap();
        a.pa.0 >> 12
    };
    assert_eq!(ppn(1, P1 + 0x8), ppn(2, P2 + 0x8));
    assert_eq!(ppn(1, P1 + 0x1010), ppn(2, P2 + 0x1010));
    assert_ne!(ppn(1, P1 + 0x8), ppn(1, P1 + 0x1010));
    let by_pid: Vec<(u32, FaultKind)> = r.accesses.iter().map(|(p, a)| (p.0, a.fault)).collect();
    assert_eq!(
        by_pid,
        vec![
            (1, FaultKind::Minor),
            (1, FaultKind::Minor),
            (1, FaultKind::None),
            (2, FaultKind::Minor),
            (2, FaultKind::Minor),
            (2, FaultKind::None),
        ]
    );
    let i = sys.integrity();
    assert_eq!((i.stores, i.loads_checked, i.errors), (3, 3, 0));
    // The writer has exited and been reaped; the object lives on in the reader.
    assert_eq!(sys.frame_of(Pid(1), VirtAddr(P1)), None);
    let f0 = sys.frame_of(Pid(2), VirtAddr(P2)).unwrap();
    assert_eq!(f0.0, ppn(1, P1 + 0x8));
    assert_eq!(sys.phys.read_u64(PhysAddr(f0.base().0 + 0x8)), 0x3333);
    let f1 = sys.frame_of(Pid(2), VirtAddr(P2 + 0x1000)).unwrap();
    assert_eq!(sys.phys.read_u64(PhysAddr(f1.base().0 + 0x10)), 0x2222);
    // Two data frames in all: the object's.
    assert_eq!(sys.kernel.frames().data_count(), 2);
    assert_eq!(
        sys.kernel.stats().minor_faults,
        4,
        "two zero-fills by the writer, two mappings of resident pages by the reader"
    );
}

/// A fault on a shared page that is already resident (another mapping brought it in) but whose
/// mapping needs new page tables must not evict the very frame it is about to map.
///
/// One process maps the object `buf` twice: at 0x1000_0000 and at 512 GiB (a new PML4 entry, so
/// mapping it needs 3 new tables). 8 frames, fifo: root 0; the write through the first mapping
/// takes data frame 1 and tables 2-4; a private page takes frame 5; 6 and 7 are free. The read
/// through the second mapping finds the page resident in frame 1 and needs 3 tables: fifo evicts
/// frame 1, the oldest; the page goes to swap. It must then be read back (or the eviction must
/// pick another frame); instead the fault maps frame 1, which has meanwhile become one of the new
/// page tables.
#[test]

fn mapping_a_resident_shared_page_never_maps_a_frame_evicted_meanwhile() {
    let cfg = plain_machine(L, &["os.frames=8", "os.eviction=fifo"]);
    let far = 0x80_0000_0000u64;
    let segs = vec![
        segment(X, 0x1000, "rw-u", "shared:buf"),
        segment(X + 0x1000, 0x1000, "rw-u", "anonymous"),
        segment(far, 0x1000, "rw-u", "shared:buf"),
    ];
    let records = vec![
        drec(Write, X + 8, 0x5eed),
        drec(Write, X + 0x1000, 0x77),
        drec(Read, far + 8, 0x5eed),
    ];
    let mut sys = System::with_processes(
        &cfg,
        vec![ProcessSpec {
            name: "p".into(),
            segments: segs,
            events: vec![],
        }],
        Vec::new(),
    )
    .unwrap();
    sys.check_invariants = true;
    let result = sys.run_all(&mut [&mut VecWorkload::new(records)], &mut NoObserver);
    assert!(result.is_ok(), "{}", result.unwrap_err());
    let i = sys.integrity();
    assert_eq!((i.loads_checked, i.errors), (1, 0), "{:?}", i.first_error);
    let f = sys.frame_of(Pid(1), VirtAddr(far)).unwrap();
    assert!(
        matches!(
            sys.kernel.frames().use_of(f),
            vmsim_os::frames::FrameUse::Shared(_)
        ),
        "{:?}",
        sys.kernel.frames().use_of(f)
    );
}

/// A device's bursts in flight when its process ends must not land in memory that has been
/// given to someone else. Default DMA and OS settings. Pid 1 owns a one-page DMA ring and makes
/// 20 reads of it (about 2400 cycles); its device, a fast one, submits a burst every 100 cycles,
/// and each takes the DMA engine about 2200 cycles (500 ns of setup, then 24 lines), so the
/// bursts accepted before pid 1 ends (about 24) queue up in the engine and complete one after
/// the other until about 100 + 24 x 2200 cycles. Pid 1 is reaped when it ends: its frames go
/// back to the free list, and pid 2's first two pages and their tables take all of them (pid 2
/// starts after the 8000-cycle context switch). Pid 2 then reads words it never wrote, which
/// must stay zero, for longer than the queued bursts take.
#[test]

fn a_burst_in_flight_when_its_process_ends_never_lands_in_reused_memory() {
    let cfg = plain_machine(L, &["os.frames=64"]);
    const RING: u64 = 0x4000_0000;
    let specs = vec![
        ProcessSpec {
            name: "rx".into(),
            segments: vec![segment(RING, 0x1000, "rw-u", "dma")],
            events: vec![],
        },
        ProcessSpec {
            name: "next".into(),
            segments: vec![segment(X, 0x2000, "rw-u", "anonymous")],
            events: vec![],
        },
    ];
    let device = vmsim_sim::device::DeviceSpec {
        pid: Pid(1),
        start: VirtAddr(RING),
        pages: 1,
        burst_bytes: 1536,
        interval: 100,
        bursts: 100,
    };
    let mut sys = System::with_processes(&cfg, specs, vec![device]).unwrap();
    sys.check_invariants = true;
    let rx = vec![common::rec(Read, RING, 8, 0); 20];
    let mut next = vec![drec(Write, X + 8, 0x11), drec(Write, X + 0x1008, 0x22)];
    for _ in 0..400 {
        next.push(drec(Read, X + 16, 0));
        next.push(drec(Read, X + 0x1010, 0));
    }
    next.push(drec(Read, X + 8, 0x11));
    next.push(drec(Read, X + 0x1008, 0x22));
    let mut r = PidRecorder::default();
    let result = sys.run_all(
        &mut [&mut VecWorkload::new(rx), &mut VecWorkload::new(next)],
        &mut r,
    );
    assert!(result.is_ok(), "{}", result.unwrap_err());
    let sent = sys.devices()[0].sent();
    assert!(
        (10..100).contains(&sent),
        "{sent} bursts: many queued, the device stopped"
    );
    assert_eq!(sys.devices()[0].delivered, sent);
    // Pid 2 outlived the bursts.
    let bursts_done = 100 + sent * 2300;
    assert!(r.accesses.last().unwrap().1.end.0 > bursts_done);
    let i = sys.integrity();
    assert_eq!(i.loads_checked, 802);
    assert_eq!(i.errors, 0, "{:?}", i.first_error);
}

// ---------------------------------------------------------------------------------------------
// Scheduling

/// A time slice no longer than a context switch (both legal values) must still let processes
/// run. Two processes of 200 accesses each (longer than a slice). With `os.time_slice = os.switch_cycles = 8000`, the slice starts when the process is
/// picked, but the core resumes only after the 8000-cycle switch: at the next boundary the slice
/// is already over, so the run loop switches again, forever, without making an access (and the
/// watchdog never fires: every switch counts as progress). Run in a thread with a deadline so
/// that the hang fails the test instead of hanging the suite.
#[test]

fn a_time_slice_shorter_than_a_context_switch_still_makes_progress() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let cfg = plain_machine(L, &["os.frames=64", "os.time_slice=8000"]);
        let spec = |name: &str| ProcessSpec {
            name: name.into(),
            segments: vec![segment(X, 0x1000, "rw-u", "anonymous")],
            events: vec![],
        };
        let mut sys = System::with_processes(&cfg, vec![spec("a"), spec("b")], vec![]).unwrap();
        // 200 accesses, about 101 cycles each after the first: longer than a slice.
        let w = || {
            let mut r = vec![drec(Write, X, 1)];
            r.extend((0..199).map(|_| drec(Read, X, 1)));
            VecWorkload::new(r)
        };
        let result = sys.run_all(&mut [&mut w(), &mut w()], &mut NoObserver);
        let accesses: Vec<u64> = sys.process_stats().map(|(_, _, s)| s.accesses).collect();
        let _ = tx.send((result.map_err(|e| e.to_string()), accesses));
    });
    let (result, accesses) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the run did not end within 10 s");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(accesses, vec![200, 200]);
}

/// mmap of a `dma` segment populates it at once with pinned frames. When memory is full of
/// evictable pages it should evict some (as the fault handler does), not stop the run.
/// 8 frames: root, 3 tables and 4 data pages written (all evictable); then mmap of a one-page
/// DMA buffer in the same page table.
#[test]

fn mmap_of_a_dma_segment_evicts_to_make_room() {
    let cfg = plain_machine(L, &["os.frames=8"]);
    let records: Vec<_> = (0..4)
        .map(|i| drec(Write, X + i * 0x1000, i + 1))
        .chain([drec(Read, X + 0x5000, 0), drec(Read, X, 1)])
        .collect();
    let mut sys = System::with_processes(
        &cfg,
        vec![ProcessSpec {
            name: "p".into(),
            segments: vec![segment(X, 0x4000, "rw-u", "anonymous")],
            events: vec![mmap(4, X + 0x5000, 0x1000, "rw-u", "dma")],
        }],
        vec![],
    )
    .unwrap();
    sys.check_invariants = true;
    let result = sys.run_all(&mut [&mut VecWorkload::new(records)], &mut NoObserver);
    assert!(result.is_ok(), "{}", result.unwrap_err());
    assert_eq!(sys.integrity().errors, 0);
    let f = sys.frame_of(Pid(1), VirtAddr(X + 0x5000)).unwrap();
    assert!(sys.kernel.frames().pinned(f));
}
