//! Kernel configuration (`os.*`).
//!
//! Costs are in core cycles. Where a figure comes from a measurement it says so; the others
//! are modelling choices \[M\] of the right order, meant to be set per study.

use crate::error::OsError;
use crate::evict::EvictionPolicy;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OsConfig {
    /// Physical memory size in 4 KiB frames.
    pub frames: u64,
    /// Cycles the kernel spends servicing a minor (zero-fill) page fault: trap entry, segment
    /// lookup, frame allocation, zeroing, PTE writes and return. Default 4000: about 1 us at
    /// 4 GHz, the median Linux minor fault on bare metal (REFERENCE.md, "Operating system
    /// costs"). ChampSim charges 200.
    pub fault_cycles: u64,
    /// Kernel and block-layer cycles of a major fault, on top of the disk and DMA time it waits
    /// for. Default 12000: 3 us at 4 GHz, "a few us of kernel and block-layer work"
    /// (REFERENCE.md) \[M\].
    pub major_fault_cycles: u64,
    /// Cycles to deliver a fatal signal and tear the process down \[M\].
    pub kill_cycles: u64,
    /// Cycles of an mmap, munmap or mprotect call, shootdowns included \[M\]: default 4000.
    pub syscall_cycles: u64,
    /// Which frame to evict when none is free: "fifo", "clock" (default), "lru" or "random".
    pub eviction: EvictionPolicy,
    /// Round-robin time slice in cycles: default 1,000,000 (250 us at 4 GHz) \[M\].
    pub time_slice: u64,
    /// Cycles of a context switch (save, schedule, CR3 write), TLB refills not included: they
    /// are paid as misses. Default 8000 (2 us at 4 GHz) \[M\].
    pub switch_cycles: u64,
    /// Keep address-space-tagged TLB entries across context switches (PCID) instead of
    /// flushing every non-global entry.
    pub pcid: bool,
    /// Pages of kernel memory mapped in every process at the bottom of the upper canonical
    /// half (0xffff800000000000 with 4 levels), supervisor-only and global (G): its TLB entries
    /// survive context switches without PCID. A user access to it is a protection fault and
    /// kills the process. Default 0: no kernel mapping (trace runs then match the reference
    /// semantics' single user segment exactly).
    pub kernel_pages: u64,
    /// Hardware ASIDs (PCIDs) the kernel hands out with `pcid`: default 6, as Linux keeps 6
    /// dynamic ASIDs per CPU (REFERENCE.md, "Operating system costs"); at most 4095.
    pub asids: u16,
    /// Length in cycles of the windows over which thrashing is measured.
    pub thrashing_window: u64,
    /// A window in which the share of cycles spent servicing faults that wait for the swap
    /// device (major faults, and faults whose victim is written out) exceeds this counts as
    /// thrashing (`os.thrashing_windows`). Between 0 and 1; default 0.5.
    pub thrashing_threshold: f64,
}

impl Default for OsConfig {
    fn default() -> Self {
        OsConfig {
            frames: 1 << 20,
            fault_cycles: 4000,
            major_fault_cycles: 12000,
            kill_cycles: 4000,
            syscall_cycles: 4000,
            eviction: EvictionPolicy::Clock,
            time_slice: 1_000_000,
            switch_cycles: 8000,
            pcid: false,
            asids: 6,
            kernel_pages: 0,
            thrashing_window: 1_000_000,
            thrashing_threshold: 0.5,
        }
    }
}

/// Largest supported physical memory: 2^28 frames (1 TiB).
pub const MAX_FRAMES: u64 = 1 << 28;

impl OsConfig {
    pub fn validate(&self) -> Result<(), OsError> {
        let err = |key: &str, msg: String| OsError::Config {
            key: format!("os.{key}"),
            msg,
        };
        if self.frames < 8 || self.frames > MAX_FRAMES {
            return Err(err(
                "frames",
                format!(
                    "must be between 8 and {MAX_FRAMES} (4 KiB frames), got {}",
                    self.frames
                ),
            ));
        }
        for (key, v) in [
            ("fault_cycles", self.fault_cycles),
            ("major_fault_cycles", self.major_fault_cycles),
            ("kill_cycles", self.kill_cycles),
            ("syscall_cycles", self.syscall_cycles),
            ("time_slice", self.time_slice),
            ("switch_cycles", self.switch_cycles),
            ("thrashing_window", self.thrashing_window),
        ] {
            if v == 0 {
                return Err(err(key, "must be at least 1 cycle".into()));
            }
        }
        if self.kernel_pages > 1 << 20 {
            return Err(err(
                "kernel_pages",
                format!("must be at most 1048576 (4 GiB), got {}", self.kernel_pages),
            ));
        }
        if self.asids == 0 || self.asids > 4095 {
            return Err(err(
                "asids",
                format!(
                    "must be between 1 and 4095 (12-bit PCIDs), got {}",
                    self.asids
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.thrashing_threshold) {
            return Err(err(
                "thrashing_threshold",
                format!(
                    "must be between 0 and 1 (a share of cycles), got {}",
                    self.thrashing_threshold
                ),
            ));
        }
        Ok(())
    }
}
