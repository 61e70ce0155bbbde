//! Segments (VMAs): contiguous virtual ranges with permissions, the OS's view of an address space.

use serde::{Deserialize, Serialize};
use vmsim_hw::pte::Pte;
use vmsim_hw::{AccessKind, VirtAddr};

/// Permissions of a segment: read, write, execute, and user (accessible in user mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentPerms {
    pub r: bool,
    pub w: bool,
    pub x: bool,
    pub u: bool,
}

impl SegmentPerms {
    pub const RWXU: SegmentPerms = SegmentPerms {
        r: true,
        w: true,
        x: true,
        u: true,
    };

    /// Whether the segment allows an access of `kind` (in user mode if `user`).
    pub fn permits(self, kind: AccessKind, user: bool) -> bool {
        if user && !self.u {
            return false;
        }
        match kind {
            AccessKind::Read => self.r,
            AccessKind::Write => self.w,
            AccessKind::Execute => self.x,
        }
    }

    /// The leaf PTE flags that implement these permissions (x86 cannot express write-only or
    /// execute-only: a present page is readable).
    pub fn pte_flags(self) -> u64 {
        let mut f = Pte::P;
        if self.w {
            f |= Pte::RW;
        }
        if self.u {
            f |= Pte::US;
        }
        if !self.x {
            f |= Pte::NX;
        }
        f
    }
}

/// What backs a segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SegmentKind {
    /// Private zero-filled memory.
    Anonymous,
}

/// A virtual range [start, end) with permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub perms: SegmentPerms,
    pub kind: SegmentKind,
}

impl Segment {
    pub fn contains(&self, va: VirtAddr) -> bool {
        self.start <= va && va < self.end
    }
}
