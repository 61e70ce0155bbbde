//! The DRAM configuration: plain data with defaults, checked by `validate`.

use super::mapping::AddressMapping;
use crate::ConfigError;
use serde::{Deserialize, Serialize};

/// Which DRAM model to build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DramModelKind {
    /// Banks, rows, DDR4 timing, refresh and an FR-FCFS controller (the default).
    #[default]
    Ddr4,
    /// Every request takes exactly `fixed_latency` core cycles: for tests and hand-derived
    /// expectations.
    Fixed,
}

/// DRAM configuration (`[dram]` in a scenario). The defaults are DDR4-3200AA 22-22-22, as in
/// DRAMSim3 `DDR4_8Gb_x8_3200.ini` and Ramulator 2 `DDR4_3200AA` (see REFERENCE.md, DRAM).
///
/// Timing fields are in DRAM clock cycles (tCK) or nanoseconds as their names say; the model
/// converts each one to core cycles at construction, rounding up (see [`super::CoreTiming`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DramConfig {
    /// `"ddr4"` (default) or `"fixed"`.
    pub model: DramModelKind,
    /// Fixed model only: every request completes exactly this many core cycles after its
    /// arrival.
    pub fixed_latency: u64,
    /// Independent channels (each its own command and data bus and request queue).
    pub channels: u32,
    /// Ranks per channel.
    pub ranks: u32,
    /// Bank groups per rank.
    pub bank_groups: u32,
    /// Banks per bank group.
    pub banks_per_group: u32,
    /// Rows per bank.
    pub rows: u32,
    /// Bus-width columns per row: a 64-byte line is a BL8 burst on an x64 bus, 8 columns.
    pub columns: u32,
    /// DRAM clock period in nanoseconds.
    pub tck_ns: f64,
    /// Read latency (RD to first data), tCK.
    pub cl: u32,
    /// ACT to RD/WR, tCK.
    pub rcd: u32,
    /// PRE to ACT, tCK.
    pub rp: u32,
    /// ACT to PRE, tCK.
    pub ras: u32,
    /// Write latency (WR to first data), tCK.
    pub cwl: u32,
    /// Data burst length on the bus, tCK (BL8 on DDR: 4).
    pub burst: u32,
    /// Column to column, different bank group, tCK.
    pub ccd_s: u32,
    /// Column to column, same bank group, tCK.
    pub ccd_l: u32,
    /// ACT to ACT, different bank group of one rank, tCK.
    pub rrd_s: u32,
    /// ACT to ACT, same bank group, tCK.
    pub rrd_l: u32,
    /// Four-activate window of one rank, tCK.
    pub faw: u32,
    /// Write recovery: end of write data to PRE of that bank, tCK.
    pub wr: u32,
    /// RD to PRE of that bank, tCK.
    pub rtp: u32,
    /// End of write data to RD, different bank group of the rank, tCK.
    pub wtr_s: u32,
    /// End of write data to RD, same bank group, tCK.
    pub wtr_l: u32,
    /// Refresh cycle time (the rank is busy this long), ns.
    pub rfc_ns: f64,
    /// Refresh interval per rank, ns.
    pub refi_ns: f64,
    /// Model refresh.
    pub refresh: bool,
    /// How physical address bits select channel, rank, bank group, bank, row and column.
    pub mapping: AddressMapping,
    /// Requests the controller can hold per channel, waiting for their column command.
    pub queue_depth: usize,
}

impl Default for DramConfig {
    /// DDR4-3200AA (22-22-22), 8 Gb x8 devices, one x64 channel with one rank
    /// (REFERENCE.md, DRAM, checked against the source).
    fn default() -> DramConfig {
        DramConfig {
            model: DramModelKind::Ddr4,
            fixed_latency: 200,
            channels: 1,
            ranks: 1,
            bank_groups: 4,
            banks_per_group: 4,
            rows: 65536,
            columns: 1024,
            tck_ns: 0.625,
            cl: 22,
            rcd: 22,
            rp: 22,
            ras: 52,
            cwl: 16,
            burst: 4,
            ccd_s: 4,
            ccd_l: 8,
            rrd_s: 4,
            rrd_l: 8,
            faw: 34,
            wr: 24,
            rtp: 12,
            wtr_s: 4,
            wtr_l: 12,
            rfc_ns: 350.0,
            refi_ns: 7800.0,
            refresh: true,
            mapping: AddressMapping::default(),
            queue_depth: 32,
        }
    }
}

/// Columns one 64-byte line occupies: a BL8 burst on an x64 bus.
pub(super) const COLUMNS_PER_LINE: u32 = 8;
/// Largest queue the controller scans per command; deeper queues make no sense for FR-FCFS
/// and would only slow the model down.
const MAX_QUEUE_DEPTH: usize = 4096;

fn key(field: &str) -> String {
    format!("dram.{field}")
}

fn power_of_two(field: &str, v: u32) -> Result<(), ConfigError> {
    if v == 0 || !v.is_power_of_two() {
        return Err(ConfigError::new(
            key(field),
            format!("must be a power of two (1, 2, 4, ...), got {v}"),
        ));
    }
    Ok(())
}

fn at_least_one(field: &str, v: u32) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(ConfigError::new(
            key(field),
            "must be at least 1 tCK, got 0",
        ));
    }
    Ok(())
}

fn positive_ns(field: &str, v: f64) -> Result<(), ConfigError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(ConfigError::new(
            key(field),
            format!("must be a positive, finite number of nanoseconds, got {v}"),
        ));
    }
    Ok(())
}

impl DramConfig {
    /// The `fixed` model answering every request `latency` core cycles after it arrives, the
    /// other settings at their defaults (for tests and hand-derived expectations).
    pub fn fixed(latency: u64) -> DramConfig {
        DramConfig {
            model: DramModelKind::Fixed,
            fixed_latency: latency,
            ..DramConfig::default()
        }
    }

    /// Checks every field; an error names the full key (for example `dram.cl`) and what is
    /// allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.fixed_latency == 0 {
            return Err(ConfigError::new(
                key("fixed_latency"),
                "must be at least 1 core cycle, got 0",
            ));
        }
        power_of_two("channels", self.channels)?;
        power_of_two("ranks", self.ranks)?;
        power_of_two("bank_groups", self.bank_groups)?;
        power_of_two("banks_per_group", self.banks_per_group)?;
        power_of_two("rows", self.rows)?;
        power_of_two("columns", self.columns)?;
        if self.columns < COLUMNS_PER_LINE {
            return Err(ConfigError::new(
                key("columns"),
                format!(
                    "must be at least {COLUMNS_PER_LINE} (one 64-byte line is {COLUMNS_PER_LINE} \
                     bus-width columns), got {}",
                    self.columns
                ),
            ));
        }
        let lines_per_row = self.columns / COLUMNS_PER_LINE;
        let bits = crate::LINE_SHIFT
            + self.channels.trailing_zeros()
            + self.ranks.trailing_zeros()
            + self.bank_groups.trailing_zeros()
            + self.banks_per_group.trailing_zeros()
            + self.rows.trailing_zeros()
            + lines_per_row.trailing_zeros();
        if bits > 64 {
            return Err(ConfigError::new(
                key("rows"),
                format!(
                    "the geometry (channels x ranks x banks x rows x columns) needs {bits} \
                     address bits, more than 64"
                ),
            ));
        }
        positive_ns("tck_ns", self.tck_ns)?;
        for (field, v) in [
            ("cl", self.cl),
            ("rcd", self.rcd),
            ("rp", self.rp),
            ("ras", self.ras),
            ("cwl", self.cwl),
            ("burst", self.burst),
        ] {
            at_least_one(field, v)?;
        }
        // ccd, rrd, faw, wr, rtp and wtr may be 0 (no constraint); any u32 is accepted.
        if self.refresh {
            positive_ns("rfc_ns", self.rfc_ns)?;
            positive_ns("refi_ns", self.refi_ns)?;
            if self.rfc_ns >= self.refi_ns {
                return Err(ConfigError::new(
                    key("rfc_ns"),
                    format!(
                        "must be shorter than dram.refi_ns ({}), got {}",
                        self.refi_ns, self.rfc_ns
                    ),
                ));
            }
        }
        if self.queue_depth == 0 || self.queue_depth > MAX_QUEUE_DEPTH {
            return Err(ConfigError::new(
                key("queue_depth"),
                format!(
                    "must be between 1 and {MAX_QUEUE_DEPTH}, got {}",
                    self.queue_depth
                ),
            ));
        }
        Ok(())
    }

    /// Banks per rank.
    pub(super) fn banks_per_rank(&self) -> u32 {
        self.bank_groups * self.banks_per_group
    }

    /// Banks per channel.
    pub(super) fn banks_per_channel(&self) -> u32 {
        self.ranks * self.banks_per_rank()
    }
}
