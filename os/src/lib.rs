//! vmsim-os: the kernel model.
//!
//! Processes own segment lists with permissions; the page-fault handler classifies every fault
//! the hardware reports, kills processes that break their segments' rules with SIGSEGV, and
//! otherwise allocates frames and page-table pages and writes real PTEs into simulated physical
//! memory. Under memory pressure it evicts pages to a swap device through the DMA engine and
//! reads them back on major faults. The kernel uses `vmsim-hw`'s PTE format, memory and
//! device request types; it never drives hardware timing itself: it queues I/O requests for
//! the run loop to submit, and every action it takes says what it costs in cycles.

pub mod config;
pub mod error;
pub mod evict;
pub mod fault;
pub mod frames;
pub mod kernel;
pub mod mmu;
pub mod page_table;
pub mod process;
pub mod scheduler;
pub mod segment;
pub mod shm;
pub mod swap;
pub mod syscall;
pub mod thrashing;

pub use config::OsConfig;
pub use error::OsError;
pub use evict::EvictionPolicy;
pub use kernel::{Kernel, OsEvent, OsEventKind, OsStats, Reply, ReplyAction};
pub use mmu::{IoRequest, Mmu, NoMmu};
pub use process::{ExitStatus, Pid, Process, ProcessStats, Signal};
pub use scheduler::Scheduler;
pub use segment::{Segment, SegmentKind, SegmentPerms};
