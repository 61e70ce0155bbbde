//! Errors the kernel model reports.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OsError {
    #[error(
        "out of physical memory: all {frames} frames (os.frames) are in use and this kernel model does not swap; raise os.frames"
    )]
    OutOfFrames { frames: u64 },
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
