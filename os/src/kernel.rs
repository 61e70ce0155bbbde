//! The kernel: processes, the frame allocator, and the page-fault handler.
//!
//! `handle_fault` is the background text's `handle_page_fault`, done properly: look the address up
//! in the faulting process's segment list; an address outside every segment, or an access the
//! segment forbids, kills the process with SIGSEGV; otherwise take a free frame, zero it, allocate
//! any missing page-table pages, write the leaf PTE with the segment's permissions, and let the
//! hardware retry. This kernel does not swap yet: running out of frames is an error.

use crate::config::OsConfig;
use crate::error::OsError;
use crate::fault::FaultResolution;
use crate::frames::{FrameAllocator, FrameUse};
use crate::page_table::PageTable;
use crate::process::{ExitStatus, Pid, Process, Signal};
use crate::segment::Segment;
use serde::Serialize;
use std::collections::BTreeMap;
use vmsim_hw::core::FaultKind;
use vmsim_hw::memory::PhysMem;
use vmsim_hw::walker::{Fault, FaultReason};
use vmsim_hw::{AccessKind, Asid, Cycles, PAGE_SIZE, VirtAddr};

/// Kernel counters (`faults.*` and `os.*` in stats.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsStats {
    pub minor_faults: u64,
    pub major_faults: u64,
    pub protection_faults: u64,
    pub segv_kills: u64,
    pub page_table_pages: u64,
    pub fault_cycles: u64,
}

pub struct Kernel {
    cfg: OsConfig,
    levels: u8,
    frames: FrameAllocator,
    processes: BTreeMap<Pid, Process>,
    by_asid: BTreeMap<Asid, Pid>,
    next_pid: u32,
    stats: OsStats,
}

impl Kernel {
    /// A kernel over `cfg.frames` frames with `levels`-level page tables.
    pub fn new(cfg: &OsConfig, levels: u8) -> Result<Kernel, OsError> {
        cfg.validate()?;
        Ok(Kernel {
            cfg: cfg.clone(),
            levels,
            frames: FrameAllocator::new(cfg.frames),
            processes: BTreeMap::new(),
            by_asid: BTreeMap::new(),
            next_pid: 1,
            stats: OsStats::default(),
        })
    }

    /// Create a process with these segments (checked: page-aligned, non-empty, no overlaps).
    /// Its ASID is its pid.
    pub fn spawn(
        &mut self,
        phys: &mut PhysMem,
        mut segments: Vec<Segment>,
    ) -> Result<Pid, OsError> {
        segments.sort_by_key(|s| s.start);
        for s in &segments {
            if s.start >= s.end || s.start.0 % PAGE_SIZE != 0 || s.end.0 % PAGE_SIZE != 0 {
                return Err(OsError::BadSegment {
                    start: s.start.0,
                    end: s.end.0,
                    msg: "must be non-empty and 4 KiB aligned at both ends".into(),
                });
            }
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
        let asid = Asid(pid.0 as u16);
        self.processes.insert(
            pid,
            Process {
                pid,
                asid,
                segments,
                root: pt.root,
                status: ExitStatus::Running,
                resident_pages: 0,
                faults: 0,
            },
        );
        self.by_asid.insert(asid, pid);
        Ok(pid)
    }

    /// Service a fault the hardware raised.
    pub fn handle_fault(
        &mut self,
        phys: &mut PhysMem,
        fault: &Fault,
    ) -> Result<FaultResolution, OsError> {
        let pid = *self
            .by_asid
            .get(&fault.asid)
            .ok_or(OsError::UnknownAsid(fault.asid.0))?;
        let proc = self
            .processes
            .get_mut(&pid)
            .expect("asid maps to a live pid");
        proc.faults += 1;
        if matches!(fault.reason, FaultReason::Protection) {
            self.stats.protection_faults += 1;
        }
        let allowed = match proc.segment_of(fault.va) {
            None => Err("address outside every segment"),
            Some(s) if !s.perms.permits(fault.kind, fault.user) => Err(match fault.kind {
                _ if fault.user && !s.perms.u => "user access to a kernel segment",
                AccessKind::Read => "read of a segment without read permission",
                AccessKind::Write => "write to a read-only segment",
                AccessKind::Execute => "execute in a no-execute segment",
            }),
            Some(s) => Ok(s.perms),
        };
        let perms = match allowed {
            Ok(p) => p,
            Err(reason) => return Ok(self.kill(phys, pid, Signal::Sigsegv, fault.va, reason)),
        };
        let pt = PageTable {
            root: proc.root,
            levels: self.levels,
        };
        let va = VirtAddr(fault.va.0 & !(PAGE_SIZE - 1));
        if pt.lookup(phys, va).is_some() {
            // The segment allows the access and a mapping exists: a protection fault on a stale
            // PTE would be fixed by rewriting it; with segments fixed at spawn this cannot happen.
            let leaf_flags = perms.pte_flags();
            let (addr, old) = pt.lookup(phys, va).expect("checked above");
            phys.write_pte(addr, vmsim_hw::pte::Pte::new(old.ppn(), leaf_flags));
            self.stats.fault_cycles += self.cfg.fault_cycles;
            return Ok(FaultResolution::Fixed {
                kind: FaultKind::Protection,
                cost: Cycles(self.cfg.fault_cycles),
            });
        }
        let frame = self.frames.alloc(FrameUse::Data(pid.0))?;
        phys.zero_frame(frame);
        let tables = pt.map(phys, &mut self.frames, pid.0, va, frame, perms.pte_flags())?;
        self.stats.page_table_pages += tables as u64;
        proc.resident_pages += 1;
        self.stats.minor_faults += 1;
        self.stats.fault_cycles += self.cfg.fault_cycles;
        Ok(FaultResolution::Fixed {
            kind: FaultKind::Minor,
            cost: Cycles(self.cfg.fault_cycles),
        })
    }

    /// Kill `pid` with `signal`: free its memory and mark it dead.
    fn kill(
        &mut self,
        phys: &mut PhysMem,
        pid: Pid,
        signal: Signal,
        va: VirtAddr,
        reason: &str,
    ) -> FaultResolution {
        let proc = self.processes.get_mut(&pid).expect("kill of a known pid");
        let pt = PageTable {
            root: proc.root,
            levels: self.levels,
        };
        pt.destroy(phys, &mut self.frames);
        proc.resident_pages = 0;
        proc.status = ExitStatus::Killed {
            signal,
            va,
            reason: reason.to_string(),
        };
        if signal == Signal::Sigsegv {
            self.stats.segv_kills += 1;
        }
        self.stats.fault_cycles += self.cfg.kill_cycles;
        FaultResolution::Killed {
            pid,
            asid: proc.asid,
            signal,
            va,
            reason: reason.to_string(),
            cost: Cycles(self.cfg.kill_cycles),
        }
    }

    /// Mark a process as having run to completion.
    pub fn exit(&mut self, pid: Pid) {
        if let Some(p) = self.processes.get_mut(&pid)
            && p.alive()
        {
            p.status = ExitStatus::Exited;
        }
    }

    pub fn process(&self, pid: Pid) -> Option<&Process> {
        self.processes.get(&pid)
    }
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.values()
    }
    pub fn frames(&self) -> &FrameAllocator {
        &self.frames
    }
    pub fn stats(&self) -> &OsStats {
        &self.stats
    }
    pub fn config(&self) -> &OsConfig {
        &self.cfg
    }
    /// The page table of `pid`.
    pub fn page_table(&self, pid: Pid) -> Option<PageTable> {
        self.processes.get(&pid).map(|p| PageTable {
            root: p.root,
            levels: self.levels,
        })
    }
}
