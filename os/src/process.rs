//! A process: pid, address-space tag, segment list, page-table root and exit status.

use crate::segment::Segment;
use serde::Serialize;
use vmsim_hw::{Asid, Ppn, VirtAddr};

/// A process identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pid(pub u32);

/// A fatal signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Signal {
    Sigsegv,
    Sigbus,
}

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ExitStatus {
    Running,
    Exited,
    Killed {
        signal: Signal,
        va: VirtAddr,
        reason: String,
    },
}

pub struct Process {
    pub pid: Pid,
    pub asid: Asid,
    pub segments: Vec<Segment>,
    /// The PTBR (CR3) value: frame of the top-level table.
    pub root: Ppn,
    pub status: ExitStatus,
    /// Data pages currently mapped.
    pub resident_pages: u64,
    pub faults: u64,
}

impl Process {
    /// The segment containing `va`, if any.
    pub fn segment_of(&self, va: VirtAddr) -> Option<&Segment> {
        self.segments.iter().find(|s| s.contains(va))
    }
    pub fn alive(&self) -> bool {
        self.status == ExitStatus::Running
    }
}
