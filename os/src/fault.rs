//! The page-fault handler's answer.

use vmsim_hw::core::FaultKind;
use vmsim_hw::{Asid, Cycles, VirtAddr};

use crate::process::{Pid, Signal};

/// What the handler did about a fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultResolution {
    /// The mapping now exists: the hardware retries the access after `cost` cycles.
    Fixed { kind: FaultKind, cost: Cycles },
    /// The process broke its segments' rules and was killed. Its frames are freed; the caller
    /// must invalidate every TLB and page-walk-cache entry tagged with `asid`.
    Killed {
        pid: Pid,
        asid: Asid,
        signal: Signal,
        va: VirtAddr,
        reason: String,
        cost: Cycles,
    },
}
