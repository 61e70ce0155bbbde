//! A process: pid, address-space tag, segment list, page-table root and exit status.

use crate::segment::Segment;
use serde::Serialize;
use vmsim_hw::{Asid, Cycle, Ppn, VirtAddr};

/// A process identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pid(pub u32);

/// A fatal signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Signal {
    /// An access outside every segment or against a segment's permissions.
    Sigsegv,
    /// A page that could not be read back from swap.
    Sigbus,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Sigsegv => "SIGSEGV",
            Signal::Sigbus => "SIGBUS",
        }
    }
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
        cycle: Cycle,
    },
}

impl ExitStatus {
    /// "running", "exited", or e.g. "SIGSEGV at 0x1000: write to a read-only segment".
    pub fn describe(&self) -> String {
        match self {
            ExitStatus::Running => "running".into(),
            ExitStatus::Exited => "exited".into(),
            ExitStatus::Killed {
                signal, va, reason, ..
            } => format!("{} at {:#x}: {reason}", signal.as_str(), va.0),
        }
    }
}

/// Per-process kernel counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcessStats {
    pub faults: u64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub protection_faults: u64,
    /// Cycles from the trap to the retry (or kill) of this process's faults.
    pub fault_cycles: u64,
    pub syscalls: u64,
}

pub struct Process {
    pub pid: Pid,
    pub asid: Asid,
    /// Sorted by start, non-overlapping.
    pub segments: Vec<Segment>,
    /// The PTBR (CR3) value: frame of the top-level table.
    pub root: Ppn,
    pub status: ExitStatus,
    /// Data pages currently mapped by this process (shared ones included).
    pub resident_pages: u64,
    pub stats: ProcessStats,
}

impl Process {
    /// The segment containing `va`, if any.
    pub fn segment_of(&self, va: VirtAddr) -> Option<&Segment> {
        let i = self.segments.partition_point(|s| s.end <= va);
        self.segments.get(i).filter(|s| s.contains(va))
    }
    pub fn alive(&self) -> bool {
        self.status == ExitStatus::Running
    }
}

/// Every process the kernel has made, by pid. Pids are handed out 1, 2, 3, ... and a process
/// stays in the table after it ends (for its exit status and counters), so the table is a
/// vector with process `pid` at index `pid - 1`: a lookup is an index, not a search. (A pid
/// whose spawn failed leaves its place empty.)
#[derive(Default)]
pub(crate) struct ProcessTable(Vec<Option<Process>>);

impl ProcessTable {
    pub fn insert(&mut self, p: Process) {
        let i = p.pid.0 as usize - 1;
        if self.0.len() <= i {
            self.0.resize_with(i + 1, || None);
        }
        self.0[i] = Some(p);
    }
    pub fn get(&self, pid: Pid) -> Option<&Process> {
        self.0.get((pid.0 as usize).wrapping_sub(1))?.as_ref()
    }
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process> {
        self.0.get_mut((pid.0 as usize).wrapping_sub(1))?.as_mut()
    }
    /// Every process, in pid order.
    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.0.iter().flatten()
    }
}

impl std::ops::Index<Pid> for ProcessTable {
    type Output = Process;
    fn index(&self, pid: Pid) -> &Process {
        self.get(pid).expect("a known pid")
    }
}
