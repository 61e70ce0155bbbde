//! DRAM timing in core cycles.
//!
//! DRAM parameters come in DRAM clocks (tCK) or nanoseconds; the simulator counts core cycles.
//! Each parameter is converted once, at construction, and **rounded up on its own**:
//! `ceil(n_tck * tck_ns * core_freq_ghz)` (nanosecond parameters: `ceil(ns * core_freq_ghz)`).
//! Rounding up never lets the model run faster than the part allows. Because each term is
//! rounded separately, a sum of terms can exceed the rounded sum: at 3 GHz (tCK = 1.875 core
//! cycles) CL 22 and BL8 (4 tCK) become 42 + 8 = 50 cycles, not ceil(26 x 1.875) = 49.
//!
//! The ceiling is epsilon-safe: a product within 1e-9 (relative) of an integer is that integer,
//! so 22 x 0.625 x 4.0 is exactly 55, whatever the floating-point error.

use super::config::DramConfig;
use serde::Serialize;

/// The DRAM timing parameters after conversion to core cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CoreTiming {
    /// One DRAM clock: the command bus takes one command per tCK per channel.
    pub cmd: u64,
    pub cl: u64,
    pub rcd: u64,
    pub rp: u64,
    pub ras: u64,
    pub cwl: u64,
    pub burst: u64,
    pub ccd_s: u64,
    pub ccd_l: u64,
    pub rrd_s: u64,
    pub rrd_l: u64,
    pub faw: u64,
    pub wr: u64,
    pub rtp: u64,
    pub wtr_s: u64,
    pub wtr_l: u64,
    pub rfc: u64,
    pub refi: u64,
    /// Fixed model: the latency of every request.
    pub fixed_latency: u64,
}

pub(super) use crate::clock::ceil_cycles;

impl CoreTiming {
    /// Convert `cfg`'s timing to core cycles at `core_freq_ghz` (validated by the caller).
    pub(super) fn new(cfg: &DramConfig, core_freq_ghz: f64) -> CoreTiming {
        let tck = cfg.tck_ns * core_freq_ghz;
        let c = |n: u32| ceil_cycles(f64::from(n) * tck);
        let ns = |t: f64| ceil_cycles(t * core_freq_ghz);
        CoreTiming {
            cmd: c(1).max(1),
            cl: c(cfg.cl),
            rcd: c(cfg.rcd),
            rp: c(cfg.rp),
            ras: c(cfg.ras),
            cwl: c(cfg.cwl),
            burst: c(cfg.burst),
            ccd_s: c(cfg.ccd_s),
            ccd_l: c(cfg.ccd_l),
            rrd_s: c(cfg.rrd_s),
            rrd_l: c(cfg.rrd_l),
            faw: c(cfg.faw),
            wr: c(cfg.wr),
            rtp: c(cfg.rtp),
            wtr_s: c(cfg.wtr_s),
            wtr_l: c(cfg.wtr_l),
            rfc: if cfg.refresh { ns(cfg.rfc_ns) } else { 0 },
            refi: if cfg.refresh { ns(cfg.refi_ns) } else { 0 },
            fixed_latency: cfg.fixed_latency,
        }
    }

    /// Unloaded read latency to an open row: CL + burst.
    pub fn read_hit(&self) -> u64 {
        self.cl + self.burst
    }
    /// Unloaded read latency to a precharged bank: tRCD + CL + burst.
    pub fn read_closed(&self) -> u64 {
        self.rcd + self.cl + self.burst
    }
    /// Unloaded read latency to a bank with another row open: tRP + tRCD + CL + burst.
    pub fn read_conflict(&self) -> u64 {
        self.rp + self.rcd + self.cl + self.burst
    }
}
