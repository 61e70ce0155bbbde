//! The System: wires the hardware (core with its TLBs, walkers, caches and DRAM) to the kernel
//! and runs a workload through it.
//!
//! The run loop is the engine: each step it ticks every component in a fixed order at cycle
//! `now`, then jumps to the earliest cycle at which any component has work (`skip_idle`), or to
//! `now + 1`. Messages between components are stamped at least one cycle ahead, so the order of
//! ticks within a cycle cannot change results, and skipping gives exactly what ticking gives.
//! The kernel is serviced here: a fault the core raised reaches it on the trap port, and its reply
//! goes back stamped with the cycles the handler costs.

use crate::config::Config;
use crate::probe::Window;
use crate::workload::{Record, Workload, WorkloadError};
use thiserror::Error;
use vmsim_hw::core::{Access, AccessDone, Core, CorePorts, TrapPorts, TrapReply};
use vmsim_hw::memory::PhysMem;
use vmsim_hw::memsys::{MemPorts, MemorySystem};
use vmsim_hw::walker::{WalkPorts, WalkRecord, Walkers};
use vmsim_hw::{Cycle, VirtAddr};
use vmsim_os::{FaultResolution, Kernel, OsError, Pid, Segment, SegmentKind, SegmentPerms};

/// Errors that end a run.
#[derive(Debug, Error)]
pub enum SimError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Workload(#[from] WorkloadError),
    #[error("{0}")]
    Os(#[from] OsError),
    #[error("{0}")]
    Output(String),
    #[error("{0}")]
    Probe(#[from] vmsim_hw::probe::ProbeError),
    #[error(
        "watchdog: no progress for {cycles} cycles at cycle {now} with work outstanding\n{dump}"
    )]
    Watchdog { cycles: u64, now: u64, dump: String },
}

/// What a run reports as it goes: every completed access and walk, and kills.
pub trait Observer {
    fn on_access(&mut self, _pid: Pid, _a: &AccessDone) {}
    fn on_walk(&mut self, _pid: Pid, _w: &WalkRecord) {}
    fn on_kill(&mut self, _res: &FaultResolution, _cycle: Cycle) {}
}

/// An observer that ignores everything.
pub struct NoObserver;
impl Observer for NoObserver {}

/// Counters of the run loop itself (not part of the simulated machine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EngineStats {
    /// Loop iterations: with `skip_idle`, far fewer than cycles.
    pub steps: u64,
}

/// The simulated machine.
pub struct System {
    pub cfg: Config,
    pub core: Core,
    pub walkers: Walkers,
    pub mem: MemorySystem,
    pub phys: PhysMem,
    pub kernel: Kernel,
    walk_ports: WalkPorts,
    mem_ports: MemPorts,
    trap_ports: TrapPorts,
    pid: Pid,
    now: Cycle,
    pub engine: EngineStats,
    walk_latency: crate::histogram::Histogram,
    last_end: Cycle,
    sampler: Option<crate::probe::Sampler>,
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

impl System {
    /// Build the machine from a validated configuration, with one process owning `segments`.
    pub fn new(cfg: &Config, segments: Vec<Segment>) -> Result<System, SimError> {
        cfg.validate()?;
        let seed = cfg.seed;
        let mut phys = PhysMem::new(cfg.os.frames);
        let mut kernel = Kernel::new(&cfg.os, cfg.walker.levels)?;
        let pid = kernel.spawn(&mut phys, segments)?;
        let proc = kernel.process(pid).expect("just spawned");
        let mut core = Core::new(&cfg.tlb, seed).map_err(crate::config::ConfigError::from)?;
        core.set_context(proc.asid, proc.root, true);
        let walkers = Walkers::new(&cfg.walker, seed).map_err(crate::config::ConfigError::from)?;
        let mem = MemorySystem::new(
            &cfg.caches,
            cfg.walker.through_caches,
            &cfg.dram,
            cfg.core.freq_ghz,
            seed,
        )
        .map_err(crate::config::ConfigError::from)?;
        // Every requester's outstanding requests fit its response port.
        let port_cap = 4 * (cfg.walker.walkers + 2) + 8;
        Ok(System {
            cfg: cfg.clone(),
            core,
            walkers,
            mem,
            phys,
            kernel,
            walk_ports: WalkPorts::new(cfg.walker.queue.max(cfg.walker.walkers)),
            mem_ports: MemPorts::new(port_cap),
            trap_ports: TrapPorts::new(),
            pid,
            now: Cycle(0),
            engine: EngineStats::default(),
            walk_latency: Default::default(),
            last_end: Cycle(0),
            sampler: None,
        })
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
        s.finish(self.now, &[&self.core, &self.walkers, &self.mem, &os])?;
        Ok(Some(s.into_probe()))
    }

    /// Every signal the components declare, as (scope, declaration), in the order a probe sees
    /// them; for checking a signal filter before a run.
    pub fn signals(&self) -> Vec<(String, vmsim_hw::probe::SignalDecl)> {
        use vmsim_hw::probe::Probed;
        let mut out = Vec::new();
        let os = self.os_probe();
        for p in [&self.core as &dyn Probed, &self.walkers, &self.mem, &os] {
            p.declare(&mut out);
        }
        out
    }

    fn os_probe(&self) -> OsProbe {
        OsProbe {
            faults: self.kernel.stats().minor_faults + self.kernel.stats().major_faults,
            in_handler: !self.trap_ports.reply.is_empty(),
            kills: self.kernel.stats().segv_kills,
        }
    }

    /// After the step at `now`, the next one being at `next`: sample, and return the cycle of
    /// the next step. Inside the probe's window the engine also steps where a DRAM refresh
    /// begins, which closes rows without waking any component (an extra step changes nothing:
    /// skipping equals ticking), so that the waveform shows it when it happens.
    #[inline(never)]
    fn sample(&mut self, now: Cycle, next: Option<Cycle>) -> Option<Cycle> {
        let os = self.os_probe();
        let Some(s) = self.sampler.as_mut() else {
            return next;
        };
        s.after_step(now, next, &[&self.core, &self.walkers, &self.mem, &os]);
        match (next, self.mem.dram().next_refresh_after(now)) {
            (Some(n), Some(r)) if r < n && s.wants_step_at(r) => Some(r),
            _ => next,
        }
    }

    /// The current cycle.
    pub fn now(&self) -> Cycle {
        self.now
    }
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Run `workload` to the end (or until its process is killed).
    ///
    /// With `skip_idle`, a step ticks only the components whose next event is due, and when the
    /// core finishes an access on its L1 paths before any other component has work, it starts
    /// the next access at once: exactly what stepping to that cycle would do, as every message
    /// is stamped at least one cycle ahead. Without `skip_idle` every component is ticked every
    /// cycle: the reference the skipping mode is tested against.
    pub fn run(
        &mut self,
        workload: &mut dyn Workload,
        obs: &mut dyn Observer,
    ) -> Result<(), SimError> {
        let mut feed = Feed {
            buf: Vec::with_capacity(4096),
            idx: 0,
            exhausted: false,
        };
        let skip = self.cfg.engine.skip_idle;
        let watchdog = self.cfg.engine.watchdog_cycles;
        let mut last_progress = self.now;
        // Cycle at which each component next has work ([`NEVER`] for none), as of the last
        // step: a component is ticked only when due (a tick before then finds nothing visible
        // and changes nothing).
        let mut next_core = NEVER;
        let mut next_walkers = NEVER;
        let mut next_mem = NEVER;
        let mut next_trap = NEVER;
        let due = |next: Cycle, now: Cycle| !skip || next <= now;
        loop {
            let now = self.now;
            self.engine.steps += 1;
            let mut progress = false;
            if due(next_core, now) {
                progress |= self.tick_core(now, obs);
            }
            if due(next_walkers, now) {
                progress |= self.walkers.tick(
                    now,
                    &mut self.phys,
                    &mut self.walk_ports,
                    &mut self.mem_ports,
                );
            }
            if due(next_mem, now) {
                progress |= self.mem.tick(now, &mut self.mem_ports);
            }
            if due(next_trap, now) {
                progress |= self.service_traps(now, obs)?;
            }
            // Feed the core; while it completes accesses on its L1 paths before anything else is
            // due, keep feeding it.
            if self.core.wants_access(self.now) {
                next_walkers = or_never(self.walkers.next_event(&self.walk_ports, &self.mem_ports));
            }
            while self.core.wants_access(self.now) && !feed.exhausted {
                let Some(acc) = feed.next(workload)? else {
                    break;
                };
                let t = self.now;
                let mut ports = CorePorts {
                    walk: &mut self.walk_ports,
                    mem: &mut self.mem_ports,
                    trap: &mut self.trap_ports,
                };
                self.core
                    .begin(t, acc, &mut self.phys, &mut self.mem, &mut ports);
                progress = true;
                self.drain_core(obs);
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
                    .min(or_never(self.trap_ports.fault.next_ready()));
                if others <= r {
                    break;
                }
                self.now = r;
                self.engine.steps += 1;
            }
            if self.core.killed() {
                feed.exhausted = true;
            }
            let now = self.now;
            if progress {
                last_progress = now;
            }
            if feed.exhausted && self.core.is_idle() {
                if self.sampler.is_some() {
                    self.sample(now, None);
                }
                break;
            }
            // Whatever the core sent while being fed is due later than now.
            next_walkers = or_never(self.walkers.next_event(&self.walk_ports, &self.mem_ports));
            next_mem = or_never(self.mem.next_event(&self.mem_ports));
            next_core = or_never(self.core.next_event_of(
                &self.walk_ports,
                &self.mem_ports,
                &self.trap_ports,
            ));
            next_trap = or_never(self.trap_ports.fault.next_ready());
            let n = next_core.min(next_walkers).min(next_mem).min(next_trap);
            if n == NEVER {
                if self.sampler.is_some() {
                    self.sample(now, None);
                }
                break;
            }
            let mut step = if skip {
                n.max(Cycle(now.0 + 1))
            } else {
                Cycle(now.0 + 1)
            };
            if self.sampler.is_some() {
                step = self.sample(now, Some(step)).unwrap_or(step);
            }
            if now.0 - last_progress.0 > watchdog {
                return Err(SimError::Watchdog {
                    cycles: watchdog,
                    now: now.0,
                    dump: self.dump(),
                });
            }
            self.now = step;
        }
        self.mem.settle(self.now);
        self.kernel.exit(self.pid);
        Ok(())
    }

    /// Tick the core at `now` and report what it completed.
    #[inline]
    fn tick_core(&mut self, now: Cycle, obs: &mut dyn Observer) -> bool {
        let mut ports = CorePorts {
            walk: &mut self.walk_ports,
            mem: &mut self.mem_ports,
            trap: &mut self.trap_ports,
        };
        let progress = self
            .core
            .tick(now, &mut self.phys, &mut self.mem, &mut ports);
        self.drain_core(obs);
        progress
    }

    /// The kernel's side of the trap port: handle a fault, reply with retry or kill.
    fn service_traps(&mut self, now: Cycle, obs: &mut dyn Observer) -> Result<bool, SimError> {
        let Some(fault) = self.trap_ports.fault.recv(now) else {
            return Ok(false);
        };
        let res = self.kernel.handle_fault(&mut self.phys, &fault)?;
        let (reply, cost) = match &res {
            FaultResolution::Fixed { kind, cost } => (TrapReply::Retry(*kind), *cost),
            FaultResolution::Killed { asid, cost, .. } => {
                // A dead address space: drop every translation tagged with it.
                self.core.flush_asid(*asid);
                self.walkers.pwc_mut().invalidate_asid(*asid);
                obs.on_kill(&res, now);
                let kind = vmsim_hw::core::FaultKind::Segv;
                (TrapReply::Kill(kind), *cost)
            }
        };
        let ready = now + cost.max(vmsim_hw::Cycles(1));
        self.core.add_fault_cycles(ready - now);
        if self.trap_ports.reply.try_send(ready, reply).is_err() {
            unreachable!("trap reply port full with one trap outstanding");
        }
        Ok(true)
    }

    /// Hand completed accesses and walks to the observer.
    #[inline(always)]
    fn drain_core(&mut self, obs: &mut dyn Observer) {
        if let Some(w) = self.core.take_walk() {
            self.walk_latency.record((w.end - w.start).0);
            obs.on_walk(self.pid, &w);
        }
        if let Some(a) = self.core.take_finished() {
            self.last_end = a.end;
            obs.on_access(self.pid, &a);
        }
    }

    /// Every component's state, for the watchdog.
    fn dump(&self) -> String {
        format!(
            "core: idle={} killed={}\nwalkers: {:?}\nmemory: {} outstanding, {} DRAM\ntrap port: {} pending",
            self.core.is_idle(),
            self.core.killed(),
            self.walkers.states().collect::<Vec<_>>(),
            self.mem.outstanding(),
            self.mem.dram().outstanding(),
            self.trap_ports.fault.len()
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
}

/// The workload's records, handed to the core one at a time.
struct Feed {
    buf: Vec<Record>,
    idx: usize,
    exhausted: bool,
}

impl Feed {
    #[inline]
    fn next(&mut self, workload: &mut dyn Workload) -> Result<Option<Access>, SimError> {
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
        Ok(Some(Access {
            kind: r.kind,
            va: r.va,
            size: r.size,
            instrs: r.instrs,
        }))
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
}

impl vmsim_hw::probe::Probed for OsProbe {
    fn declare(&self, out: &mut Vec<(String, vmsim_hw::probe::SignalDecl)>) {
        use vmsim_hw::probe::SignalDecl;
        out.push(("os".into(), SignalDecl::bits("in_handler", 1)));
        out.push(("os".into(), SignalDecl::bits("faults", 64)));
        out.push(("os".into(), SignalDecl::bits("kills", 64)));
    }
    fn sample(&self, out: &mut Vec<u64>) {
        out.extend([self.in_handler as u64, self.faults, self.kills]);
    }
}
