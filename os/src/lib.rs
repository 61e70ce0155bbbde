//! vmsim-os: the kernel model.
//!
//! Processes own segment lists with permissions; the page-fault handler classifies every fault
//! the hardware reports, kills processes that break their segments' rules with SIGSEGV, and
//! otherwise allocates frames and page-table pages and writes real PTEs into simulated physical
//! memory. The kernel uses `vmsim-hw`'s PTE format and memory; it never drives hardware
//! timing itself: every action returns the cycles it costs.

pub mod config;
pub mod error;
pub mod fault;
pub mod frames;
pub mod kernel;
pub mod page_table;
pub mod process;
pub mod segment;

pub use config::OsConfig;
pub use error::OsError;
pub use fault::FaultResolution;
pub use kernel::{Kernel, OsStats};
pub use process::{ExitStatus, Pid, Process, Signal};
pub use segment::{Segment, SegmentKind, SegmentPerms};
