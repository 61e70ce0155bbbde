//! Context switches with and without PCID, ASID recycling, and blocking on I/O.

mod common;

use vmsim_hw::core::{AccessDone, FaultKind};
use vmsim_os::Pid;
use vmsim_sim::Observer;

#[derive(Default)]
struct ByPid {
    accesses: Vec<(Pid, AccessDone)>,
}

impl Observer for ByPid {
    fn on_access(&mut self, pid: Pid, a: &AccessDone) {
        self.accesses.push((pid, *a));
    }
}
use vmsim_sim::{ConfigBuilder, NoObserver, SystemStats};

/// Three processes over the same virtual addresses, switched every 20,000 cycles: two
/// random-access workers and a small sequential one.
const THREE: &str = r#"
seed = 11
[os]
time_slice = 20000
[[process]]
segments = [{ start = 0x1000_0000, len = 0x20_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x1000_0000, pages = 512, accesses = 6000 }
[[process]]
segments = [{ start = 0x1000_0000, len = 0x20_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x1000_0000, pages = 512, accesses = 6000 }
[[process]]
segments = [{ start = 0x1000_0000, len = 0x1_0000, perms = "rw-u" }]
workload = { kind = "sequential", base = 0x1000_0000, pages = 16, accesses = 6000 }
"#;

fn stats(toml: &str, sets: &[&str]) -> SystemStats {
    let mut b = ConfigBuilder::new().toml("t.toml", toml).unwrap();
    for s in sets {
        b = b.set(s).unwrap();
    }
    let cfg = b.build().unwrap();
    vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap().stats
}

#[test]
fn pcid_keeps_translations_across_switches() {
    let flush = stats(THREE, &["os.pcid=false"]);
    let pcid = stats(THREE, &["os.pcid=true"]);
    assert!(flush.os.context_switches > 10);
    // Without PCID every switch flushes, and the refills are counted as switch misses.
    assert_eq!(flush.os.tlb_flushes, flush.os.context_switches);
    assert!(flush.os.switch_tlb_misses > 0);
    // With PCID and enough hardware ASIDs (6 for 3 processes) nothing is flushed.
    assert_eq!(pcid.os.tlb_flushes, 0);
    assert_eq!(pcid.os.asid_recycles, 0);
    assert_eq!(pcid.os.switch_tlb_misses, 0);
    assert!(
        pcid.tlb["l2"].misses < flush.tlb["l2"].misses,
        "PCID {} vs flush {}",
        pcid.tlb["l2"].misses,
        flush.tlb["l2"].misses
    );
    assert!(pcid.walker.walks < flush.walker.walks);
    // Per process, the switch misses add up.
    let sum: u64 = flush.processes.iter().map(|p| p.switch_tlb_misses).sum();
    assert_eq!(sum, flush.os.switch_tlb_misses);
}

#[test]
fn too_few_hardware_asids_are_recycled_with_a_flush() {
    let s = stats(THREE, &["os.pcid=true", "os.asids=2"]);
    // Three processes round robin over two tags: while all three live, every dispatch after
    // the first two takes the tag of the least recently dispatched process, and flushes it.
    assert!(s.os.asid_recycles > 2);
    assert!(s.os.asid_recycles < s.os.context_switches);
    assert_eq!(s.os.tlb_flushes, s.os.asid_recycles);
    assert!(s.os.switch_tlb_misses > 0);
    let roomy = stats(THREE, &["os.pcid=true", "os.asids=3"]);
    assert_eq!(roomy.os.asid_recycles, 0);
    assert!(roomy.os.switch_tlb_misses < s.os.switch_tlb_misses);
}

#[test]
fn with_one_process_pcid_changes_nothing() {
    let one = r#"
[[process]]
segments = [{ start = 0x1000_0000, len = 0x20_0000, perms = "rw-u" }]
workload = { kind = "zipf", base = 0x1000_0000, pages = 512, accesses = 5000 }
"#;
    let a = stats(one, &["os.pcid=false"]);
    let b = stats(one, &["os.pcid=true"]);
    assert_eq!(a.os.context_switches, 0);
    assert_eq!(a.to_json(), b.to_json());
}

/// Two swapping processes and one compute process: the swappers give up the core while their
/// faults wait for the disk, and the compute process's accesses overlap the disk time.
const BLOCKING: &str = r#"
seed = 5
[os]
frames = 48
time_slice = 50000
[[process]]
segments = [{ start = 0x1000_0000, len = 0x4_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x1000_0000, pages = 64, accesses = 300, data = true, write_ratio = 0.5 }
[[process]]
segments = [{ start = 0x2000_0000, len = 0x4_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x2000_0000, pages = 64, accesses = 300, data = true, write_ratio = 0.5 }
[[process]]
segments = [{ start = 0x3000_0000, len = 0x4000, perms = "rw-u" }]
workload = { kind = "sequential", base = 0x3000_0000, pages = 4, accesses = 100000, write_ratio = 0.3 }
"#;

#[test]
fn a_process_waiting_for_the_disk_gives_up_the_core() {
    let s = stats(BLOCKING, &[]);
    assert!(s.os.swap_ins > 0);
    assert!(s.processes[0].blocked > 0 && s.processes[1].blocked > 0);
    // The compute process never waits for a swap-in (its first touches may wait for a
    // victim's write-out, though).
    assert_eq!(s.processes[2].major_faults, 0);
    assert_eq!(s.integrity.errors, 0);
    assert!(s.integrity.loads_checked > 0);
    for p in &s.processes {
        assert_eq!(p.exit, "exited");
    }
    // The compute process ran while the swappers' major faults waited for the disk: some of
    // its accesses lie wholly inside a swapper's major-fault access.
    let cfg = ConfigBuilder::new()
        .toml("b.toml", BLOCKING)
        .unwrap()
        .build()
        .unwrap();
    let mut rec = ByPid::default();
    vmsim_sim::run(&cfg, None, &mut rec).unwrap();
    let majors: Vec<(u64, u64)> = rec
        .accesses
        .iter()
        .filter(|(pid, a)| pid.0 != 3 && a.fault == FaultKind::Major)
        .map(|(_, a)| (a.start.0, a.end.0))
        .collect();
    assert!(!majors.is_empty());
    let overlapped = rec
        .accesses
        .iter()
        .filter(|(pid, a)| pid.0 == 3 && majors.iter().any(|&(s, e)| s < a.start.0 && a.end.0 < e))
        .count();
    assert!(
        overlapped > 1000,
        "{overlapped} compute accesses overlapped a major fault"
    );
}

/// With `os.kernel_pages`, the kernel's memory is mapped in every process at the bottom of the
/// upper canonical half: the same pinned frames, supervisor-only, with the G bit. A user access
/// to it is a protection fault (the PTE is present but forbids user mode) and kills the process.
#[test]
fn kernel_memory_is_global_in_every_process_and_user_access_to_it_is_fatal() {
    use common::{VecWorkload, config, rec};
    use vmsim_hw::AccessKind::Read;
    use vmsim_hw::pte::Pte;
    use vmsim_hw::{Ppn, VirtAddr};
    use vmsim_os::{Segment, SegmentKind, SegmentPerms};
    use vmsim_sim::System;
    use vmsim_sim::system::ProcessSpec;
    use vmsim_sim::workload::Workload;

    const KERNEL: u64 = 0xffff_8000_0000_0000;
    let cfg = config(&["os.kernel_pages=4", "os.time_slice=2000"]);
    let user = |name: &str| ProcessSpec {
        name: name.into(),
        segments: vec![Segment {
            start: VirtAddr(0x1000_0000),
            end: VirtAddr(0x1001_0000),
            perms: SegmentPerms::parse("rwu").unwrap(),
            kind: SegmentKind::Anonymous,
        }],
        events: Vec::new(),
    };
    let mut sys =
        System::with_processes(&cfg, vec![user("intruder"), user("bystander")], vec![]).unwrap();
    sys.check_invariants = true;
    let kernel_frames: Vec<Ppn> = (0..4)
        .map(|i| sys.frame_of(Pid(1), VirtAddr(KERNEL + i * 4096)).unwrap())
        .collect();
    for i in 0..4 {
        for pid in [Pid(1), Pid(2)] {
            let pt = sys.kernel.page_table(pid).unwrap();
            let (_, pte) = pt.lookup(&sys.phys, VirtAddr(KERNEL + i * 4096)).unwrap();
            assert_eq!(
                pte.ppn(),
                kernel_frames[i as usize],
                "the same frame in both"
            );
            assert!(pte.global() && !pte.user() && pte.writable() && pte.no_execute());
            assert_eq!(pte.0 & Pte::G, Pte::G);
        }
        assert!(sys.kernel.frames().pinned(kernel_frames[i as usize]));
    }
    let mut a = VecWorkload::new(vec![
        rec(Read, 0x1000_0000, 8, 1),
        rec(Read, KERNEL + 0x1008, 8, 1),
        rec(Read, 0x1000_1000, 8, 1),
    ]);
    let mut b = VecWorkload::new(
        (0..50)
            .map(|i| rec(Read, 0x1000_0000 + i * 8, 8, 1))
            .collect(),
    );
    sys.run_all(&mut [&mut a as &mut dyn Workload, &mut b], &mut NoObserver)
        .unwrap();
    let s = SystemStats::collect(&sys);
    assert_eq!(s.faults.protection, 1, "present, but supervisor-only");
    assert_eq!(s.faults.segv_kills, 1);
    assert_eq!(
        s.processes[0].exit,
        "SIGSEGV at 0xffff800000001000: user access to a kernel segment"
    );
    assert_eq!(s.processes[0].accesses, 2);
    assert_eq!(s.processes[1].exit, "exited");
    assert_eq!(s.processes[1].accesses, 50);
    // The kernel's frames outlive the intruder: the bystander still maps them.
    assert_eq!(
        sys.frame_of(Pid(2), VirtAddr(KERNEL)),
        Some(kernel_frames[0])
    );
}

/// Global kernel translations survive the flushes of switches without PCID: a kernel thread
/// (supervisor mode, on the kernel's memory, mapped with G) walks each of its pages once, however
/// often a user process's switch flushes the TLBs; the user process walks again after each.
#[test]
fn global_kernel_translations_survive_switch_flushes() {
    let toml = r#"
[os]
kernel_pages = 8
time_slice = 3000
switch_cycles = 500
[[process]]
name = "kthread"
kernel_thread = true
workload = { kind = "sequential", base = 0, pages = 8, access_size = 512, accesses = 4000 }
[[process]]
name = "user"
segments = [{ start = 0x1000_0000, len = 0x8000, perms = "rw-u" }]
workload = { kind = "sequential", base = 0x1000_0000, pages = 8, access_size = 512, accesses = 4000 }
"#;
    let s = stats(toml, &["os.pcid=false"]);
    assert!(s.os.context_switches > 20, "{}", s.os.context_switches);
    assert_eq!(s.os.tlb_flushes, s.os.context_switches);
    let (k, u) = (&s.processes[0], &s.processes[1]);
    assert_eq!(k.exit, "exited");
    assert_eq!(k.faults, 0, "kernel memory is always mapped");
    assert_eq!(
        k.walks, 8,
        "one walk per kernel page: the global entries survive"
    );
    assert_eq!(k.switch_tlb_misses, 0);
    assert!(
        u.walks > 8 && u.switch_tlb_misses > 0,
        "{} {}",
        u.walks,
        u.switch_tlb_misses
    );
    assert_eq!(
        u.walks,
        8 * 2 + u.switch_tlb_misses,
        "first touch and retry, then refills"
    );
}
