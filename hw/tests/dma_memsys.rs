//! The DMA engine wired to the real `MemorySystem` through `impl DmaBus for MemPorts`: exact
//! transfer times with a fixed DRAM latency (the formula of `dma.rs`'s module doc), DRAM
//! traffic and row behaviour with DDR4, data moved bit for bit, caches bypassed, and the same
//! results whether the loop ticks every cycle or skips to events.

use std::collections::VecDeque;
use vmsim_hw::dma::{DmaCompletion, DmaConfig, DmaDescriptor, DmaEngine};
use vmsim_hw::dram::{DramConfig, RowOutcome};
use vmsim_hw::memory::{FrameContent, PhysMem};
use vmsim_hw::memsys::{
    CachesConfig, MemPorts, MemReq, MemResp, MemorySystem, Requester, ServedBy,
};
use vmsim_hw::{Cycle, PhysAddr, Ppn};

const GHZ: f64 = 4.0;
/// Room for the core and walkers' requests (what `sim` uses with two walkers).
const PORT_CAP: usize = 24;

/// 25 ns of setup: 100 cycles at 4 GHz.
fn dma_cfg(max_outstanding: usize) -> DmaConfig {
    DmaConfig {
        max_outstanding,
        setup_ns: 25.0,
        ..DmaConfig::default()
    }
}

/// Give `frame` real words and a signature; its content.
fn fill(phys: &mut PhysMem, frame: Ppn, tag: u64) -> FrameContent {
    for i in 0..512 {
        let pa = frame.with_offset(i * 8);
        let v = tag.wrapping_mul(0x9e37_79b9) ^ (i << 20) ^ i;
        phys.write_u64(pa, v);
        phys.record_store(pa, v);
    }
    phys.frame_content(frame)
}

/// A run loop of the engine and the memory system (data caches on, walks straight to DRAM),
/// with scripted descriptors and walker reads.
struct Rig {
    dma: DmaEngine,
    mem: MemorySystem,
    ports: MemPorts,
    phys: PhysMem,
    script: VecDeque<(u64, DmaDescriptor)>,
    /// Walker reads to send: (cycle visible to memory, address).
    walks: VecDeque<(u64, PhysAddr)>,
    walk_answers: Vec<(Cycle, MemResp)>,
    out: Vec<DmaCompletion>,
    last: Option<u64>,
    /// Tick the memory system before the engine in each step.
    mem_first: bool,
}

impl Rig {
    fn new(dma: &DmaConfig, dram: &DramConfig) -> Rig {
        let mem = MemorySystem::new(&CachesConfig::default(), false, dram, GHZ, 1).unwrap();
        Rig {
            dma: DmaEngine::new(dma, GHZ).unwrap(),
            mem,
            ports: MemPorts::with_dma(PORT_CAP, dma.max_outstanding),
            phys: PhysMem::new(64),
            script: VecDeque::new(),
            walks: VecDeque::new(),
            walk_answers: Vec::new(),
            out: Vec::new(),
            last: None,
            mem_first: false,
        }
    }

    fn at(&mut self, cycle: u64, desc: DmaDescriptor) {
        self.script.push_back((cycle, desc));
    }

    fn step(&mut self, now: u64) {
        assert!(self.last.is_none_or(|l| now > l), "stepped backwards");
        self.last = Some(now);
        let t = Cycle(now);
        while self.script.front().is_some_and(|(c, _)| *c == now) {
            let (_, d) = self.script.pop_front().unwrap();
            self.dma.submit(t, d).expect("room");
        }
        // A walker read sent the cycle before it is visible, as the walkers do.
        while self.walks.front().is_some_and(|(c, _)| *c == now + 1) {
            let (c, addr) = self.walks.pop_front().unwrap();
            let req = MemReq {
                id: 1000 + self.walk_answers.len() as u64,
                addr,
                write: false,
                from: Requester::Walker,
                needs_response: true,
            };
            self.ports.req.try_send(Cycle(c), req).unwrap();
        }
        if self.mem_first {
            self.mem.tick(t, &mut self.ports);
            self.dma.tick(t, &mut self.phys, &mut self.ports);
        } else {
            self.dma.tick(t, &mut self.phys, &mut self.ports);
            self.mem.tick(t, &mut self.ports);
        }
        while let Some(r) = self.ports.walker_resp.recv(t) {
            self.walk_answers.push((t, r));
        }
        while let Some(c) = self.dma.pop_completion(t) {
            self.out.push(c);
        }
    }

    /// The loop's next cycle: every component's next event.
    fn next_event(&self) -> Option<u64> {
        [
            self.dma.next_event(&self.ports),
            self.dma.next_completion(),
            self.mem.next_event(&self.ports),
            self.ports.walker_resp.next_ready(),
        ]
        .into_iter()
        .flatten()
        .map(|c| c.0)
        .chain(self.script.front().map(|(c, _)| *c))
        .chain(self.walks.front().map(|(c, _)| c - 1))
        .min()
    }

    fn run(&mut self) {
        while let Some(t) = self.next_event() {
            self.step(t);
        }
        assert_eq!(self.mem.outstanding(), 0);
        assert_eq!(self.ports.dma_in_flight(), 0);
        assert!(self.ports.req.is_empty() && self.ports.dma_resp.is_empty());
    }
}

/// `done = t0 + setup + ceil(n / max_outstanding) x (L + 1) + 1` with n = 64 lines, setup 100,
/// L = 100, t0 = 10, in both directions; the caches see none of it, and the data is moved bit
/// for bit.
#[test]
fn page_transfers_take_setup_plus_rounds_of_fixed_latency() {
    for (m, rounds, queue) in [(16, 4, 32), (3, 22, 32), (1, 64, 32), (64, 1, 64)] {
        let dram = DramConfig {
            queue_depth: queue,
            ..DramConfig::fixed(100)
        };
        let expect = 10 + 100 + rounds * 101 + 1;
        let mut rig = Rig::new(&dma_cfg(m), &dram);
        let original = fill(&mut rig.phys, Ppn(3), 7);
        rig.at(10, DmaDescriptor::page_to_device(1, Ppn(3), 42));
        rig.run();
        let c = rig.out.pop().expect("completed");
        assert_eq!((c.accepted, c.done), (Cycle(10), Cycle(expect)), "M = {m}");
        assert_eq!(c.data, Some(original.clone()));

        let t1 = rig.last.unwrap() + 1;
        rig.at(
            t1,
            DmaDescriptor::page_to_memory(2, Ppn(5), 42, original.clone()),
        );
        rig.run();
        let c = rig.out.pop().expect("completed");
        assert_eq!(c.done.0 - t1, expect - 10, "M = {m}, device to memory");
        assert_eq!(rig.phys.frame_content(Ppn(5)), original);

        let d = rig.mem.dram().stats();
        assert_eq!((d.reads, d.writes), (64, 64));
        assert_eq!(d.total_read_latency, 64 * 100);
        assert_eq!(d.total_write_latency, 64 * 100);
        let s = rig.mem.stats();
        assert_eq!(
            (s.requests, s.dma_requests, s.walker_requests),
            (128, 128, 0)
        );
        for name in ["l1i", "l1d", "l2", "llc"] {
            assert_eq!(rig.mem.cache(name).unwrap().stats().accesses, 0, "{name}");
        }
    }
}

/// DDR4-3200 at 4 GHz (CL = tRCD = 55, CWL 40, burst 10, tCCD_L 20 cycles): a page is one row of
/// one bank, so the first line reaches memory at setup + 1 = 101 and opens the row, and the
/// other 63 are row hits one tCCD_L apart (16 lines in flight keep the queue fed).
/// Reads: first data at 101 + 55 + 55 + 10 = 221, last at 221 + 63 x 20 = 1481, done 1482.
/// Writes: first at 101 + 55 + 40 + 10 = 206, last at 206 + 1260 = 1466, done 1467.
#[test]
fn ddr4_counts_dma_lines_as_reads_and_writes_in_one_row() {
    let mut rig = Rig::new(&dma_cfg(16), &DramConfig::default());
    let original = fill(&mut rig.phys, Ppn(3), 9);
    rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 1));
    rig.run();
    assert_eq!(rig.out[0].done, Cycle(1482));
    let s = rig.mem.dram().stats().clone();
    assert_eq!(
        (s.reads, s.writes, s.row_misses, s.row_hits, s.row_conflicts),
        (64, 0, 1, 63, 0)
    );
    assert_eq!((s.activates, s.precharges, s.bus_busy_cycles), (1, 0, 640));

    // Into frame 4 (the next bank): its row is closed too.
    let t1 = 2000;
    rig.at(
        t1,
        DmaDescriptor::page_to_memory(2, Ppn(4), 1, original.clone()),
    );
    rig.run();
    assert_eq!(rig.out[1].done, Cycle(t1 + 1467));
    let s = rig.mem.dram().stats();
    assert_eq!(
        (s.reads, s.writes, s.row_misses, s.row_hits, s.activates),
        (64, 64, 2, 126, 2)
    );
    assert_eq!(s.bus_busy_cycles, 1280);
    assert_eq!(rig.phys.frame_content(Ppn(4)), original);
    assert_eq!(rig.mem.stats().dma_requests, 128);
}

/// A walker read to another row of the transfer's bank, visible at 400, waits behind the DMA
/// row hits (FR-FCFS): the last DMA read issues at 1481 - 65 = 1416, then PRE at + tRTP 30 =
/// 1446, ACT at + tRP 55 = 1501, RD at + tRCD 55 = 1556, data at + CL 55 + burst 10 = 1621.
#[test]
fn walker_read_competes_with_dma_traffic_for_the_bank() {
    let mut rig = Rig::new(&dma_cfg(16), &DramConfig::default());
    rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
    // Frame 3 + 32 sets address bit 17, the lowest row bit: same bank, another row.
    rig.walks.push_back((400, Ppn(3 + 32).base()));
    rig.run();
    assert_eq!(rig.out[0].done, Cycle(1482));
    let (t, r) = rig.walk_answers[0];
    assert_eq!(t, Cycle(1621));
    assert_eq!(r.served_by, ServedBy::Dram(RowOutcome::Conflict));
    let s = rig.mem.stats();
    assert_eq!((s.requests, s.walker_requests, s.dma_requests), (65, 1, 64));
}

/// Too small a response port throttles the engine instead of overflowing: `send` refuses while
/// the port could not hold every answer.
#[test]
fn dma_sends_are_refused_when_answers_would_not_fit() {
    let cfg = dma_cfg(16);
    let mut rig = Rig::new(&cfg, &DramConfig::fixed(100));
    rig.ports = MemPorts::with_dma(PORT_CAP, 4);
    rig.at(0, DmaDescriptor::page_to_device(1, Ppn(3), 9));
    rig.run();
    // Four lines per round: 16 rounds of L + 1 (a refused send is retried the next cycle,
    // when the answers of the round have just been taken).
    assert_eq!(rig.out[0].done, Cycle(100 + 16 * 101 + 1));
    assert!(rig.dma.stats().bus_refusals > 0);
}

fn mixed_rig() -> Rig {
    let cfg = DmaConfig {
        max_outstanding: 4,
        queue_depth: 8,
        setup_ns: 100.0,
    };
    let mut rig = Rig::new(&cfg, &DramConfig::default());
    let mut src = PhysMem::new(1);
    fill(&mut rig.phys, Ppn(1), 9);
    fill(&mut rig.phys, Ppn(17), 8);
    rig.at(0, DmaDescriptor::page_to_device(0, Ppn(1), 10));
    rig.at(
        0,
        DmaDescriptor::page_to_memory(1, Ppn(40), 11, fill(&mut src, Ppn(0), 1)),
    );
    rig.at(7, DmaDescriptor::page_to_device(2, Ppn(17), 12));
    rig.at(
        5000,
        DmaDescriptor::page_to_memory(3, Ppn(2), 13, fill(&mut src, Ppn(0), 2)),
    );
    rig.walks.push_back((450, Ppn(33).base()));
    rig.walks.push_back((5600, Ppn(34).base()));
    rig
}

#[test]
fn ticking_every_cycle_matches_skipping_to_events() {
    let mut skipped = mixed_rig();
    skipped.run();
    let mut ticked = mixed_rig();
    for t in 0..=skipped.last.unwrap() {
        ticked.step(t);
    }
    assert_eq!((skipped.out.len(), skipped.walk_answers.len()), (4, 2));
    assert_eq!(skipped.out, ticked.out);
    assert_eq!(skipped.walk_answers, ticked.walk_answers);
    assert_eq!(skipped.mem.dram().stats(), ticked.mem.dram().stats());
    assert_eq!(skipped.mem.stats(), ticked.mem.stats());
    assert_eq!(skipped.dma.stats(), ticked.dma.stats());
    for f in [1, 2, 17, 40] {
        assert_eq!(
            skipped.phys.frame_content(Ppn(f)),
            ticked.phys.frame_content(Ppn(f))
        );
    }
}

/// Messages cross with at least a cycle of latency, so the order in which a step ticks the
/// engine and the memory system changes nothing.
#[test]
fn tick_order_of_engine_and_memory_does_not_matter() {
    let mut a = mixed_rig();
    a.run();
    let mut b = mixed_rig();
    b.mem_first = true;
    b.run();
    assert_eq!(a.out, b.out);
    assert_eq!(a.walk_answers, b.walk_answers);
    assert_eq!(a.mem.dram().stats(), b.mem.dram().stats());
    assert_eq!(a.last, b.last);
}
