//! vmsim-hw: the clocked hardware of the virtual-memory subsystem.
//!
//! Every unit here models a piece of real hardware and knows nothing of processes, segments or
//! the operating system: the walker reads PTEs, and when a PTE forbids an access it reports a
//! fault as a message. The OS lives in `vmsim-os`; `vmsim-sim` wires the two.

pub mod cache;
pub mod clock;
pub mod core;
pub mod disk;
pub mod dma;
pub mod dram;
pub mod error;
pub mod memory;
pub mod memsys;
pub mod port;
pub mod prefetch;
pub mod probe;
pub mod pte;
pub mod pwc;
pub mod replacement;
pub mod tlb;
pub mod types;
pub mod walker;
mod ways;

pub use error::ConfigError;
pub use types::*;
