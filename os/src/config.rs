//! Kernel configuration (`os.*`).

use crate::error::OsError;
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
    /// Cycles to deliver a fatal signal and tear the process down.
    pub kill_cycles: u64,
}

impl Default for OsConfig {
    fn default() -> Self {
        OsConfig {
            frames: 1 << 20,
            fault_cycles: 4000,
            kill_cycles: 4000,
        }
    }
}

/// Largest supported physical memory: 2^28 frames (1 TiB).
pub const MAX_FRAMES: u64 = 1 << 28;

impl OsConfig {
    pub fn validate(&self) -> Result<(), OsError> {
        if self.frames < 8 || self.frames > MAX_FRAMES {
            return Err(OsError::Config {
                key: "os.frames".into(),
                msg: format!(
                    "must be between 8 and {MAX_FRAMES} (4 KiB frames), got {}",
                    self.frames
                ),
            });
        }
        if self.fault_cycles == 0 {
            return Err(OsError::Config {
                key: "os.fault_cycles".into(),
                msg: "must be at least 1 cycle".into(),
            });
        }
        Ok(())
    }
}
