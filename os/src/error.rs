//! Errors the kernel model reports.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OsError {
    #[error(
        "out of physical memory: all {frames} frames (os.frames) hold page tables, pinned DMA buffers or pages in transit, so none can be evicted; raise os.frames"
    )]
    OutOfFrames { frames: u64 },
    #[error("out of swap space: every slot of the swap device (disk.capacity_blocks) is in use")]
    SwapFull,
    #[error("pid {pid}: {call}: {msg}")]
    Syscall {
        pid: u32,
        call: &'static str,
        msg: String,
    },
    #[error("config key `{key}`: {msg}")]
    Config { key: String, msg: String },
    #[error("segment {start:#x}..{end:#x} overlaps segment {other_start:#x}..{other_end:#x}")]
    OverlappingSegments {
        start: u64,
        end: u64,
        other_start: u64,
        other_end: u64,
    },
    #[error("segment {start:#x}..{end:#x}: {msg}")]
    BadSegment { start: u64, end: u64, msg: String },
    #[error("no process with address-space id {0}")]
    UnknownAsid(u16),
}
