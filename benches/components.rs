//! Host cost of single components:
//!
//! - `tlb/l1_hit`: `Tlb::lookup` hitting in a warm 64-entry 4-way LRU TLB (the L1 DTLB);
//! - `tlb/miss_fill`: a lookup that misses, then the fill of that translation (an LRU eviction);
//! - `dram/row_hit`: one read to an open row of an idle DDR4 controller: enqueue, tick to
//!   completion, pop (refresh off, so every request is a row hit of 65 core cycles);
//! - `system/cold_walk_access`: whole accesses through `System::run`, each needing a full
//!   4-level walk with cold TLBs, page-walk caches and data caches (pages pre-mapped, so no
//!   fault); reported per access.
//!
//! Each bench checks once, before measuring, that it measures what it says.

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use vmsim_hw::core::{AccessDone, FaultKind, TlbLevel};
use vmsim_hw::dram::{Dram, DramConfig, DramRequest, RowOutcome};
use vmsim_hw::pte::{Level, Perms};
use vmsim_hw::tlb::{Tlb, TlbConfig, TlbEntry};
use vmsim_hw::walker::{Fault, FaultReason, WalkRecord, WalkResult};
use vmsim_hw::{AccessKind, Asid, Cycle, PageSize, PhysAddr, Ppn, VirtAddr, Vpn};
use vmsim_os::Pid;
use vmsim_sim::system::trace_segments;
use vmsim_sim::workload::{Record, Workload, WorkloadError};
use vmsim_sim::{Config, ConfigBuilder, Observer, System};

const ASID: Asid = Asid(1);

fn entry(vpn: u64) -> TlbEntry {
    TlbEntry {
        asid: ASID,
        vpn: Vpn(vpn),
        ppn: Ppn(vpn + 0x1000),
        size: PageSize::Size4K,
        perms: Perms::ALL,
        global: false,
        dirty: false,
        pte_addr: PhysAddr(0x8000 + 8 * (vpn & 511)),
    }
}

/// A 64-entry 4-way LRU TLB (16 sets) holding vpns 0..64.
fn warm_l1_tlb() -> Tlb {
    let mut tlb = Tlb::new(&TlbConfig::default(), 1);
    assert_eq!((tlb.sets(), tlb.ways()), (16, 4));
    for v in 0..64 {
        tlb.fill(entry(v));
    }
    tlb
}

fn tlb(c: &mut Criterion) {
    let mut g = c.benchmark_group("tlb");
    g.measurement_time(Duration::from_secs(3));

    let mut t = warm_l1_tlb();
    assert!((0..64).all(|v| t.lookup(ASID, Vpn(v)).is_some()));
    let mut i = 0u64;
    g.bench_function("l1_hit", |b| {
        b.iter(|| {
            // Cycle over all 64 resident pages (every set and way).
            i = (i + 1) & 63;
            black_box(t.lookup(black_box(ASID), black_box(Vpn(i))))
        })
    });
    assert_eq!(t.stats().misses, 0, "every l1_hit lookup hit");

    let mut t = warm_l1_tlb();
    let mut next = 1u64 << 20;
    g.bench_function("miss_fill", |b| {
        b.iter(|| {
            // A page never seen before: the lookup misses, the fill evicts the LRU way.
            next += 1;
            let vpn = black_box(Vpn(next));
            let hit = t.lookup(ASID, vpn);
            black_box(hit);
            black_box(t.fill(entry(vpn.0)))
        })
    });
    let s = t.stats();
    assert_eq!(
        (s.hits, s.misses),
        (0, s.lookups),
        "every miss_fill lookup missed"
    );
    assert_eq!(s.evictions, s.fills - 64);
    g.finish();
}

/// One read of `addr` on an idle controller, from enqueue to pop. Returns the completion and
/// advances `now` to its done cycle.
#[inline]
fn dram_read(
    d: &mut Dram,
    now: &mut u64,
    id: u64,
    addr: PhysAddr,
) -> vmsim_hw::dram::DramCompletion {
    let arrival = *now + 1;
    let req = DramRequest {
        id,
        addr,
        write: false,
    };
    d.enqueue(req, Cycle(arrival)).expect("idle queue accepts");
    let mut t = arrival;
    loop {
        d.tick(Cycle(t));
        if let Some(c) = d.pop_completion(Cycle(t)) {
            *now = t;
            return c;
        }
        t = d.next_event().expect("a request in flight").0.max(t + 1);
    }
}

fn dram(c: &mut Criterion) {
    let cfg = DramConfig {
        refresh: false,
        ..DramConfig::default()
    };
    let mut d = Dram::new(&cfg, 4.0).expect("default DDR4 is valid");
    let addr = PhysAddr(0x0123_4540);
    let mut now = 0u64;
    // Open the row, then check that the next read is an unloaded row hit: tCL + tBURST = 65.
    assert_eq!(dram_read(&mut d, &mut now, 0, addr).row, RowOutcome::Closed);
    let c1 = dram_read(&mut d, &mut now, 1, addr);
    assert_eq!(
        (c1.row, c1.done - c1.arrival),
        (RowOutcome::Hit, vmsim_hw::Cycles(65))
    );

    let mut g = c.benchmark_group("dram");
    g.measurement_time(Duration::from_secs(3));
    let mut id = 2u64;
    g.bench_function("row_hit", |b| {
        b.iter(|| {
            id += 1;
            black_box(dram_read(&mut d, &mut now, id, black_box(addr)))
        })
    });
    g.finish();
    let s = d.stats();
    assert_eq!(s.row_hits, s.reads - 1, "every measured read was a row hit");
}

/// Pages of the cold-walk bench.
const WALK_PAGES: u64 = 1024;

/// Page `i`: its own PML4 entry among 256, and its own PDPT, PD and PT tables, so that no
/// page-walk cache entry and no page-table line is shared with the pages just before it.
fn walk_page(i: u64) -> VirtAddr {
    let pml4 = i % 256;
    let pdpt = i / 256 + 1;
    let pd = (i * 7 + 3) % 512;
    let pt = (i * 13 + 5) % 512;
    VirtAddr((pml4 << 39) | (pdpt << 30) | (pd << 21) | (pt << 12) | 0x40)
}

/// One read of each page, once.
struct Pages {
    next: u64,
}

impl Workload for Pages {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        buf.clear();
        let end = (self.next + 256).min(WALK_PAGES);
        buf.extend((self.next..end).map(|i| Record {
            kind: AccessKind::Read,
            va: walk_page(i),
            size: 8,
            instrs: 1,
            data: None,
        }));
        self.next = end;
        Ok(!buf.is_empty())
    }
    fn describe(&self) -> String {
        format!("one read of each of {WALK_PAGES} pre-mapped pages")
    }
}

fn walk_config() -> Config {
    let mut b = ConfigBuilder::new();
    for s in [
        "os.frames=65536",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ] {
        b = b.set(s).expect("valid key");
    }
    b.build().expect("valid config")
}

/// A fresh default machine with every bench page mapped by the kernel (as a fault would) and
/// nothing cached anywhere.
fn premapped_system(cfg: &Config) -> System {
    let mut sys = System::new(cfg, trace_segments()).expect("machine builds");
    let asid = sys.kernel.process(sys.pid()).expect("the process").asid;
    for i in 0..WALK_PAGES {
        let f = Fault {
            asid,
            va: walk_page(i),
            kind: AccessKind::Read,
            user: true,
            reason: FaultReason::NotPresent(Level::Pml4),
        };
        sys.kernel
            .handle_fault(vmsim_hw::Cycle(0), &mut sys.phys, &f, &mut vmsim_os::NoMmu)
            .expect("page maps");
        // Nobody waits for the reply: drop it.
        assert!(
            sys.kernel.take_reply().is_some(),
            "a minor fault is answered at once"
        );
    }
    sys
}

#[derive(Default)]
struct Check {
    walks: Vec<WalkRecord>,
    accesses: Vec<AccessDone>,
}

impl Observer for Check {
    fn on_access(&mut self, _pid: Pid, a: &AccessDone) {
        self.accesses.push(*a);
    }
    fn on_walk(&mut self, _pid: Pid, w: &WalkRecord) {
        self.walks.push(*w);
    }
}

fn system(c: &mut Criterion) {
    let cfg = walk_config();
    // Check once: one access per page, each with exactly one walk of 4 PTE reads starting at
    // the PML4 (no page-walk-cache hit) that fills, and no fault.
    let mut sys = premapped_system(&cfg);
    let mut check = Check::default();
    sys.run(&mut Pages { next: 0 }, &mut check).expect("run");
    assert_eq!(check.accesses.len() as u64, WALK_PAGES);
    assert!(
        check
            .accesses
            .iter()
            .all(|a| a.tlb == TlbLevel::Walk && a.fault == FaultKind::None)
    );
    assert_eq!(check.walks.len() as u64, WALK_PAGES);
    assert!(
        check.walks.iter().all(|w| w.mem_refs == 4
            && w.start_level == Level::Pml4
            && w.result == WalkResult::Fill)
    );

    let mut g = c.benchmark_group("system");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(WALK_PAGES));
    g.bench_function("cold_walk_access", |b| {
        b.iter_batched(
            || premapped_system(&cfg),
            |mut sys| {
                sys.run(&mut Pages { next: 0 }, &mut vmsim_sim::NoObserver)
                    .expect("run");
                sys
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, tlb, dram, system);
criterion_main!(benches);
