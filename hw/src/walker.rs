//! The page walker: one state machine per hardware walker, reading real 8-byte PTEs from
//! simulated physical memory level by level, with page-walk caches for the upper levels.
//!
//! A walk request comes from the L2 TLB miss path. The walker looks its page-walk caches up (the
//! deepest hit names the table to start from), then reads one PTE per level through the memory
//! system: `Idle -> ReadPte(level) -> WaitMem(level) -> ... -> Idle` with a `Fill` or a `Fault`
//! answer. Each PTE read costs one cycle to issue plus the memory latency. A non-present entry is
//! a page fault; a present leaf whose accumulated permissions forbid the access is a protection
//! fault: both go back to the core as a message, never to the OS directly. A successful walk sets
//! A (and D on a write) in the leaf PTE, a posted write counted in `ad_writes`.
//!
//! Timing of one walk with page-walk caches off and a memory latency of `L` per read: the walker
//! sees the request at `t`, issues the first read for `t+1`, and each level costs `1 + L`, so a
//! 4-level walk ends at `t + 4 (1 + L)`. With page-walk caches on, their lookup latency is added
//! once before the first read.

use crate::error::ConfigError;
use crate::memory::PhysMem;
use crate::memsys::{Handover, MemPorts, MemReq, MemResp, MemorySystem, Requester, ServedBy};
use crate::port::Port;
use crate::pte::{Level, Perms, Pte};
use crate::pwc::{PageWalkCaches, PwcConfig, PwcStats};
use crate::types::{AccessKind, Asid, Cycle, Cycles, PageSize, PhysAddr, Ppn, VirtAddr, Vpn};
use serde::{Deserialize, Serialize};

/// Walker configuration (`walker.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalkerConfig {
    /// Number of concurrent hardware walkers (Skylake: 2; Zen 3: 6).
    pub walkers: usize,
    /// Paging levels: 4 (48-bit) or 5 (57-bit, LA57).
    pub levels: u8,
    /// Whether PTE reads go through the data caches (as in hardware) or straight to DRAM.
    pub through_caches: bool,
    /// Walk requests the walkers can queue.
    pub queue: usize,
    pub pwc: PwcConfig,
}

impl Default for WalkerConfig {
    fn default() -> Self {
        WalkerConfig {
            walkers: 2,
            levels: 4,
            through_caches: true,
            queue: 8,
            pwc: PwcConfig::default(),
        }
    }
}

impl WalkerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.walkers == 0 || self.walkers > 64 {
            return Err(ConfigError::new(
                "walker.walkers",
                "must be between 1 and 64",
            ));
        }
        if self.levels != 4 && self.levels != 5 {
            return Err(ConfigError::new("walker.levels", "must be 4 or 5"));
        }
        if self.queue == 0 {
            return Err(ConfigError::new("walker.queue", "must be at least 1"));
        }
        self.pwc.validate("walker.pwc")
    }
}

/// A request to translate one 4 KiB page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkRequest {
    pub id: u64,
    pub asid: Asid,
    pub va: VirtAddr,
    pub kind: AccessKind,
    pub user: bool,
    /// The page-table base register (CR3) value: the top-level table's frame.
    pub root: Ppn,
}

/// A completed translation, ready to fill the TLBs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The 4 KiB page that was asked for.
    pub vpn: Vpn,
    /// Its frame (for a huge page: the 4 KiB piece inside it).
    pub ppn: Ppn,
    pub size: PageSize,
    pub perms: Perms,
    pub global: bool,
    pub dirty: bool,
    pub pte_addr: PhysAddr,
}

/// Why a walk could not translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FaultReason {
    /// The entry at this level is not present: a page fault.
    NotPresent(Level),
    /// The leaf is present but the access is not permitted: a protection fault.
    Protection,
}

/// A fault raised by the hardware, carrying what the OS needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub asid: Asid,
    pub va: VirtAddr,
    pub kind: AccessKind,
    pub user: bool,
    pub reason: FaultReason,
}

/// The result of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkOutcome {
    Fill(Translation),
    Fault(Fault),
}

/// What one walk did, for `walks.csv` and the latency statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkRecord {
    pub start: Cycle,
    pub end: Cycle,
    pub va: VirtAddr,
    pub asid: Asid,
    /// The first level read after the page-walk caches.
    pub start_level: Level,
    pub mem_refs: u32,
    pub cache_hits: u32,
    pub dram_row_hits: u32,
    pub result: WalkResult,
}

/// How a walk ended, for `walks.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WalkResult {
    Fill,
    PageFault,
    ProtectionFault,
}

impl WalkResult {
    pub fn as_str(self) -> &'static str {
        match self {
            WalkResult::Fill => "fill",
            WalkResult::PageFault => "page_fault",
            WalkResult::ProtectionFault => "protection_fault",
        }
    }
}

/// The answer to a walk request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkResponse {
    pub id: u64,
    pub outcome: WalkOutcome,
    pub record: WalkRecord,
}

/// A walker's FSM state; waveforms show it by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkerState {
    Idle,
    /// Ready to issue the read of this level's PTE (waiting for room in the memory port).
    ReadPte(Level),
    /// Waiting for the PTE read of this level.
    WaitMem(Level),
}

/// Names of the walker FSM states, indexed by [`WalkerState::index`].
pub const WALKER_STATE_NAMES: &[&str] = &[
    "Idle",
    "ReadPte(PML5)",
    "ReadPte(PML4)",
    "ReadPte(PDPT)",
    "ReadPte(PD)",
    "ReadPte(PT)",
    "WaitMem(PML5)",
    "WaitMem(PML4)",
    "WaitMem(PDPT)",
    "WaitMem(PD)",
    "WaitMem(PT)",
];

impl WalkerState {
    /// Index into [`WALKER_STATE_NAMES`].
    pub fn index(self) -> u64 {
        let level = |l: Level| match l {
            Level::Pml5 => 0,
            Level::Pml4 => 1,
            Level::Pdpt => 2,
            Level::Pd => 3,
            Level::Pt => 4,
        };
        match self {
            WalkerState::Idle => 0,
            WalkerState::ReadPte(l) => 1 + level(l),
            WalkerState::WaitMem(l) => 6 + level(l),
        }
    }
}

impl crate::probe::Probed for Walkers {
    fn declare(&self, out: &mut Vec<(String, crate::probe::SignalDecl)>) {
        use crate::probe::SignalDecl;
        for i in 0..self.slots.len() {
            let scope = format!("walker.{i}");
            out.push((
                scope.clone(),
                SignalDecl::state("state", WALKER_STATE_NAMES),
            ));
            out.push((scope, SignalDecl::bits("va", 64)));
        }
        for level in ["pml4e", "pdpte", "pde"] {
            out.push((format!("walker.pwc.{level}"), SignalDecl::bits("hits", 64)));
        }
        out.push(("walker".into(), SignalDecl::bits("walks", 64)));
    }

    fn sample(&self, out: &mut Vec<u64>) {
        for (i, state) in self.states().enumerate() {
            out.push(state.index());
            out.push(self.walk(i).map_or(0, |w| w.req.va.0));
        }
        let p = self.pwc.stats();
        out.extend([p.pml4e.hits, p.pdpte.hits, p.pde.hits, self.stats.walks]);
    }
}

/// Walker counters (`walker.*` in stats.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WalkerStats {
    pub walks: u64,
    pub mem_refs: u64,
    pub ad_writes: u64,
    pub faults: u64,
    pub protection_faults: u64,
    pub pte_cache_hits: u64,
    pub pte_dram_reads: u64,
}

/// One walk in flight: the walker's registers. The [`WalkRecord`] is assembled from them when
/// the walk ends (its `va` and `asid` are the request's).
#[derive(Clone, Copy, Debug)]
struct Walk {
    req: WalkRequest,
    level: Level,
    table: Ppn,
    perms: Perms,
    /// The id of the PTE read in flight, or `u64::MAX` while it waits to be sent.
    mem_id: u64,
    /// The address of this level's PTE (set when its read is issued).
    pte_addr: PhysAddr,
    issue_at: Cycle,
    start: Cycle,
    start_level: Level,
    mem_refs: u32,
    cache_hits: u32,
    dram_row_hits: u32,
}

impl Walk {
    /// What an idle walker's slot holds (never read: `Walkers::busy` says which slots are live).
    const IDLE: Walk = Walk {
        req: WalkRequest {
            id: 0,
            asid: Asid(0),
            va: VirtAddr(0),
            kind: AccessKind::Read,
            user: false,
            root: Ppn(0),
        },
        level: Level::Pt,
        table: Ppn(0),
        perms: Perms::ALL,
        mem_id: u64::MAX,
        pte_addr: PhysAddr(0),
        issue_at: Cycle(0),
        start: Cycle(0),
        start_level: Level::Pt,
        mem_refs: 0,
        cache_hits: 0,
        dram_row_hits: 0,
    };
}

/// The pool of walkers with their shared page-walk caches and ports.
pub struct Walkers {
    /// One per walker; slot `i` holds a walk exactly when bit `i` of `busy` is set.
    slots: Vec<Walk>,
    pwc: PageWalkCaches,
    top: Level,
    stats: WalkerStats,
    next_mem_id: u64,
    last_tick: Cycle,
    /// Bit `i` set: walker `i` has a walk (`slots[i]` is live). At most 64 walkers.
    busy: u64,
    /// `busy` with every walker busy.
    all_busy: u64,
    /// Bit `i` set: walker `i`'s PTE read was refused by a full port and waits to be re-sent.
    refused: u64,
    /// The walkers' own part of `next_event`, as of the last tick (only `tick` changes it).
    own_next: OwnEvents,
    /// The answer the memory system gave at once to a lone walk's read
    /// ([`MemorySystem::serve_now`]), taken by the run-ahead loop of [`Walkers::tick`].
    answer: Option<(Cycle, MemResp)>,
    /// The answer to a lone walk that ended in a tick with `direct`, kept for the owner
    /// ([`Walkers::take_answer`]) instead of sent on the response port, with the cycle at
    /// which the port would have made it visible.
    done: Option<(Cycle, WalkResponse)>,
}

/// What the walkers wait for besides messages on their ports.
#[derive(Clone, Copy, Debug)]
struct OwnEvents {
    /// Some walker is free to take a new walk request.
    any_idle: bool,
    /// The earliest cycle at which a walker retries a PTE read its port refused.
    retry_at: Option<Cycle>,
}

/// Ports between the core and the walkers.
#[derive(Debug)]
pub struct WalkPorts {
    pub req: Port<WalkRequest>,
    pub resp: Port<WalkResponse>,
}

impl WalkPorts {
    pub fn new(capacity: usize) -> WalkPorts {
        WalkPorts {
            req: Port::new(capacity),
            resp: Port::new(capacity),
        }
    }
}

impl Walkers {
    pub fn new(cfg: &WalkerConfig, seed: u64) -> Result<Walkers, ConfigError> {
        cfg.validate()?;
        Ok(Walkers {
            slots: vec![Walk::IDLE; cfg.walkers],
            pwc: PageWalkCaches::new(&cfg.pwc, seed ^ 0x5057_4300),
            top: Level::top(cfg.levels),
            stats: WalkerStats::default(),
            next_mem_id: 0,
            last_tick: Cycle(0),
            busy: 0,
            all_busy: u64::MAX >> (64 - cfg.walkers),
            refused: 0,
            own_next: OwnEvents {
                any_idle: true,
                retry_at: None,
            },
            answer: None,
            done: None,
        })
    }

    /// One cycle: take responses from memory, advance walks, start new ones.
    ///
    /// `direct`: the memory system, when the owner knows that until a walk in flight ends,
    /// nothing but the walkers sends the memory system a request or touches its caches, and
    /// nothing else reads or writes what the walkers use (the requester waits for the walk;
    /// no page tables change), and that the memory system has no work of its own this cycle.
    /// Then, for a lone walk:
    /// - its PTE read is handed to the memory system at once ([`MemorySystem::accept_now`])
    ///   instead of through the port: the same request at the same cycle, without an engine
    ///   step for the hop;
    /// - an answer already on the response port (a cache hit answered at once) is taken at its
    ///   cycle right away, as the tick at that cycle would take it: nothing the walker reads
    ///   can change before then, and what it sends is stamped after that cycle;
    /// - if the walk ends, its answer is not sent on `walk.resp` but kept for
    ///   [`Walkers::take_answer`], which the owner must call after this tick: it hands the
    ///   answer to the requester by value, or sends it on the port itself.
    pub fn tick(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        walk: &mut WalkPorts,
        mem: &mut MemPorts,
        direct: Option<&mut MemorySystem>,
    ) -> bool {
        self.tick_with(now, phys, walk, mem, direct, None)
    }

    /// [`Walkers::tick`], with `given`, a request visible at `now` that the owner hands over
    /// rather than sends on `walk.req`: taken first, as the port's oldest message would be.
    #[inline(always)]
    pub fn tick_with(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        walk: &mut WalkPorts,
        mem: &mut MemPorts,
        mut direct: Option<&mut MemorySystem>,
        given: Option<WalkRequest>,
    ) -> bool {
        self.last_tick = now;
        let mut progress = false;
        while let Some(resp) = mem.walker_resp.recv(now) {
            progress = true;
            self.on_mem_response(now, resp, phys, walk, mem, direct.as_deref_mut());
        }
        // Retry reads refused by a full port before this tick (one refused during this tick
        // would be refused again: nothing drains the port while the walkers tick).
        let mut refused = self.refused;
        while refused != 0 {
            let i = refused.trailing_zeros() as usize;
            refused &= refused - 1;
            progress |= self.issue(i, now, phys, mem, None);
        }
        // Start new walks on free walkers, lowest index first.
        if let Some(req) = given {
            let free = (!self.busy).trailing_zeros() as usize;
            assert!(free < self.slots.len(), "a walk handed to busy walkers");
            progress = true;
            let direct = direct.as_deref_mut().filter(|_| walk.req.is_empty());
            self.start(free, now, req, phys, mem, direct);
        }
        while walk.req.next_ready().is_some_and(|c| c <= now) {
            let free = (!self.busy).trailing_zeros() as usize;
            if free >= self.slots.len() {
                break;
            }
            let req = walk.req.recv(now).expect("a request is visible");
            progress = true;
            let direct = direct.as_deref_mut().filter(|_| walk.req.is_empty());
            self.start(free, now, req, phys, mem, direct);
        }
        // Run a lone walk ahead through answers already known: given at once by the memory
        // system (`answer`), or already on the port (the answer to a read sent through it
        // before). Each is taken at its cycle, as the tick then would:
        // nothing the walker reads can change before then (the owner's guarantee for
        // `direct`), and what it sends is stamped after that cycle. The answer is taken here
        // rather than where its read was sent: that tick would find nothing else to do first
        // (the walk is lone and its core sends no other walk while it waits).
        while let Some(ms) = direct.as_deref_mut() {
            let (at, resp) = match self.answer.take() {
                Some(a) => a,
                None => {
                    let lone = self.busy != 0 && self.busy & (self.busy - 1) == 0;
                    let Some(at) = mem.walker_resp.next_ready().filter(|_| lone) else {
                        break;
                    };
                    let resp = mem.walker_resp.recv(at).expect("an answer is visible");
                    (at, resp)
                }
            };
            self.last_tick = at;
            self.on_mem_response(at, resp, phys, walk, mem, Some(ms));
        }
        self.own_next = self.own_events();
        progress
    }

    /// The answer to a lone walk that ended in the last tick with `direct` (see
    /// [`Walkers::tick`]), with the cycle at which it is due: the owner hands it to the
    /// requester at that cycle, or sends it on the response port stamped with it (the same
    /// message the walker would have sent).
    #[inline]
    pub fn take_answer(&mut self) -> Option<(Cycle, WalkResponse)> {
        self.done.take()
    }

    /// Earliest cycle at which `tick` has work.
    #[inline]
    pub fn next_event(&self, walk: &WalkPorts, mem: &MemPorts) -> Option<Cycle> {
        let mut next = mem.walker_resp.next_ready();
        let mut take = |c: Option<Cycle>| {
            next = match (next, c) {
                (Some(n), Some(c)) => Some(n.min(c)),
                (n, c) => n.or(c),
            }
        };
        if self.own_next.any_idle {
            take(walk.req.next_ready());
        }
        take(self.own_next.retry_at);
        next
    }

    /// [`OwnEvents`] from the busy and refused walkers.
    fn own_events(&self) -> OwnEvents {
        let mut own = OwnEvents {
            any_idle: self.busy != self.all_busy,
            retry_at: None,
        };
        let mut refused = self.refused;
        while refused != 0 {
            let i = refused.trailing_zeros() as usize;
            refused &= refused - 1;
            let w = &self.slots[i];
            let at = w.issue_at.max(Cycle(self.last_tick.0 + 1));
            own.retry_at = Some(own.retry_at.map_or(at, |r| r.min(at)));
        }
        own
    }

    #[inline(always)]
    fn start(
        &mut self,
        slot: usize,
        now: Cycle,
        req: WalkRequest,
        phys: &PhysMem,
        mem: &mut MemPorts,
        direct: Option<&mut MemorySystem>,
    ) {
        self.stats.walks += 1;
        let (level, table, lookup) = match self.pwc.lookup(req.asid, req.va) {
            Some(hit) => (hit.next_level, hit.table, self.pwc.latency()),
            None if self.pwc.enabled() => (self.top, req.root, self.pwc.latency()),
            None => (self.top, req.root, Cycles(0)),
        };
        self.slots[slot] = Walk {
            req,
            level,
            table,
            perms: Perms::ALL,
            mem_id: u64::MAX,
            pte_addr: PhysAddr(0),
            issue_at: now + lookup + Cycles(1),
            start: now,
            start_level: level,
            mem_refs: 0,
            cache_hits: 0,
            dram_row_hits: 0,
        };
        self.busy |= 1 << slot;
        self.issue(slot, now, phys, mem, direct);
    }

    /// Send the PTE read of walker `i`'s current level; false if the port refused it. With
    /// `direct` and no other walk in flight, the memory system takes it at once if it can.
    #[inline(always)]
    fn issue(
        &mut self,
        i: usize,
        now: Cycle,
        phys: &PhysMem,
        mem: &mut MemPorts,
        direct: Option<&mut MemorySystem>,
    ) -> bool {
        debug_assert!(self.busy & 1 << i != 0, "issue on an idle walker");
        let w = &mut self.slots[i];
        let id = self.next_mem_id;
        let addr = w.level.entry_addr(w.table, w.req.va);
        w.pte_addr = addr;
        // The PTE is read from physical memory when the answer comes back: have the host
        // load it meanwhile.
        phys.prefetch(addr);
        let req = MemReq {
            id,
            addr,
            write: false,
            from: Requester::Walker,
            needs_response: true,
        };
        // The memory system sees it no earlier than the next cycle.
        let ready = w.issue_at.max(Cycle(now.0 + 1));
        if let Some(ms) = direct
            && self.busy == 1 << i
        {
            let handed = ms.serve_now(ready, req, mem);
            if handed != Handover::Declined {
                self.refused &= !(1 << i);
                self.next_mem_id += 1;
                w.mem_id = id;
                if let Handover::Answered(at, resp) = handed {
                    self.answer = Some((at, resp));
                }
                return true;
            }
        }
        if mem.req.try_send(ready, req).is_err() {
            self.refused |= 1 << i;
            return false;
        }
        self.refused &= !(1 << i);
        self.next_mem_id += 1;
        w.mem_id = id;
        true
    }

    #[inline(always)]
    fn on_mem_response(
        &mut self,
        now: Cycle,
        resp: MemResp,
        phys: &mut PhysMem,
        walk: &mut WalkPorts,
        mem: &mut MemPorts,
        direct: Option<&mut MemorySystem>,
    ) {
        // The lowest busy walker waiting for this read (a lone walk is found at once).
        let mut busy = self.busy;
        let i = loop {
            if busy == 0 {
                return;
            }
            let i = busy.trailing_zeros() as usize;
            if self.slots[i].mem_id == resp.id {
                break i;
            }
            busy &= busy - 1;
        };
        let w = &mut self.slots[i];
        w.mem_id = u64::MAX;
        w.mem_refs += 1;
        self.stats.mem_refs += 1;
        match resp.served_by {
            ServedBy::Dram(row) => {
                self.stats.pte_dram_reads += 1;
                if row == crate::dram::RowOutcome::Hit {
                    w.dram_row_hits += 1;
                }
            }
            _ => {
                w.cache_hits += 1;
                self.stats.pte_cache_hits += 1;
            }
        }
        // A lone walk under `direct` keeps its answer for the owner (see `tick`).
        let keep = direct.is_some() && self.busy == 1 << i;
        // The read was issued for this level and table.
        let addr = w.pte_addr;
        debug_assert_eq!(addr, w.level.entry_addr(w.table, w.req.va));
        let pte = phys.read_pte(addr);
        if !pte.present() {
            let f = Fault {
                asid: w.req.asid,
                va: w.req.va,
                kind: w.req.kind,
                user: w.req.user,
                reason: FaultReason::NotPresent(w.level),
            };
            self.finish(i, now, WalkOutcome::Fault(f), walk, keep);
            return;
        }
        w.perms = w.perms.and(pte);
        let leaf_size = match w.level {
            Level::Pt => Some(PageSize::Size4K),
            Level::Pd if pte.huge() => Some(PageSize::Size2M),
            Level::Pdpt if pte.huge() => Some(PageSize::Size1G),
            _ => None,
        };
        let Some(size) = leaf_size else {
            self.pwc.fill(w.req.asid, w.req.va, w.level, pte.ppn());
            w.table = pte.ppn();
            w.level = w.level.next().expect("non-leaf level has a next level");
            w.issue_at = Cycle(now.0 + 1);
            self.issue(i, now, phys, mem, direct);
            return;
        };
        if !w.perms.permits(w.req.kind, w.req.user) {
            self.stats.protection_faults += 1;
            let f = Fault {
                asid: w.req.asid,
                va: w.req.va,
                kind: w.req.kind,
                user: w.req.user,
                reason: FaultReason::Protection,
            };
            self.finish(i, now, WalkOutcome::Fault(f), walk, keep);
            return;
        }
        let write = w.req.kind == AccessKind::Write;
        let mut flags = Pte::A;
        if write {
            flags |= Pte::D;
        }
        let dirty = pte.dirty() || write;
        if pte.0 & flags != flags {
            phys.write_pte(addr, pte.with(flags));
            self.stats.ad_writes += 1;
            let posted = MemReq {
                id: u64::MAX,
                addr,
                write: true,
                from: Requester::Walker,
                needs_response: false,
            };
            // A posted write; if the port is full the update still happened in memory, only
            // its traffic is dropped (counted as an A/D write all the same).
            let _ = mem.req.try_send(Cycle(now.0 + 1), posted);
        }
        let offset_pages = (w.req.va.0 & (size.bytes() - 1)) >> crate::types::PAGE_SHIFT;
        let ppn = Ppn(pte.ppn().0 + offset_pages);
        if write {
            // The core records the store in the frame's signature once it has the answer.
            phys.prefetch_signature(ppn);
        }
        let t = Translation {
            vpn: w.req.va.vpn(),
            ppn,
            size,
            perms: w.perms,
            global: pte.global(),
            dirty,
            pte_addr: addr,
        };
        self.finish(i, now, WalkOutcome::Fill(t), walk, keep);
    }

    #[inline(always)]
    fn finish(
        &mut self,
        i: usize,
        now: Cycle,
        outcome: WalkOutcome,
        walk: &mut WalkPorts,
        keep: bool,
    ) {
        debug_assert!(self.busy & 1 << i != 0, "finish on an idle walker");
        let w = &self.slots[i];
        self.busy &= !(1 << i);
        self.refused &= !(1 << i);
        if matches!(outcome, WalkOutcome::Fault(_)) {
            self.stats.faults += 1;
        }
        let result = match outcome {
            WalkOutcome::Fill(_) => WalkResult::Fill,
            WalkOutcome::Fault(Fault {
                reason: FaultReason::Protection,
                ..
            }) => WalkResult::ProtectionFault,
            WalkOutcome::Fault(_) => WalkResult::PageFault,
        };
        let resp = WalkResponse {
            id: w.req.id,
            outcome,
            record: WalkRecord {
                start: w.start,
                end: now,
                va: w.req.va,
                asid: w.req.asid,
                start_level: w.start_level,
                mem_refs: w.mem_refs,
                cache_hits: w.cache_hits,
                dram_row_hits: w.dram_row_hits,
                result,
            },
        };
        if keep {
            debug_assert!(self.done.is_none(), "a kept answer was not taken");
            self.done = Some((Cycle(now.0 + 1), resp));
            return;
        }
        // The walk response port holds one entry per walker, so it cannot be full here.
        if walk.resp.try_send(Cycle(now.0 + 1), resp).is_err() {
            unreachable!("walk response port sized below the number of walkers");
        }
    }

    /// Each walker's FSM state, for probes.
    pub fn states(&self) -> impl Iterator<Item = WalkerState> + '_ {
        (0..self.slots.len()).map(|i| match self.walk(i) {
            None => WalkerState::Idle,
            Some(w) if w.mem_id == u64::MAX => WalkerState::ReadPte(w.level),
            Some(w) => WalkerState::WaitMem(w.level),
        })
    }

    /// Walker `i`'s walk, if it has one.
    fn walk(&self, i: usize) -> Option<&Walk> {
        (self.busy & 1 << i != 0).then(|| &self.slots[i])
    }
    /// No walk in flight.
    #[inline]
    pub fn idle(&self) -> bool {
        self.busy == 0
    }
    pub fn busy(&self) -> usize {
        self.busy.count_ones() as usize
    }
    pub fn stats(&self) -> &WalkerStats {
        &self.stats
    }
    pub fn pwc(&self) -> &PageWalkCaches {
        &self.pwc
    }
    pub fn pwc_mut(&mut self) -> &mut PageWalkCaches {
        &mut self.pwc
    }
    pub fn pwc_stats(&self) -> &PwcStats {
        self.pwc.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: u64 = 10;

    /// Three 4 KiB pages mapped read-write through one chain of tables (root frame 1).
    fn tables() -> (PhysMem, Vec<VirtAddr>) {
        let mut phys = PhysMem::new(64);
        let vas: Vec<VirtAddr> = (1..=3).map(|i| VirtAddr(i << 12)).collect();
        let flags = Pte::P | Pte::RW | Pte::US;
        for (i, &va) in vas.iter().enumerate() {
            phys.write_pte(Level::Pml4.entry_addr(Ppn(1), va), Pte::new(Ppn(2), flags));
            phys.write_pte(Level::Pdpt.entry_addr(Ppn(2), va), Pte::new(Ppn(3), flags));
            phys.write_pte(Level::Pd.entry_addr(Ppn(3), va), Pte::new(Ppn(4), flags));
            let data = Ppn(10 + i as u64);
            phys.write_pte(Level::Pt.entry_addr(Ppn(4), va), Pte::new(data, flags));
        }
        (phys, vas)
    }

    /// Runs three walks on three walkers against a memory that answers every read `L` cycles
    /// after it takes it from a request port of `capacity` messages, ticking the walkers only
    /// at their `next_event` (the memory side drains the port after the walkers' tick, as the
    /// memory system ticks after them). Returns the walk responses and the walkers' states
    /// after the first tick.
    fn run(capacity: usize) -> (Vec<WalkResponse>, Vec<WalkerState>) {
        let cfg = WalkerConfig {
            walkers: 3,
            pwc: PwcConfig {
                enabled: false,
                ..PwcConfig::default()
            },
            ..WalkerConfig::default()
        };
        let mut w = Walkers::new(&cfg, 1).unwrap();
        let (mut phys, vas) = tables();
        let mut walk = WalkPorts::new(8);
        let mut mem = MemPorts::new(8);
        mem.req = Port::new(capacity);
        for (i, &va) in vas.iter().enumerate() {
            let req = WalkRequest {
                id: i as u64,
                asid: Asid(0),
                va,
                kind: AccessKind::Read,
                user: true,
                root: Ppn(1),
            };
            walk.req.try_send(Cycle(0), req).unwrap();
        }
        let mut done = Vec::new();
        let mut first_states = Vec::new();
        let mut now = Cycle(0);
        while now.0 < 1000 && done.len() < vas.len() {
            if w.next_event(&walk, &mem).is_some_and(|c| c <= now) {
                w.tick(now, &mut phys, &mut walk, &mut mem, None);
                if first_states.is_empty() {
                    first_states = w.states().collect();
                }
            }
            while let Some(r) = mem.req.recv(now) {
                if r.needs_response {
                    let resp = MemResp {
                        id: r.id,
                        served_by: ServedBy::L1,
                    };
                    mem.walker_resp.try_send(now + Cycles(L), resp).unwrap();
                }
            }
            while let Some(r) = walk.resp.recv(now) {
                done.push(r);
            }
            now = Cycle(now.0 + 1);
        }
        (done, first_states)
    }

    #[test]
    fn walks_on_free_walkers_run_in_parallel() {
        let (done, states) = run(8);
        assert_eq!(states, vec![WalkerState::WaitMem(Level::Pml4); 3]);
        // Each walk: first read at 1, then 1 + L per level; the answer is seen a cycle later.
        let ends: Vec<u64> = done.iter().map(|r| r.record.end.0).collect();
        assert_eq!(ends, vec![4 * (1 + L); 3]);
        for (i, r) in done.iter().enumerate() {
            assert_eq!(r.id, i as u64);
            assert_eq!(r.record.mem_refs, 4);
            let WalkOutcome::Fill(t) = r.outcome else {
                panic!("walk {i} faulted");
            };
            assert_eq!(t.ppn, Ppn(10 + i as u64));
        }
    }

    #[test]
    fn refused_reads_are_retried_in_walker_order() {
        // A request port of one message: walker 0's first read is taken, walkers 1 and 2 are
        // refused and retry every cycle until the port has room. The memory drains the port
        // after the walkers' tick, so a retry succeeds one cycle after the port was emptied:
        // walker 1's first read goes at 2 (visible 3) and walker 2's at 4 (visible 5).
        let (done, states) = run(1);
        assert_eq!(
            states,
            vec![
                WalkerState::WaitMem(Level::Pml4),
                WalkerState::ReadPte(Level::Pml4),
                WalkerState::ReadPte(Level::Pml4),
            ]
        );
        let ends: Vec<(u64, u64)> = done.iter().map(|r| (r.id, r.record.end.0)).collect();
        // First reads visible at 1, 3 and 5; each walk then takes 4 levels of L plus 3 issue
        // cycles (the later reads are never refused: the walks are two cycles apart).
        assert_eq!(
            ends,
            vec![(0, 1 + 4 * L + 3), (1, 3 + 4 * L + 3), (2, 5 + 4 * L + 3)]
        );
        assert!(done.iter().all(|r| r.record.mem_refs == 4));
    }
}
