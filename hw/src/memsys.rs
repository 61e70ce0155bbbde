//! The memory hierarchy below the core: set-associative data caches (L1I, L1D, L2, LLC) in front
//! of the DRAM controller.
//!
//! Requests arrive on a port and leave as responses on the requester's port, stamped with the
//! cycle their data is ready. Cache levels are looked up in order, each adding its hit latency; a
//! request that misses every level goes to DRAM at the cycle the LLC miss is known, and its line
//! is installed in every level it missed on the way back. Dirty victims are written back to the
//! level below (from the LLC, to DRAM as a write that occupies the banks like any other traffic).
//!
//! Simplifications: caches hold tags only (data lives in physical memory, always current); there
//! are no MSHRs, so two concurrent misses to one line go to DRAM twice; a line is installed when
//! DRAM schedules the read (its data-ready cycle is already known then).
//!
//! # DMA
//!
//! The DMA engine ([`crate::dma::DmaEngine`]) reaches memory through `impl DmaBus for MemPorts`:
//! its line requests go on the shared `req` port as `MemReq { from: Requester::Dma,
//! needs_response: true, .. }` and its answers come back on `dma_resp`. A `Dma` request bypasses
//! the caches (like a walk with `through_caches = false`): it goes to DRAM as a read
//! (memory to device) or a write (device to memory) at the cycle it becomes visible, occupies
//! banks, queue slots and the data bus like any other request, and is always answered, writes
//! included, at its DRAM done cycle.
//!
//! Coherence is not modelled, and nothing is invalidated: a DMA write leaves any cached copy of
//! the line valid (and clean or dirty as it was), and a DMA read does not snoop a dirty cached
//! line (DRAM serves it; a later eviction still writes the line back). Since the caches hold
//! only tags and the engine moves the data itself in physical memory at completion, no access
//! can read stale data; what is lost is the timing of snoops and invalidations, and the cache
//! misses a real invalidation would cause afterwards.
//!
//! The core's L1 lookup is on its load/store path (`fast_access`): an L1 hit costs no message. A
//! core L1 miss enters through the port starting at the L2.

use crate::cache::{Cache, CacheConfig};
use crate::dma::{DmaBus, LineRequest, LineResponse};
use crate::dram::{Dram, DramCompletion, DramConfig, DramModelKind, DramRequest, RowOutcome};
use crate::error::ConfigError;
use crate::port::Port;
use crate::types::{Cycle, Cycles, PhysAddr};
use serde::{Deserialize, Serialize};

/// Configuration of the data caches. `enabled = false` sends every request straight to DRAM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CachesConfig {
    pub enabled: bool,
    pub l1i: CacheConfig,
    pub l1d: CacheConfig,
    pub l2: CacheConfig,
    pub llc: CacheConfig,
}

impl Default for CachesConfig {
    /// Skylake-client-like sizes: 32 KiB 8-way L1s (4 cycles), 256 KiB 4-way L2 (12 cycles),
    /// 8 MiB 16-way LLC (42 cycles), from Intel's optimization manual 248966 Table 2-6 \[S\].
    fn default() -> Self {
        use crate::replacement::PolicyKind::Lru;
        let c = |size_kib, ways, latency| CacheConfig {
            size_kib,
            ways,
            latency,
            policy: Lru,
        };
        CachesConfig {
            enabled: true,
            l1i: c(32, 8, 4),
            l1d: c(32, 8, 4),
            l2: c(256, 4, 12),
            llc: c(8192, 16, 42),
        }
    }
}

impl CachesConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.l1i.validate("caches.l1i")?;
        self.l1d.validate("caches.l1d")?;
        self.l2.validate("caches.l2")?;
        self.llc.validate("caches.llc")
    }

    /// Check that every level's tags reach a physical memory of `phys_bytes` (see
    /// [`CacheConfig::validate_reach`]); nothing to check when the caches are off.
    pub fn validate_reach(&self, phys_bytes: u64) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        self.l1i.validate_reach("caches.l1i", phys_bytes)?;
        self.l1d.validate_reach("caches.l1d", phys_bytes)?;
        self.l2.validate_reach("caches.l2", phys_bytes)?;
        self.llc.validate_reach("caches.llc", phys_bytes)
    }
}

/// Who sent a request; responses go back to the matching port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requester {
    /// The core's instruction fetch (enters at the L2 after an L1I miss).
    CoreFetch,
    /// The core's loads and stores (enter at the L2 after an L1D miss).
    CoreData,
    /// A page walker reading or updating a PTE (enters at the L1D, or DRAM when walks bypass the
    /// caches).
    Walker,
    /// The DMA engine moving a line (straight to DRAM; always answered, writes included).
    Dma,
}

/// A memory request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemReq {
    pub id: u64,
    pub addr: PhysAddr,
    pub write: bool,
    pub from: Requester,
    /// Posted writes (A/D-bit updates) get no response.
    pub needs_response: bool,
}

/// What [`MemorySystem::serve_now`] did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// Not taken: the caller sends it through the port.
    Declined,
    /// Taken; its answer will come on the requester's port.
    Taken,
    /// Taken and answered: the answer, ready at that cycle, as the port would have delivered it.
    Answered(Cycle, MemResp),
}

/// Where a request was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ServedBy {
    L1,
    L2,
    Llc,
    Dram(RowOutcome),
}

/// A response: the data of request `id` is ready at the stamped cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemResp {
    pub id: u64,
    pub served_by: ServedBy,
}

/// The ports of the memory system: one request port shared by every requester, and a response
/// port per requester.
///
/// The DMA engine uses them through [`DmaBus`]. A `Dma` request always gets an answer, which the
/// memory side cannot refuse, so `send` refuses a line request while `dma_resp`'s capacity
/// worth of DMA requests are sent and not yet taken by `recv`. Build the ports with
/// [`MemPorts::with_dma`] and the engine's `max_outstanding` so that neither this nor the
/// shared request port ever throttles the engine or the core.
#[derive(Debug)]
pub struct MemPorts {
    pub req: Port<MemReq>,
    pub core_resp: Port<MemResp>,
    pub walker_resp: Port<MemResp>,
    pub dma_resp: Port<MemResp>,
    /// DMA requests sent whose answer is not yet taken.
    dma_in_flight: usize,
}

impl MemPorts {
    /// Every port with room for `capacity` messages; DMA line requests, if any, share the
    /// request port's room with the core and the walkers.
    pub fn new(capacity: usize) -> MemPorts {
        MemPorts::build(capacity, capacity)
    }

    /// Room for `capacity` messages from the core and walkers on the request, core and walker
    /// ports, plus `dma_max_outstanding` more on the request port and as many on `dma_resp`:
    /// pass the engine's `DmaConfig::max_outstanding`, and DMA traffic never refuses or is
    /// refused for lack of port room.
    pub fn with_dma(capacity: usize, dma_max_outstanding: usize) -> MemPorts {
        let mut p = MemPorts::build(capacity, dma_max_outstanding);
        p.req = Port::new(capacity + dma_max_outstanding);
        p
    }

    fn build(capacity: usize, dma_capacity: usize) -> MemPorts {
        MemPorts {
            req: Port::new(capacity),
            core_resp: Port::new(capacity),
            walker_resp: Port::new(capacity),
            dma_resp: Port::new(dma_capacity),
            dma_in_flight: 0,
        }
    }

    /// Answers waiting on `from`'s response port.
    #[inline]
    fn resp_len(&self, from: Requester) -> usize {
        match from {
            Requester::Walker => self.walker_resp.len(),
            Requester::Dma => self.dma_resp.len(),
            Requester::CoreFetch | Requester::CoreData => self.core_resp.len(),
        }
    }

    /// DMA line requests sent whose answer the engine has not taken yet.
    pub fn dma_in_flight(&self) -> usize {
        self.dma_in_flight
    }
}

/// The DMA engine's side: a line request is a `Dma` request on the shared request port, visible
/// to memory from `ready`; its answer comes back on `dma_resp`. Refused when the request port is
/// full, or when `dma_resp` could not hold the answers of every DMA request in flight.
impl DmaBus for MemPorts {
    #[inline]
    fn send(&mut self, ready: Cycle, line: LineRequest) -> Result<(), LineRequest> {
        if self.dma_in_flight >= self.dma_resp.capacity() {
            return Err(line);
        }
        let req = MemReq {
            id: line.id,
            addr: line.addr,
            write: line.write,
            from: Requester::Dma,
            needs_response: true,
        };
        self.req.try_send(ready, req).map_err(|_| line)?;
        self.dma_in_flight += 1;
        Ok(())
    }

    #[inline]
    fn recv(&mut self, now: Cycle) -> Option<LineResponse> {
        let r = self.dma_resp.recv(now)?;
        self.dma_in_flight -= 1;
        Some(LineResponse { id: r.id })
    }

    #[inline]
    fn next_response(&self) -> Option<Cycle> {
        self.dma_resp.next_ready()
    }
}

/// Counters of the hierarchy (the caches' and DRAM's own are reported beside them).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MemStats {
    /// Every request taken from the port (walker and DMA requests included).
    pub requests: u64,
    pub walker_requests: u64,
    /// DMA line requests (each one DRAM read or write).
    pub dma_requests: u64,
    pub dram_writebacks: u64,
}

/// The L1 a request's line is installed in on its way back.
#[derive(Clone, Copy, Debug)]
enum L1 {
    Inst,
    Data,
}

struct Pending {
    req: MemReq,
    /// Levels that missed and get the line installed when DRAM answers.
    fill_l1: Option<L1>,
    fill_l2: bool,
    fill_llc: bool,
    /// `fill_l1` missed in this memory system's own lookup (a walk), not on the core's path.
    l1_looked_up: bool,
    /// `MemorySystem::installs` when the levels missed: if nothing was installed since, the
    /// line is still absent from each of them.
    installs: u64,
}

/// DRAM requests that something waits for, by DRAM request id. Few are in flight at once (at
/// most what DRAM's queues hold), so a short list of ids searched in order is cheaper than a
/// map; the ids are kept apart from the (larger) records so that the search reads one word per
/// entry, and an entry leaves by swapping the last into its place (ids are unique, so the
/// order does not matter).
#[derive(Default)]
struct InFlight {
    ids: Vec<u64>,
    pending: Vec<Pending>,
}

impl InFlight {
    fn insert(&mut self, id: u64, p: Pending) {
        self.ids.push(id);
        self.pending.push(p);
    }

    fn remove(&mut self, id: u64) -> Option<Pending> {
        let i = self.ids.iter().position(|&x| x == id)?;
        self.ids.swap_remove(i);
        Some(self.pending.swap_remove(i))
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Caches plus DRAM controller.
pub struct MemorySystem {
    caches_on: bool,
    walks_through_caches: bool,
    l1i: Cache,
    l1d: Cache,
    l2: Cache,
    llc: Cache,
    dram: Dram,
    /// DRAM request id -> what to do when it completes.
    pending: InFlight,
    /// Installs into any cache level so far (see `Pending::installs`).
    installs: u64,
    /// The core's last L1 miss on its fast path: the line, whether it was the L1I, and
    /// `installs` at the time. If the core's request for that line is accepted with `installs`
    /// unchanged, nothing was installed since and the line is still absent from that L1, as if
    /// this memory system had looked it up itself (see `accept`).
    last_l1_miss: (u64, bool, u64),
    /// Requests refused by a full DRAM queue, retried each cycle in order.
    blocked: Vec<(DramRequest, Cycle, Option<Pending>)>,
    next_dram_id: u64,
    stats: MemStats,
    last_tick: Cycle,
    /// The earliest cycle at which `tick` has work of its own (a refused DRAM request to retry,
    /// a DRAM state change), as of the end of the last tick (`u64::MAX`: none). Only `tick`,
    /// `accept_now` and `settle` change either, so `next_event` need not look again.
    own_next: u64,
    /// The DRAM completes a request only when ticked (DDR4: at its column command), never when
    /// the request is enqueued (the fixed-latency model): see `accept_now`.
    completes_in_tick: bool,
    /// While [`MemorySystem::serve_now`] runs: the walker read whose answer it returns instead
    /// of sending (`u64::MAX`: none), and that answer once made.
    answer_to: u64,
    answer: Option<(Cycle, MemResp)>,
}

impl MemorySystem {
    pub fn new(
        caches: &CachesConfig,
        walks_through_caches: bool,
        dram: &DramConfig,
        core_freq_ghz: f64,
        seed: u64,
    ) -> Result<MemorySystem, ConfigError> {
        caches.validate()?;
        dram.validate()?;
        let mut controller = Dram::new(dram, core_freq_ghz)?;
        // Every completion is taken when it is scheduled (`tick`) and this memory system ticks
        // at column commands (`own_next`), never at done cycles: for DDR4 they are not events
        // here. (A tick's progress then counts the commands it issues and the requests it
        // takes, which is all the engine's watchdog needs.)
        controller.set_done_events(false);
        Ok(MemorySystem {
            caches_on: caches.enabled,
            walks_through_caches,
            l1i: Cache::new(&caches.l1i, seed ^ 0x11),
            l1d: Cache::new(&caches.l1d, seed ^ 0x12),
            l2: Cache::new(&caches.l2, seed ^ 0x13),
            llc: Cache::new(&caches.llc, seed ^ 0x14),
            dram: controller,
            pending: InFlight::default(),
            installs: 0,
            last_l1_miss: (u64::MAX, false, u64::MAX),
            blocked: Vec::new(),
            next_dram_id: 0,
            stats: MemStats::default(),
            last_tick: Cycle(0),
            own_next: u64::MAX,
            completes_in_tick: dram.model == DramModelKind::Ddr4,
            answer_to: u64::MAX,
            answer: None,
        })
    }

    /// The core's L1 lookup on its load/store path: `Some(latency)` on an L1 hit. On a miss
    /// (counted as an L1 miss) the core sends the request through the port; it enters at the L2.
    /// With caches off, always `None`.
    #[inline]
    pub fn fast_access(&mut self, addr: PhysAddr, write: bool, fetch: bool) -> Option<Cycles> {
        if !self.caches_on {
            return None;
        }
        let l1 = if fetch { &mut self.l1i } else { &mut self.l1d };
        if l1.access(addr, write) {
            Some(l1.latency())
        } else {
            self.last_l1_miss = (addr.line(), fetch, self.installs);
            None
        }
    }

    /// L1 latency for the given side (what a core miss already paid before entering the port).
    pub fn l1_latency(&self, fetch: bool) -> Cycles {
        if !self.caches_on {
            return Cycles(0);
        }
        if fetch {
            self.l1i.latency()
        } else {
            self.l1d.latency()
        }
    }

    /// Process every request visible at `now`, advance DRAM, and deliver responses.
    ///
    /// A tick before the last one does nothing: [`MemorySystem::accept_now`] made the ticks up
    /// to then, and nothing sent since is visible before it. A second tick at the last one's
    /// cycle finds only what that tick left: the DRAM's commands due then (see `accept_now`).
    pub fn tick(&mut self, now: Cycle, ports: &mut MemPorts) -> bool {
        if now < self.last_tick {
            debug_assert!(
                ports.req.next_ready().is_none_or(|c| c >= self.last_tick),
                "a request sent for a cycle the memory system has already ticked"
            );
            return false;
        }
        self.last_tick = now;
        let mut progress = false;
        // Retry requests refused by a full DRAM queue, oldest first.
        if !self.blocked.is_empty() {
            let blocked = std::mem::take(&mut self.blocked);
            for (req, arrival, pend) in blocked {
                progress |= self.send_to_dram(req, arrival.max(now), pend);
            }
        }
        while let Some(req) = ports.req.recv(now) {
            progress = true;
            self.accept(now, req, ports);
        }
        progress |= self.dram.tick(now);
        // Completions are known when DRAM schedules them; deliver each stamped with its done
        // cycle (always later than now for reads, so the receiver sees it next cycle or later).
        while let Some(c) = self.dram.pop_completion(Cycle(u64::MAX)) {
            progress = true;
            self.complete(now, c, ports);
        }
        self.own_next = self.own_next_event(now);
        progress
    }

    /// Take `req` at `at` as a tick at `at` would take it from the port, now rather than when
    /// the engine reaches `at`, together with the ticks before it and those that lead to its
    /// answer; false if that is not exact (the ticks made by then are the engine's own, and
    /// the caller sends the request through the port).
    ///
    /// The caller ticks at the engine's current cycle, before this memory system would, and
    /// guarantees that from its call until it has the answer nobody else sends on the port or
    /// touches the caches (the core's L1 path), and no other component acts (it waits for the
    /// answer; the others are idle or wait for it). The engine would then tick this memory
    /// system alone, at its own events and the requests already on the port, before `at`:
    /// those ticks are made first, each at its cycle (the first may be at the current cycle:
    /// this memory system ticks after the caller there, as here).
    ///
    /// The request is then the first work of a tick at `at` if the port holds nothing else,
    /// no refused DRAM request waits, and the DRAM has no state change due by `at` (its next
    /// one is later). It is accepted as that tick would (its lookups, installs, answer, DRAM
    /// requests). The rest of that tick, the DRAM's commands due at `at`, is made by a second
    /// tick at `at`. This needs a DRAM that completes requests only in its ticks (DDR4): the
    /// fixed-latency model completes one when it is enqueued, and that tick would answer it at
    /// once.
    ///
    /// If the caches did not answer it, the engine would next tick this memory system alone, at
    /// its own events (the DRAM's), until the tick that answers (a DRAM read's column command):
    /// those ticks are made here too, and the answer stays stamped with its ready cycle. Ticks
    /// after it are the engine's (the requester may send again once it has the answer).
    pub fn accept_now(&mut self, at: Cycle, req: MemReq, ports: &mut MemPorts) -> bool {
        self.hand_over(at, req, ports, false)
    }

    /// [`MemorySystem::accept_now`] for a walker's read, with its answer returned rather than
    /// sent on `walker_resp` (same cycle, same answer): the walker goes on with it at once
    /// instead of taking it back from the port.
    pub fn serve_now(&mut self, at: Cycle, req: MemReq, ports: &mut MemPorts) -> Handover {
        debug_assert!(req.from == Requester::Walker && req.needs_response);
        // Stated, so that the lookups inlined below are specialised to a walker's read.
        let req = MemReq {
            from: Requester::Walker,
            needs_response: true,
            ..req
        };
        self.answer_to = req.id;
        let taken = self.hand_over(at, req, ports, true);
        self.answer_to = u64::MAX;
        match (taken, self.answer.take()) {
            (false, _) => Handover::Declined,
            (true, Some((ready, resp))) => Handover::Answered(ready, resp),
            (true, None) => Handover::Taken,
        }
    }

    /// `accept_now`; with `capture`, `respond` keeps the answer in `answer`.
    #[inline(always)]
    fn hand_over(&mut self, at: Cycle, req: MemReq, ports: &mut MemPorts, capture: bool) -> bool {
        if !self.completes_in_tick || at <= self.last_tick {
            return false;
        }
        // The ticks the engine would make before `at`: at the requests already on the port
        // (sent before the caller's, such as a posted A/D-bit write) and at own events.
        while let Some(c) = self.next_event(ports).filter(|&c| c < at) {
            if c < self.last_tick {
                return false; // not what the engine would do (a caller broke the guarantee)
            }
            self.tick(c, ports);
        }
        if !ports.req.is_empty() || !self.blocked.is_empty() || self.own_next <= at.0 {
            return false;
        }
        let waiting = ports.resp_len(req.from);
        self.last_tick = at;
        self.accept_inline(at, req, ports);
        self.own_next = self.own_next_event(at);
        if req.needs_response {
            // Unless the caches answered it: make the ticks up to the one that answers it.
            // Each tick moves `own_next` past its cycle (the last test only guards that).
            let answered = |m: &Self, p: &MemPorts| {
                if capture {
                    m.answer.is_some()
                } else {
                    p.resp_len(req.from) != waiting
                }
            };
            while !answered(self, ports)
                && self.own_next != u64::MAX
                && self.own_next >= self.last_tick.0
            {
                self.tick(Cycle(self.own_next), ports);
            }
        }
        true
    }

    /// See `own_next`: as of a tick (or settle) at `now`.
    #[inline]
    fn own_next_event(&self, now: Cycle) -> u64 {
        if self.blocked.is_empty() {
            self.dram.next_state_change().map_or(u64::MAX, |c| c.0)
        } else {
            now.0 + 1
        }
    }

    /// Earliest cycle at which `tick` has work: a request (of any requester, DMA included)
    /// becoming visible on the port, a refused DRAM request to retry, or a DRAM state change.
    /// Answers already on the response ports are their receivers' events.
    #[inline]
    pub fn next_event(&self, ports: &MemPorts) -> Option<Cycle> {
        let own = (self.own_next != u64::MAX).then_some(Cycle(self.own_next));
        match (ports.req.next_ready(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Take `req` at `now` (a tick's request from the port): its lookups, installs, answer
    /// and DRAM request.
    fn accept(&mut self, now: Cycle, req: MemReq, ports: &mut MemPorts) {
        self.accept_inline(now, req, ports)
    }

    /// [`MemorySystem::accept`], inlined into the hand-overs: there the requester is known
    /// (a walker's read in `serve_now`), and the lookups are specialised to it.
    #[inline(always)]
    fn accept_inline(&mut self, now: Cycle, req: MemReq, ports: &mut MemPorts) {
        self.stats.requests += 1;
        let use_caches = match req.from {
            Requester::Walker => {
                self.stats.walker_requests += 1;
                self.caches_on && self.walks_through_caches
            }
            Requester::Dma => {
                self.stats.dma_requests += 1;
                false
            }
            Requester::CoreFetch | Requester::CoreData => self.caches_on,
        };
        if !use_caches {
            let pend = Pending {
                req,
                fill_l1: None,
                fill_l2: false,
                fill_llc: false,
                l1_looked_up: false,
                installs: self.installs,
            };
            self.issue_dram(now, req, now, pend);
            return;
        }
        let mut t = now;
        // A walker enters at the L1D; the core already looked its L1 up on its fast path.
        let mut fill_l1 = None;
        if req.from == Requester::Walker {
            t += self.l1d.latency();
            if self.l1d.access(req.addr, req.write) {
                self.respond(t, req, ServedBy::L1, ports);
                return;
            }
            fill_l1 = Some(L1::Data);
        } else if req.from == Requester::CoreFetch {
            fill_l1 = Some(L1::Inst);
        } else {
            fill_l1 = fill_l1.or(Some(L1::Data));
        }
        // Lines this lookup found missing stay missing until installed: the installs below put
        // each missing level's line in, and the victims they displace are other lines. A core
        // request's L1 miss counts as a lookup here if it was the core's last fast-path miss
        // and nothing was installed since (the line cannot have entered the L1 meanwhile).
        let l1_looked_up = req.from == Requester::Walker
            || self.last_l1_miss
                == (
                    req.addr.line(),
                    req.from == Requester::CoreFetch,
                    self.installs,
                );
        t += self.l2.latency();
        if self.l2.access(req.addr, req.write) {
            self.install_l1(fill_l1, req.addr, req.write, l1_looked_up);
            self.respond(t, req, ServedBy::L2, ports);
            return;
        }
        t += self.llc.latency();
        if self.llc.access(req.addr, req.write) {
            self.install_l2(req.addr, false, true);
            self.install_l1(fill_l1, req.addr, req.write, l1_looked_up);
            self.respond(t, req, ServedBy::Llc, ports);
            return;
        }
        let pend = Pending {
            req,
            fill_l1,
            fill_l2: true,
            fill_llc: true,
            l1_looked_up,
            installs: self.installs,
        };
        // Write-allocate: a store that misses every level reads the line, which is installed
        // dirty; DRAM sees the write only when the dirty line is evicted.
        let fetch = MemReq {
            write: false,
            ..req
        };
        self.issue_dram(now, fetch, t, pend);
    }

    fn issue_dram(&mut self, now: Cycle, req: MemReq, arrival: Cycle, pend: Pending) {
        let id = self.next_dram_id;
        self.next_dram_id += 1;
        let dreq = DramRequest {
            id,
            addr: req.addr,
            write: req.write,
        };
        self.send_to_dram(dreq, arrival.max(now), Some(pend));
    }

    fn send_to_dram(&mut self, dreq: DramRequest, arrival: Cycle, pend: Option<Pending>) -> bool {
        match self.dram.enqueue(dreq, arrival) {
            Ok(()) => {
                if let Some(p) = pend {
                    self.pending.insert(dreq.id, p);
                }
                true
            }
            Err(dreq) => {
                self.blocked.push((dreq, arrival, pend));
                false
            }
        }
    }

    fn complete(&mut self, now: Cycle, c: DramCompletion, ports: &mut MemPorts) {
        let Some(p) = self.pending.remove(c.id) else {
            return; // a writeback: nothing waits for it
        };
        // Nothing installed since the lookups: the line is still missing from the levels that
        // missed (and the installs below displace only other lines).
        let absent = self.installs == p.installs;
        if p.fill_llc {
            self.install_llc(p.req.addr, false, absent);
        }
        if p.fill_l2 {
            self.install_l2(p.req.addr, false, absent);
        }
        let l1_absent = absent && p.l1_looked_up;
        self.install_l1(p.fill_l1, p.req.addr, p.req.write, l1_absent);
        self.respond(
            c.done.max(Cycle(now.0 + 1)),
            p.req,
            ServedBy::Dram(c.row),
            ports,
        );
    }

    /// Answer `req` (unless it is posted) at `ready`: kept in `answer` for the walker read
    /// [`MemorySystem::serve_now`] serves, else sent on the requester's port. Inlined: most
    /// answers are the kept kind (a walker's read that hits the L1D), a few instructions.
    #[inline(always)]
    fn respond(&mut self, ready: Cycle, req: MemReq, served_by: ServedBy, ports: &mut MemPorts) {
        if !req.needs_response {
            return;
        }
        if req.id == self.answer_to && req.from == Requester::Walker {
            self.answer = Some((
                ready,
                MemResp {
                    id: req.id,
                    served_by,
                },
            ));
            return;
        }
        Self::send_response(ready, req, served_by, ports);
    }

    /// Send the answer to `req` on its requester's response port.
    #[inline(never)]
    fn send_response(ready: Cycle, req: MemReq, served_by: ServedBy, ports: &mut MemPorts) {
        let port = match req.from {
            Requester::Walker => &mut ports.walker_resp,
            Requester::Dma => &mut ports.dma_resp,
            Requester::CoreFetch | Requester::CoreData => &mut ports.core_resp,
        };
        // Response ports are sized for every request a requester can have outstanding.
        if port
            .try_send(
                ready,
                MemResp {
                    id: req.id,
                    served_by,
                },
            )
            .is_err()
        {
            unreachable!(
                "memory response port overflow: requesters exceed their outstanding limit"
            );
        }
    }

    // Installing a line in a level writes a dirty victim back to the level below (from the LLC,
    // to DRAM). `absent`: the caller knows the line is not in that level (it missed there and
    // nothing was installed since), so the cache need not look it up again.

    /// Install a line in the L1 `l1`, if any.
    #[inline]
    fn install_l1(&mut self, l1: Option<L1>, addr: PhysAddr, dirty: bool, absent: bool) {
        match l1 {
            None => {}
            Some(L1::Inst) => self.install_l1i(addr, absent),
            Some(L1::Data) => self.install_l1d(addr, dirty, absent),
        }
    }

    /// [`Cache::fill`], or [`Cache::fill_absent`] when the caller knows the line is absent;
    /// counts the install and returns the address of a dirty victim (a clean one is dropped).
    #[inline(always)]
    fn fill_level(
        installs: &mut u64,
        cache: &mut Cache,
        addr: PhysAddr,
        dirty: bool,
        absent: bool,
    ) -> Option<PhysAddr> {
        *installs += 1;
        let victim = cache.fill_known(addr, dirty, absent);
        victim.filter(|v| v.dirty).map(|v| v.addr)
    }

    /// Install a line in the L1I, which holds no dirty lines.
    #[inline]
    fn install_l1i(&mut self, addr: PhysAddr, absent: bool) {
        if let Some(v) = Self::fill_level(&mut self.installs, &mut self.l1i, addr, false, absent) {
            self.install_l2(v, true, false);
        }
    }

    /// Install a line in the L1D: a dirty victim goes to the L2.
    #[inline(always)]
    fn install_l1d(&mut self, addr: PhysAddr, dirty: bool, absent: bool) {
        if let Some(v) = Self::fill_level(&mut self.installs, &mut self.l1d, addr, dirty, absent) {
            self.install_l2(v, true, false);
        }
    }

    /// Install a line in the L2: a dirty victim goes to the LLC.
    #[inline(always)]
    fn install_l2(&mut self, addr: PhysAddr, dirty: bool, absent: bool) {
        if let Some(v) = Self::fill_level(&mut self.installs, &mut self.l2, addr, dirty, absent) {
            self.install_llc(v, true, false);
        }
    }

    /// Install a line in the LLC: a dirty victim is written to DRAM.
    #[inline(always)]
    fn install_llc(&mut self, addr: PhysAddr, dirty: bool, absent: bool) {
        if let Some(v) = Self::fill_level(&mut self.installs, &mut self.llc, addr, dirty, absent) {
            self.write_back(v);
        }
    }

    /// Send the dirty line at `addr`, evicted from the LLC, to DRAM as a posted write.
    fn write_back(&mut self, addr: PhysAddr) {
        self.stats.dram_writebacks += 1;
        let id = self.next_dram_id;
        self.next_dram_id += 1;
        let w = DramRequest {
            id,
            addr,
            write: true,
        };
        let arrival = Cycle(self.last_tick.0 + 1);
        self.send_to_dram(w, arrival, None);
    }

    /// Bring time-derived statistics (DRAM refreshes) up to cycle `now`, the end of a run.
    pub fn settle(&mut self, now: Cycle) {
        self.dram.settle(now);
        self.own_next = self.own_next_event(now);
    }

    pub fn stats(&self) -> &MemStats {
        &self.stats
    }
    pub fn dram(&self) -> &Dram {
        &self.dram
    }
    pub fn caches_enabled(&self) -> bool {
        self.caches_on
    }
    pub fn cache(&self, name: &str) -> Option<&Cache> {
        match name {
            "l1i" => Some(&self.l1i),
            "l1d" => Some(&self.l1d),
            "l2" => Some(&self.l2),
            "llc" => Some(&self.llc),
            _ => None,
        }
    }
    /// Requests waiting for DRAM (DMA line requests included, from the tick that takes them
    /// off the port until DRAM schedules their answer).
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.blocked.len()
    }
}

impl crate::probe::Probed for MemorySystem {
    fn declare(&self, out: &mut Vec<(String, crate::probe::SignalDecl)>) {
        use crate::probe::SignalDecl;
        if self.caches_on {
            for name in ["l1i", "l1d", "l2", "llc"] {
                let scope = format!("cache.{name}");
                out.push((scope.clone(), SignalDecl::bits("hits", 64)));
                out.push((scope, SignalDecl::bits("misses", 64)));
            }
        }
        out.push(("dram".into(), SignalDecl::bits("outstanding", 32)));
        out.push(("dram".into(), SignalDecl::bits("reads", 64)));
        out.push(("dram".into(), SignalDecl::bits("writes", 64)));
        for (bank, _) in self.dram.bank_states() {
            // The open row, or all ones when the bank is precharged.
            out.push((format!("dram.bank{bank}"), SignalDecl::bits("open_row", 32)));
        }
    }

    fn sample(&self, out: &mut Vec<u64>) {
        self.sample_at(self.last_tick, out);
    }

    /// Refresh closes rows at fixed cycles without a tick: the open rows are those at `at`.
    fn sample_at(&self, at: Cycle, out: &mut Vec<u64>) {
        if self.caches_on {
            for c in [&self.l1i, &self.l1d, &self.l2, &self.llc] {
                out.push(c.stats().hits);
                out.push(c.stats().misses);
            }
        }
        out.push(self.dram.outstanding() as u64);
        out.push(self.dram.stats().reads);
        out.push(self.dram.stats().writes);
        // The open row, or all ones when the bank is precharged.
        self.dram.push_bank_rows_at(at, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers (cycle, id, where served), memory, DRAM and cache counters, reads taken at once.
    type Served = (
        Vec<(Cycle, u64, ServedBy)>,
        MemStats,
        crate::dram::DramStats,
        [CacheStats; 4],
        usize,
    );

    /// Serve a sequence of walker reads one after another, each sent 1-3 cycles after the
    /// previous answer, a third of them behind a posted write (an A/D-bit update) sent for the
    /// first of those cycles, ticking the memory system only at its `next_event` as the engine
    /// does; with `direct`, each read is handed over with `accept_now` when it allows, or with
    /// `serve_now` if `answered` (its answer then taken from the return value). Returns every
    /// answer (cycle, id, where served), the final counters, and how many went direct.
    fn serve(direct: bool, answered: bool, seed: u64, dram: &DramConfig) -> Served {
        let cfg = small_caches(PolicyKind::Lru);
        let mut mem = MemorySystem::new(&cfg, true, dram, 3.0, 7).unwrap();
        let mut ports = MemPorts::new(8);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut now = Cycle(0);
        let mut answers = Vec::new();
        let mut taken = 0;
        for id in 0..400u64 {
            let at = Cycle(now.0 + 1 + rng.next_u64() % 3);
            if rng.next_u64() % 3 == 0 {
                let posted = MemReq {
                    id: u64::MAX,
                    addr: PhysAddr((rng.next_u64() % 512) << 6),
                    write: true,
                    from: Requester::Walker,
                    needs_response: false,
                };
                ports.req.try_send(Cycle(now.0 + 1), posted).unwrap();
            }
            let req = MemReq {
                id,
                addr: PhysAddr((rng.next_u64() % 512) << 6),
                write: false,
                from: Requester::Walker,
                needs_response: true,
            };
            if direct && answered {
                match mem.serve_now(at, req, &mut ports) {
                    Handover::Declined => ports.req.try_send(at, req).unwrap(),
                    Handover::Taken => taken += 1,
                    Handover::Answered(c, r) => {
                        taken += 1;
                        answers.push((c, r.id, r.served_by));
                        now = c;
                        continue;
                    }
                }
            } else if direct && mem.accept_now(at, req, &mut ports) {
                taken += 1;
            } else {
                ports.req.try_send(at, req).unwrap();
            }
            loop {
                let next = [mem.next_event(&ports), ports.walker_resp.next_ready()]
                    .into_iter()
                    .flatten()
                    .min()
                    .expect("an answer is on its way");
                now = next.max(now);
                if mem.next_event(&ports).is_some_and(|c| c <= now) {
                    mem.tick(now, &mut ports);
                }
                if let Some(r) = ports.walker_resp.recv(now) {
                    answers.push((now, r.id, r.served_by));
                    break;
                }
                if ports.walker_resp.next_ready().is_none_or(|c| c > now)
                    && mem.next_event(&ports).is_none_or(|c| c > now)
                {
                    now = Cycle(now.0 + 1).max(now);
                }
            }
        }
        mem.settle(now);
        let caches = ["l1i", "l1d", "l2", "llc"].map(|n| mem.cache(n).unwrap().stats().clone());
        (
            answers,
            mem.stats().clone(),
            mem.dram().stats().clone(),
            caches,
            taken,
        )
    }

    #[test]
    fn reads_taken_at_once_match_reads_through_the_port() {
        for seed in 0..4 {
            let (a, ms, ds, cs, none) = serve(false, false, seed, &DramConfig::default());
            assert_eq!(none, 0);
            for answered in [false, true] {
                let (b, ms2, ds2, cs2, taken) = serve(true, answered, seed, &DramConfig::default());
                assert!(taken > 300, "only {taken} of 400 reads went direct");
                assert_eq!(a, b, "seed {seed} answered {answered}");
                assert_eq!((&ms, &ds, &cs), (&ms2, &ds2, &cs2), "seed {seed}");
            }
            assert!(a.iter().any(|x| matches!(x.2, ServedBy::Dram(_))));
            assert!(a.iter().any(|x| x.2 == ServedBy::L1));
        }
    }

    #[test]
    fn accept_now_declines_what_it_cannot_take_exactly() {
        let cfg = small_caches(PolicyKind::Lru);
        let req = MemReq {
            id: 1,
            addr: PhysAddr(0x40),
            write: false,
            from: Requester::Walker,
            needs_response: true,
        };
        // The fixed model answers at enqueue: its tick would answer at once.
        let fixed = DramConfig {
            model: DramModelKind::Fixed,
            ..DramConfig::default()
        };
        let mut mem = MemorySystem::new(&cfg, true, &fixed, 3.0, 7).unwrap();
        let mut ports = MemPorts::new(8);
        assert!(!mem.accept_now(Cycle(5), req, &mut ports));
        // Another request already waits on the port.
        let mut mem = MemorySystem::new(&cfg, true, &DramConfig::default(), 3.0, 7).unwrap();
        ports
            .req
            .try_send(Cycle(5), MemReq { id: 2, ..req })
            .unwrap();
        assert!(!mem.accept_now(Cycle(5), req, &mut ports));
        mem.tick(Cycle(5), &mut ports);
        // The DRAM has work due by then (the read of line 0x40 just sent to it).
        let due = mem.next_event(&ports).unwrap();
        assert!(!mem.accept_now(due, req, &mut ports));
        // Not after the last tick.
        assert!(!mem.accept_now(Cycle(5), req, &mut ports));
        assert_eq!(mem.stats().requests, 1, "declining changes nothing");
    }
    use crate::cache::CacheStats;
    use crate::replacement::PolicyKind;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Small caches, so that fills evict often: 1 KiB 4-way L1s, 2 KiB 8-way L2, 4 KiB 16-way
    /// LLC, under `policy`.
    fn small_caches(policy: PolicyKind) -> CachesConfig {
        let c = |size_kib, ways| CacheConfig {
            size_kib,
            ways,
            latency: 1,
            policy,
        };
        CachesConfig {
            enabled: true,
            l1i: c(1, 4),
            l1d: c(1, 4),
            l2: c(2, 8),
            llc: c(4, 16),
        }
    }

    /// The general install cascade the specialised `install_*` functions replace: fill `level`
    /// (always looking the line up), and install a dirty victim one level down, recursively;
    /// returns the lines written to DRAM.
    fn install_reference(
        caches: &mut [Cache; 4],
        level: usize,
        addr: PhysAddr,
        dirty: bool,
    ) -> u64 {
        // 0 = L1I, 1 = L1D, 2 = L2, 3 = LLC.
        let dirty = dirty && level != 0;
        match caches[level].fill(addr, dirty).filter(|v| v.dirty) {
            None => 0,
            Some(_) if level == 3 => 1,
            Some(v) => install_reference(caches, level.max(1) + 1, v.addr, true),
        }
    }

    #[test]
    fn specialised_installs_match_the_general_cascade() {
        for policy in [
            PolicyKind::Lru,
            PolicyKind::Plru,
            PolicyKind::Fifo,
            PolicyKind::Random,
        ] {
            let cfg = small_caches(policy);
            let mut mem = MemorySystem::new(&cfg, true, &DramConfig::default(), 3.0, 9).unwrap();
            let mut reference = [
                Cache::new(&cfg.l1i, 9 ^ 0x11),
                Cache::new(&cfg.l1d, 9 ^ 0x12),
                Cache::new(&cfg.l2, 9 ^ 0x13),
                Cache::new(&cfg.llc, 9 ^ 0x14),
            ];
            let mut writebacks = 0;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(policy as u64);
            let lines = 512; // 8x the LLC's capacity
            for step in 0..20_000 {
                let addr = PhysAddr(rng.next_u64() % lines * 64 + rng.next_u64() % 64);
                let dirty = rng.next_u64() % 5 < 2;
                let level = (rng.next_u64() % 4) as usize;
                // Claim absence only when it holds, as the callers do.
                let absent = !reference[level].contains(addr) && rng.next_u64() % 2 == 0;
                match level {
                    0 => mem.install_l1(Some(L1::Inst), addr, dirty, absent),
                    1 => mem.install_l1(Some(L1::Data), addr, dirty, absent),
                    2 => mem.install_l2(addr, dirty, absent),
                    _ => mem.install_llc(addr, dirty, absent),
                }
                writebacks += install_reference(&mut reference, level, addr, dirty);
                assert_eq!(
                    mem.stats.dram_writebacks, writebacks,
                    "{policy:?} step {step}"
                );
                for (name, r) in ["l1i", "l1d", "l2", "llc"].into_iter().zip(&reference) {
                    let c = mem.cache(name).unwrap();
                    assert_eq!(c.stats(), r.stats(), "{policy:?} {name} step {step}");
                }
            }
            assert!(writebacks > 100, "{policy:?}: the cascade reaches DRAM");
            for (name, r) in ["l1i", "l1d", "l2", "llc"].into_iter().zip(&reference) {
                let c = mem.cache(name).unwrap();
                for line in 0..lines {
                    let a = PhysAddr(line * 64);
                    assert_eq!(c.contains(a), r.contains(a), "{policy:?} {name} {line}");
                    assert_eq!(c.is_dirty(a), r.is_dirty(a), "{policy:?} {name} {line}");
                }
            }
        }
    }

    /// Core requests whose L1 miss is taken as a lookup (`last_l1_miss`) end in the same
    /// statistics, contents and answers as when the L1 is looked up again at every install.
    #[test]
    fn core_l1_miss_record_matches_looking_up_again() {
        let run = |forget_misses: bool| {
            let cfg = small_caches(PolicyKind::Lru);
            let mut mem = MemorySystem::new(&cfg, true, &DramConfig::default(), 3.0, 4).unwrap();
            let mut ports = MemPorts::new(256);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
            let mut answers = Vec::new();
            for id in 0..3_000u64 {
                let now = Cycle(id * 3);
                let addr = PhysAddr(rng.next_u64() % 256 * 64);
                let write = rng.next_u64() % 3 == 0;
                let (fetch, walker) = match rng.next_u64() % 8 {
                    0 => (true, false),
                    1 => (false, true),
                    _ => (false, false),
                };
                let from = if walker {
                    Requester::Walker
                } else if fetch {
                    Requester::CoreFetch
                } else {
                    Requester::CoreData
                };
                if walker || mem.fast_access(addr, write && !fetch, fetch).is_none() {
                    if forget_misses {
                        mem.last_l1_miss = (u64::MAX, false, u64::MAX);
                    }
                    let req = MemReq {
                        id,
                        addr,
                        write: write && !fetch,
                        from,
                        needs_response: true,
                    };
                    ports.req.try_send(Cycle(now.0 + 1), req).unwrap();
                }
                for t in 1..=3 {
                    mem.tick(Cycle(now.0 + t), &mut ports);
                }
                while let Some(r) = ports.core_resp.recv(Cycle(u64::MAX)) {
                    answers.push(r);
                }
                while let Some(r) = ports.walker_resp.recv(Cycle(u64::MAX)) {
                    answers.push(r);
                }
            }
            let caches: Vec<CacheStats> = ["l1i", "l1d", "l2", "llc"]
                .iter()
                .map(|n| mem.cache(n).unwrap().stats().clone())
                .collect();
            (caches, mem.stats().clone(), answers)
        };
        let (fast, general) = (run(false), run(true));
        assert!(fast.0[1].fills > 500 && fast.1.dram_writebacks > 0);
        assert_eq!(fast, general);
    }
}
