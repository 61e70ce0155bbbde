//! The page-fault handler: the background text's `handle_page_fault`, done properly, as a state
//! machine that waits for the DMA engine and the disk.
//!
//! Faults are serviced concurrently: a fault waiting for I/O does not hold up the others (its
//! process gives up the core meanwhile, if another can run). Jobs are advanced oldest first; a
//! fault on a page that another fault is bringing in, or whose eviction has not yet queued its
//! disk write, waits for it (so a slot is never read before its write is queued). A fault that
//! arrives while no other is in service (the common case) goes through the same steps at once
//! and joins the queue only if it has to wait. Servicing a fault:
//! 1. **Classify.** Look the address up in the process's segment list. An address outside
//!    every segment, or an access the segment forbids (read, write, execute, user), kills the
//!    process with SIGSEGV. A present PTE whose flags lag behind the segment's permissions is
//!    rewritten (a protection fault that is fixed). Otherwise the page's content comes from
//!    nowhere (never touched: zero-fill, a minor fault), from its swap slot (a major fault), or
//!    is already resident (a shared page another process brought in: a minor fault).
//! 2. **Make room.** The new page and any missing page-table pages need free frames. While
//!    there are too few, the eviction policy picks a victim: every PTE mapping it is replaced by
//!    a swap entry (or cleared, for a shared page, whose object records the slot) and the
//!    translations are invalidated; a dirty victim, or one with no good copy on the swap
//!    device, is written out: the DMA engine reads the frame (the fault waits for it), then the
//!    disk write is queued and the frame is free. The write completes in the background, in
//!    FIFO order with later reads of the same slot.
//! 3. **Fill.** Zero-fill, or read the slot from the disk and have the DMA engine write it into
//!    the frame (the fault waits for both); a failed read kills the process with SIGBUS.
//! 4. **Map** the page with the segment's permissions (allocating page-table pages), and reply
//!    "retry" to the core after `os.fault_cycles` (minor) or `os.major_fault_cycles` (major)
//!    more cycles, counted from the last I/O completion.

use crate::error::OsError;
use crate::frames::Owner;
use crate::kernel::{Cause, Kernel, OsEvent, OsEventKind, Reply, ReplyAction};
use crate::mmu::{IoRequest, Mmu};
use crate::page_table::{PageTable, leaf_entry};
use crate::process::{Pid, Signal};
use crate::segment::SegmentKind;
use crate::shm::ShmPage;
use crate::swap::{swap_pte, swap_slot};
use vmsim_hw::core::FaultKind;
use vmsim_hw::disk::{DiskCompletion, DiskOp, DiskRequest};
use vmsim_hw::dma::{DmaCompletion, DmaDescriptor};
use vmsim_hw::memory::PhysMem;
use vmsim_hw::pte::Pte;
use vmsim_hw::walker::{Fault, FaultReason};
use vmsim_hw::{AccessKind, Cycle, Cycles, PhysAddr, Ppn, VirtAddr};

/// A fault being serviced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FaultJob {
    fault: Fault,
    pid: Pid,
    trap: Cycle,
    state: JobState,
    /// The fault waited for the swap device (a swap-out of a victim, or a swap-in).
    paged: bool,
}

#[derive(Clone, Copy, Debug)]
enum JobState {
    New,
    NeedFrames(Plan),
    WaitEvict {
        io: u64,
        victim: Ppn,
        /// The victim's page: busy until its disk write is queued.
        victim_key: PageKey,
        slot: u64,
        plan: Plan,
    },
    WaitRead {
        io: u64,
        frame: Ppn,
        slot: u64,
        plan: Plan,
    },
    WaitFill {
        io: u64,
        frame: Ppn,
        slot: u64,
        plan: Plan,
    },
}

/// What the fault will map, once classified.
#[derive(Clone, Copy, Debug)]
struct Plan {
    va: VirtAddr,
    page: PageRef,
    flags: u64,
    pinned: bool,
    source: Source,
    /// The page's leaf entry, if its page tables existed when the fault was classified. Table
    /// pages are freed only with the whole page table, so it stays valid: mapping the page
    /// needs no second walk.
    leaf: Option<PhysAddr>,
}

/// A virtual page as the kernel tracks it: private to a process, or a shared object's page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageKey {
    Private(Pid, u64),
    Shared(u32, u64),
}

impl JobState {
    /// The I/O request this job waits for.
    fn io(&self) -> Option<u64> {
        match self {
            JobState::WaitEvict { io, .. }
            | JobState::WaitRead { io, .. }
            | JobState::WaitFill { io, .. } => Some(*io),
            _ => None,
        }
    }
}

impl Plan {
    fn key(&self, pid: Pid) -> PageKey {
        match self.page {
            PageRef::Private => PageKey::Private(pid, self.va.vpn().0),
            PageRef::Shared { obj, index } => PageKey::Shared(obj, index),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageRef {
    Private,
    Shared { obj: u32, index: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Zero,
    Swap(u64),
    Frame(Ppn),
}

enum Step {
    Reply(Reply),
    Next(JobState),
    Wait(JobState),
}

impl Kernel {
    /// Service a fault the hardware raised at `now`. The reply comes out of
    /// [`Kernel::take_reply`], at once or after the I/O it needs.
    pub fn handle_fault(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        fault: &Fault,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        let pid = self
            .pid_of(fault.asid)
            .ok_or(OsError::UnknownAsid(fault.asid.0))?;
        if self.jobs.is_empty() && self.zero_fill_at_once(now, phys, pid, fault)? {
            return Ok(());
        }
        self.handle_fault_queued(now, phys, pid, fault, mmu)
    }

    /// [`Kernel::handle_fault`] through the job machinery: [`Kernel::step`] until the fault is
    /// answered or has to wait (or, if other faults are in service, through the queue).
    fn handle_fault_queued(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        fault: &Fault,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        let mut job = FaultJob {
            fault: *fault,
            pid,
            trap: now,
            state: JobState::New,
            paged: false,
        };
        if !self.jobs.is_empty() {
            self.jobs.push_back(job);
            return self.advance(now, phys, mmu);
        }
        // The common case: no other fault is in service, so no page is busy and no older job
        // goes first. Serve this one here, as `advance` would, and queue it only if it has to
        // wait (one that finds free frames and reads nothing from swap never does).
        loop {
            match self.step(now, phys, &job, mmu) {
                Ok(Step::Reply(r)) => {
                    self.finish_job(job, r);
                    return Ok(());
                }
                Ok(Step::Next(s)) => job.state = s,
                Ok(Step::Wait(s)) => {
                    job.state = s;
                    job.paged = true;
                    self.jobs.push_back(job);
                    return Ok(());
                }
                Err(e) => {
                    self.jobs.push_back(job);
                    return Err(e);
                }
            }
        }
    }

    /// The most common fault, served in one pass: no other fault is in service, the page lies
    /// in a private (anonymous or DMA) segment of a live process that permits the access, its
    /// leaf entry is neither present nor a swap entry (a first touch: zero-fill), and at least
    /// `levels` frames are free (the page and every table it may need: no eviction). Under
    /// these conditions the job machinery ([`Kernel::classify`], then one round of
    /// [`Kernel::make_room`] that evicts nothing, then [`Kernel::finish_job`]) makes exactly
    /// the changes made here, in the same order: the same counters, the same frames (data
    /// frame first, then any missing tables top down), the same PTEs, the same reply and event.
    /// This pass only skips building the job, the plan and the intermediate steps, looks the
    /// process up once, and finds the leaf entry through the memo of last-level tables
    /// ([`crate::page_table::LeafTables`]: host-side only, so filling it is no change).
    ///
    /// Returns false, having changed nothing, if a condition does not hold (the caller then
    /// takes the general path).
    fn zero_fill_at_once(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        fault: &Fault,
    ) -> Result<bool, OsError> {
        let levels = self.levels;
        if self.frames.free_count() < u64::from(levels) {
            return Ok(false);
        }
        let Some(proc) = self.processes.get_mut(pid) else {
            return Ok(false);
        };
        if !proc.alive() || proc.root == Ppn(u64::MAX) {
            return Ok(false);
        }
        let Some(seg) = proc.segment_of(fault.va) else {
            return Ok(false);
        };
        let pinned = match seg.kind {
            SegmentKind::Anonymous => false,
            SegmentKind::Dma => true,
            SegmentKind::Shared(_) | SegmentKind::Kernel => return Ok(false),
        };
        if !seg.perms.permits(fault.kind, fault.user) {
            return Ok(false);
        }
        let flags = seg.leaf_flags();
        let va = fault.va.vpn().base();
        let pt = PageTable {
            root: proc.root,
            levels,
        };
        // The walk `classify` does, through the memo of last-level tables.
        let table = match self.leaf_tables.get(pt.root, va) {
            Some(t) => Some(t),
            None => {
                let t = pt.leaf_table_of(phys, va);
                if let Some(t) = t {
                    self.leaf_tables.insert(pt.root, va, t);
                }
                t
            }
        };
        let entry = table.map(|t| leaf_entry(t, va));
        if let Some(entry) = entry {
            let pte = phys.read_pte(entry);
            if pte.present() || swap_slot(pte).is_some() {
                return Ok(false);
            }
        }
        // Committed: from here on, what `classify`, `make_room`, `install`, `map_page`,
        // `count_fault`, `retry` and `finish_job` do, in their order.
        proc.stats.faults += 1;
        if fault.reason == FaultReason::Protection {
            self.stats.protection_faults += 1;
            proc.stats.protection_faults += 1;
        }
        let f = self.frames.alloc_data(Owner::Private {
            pid: pid.0,
            vpn: va.vpn(),
        })?;
        phys.zero_frame(f);
        if pinned {
            self.frames.pin(f);
        } else {
            // Not a candidate until the faulting access has retried (see `retired`).
            self.fresh.push((pid, f));
        }
        let tables = match entry {
            Some(entry) => {
                pt.map_leaf(phys, entry, f, flags);
                0
            }
            None => pt.map(phys, &mut self.frames, pid.0, va, f, flags)?,
        };
        self.stats.page_table_pages += u64::from(tables);
        proc.resident_pages += 1;
        self.count_fault(pid, FaultKind::Minor);
        let ready = now + Cycles(self.cfg.fault_cycles);
        let job = FaultJob {
            fault: *fault,
            pid,
            trap: now,
            state: JobState::New,
            paged: false,
        };
        self.finish_job(job, self.retry(pid, now, ready, FaultKind::Minor));
        Ok(true)
    }

    /// A DMA completion interrupt at `now` (the engine's completion for one of the kernel's
    /// descriptors; others are ignored).
    pub fn on_dma(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        c: DmaCompletion,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        let Some(i) = self.jobs.iter().position(|j| j.state.io() == Some(c.id)) else {
            return Ok(());
        };
        let job = &self.jobs[i];
        match job.state {
            JobState::WaitEvict {
                victim, slot, plan, ..
            } => {
                let content = c
                    .data
                    .expect("a memory-to-device transfer carries the frame");
                if self.swap.unpin(slot) {
                    // The page died while it was being read out: nothing to keep.
                    self.stats.swap_outs_dropped += 1;
                } else {
                    let generation = self.swap.written(slot, &content);
                    let id = self.io_id();
                    self.pending_writes.insert(id, generation);
                    self.io.push_back(IoRequest::Disk(DiskRequest {
                        id,
                        block: slot,
                        op: DiskOp::Write(content),
                    }));
                    self.stats.swap_outs += 1;
                }
                self.frames.free(victim);
                phys.zero_frame(victim);
                self.event(OsEvent {
                    kind: OsEventKind::SwapOut,
                    start: c.accepted,
                    end: c.done,
                    pid: None,
                    va: None,
                    frame: Some(victim),
                    slot: Some(slot),
                });
                self.jobs[i].state = JobState::NeedFrames(plan);
                self.advance(now, phys, mmu)
            }
            JobState::WaitFill {
                frame, slot, plan, ..
            } => {
                let (pid, trap) = (job.pid, job.trap);
                self.frames.set_slot(frame, Some(slot));
                self.install(now, phys, pid, &plan, frame)?;
                self.stats.swap_ins += 1;
                self.count_fault(pid, FaultKind::Major);
                self.event(OsEvent {
                    kind: OsEventKind::SwapIn,
                    start: c.accepted,
                    end: c.done,
                    pid: Some(pid),
                    va: Some(plan.va),
                    frame: Some(frame),
                    slot: Some(slot),
                });
                let reply = self.retry(
                    pid,
                    trap,
                    now + Cycles(self.cfg.major_fault_cycles),
                    FaultKind::Major,
                );
                let job = self.jobs.remove(i).expect("a job in service");
                self.finish_job(job, reply);
                self.advance(now, phys, mmu)
            }
            _ => Ok(()),
        }
    }

    /// A disk completion interrupt at `now`.
    pub fn on_disk(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        c: DiskCompletion,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        if c.write {
            let generation = self.pending_writes.remove(&c.id);
            if c.result.is_err() {
                if let Some(g) = generation {
                    self.swap.write_failed(c.block, g);
                }
                self.stats.swap_write_errors += 1;
            }
            return Ok(());
        }
        let Some(i) = self.jobs.iter().position(|j| j.state.io() == Some(c.id)) else {
            return Ok(());
        };
        let job = &self.jobs[i];
        let JobState::WaitRead {
            frame, slot, plan, ..
        } = job.state
        else {
            return Ok(());
        };
        let (pid, va) = (job.pid, job.fault.va);
        match c.result {
            // The FIFO disk served every earlier write of this slot first: a failed one has
            // marked it bad by now.
            Ok(Some(content)) if !self.swap.is_bad(slot) => {
                if !self.swap.intact(slot, &content) {
                    self.stats.swap_integrity_errors += 1;
                }
                let id = self.io_id();
                self.io
                    .push_back(IoRequest::Dma(DmaDescriptor::page_to_memory(
                        id, frame, slot, content,
                    )));
                self.jobs[i].state = JobState::WaitFill {
                    io: id,
                    frame,
                    slot,
                    plan,
                };
                Ok(())
            }
            other => {
                self.frames.free(frame);
                let why = match other {
                    Err(e) => format!("swap-in of slot {slot} failed: {e}"),
                    Ok(_) => format!("swap slot {slot} was lost: its write failed"),
                };
                let reply = self.kill(
                    now,
                    phys,
                    pid,
                    Cause {
                        signal: Signal::Sigbus,
                        va,
                        reason: why,
                    },
                    mmu,
                );
                let job = self.jobs.remove(i).expect("a job in service");
                self.finish_job(job, reply);
                self.advance(now, phys, mmu)
            }
        }
    }

    /// Run every job that can go on, oldest first, as far as it goes without waiting. A job
    /// whose page another job is bringing in or writing out waits for that job; when a job
    /// finishes, the scan starts again from the oldest.
    fn advance(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        let mut i = 0;
        while i < self.jobs.len() {
            let job = self.jobs[i];
            let waits = match job.state {
                JobState::New => self
                    .page_key(job.pid, job.fault.va)
                    .is_some_and(|k| self.busy(k, i)),
                JobState::NeedFrames(_) => false,
                _ => true,
            };
            if waits {
                i += 1;
                continue;
            }
            match self.step(now, phys, &job, mmu)? {
                Step::Reply(r) => {
                    let job = self.jobs.remove(i).expect("a job in service");
                    self.finish_job(job, r);
                    i = 0;
                }
                Step::Next(s) => self.jobs[i].state = s,
                Step::Wait(s) => {
                    self.jobs[i].state = s;
                    self.jobs[i].paged = true;
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// One step of a job that can go on (a new one, or one waiting for frames): classify the
    /// fault, or make room for its page and fill it.
    fn step(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        job: &FaultJob,
        mmu: &mut dyn Mmu,
    ) -> Result<Step, OsError> {
        match job.state {
            JobState::New => self.classify(now, phys, job.pid, &job.fault, mmu),
            JobState::NeedFrames(plan) => {
                self.make_room(now, phys, job.pid, job.fault.va, plan, mmu)
            }
            _ => unreachable!("a job waiting for I/O does not step"),
        }
    }

    /// The page `va` of `pid` is, if it lies in a segment.
    fn page_key(&self, pid: Pid, va: VirtAddr) -> Option<PageKey> {
        let seg = self.processes.get(pid)?.segment_of(va)?;
        let va = va.vpn().base();
        Some(match seg.kind {
            SegmentKind::Shared(_) | SegmentKind::Kernel => {
                let (obj, index) = self.shared_page(pid, va);
                PageKey::Shared(obj, index)
            }
            _ => PageKey::Private(pid, va.vpn().0),
        })
    }

    /// Whether a job other than number `except` is bringing page `key` in or writing it out.
    fn busy(&self, key: PageKey, except: usize) -> bool {
        self.jobs.iter().enumerate().any(|(j, job)| {
            j != except
                && match job.state {
                    JobState::New => false,
                    JobState::WaitEvict {
                        victim_key, plan, ..
                    } => victim_key == key || plan.key(job.pid) == key,
                    JobState::NeedFrames(plan)
                    | JobState::WaitRead { plan, .. }
                    | JobState::WaitFill { plan, .. } => plan.key(job.pid) == key,
                }
        })
    }

    /// The faulting access of `pid` retried and completed at `now`: the frames its faults
    /// brought in become eviction candidates. (Until then they are not: two processes short of
    /// frames would otherwise take each other's page before either could use it, forever.)
    pub fn retired(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        mmu: &mut dyn Mmu,
    ) -> Result<(), OsError> {
        let (frames, evictor) = (&self.frames, &mut self.evictor);
        let mut candidate = |f: Ppn| {
            if !frames.pinned(f) && frames.owner(f).is_some() && !evictor.contains(f) {
                evictor.insert(f, now.0);
            }
        };
        match self.fresh[..] {
            // The common case: the one frame brought in is this access's.
            [(p, f)] if p == pid => {
                self.fresh.clear();
                candidate(f);
            }
            _ if !self.fresh.iter().any(|&(p, _)| p == pid) => return Ok(()),
            _ => self.fresh.retain(|&(p, f)| {
                if p != pid {
                    return true;
                }
                candidate(f);
                false
            }),
        }
        if self
            .jobs
            .iter()
            .any(|j| matches!(j.state, JobState::NeedFrames(_)))
        {
            self.advance(now, phys, mmu)?;
        }
        Ok(())
    }

    /// Whether `pid` has a fault in service (its process waits for the kernel).
    pub fn fault_pending(&self, pid: Pid) -> bool {
        self.jobs.iter().any(|j| j.pid == pid)
    }

    fn classify(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        fault: &Fault,
        mmu: &mut dyn Mmu,
    ) -> Result<Step, OsError> {
        let proc = self.processes.get_mut(pid).expect("fault of a known pid");
        if !proc.alive() {
            return Ok(self.segv(
                now,
                phys,
                pid,
                fault.va,
                "process is no longer running",
                mmu,
            ));
        }
        proc.stats.faults += 1;
        if fault.reason == FaultReason::Protection {
            self.stats.protection_faults += 1;
            proc.stats.protection_faults += 1;
        }
        let seg = match proc.segment_of(fault.va) {
            None => Err("address outside every segment"),
            Some(s) if !s.perms.permits(fault.kind, fault.user) => Err(match fault.kind {
                _ if fault.user && !s.perms.u => "user access to a kernel segment",
                AccessKind::Read => "read of a segment without read permission",
                AccessKind::Write => "write to a read-only segment",
                AccessKind::Execute => "execute in a no-execute segment",
            }),
            // What the fault needs of the segment (not a clone: a shared one's name is a String).
            Some(s) => Ok((
                s.leaf_flags(),
                matches!(s.kind, SegmentKind::Shared(_) | SegmentKind::Kernel),
                matches!(s.kind, SegmentKind::Dma),
            )),
        };
        let (flags, shared, pinned) = match seg {
            Ok(s) => s,
            Err(reason) => {
                return Ok(self.segv(now, phys, pid, fault.va, reason, mmu));
            }
        };
        let asid = proc.asid;
        let va = fault.va.vpn().base();
        let pt = self.page_table(pid).expect("live process");
        let leaf = pt.leaf(phys, va);
        if let Some((addr, pte)) = leaf
            && pte.present()
        {
            // The segment allows the access and the page is mapped: the PTE's flags lag behind
            // the segment's permissions. Rewrite them.
            phys.write_pte(
                addr,
                Pte::new(pte.ppn(), flags).with(pte.0 & (Pte::A | Pte::D)),
            );
            mmu.invalidate_page(asid, va.vpn());
            return Ok(Step::Reply(self.retry(
                pid,
                now,
                now + Cycles(self.cfg.fault_cycles),
                FaultKind::Protection,
            )));
        }
        let (page, source) = if shared {
            let (obj, index) = self.shared_page(pid, va);
            (
                PageRef::Shared { obj, index },
                self.shared_source(obj, index),
            )
        } else {
            let source = match leaf.and_then(|(_, pte)| swap_slot(pte)) {
                Some(s) => Source::Swap(s),
                None => Source::Zero,
            };
            (PageRef::Private, source)
        };
        Ok(Step::Next(JobState::NeedFrames(Plan {
            va,
            page,
            flags,
            pinned,
            source,
            leaf: leaf.map(|(entry, _)| entry),
        })))
    }

    /// Evict until the plan's frames are free, then fill the page (or start reading it).
    fn make_room(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        fault_va: VirtAddr,
        plan: Plan,
        mmu: &mut dyn Mmu,
    ) -> Result<Step, OsError> {
        let pt = self.page_table(pid).expect("live process");
        let mut plan = plan;
        loop {
            // A shared page's state may have changed while this job waited (another process
            // brought it in, or an eviction took it out): read it afresh.
            if let PageRef::Shared { obj, index } = plan.page {
                plan.source = self.shared_source(obj, index);
            }
            let needed = |phys: &PhysMem| {
                pt.missing_tables(phys, plan.va) as u64
                    + u64::from(!matches!(plan.source, Source::Frame(_)))
            };
            // The page and a table at every level below the root take at most `levels`
            // frames: with that many free, there is no need to walk and count.
            let free = self.frames.free_count();
            if free >= u64::from(self.levels) || free >= needed(phys) {
                break;
            }
            let (frames, processes, shm, levels) =
                (&self.frames, &self.processes, &self.shm, self.levels);
            let victim = self.evictor.pick(&mut |p| {
                crate::kernel::test_and_clear_accessed(frames, processes, shm, levels, phys, p)
            });
            let Some(victim) = victim else {
                // Every frame is a page table, pinned, in transit for another fault, or just
                // brought in for an access that has not retried yet: wait for that I/O or
                // retry to free one. With neither in flight nothing ever will.
                if self.jobs.iter().any(|j| j.state.io().is_some()) || !self.fresh.is_empty() {
                    return Ok(Step::Wait(JobState::NeedFrames(plan)));
                }
                return Err(OsError::OutOfFrames {
                    frames: self.frames.total(),
                });
            };
            self.stats.evictions += 1;
            let victim_key = match self.frames.owner(victim) {
                Some(Owner::Private { pid, vpn }) => PageKey::Private(Pid(pid), vpn.0),
                Some(Owner::Shared { obj, index }) => PageKey::Shared(obj, index),
                None => unreachable!("an eviction candidate is a data frame"),
            };
            let maps = self.mappings(victim);
            let dirty = maps.iter().any(|m| {
                m.pt.leaf(phys, m.va)
                    .is_some_and(|(_, p)| p.present() && p.ppn() == victim && p.dirty())
            });
            let copy = self.frames.slot(victim).filter(|s| !self.swap.is_bad(*s));
            let write = dirty || copy.is_none();
            let slot = match copy {
                Some(s) => s,
                None => match self.frames.slot(victim) {
                    Some(s) => s,
                    None => self.swap.alloc().ok_or(OsError::SwapFull)?,
                },
            };
            for m in &maps {
                if let Some((addr, p)) = m.pt.leaf(phys, m.va)
                    && p.present()
                    && p.ppn() == victim
                {
                    let entry = match self.frames.owner(victim) {
                        Some(Owner::Shared { .. }) => Pte(0),
                        _ => swap_pte(slot),
                    };
                    phys.write_pte(addr, entry);
                    if self.holds_translations(m.pid) {
                        mmu.invalidate_page(m.asid, m.va.vpn());
                    }
                    self.processes
                        .get_mut(m.pid)
                        .expect("mapped by a live pid")
                        .resident_pages -= 1;
                }
            }
            if let Some(Owner::Shared { obj, index }) = self.frames.owner(victim) {
                self.shm[obj as usize].pages[index as usize] = ShmPage::Swapped(slot);
            }
            self.event(OsEvent {
                kind: OsEventKind::Eviction,
                start: now,
                end: now,
                pid: maps.first().map(|m| m.pid),
                va: maps.first().map(|m| m.va),
                frame: Some(victim),
                slot: Some(slot),
            });
            if write {
                // The slot must not be reused before this write is queued.
                self.swap.pin(slot);
                let io = self.io_id();
                self.io
                    .push_back(IoRequest::Dma(DmaDescriptor::page_to_device(
                        io, victim, slot,
                    )));
                return Ok(Step::Wait(JobState::WaitEvict {
                    io,
                    victim,
                    victim_key,
                    slot,
                    plan,
                }));
            }
            // A clean page with a good copy: its swap entries now own the slot.
            self.frames.set_slot(victim, None);
            self.frames.free(victim);
            phys.zero_frame(victim);
        }
        let owner = match plan.page {
            PageRef::Private => Owner::Private {
                pid: pid.0,
                vpn: plan.va.vpn(),
            },
            PageRef::Shared { obj, index } => Owner::Shared { obj, index },
        };
        match plan.source {
            Source::Frame(f) => {
                if self.evictor.contains(f) {
                    self.evictor.remove(f);
                    self.fresh.push((pid, f));
                }
                self.map_page(phys, pid, &plan, f)?;
                self.count_fault(pid, FaultKind::Minor);
                Ok(Step::Reply(self.retry(
                    pid,
                    now,
                    now + Cycles(self.cfg.fault_cycles),
                    FaultKind::Minor,
                )))
            }
            Source::Zero => {
                let f = self.frames.alloc_data(owner)?;
                phys.zero_frame(f);
                self.install(now, phys, pid, &plan, f)?;
                self.count_fault(pid, FaultKind::Minor);
                Ok(Step::Reply(self.retry(
                    pid,
                    now,
                    now + Cycles(self.cfg.fault_cycles),
                    FaultKind::Minor,
                )))
            }
            Source::Swap(slot) if self.swap.is_bad(slot) => {
                let why = format!("swap slot {slot} was lost: its write failed");
                Ok(Step::Reply(self.kill(
                    now,
                    phys,
                    pid,
                    Cause {
                        signal: Signal::Sigbus,
                        va: fault_va,
                        reason: why,
                    },
                    mmu,
                )))
            }
            Source::Swap(slot) => {
                let frame = self.frames.alloc_data(owner)?;
                // The page's tables now, while the frames counted for them are free: other
                // faults may take free frames while this one waits for the disk.
                let t = pt.ensure_tables(phys, &mut self.frames, pid.0, plan.va)?;
                self.stats.page_table_pages += t as u64;
                let io = self.io_id();
                self.io.push_back(IoRequest::Disk(DiskRequest {
                    id: io,
                    block: slot,
                    op: DiskOp::Read,
                }));
                Ok(Step::Wait(JobState::WaitRead {
                    io,
                    frame,
                    slot,
                    plan,
                }))
            }
        }
    }

    /// Kill `pid` with SIGSEGV for an access at `va`: the fault's answer.
    fn segv(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        va: VirtAddr,
        reason: &str,
        mmu: &mut dyn Mmu,
    ) -> Step {
        let cause = Cause {
            signal: Signal::Sigsegv,
            va,
            reason: reason.into(),
        };
        Step::Reply(self.kill(now, phys, pid, cause, mmu))
    }

    /// The shared object and page that `pid` maps at `va` (in a shared or kernel segment).
    fn shared_page(&self, pid: Pid, va: VirtAddr) -> (u32, u64) {
        self.shm
            .iter()
            .enumerate()
            .find_map(|(i, o)| o.index_of(pid, va).map(|x| (i as u32, x)))
            .expect("a shared segment is attached to its object")
    }

    /// Where a shared page's content is now.
    fn shared_source(&self, obj: u32, index: u64) -> Source {
        match self.shm[obj as usize].pages[index as usize] {
            ShmPage::Untouched => Source::Zero,
            ShmPage::Resident(f) => Source::Frame(f),
            ShmPage::Swapped(s) => Source::Swap(s),
        }
    }

    /// Count a fault of `kind` (minor or major) for the machine and for `pid`.
    #[inline]
    fn count_fault(&mut self, pid: Pid, kind: FaultKind) {
        let p = &mut self.processes.get_mut(pid).expect("live").stats;
        if kind == FaultKind::Major {
            self.stats.major_faults += 1;
            p.major_faults += 1;
        } else {
            self.stats.minor_faults += 1;
            p.minor_faults += 1;
        }
    }

    /// Map the filled frame `f` for the plan: it becomes a resident page (an eviction
    /// candidate unless pinned) of its process or shared object.
    fn install(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        plan: &Plan,
        f: Ppn,
    ) -> Result<(), OsError> {
        if plan.pinned {
            self.frames.pin(f);
        } else {
            // Not a candidate until the faulting access has retried (see `retired`).
            let _ = now;
            self.fresh.push((pid, f));
        }
        if let PageRef::Shared { obj, index } = plan.page {
            self.shm[obj as usize].pages[index as usize] = ShmPage::Resident(f);
        }
        self.map_page(phys, pid, plan, f)
    }

    /// Map frame `f` at the plan's page (allocating any missing page-table pages): one more
    /// resident page for `pid`.
    fn map_page(
        &mut self,
        phys: &mut PhysMem,
        pid: Pid,
        plan: &Plan,
        f: Ppn,
    ) -> Result<(), OsError> {
        let pt = self.page_table(pid).expect("live process");
        let t = match plan.leaf {
            Some(entry) => {
                pt.map_leaf(phys, entry, f, plan.flags);
                0
            }
            None => pt.map(phys, &mut self.frames, pid.0, plan.va, f, plan.flags)?,
        };
        self.stats.page_table_pages += t as u64;
        self.processes.get_mut(pid).expect("live").resident_pages += 1;
        Ok(())
    }

    #[inline]
    fn retry(&self, pid: Pid, trap: Cycle, ready: Cycle, kind: FaultKind) -> Reply {
        Reply {
            pid,
            asid: self.processes[pid].asid,
            trap,
            ready,
            action: ReplyAction::Retry(kind),
        }
    }

    /// `job` is done (and out of the queue): account for it and queue its reply.
    #[inline]
    fn finish_job(&mut self, job: FaultJob, mut reply: Reply) {
        reply.trap = job.trap;
        let cycles = (reply.ready - job.trap).0;
        self.stats.fault_cycles += cycles;
        if let Some(p) = self.processes.get_mut(job.pid) {
            p.stats.fault_cycles += cycles;
        }
        if job.paged {
            self.thrash.add(job.trap.0, reply.ready.0);
        }
        let kind = match &reply.action {
            ReplyAction::Retry(k) => Some(*k),
            ReplyAction::Kill { .. } => None,
        };
        if let Some(k) = kind {
            self.event(OsEvent {
                kind: OsEventKind::Fault(k),
                start: job.trap,
                end: reply.ready,
                pid: Some(job.pid),
                va: Some(job.fault.va),
                frame: None,
                slot: None,
            });
        }
        self.replies.push_back(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OsConfig;
    use crate::frames::FrameUse;
    use crate::kernel::{NO_ASID, OsEvent};
    use crate::mmu::NoMmu;
    use crate::segment::{Segment, SegmentPerms};
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use vmsim_hw::PAGE_SIZE;
    use vmsim_hw::pte::{ENTRIES_PER_TABLE, Level, PTE_BYTES};

    const FRAMES: u64 = 1024;

    fn seg(start: u64, pages: u64, perms: &str, kind: SegmentKind) -> Segment {
        Segment {
            start: VirtAddr(start),
            end: VirtAddr(start + pages * PAGE_SIZE),
            perms: SegmentPerms::parse(perms).unwrap(),
            kind,
        }
    }

    /// Two processes with private, read-only, shared and (mmapped, so faulted in) DMA
    /// segments, spread so that faults need page tables at every level.
    fn machine(frames: u64) -> (Kernel, PhysMem, Vec<Pid>) {
        let cfg = OsConfig {
            frames,
            ..OsConfig::default()
        };
        let mut k = Kernel::new(&cfg, 4, 1024, 7).unwrap();
        k.log_events(true);
        let mut phys = PhysMem::new(frames);
        let mut pids = Vec::new();
        for _ in 0..2 {
            let segs = vec![
                seg(0x40_0000, 64, "rwu", SegmentKind::Anonymous),
                seg(0x7f00_0000_0000, 64, "rwu", SegmentKind::Anonymous),
                seg(0x7f80_0000_0000, 64, "rwu", SegmentKind::Anonymous),
                seg(0x1000_0000, 64, "ru", SegmentKind::Anonymous),
                seg(0x2000_0000, 64, "rwu", SegmentKind::Shared("buf".into())),
            ];
            let pid = k.spawn(&mut phys, segs).unwrap();
            let dma = seg(0x3000_0000, 64, "rwu", SegmentKind::Dma);
            k.add_segment(&mut phys, pid, dma, false).unwrap();
            pids.push(pid);
        }
        k.dispatch(Cycle(0), pids[0], true, &mut NoMmu);
        (k, phys, pids)
    }

    /// Everything a fault can change that the two kernels must agree on.
    fn state(k: &mut Kernel, phys: &PhysMem) -> String {
        let mut out = format!("{:?}\n", k.stats);
        for p in k.processes.iter() {
            out += &format!(
                "{:?} {:?} {} {:?} {:?}\n",
                p.pid, p.status, p.resident_pages, p.stats, p.asid
            );
        }
        out += &format!("fresh {:?} evictable {}\n", k.fresh, k.evictor.len());
        out += &format!("jobs {}\n", k.jobs.len());
        while let Some(r) = k.take_reply() {
            out += &format!("{r:?}\n");
        }
        let events: Vec<OsEvent> = k.take_events().collect();
        out += &format!("{events:?}\n");
        for f in 0..k.frames.total() {
            let ppn = Ppn(f);
            let u = k.frames.use_of(ppn);
            out += &format!(
                "{f} {u:?} {:?} {}\n",
                k.frames.owner(ppn),
                k.frames.pinned(ppn)
            );
            if let FrameUse::PageTable(_) = u {
                for i in 0..ENTRIES_PER_TABLE as u64 {
                    let pte = phys.read_pte(PhysAddr(ppn.base().0 + i * PTE_BYTES));
                    if pte.0 != 0 {
                        out += &format!("  {i} {:#x}\n", pte.0);
                    }
                }
            }
        }
        out
    }

    fn random_fault(rng: &mut Xoshiro256PlusPlus, asid: vmsim_hw::Asid) -> Fault {
        let bases = [
            0x40_0000,
            0x7f00_0000_0000,
            0x7f80_0000_0000,
            0x1000_0000,
            0x2000_0000,
            0x3000_0000,
            0x5000_0000, // outside every segment
        ];
        // Mostly the writable segments; now and then a fault that kills (outside every segment,
        // a write to the read-only one).
        let region = if rng.random_range(0..300) == 0 {
            bases.len() - 1
        } else {
            rng.random_range(0..bases.len() - 1)
        };
        let read_only = region == 3;
        let va = bases[region] + rng.random_range(0..64u64) * 4096;
        let write = rng.random_range(0..2) == 0 && (!read_only || rng.random_range(0..100) == 0);
        Fault {
            asid,
            va: VirtAddr(va + rng.random_range(0..4096u64)),
            kind: if write {
                AccessKind::Write
            } else {
                AccessKind::Read
            },
            user: rng.random_range(0..8) != 0,
            reason: if rng.random_range(0..8) == 0 {
                FaultReason::Protection
            } else {
                FaultReason::NotPresent(Level::Pt)
            },
        }
    }

    /// The one-pass zero-fill and the job machinery give the same replies, counters, events,
    /// frames and PTEs, fault after fault, over random faults of every kind (kills included),
    /// switching between processes and retiring accesses as the run loop does.
    #[test]
    fn zero_fill_at_once_matches_the_job_machinery() {
        for seed in 0..4 {
            let (mut fast, mut pf, pids) = machine(FRAMES);
            let (mut slow, mut ps, _) = machine(FRAMES);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut running = pids[0];
            let mut took_fast = 0;
            for n in 0..400u64 {
                let now = Cycle(10 + n * 100);
                if rng.random_range(0..50) == 0 {
                    running = pids[1 - pids.iter().position(|&p| p == running).unwrap()];
                    fast.dispatch(now, running, false, &mut NoMmu);
                    slow.dispatch(now, running, false, &mut NoMmu);
                }
                let fault = random_fault(&mut rng, fast.process(running).unwrap().asid);
                // `handle_fault`, counting the faults the one-pass path takes.
                assert_eq!(fast.pid_of(fault.asid), Some(running));
                if fast.jobs.is_empty()
                    && fast
                        .zero_fill_at_once(now, &mut pf, running, &fault)
                        .unwrap()
                {
                    took_fast += 1;
                } else {
                    fast.handle_fault_queued(now, &mut pf, running, &fault, &mut NoMmu)
                        .unwrap();
                }
                slow.handle_fault_queued(now, &mut ps, running, &fault, &mut NoMmu)
                    .unwrap();
                let later = Cycle(now.0 + 50);
                fast.retired(later, &mut pf, running, &mut NoMmu).unwrap();
                slow.retired(later, &mut ps, running, &mut NoMmu).unwrap();
                assert_eq!(
                    state(&mut fast, &pf),
                    state(&mut slow, &ps),
                    "seed {seed}, fault {n}: {fault:?}"
                );
            }
            assert!(
                took_fast > 100,
                "seed {seed}: {took_fast} faults took the one-pass path"
            );
            fast.check_invariants(&pf).unwrap();
        }
    }

    /// A process dies and a new one takes its frames (its root table among them): the memo of
    /// last-level tables must not send the new one's faults to the old tables.
    #[test]
    fn zero_fill_at_once_after_a_teardown_matches_the_job_machinery() {
        let (mut fast, mut pf, pids) = machine(FRAMES);
        let (mut slow, mut ps, _) = machine(FRAMES);
        let fault = |va: u64| Fault {
            asid: NO_ASID,
            va: VirtAddr(va),
            kind: AccessKind::Write,
            user: true,
            reason: FaultReason::NotPresent(Level::Pt),
        };
        let segs = || {
            vec![
                seg(0x40_0000, 64, "rwu", SegmentKind::Anonymous),
                seg(0x7f00_0000_0000, 64, "rwu", SegmentKind::Anonymous),
            ]
        };
        let now = std::cell::Cell::new(10);
        let both =
            |fast: &mut Kernel, slow: &mut Kernel, pf: &mut PhysMem, ps: &mut PhysMem, pid, va| {
                now.set(now.get() + 100);
                let now = now.get();
                fast.handle_fault(Cycle(now), pf, &fault(va), &mut NoMmu)
                    .unwrap();
                slow.handle_fault_queued(Cycle(now), ps, pid, &fault(va), &mut NoMmu)
                    .unwrap();
                fast.retired(Cycle(now + 50), pf, pid, &mut NoMmu).unwrap();
                slow.retired(Cycle(now + 50), ps, pid, &mut NoMmu).unwrap();
                assert_eq!(state(fast, pf), state(slow, ps), "fault at {va:#x}");
            };
        for va in [0x40_1000, 0x40_2000, 0x7f00_0000_3000, 0x7f00_0000_4000] {
            both(&mut fast, &mut slow, &mut pf, &mut ps, pids[0], va);
        }
        let old_root = fast.process(pids[0]).unwrap().root;
        // Outside every segment: killed, its memory freed.
        both(&mut fast, &mut slow, &mut pf, &mut ps, pids[0], 0x5000_0000);
        let new = fast.spawn(&mut pf, segs()).unwrap();
        assert_eq!(slow.spawn(&mut ps, segs()).unwrap(), new);
        // Freed last, reused first.
        assert_eq!(fast.page_table(new).unwrap().root, old_root);
        fast.dispatch(Cycle(now.get()), new, false, &mut NoMmu);
        slow.dispatch(Cycle(now.get()), new, false, &mut NoMmu);
        for va in [0x40_1000, 0x40_3000, 0x7f00_0000_3000, 0x7f00_0000_5000] {
            both(&mut fast, &mut slow, &mut pf, &mut ps, new, va);
        }
        fast.check_invariants(&pf).unwrap();
    }

    /// With fewer than `levels` frames free, the one-pass path declines and changes nothing.
    #[test]
    fn zero_fill_at_once_declines_when_frames_are_short() {
        let (mut k, mut phys, pids) = machine(FRAMES);
        while k.frames.free_count() >= 4 {
            k.frames
                .alloc_data(Owner::Private {
                    pid: 99,
                    vpn: vmsim_hw::Vpn(0),
                })
                .unwrap();
        }
        let before = state(&mut k, &phys);
        let fault = Fault {
            asid: k.process(pids[0]).unwrap().asid,
            va: VirtAddr(0x40_0000),
            kind: AccessKind::Write,
            user: true,
            reason: FaultReason::NotPresent(Level::Pml4),
        };
        assert!(
            !k.zero_fill_at_once(Cycle(5), &mut phys, pids[0], &fault)
                .unwrap()
        );
        assert_eq!(state(&mut k, &phys), before);
        k.frames.free(Ppn(FRAMES - 4));
        assert!(
            k.zero_fill_at_once(Cycle(5), &mut phys, pids[0], &fault)
                .unwrap()
        );
    }
}
