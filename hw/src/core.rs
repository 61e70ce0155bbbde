//! The in-order core front end: replays a workload's accesses one at a time.
//!
//! Each record costs its instructions one cycle each, then stalls the core for the translation
//! and the data access of every 4 KiB page it touches, in address order. The L1 TLB and L1 cache
//! lookups sit on the load/store path as in hardware, so a TLB hit and a cache hit cost no message;
//! an L2 TLB miss sends a walk request to the walkers, a cache miss a request to the memory
//! system, and a fault a trap to the OS, whose reply says retry (from the L1 lookup, as the
//! reference semantics require) or kill.
//!
//! The core owns the TLB hierarchy: L1 ITLB (instruction fetches), L1 DTLB (loads and stores) and
//! the unified L2 TLB. A write that hits an entry whose D bit is not yet set updates the leaf PTE
//! (a posted write, counted with the walker's A/D writes) without a new walk.

use crate::error::ConfigError;
use crate::memory::PhysMem;
use crate::memsys::{MemPorts, MemReq, MemorySystem, Requester};
use crate::port::Port;
use crate::pte::Pte;
use crate::tlb::{Tlb, TlbConfig, TlbEntry, TlbStats};
use crate::types::{AccessKind, Asid, Cycle, Cycles, PageSize, PhysAddr, Ppn, VirtAddr, Vpn};
use crate::walker::{
    Fault, FaultReason, WalkOutcome, WalkPorts, WalkRecord, WalkRequest, WalkResponse,
};
use serde::{Deserialize, Serialize};

/// The TLB hierarchy's configuration (`tlb.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlbsConfig {
    pub l1i: TlbConfig,
    pub l1d: TlbConfig,
    pub l2: TlbConfig,
}

impl Default for TlbsConfig {
    /// Intel Skylake: L1 DTLB 64 entries 4-way, L1 ITLB 128 entries 8-way, STLB 1536 entries
    /// 12-way with an L1-miss-STLB-hit cost of about 9 cycles (Intel Optimization Manual
    /// 248966-045 Table 2-15; 7-cpu.com Skylake).
    fn default() -> Self {
        use crate::replacement::PolicyKind::Lru;
        TlbsConfig {
            l1i: TlbConfig {
                entries: 128,
                ways: 8,
                policy: Lru,
                latency: 1,
            },
            l1d: TlbConfig {
                entries: 64,
                ways: 4,
                policy: Lru,
                latency: 1,
            },
            l2: TlbConfig {
                entries: 1536,
                ways: 12,
                policy: Lru,
                latency: 9,
            },
        }
    }
}

impl TlbsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.l1i.validate("tlb.l1i")?;
        self.l1d.validate("tlb.l1d")?;
        self.l2.validate("tlb.l2")
    }
}

/// One access as the core replays it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: AccessKind,
    pub va: VirtAddr,
    pub size: u32,
    /// Instructions retired with this access (one cycle each).
    pub instrs: u32,
    /// A data-carrying access (8 bytes, 8-aligned): a write stores this value, a read loads
    /// the word (reported in [`AccessDone::loaded`]). The data moves when the page is
    /// translated, so nothing the OS does while the data access is in flight can misplace it.
    pub data: Option<u64>,
}

/// The deepest TLB level an access needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TlbLevel {
    L1,
    L2,
    Walk,
}

impl TlbLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            TlbLevel::L1 => "L1",
            TlbLevel::L2 => "L2",
            TlbLevel::Walk => "WALK",
        }
    }
}

/// How the OS handled a fault, as it reports back to the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum FaultKind {
    None,
    /// A page fault served from memory (zero-fill or a new mapping).
    Minor,
    /// A page fault that read the page back from the disk.
    Major,
    /// A protection fault the OS resolved (e.g. a mapping made writable).
    Protection,
    /// The process was killed with SIGSEGV.
    Segv,
    /// The process was killed with SIGBUS (a failed swap-in).
    Bus,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::None => "none",
            FaultKind::Minor => "minor",
            FaultKind::Major => "major",
            FaultKind::Protection => "protection",
            FaultKind::Segv => "segv",
            FaultKind::Bus => "bus",
        }
    }
}

/// The OS's answer to a trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapReply {
    /// The fault is fixed: retry the translation from the L1 lookup.
    Retry(FaultKind),
    /// The process is dead: abandon the access.
    Kill(FaultKind),
}

/// The trap interface between the core and the OS.
#[derive(Debug)]
pub struct TrapPorts {
    pub fault: Port<Fault>,
    pub reply: Port<TrapReply>,
}

impl TrapPorts {
    pub fn new() -> TrapPorts {
        TrapPorts {
            fault: Port::new(1),
            reply: Port::new(1),
        }
    }
}

impl Default for TrapPorts {
    fn default() -> Self {
        Self::new()
    }
}

/// A completed access, for `accesses.csv` and the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessDone {
    pub start: Cycle,
    pub end: Cycle,
    pub asid: Asid,
    pub kind: AccessKind,
    pub va: VirtAddr,
    /// Physical address of the first byte (0 when the access was abandoned).
    pub pa: PhysAddr,
    pub page_size: PageSize,
    pub tlb: TlbLevel,
    /// Cycles from the start of the translation of the first page to the end of the last one.
    pub translation_cycles: u64,
    pub walk_cycles: u64,
    pub walk_mem_refs: u32,
    pub fault: FaultKind,
    /// The word a data-carrying read loaded.
    pub loaded: Option<u64>,
}

/// Core counters (`core.*`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CoreStats {
    pub accesses: u64,
    pub instructions: u64,
    pub page_translations: u64,
    /// Cycles the core stalled on translation (TLB lookups, walks, faults).
    pub translation_cycles: u64,
    /// Of those, cycles lost beyond an L1 TLB hit (L2 lookups, walks, faults): the TLB miss cost.
    pub tlb_miss_cycles: u64,
    /// Cycles in fault handling (trap to reply).
    pub fault_cycles: u64,
    /// Cycles stalled on data accesses.
    pub data_cycles: u64,
    pub dirty_bit_updates: u64,
    pub killed_accesses: u64,
}

/// The core's state. The two idle states come first, so that [`Core::is_idle`], asked several
/// times per engine step, is one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum State {
    /// Ready for the next access from `ready_at`.
    Ready,
    /// The process was killed; accesses are not translated.
    Killed,
    WaitWalk,
    WaitTrap,
    WaitData,
}

/// The access in flight. Its kind and address are in `done`.
#[derive(Clone, Copy, Debug)]
struct Current {
    /// The value a data-carrying access stores, or the marker that a read loads a word
    /// ([`Access::data`]).
    data: Option<u64>,
    /// Page being worked on and the last page.
    vpn: Vpn,
    last_vpn: Vpn,
    /// When the current page's translation started.
    xlat_start: Cycle,
    done: AccessDone,
    /// When the fault being serviced reached the kernel.
    trap_at: Cycle,
}

impl Current {
    /// The placeholder a core holds before its first access.
    const NONE: Current = Current {
        data: None,
        vpn: Vpn(0),
        last_vpn: Vpn(0),
        xlat_start: Cycle(0),
        done: AccessDone {
            start: Cycle(0),
            end: Cycle(0),
            asid: Asid(0),
            kind: AccessKind::Read,
            va: VirtAddr(0),
            pa: PhysAddr(0),
            page_size: PageSize::Size4K,
            tlb: TlbLevel::L1,
            translation_cycles: 0,
            walk_cycles: 0,
            walk_mem_refs: 0,
            fault: FaultKind::None,
            loaded: None,
        },
        trap_at: Cycle(0),
    };
}

/// An access whose process gave up the core while the kernel services its fault (it waits for
/// the disk); [`Core::unpark`] puts it back when the process runs again.
#[derive(Clone, Copy, Debug)]
pub struct Parked {
    cur: Current,
    since: Cycle,
}

/// The core with its TLBs.
pub struct Core {
    l1i: Tlb,
    l1d: Tlb,
    l2: Tlb,
    asid: Asid,
    root: Ppn,
    user: bool,
    state: State,
    ready_at: Cycle,
    /// The access in flight while the core is not idle ([`Core::is_idle`]); after an access
    /// completes, its record stays in `cur.done` until [`Core::take_finished`] (which must come
    /// before the next [`Core::begin`] or [`Core::unpark`]); otherwise it means nothing.
    cur: Current,
    next_id: u64,
    /// `cur.done` is a completed access not yet taken.
    finished: bool,
    /// The last walk's record, and whether it has not been taken yet.
    walk_log: WalkRecord,
    walked: bool,
    /// This tick may hand a data request to the memory system at once (see [`Core::tick`]).
    direct: bool,
    /// Keep walk requests for the owner instead of sending them ([`Core::hold_walk_requests`]),
    /// and the cycle of the one kept; the request itself is the current page's, with the last
    /// id (see [`Core::take_walk_request`]).
    hold_walks: bool,
    held_walk_at: Option<Cycle>,
    stats: CoreStats,
}

impl Core {
    pub fn new(tlbs: &TlbsConfig, seed: u64) -> Result<Core, ConfigError> {
        tlbs.validate()?;
        Ok(Core {
            l1i: Tlb::new(&tlbs.l1i, seed ^ 0x7115),
            l1d: Tlb::new(&tlbs.l1d, seed ^ 0x71d5),
            l2: Tlb::new(&tlbs.l2, seed ^ 0x7125),
            asid: Asid(0),
            root: Ppn(0),
            user: true,
            state: State::Ready,
            ready_at: Cycle(0),
            cur: Current::NONE,
            next_id: 0,
            finished: false,
            walk_log: WalkRecord {
                start: Cycle(0),
                end: Cycle(0),
                va: VirtAddr(0),
                asid: Asid(0),
                start_level: crate::pte::Level::Pml4,
                mem_refs: 0,
                cache_hits: 0,
                dram_row_hits: 0,
                result: crate::walker::WalkResult::Fill,
            },
            walked: false,
            direct: false,
            hold_walks: false,
            held_walk_at: None,
            stats: CoreStats::default(),
        })
    }

    /// From now on, keep each walk request for the owner rather than send it on the walk
    /// request port: after every call that may make one ([`Core::begin`], [`Core::tick`],
    /// [`Core::take_walk_answer`]) the owner takes it with [`Core::take_walk_request`] and
    /// sends it on the port itself or hands it to the walkers at its cycle.
    pub fn hold_walk_requests(&mut self, on: bool) {
        self.hold_walks = on;
    }

    /// The walk request kept since the last call (see [`Core::hold_walk_requests`]), with the
    /// cycle the port would have made it visible.
    #[inline]
    pub fn take_walk_request(&mut self) -> Option<(Cycle, WalkRequest)> {
        let at = self.held_walk_at.take()?;
        // Nothing changed since it was made: the core waits for that walk.
        Some((at, self.walk_request(self.next_id - 1)))
    }

    /// The walk request for the current page, with id `id`.
    #[inline(always)]
    fn walk_request(&self, id: u64) -> WalkRequest {
        WalkRequest {
            id,
            asid: self.asid,
            va: self.cur.vpn.base(),
            kind: self.cur.done.kind,
            user: self.user,
            root: self.root,
        }
    }

    /// Load the page-table base register and address-space tag (a context switch's CR3 write).
    pub fn set_context(&mut self, asid: Asid, root: Ppn, user: bool) {
        self.asid = asid;
        self.root = root;
        self.user = user;
    }

    /// Load a new context at an access boundary (a context switch, or the first dispatch) and
    /// be ready for its next access from `ready`. A core whose process was killed leaves the
    /// `Killed` state this way.
    pub fn resume(&mut self, asid: Asid, root: Ppn, user: bool, ready: Cycle) {
        debug_assert!(self.is_idle(), "context switch with an access in flight");
        self.set_context(asid, root, user);
        self.state = State::Ready;
        self.ready_at = self.ready_at.max(ready);
    }

    /// Take no access before `until` (the running process is in a system call).
    pub fn delay(&mut self, until: Cycle) {
        debug_assert!(self.state == State::Ready);
        self.ready_at = self.ready_at.max(until);
    }

    /// The address-space tag loaded.
    pub fn asid(&self) -> Asid {
        self.asid
    }

    /// Whether the core can take a new access at `now`.
    #[inline]
    pub fn wants_access(&self, now: Cycle) -> bool {
        self.state == State::Ready && self.ready_at <= now
    }

    /// Whether the current process has been killed.
    pub fn killed(&self) -> bool {
        self.state == State::Killed
    }

    /// The cycle at which the core is next ready (when it is in `Ready`).
    pub fn ready_at(&self) -> Cycle {
        self.ready_at
    }

    /// Start an access at `now` (requires `wants_access(now)`), going as far as the L1 paths
    /// allow.
    #[inline]
    pub fn begin(
        &mut self,
        now: Cycle,
        acc: Access,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        debug_assert!(self.wants_access(now));
        self.direct = false;
        // The system takes every completed access before it feeds the next one.
        assert!(
            !self.finished,
            "an access began before the last one was taken"
        );
        self.stats.accesses += 1;
        self.stats.instructions += acc.instrs as u64;
        let start = now;
        let t = now + Cycles(acc.instrs as u64);
        let first = acc.va.vpn();
        let last = VirtAddr(acc.va.0.saturating_add(acc.size.max(1) as u64 - 1)).vpn();
        self.cur = Current {
            data: acc.data,
            vpn: first,
            last_vpn: last,
            xlat_start: t,
            done: AccessDone {
                start,
                end: start,
                asid: self.asid,
                kind: acc.kind,
                va: acc.va,
                ..Current::NONE.done
            },
            trap_at: start,
        };
        // The access's first translation, inlined here (once per access).
        self.translate_inline(now, t, phys, mem, ports);
    }

    /// Handle responses visible at `now`. Returns true on progress.
    ///
    /// `direct`: the owner knows that until the answer to a data request sent in this tick,
    /// nothing else sends the memory system a request or touches its caches, and that the
    /// memory system has no work of its own this cycle. The request is then handed to it at
    /// once ([`MemorySystem::accept_now`], which still declines what it cannot take exactly)
    /// instead of through the port: the same request at the same cycle, without an engine step
    /// for the hop.
    pub fn tick(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
        direct: bool,
    ) -> bool {
        self.direct = direct;
        // Tests rather than a `match` (a jump table), walks first: a walk's answer is what the
        // core most often waits for.
        if self.state == State::WaitWalk {
            let Some(resp) = ports.walk.resp.recv(now) else {
                return false;
            };
            self.on_walk_answer(now, resp, phys, mem, ports);
            true
        } else if self.state == State::WaitData {
            let Some(_resp) = ports.mem.core_resp.recv(now) else {
                return false;
            };
            self.next_page(now, now, phys, mem, ports);
            true
        } else if self.state == State::WaitTrap {
            let Some(reply) = ports.trap.reply.recv(now) else {
                return false;
            };
            let cur = &mut self.cur;
            self.stats.fault_cycles += (now - cur.trap_at).0;
            match reply {
                TrapReply::Retry(kind) => {
                    cur.done.fault = cur.done.fault.max(kind);
                    self.translate(now, now, phys, mem, ports);
                }
                TrapReply::Kill(kind) => {
                    cur.done.fault = cur.done.fault.max(kind);
                    self.stats.translation_cycles += (now - cur.xlat_start).0;
                    self.finish(now);
                    self.state = State::Killed;
                }
            }
            true
        } else {
            // Ready or Killed: nothing to receive.
            false
        }
    }

    /// The answer to the walk the core waits for, handed over by its owner at the cycle `now`
    /// the response port would have made it visible, instead of sent on the port: the same as
    /// [`Core::tick`] taking it from the port at `now`, with `direct` as for that tick.
    #[inline(never)]
    pub fn take_walk_answer(
        &mut self,
        now: Cycle,
        resp: WalkResponse,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
        direct: bool,
    ) {
        debug_assert!(
            self.state == State::WaitWalk,
            "a walk answer the core did not wait for"
        );
        self.direct = direct;
        self.on_walk_answer(now, resp, phys, mem, ports);
    }

    /// Take the answer to the walk the core waits for at `now`: fill the TLBs and go on with
    /// the translation, or raise the fault.
    #[inline(always)]
    fn on_walk_answer(
        &mut self,
        now: Cycle,
        resp: WalkResponse,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        self.walk_log = resp.record;
        self.walked = true;
        let cur = &mut self.cur;
        cur.done.walk_cycles += (resp.record.end - resp.record.start).0;
        cur.done.walk_mem_refs += resp.record.mem_refs;
        match resp.outcome {
            WalkOutcome::Fill(t) => {
                let e = TlbEntry {
                    asid: self.asid,
                    vpn: t.vpn,
                    ppn: t.ppn,
                    size: t.size,
                    perms: t.perms,
                    global: t.global,
                    dirty: t.dirty,
                    pte_addr: t.pte_addr,
                };
                let kind = cur.done.kind;
                self.l2.insert(e);
                self.l1_for(kind).insert(e);
                self.translated(now, now, e, phys, mem, ports);
            }
            WalkOutcome::Fault(f) => self.raise(now, f, ports),
        }
    }

    /// Earliest cycle at which the core has something to do.
    #[inline]
    pub fn next_event_of(
        &self,
        walk: &WalkPorts,
        mem: &MemPorts,
        trap: &TrapPorts,
    ) -> Option<Cycle> {
        // Tests rather than a `match`: asked on every engine step, a chain of two or three
        // compares costs less than the jump table a five-way match compiles to.
        if self.state > State::Killed {
            if self.state == State::WaitWalk {
                walk.resp.next_ready()
            } else if self.state == State::WaitData {
                mem.core_resp.next_ready()
            } else {
                trap.reply.next_ready()
            }
        } else if self.state == State::Ready {
            Some(self.ready_at)
        } else {
            None
        }
    }

    /// Waiting for the answer to its walk request (the core does nothing else until then).
    #[inline]
    pub fn waits_for_walk(&self) -> bool {
        matches!(self.state, State::WaitWalk)
    }

    /// No access in flight (ready for the next, or killed).
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.state <= State::Killed
    }

    /// Translate the current page starting at cycle `t` (>= now).
    #[inline(never)]
    fn translate(
        &mut self,
        now: Cycle,
        t: Cycle,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        self.translate_inline(now, t, phys, mem, ports)
    }

    /// [`Core::translate`], inlined into its caller.
    #[inline(always)]
    fn translate_inline(
        &mut self,
        now: Cycle,
        mut t: Cycle,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        let cur = &mut self.cur;
        let kind = cur.done.kind;
        let vpn = cur.vpn;
        let asid = self.asid;
        self.stats.page_translations += 1;
        let l1 = match kind {
            AccessKind::Execute => &mut self.l1i,
            _ => &mut self.l1d,
        };
        t += l1.latency();
        if let Some(e) = l1.lookup(asid, vpn) {
            return self.translated(now, t, e, phys, mem, ports);
        }
        t += self.l2.latency();
        cur.done.tlb = cur.done.tlb.max(TlbLevel::L2);
        if let Some(e) = self.l2.lookup(asid, vpn) {
            self.l1_for(kind).insert(e);
            return self.translated(now, t, e, phys, mem, ports);
        }
        cur.done.tlb = TlbLevel::Walk;
        self.next_id += 1;
        let at = t.max(Cycle(now.0 + 1));
        self.state = State::WaitWalk;
        if self.hold_walks {
            debug_assert!(self.held_walk_at.is_none(), "a kept walk request not taken");
            self.held_walk_at = Some(at);
        } else if ports
            .walk
            .req
            .try_send(at, self.walk_request(self.next_id - 1))
            .is_err()
        {
            // The walk queue is sized for the one walk an in-order core has outstanding.
            unreachable!("walk request port full with one walk outstanding");
        }
    }

    /// The current page translated to `e` at cycle `t`: check permissions, then access data.
    #[inline]
    fn translated(
        &mut self,
        now: Cycle,
        t: Cycle,
        e: TlbEntry,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        let user = self.user;
        let asid = self.asid;
        let cur = &mut self.cur;
        let kind = cur.done.kind;
        if !e.perms.permits(kind, user) {
            // A TLB hit that forbids the access faults like a walk would.
            let f = Fault {
                asid,
                va: cur.vpn.base(),
                kind,
                user,
                reason: FaultReason::Protection,
            };
            return self.raise_at(now, t, f, ports);
        }
        let xlat = t - cur.xlat_start;
        self.stats.translation_cycles += xlat.0;
        let hit_cost = match kind {
            AccessKind::Execute => self.l1i.latency(),
            _ => self.l1d.latency(),
        };
        self.stats.tlb_miss_cycles += xlat.0.saturating_sub(hit_cost.0);
        cur.done.translation_cycles += xlat.0;
        // Pages translate in order, each once, so the first page's translation is the
        // access's first: it gives the access's physical address and page size.
        let first = cur.vpn == cur.done.va.vpn();
        let offset = if first { cur.done.va.page_offset() } else { 0 };
        let pa = e.ppn.with_offset(offset);
        if first {
            cur.done.pa = pa;
            cur.done.page_size = e.size;
        }
        let write = kind == AccessKind::Write;
        if write {
            if !e.dirty {
                // The hardware sets D in the leaf PTE on the first write through this entry.
                let pte = phys.read_pte(e.pte_addr);
                phys.write_pte(e.pte_addr, pte.with(Pte::D | Pte::A));
                self.stats.dirty_bit_updates += 1;
                self.l1d.set_dirty(asid, e.vpn);
                self.l2.set_dirty(asid, e.vpn);
                let posted = MemReq {
                    id: u64::MAX,
                    addr: e.pte_addr,
                    write: true,
                    from: Requester::Walker,
                    needs_response: false,
                };
                let _ = ports.mem.req.try_send(t.max(Cycle(now.0 + 1)), posted);
            }
            phys.record_store(pa, cur.done.va.0 ^ (cur.done.start.0 << 1));
        }
        if let Some(v) = cur.data {
            let word = PhysAddr(pa.0 & !7);
            match kind {
                AccessKind::Write => phys.write_u64(word, v),
                AccessKind::Read => cur.done.loaded = Some(phys.read_u64(word)),
                AccessKind::Execute => {}
            }
        }
        let fetch = kind == AccessKind::Execute;
        if let Some(lat) = mem.fast_access(pa, write, fetch) {
            self.stats.data_cycles += lat.0;
            return self.next_page(now, t + lat, phys, mem, ports);
        }
        let t_miss = t + mem.l1_latency(fetch);
        self.stats.data_cycles += (t_miss - t).0;
        let req = MemReq {
            id: self.next_id,
            addr: pa,
            write,
            from: if fetch {
                Requester::CoreFetch
            } else {
                Requester::CoreData
            },
            needs_response: true,
        };
        self.next_id += 1;
        let at = t_miss.max(Cycle(now.0 + 1));
        if !(self.direct && mem.accept_now(at, req, ports.mem))
            && ports.mem.req.try_send(at, req).is_err()
        {
            unreachable!("memory request port full with one access outstanding");
        }
        cur.xlat_start = t_miss; // reused as the data request's start for the stall count
        self.state = State::WaitData;
    }

    /// Move to the next page of the access at cycle `t`, or finish it.
    #[inline]
    fn next_page(
        &mut self,
        now: Cycle,
        t: Cycle,
        phys: &mut PhysMem,
        mem: &mut MemorySystem,
        ports: &mut CorePorts<'_>,
    ) {
        let cur = &mut self.cur;
        if self.state == State::WaitData {
            self.stats.data_cycles += (t - cur.xlat_start).0;
        }
        if cur.vpn < cur.last_vpn {
            cur.vpn = Vpn(cur.vpn.0 + 1);
            cur.xlat_start = t;
            self.state = State::Ready;
            return self.translate(now, t, phys, mem, ports);
        }
        self.finish(t);
    }

    /// The access in flight completes at `end`; its record waits in `cur.done` for
    /// [`Core::take_finished`].
    fn finish(&mut self, end: Cycle) {
        let done = &mut self.cur.done;
        done.end = end;
        if done.fault >= FaultKind::Segv {
            self.stats.killed_accesses += 1;
        }
        self.finished = true;
        self.state = State::Ready;
        self.ready_at = end;
    }

    fn raise(&mut self, now: Cycle, f: Fault, ports: &mut CorePorts<'_>) {
        self.raise_at(now, now, f, ports)
    }

    fn raise_at(&mut self, now: Cycle, t: Cycle, f: Fault, ports: &mut CorePorts<'_>) {
        let at = t.max(Cycle(now.0 + 1));
        if ports.trap.fault.try_send(at, f).is_err() {
            unreachable!("trap port full with one access outstanding");
        }
        self.cur.trap_at = at;
        self.state = State::WaitTrap;
    }

    /// Whether the core waits for the kernel's answer to a fault.
    pub fn waiting_for_trap(&self) -> bool {
        self.state == State::WaitTrap
    }

    /// The process gives up the core at `now` while the kernel services its fault: the access
    /// is handed back, and the core is free for another context.
    pub fn park(&mut self, now: Cycle) -> Parked {
        assert!(
            self.state == State::WaitTrap,
            "park without a fault in service"
        );
        let cur = self.cur;
        self.stats.fault_cycles += (now - cur.trap_at).0;
        self.state = State::Ready;
        self.ready_at = self.ready_at.max(now);
        Parked { cur, since: now }
    }

    /// Put a parked access back at `at` (after [`Core::resume`] loaded its context): the core
    /// waits for the kernel's reply again. Cycles spent parked are not this core's stall: the
    /// access's translation time excludes them (its start and end cycles do not).
    pub fn unpark(&mut self, at: Cycle, p: Parked) {
        assert!(self.is_idle(), "unpark onto a busy core");
        assert!(!self.finished, "unpark before the last access was taken");
        let mut cur = p.cur;
        cur.xlat_start += at.max(p.since) - p.since;
        cur.trap_at = at;
        self.cur = cur;
        self.state = State::WaitTrap;
    }

    fn l1_for(&mut self, kind: AccessKind) -> &mut Tlb {
        match kind {
            AccessKind::Execute => &mut self.l1i,
            _ => &mut self.l1d,
        }
    }

    /// The access that completed since the last call, if any.
    #[inline]
    pub fn take_finished(&mut self) -> Option<AccessDone> {
        if !self.finished {
            return None;
        }
        self.finished = false;
        Some(self.cur.done)
    }
    /// The walk that completed since the last call, if any.
    #[inline]
    pub fn take_walk(&mut self) -> Option<WalkRecord> {
        if !self.walked {
            return None;
        }
        self.walked = false;
        Some(self.walk_log)
    }

    /// Shoot down one page's translation in every TLB level.
    pub fn invalidate_page(&mut self, asid: Asid, vpn: Vpn) {
        self.l1i.invalidate_page(asid, vpn);
        self.l1d.invalidate_page(asid, vpn);
        self.l2.invalidate_page(asid, vpn);
    }
    /// Drop every non-global entry tagged with `asid`.
    pub fn flush_asid(&mut self, asid: Asid) {
        self.l1i.invalidate_asid(asid);
        self.l1d.invalidate_asid(asid);
        self.l2.invalidate_asid(asid);
    }
    /// Flush all non-global entries (a CR3 write without PCID).
    pub fn flush_non_global(&mut self) {
        self.l1i.invalidate_non_global();
        self.l1d.invalidate_non_global();
        self.l2.invalidate_non_global();
    }

    pub fn tlb_stats(&self) -> [(&'static str, &TlbStats); 3] {
        [
            ("l1i", self.l1i.stats()),
            ("l1d", self.l1d.stats()),
            ("l2", self.l2.stats()),
        ]
    }
    pub fn stats(&self) -> &CoreStats {
        &self.stats
    }
    pub fn tlb(&self, level: &str) -> Option<&Tlb> {
        match level {
            "l1i" => Some(&self.l1i),
            "l1d" => Some(&self.l1d),
            "l2" => Some(&self.l2),
            _ => None,
        }
    }
}

/// Names of the core's states, as waveforms show them.
pub const CORE_STATE_NAMES: &[&str] = &["Ready", "WaitWalk", "WaitTrap", "WaitData", "Killed"];

impl crate::probe::Probed for Core {
    fn declare(&self, out: &mut Vec<(String, crate::probe::SignalDecl)>) {
        use crate::probe::SignalDecl;
        out.push(("core".into(), SignalDecl::state("state", CORE_STATE_NAMES)));
        out.push(("core".into(), SignalDecl::bits("va", 64)));
        out.push(("core".into(), SignalDecl::bits("asid", 16)));
        out.push(("core".into(), SignalDecl::bits("accesses", 64)));
        for name in ["l1i", "l1d", "l2"] {
            let scope = format!("tlb.{name}");
            out.push((scope.clone(), SignalDecl::bits("hits", 64)));
            out.push((scope, SignalDecl::bits("misses", 64)));
        }
    }

    fn sample(&self, out: &mut Vec<u64>) {
        out.push(match self.state {
            State::Ready => 0,
            State::WaitWalk => 1,
            State::WaitTrap => 2,
            State::WaitData => 3,
            State::Killed => 4,
        });
        // The access in flight (none while idle).
        out.push(if self.is_idle() {
            0
        } else {
            self.cur.done.va.0
        });
        out.push(self.asid.0 as u64);
        out.push(self.stats.accesses);
        for t in [&self.l1i, &self.l1d, &self.l2] {
            out.push(t.stats().hits);
            out.push(t.stats().misses);
        }
    }
}

/// The ports the core talks through.
pub struct CorePorts<'a> {
    pub walk: &'a mut WalkPorts,
    pub mem: &'a mut MemPorts,
    pub trap: &'a mut TrapPorts,
}
