//! The System: wires the hardware (core with its TLBs, walkers, caches and DRAM, the DMA engine
//! and the disk, devices) to the kernel and runs the processes' workloads through it.
//!
//! The run loop is the engine: each step it ticks every component whose next event is due at
//! cycle `now`, then jumps to the earliest cycle at which any component has work (`skip_idle`),
//! or to `now + 1`. Messages between components are stamped at least one cycle ahead, so the
//! order of ticks within a cycle cannot change results, and skipping gives exactly what ticking
//! gives.
//!
//! The kernel is serviced here, as interrupts and traps are on a real machine: a fault the core
//! raised reaches it on the trap port; DMA and disk completions reach it as interrupts; its
//! replies go back to the core stamped with the cycle the handler finishes; the I/O it queues
//! is submitted to the DMA engine and the disk as they accept it. At access boundaries the run
//! loop plays the scheduler's part: a process whose time slice is over, that finished or that
//! was killed gives the core to the next (a context switch), and a process's timed system calls
//! run when it reaches them.

use crate::config::Config;
use crate::device::{DeviceSpec, Nic};
use crate::probe::Window;
pub use crate::scenario::Syscall;
use crate::workload::{Record, Workload, WorkloadError};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;
use vmsim_hw::core::{Access, AccessDone, Core, CorePorts, TrapPorts, TrapReply};
use vmsim_hw::disk::Disk;
use vmsim_hw::dma::DmaEngine;
use vmsim_hw::memory::PhysMem;
use vmsim_hw::memsys::{MemPorts, MemorySystem};
use vmsim_hw::tlb::TlbEntry;
use vmsim_hw::walker::{WalkPorts, WalkRecord, Walkers};
use vmsim_hw::{AccessKind, Asid, Cycle, Cycles, Ppn, VirtAddr, Vpn};
use vmsim_os::syscall::VaRange;
use vmsim_os::{
    IoRequest, Kernel, Mmu, OsError, Pid, ReplyAction, Scheduler, Segment, SegmentKind,
    SegmentPerms, Signal,
};

/// Errors that end a run.
#[derive(Debug, Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Os(#[from] OsError),
    #[error("{0}")]
    Output(String),
    #[error(transparent)]
    Probe(#[from] vmsim_hw::probe::ProbeError),
    /// A kernel invariant broke (checked only with [`System::check_invariants`] on).
    #[error("kernel invariant violated at cycle {now}: {msg}")]
    Invariant { now: u64, msg: String },
    #[error(
        "watchdog: no progress for {cycles} cycles at cycle {now} with work outstanding\n{dump}"
    )]
    Watchdog { cycles: u64, now: u64, dump: String },
}

/// A process killed during the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    pub cycle: Cycle,
    pub pid: Pid,
    pub signal: Signal,
    pub va: VirtAddr,
    pub reason: String,
}

/// Something the OS or a device did, with its start and end cycles (a row of `events.csv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `minor_fault`, `major_fault`, `protection_fault`, `kill_sigsegv`, `kill_sigbus`,
    /// `eviction`, `swap_out`, `swap_in` (the DMA transfers), `disk_read`, `disk_write`,
    /// `device_dma`, `mmap`, `munmap`, `mprotect` or `context_switch`.
    pub kind: &'static str,
    pub start: Cycle,
    pub end: Cycle,
    pub pid: Option<Pid>,
    pub va: Option<VirtAddr>,
    pub frame: Option<Ppn>,
    /// Swap slot (disk block), for swap and disk events.
    pub slot: Option<u64>,
}

/// What a run reports as it goes: every completed access and walk, kills, and (when asked for
/// with [`System::record_events`]) OS and device events.
pub trait Observer {
    fn on_access(&mut self, _pid: Pid, _a: &AccessDone) {}
    fn on_walk(&mut self, _pid: Pid, _w: &WalkRecord) {}
    fn on_kill(&mut self, _kill: &Kill) {}
    fn on_event(&mut self, _e: &Event) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Counters of the run loop itself (not part of the simulated machine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineStats {
    /// Loop iterations: with `skip_idle`, far fewer than cycles.
    pub steps: u64,
    /// Walk answers handed to the core by value ([`System::walk_handover`]).
    pub walk_handovers: u64,
    /// Walk requests handed to the walkers by value ([`System::walk_start_handover`]).
    pub walk_starts: u64,
}

/// A system call made once the process has completed `after` accesses.
#[derive(Clone, Debug, PartialEq)]
pub struct SyscallEvent {
    pub after: u64,
    pub call: Syscall,
}

/// One process of a run.
pub struct ProcessSpec {
    pub name: String,
    pub segments: Vec<Segment>,
    pub events: Vec<SyscallEvent>,
}

/// Data-carrying accesses checked at completion (`integrity` in stats.json).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IntegrityStats {
    /// Data-carrying stores written, and loads checked.
    pub stores: u64,
    pub loads_checked: u64,
    /// Loads that found another value than the last one stored there.
    pub errors: u64,
    /// The first error, described.
    pub first_error: Option<String>,
}

/// Per-process counters the run loop keeps (the kernel keeps the fault side).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcRunStats {
    pub accesses: u64,
    pub instructions: u64,
    pub walks: u64,
    /// Cycles the process's accesses stalled on translation (TLB lookups, walks, faults).
    pub translation_cycles: u64,
    /// Of those, cycles beyond an L1 TLB hit: L2 lookups, walks and faults.
    pub tlb_miss_cycles: u64,
    /// Cycles the process held the core: from dispatch to switch-away or end.
    pub core_cycles: u64,
    /// Times it gave up the core while the kernel serviced a fault that waited for the disk.
    pub blocked: u64,
    /// Walks for pages whose translation a context switch had dropped.
    pub switch_tlb_misses: u64,
    pub syscalls: u64,
}

struct Proc {
    pid: Pid,
    name: String,
    feed: Feed,
    events: std::collections::VecDeque<SyscallEvent>,
    /// The workload has no more records (or the process was killed).
    done: bool,
    /// The access it gave the core up in (with its data), while the kernel serviced its
    /// fault, and the kernel's reply once it came.
    parked: Option<(vmsim_hw::core::Parked, Option<u64>)>,
    /// A kernel thread: supervisor mode, addresses offset into the kernel mapping.
    kernel_base: Option<u64>,
    reply: Option<(TrapReply, Cycle)>,
    stats: ProcRunStats,
}

/// The simulated machine.
pub struct System {
    pub cfg: Config,
    pub core: Core,
    pub walkers: Walkers,
    pub mem: MemorySystem,
    pub phys: PhysMem,
    pub kernel: Kernel,
    pub dma: DmaEngine,
    pub disk: Disk,
    walk_ports: WalkPorts,
    mem_ports: MemPorts,
    trap_ports: TrapPorts,
    procs: Vec<Proc>,
    sched: Scheduler,
    /// Index (pid - 1) of the process on the core.
    current: Option<usize>,
    /// The process whose context the core holds.
    loaded: Option<Pid>,
    dispatched_at: Cycle,
    nics: Vec<Nic>,
    now: Cycle,
    pub engine: EngineStats,
    walk_latency: crate::histogram::Histogram,
    last_end: Cycle,
    sampler: Option<crate::probe::Sampler>,
    /// The data of the access in flight (a data-carrying access's value).
    inflight_data: Option<u64>,
    touches: bool,
    flushed: SwitchFlushes,
    /// The DMA engine, the disk or a device has work, or the kernel has I/O queued: only then
    /// does the run loop ask them for events.
    io_active: bool,
    /// Check the kernel's invariants after every fault, interrupt and system call (slow; for
    /// tests).
    pub check_invariants: bool,
    integrity: IntegrityStats,
    kills: Vec<Kill>,
    switch_tlb_misses: u64,
    events_on: bool,
    /// Disk and device events since the last drain.
    io_events: Vec<Event>,
    /// An isolation violation seen with `check_invariants`, reported by the run loop.
    violation: Option<String>,
    /// An error met where it cannot be returned at once (an access's completion).
    deferred: Option<SimError>,
    /// `violation` or `deferred` is set: the run loop tests this one flag each step.
    failed: bool,
    /// Take the run loop's hand-over shortcuts (on; off only to test them against the
    /// general path, with the core sending its walk requests itself).
    handovers: bool,
}

/// The address space of a trace process: one user read-write-execute segment over the whole
/// 47-bit user half (reference semantics, item 5).
pub fn trace_segments() -> Vec<Segment> {
    vec![Segment {
        start: VirtAddr(0),
        end: VirtAddr(1 << 47),
        perms: SegmentPerms::RWXU,
        kind: SegmentKind::Anonymous,
    }]
}

/// Translations dropped by context switches (flushes without PCID, recycled ASIDs with it), to
/// count the TLB misses that switches cause: a walk for a page whose translation a switch
/// dropped is one.
#[derive(Default)]
struct SwitchFlushes {
    /// The process holding each address-space tag.
    owners: BTreeMap<Asid, Pid>,
    /// (pid, vpn) of translations dropped by switches and not walked since.
    pages: BTreeSet<(u32, u64)>,
}

impl SwitchFlushes {
    fn record(&mut self, core: &Core, which: impl Fn(&TlbEntry) -> bool) {
        for level in ["l1i", "l1d", "l2"] {
            let tlb = core.tlb(level).expect("every level exists");
            for e in tlb.valid_entries().filter(|e| !e.global && which(e)) {
                if let Some(pid) = self.owners.get(&e.asid) {
                    self.pages.insert((pid.0, e.vpn.0));
                }
            }
        }
    }
}

/// The core's translation caches, as the kernel drives them. During a dispatch, the
/// translations a switch drops are recorded.
struct CoreMmu<'a> {
    core: &'a mut Core,
    walkers: &'a mut Walkers,
    flushed: Option<&'a mut SwitchFlushes>,
}

impl Mmu for CoreMmu<'_> {
    fn invalidate_page(&mut self, asid: Asid, vpn: Vpn) {
        // `invlpg` also drops the paging-structure-cache entries used for the address.
        self.core.invalidate_page(asid, vpn);
        self.walkers.pwc_mut().invalidate_va(asid, vpn.base());
    }
    fn invalidate_asid(&mut self, asid: Asid) {
        if let Some(f) = self.flushed.as_deref_mut() {
            f.record(self.core, |e| e.asid == asid);
        }
        self.core.flush_asid(asid);
        self.walkers.pwc_mut().invalidate_asid(asid);
    }
    fn flush_non_global(&mut self) {
        if let Some(f) = self.flushed.as_deref_mut() {
            f.record(self.core, |_| true);
        }
        self.core.flush_non_global();
        self.walkers.pwc_mut().invalidate_all();
    }
}

macro_rules! mmu {
    ($s:expr) => {
        &mut CoreMmu {
            core: &mut $s.core,
            walkers: &mut $s.walkers,
            flushed: None,
        }
    };
}

impl System {
    /// Build the machine from a validated configuration, with one process owning `segments`
    /// (the trace and single-workload runs).
    pub fn new(cfg: &Config, segments: Vec<Segment>) -> Result<System, SimError> {
        System::with_processes(
            cfg,
            vec![ProcessSpec {
                name: "main".into(),
                segments,
                events: Vec::new(),
            }],
            Vec::new(),
        )
    }

    /// Build the machine with these processes (pids 1, 2, ... in order) and devices.
    pub fn with_processes(
        cfg: &Config,
        specs: Vec<ProcessSpec>,
        devices: Vec<DeviceSpec>,
    ) -> Result<System, SimError> {
        cfg.validate()?;
        let seed = cfg.seed;
        let cerr = crate::config::ConfigError::from;
        let mut phys = PhysMem::new(cfg.os.frames);
        let mut kernel = Kernel::new(&cfg.os, cfg.walker.levels, cfg.disk.capacity_blocks, seed)?;
        let mut sched = Scheduler::new(cfg.os.time_slice);
        let mut procs = Vec::new();
        for spec in specs {
            let pid = kernel.spawn(&mut phys, spec.segments)?;
            sched.admit(pid);
            let mut events: Vec<_> = spec.events;
            events.sort_by_key(|e| e.after);
            procs.push(Proc {
                pid,
                name: spec.name,
                feed: Feed::new(),
                events: events.into(),
                done: false,
                parked: None,
                reply: None,
                kernel_base: None,
                stats: ProcRunStats::default(),
            });
        }
        let mut core = Core::new(&cfg.tlb, seed).map_err(cerr)?;
        // The run loop sends the core's walk requests, or hands them to the walkers.
        core.hold_walk_requests(true);
        let walkers = Walkers::new(&cfg.walker, seed).map_err(cerr)?;
        let mem = MemorySystem::new(
            &cfg.caches,
            cfg.walker.through_caches,
            &cfg.dram,
            cfg.core.freq_ghz,
            seed,
        )
        .map_err(cerr)?;
        let dma = DmaEngine::new(&cfg.dma, cfg.core.freq_ghz).map_err(cerr)?;
        let disk = Disk::new(&cfg.disk, cfg.core.freq_ghz, seed).map_err(cerr)?;
        // Every requester's outstanding requests fit its response port.
        let port_cap = 4 * (cfg.walker.walkers + 2) + 8;
        let touches = kernel.wants_touches();
        let devices_empty = devices.is_empty();
        Ok(System {
            cfg: cfg.clone(),
            core,
            walkers,
            mem,
            phys,
            kernel,
            dma,
            disk,
            walk_ports: WalkPorts::new(cfg.walker.queue.max(cfg.walker.walkers)),
            mem_ports: MemPorts::with_dma(port_cap, cfg.dma.max_outstanding),
            trap_ports: TrapPorts::new(),
            procs,
            sched,
            current: None,
            loaded: None,
            dispatched_at: Cycle(0),
            nics: devices
                .into_iter()
                .enumerate()
                .map(|(i, d)| Nic::new(i, d))
                .collect(),
            now: Cycle(0),
            engine: EngineStats::default(),
            walk_latency: Default::default(),
            last_end: Cycle(0),
            sampler: None,
            inflight_data: None,
            touches,
            flushed: SwitchFlushes::default(),
            io_active: !devices_empty,
            check_invariants: false,
            integrity: IntegrityStats::default(),
            kills: Vec::new(),
            switch_tlb_misses: 0,
            events_on: false,
            io_events: Vec::new(),
            violation: None,
            deferred: None,
            failed: false,
            handovers: true,
        })
    }

    /// Make `pid` a kernel thread (before the run): it runs in supervisor mode, and its
    /// workload's addresses are offsets into the kernel's memory (`os.kernel_pages`).
    pub fn make_kernel_thread(&mut self, pid: Pid) {
        let base = vmsim_os::page_table::kernel_base(self.cfg.walker.levels);
        self.procs[(pid.0 - 1) as usize].kernel_base = Some(base);
    }

    /// Attach a probe: every component's signals are sampled after each step from now on.
    pub fn attach_probe(&mut self, probe: Box<dyn vmsim_hw::probe::Probe>) {
        self.attach_probe_window(probe, Window::ALL);
    }

    /// Attach a probe that observes the cycles of `window` only (see [`crate::probe`]).
    pub fn attach_probe_window(&mut self, probe: Box<dyn vmsim_hw::probe::Probe>, window: Window) {
        self.sampler = Some(crate::probe::Sampler::with_window(probe, window));
    }

    /// Detach the probe and hand it back, without finishing it.
    pub fn detach_probe(&mut self) -> Option<Box<dyn vmsim_hw::probe::Probe>> {
        self.sampler.take().map(crate::probe::Sampler::into_probe)
    }

    /// After a run: tell the probe that observation is over ([`vmsim_hw::probe::Probe::finish`],
    /// which reports the errors a writer met) and hand it back.
    pub fn finish_probe(&mut self) -> Result<Option<Box<dyn vmsim_hw::probe::Probe>>, SimError> {
        let Some(mut s) = self.sampler.take() else {
            return Ok(None);
        };
        let os = self.os_probe();
        s.finish(
            self.now,
            &[
                &self.core,
                &self.walkers,
                &self.mem,
                &self.dma,
                &self.disk,
                &os,
            ],
        )?;
        Ok(Some(s.into_probe()))
    }

    /// Every signal the components declare, as (scope, declaration), in the order a probe sees
    /// them; for checking a signal filter before a run.
    pub fn signals(&self) -> Vec<(String, vmsim_hw::probe::SignalDecl)> {
        use vmsim_hw::probe::Probed;
        let mut out = Vec::new();
        let os = self.os_probe();
        for p in [
            &self.core as &dyn Probed,
            &self.walkers,
            &self.mem,
            &self.dma,
            &self.disk,
            &os,
        ] {
            p.declare(&mut out);
        }
        out
    }

    fn os_probe(&self) -> OsProbe {
        let s = self.kernel.stats();
        OsProbe {
            faults: s.minor_faults + s.major_faults,
            in_handler: self.kernel.faults_pending() > 0 || !self.trap_ports.reply.is_empty(),
            kills: s.segv_kills + s.bus_kills,
            pid: self.current.map_or(0, |i| u64::from(self.procs[i].pid.0)),
            context_switches: s.context_switches,
            tlb_flushes: s.tlb_flushes,
            evictions: s.evictions,
            swap_ins: s.swap_ins,
            swap_outs: s.swap_outs,
        }
    }

    /// After the step at `now`, the next one being at `next`: sample, and return the cycle of
    /// the next step. Inside the probe's window the engine also steps where a DRAM refresh
    /// begins, which closes rows without waking any component (an extra step changes nothing:
    /// skipping equals ticking), so that the waveform shows it when it happens.
    #[inline(never)]
    fn sample(&mut self, now: Cycle, next: Option<Cycle>) -> Option<Cycle> {
        if self
            .sampler
            .as_ref()
            .is_none_or(|s| s.over(now) && s.window().end < now)
        {
            // Past the window (and its closing step): nothing to sample or step for.
            return next;
        }
        let os = self.os_probe();
        let Some(s) = self.sampler.as_mut() else {
            return next;
        };
        s.after_step(
            now,
            next,
            &[
                &self.core,
                &self.walkers,
                &self.mem,
                &self.dma,
                &self.disk,
                &os,
            ],
        );
        match (next, self.mem.dram().next_refresh_after(now)) {
            (Some(n), Some(r)) if r < n && s.wants_step_at(r) => Some(r),
            _ => next,
        }
    }

    /// Report OS and device events to the observer (`events.csv`); off by default.
    pub fn record_events(&mut self, on: bool) {
        self.events_on = on;
        self.kernel.log_events(on);
    }

    /// Hand the kernel's logged events to the observer.
    fn drain_events(&mut self, obs: &mut dyn Observer) {
        if !self.events_on {
            return;
        }
        for e in self.kernel.take_events() {
            obs.on_event(&Event {
                kind: e.kind.as_str(),
                start: e.start,
                end: e.end,
                pid: e.pid,
                va: e.va,
                frame: e.frame,
                slot: e.slot,
            });
        }
        for e in self.io_events.drain(..) {
            obs.on_event(&e);
        }
    }

    /// The current cycle.
    pub fn now(&self) -> Cycle {
        self.now
    }
    /// The first process's pid (the only one of a single-workload run).
    pub fn pid(&self) -> Pid {
        self.procs.first().map_or(Pid(1), |p| p.pid)
    }

    /// Run `workload` as the only process's (pid 1) to the end, or until it is killed.
    pub fn run(
        &mut self,
        workload: &mut dyn Workload,
        obs: &mut dyn Observer,
    ) -> Result<(), SimError> {
        self.run_all(&mut [workload], obs)
    }

    /// Run every process, `workloads[i]` being process i + 1's, until all have finished or
    /// been killed.
    ///
    /// With `skip_idle`, a step ticks only the components whose next event is due, and when the
    /// core finishes an access on its L1 paths before any other component has work, it starts
    /// the next access at once: exactly what stepping to that cycle would do, as every message
    /// is stamped at least one cycle ahead. Without `skip_idle` every component is ticked every
    /// cycle: the reference the skipping mode is tested against.
    pub fn run_all(
        &mut self,
        workloads: &mut [&mut dyn Workload],
        obs: &mut dyn Observer,
    ) -> Result<(), SimError> {
        assert_eq!(
            workloads.len(),
            self.procs.len(),
            "one workload per process"
        );
        let skip = self.cfg.engine.skip_idle;
        let watchdog = self.cfg.engine.watchdog_cycles;
        let mut last_progress = self.now;
        // Cycle at which each component next has work ([`NEVER`] for none), as of the last
        // step: a component is ticked only when due (a tick before then finds nothing visible
        // and changes nothing).
        // Without idle skipping every component is due every cycle: its next is 0.
        let first = if skip { NEVER } else { Cycle(0) };
        let mut next_core = first;
        let mut next_walkers = first;
        let mut next_mem = first;
        let mut next_trap = first;
        let mut next_io = first;
        let due = |next: Cycle, now: Cycle| next <= now;
        // A walk request the core made, handed to the walkers in the step at its cycle.
        let mut given = None;
        loop {
            let mut now = self.now;
            self.engine.steps += 1;
            let mut progress = false;
            if due(next_core, now) {
                // The core may hand a data request to the memory system at once when nothing
                // else can reach it until the answer: no walk in flight (the core is the
                // walkers' only requester and waits for the data), the walkers and the kernel
                // have nothing due this cycle (they tick after the core), no disk or DMA
                // traffic, and no probe samples the steps in between. What the memory system
                // has due first (a posted A/D-bit write) it does first, after the core's L1
                // lookup, as in this step.
                let direct = skip
                    && next_walkers > now
                    && next_trap > now
                    && !self.io_active
                    && self.sampler.is_none()
                    && self.walkers.idle();
                progress |= self.tick_core(now, obs, direct);
            }
            if due(next_walkers, now) {
                // The walkers may hand a lone walk's reads to the memory system at once when
                // nothing else can reach it until the walk ends: the core waits for that walk
                // (it sends nothing and its L1 path is idle), the kernel has nothing due this
                // cycle, no disk or DMA traffic, and no probe samples the steps in between.
                // What the memory system has due first it does first, as in this step.
                let direct = (skip
                    && next_trap > now
                    && !self.io_active
                    && self.sampler.is_none()
                    && self.core.waits_for_walk())
                .then_some(&mut self.mem);
                progress |= self.walkers.tick_with(
                    now,
                    &mut self.phys,
                    &mut self.walk_ports,
                    &mut self.mem_ports,
                    direct,
                    given.take(),
                );
                // A lone walk that ended kept its answer (see `Walkers::tick`): hand it to
                // the core in the step at its cycle, or send it on the port.
                if let Some((r, resp)) = self.walkers.take_answer() {
                    if self.walk_handover() {
                        if self.events_on {
                            self.drain_events(obs);
                        }
                        self.mem_alone_until(
                            now,
                            r,
                            due(next_mem, now),
                            progress,
                            &mut last_progress,
                            watchdog,
                        )?;
                        // The rest of this iteration is the step at `r`, where the core ticks
                        // first, the walkers have nothing, and the memory system ticks if due.
                        now = r;
                        self.now = r;
                        self.engine.steps += 1;
                        self.engine.walk_handovers += 1;
                        next_mem = or_never(self.mem.next_event(&self.mem_ports));
                        next_trap = NEVER;
                        progress = self.take_walk_answer(r, resp, obs);
                    } else if self.walk_ports.resp.try_send(r, resp).is_err() {
                        unreachable!("walk response port full with one walk outstanding");
                    }
                }
            }
            if due(next_mem, now) {
                progress |= self.mem.tick(now, &mut self.mem_ports);
            }
            let mut kernel_acted = false;
            if due(next_io, now) {
                let p = self.tick_io(now)?;
                if p {
                    self.deliver_replies(obs);
                }
                progress |= p;
                kernel_acted |= p;
            }
            if due(next_trap, now) && self.service_traps(now)? {
                self.deliver_replies(obs);
                progress = true;
                kernel_acted = true;
            }
            if self.check_invariants && kernel_acted {
                self.kernel
                    .check_invariants(&self.phys)
                    .map_err(|msg| SimError::Invariant { now: now.0, msg })?;
            }
            if self.failed {
                return Err(self.take_error(now));
            }
            // At an access boundary: switch processes, run system calls, then feed the core;
            // while it completes accesses on its L1 paths before anything else is due, keep
            // feeding it.
            if self.core.is_idle() && self.core.ready_at() <= self.now {
                progress |= self.boundary()?;
                next_walkers = or_never(self.walkers.next_event(&self.walk_ports, &self.mem_ports));
            }
            while self.core.wants_access(self.now) {
                let Some(i) = self.current else { break };
                if self.sched.expired(self.now)
                    || self.procs[i]
                        .events
                        .front()
                        .is_some_and(|e| e.after <= self.procs[i].stats.accesses)
                {
                    progress |= self.boundary()?;
                    break;
                }
                let Some(rec) = self.procs[i].feed.next(&mut *workloads[i])? else {
                    progress |= self.boundary()?;
                    break;
                };
                let t = self.now;
                self.begin(t, i, &rec, obs);
                progress = true;
                let r = self.core.ready_at();
                if !skip
                    || !self.core.is_idle()
                    || self.sampler.as_ref().is_some_and(|s| !s.may_skip(t, r))
                {
                    break;
                }
                // The access may have posted a write (a D-bit update) to memory.
                let others = next_walkers
                    .min(or_never(self.mem.next_event(&self.mem_ports)))
                    .min(or_never(self.trap_ports.fault.next_ready()))
                    .min(next_io);
                if others <= r {
                    break;
                }
                self.now = r;
                self.engine.steps += 1;
            }
            if self.events_on {
                self.drain_events(obs);
            }
            if self.kernel.has_replies() {
                // Faults a retired access let go on (see `Kernel::retired`).
                self.deliver_replies(obs);
            }
            // A walk request the core made in this step: start it in the step at its cycle,
            // or send it.
            if let Some((w, req)) = self.core.take_walk_request() {
                if self.walk_start_handover(skip) {
                    self.mem_alone_until(
                        self.now,
                        w,
                        false,
                        progress,
                        &mut last_progress,
                        watchdog,
                    )?;
                    self.now = w;
                    self.engine.walk_starts += 1;
                    given = Some(req);
                    next_core = NEVER;
                    next_walkers = w;
                    next_mem = or_never(self.mem.next_event(&self.mem_ports));
                    next_trap = NEVER;
                    next_io = NEVER;
                    continue;
                }
                if self.walk_ports.req.try_send(w, req).is_err() {
                    unreachable!("walk request port full with one walk outstanding");
                }
            }
            let now = self.now;
            if progress || self.io_active {
                last_progress = now;
            }
            // Whatever the core sent while being fed is due later than now.
            next_walkers = or_never(self.walkers.next_event(&self.walk_ports, &self.mem_ports));
            next_mem = or_never(self.mem.next_event(&self.mem_ports));
            next_core = if self.core.is_idle() {
                self.idle_core_next(now)
            } else {
                or_never(self.core.next_event_of(
                    &self.walk_ports,
                    &self.mem_ports,
                    &self.trap_ports,
                ))
            };
            next_trap = or_never(self.trap_ports.fault.next_ready());
            next_io = if self.io_active {
                self.next_io_event()
            } else {
                NEVER
            };
            let n = next_core
                .min(next_walkers)
                .min(next_mem)
                .min(next_trap)
                .min(next_io);
            if n == NEVER {
                if self.sampler.is_some() {
                    self.sample(now, None);
                }
                break;
            }
            let mut step = if skip {
                n.max(Cycle(now.0 + 1))
            } else {
                next_core = Cycle(0);
                next_walkers = Cycle(0);
                next_mem = Cycle(0);
                next_trap = Cycle(0);
                next_io = Cycle(0);
                Cycle(now.0 + 1)
            };
            if self.sampler.is_some() {
                step = self.sample(now, Some(step)).unwrap_or(step);
            }
            if now.0 - last_progress.0 > watchdog {
                return Err(self.watchdog(watchdog, now));
            }
            self.now = step;
        }
        // What the last step found, before the loop could look.
        if let Some(msg) = self.violation.take() {
            return Err(SimError::Invariant {
                now: self.now.0,
                msg,
            });
        }
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        self.mem.settle(self.now);
        if let Some(i) = self.current.take() {
            self.procs[i].stats.core_cycles += (self.now - self.dispatched_at).0;
        }
        self.kernel.finish(self.last_end);
        Ok(())
    }

    /// When an idle core (ready for an access, or killed) next needs a step. Out of line: the
    /// core is idle only between accesses, and the loop above keeps its registers for the
    /// busy case.
    #[inline(never)]
    fn idle_core_next(&self, now: Cycle) -> Cycle {
        if self.current.is_none() {
            // Nothing to run now: the core only wakes for a reply or a new dispatch.
            if self.sched.waiting() > 0 {
                Cycle(now.0 + 1)
            } else {
                NEVER
            }
        } else {
            or_never(
                self.core
                    .next_event_of(&self.walk_ports, &self.mem_ports, &self.trap_ports),
            )
        }
    }

    /// Whether the answer to a lone walk, kept by the walkers in a tick with `direct` (see
    /// [`Walkers::tick`]), may be handed to the core by value in the step at its cycle `r`,
    /// after the memory system's steps before it ([`System::mem_alone_until`]).
    ///
    /// The walkers' `direct` already says: idle cycles are skipped, no probe samples steps,
    /// there is no disk, DMA or device traffic, the kernel had nothing due at this step, and
    /// the core waits for that walk (it sent nothing else: every walker is now idle). Then no
    /// fault is on the trap port and no reply waits (the core raised none since its last
    /// access, and `retired` runs only when one ends), and if this step found no error,
    /// nothing but the memory system's own events (a posted A/D-bit write, DRAM commands) is
    /// due before `r`; at `r` the core ticks first and takes the answer, with the walkers
    /// idle and the kernel not due: its data request may go to the memory system at once.
    #[inline]
    fn walk_handover(&self) -> bool {
        debug_assert!(self.walkers.idle() && self.core.waits_for_walk());
        debug_assert!(self.trap_ports.fault.is_empty() && !self.kernel.has_replies());
        self.handovers && !self.failed
    }

    /// At the end of a step in which the core made a walk request (visible to the walkers at
    /// `w`): whether the walkers may take it by hand in the step at `w`, after the memory
    /// system's steps before it ([`System::mem_alone_until`]), instead of from the port.
    ///
    /// That holds when idle cycles are skipped (`skip`), no probe samples steps, there is no
    /// disk, DMA or device traffic, every walker is idle (the core is their only requester),
    /// no fault is on the trap port, no reply waits and this step found no error: the core
    /// then waits for that walk and nothing but the memory system's own events is due before
    /// `w`, and at `w` the walkers take the request first (the core has nothing to receive),
    /// as the port's only message.
    #[inline]
    fn walk_start_handover(&self, skip: bool) -> bool {
        debug_assert!(self.core.waits_for_walk());
        self.handovers
            && skip
            && self.sampler.is_none()
            && !self.io_active
            && !self.failed
            && self.walkers.idle()
            && self.trap_ports.fault.is_empty()
            && !self.kernel.has_replies()
    }

    /// The core takes the answer to its walk at `now` ([`System::walk_handover`]); out of
    /// line, as the run loop's own tick of the core stays inlined.
    #[inline(never)]
    fn take_walk_answer(
        &mut self,
        now: Cycle,
        resp: vmsim_hw::walker::WalkResponse,
        obs: &mut dyn Observer,
    ) -> bool {
        let mut ports = CorePorts {
            walk: &mut self.walk_ports,
            mem: &mut self.mem_ports,
            trap: &mut self.trap_ports,
        };
        self.core
            .take_walk_answer(now, resp, &mut self.phys, &mut self.mem, &mut ports, true);
        self.drain_core(obs);
        true
    }

    /// The engine's steps from the rest of the one at `now` up to (not including) the one at
    /// `to`, when nothing but the memory system has work before `to` (and at `now` only the
    /// memory system's tick is left, made if `mem_due`): each at its cycle, with the loop's
    /// progress and watchdog bookkeeping (`progress` is the step at `now`'s so far). The
    /// caller has made the rest of the step at `now` (nothing else is due).
    #[inline]
    fn mem_alone_until(
        &mut self,
        now: Cycle,
        to: Cycle,
        mem_due: bool,
        mut progress: bool,
        last_progress: &mut Cycle,
        watchdog: u64,
    ) -> Result<(), SimError> {
        if mem_due {
            progress |= self.mem.tick(now, &mut self.mem_ports);
        }
        let mut s = now;
        loop {
            if progress {
                *last_progress = s;
            }
            if s.0 - last_progress.0 > watchdog {
                return Err(self.watchdog(watchdog, s));
            }
            let next = or_never(self.mem.next_event(&self.mem_ports))
                .min(to)
                .max(Cycle(s.0 + 1));
            if next >= to {
                return Ok(());
            }
            s = next;
            self.engine.steps += 1;
            progress = self.mem.tick(s, &mut self.mem_ports);
        }
    }

    #[cold]
    fn watchdog(&self, cycles: u64, now: Cycle) -> SimError {
        SimError::Watchdog {
            cycles,
            now: now.0,
            dump: self.dump(),
        }
    }

    /// The error a step found (an isolation violation first, then a deferred one).
    #[cold]
    fn take_error(&mut self, now: Cycle) -> SimError {
        self.failed = false;
        match (self.violation.take(), self.deferred.take()) {
            (Some(msg), _) => SimError::Invariant { now: now.0, msg },
            (None, Some(e)) => e,
            (None, None) => unreachable!("take_error without an error"),
        }
    }

    /// Start access `rec` of process `i` at `t`.
    #[inline]
    fn begin(&mut self, t: Cycle, i: usize, rec: &Record, obs: &mut dyn Observer) {
        self.inflight_data = rec.data;
        let p = &mut self.procs[i].stats;
        p.accesses += 1;
        p.instructions += rec.instrs as u64;
        let va = match self.procs[i].kernel_base {
            Some(base) => VirtAddr(base.wrapping_add(rec.va.0)),
            None => rec.va,
        };
        let acc = Access {
            kind: rec.kind,
            va,
            size: rec.size,
            instrs: rec.instrs,
            data: rec.data,
        };
        let mut ports = CorePorts {
            walk: &mut self.walk_ports,
            mem: &mut self.mem_ports,
            trap: &mut self.trap_ports,
        };
        self.core
            .begin(t, acc, &mut self.phys, &mut self.mem, &mut ports);
        self.drain_core(obs);
    }

    /// The core is between accesses at `now`: retire a finished or killed process, switch
    /// if its slice is over, run its due system calls. Returns true if anything happened.
    fn boundary(&mut self) -> Result<bool, SimError> {
        let now = self.now;
        let mut acted = false;
        if let Some(i) = self.current {
            let p = &mut self.procs[i];
            if self.core.killed() || p.feed.exhausted {
                p.done = true;
            }
            if p.done {
                let pid = p.pid;
                p.stats.core_cycles += (now - self.dispatched_at).0;
                self.current = None;
                self.sched.remove_running();
                self.kernel.exit(pid);
                if self.procs.iter().any(|q| !q.done) {
                    self.kernel.reap(&mut self.phys, pid, mmu!(self));
                }
                for n in &mut self.nics {
                    if n.spec.pid == pid {
                        n.stop();
                    }
                }
                acted = true;
            }
        }
        if let Some(i) = self.current {
            // Due system calls, one at a time (each delays the core).
            let accesses = self.procs[i].stats.accesses;
            if let Some(ev) = self.procs[i].events.front()
                && ev.after <= accesses
            {
                let ev = self.procs[i].events.pop_front().expect("front");
                let pid = self.procs[i].pid;
                let cost = self.syscall(now, pid, ev.call)?;
                self.procs[i].stats.syscalls += 1;
                self.core.delay(now + cost);
                return Ok(true);
            }
        }
        if self.current.is_some() && !self.sched.expired(now) {
            return Ok(acted);
        }
        // Switch (or first dispatch).
        if let Some(i) = self.current.take() {
            self.procs[i].stats.core_cycles += (now - self.dispatched_at).0;
        }
        let Some(pid) = self.sched.pick(now) else {
            return Ok(acted);
        };
        let i = (pid.0 - 1) as usize;
        let (root, asid, cost) = match self.loaded {
            Some(l) if l == pid => {
                // The same process again: no switch.
                let p = self.kernel.process(pid).expect("scheduled pid");
                (p.root, p.asid, Cycles(0))
            }
            loaded => {
                let first = loaded.is_none();
                let mut mmu = CoreMmu {
                    core: &mut self.core,
                    walkers: &mut self.walkers,
                    flushed: Some(&mut self.flushed),
                };
                self.kernel.dispatch(now, pid, first, &mut mmu)
            }
        };
        self.flushed.owners.insert(asid, pid);
        self.sched.start_slice(now + cost);
        let user = self.procs[i].kernel_base.is_none();
        self.core.resume(asid, root, user, now + cost);
        if let Some((p, data)) = self.procs[i].parked.take() {
            // Back to the access it gave the core up in, waiting for the reply.
            self.core.unpark(now + cost, p);
            self.inflight_data = data;
            let (reply, ready) = self.procs[i].reply.take().expect("admitted with its reply");
            let at = ready.max(now + cost).max(Cycle(now.0 + 1));
            if self.trap_ports.reply.try_send(at, reply).is_err() {
                unreachable!("trap reply port full with one trap outstanding");
            }
        }
        self.loaded = Some(pid);
        self.current = Some(i);
        self.dispatched_at = now;
        Ok(true)
    }

    fn syscall(&mut self, now: Cycle, pid: Pid, call: Syscall) -> Result<Cycles, SimError> {
        let k = &mut self.kernel;
        let mmu = &mut CoreMmu {
            core: &mut self.core,
            walkers: &mut self.walkers,
            flushed: None,
        };
        Ok(match call {
            Syscall::Mmap(seg) => k.mmap(now, &mut self.phys, pid, seg)?,
            Syscall::Munmap { start, end } => {
                let len = end.0 - start.0;
                k.munmap(now, &mut self.phys, pid, VaRange { start, len }, mmu)?
            }
            Syscall::Mprotect { start, end, perms } => {
                let len = end.0 - start.0;
                k.mprotect(now, &mut self.phys, pid, VaRange { start, len }, perms, mmu)?
            }
        })
    }

    /// Tick the core at `now` and report what it completed.
    #[inline]
    fn tick_core(&mut self, now: Cycle, obs: &mut dyn Observer, direct: bool) -> bool {
        let mut ports = CorePorts {
            walk: &mut self.walk_ports,
            mem: &mut self.mem_ports,
            trap: &mut self.trap_ports,
        };
        let progress = self
            .core
            .tick(now, &mut self.phys, &mut self.mem, &mut ports, direct);
        self.drain_core(obs);
        progress
    }

    /// The kernel's side of the trap port: hand a fault to the handler.
    fn service_traps(&mut self, now: Cycle) -> Result<bool, SimError> {
        let Some(fault) = self.trap_ports.fault.recv(now) else {
            return Ok(false);
        };
        let mmu = &mut CoreMmu {
            core: &mut self.core,
            walkers: &mut self.walkers,
            flushed: None,
        };
        self.kernel.handle_fault(now, &mut self.phys, &fault, mmu)?;
        if self.kernel.next_io().is_some() {
            self.submit_io(now);
            self.io_active = true;
        }
        Ok(true)
    }

    /// Send the kernel's fault replies to the core.
    fn deliver_replies(&mut self, obs: &mut dyn Observer) {
        while let Some(r) = self.kernel.take_reply() {
            let ready = r.ready.max(Cycle(self.now.0 + 1));
            let reply = match r.action {
                ReplyAction::Retry(kind) => TrapReply::Retry(kind),
                ReplyAction::Kill {
                    kind,
                    signal,
                    va,
                    reason,
                } => {
                    let k = Kill {
                        cycle: r.trap,
                        pid: r.pid,
                        signal,
                        va,
                        reason,
                    };
                    obs.on_kill(&k);
                    self.kills.push(k);
                    TrapReply::Kill(kind)
                }
            };
            let i = (r.pid.0 - 1) as usize;
            if self.current == Some(i) {
                if self.trap_ports.reply.try_send(ready, reply).is_err() {
                    unreachable!("trap reply port full with one trap outstanding");
                }
            } else {
                // Its process gave up the core: it can run again, and gets the reply when
                // it does.
                self.procs[i].reply = Some((reply, ready));
                self.sched.admit(r.pid);
            }
        }
        self.maybe_park();
    }

    /// If the running process waits for the kernel (its fault waits for the disk) and another
    /// process could run, the waiting one gives up the core (it blocks on I/O).
    fn maybe_park(&mut self) {
        let Some(i) = self.current else { return };
        if !self.core.waiting_for_trap()
            || self.sched.waiting() == 0
            || !self.trap_ports.reply.is_empty()
            || !self.kernel.fault_pending(self.procs[i].pid)
        {
            return;
        }
        let now = self.now;
        self.procs[i].parked = Some((self.core.park(now), self.inflight_data.take()));
        self.procs[i].stats.core_cycles += (now - self.dispatched_at).0;
        self.procs[i].stats.blocked += 1;
        self.current = None;
        self.sched.remove_running();
    }

    /// Tick the DMA engine and the disk, take their completions (interrupts) and start the
    /// devices' due bursts.
    fn tick_io(&mut self, now: Cycle) -> Result<bool, SimError> {
        let mut progress = self.dma.tick(now, &mut self.phys, &mut self.mem_ports);
        progress |= self.disk.tick(now);
        while let Some(c) = self.dma.pop_completion(now) {
            progress = true;
            if let Some(d) = Nic::index_of(c.id) {
                self.nics[d].delivered += 1;
                self.kernel.dma_release(&mut self.phys, c.frame);
                if self.events_on {
                    self.io_events.push(Event {
                        kind: "device_dma",
                        start: c.accepted,
                        end: c.done,
                        pid: Some(self.nics[d].spec.pid),
                        va: None,
                        frame: Some(c.frame),
                        slot: None,
                    });
                }
                continue;
            }
            let mmu = &mut CoreMmu {
                core: &mut self.core,
                walkers: &mut self.walkers,
                flushed: None,
            };
            self.kernel.on_dma(now, &mut self.phys, c, mmu)?;
        }
        while let Some(c) = self.disk.pop_completion(now) {
            progress = true;
            if self.events_on {
                self.io_events.push(Event {
                    kind: if c.write { "disk_write" } else { "disk_read" },
                    start: c.arrival,
                    end: c.done,
                    pid: None,
                    va: None,
                    frame: None,
                    slot: Some(c.block),
                });
            }
            let mmu = &mut CoreMmu {
                core: &mut self.core,
                walkers: &mut self.walkers,
                flushed: None,
            };
            self.kernel.on_disk(now, &mut self.phys, c, mmu)?;
        }
        for n in 0..self.nics.len() {
            let nic = &self.nics[n];
            let pt = self.kernel.page_table(nic.spec.pid);
            let phys = &self.phys;
            let desc = nic.due(now, |va| {
                pt.and_then(|pt| pt.lookup(phys, va))
                    .map(|(_, pte)| pte.ppn())
            });
            if let Some(d) = desc {
                let frame = d.frame;
                if self.dma.submit(now, d).is_ok() {
                    // The buffer's frame stays allocated until the burst has landed, even if
                    // its process ends meanwhile.
                    self.kernel.dma_hold(frame);
                    self.nics[n].accepted(now);
                    progress = true;
                }
            } else if self.nics[n].next_event().is_some_and(|t| t <= now) && pt.is_none() {
                self.nics[n].stop();
            }
        }
        self.submit_io(now);
        self.update_io_active();
        Ok(progress)
    }

    fn update_io_active(&mut self) {
        self.io_active = self.disk.outstanding() > 0
            || self.dma.outstanding() > 0
            || self.kernel.next_io().is_some()
            || self.nics.iter().any(|n| n.next_event().is_some());
    }

    /// Submit the kernel's queued I/O, in order, while the devices accept it.
    fn submit_io(&mut self, now: Cycle) {
        while let Some(req) = self.kernel.next_io() {
            let accepted = match req {
                IoRequest::Dma(_) => self.dma.can_accept(),
                IoRequest::Disk(_) => self.disk.can_accept(),
            };
            if !accepted {
                break;
            }
            match self.kernel.pop_io().expect("peeked") {
                IoRequest::Dma(d) => {
                    if self.dma.submit(now, d).is_err() {
                        unreachable!("the DMA engine refused a descriptor it said it could accept");
                    }
                }
                IoRequest::Disk(r) => {
                    if self.disk.submit(now, r).is_err() {
                        unreachable!("the disk refused a request it said it could accept");
                    }
                }
            }
        }
    }

    /// The next cycle at which the DMA engine, the disk, a completion or a device needs a step.
    fn next_io_event(&self) -> Cycle {
        let mut n = or_never(self.dma.next_event(&self.mem_ports))
            .min(or_never(self.dma.next_completion()))
            .min(or_never(self.disk.next_event()))
            .min(or_never(self.disk.next_completion()));
        for d in &self.nics {
            n = n.min(or_never(d.next_event()));
        }
        // Kernel I/O still queued waits for room in a device queue, which only a completion
        // (an event above) makes: `tick_io` submits it then.
        n
    }

    /// The process on the core (pid 0 for none): process `i` is pid `i + 1` (the kernel
    /// numbers the processes from 1 in the order they are spawned, as `procs` holds them).
    #[inline]
    fn current_pid(&self) -> Pid {
        self.current.map_or(Pid(0), |i| {
            debug_assert_eq!(self.procs[i].pid, Pid(i as u32 + 1));
            Pid(i as u32 + 1)
        })
    }

    /// Hand completed accesses and walks to the observer.
    #[inline(always)]
    fn drain_core(&mut self, obs: &mut dyn Observer) {
        if let Some(w) = self.core.take_walk() {
            let pid = self.current_pid();
            self.walk_latency.record((w.end - w.start).0);
            if let Some(i) = self.current {
                self.procs[i].stats.walks += 1;
                if !self.flushed.pages.is_empty()
                    && self.flushed.pages.remove(&(pid.0, w.va.vpn().0))
                {
                    self.procs[i].stats.switch_tlb_misses += 1;
                    self.switch_tlb_misses += 1;
                }
            }
            obs.on_walk(pid, &w);
        }
        if let Some(a) = self.core.take_finished() {
            let pid = self.current_pid();
            self.last_end = a.end;
            self.finished(&a);
            obs.on_access(pid, &a);
        }
    }

    /// Per-process accounting, data checks and LRU touches of a completed access.
    #[inline(always)]
    fn finished(&mut self, a: &AccessDone) {
        if let Some(i) = self.current {
            let p = &mut self.procs[i].stats;
            p.translation_cycles += a.translation_cycles;
            let hit = match a.kind {
                AccessKind::Execute => self.cfg.tlb.l1i.latency,
                _ => self.cfg.tlb.l1d.latency,
            };
            p.tlb_miss_cycles += a.translation_cycles.saturating_sub(hit);
        }
        let killed = a.fault >= vmsim_hw::core::FaultKind::Segv;
        if a.fault != vmsim_hw::core::FaultKind::None
            && !killed
            && let Some(i) = self.current
        {
            let pid = self.procs[i].pid;
            let mmu = &mut CoreMmu {
                core: &mut self.core,
                walkers: &mut self.walkers,
                flushed: None,
            };
            let now = self.now;
            if let Err(e) = self.kernel.retired(now, &mut self.phys, pid, mmu) {
                self.deferred.get_or_insert(SimError::Os(e));
                self.failed = true;
            }
            if self.kernel.next_io().is_some() {
                self.submit_io(now);
                self.io_active = true;
            }
        }
        if self.touches && !killed {
            self.kernel.touch(a.pa.ppn(), a.end);
        }
        if let Some(v) = self.inflight_data.take()
            && !killed
        {
            match a.kind {
                AccessKind::Write => self.integrity.stores += 1,
                AccessKind::Read => {
                    self.integrity.loads_checked += 1;
                    let got = a.loaded.unwrap_or(0);
                    if got != v {
                        self.integrity.errors += 1;
                        if self.integrity.first_error.is_none() {
                            self.integrity.first_error = Some(format!(
                                "cycle {}: pid {} load at {:#x} (pa {:#x}) found {got:#x}, \
                                 expected {v:#x}",
                                a.end.0,
                                self.current.map_or(0, |i| self.procs[i].pid.0),
                                a.va.0,
                                a.pa.0 & !7
                            ));
                        }
                    }
                }
                AccessKind::Execute => {}
            }
        }
        if self.check_invariants
            && !killed
            && let Some(i) = self.current
        {
            // Isolation: the frame the access reached is the one its own page table maps
            // there (if the page is still mapped: an eviction may have taken it since).
            let pid = self.procs[i].pid;
            let page = VirtAddr(a.va.0 & !(vmsim_hw::PAGE_SIZE - 1));
            if let Some(pt) = self.kernel.page_table(pid)
                && let Some((_, pte)) = pt.lookup(&self.phys, page)
                && pte.ppn() != a.pa.ppn()
                && self.violation.is_none()
            {
                self.violation = Some(format!(
                    "pid {} reached frame {} at {:#x}, which its page table maps to frame {}",
                    pid.0,
                    a.pa.ppn().0,
                    a.va.0,
                    pte.ppn().0
                ));
                self.failed = true;
            }
        }
    }

    /// Every component's state, for the watchdog.
    fn dump(&self) -> String {
        format!(
            "core: idle={} killed={}\nwalkers: {:?}\nmemory: {} outstanding, {} DRAM\ntrap port: {} pending\nkernel: {} faults pending\ndma: {} outstanding\ndisk: {} outstanding",
            self.core.is_idle(),
            self.core.killed(),
            self.walkers.states().collect::<Vec<_>>(),
            self.mem.outstanding(),
            self.mem.dram().outstanding(),
            self.trap_ports.fault.len(),
            self.kernel.faults_pending(),
            self.dma.outstanding(),
            self.disk.outstanding(),
        )
    }

    /// Cycle at which the last access completed: the run's length.
    pub fn cycles(&self) -> Cycle {
        self.last_end
    }
    /// Exact distribution of walk latencies.
    pub fn walk_latency(&self) -> &crate::histogram::Histogram {
        &self.walk_latency
    }
    /// Data-carrying access checks.
    pub fn integrity(&self) -> &IntegrityStats {
        &self.integrity
    }
    /// Walks for pages whose translation a context switch had dropped (all processes).
    pub fn switch_tlb_misses(&self) -> u64 {
        self.switch_tlb_misses
    }
    /// Processes killed, in order.
    pub fn kills(&self) -> &[Kill] {
        &self.kills
    }
    /// Each process's pid, name and run-loop counters, in pid order.
    pub fn process_stats(&self) -> impl Iterator<Item = (Pid, &str, &ProcRunStats)> {
        self.procs
            .iter()
            .map(|p| (p.pid, p.name.as_str(), &p.stats))
    }
    /// The devices, with their delivered bursts.
    pub fn devices(&self) -> &[Nic] {
        &self.nics
    }
    /// The frame mapped at `va` in `pid`'s page table, if present.
    pub fn frame_of(&self, pid: Pid, va: VirtAddr) -> Option<Ppn> {
        let pt = self.kernel.page_table(pid)?;
        pt.lookup(&self.phys, va).map(|(_, pte)| pte.ppn())
    }
}

/// A process's records, handed to the core one at a time.
struct Feed {
    buf: Vec<Record>,
    idx: usize,
    exhausted: bool,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            buf: Vec::with_capacity(4096),
            idx: 0,
            exhausted: false,
        }
    }

    #[inline]
    fn next(&mut self, workload: &mut dyn Workload) -> Result<Option<Record>, SimError> {
        if self.exhausted {
            return Ok(None);
        }
        if self.idx == self.buf.len() {
            self.idx = 0;
            if !workload.next_batch(&mut self.buf)? {
                self.exhausted = true;
                self.buf.clear();
                return Ok(None);
            }
        }
        let Some(r) = self.buf.get(self.idx) else {
            self.exhausted = true;
            return Ok(None);
        };
        self.idx += 1;
        Ok(Some(*r))
    }
}

/// The run loop's "no event": later than every cycle, so a minimum ignores it.
const NEVER: Cycle = Cycle(u64::MAX);

#[inline]
fn or_never(next: Option<Cycle>) -> Cycle {
    next.unwrap_or(NEVER)
}

/// The kernel's signals, as waveforms show them (scope `os`).
struct OsProbe {
    faults: u64,
    in_handler: bool,
    kills: u64,
    pid: u64,
    context_switches: u64,
    tlb_flushes: u64,
    evictions: u64,
    swap_ins: u64,
    swap_outs: u64,
}

impl vmsim_hw::probe::Probed for OsProbe {
    fn declare(&self, out: &mut Vec<(String, vmsim_hw::probe::SignalDecl)>) {
        use vmsim_hw::probe::SignalDecl;
        out.push(("os".into(), SignalDecl::bits("in_handler", 1)));
        out.push(("os".into(), SignalDecl::bits("faults", 64)));
        out.push(("os".into(), SignalDecl::bits("kills", 64)));
        out.push(("os".into(), SignalDecl::bits("pid", 32)));
        out.push(("os".into(), SignalDecl::bits("context_switches", 64)));
        out.push(("os".into(), SignalDecl::bits("tlb_flushes", 64)));
        out.push(("os".into(), SignalDecl::bits("evictions", 64)));
        out.push(("os".into(), SignalDecl::bits("swap_ins", 64)));
        out.push(("os".into(), SignalDecl::bits("swap_outs", 64)));
    }
    fn sample(&self, out: &mut Vec<u64>) {
        out.extend([
            self.in_handler as u64,
            self.faults,
            self.kills,
            self.pid,
            self.context_switches,
            self.tlb_flushes,
            self.evictions,
            self.swap_ins,
            self.swap_outs,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigBuilder;

    /// Everything a run reports: each access, walk, kill and event in order.
    #[derive(Default)]
    struct Log {
        accesses: Vec<(Pid, AccessDone)>,
        walks: Vec<(Pid, WalkRecord)>,
        kills: Vec<Kill>,
        events: Vec<Event>,
    }

    impl Observer for Log {
        fn on_access(&mut self, pid: Pid, a: &AccessDone) {
            self.accesses.push((pid, *a));
        }
        fn on_walk(&mut self, pid: Pid, w: &WalkRecord) {
            self.walks.push((pid, *w));
        }
        fn on_kill(&mut self, k: &Kill) {
            self.kills.push(k.clone());
        }
        fn on_event(&mut self, e: &Event) {
            self.events.push(e.clone());
        }
    }

    /// Runs the defaults with `sets` applied, with the run loop's hand-overs on or off;
    /// returns the statistics (as stats.json has them), the log, the engine's counters and
    /// the final cycle.
    fn run(sets: &[&str], handovers: bool) -> (String, Log, EngineStats, Cycle) {
        let mut b = ConfigBuilder::new();
        for s in sets {
            b = b.set(s).unwrap();
        }
        run_config(&b.build().unwrap(), handovers)
    }

    /// Run `cfg` with the hand-overs on or off: its statistics, everything observed, the
    /// engine's counters and the final cycle.
    fn run_config(
        cfg: &crate::config::Config,
        handovers: bool,
    ) -> (String, Log, EngineStats, Cycle) {
        let crate::run::Built {
            system: mut sys,
            mut workloads,
            ..
        } = crate::run::build(cfg).unwrap();
        sys.handovers = handovers;
        // Off: the core sends its walk requests itself, as before the hand-overs.
        sys.core.hold_walk_requests(handovers);
        sys.record_events(true);
        let mut log = Log::default();
        let mut refs: Vec<&mut dyn Workload> = workloads
            .iter_mut()
            .map(|w| &mut **w as &mut dyn Workload)
            .collect();
        sys.run_all(&mut refs, &mut log).unwrap();
        let stats = crate::stats::SystemStats::collect(&sys).to_json();
        (stats, log, sys.engine.clone(), sys.now())
    }

    fn same_with_and_without_handovers(sets: &[&str]) {
        let (s1, l1, e1, end1) = run(sets, true);
        let (s0, l0, e0, end0) = run(sets, false);
        assert_eq!(s1, s0, "statistics differ");
        assert_eq!(l1.accesses, l0.accesses, "accesses differ");
        assert_eq!(l1.walks, l0.walks, "walks differ");
        assert_eq!(l1.kills, l0.kills, "kills differ");
        assert_eq!(l1.events, l0.events, "events differ");
        assert_eq!(end1, end0, "final cycles differ");
        // The hand-overs count the steps they stand for.
        assert_eq!(e1.steps, e0.steps, "engine steps differ");
        assert!(e1.walk_handovers > l1.walks.len() as u64 / 2, "{e1:?}");
        assert_eq!(e0.walk_handovers, 0);
        assert!(e1.walk_starts > l1.walks.len() as u64 / 2, "{e1:?}");
        assert_eq!(e0.walk_starts, 0);
    }

    /// The walk answer's hand-over gives exactly what the general path gives: first touches
    /// (faults) over a DDR4 memory behind caches, with dirty victims and refreshes in flight.
    #[test]
    fn walk_handover_equals_the_port_with_ddr4_and_caches() {
        same_with_and_without_handovers(&[
            "workload.kind=random",
            "workload.pages=16384",
            "os.frames=20000",
            "workload.accesses=20000",
            "os.fault_cycles=300",
        ]);
    }

    /// ... with evictions (faults that do not finish at once), writes setting D bits, and a
    /// zipf reuse pattern that hits the TLBs and caches.
    #[test]
    fn walk_handover_equals_the_port_with_evictions() {
        same_with_and_without_handovers(&[
            "workload.kind=zipf",
            "workload.pages=4096",
            "os.frames=1500",
            "workload.accesses=15000",
        ]);
    }

    /// ... on fixed-latency DRAM without caches or page-walk caches, 5-level tables.
    #[test]
    fn walk_handover_equals_the_port_on_the_plain_machine() {
        same_with_and_without_handovers(&[
            "workload.kind=random",
            "workload.pages=2048",
            "workload.accesses=5000",
            "dram.model=fixed",
            "caches.enabled=false",
            "walker.pwc.enabled=false",
            "walker.levels=5",
        ]);
    }

    /// ... with several processes switching, a swapping one, a device's DMA and a kill.
    #[test]
    fn walk_handover_equals_the_port_in_the_swap_and_dma_scenarios() {
        for name in ["swap", "dma"] {
            let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            let cfg = ConfigBuilder::new()
                .toml(&path, &text)
                .unwrap()
                .build()
                .unwrap();
            let (a, b) = (run_config(&cfg, true), run_config(&cfg, false));
            assert_eq!(a.0, b.0, "{name}: statistics differ");
            assert_eq!(a.1.accesses, b.1.accesses, "{name}: accesses differ");
            assert_eq!(a.1.walks, b.1.walks, "{name}: walks differ");
            assert_eq!(a.1.events, b.1.events, "{name}: events differ");
            assert_eq!(a.2.steps, b.2.steps, "{name}: engine steps differ");
            assert_eq!(a.3, b.3, "{name}: final cycles differ");
            // The device keeps the DMA scenario's I/O busy throughout: no hand-over there.
            assert!(
                name == "dma" || a.2.walk_handovers > 0,
                "{name}: no hand-over"
            );
        }
    }
}
