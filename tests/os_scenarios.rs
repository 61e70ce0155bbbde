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
use vmsim_os::Pid;
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

fn check_swap_counters(s: &SystemStats, what: &str, frames: u64, accesses: u64) {
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
    // Memory is full at the end: 4 table frames, the rest data.
    assert_eq!(s.os.page_table_pages, 4, "{what}");
    assert_eq!(s.os.frames_free, 0, "{what}");
    assert_eq!(s.os.data_pages, frames - 4, "{what}");
    assert_eq!(s.faults.segv_kills + s.faults.bus_kills, 0, "{what}");
}

/// For one policy: a short run with the kernel's invariants checked after every step (the check
/// costs about 0.1 ms a step in a debug build, and a swapping access takes about 200 steps), and
/// a long one (3000 accesses over 256 pages with 64 frames) for the counters.
fn swap_under_pressure(policy: &str) {
    let cfg = pressure(policy, 16, 40);
    let sys = run_built(&cfg, true, &mut NoObserver).unwrap_or_else(|e| panic!("{policy}: {e}"));
    let what = format!("{policy}, checked");
    check_swap_counters(&SystemStats::collect(&sys), &what, 16, 40);
    let cfg = pressure(policy, 64, 3000);
    let sys = run_built(&cfg, false, &mut NoObserver).unwrap_or_else(|e| panic!("{policy}: {e}"));
    check_swap_counters(&SystemStats::collect(&sys), policy, 64, 3000);
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
