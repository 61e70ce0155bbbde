//! The memory system calls: mmap, munmap, mprotect.
//!
//! Each edits the calling process's segment list and, for munmap and mprotect, the PTEs of the
//! range, invalidating every translation it changes (a shootdown: one `invlpg` per page on the
//! one core). Each costs `os.syscall_cycles`. A call the process makes with bad arguments is a
//! scenario error (the run stops with a message), not a signal.

use crate::error::OsError;
use crate::frames::FrameUse;
use crate::kernel::{Kernel, OsEvent, OsEventKind, check_segment};
use crate::mmu::Mmu;
use crate::process::Pid;
use crate::segment::{Segment, SegmentKind, SegmentPerms};
use crate::shm::Attachment;
use crate::swap::swap_slot;
use vmsim_hw::memory::PhysMem;
use vmsim_hw::pte::Pte;
use vmsim_hw::{Cycle, Cycles, PAGE_SIZE, VirtAddr};

/// A virtual range `[start, start + len)` a system call names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaRange {
    pub start: VirtAddr,
    pub len: u64,
}

impl Kernel {
    fn syscall_done(&mut self, now: Cycle, pid: Pid, name: &'static str, va: VirtAddr) -> Cycles {
        self.stats.syscalls += 1;
        if let Some(p) = self.processes.get_mut(pid) {
            p.stats.syscalls += 1;
        }
        let cost = Cycles(self.cfg.syscall_cycles);
        self.event(OsEvent {
            kind: OsEventKind::Syscall(name),
            start: now,
            end: now + cost,
            pid: Some(pid),
            va: Some(va),
            frame: None,
            slot: None,
        });
        cost
    }

    fn live(&self, pid: Pid, call: &'static str) -> Result<(), OsError> {
        match self.processes.get(pid) {
            Some(p) if p.alive() => Ok(()),
            _ => Err(OsError::Syscall {
                pid: pid.0,
                call,
                msg: "no such running process".into(),
            }),
        }
    }

    /// Map a new segment into `pid` at `now`. It must not overlap an existing one.
    pub fn mmap(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        seg: Segment,
    ) -> Result<Cycles, OsError> {
        self.live(pid, "mmap")?;
        check_segment(&seg)?;
        if let Some(o) = self.processes[pid]
            .segments
            .iter()
            .find(|s| s.start < seg.end && seg.start < s.end)
        {
            return Err(OsError::OverlappingSegments {
                start: seg.start.0,
                end: seg.end.0,
                other_start: o.start.0,
                other_end: o.end.0,
            });
        }
        let va = seg.start;
        self.add_segment(phys, pid, seg, false)?;
        Ok(self.syscall_done(now, pid, "mmap", va))
    }

    /// Unmap `range` from `pid` at `now`: the parts of segments in the range
    /// go; their private frames and swap slots are freed, shared pages are unmapped here only.
    pub fn munmap(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        range: VaRange,
        mmu: &mut dyn Mmu,
    ) -> Result<Cycles, OsError> {
        let VaRange { start, len } = range;
        self.live(pid, "munmap")?;
        let end = range_end(pid, "munmap", start, len)?;
        let removed = carve(
            &mut self.processes.get_mut(pid).expect("live").segments,
            start,
            end,
        );
        let pt = self.page_table(pid).expect("live process");
        let asid = self.processes[pid].asid;
        for piece in &removed {
            let mut va = piece.start;
            while va < piece.end {
                if let Some((addr, pte)) = pt.leaf(phys, va)
                    && pte.0 != 0
                {
                    phys.write_pte(addr, Pte(0));
                    if pte.present() {
                        mmu.invalidate_page(asid, va.vpn());
                        self.processes.get_mut(pid).expect("live").resident_pages -= 1;
                        if matches!(self.frames.use_of(pte.ppn()), FrameUse::Data(_)) {
                            self.release_private(phys, pte.ppn());
                        }
                    } else if let Some(slot) = swap_slot(pte) {
                        self.swap.release(slot);
                    }
                }
                va = VirtAddr(va.0 + PAGE_SIZE);
            }
            if let SegmentKind::Shared(name) = &piece.kind {
                let obj = self
                    .shm
                    .iter()
                    .position(|o| &o.name == name)
                    .expect("attached object");
                detach(&mut self.shm[obj].attachments, pid, piece.start, piece.end);
                self.release_object_if_unused(phys, obj);
            }
        }
        Ok(self.syscall_done(now, pid, "munmap", start))
    }

    /// Change the permissions of `range` of `pid` at `now`. Every page of the
    /// range must lie in a segment. Present PTEs are rewritten (frame, A and D kept) and their
    /// translations invalidated; swapped pages get the new permissions when they come back.
    pub fn mprotect(
        &mut self,
        now: Cycle,
        phys: &mut PhysMem,
        pid: Pid,
        range: VaRange,
        perms: SegmentPerms,
        mmu: &mut dyn Mmu,
    ) -> Result<Cycles, OsError> {
        let VaRange { start, len } = range;
        self.live(pid, "mprotect")?;
        let end = range_end(pid, "mprotect", start, len)?;
        let proc = self.processes.get_mut(pid).expect("live");
        let covered: u64 = proc
            .segments
            .iter()
            .map(|s| s.end.0.min(end.0).saturating_sub(s.start.0.max(start.0)))
            .sum();
        if covered != end.0 - start.0 {
            return Err(OsError::Syscall {
                pid: pid.0,
                call: "mprotect",
                msg: format!(
                    "{:#x}..{:#x} is not wholly inside the process's segments",
                    start.0, end.0
                ),
            });
        }
        let mut pieces = carve(&mut proc.segments, start, end);
        for p in &mut pieces {
            p.perms = perms;
        }
        for p in pieces {
            let at = proc.segments.partition_point(|s| s.start < p.start);
            proc.segments.insert(at, p);
        }
        let asid = proc.asid;
        let pt = self.page_table(pid).expect("live process");
        let flags = perms.pte_flags();
        let mut va = start;
        while va < end {
            if let Some((addr, pte)) = pt.leaf(phys, va)
                && pte.present()
            {
                phys.write_pte(
                    addr,
                    Pte::new(pte.ppn(), flags).with(pte.0 & (Pte::A | Pte::D)),
                );
                mmu.invalidate_page(asid, va.vpn());
            }
            va = VirtAddr(va.0 + PAGE_SIZE);
        }
        Ok(self.syscall_done(now, pid, "mprotect", start))
    }
}

fn range_end(pid: Pid, call: &'static str, start: VirtAddr, len: u64) -> Result<VirtAddr, OsError> {
    let end = start.0.checked_add(len).filter(|&e| e <= 1 << 47);
    match end {
        Some(e)
            if len > 0 && start.0.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE) =>
        {
            Ok(VirtAddr(e))
        }
        _ => Err(OsError::Syscall {
            pid: pid.0,
            call,
            msg: format!(
                "range {:#x} + {len:#x} must be non-empty, 4 KiB aligned and below 0x800000000000",
                start.0
            ),
        }),
    }
}

/// Remove `[start, end)` from a sorted segment list, splitting segments at its ends; returns
/// the removed pieces in address order.
fn carve(segments: &mut Vec<Segment>, start: VirtAddr, end: VirtAddr) -> Vec<Segment> {
    let mut kept = Vec::with_capacity(segments.len() + 1);
    let mut removed = Vec::new();
    for s in segments.drain(..) {
        if s.end <= start || s.start >= end {
            kept.push(s);
            continue;
        }
        if s.start < start {
            kept.push(Segment {
                end: start,
                ..s.clone()
            });
        }
        removed.push(Segment {
            start: s.start.max(start),
            end: s.end.min(end),
            ..s.clone()
        });
        if s.end > end {
            kept.push(Segment { start: end, ..s });
        }
    }
    *segments = kept;
    removed
}

/// Remove `pid`'s mapping of `[start, end)` from a shared object's attachments.
fn detach(atts: &mut Vec<Attachment>, pid: Pid, start: VirtAddr, end: VirtAddr) {
    let mut out = Vec::with_capacity(atts.len() + 1);
    for a in atts.drain(..) {
        let a_end = a.start.0 + a.pages * PAGE_SIZE;
        if a.pid != pid || a_end <= start.0 || a.start >= end {
            out.push(a);
            continue;
        }
        if a.start < start {
            out.push(Attachment {
                pages: (start.0 - a.start.0) / PAGE_SIZE,
                ..a
            });
        }
        if a_end > end.0 {
            out.push(Attachment {
                start: end,
                first: a.first + (end.0 - a.start.0) / PAGE_SIZE,
                pages: (a_end - end.0) / PAGE_SIZE,
                ..a
            });
        }
    }
    *atts = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(a: u64, b: u64) -> Segment {
        Segment {
            start: VirtAddr(a * PAGE_SIZE),
            end: VirtAddr(b * PAGE_SIZE),
            perms: SegmentPerms::RWXU,
            kind: SegmentKind::Anonymous,
        }
    }

    #[test]
    fn carve_splits_at_both_ends() {
        let mut s = vec![seg(0, 4), seg(6, 10)];
        let r = carve(&mut s, VirtAddr(2 * PAGE_SIZE), VirtAddr(8 * PAGE_SIZE));
        assert_eq!(r, vec![seg(2, 4), seg(6, 8)]);
        assert_eq!(s, vec![seg(0, 2), seg(8, 10)]);
    }

    #[test]
    fn detach_keeps_the_object_pages_of_what_remains() {
        let mut a = vec![Attachment {
            pid: Pid(1),
            start: VirtAddr(0x10000),
            first: 0,
            pages: 8,
        }];
        detach(&mut a, Pid(1), VirtAddr(0x12000), VirtAddr(0x14000));
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].start.0, a[0].first, a[0].pages), (0x10000, 0, 2));
        assert_eq!((a[1].start.0, a[1].first, a[1].pages), (0x14000, 4, 4));
        assert_eq!(a[1].va_of(5), Some(VirtAddr(0x15000)));
    }
}
