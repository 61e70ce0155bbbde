//! The kernel: processes and their address spaces, frames, swap, shared memory, and the
//! bookkeeping the fault handler ([`crate::fault`]), the system calls ([`crate::syscall`]) and
//! the scheduler's context switch share.
//!
//! The kernel runs on the simulated machine's one core. It is driven by the run loop: a fault
//! the hardware raised ([`Kernel::handle_fault`]), an I/O completion interrupt
//! ([`Kernel::on_dma`], [`Kernel::on_disk`]), a system call or a context switch. It edits page
//! tables as real PTEs in simulated physical memory, invalidates translations through the
//! [`Mmu`], queues I/O requests for the DMA engine and the disk ([`Kernel::next_io`]), and
//! answers faults with [`Reply`]s stamped with the cycle the core may go on.

use crate::config::OsConfig;
use crate::error::OsError;
use crate::evict::Evictor;
use crate::fault::FaultJob;
use crate::frames::{FrameAllocator, FrameUse, Owner};
use crate::mmu::{IoRequest, Mmu};
use crate::page_table::{LeafTables, PageTable};
use crate::process::{ExitStatus, Pid, Process, ProcessStats, ProcessTable, Signal};
use crate::segment::{Segment, SegmentKind};
use crate::shm::{Attachment, SharedObject, ShmPage};
use crate::swap::{SwapSpace, swap_slot};
use crate::thrashing::Thrashing;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use vmsim_hw::core::FaultKind;
use vmsim_hw::memory::PhysMem;
use vmsim_hw::pte::Pte;
use vmsim_hw::{Asid, Cycle, Cycles, PAGE_SIZE, Ppn, VirtAddr};

/// Kernel counters (`faults.*` and `os.*` in stats.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsStats {
    pub minor_faults: u64,
    pub major_faults: u64,
    pub protection_faults: u64,
    pub segv_kills: u64,
    pub bus_kills: u64,
    pub evictions: u64,
    pub swap_outs: u64,
    pub swap_ins: u64,
    /// Victims read out by the DMA engine whose page died (munmap, kill) before the read-out
    /// ended: nothing was written.
    pub swap_outs_dropped: u64,
    /// Swap writes the disk failed (their pages are lost).
    pub swap_write_errors: u64,
    /// Swap-ins whose content differed from what was written out: always 0 unless the model
    /// is broken.
    pub swap_integrity_errors: u64,
    pub page_table_pages: u64,
    /// Cycles from trap to reply, summed over faults.
    pub fault_cycles: u64,
    pub syscalls: u64,
    pub context_switches: u64,
    /// Flushes of the TLBs and page-walk caches: every switch without PCID, every recycled
    /// hardware ASID with it.
    pub tlb_flushes: u64,
    /// Hardware ASIDs taken from one process for another (PCID only).
    pub asid_recycles: u64,
    /// Windows of `os.thrashing_window` cycles in which fault service exceeded
    /// `os.thrashing_threshold` of the cycles (set by [`Kernel::finish`]).
    pub thrashing_windows: u64,
}

/// What the core should do about its fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyAction {
    /// The mapping now exists: retry the access.
    Retry(FaultKind),
    /// The process was killed.
    Kill {
        kind: FaultKind,
        signal: Signal,
        va: VirtAddr,
        reason: String,
    },
}

/// The kernel's answer to a fault, visible to the core from `ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub pid: Pid,
    pub asid: Asid,
    /// The cycle the fault was raised.
    pub trap: Cycle,
    pub ready: Cycle,
    pub action: ReplyAction,
}

/// Something the kernel did, with its start and end cycles (for `events.csv`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsEvent {
    pub kind: OsEventKind,
    pub start: Cycle,
    pub end: Cycle,
    pub pid: Option<Pid>,
    pub va: Option<VirtAddr>,
    pub frame: Option<Ppn>,
    pub slot: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OsEventKind {
    Fault(FaultKind),
    Kill(Signal),
    Eviction,
    SwapOut,
    SwapIn,
    Syscall(&'static str),
    ContextSwitch,
}

impl OsEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OsEventKind::Fault(k) => match k {
                FaultKind::Minor => "minor_fault",
                FaultKind::Major => "major_fault",
                FaultKind::Protection => "protection_fault",
                _ => "fault",
            },
            OsEventKind::Kill(Signal::Sigsegv) => "kill_sigsegv",
            OsEventKind::Kill(Signal::Sigbus) => "kill_sigbus",
            OsEventKind::Eviction => "eviction",
            OsEventKind::SwapOut => "swap_out",
            OsEventKind::SwapIn => "swap_in",
            OsEventKind::Syscall(name) => name,
            OsEventKind::ContextSwitch => "context_switch",
        }
    }
}

/// The name of the shared object that holds the kernel's memory; a scenario's `shared:(kernel)`
/// is refused, so no user segment can attach to it.
pub const KERNEL_OBJECT: &str = "(kernel)";

/// Without PCID, the tag of every translation; with PCID, the tag of a process that holds no
/// hardware ASID, which no TLB entry carries.
pub const NO_ASID: Asid = Asid(0);

/// Why a process is killed.
pub(crate) struct Cause {
    pub signal: Signal,
    pub va: VirtAddr,
    pub reason: String,
}

/// One mapping of a data frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub pid: Pid,
    pub asid: Asid,
    pub va: VirtAddr,
    pub pt: PageTable,
}

pub struct Kernel {
    pub(crate) cfg: OsConfig,
    pub(crate) levels: u8,
    pub(crate) frames: FrameAllocator,
    pub(crate) swap: SwapSpace,
    pub(crate) evictor: Evictor,
    pub(crate) shm: Vec<SharedObject>,
    pub(crate) processes: ProcessTable,
    /// With PCID: the process holding each hardware tag (tag = index + 1), and when each was
    /// last dispatched.
    asid_slots: Vec<Option<Pid>>,
    asid_used: Vec<u64>,
    asid_clock: u64,
    /// The process on the core (its faults are the ones the hardware raises).
    running: Option<Pid>,
    broken_skip_switch_flush: bool,
    next_pid: u32,
    pub(crate) stats: OsStats,
    /// Faults being serviced, oldest first (see [`crate::fault`]).
    pub(crate) jobs: VecDeque<FaultJob>,
    /// Frames faults brought in for accesses that have not retried yet, with the process
    /// whose access each is, oldest first (not eviction candidates until
    /// [`Kernel::retired`]). A short list (only faults awaiting their retry are in it): a flat
    /// vector serves every fault without allocating.
    pub(crate) fresh: Vec<(Pid, Ppn)>,
    /// Device DMA transfers in flight per frame, and frames freed while some were (released
    /// when the last lands).
    dma_holds: BTreeMap<Ppn, u32>,
    /// Swap writes in flight: request id -> the slot generation it stores.
    pub(crate) pending_writes: BTreeMap<u64, u64>,
    orphans: std::collections::BTreeSet<Ppn>,
    pub(crate) io: VecDeque<IoRequest>,
    pub(crate) replies: VecDeque<Reply>,
    next_io: u64,
    pub(crate) thrash: Thrashing,
    log_events: bool,
    pub(crate) events: Vec<OsEvent>,
    /// The fault path's memo of last-level tables (cleared whenever a page table is
    /// destroyed).
    pub(crate) leaf_tables: LeafTables,
}

impl Kernel {
    /// A kernel over `cfg.frames` frames with `levels`-level page tables and a swap device of
    /// `swap_slots` blocks.
    pub fn new(cfg: &OsConfig, levels: u8, swap_slots: u64, seed: u64) -> Result<Kernel, OsError> {
        cfg.validate()?;
        Ok(Kernel {
            cfg: cfg.clone(),
            levels,
            frames: FrameAllocator::new(cfg.frames),
            swap: SwapSpace::new(swap_slots),
            evictor: Evictor::new(cfg.eviction, cfg.frames, seed),
            shm: Vec::new(),
            processes: ProcessTable::default(),
            asid_slots: vec![None; if cfg.pcid { cfg.asids as usize } else { 0 }],
            asid_used: vec![0; if cfg.pcid { cfg.asids as usize } else { 0 }],
            asid_clock: 0,
            running: None,
            broken_skip_switch_flush: false,
            next_pid: 1,
            stats: OsStats::default(),
            jobs: VecDeque::new(),
            fresh: Vec::new(),
            dma_holds: BTreeMap::new(),
            pending_writes: BTreeMap::new(),
            orphans: std::collections::BTreeSet::new(),
            io: VecDeque::new(),
            replies: VecDeque::new(),
            next_io: 0,
            thrash: Thrashing::new(cfg.thrashing_window, cfg.thrashing_threshold),
            log_events: false,
            events: Vec::new(),
            leaf_tables: LeafTables::default(),
        })
    }

    /// Record [`OsEvent`]s for [`Kernel::take_events`] (off by default: a long run makes many).
    pub fn log_events(&mut self, on: bool) {
        self.log_events = on;
    }

    #[inline]
    pub(crate) fn event(&mut self, e: OsEvent) {
        if self.log_events {
            self.events.push(e);
        }
    }

    /// The events recorded since the last call.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, OsEvent> {
        self.events.drain(..)
    }

    /// Create a process with these segments (checked: page-aligned, non-empty, no overlaps).
    /// Its ASID is its pid. `dma` segments are populated with pinned frames at once.
    pub fn spawn(
        &mut self,
        phys: &mut PhysMem,
        mut segments: Vec<Segment>,
    ) -> Result<Pid, OsError> {
        segments.sort_by_key(|s| s.start);
        for s in &segments {
            check_segment(s)?;
        }
        for w in segments.windows(2) {
            if w[0].end > w[1].start {
                return Err(OsError::OverlappingSegments {
                    start: w[1].start.0,
                    end: w[1].end.0,
                    other_start: w[0].start.0,
                    other_end: w[0].end.0,
                });
            }
        }
        let pid = Pid(self.next_pid);
        self.next_pid += 1;
        let pt = PageTable::create(phys, &mut self.frames, pid.0, self.levels)?;
        self.stats.page_table_pages += 1;
        // Without PCID every translation carries tag 0 (CR4.PCIDE = 0), so only the flush at
        // each switch keeps processes apart. With PCID a process gets a hardware tag when it is
        // first dispatched.
        let asid = NO_ASID;
        self.processes.insert(Process {
            pid,
            asid,
            segments: Vec::new(),
            root: pt.root,
            status: ExitStatus::Running,
            resident_pages: 0,
            stats: ProcessStats::default(),
        });
        for s in segments {
            self.add_segment(phys, pid, s, true)?;
        }
        if self.cfg.kernel_pages > 0 {
            self.map_kernel(phys, pid)?;
        }
        Ok(pid)
    }

    /// Map the kernel's memory into `pid` (see [`OsConfig::kernel_pages`]): the first process
    /// makes the kernel object and its pinned frames, every process maps them with G.
    fn map_kernel(&mut self, phys: &mut PhysMem, pid: Pid) -> Result<(), OsError> {
        let pages = self.cfg.kernel_pages;
        let start = crate::page_table::kernel_base(self.levels);
        let seg = Segment {
            start: VirtAddr(start),
            end: VirtAddr(start + pages * PAGE_SIZE),
            perms: crate::segment::SegmentPerms {
                r: true,
                w: true,
                x: false,
                u: false,
            },
            kind: SegmentKind::Kernel,
        };
        let obj = match self.shm.iter().position(|o| o.name == KERNEL_OBJECT) {
            Some(o) => o,
            None => {
                self.shm.push(SharedObject::new(KERNEL_OBJECT, pages));
                let o = self.shm.len() - 1;
                for index in 0..pages {
                    let f = self.frames.alloc_data(Owner::Shared {
                        obj: o as u32,
                        index,
                    })?;
                    self.frames.pin(f);
                    phys.zero_frame(f);
                    self.shm[o].pages[index as usize] = ShmPage::Resident(f);
                }
                o
            }
        };
        self.shm[obj].attachments.push(Attachment {
            pid,
            start: seg.start,
            first: 0,
            pages,
        });
        let pt = self.page_table(pid).expect("live pid");
        let flags = seg.leaf_flags();
        for index in 0..pages {
            let ShmPage::Resident(f) = self.shm[obj].pages[index as usize] else {
                unreachable!("kernel pages are resident");
            };
            let va = VirtAddr(start + index * PAGE_SIZE);
            let t = pt.map(phys, &mut self.frames, pid.0, va, f, flags)?;
            self.stats.page_table_pages += t as u64;
        }
        let proc = self.processes.get_mut(pid).expect("live pid");
        proc.resident_pages += pages;
        proc.segments.push(seg);
        Ok(())
    }

    /// Put `seg` (checked, not overlapping) into `pid`'s segment list: attach it to its shared
    /// object. A DMA buffer is pinned: populated at once if `populate` (at spawn, so that a
    /// device can write into it from the start), else page by page at first touch (an mmap).
    pub(crate) fn add_segment(
        &mut self,
        phys: &mut PhysMem,
        pid: Pid,
        seg: Segment,
        populate: bool,
    ) -> Result<(), OsError> {
        let pages = (seg.end.0 - seg.start.0) / PAGE_SIZE;
        if let SegmentKind::Shared(name) = &seg.kind {
            let obj = match self.shm.iter().position(|o| &o.name == name) {
                Some(i) => i,
                None => {
                    self.shm.push(SharedObject::new(name, pages));
                    self.shm.len() - 1
                }
            };
            let o = &mut self.shm[obj];
            if pages > o.pages.len() as u64 {
                return Err(OsError::BadSegment {
                    start: seg.start.0,
                    end: seg.end.0,
                    msg: format!(
                        "shared object {name:?} has {} pages; this segment maps {pages}",
                        o.pages.len()
                    ),
                });
            }
            o.attachments.push(Attachment {
                pid,
                start: seg.start,
                first: 0,
                pages,
            });
        }
        let populate = populate && seg.kind == SegmentKind::Dma;
        let flags = seg.perms.pte_flags();
        let (start, end) = (seg.start, seg.end);
        let proc = self.processes.get_mut(pid).expect("live pid");
        let at = proc.segments.partition_point(|s| s.start < seg.start);
        proc.segments.insert(at, seg);
        if populate {
            let pt = self.page_table(pid).expect("live pid");
            let mut va = start;
            while va < end {
                if self.frames.free_count() < 1 + pt.missing_tables(phys, va) as u64 {
                    return Err(OsError::OutOfFrames {
                        frames: self.frames.total(),
                    });
                }
                let f = self.frames.alloc_data(Owner::Private {
                    pid: pid.0,
                    vpn: va.vpn(),
                })?;
                self.frames.pin(f);
                phys.zero_frame(f);
                let t = pt.map(phys, &mut self.frames, pid.0, va, f, flags)?;
                self.stats.page_table_pages += t as u64;
                self.processes.get_mut(pid).expect("live").resident_pages += 1;
                va = VirtAddr(va.0 + PAGE_SIZE);
            }
        }
        Ok(())
    }

    /// A fresh I/O request id.
    pub(crate) fn io_id(&mut self) -> u64 {
        self.next_io += 1;
        self.next_io
    }

    /// The next I/O request to submit, without taking it (the device may refuse).
    pub fn next_io(&self) -> Option<&IoRequest> {
        self.io.front()
    }
    /// Take the request [`Kernel::next_io`] showed: the device accepted it.
    pub fn pop_io(&mut self) -> Option<IoRequest> {
        self.io.pop_front()
    }

    /// The next fault reply, in the order the faults were resolved.
    pub fn take_reply(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }

    /// Whether fault replies wait to be taken.
    #[inline]
    pub fn has_replies(&self) -> bool {
        !self.replies.is_empty()
    }

    /// Faults queued or in service.
    pub fn faults_pending(&self) -> usize {
        self.jobs.len()
    }

    /// Every mapping of data frame `ppn` (empty for an unmapped or non-data frame).
    pub(crate) fn mappings(&self, ppn: Ppn) -> Vec<Mapping> {
        mappings_of(&self.frames, &self.processes, &self.shm, self.levels, ppn)
    }

    /// An access completed on frame `ppn` at `now` (the idealised `lru` policy's input).
    #[inline]
    pub fn touch(&mut self, ppn: Ppn, now: Cycle) {
        self.evictor.touch(ppn, now.0);
    }

    /// Whether the eviction policy wants [`Kernel::touch`] calls.
    pub fn wants_touches(&self) -> bool {
        self.evictor.policy() == crate::evict::EvictionPolicy::Lru
    }

    /// Release a private data frame that `pid` no longer maps (its slot too). A frame a
    /// device is writing into is freed when the transfer lands.
    pub(crate) fn release_private(&mut self, phys: &mut PhysMem, ppn: Ppn) {
        self.evictor.remove(ppn);
        if let Some(s) = self.frames.slot(ppn) {
            self.swap.release(s);
            self.frames.set_slot(ppn, None);
        }
        if self.dma_holds.contains_key(&ppn) {
            self.orphans.insert(ppn);
            return;
        }
        self.frames.free(ppn);
        phys.zero_frame(ppn);
    }

    /// A device DMA transfer into `ppn` was submitted: the frame is not reused before it lands.
    pub fn dma_hold(&mut self, ppn: Ppn) {
        *self.dma_holds.entry(ppn).or_insert(0) += 1;
    }

    /// A device DMA transfer into `ppn` landed.
    pub fn dma_release(&mut self, phys: &mut PhysMem, ppn: Ppn) {
        let Some(n) = self.dma_holds.get_mut(&ppn) else {
            return;
        };
        *n -= 1;
        if *n == 0 {
            self.dma_holds.remove(&ppn);
            if self.orphans.remove(&ppn) {
                self.frames.free(ppn);
                phys.zero_frame(ppn);
            }
        }
    }

    /// Kill `pid` with `signal` at `now`: free its memory, drop its translations, and return
    /// the reply for the core.
    pub(crate) fn kill(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        cause: Cause,
        mmu: &mut dyn Mmu,
    ) -> Reply {
        let Cause { signal, va, reason } = cause;
        let asid = self.processes[pid].asid;
        self.teardown(phys, pid, mmu);
        let proc = self.processes.get_mut(pid).expect("kill of a known pid");
        proc.status = ExitStatus::Killed {
            signal,
            va,
            reason: reason.clone(),
            cycle: now,
        };
        match signal {
            Signal::Sigsegv => self.stats.segv_kills += 1,
            Signal::Sigbus => self.stats.bus_kills += 1,
        }
        let ready = now + Cycles(self.cfg.kill_cycles);
        self.event(OsEvent {
            kind: OsEventKind::Kill(signal),
            start: now,
            end: ready,
            pid: Some(pid),
            va: Some(va),
            frame: None,
            slot: None,
        });
        Reply {
            pid,
            asid,
            trap: now,
            ready,
            action: ReplyAction::Kill {
                kind: match signal {
                    Signal::Sigsegv => FaultKind::Segv,
                    Signal::Sigbus => FaultKind::Bus,
                },
                signal,
                va,
                reason,
            },
        }
    }

    /// Free everything `pid` holds: its page tables, private frames and swap slots, and its
    /// attachments to shared objects (an object nobody maps any more is freed); drop every
    /// translation tagged with its address space.
    fn teardown(&mut self, phys: &mut PhysMem, pid: Pid, mmu: &mut dyn Mmu) {
        let Some(pt) = self.page_table(pid) else {
            return;
        };
        let fresh: Vec<Ppn> = self
            .fresh
            .iter()
            .filter(|&&(p, _)| p == pid)
            .map(|&(_, f)| f)
            .collect();
        self.fresh.retain(|&(p, _)| p != pid);
        let asid = self.processes[pid].asid;
        // Its table frames become free: forget where they were.
        self.leaf_tables.clear();
        let evictor = &mut self.evictor;
        let swap = &mut self.swap;
        let (holds, orphans) = (&self.dma_holds, &mut self.orphans);
        pt.destroy(phys, &mut self.frames, &mut |phys, frames, _vpn, pte| {
            if pte.present() {
                if matches!(frames.use_of(pte.ppn()), FrameUse::Data(_)) {
                    evictor.remove(pte.ppn());
                    if let Some(s) = frames.slot(pte.ppn()) {
                        swap.release(s);
                        frames.set_slot(pte.ppn(), None);
                    }
                    if holds.contains_key(&pte.ppn()) {
                        // A device is writing into it: freed when the transfer lands.
                        orphans.insert(pte.ppn());
                    } else {
                        frames.free(pte.ppn());
                        phys.zero_frame(pte.ppn());
                    }
                }
            } else if let Some(slot) = swap_slot(pte) {
                swap.release(slot);
            }
        });
        for obj in 0..self.shm.len() {
            self.shm[obj].attachments.retain(|a| a.pid != pid);
            self.release_object_if_unused(phys, obj);
        }
        // Frames its unretired faults brought in that outlive it (shared pages others map)
        // become eviction candidates.
        for f in fresh {
            if self.frames.owner(f).is_some()
                && !self.frames.pinned(f)
                && !self.orphans.contains(&f)
                && !self.evictor.contains(f)
            {
                self.evictor.insert(f, 0);
            }
        }
        let proc = self.processes.get_mut(pid).expect("live");
        proc.resident_pages = 0;
        proc.segments.clear();
        proc.root = Ppn(u64::MAX);
        if self.holds_translations(pid) {
            mmu.invalidate_asid(asid);
        }
        self.release_asid(pid);
    }

    /// Free the frames and slots of shared object `obj` if no process maps it any more.
    pub(crate) fn release_object_if_unused(&mut self, phys: &mut PhysMem, obj: usize) {
        if !self.shm[obj].attachments.is_empty() {
            return;
        }
        for i in 0..self.shm[obj].pages.len() {
            match std::mem::replace(&mut self.shm[obj].pages[i], ShmPage::Untouched) {
                ShmPage::Resident(f) => self.release_private(phys, f),
                ShmPage::Swapped(s) => self.swap.release(s),
                ShmPage::Untouched => {}
            }
        }
    }

    /// Mark a process as having run to completion; its memory stays mapped (for inspection)
    /// until [`Kernel::reap`].
    pub fn exit(&mut self, pid: Pid) {
        if let Some(p) = self.processes.get_mut(pid)
            && p.alive()
        {
            p.status = ExitStatus::Exited;
        }
    }

    /// Free the memory of an exited process, as the parent's `wait` would.
    pub fn reap(&mut self, phys: &mut PhysMem, pid: Pid, mmu: &mut dyn Mmu) {
        if self
            .processes
            .get(pid)
            .is_some_and(|p| p.status == ExitStatus::Exited)
        {
            self.teardown(phys, pid, mmu);
        }
    }

    /// Give the core to `pid` at `now`: returns its page-table root and address-space tag for
    /// the PTBR, and the cycles it costs. `first` is the machine's first dispatch (no process
    /// to switch from: free, and not counted). Without PCID every non-global translation is
    /// flushed. With PCID the process keeps its tag, and the TLB entries tagged with it, as
    /// long as it holds one of the `os.asids` hardware tags; a process without a tag takes a
    /// free one, or the least recently dispatched process's, whose entries are flushed first
    /// (as Linux recycles its per-CPU ASIDs).
    pub fn dispatch(
        &mut self,
        now: Cycle,
        pid: Pid,
        first: bool,
        mmu: &mut dyn Mmu,
    ) -> (Ppn, Asid, Cycles) {
        self.running = Some(pid);
        if !first {
            self.stats.context_switches += 1;
            if !self.cfg.pcid && !self.broken_skip_switch_flush {
                mmu.flush_non_global();
                self.stats.tlb_flushes += 1;
            }
        }
        if self.cfg.pcid {
            self.asid_clock += 1;
            let tag = self.processes[pid].asid;
            let slot = if tag != NO_ASID {
                tag.0 as usize - 1
            } else {
                let slot = match self.asid_slots.iter().position(|s| s.is_none()) {
                    Some(free) => free,
                    None => {
                        let lru = (0..self.asid_slots.len())
                            .min_by_key(|&i| self.asid_used[i])
                            .expect("at least one hardware ASID");
                        let victim = self.asid_slots[lru].take().expect("a full slot");
                        let old = Asid(lru as u16 + 1);
                        mmu.invalidate_asid(old);
                        self.processes.get_mut(victim).expect("tag holder").asid = NO_ASID;
                        self.stats.asid_recycles += 1;
                        self.stats.tlb_flushes += 1;
                        lru
                    }
                };
                let tag = Asid(slot as u16 + 1);
                self.asid_slots[slot] = Some(pid);
                self.processes.get_mut(pid).expect("dispatched pid").asid = tag;
                slot
            };
            self.asid_used[slot] = self.asid_clock;
        }
        let p = &self.processes[pid];
        let (root, asid) = (p.root, p.asid);
        let cost = if first {
            Cycles(0)
        } else {
            Cycles(self.cfg.switch_cycles)
        };
        if !first {
            self.event(OsEvent {
                kind: OsEventKind::ContextSwitch,
                start: now,
                end: now + cost,
                pid: Some(pid),
                va: None,
                frame: None,
                slot: None,
            });
        }
        (root, asid, cost)
    }

    /// Whether the TLBs may hold translations of `pid`: with PCID, while it holds a tag;
    /// without, only while it runs (every switch flushes).
    pub(crate) fn holds_translations(&self, pid: Pid) -> bool {
        if self.cfg.pcid {
            self.processes[pid].asid != NO_ASID
        } else {
            self.running == Some(pid) || self.broken_skip_switch_flush
        }
    }

    /// Give back `pid`'s hardware tag (it died), after its translations were dropped.
    fn release_asid(&mut self, pid: Pid) {
        let tag = self.processes[pid].asid;
        if self.cfg.pcid && tag != NO_ASID {
            self.asid_slots[tag.0 as usize - 1] = None;
            self.processes.get_mut(pid).expect("live").asid = NO_ASID;
        }
    }

    /// End of the run at `end`: close the thrashing accounting.
    pub fn finish(&mut self, end: Cycle) {
        self.stats.thrashing_windows = self.thrash.windows(end.0);
    }

    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(pid)
    }
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.iter()
    }
    /// The process whose translation tag `asid` is: with PCID the holder of that hardware
    /// tag; without, the running process (every process uses tag 0).
    pub fn pid_of(&self, asid: Asid) -> Option<Pid> {
        if self.cfg.pcid {
            let slot = (asid.0 as usize).wrapping_sub(1);
            self.asid_slots.get(slot).copied().flatten()
        } else {
            self.running
        }
    }

    /// Deliberately break the kernel: context switches without PCID skip the TLB flush, so a
    /// process can use another's translations. Only for the test that shows the isolation
    /// checks catch it.
    #[doc(hidden)]
    pub fn break_isolation_for_test(&mut self) {
        self.broken_skip_switch_flush = true;
    }
    pub fn frames(&self) -> &FrameAllocator {
        &self.frames
    }
    pub fn swap(&self) -> &SwapSpace {
        &self.swap
    }
    pub fn shared_objects(&self) -> &[SharedObject] {
        &self.shm
    }
    pub fn stats(&self) -> &OsStats {
        &self.stats
    }
    pub fn config(&self) -> &OsConfig {
        &self.cfg
    }
    /// The page table of `pid` (None once its memory is freed).
    pub fn page_table(&self, pid: Pid) -> Option<PageTable> {
        self.processes
            .get(pid)
            .filter(|p| p.root != Ppn(u64::MAX))
            .map(|p| PageTable {
                root: p.root,
                levels: self.levels,
            })
    }

    /// Check the kernel's invariants against physical memory; the first violation, described.
    ///
    /// - free + data + page-table frames = total, and no free frame is mapped;
    /// - every present leaf of a live address space maps a data frame whose reverse map names
    ///   this very mapping, with the flags its segment's permissions give (A and D aside);
    /// - every non-zero leaf (present or swap entry) lies inside a segment;
    /// - every present leaf of a shared segment maps the frame its object records as resident.
    pub fn check_invariants(&self, phys: &PhysMem) -> Result<(), String> {
        let f = &self.frames;
        if f.free_count() + f.data_count() + f.table_count() != f.total() {
            return Err(format!(
                "frame accounting: free {} + data {} + tables {} != total {}",
                f.free_count(),
                f.data_count(),
                f.table_count(),
                f.total()
            ));
        }
        for p in self.processes.iter() {
            let Some(pt) = self.page_table(p.pid) else {
                continue;
            };
            let mut leaves = Vec::new();
            collect_leaves(
                phys,
                pt.root,
                vmsim_hw::pte::Level::top(self.levels),
                0,
                self.levels,
                &mut leaves,
            );
            let mut resident = 0;
            for (va, pte) in leaves {
                let Some(seg) = p.segment_of(va) else {
                    return Err(format!(
                        "pid {}: leaf {:#x} for {:#x} outside every segment",
                        p.pid.0, pte.0, va.0
                    ));
                };
                if !pte.present() {
                    if swap_slot(pte).is_none() {
                        return Err(format!(
                            "pid {}: non-present leaf {:#x} at {:#x} is not a swap entry",
                            p.pid.0, pte.0, va.0
                        ));
                    }
                    continue;
                }
                resident += 1;
                let ppn = pte.ppn();
                let want = seg.leaf_flags();
                let got = pte.0 & !(Pte::A | Pte::D) & !PPN_BITS;
                if got != want {
                    return Err(format!(
                        "pid {}: PTE at {:#x} has flags {got:#x}, segment {} gives {want:#x}",
                        p.pid.0, va.0, seg.perms
                    ));
                }
                let ok = match (f.owner(ppn), &seg.kind) {
                    (
                        Some(Owner::Private { pid, vpn }),
                        SegmentKind::Anonymous | SegmentKind::Dma,
                    ) => pid == p.pid.0 && vpn == va.vpn(),
                    (
                        Some(Owner::Shared { obj, index }),
                        SegmentKind::Shared(_) | SegmentKind::Kernel,
                    ) => {
                        let o = &self.shm[obj as usize];
                        let name = match &seg.kind {
                            SegmentKind::Shared(n) => n.as_str(),
                            _ => KERNEL_OBJECT,
                        };
                        o.name == name
                            && o.index_of(p.pid, va) == Some(index)
                            && o.pages[index as usize] == ShmPage::Resident(ppn)
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "pid {}: {:#x} maps frame {} whose reverse map is {:?} ({:?})",
                        p.pid.0,
                        va.0,
                        ppn.0,
                        f.owner(ppn),
                        f.use_of(ppn)
                    ));
                }
            }
            if resident != p.resident_pages {
                return Err(format!(
                    "pid {}: {} pages mapped, resident_pages says {}",
                    p.pid.0, resident, p.resident_pages
                ));
            }
        }
        Ok(())
    }
}

/// Every mapping of data frame `ppn`, from the reverse map.
pub(crate) fn mappings_of(
    frames: &FrameAllocator,
    processes: &ProcessTable,
    shm: &[SharedObject],
    levels: u8,
    ppn: Ppn,
) -> Vec<Mapping> {
    let mut out = Vec::new();
    let mut push = |pid: Pid, va: VirtAddr| {
        if let Some(p) = processes.get(pid)
            && p.root != Ppn(u64::MAX)
        {
            out.push(Mapping {
                pid,
                asid: p.asid,
                va,
                pt: PageTable {
                    root: p.root,
                    levels,
                },
            });
        }
    };
    match frames.owner(ppn) {
        Some(Owner::Private { pid, vpn }) => push(Pid(pid), vpn.base()),
        Some(Owner::Shared { obj, index }) => {
            for a in &shm[obj as usize].attachments {
                if let Some(va) = a.va_of(index) {
                    push(a.pid, va);
                }
            }
        }
        None => {}
    }
    out
}

/// Clock's reference test: whether any PTE mapping `ppn` has A set, clearing them all.
pub(crate) fn test_and_clear_accessed(
    frames: &FrameAllocator,
    processes: &ProcessTable,
    shm: &[SharedObject],
    levels: u8,
    phys: &mut PhysMem,
    ppn: Ppn,
) -> bool {
    let mut referenced = false;
    for m in mappings_of(frames, processes, shm, levels, ppn) {
        if let Some((addr, pte)) = m.pt.leaf(phys, m.va)
            && pte.present()
            && pte.ppn() == ppn
            && pte.accessed()
        {
            phys.write_pte(addr, Pte(pte.0 & !Pte::A));
            referenced = true;
        }
    }
    referenced
}

const PPN_BITS: u64 = ((1u64 << 52) - 1) & !(PAGE_SIZE - 1);

fn collect_leaves(
    phys: &PhysMem,
    table: Ppn,
    level: vmsim_hw::pte::Level,
    base: u64,
    levels: u8,
    out: &mut Vec<(VirtAddr, Pte)>,
) {
    for i in 0..vmsim_hw::pte::ENTRIES_PER_TABLE as u64 {
        let pte = phys.read_pte(vmsim_hw::PhysAddr(
            table.base().0 + i * vmsim_hw::pte::PTE_BYTES,
        ));
        if pte.0 == 0 {
            continue;
        }
        let va = crate::page_table::canonical(base + (i << level.shift()), levels);
        match level.next() {
            Some(next) if pte.present() => collect_leaves(phys, pte.ppn(), next, va, levels, out),
            Some(_) => {}
            None => out.push((VirtAddr(va), pte)),
        }
    }
}

/// A segment must be non-empty, page aligned and in the 47-bit user half.
pub(crate) fn check_segment(s: &Segment) -> Result<(), OsError> {
    if s.start >= s.end
        || !s.start.0.is_multiple_of(PAGE_SIZE)
        || !s.end.0.is_multiple_of(PAGE_SIZE)
    {
        return Err(OsError::BadSegment {
            start: s.start.0,
            end: s.end.0,
            msg: "must be non-empty and 4 KiB aligned at both ends".into(),
        });
    }
    if s.end.0 > 1 << 47 {
        return Err(OsError::BadSegment {
            start: s.start.0,
            end: s.end.0,
            msg: "must lie below 0x800000000000 (the 47-bit user half)".into(),
        });
    }
    Ok(())
}
