//! The disk: a block device that stores swapped pages, behind a latency model chosen by preset.
//!
//! # Contract
//!
//! - A block is one 4 KiB page. The disk stores each written block's [`FrameContent`] bit for
//!   bit, keyed by block number; reading a block that was never (successfully) written is an
//!   error value ([`DiskError::Unwritten`]), never a panic.
//! - `submit(now, req)` queues a request arriving at `now` (not before the last `tick`). It is
//!   refused (handed back) when the queue is full: a request holds its slot from `submit` until
//!   its completion is taken by `pop_completion`, as an NVMe command id stays in use until the
//!   host reaps its completion entry. `queue_depth` bounds waiting + in service + unreaped.
//! - Requests are served **one at a time in FIFO order** (the queue-depth-1 behaviour the
//!   published latencies below are measured at): a request starts at `max(arrival, done of the
//!   one before)` and its service time depends only on the model and on the requests served
//!   before it (an HDD's head position). The schedule is therefore fixed when a request is
//!   submitted, and ticking every cycle or only at `next_event()` gives identical completions.
//! - The operation takes effect at the request's `done` cycle, in FIFO order: a write stores its
//!   content, a read returns the content stored by then. `pop_completion(now)` hands out
//!   completions with `done <= now` in FIFO order (it passes `now` itself, so it does not depend
//!   on whether `tick(now)` ran first).
//! - `tick(now)` (non-decreasing) reports progress when a request completed or changed phase
//!   (seek, rotate, transfer) since the last tick; `next_event()` is the next such cycle. The
//!   phase boundaries are events only so that waveforms show the phases at the right cycle.
//! - Statistics are counted when a request completes (its `done` has passed).
//!
//! # Errors
//!
//! I/O errors are injected by configuration: `fail_nth = N` fails the Nth accepted request
//! (1-based, counting reads and writes together), and `fail_probability = p` fails each request
//! with probability `p`, drawn from a `Xoshiro256PlusPlus` seeded with `seed ^ DISK_STREAM`: one
//! `next_u64()` per accepted request when `p > 0` (none otherwise), its top 53 bits as a uniform
//! `u` in [0, 1), failing when `u < p`. Either rule fails a request. A failed request takes its
//! full service time (the device tried), a failed write stores nothing, and a failed read returns
//! [`DiskError::Io`]. A block at or beyond `capacity_blocks` fails with
//! [`DiskError::OutOfRange`] after one cycle (the controller rejects it) without moving the head.
//!
//! # Latency models (4 KiB random access, queue depth 1)
//!
//! Every time below is converted to core cycles at construction, each rounded up on its own
//! (`ceil(t_ns * core_freq_ghz)`, epsilon-safe like the DRAM's: a product within a relative 1e-9
//! of an integer is that integer). At 4 GHz one microsecond is 4,000 cycles.
//!
//! - **`nvme`** (default), an NVMe NAND SSD: read 88 us, the MQSim default (MLC, tR 75 us) end
//!   to end, inside AnandTech 13704's 40-90 us for 4 KiB QD1 reads \[V\]; write 20 us, the middle
//!   of AnandTech's 17-24 us into the drive's write cache \[V\] (REFERENCE.md, Disks). At 4 GHz:
//!   352,000 and 80,000 cycles.
//! - **`sata_ssd`**: about 40% slower than NVMe at QD1 (AnandTech 13704) \[V\], i.e. 1.4 times
//!   the NVMe latencies: read 123.2 us, write 28 us; at 4 GHz 492,800 and 112,000 cycles.
//! - **`hdd`**, a 7200 rpm drive: `seek(d) + half_rotation + transfer`, reads and writes alike
//!   (no write cache, no track buffer).
//!   - *Seek*: `d` is the block distance from the head, which rests just after the last block
//!     transferred (it starts at block 0). `seek(0) = 0`; otherwise
//!     `seek(d) = seek_min + ceil((seek_max - seek_min) * sqrt(d / capacity_blocks))`, the
//!     square-root law of short, acceleration-limited seeks (Ruemmler and Wilkes, "An
//!     introduction to disk drive modeling", IEEE Computer 1994) \[M\], with `seek_min` the
//!     track-to-track settle time, 1 ms \[M\], and `seek_max` the full stroke, 15 ms \[M\]. Blocks
//!     are not mapped to tracks: any move pays at least `seek_min`. For two uniformly random
//!     blocks E[sqrt(|x - y|)] = 8/15, so the mean seek is 1 + 14 x 8/15 = 8.47 ms, in the
//!     "seek ~8-9 ms" of REFERENCE.md \[M\].
//!   - *Rotation*: half a turn on average, `30 / rpm` s: 4.17 ms at 7200 rpm (REFERENCE.md,
//!     arithmetic), paid by every request, sequential ones included (the platter position is
//!     not modelled).
//!   - *Transfer*: 4096 bytes at the media rate, 160 MB/s (10^6 bytes/s) \[M\], a mid-platter
//!     sustained rate of 7200 rpm drives: 25.6 us.
//!
//!   At 4 GHz: seek_min 4,000,000, seek_max 60,000,000, half rotation 16,666,667 (from
//!   16,666,666.67), transfer 102,400 cycles. A read of block 0 on a new disk (head at 0) costs
//!   16,769,067 cycles; of block 2^26 on the default 2^28-block disk (sqrt(1/4) = 1/2, seek
//!   4,000,000 + 28,000,000) 48,769,067 cycles.
//!
//! `read_us`/`write_us` override the SSD presets; `seek_min_ms`, `seek_max_ms`, `rpm` and
//! `transfer_mb_s` override the HDD's. Setting a key that does not apply to the preset is a
//! configuration error, so that a setting is never silently ignored.

use crate::clock::{ceil_cycles, check_freq, ns_to_cycles};
use crate::error::ConfigError;
use crate::memory::FrameContent;
use crate::types::{Cycle, Cycles, PAGE_SIZE};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use thiserror::Error;

/// XORed into the run's seed for the disk's error-injection generator.
pub const DISK_STREAM: u64 = 0x4449_534b_0000_0001;

// Published figures (REFERENCE.md, Disks; see the module documentation for the derivations).
/// NVMe NAND 4 KiB read at QD1, us: MQSim end to end; AnandTech 13704: 40-90 us \[V\].
const NVME_READ_US: f64 = 88.0;
/// NVMe 4 KiB write into the write cache, us: AnandTech 13704: 17-24 us \[V\].
const NVME_WRITE_US: f64 = 20.0;
/// SATA SSD: ~40% slower than NVMe at QD1 (AnandTech 13704) \[V\]: 1.4 x 88 us.
const SATA_READ_US: f64 = 123.2;
/// SATA SSD: 1.4 x 20 us.
const SATA_WRITE_US: f64 = 28.0;
/// HDD track-to-track seek (settle), ms \[M\].
const HDD_SEEK_MIN_MS: f64 = 1.0;
/// HDD full-stroke seek, ms \[M\]; with the square-root law the mean random seek is 8.47 ms.
const HDD_SEEK_MAX_MS: f64 = 15.0;
/// HDD spindle speed (REFERENCE.md: 7200 rpm, half a turn 4.17 ms).
const HDD_RPM: u32 = 7200;
/// HDD sustained media rate, MB/s (10^6 bytes/s) \[M\].
const HDD_TRANSFER_MB_S: f64 = 160.0;

/// Longest single latency a configuration may ask for, in microseconds (10 s).
const MAX_LATENCY_US: f64 = 1.0e7;
/// Largest disk, in 4 KiB blocks (4 PiB).
const MAX_CAPACITY_BLOCKS: u64 = 1 << 40;
/// Deepest request queue.
const MAX_QUEUE_DEPTH: usize = 65536;

/// Which kind of disk to model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskPreset {
    /// An NVMe NAND SSD (the default).
    #[default]
    Nvme,
    /// A SATA SSD.
    SataSsd,
    /// A 7200 rpm hard disk: seek + rotation + transfer.
    Hdd,
}

impl DiskPreset {
    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskPreset::Nvme => "nvme",
            DiskPreset::SataSsd => "sata_ssd",
            DiskPreset::Hdd => "hdd",
        }
    }
}

/// Disk configuration (`[disk]` in a scenario). Unset overrides take the preset's published
/// values; [`DiskConfig::resolved`] fills them in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// `"nvme"` (default), `"sata_ssd"` or `"hdd"`.
    pub preset: DiskPreset,
    /// SSD presets: latency of one 4 KiB read, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_us: Option<f64>,
    /// SSD presets: latency of one 4 KiB write, microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_us: Option<f64>,
    /// HDD: track-to-track seek (the least any head move costs), milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seek_min_ms: Option<f64>,
    /// HDD: full-stroke seek, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seek_max_ms: Option<f64>,
    /// HDD: spindle speed, revolutions per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// HDD: sustained media transfer rate, MB/s (10^6 bytes per second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_mb_s: Option<f64>,
    /// Size of the disk in 4 KiB blocks (the HDD's seek distances are fractions of it).
    pub capacity_blocks: u64,
    /// Requests the disk holds: waiting, in service, and completed but not yet taken.
    pub queue_depth: usize,
    /// Fail the Nth accepted request (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_nth: Option<u64>,
    /// Fail each request with this probability (seeded; 0 disables).
    pub fail_probability: f64,
}

impl Default for DiskConfig {
    /// An NVMe SSD of 1 TiB (2^28 blocks), 32 queue slots (the AHCI/NCQ depth; NVMe allows
    /// more), no injected errors.
    fn default() -> DiskConfig {
        DiskConfig {
            preset: DiskPreset::Nvme,
            read_us: None,
            write_us: None,
            seek_min_ms: None,
            seek_max_ms: None,
            rpm: None,
            transfer_mb_s: None,
            capacity_blocks: 1 << 28,
            queue_depth: 32,
            fail_nth: None,
            fail_probability: 0.0,
        }
    }
}

fn key(field: &str) -> String {
    format!("disk.{field}")
}

fn in_range(field: &str, v: Option<f64>, lo: f64, hi: f64, unit: &str) -> Result<(), ConfigError> {
    match v {
        Some(x) if !(x.is_finite() && x >= lo && x <= hi) => Err(ConfigError::new(
            key(field),
            format!("must be a finite number of {unit} between {lo} and {hi}, got {x}"),
        )),
        _ => Ok(()),
    }
}

impl DiskConfig {
    /// Checks every field; an error names the full key (for example `disk.rpm`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let preset = self.preset.as_str();
        if self.preset == DiskPreset::Hdd {
            for (field, set) in [
                ("read_us", self.read_us.is_some()),
                ("write_us", self.write_us.is_some()),
            ] {
                if set {
                    return Err(ConfigError::new(
                        key(field),
                        "does not apply to preset \"hdd\", whose latency is seek + rotation + \
                         transfer: set disk.seek_min_ms, disk.seek_max_ms, disk.rpm or \
                         disk.transfer_mb_s instead",
                    ));
                }
            }
        } else {
            for (field, set) in [
                ("seek_min_ms", self.seek_min_ms.is_some()),
                ("seek_max_ms", self.seek_max_ms.is_some()),
                ("rpm", self.rpm.is_some()),
                ("transfer_mb_s", self.transfer_mb_s.is_some()),
            ] {
                if set {
                    return Err(ConfigError::new(
                        key(field),
                        format!(
                            "applies only to preset \"hdd\" (this disk is \"{preset}\"); set \
                             disk.read_us or disk.write_us instead"
                        ),
                    ));
                }
            }
        }
        in_range(
            "read_us",
            self.read_us,
            f64::MIN_POSITIVE,
            MAX_LATENCY_US,
            "us",
        )?;
        in_range(
            "write_us",
            self.write_us,
            f64::MIN_POSITIVE,
            MAX_LATENCY_US,
            "us",
        )?;
        let max_ms = MAX_LATENCY_US / 1000.0;
        in_range("seek_min_ms", self.seek_min_ms, 0.0, max_ms, "ms")?;
        in_range("seek_max_ms", self.seek_max_ms, 0.0, max_ms, "ms")?;
        let r = self.resolved();
        if let (Some(lo), Some(hi)) = (r.seek_min_ms, r.seek_max_ms)
            && hi < lo
        {
            return Err(ConfigError::new(
                key("seek_max_ms"),
                format!("must be at least disk.seek_min_ms ({lo} ms), got {hi}"),
            ));
        }
        if let Some(rpm) = self.rpm
            && !(1..=1_000_000).contains(&rpm)
        {
            return Err(ConfigError::new(
                key("rpm"),
                format!(
                    "must be between 1 and 1000000 revolutions per minute (drives spin at \
                     5400-15000), got {rpm}"
                ),
            ));
        }
        // 4096 bytes in at most 10 s.
        in_range(
            "transfer_mb_s",
            self.transfer_mb_s,
            PAGE_SIZE as f64 / MAX_LATENCY_US,
            1.0e9,
            "MB/s",
        )?;
        if self.capacity_blocks == 0 || self.capacity_blocks > MAX_CAPACITY_BLOCKS {
            return Err(ConfigError::new(
                key("capacity_blocks"),
                format!(
                    "must be between 1 and {MAX_CAPACITY_BLOCKS} 4 KiB blocks, got {}",
                    self.capacity_blocks
                ),
            ));
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
        if self.fail_nth == Some(0) {
            return Err(ConfigError::new(
                key("fail_nth"),
                "counts requests from 1 (the first request is 1), got 0",
            ));
        }
        if !(self.fail_probability.is_finite() && (0.0..=1.0).contains(&self.fail_probability)) {
            return Err(ConfigError::new(
                key("fail_probability"),
                format!(
                    "must be a probability between 0 and 1, got {}",
                    self.fail_probability
                ),
            ));
        }
        Ok(())
    }

    /// This configuration with every override that applies to the preset filled in with its
    /// effective value (the preset's unless overridden): what a run writes beside its results.
    pub fn resolved(&self) -> DiskConfig {
        let mut r = self.clone();
        match self.preset {
            DiskPreset::Nvme => {
                r.read_us.get_or_insert(NVME_READ_US);
                r.write_us.get_or_insert(NVME_WRITE_US);
            }
            DiskPreset::SataSsd => {
                r.read_us.get_or_insert(SATA_READ_US);
                r.write_us.get_or_insert(SATA_WRITE_US);
            }
            DiskPreset::Hdd => {
                r.seek_min_ms.get_or_insert(HDD_SEEK_MIN_MS);
                r.seek_max_ms.get_or_insert(HDD_SEEK_MAX_MS);
                r.rpm.get_or_insert(HDD_RPM);
                r.transfer_mb_s.get_or_insert(HDD_TRANSFER_MB_S);
            }
        }
        r
    }
}

/// The phases of serving one request, in core cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Service {
    pub seek: Cycles,
    pub rotate: Cycles,
    pub transfer: Cycles,
}

impl Service {
    pub fn total(&self) -> Cycles {
        self.seek + self.rotate + self.transfer
    }
}

/// A disk's timing after conversion to core cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum DiskTiming {
    /// An SSD: every read or write takes its fixed latency.
    Flash { read: u64, write: u64 },
    /// A hard disk: `seek(d) + half_rotation + transfer`.
    Hdd {
        seek_min: u64,
        seek_max: u64,
        half_rotation: u64,
        transfer: u64,
        capacity_blocks: u64,
    },
}

/// How long a disk takes to serve a request.
///
/// Contract: `serve(block, write)` is called once per request, in service order, with
/// `block < capacity_blocks`; it returns the phases of that request's service and moves the
/// model's own state (an HDD's head) as if the request had been served. It is deterministic
/// (the same calls give the same answers) and every service takes at least one cycle.
pub trait DiskModel: fmt::Debug {
    fn serve(&mut self, block: u64, write: bool) -> Service;
    /// The model's parameters in core cycles.
    fn timing(&self) -> DiskTiming;
}

/// SSD: a fixed latency per direction, shown as one transfer phase.
#[derive(Debug)]
struct Flash {
    read: u64,
    write: u64,
}

impl DiskModel for Flash {
    fn serve(&mut self, _block: u64, write: bool) -> Service {
        let t = if write { self.write } else { self.read };
        Service {
            transfer: Cycles(t),
            ..Service::default()
        }
    }
    fn timing(&self) -> DiskTiming {
        DiskTiming::Flash {
            read: self.read,
            write: self.write,
        }
    }
}

/// HDD: square-root seek by block distance, half a turn of rotation, transfer at the media rate.
#[derive(Debug)]
struct Hdd {
    seek_min: u64,
    seek_max: u64,
    half_rotation: u64,
    transfer: u64,
    capacity: u64,
    /// The block under the head: just after the last one transferred.
    head: u64,
}

impl Hdd {
    fn seek(&self, block: u64) -> u64 {
        let d = block.abs_diff(self.head);
        if d == 0 {
            return 0;
        }
        let frac = (d as f64 / self.capacity as f64).min(1.0);
        let span = (self.seek_max - self.seek_min) as f64;
        self.seek_min + ceil_cycles(span * frac.sqrt())
    }
}

impl DiskModel for Hdd {
    fn serve(&mut self, block: u64, _write: bool) -> Service {
        let seek = self.seek(block);
        self.head = block + 1;
        Service {
            seek: Cycles(seek),
            rotate: Cycles(self.half_rotation),
            transfer: Cycles(self.transfer),
        }
    }
    fn timing(&self) -> DiskTiming {
        DiskTiming::Hdd {
            seek_min: self.seek_min,
            seek_max: self.seek_max,
            half_rotation: self.half_rotation,
            transfer: self.transfer,
            capacity_blocks: self.capacity,
        }
    }
}

/// Build the model of a resolved, validated configuration.
fn build_model(r: &DiskConfig, ghz: f64) -> Box<dyn DiskModel> {
    let us = |v: Option<f64>| ns_to_cycles(v.unwrap_or_default() * 1e3, ghz).max(1);
    let ms = |v: Option<f64>| ns_to_cycles(v.unwrap_or_default() * 1e6, ghz);
    match r.preset {
        DiskPreset::Nvme | DiskPreset::SataSsd => Box::new(Flash {
            read: us(r.read_us),
            write: us(r.write_us),
        }),
        DiskPreset::Hdd => {
            let rpm = f64::from(r.rpm.unwrap_or(HDD_RPM));
            let rate = r.transfer_mb_s.unwrap_or(HDD_TRANSFER_MB_S);
            Box::new(Hdd {
                seek_min: ms(r.seek_min_ms),
                seek_max: ms(r.seek_max_ms),
                // Half a turn: 30 / rpm seconds.
                half_rotation: ns_to_cycles(30.0e9 / rpm, ghz),
                // 4096 bytes at `rate` x 10^6 bytes/s: 4096 x 1000 / rate ns; at least a cycle.
                transfer: ns_to_cycles(PAGE_SIZE as f64 * 1e3 / rate, ghz).max(1),
                capacity: r.capacity_blocks,
                head: 0,
            })
        }
    }
}

/// What a request does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    Read,
    /// Store this content in the block.
    Write(FrameContent),
}

impl DiskOp {
    pub fn is_write(&self) -> bool {
        matches!(self, DiskOp::Write(_))
    }
}

/// A request for one 4 KiB block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskRequest {
    /// Chosen by the sender; comes back in the completion.
    pub id: u64,
    pub block: u64,
    pub op: DiskOp,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq, Serialize)]
pub enum DiskError {
    /// An injected I/O error (`disk.fail_nth` or `disk.fail_probability`).
    #[error("I/O error on disk request #{request}")]
    Io {
        /// The request's number among accepted requests, from 1.
        request: u64,
    },
    /// The block was never written (or every write to it failed).
    #[error("disk block {block} was never written")]
    Unwritten { block: u64 },
    /// The block lies beyond the end of the disk.
    #[error("disk block {block} is beyond the disk's {capacity} blocks")]
    OutOfRange { block: u64, capacity: u64 },
}

/// A served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskCompletion {
    pub id: u64,
    pub block: u64,
    pub write: bool,
    /// A read's content, `None` for a write; or why it failed.
    pub result: Result<Option<FrameContent>, DiskError>,
    /// The cycle `submit` was called.
    pub arrival: Cycle,
    /// The cycle service ended and the result took effect.
    pub done: Cycle,
}

/// Disk counters (`disk.*` in stats.json). Subtract two snapshots for a warm-up delta.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiskStats {
    /// Read requests completed, failed ones included.
    pub reads: u64,
    /// Write requests completed, failed ones included.
    pub writes: u64,
    /// Requests that completed with an error (injected, unwritten block, out of range).
    pub errors: u64,
    /// Requests refused by a full queue.
    pub refused: u64,
    /// Cycles spent serving requests (seek + rotation + transfer).
    pub busy_cycles: u64,
    pub seek_cycles: u64,
    pub rotation_cycles: u64,
    pub transfer_cycles: u64,
    /// Sum of `done - arrival` (queueing included) over reads, core cycles.
    pub total_read_latency: u64,
    /// Sum of `done - arrival` over writes, core cycles.
    pub total_write_latency: u64,
}

impl std::ops::Sub for &DiskStats {
    type Output = DiskStats;
    /// The counts between two snapshots (saturating).
    fn sub(self, o: &DiskStats) -> DiskStats {
        DiskStats {
            reads: self.reads.saturating_sub(o.reads),
            writes: self.writes.saturating_sub(o.writes),
            errors: self.errors.saturating_sub(o.errors),
            refused: self.refused.saturating_sub(o.refused),
            busy_cycles: self.busy_cycles.saturating_sub(o.busy_cycles),
            seek_cycles: self.seek_cycles.saturating_sub(o.seek_cycles),
            rotation_cycles: self.rotation_cycles.saturating_sub(o.rotation_cycles),
            transfer_cycles: self.transfer_cycles.saturating_sub(o.transfer_cycles),
            total_read_latency: self.total_read_latency.saturating_sub(o.total_read_latency),
            total_write_latency: self
                .total_write_latency
                .saturating_sub(o.total_write_latency),
        }
    }
}

/// What the disk is doing; waveforms show it by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskState {
    Idle,
    /// Moving the head (HDD).
    Seek,
    /// Waiting for the sector to come round (HDD).
    Rotate,
    /// Moving the data (an SSD's whole service shows as this phase).
    Transfer,
}

/// Names of the disk states, indexed by [`DiskState::index`].
pub const DISK_STATE_NAMES: &[&str] = &["Idle", "Seek", "Rotate", "Transfer"];

impl DiskState {
    /// Index into [`DISK_STATE_NAMES`].
    pub fn index(self) -> u64 {
        match self {
            DiskState::Idle => 0,
            DiskState::Seek => 1,
            DiskState::Rotate => 2,
            DiskState::Transfer => 3,
        }
    }
}

/// An accepted request with its schedule.
#[derive(Debug)]
struct Scheduled {
    req: DiskRequest,
    /// Decided at submission: out of range, or an injected failure.
    error: Option<DiskError>,
    arrival: u64,
    start: u64,
    seek_end: u64,
    rotate_end: u64,
    done: u64,
}

impl Scheduled {
    /// The cycles at which the state changes, non-decreasing.
    fn boundaries(&self) -> [u64; 4] {
        [self.start, self.seek_end, self.rotate_end, self.done]
    }
}

/// The disk. See the module documentation for the contract.
#[derive(Debug)]
pub struct Disk {
    model: Box<dyn DiskModel>,
    capacity: u64,
    depth: usize,
    fail_nth: Option<u64>,
    fail_probability: f64,
    rng: Xoshiro256PlusPlus,
    /// Stored content by block number.
    blocks: BTreeMap<u64, FrameContent>,
    /// Accepted and not yet done, in FIFO (= service) order.
    queue: VecDeque<Scheduled>,
    /// Done, waiting for `pop_completion`.
    completed: VecDeque<DiskCompletion>,
    /// The cycle the last scheduled request ends.
    busy_until: u64,
    /// Requests accepted so far.
    accepted: u64,
    last_tick: Option<u64>,
    /// A request completed (by `tick` or `pop_completion`) since the last tick reported it.
    retired_since_tick: bool,
    stats: DiskStats,
}

impl Disk {
    /// Build the disk for a core clocked at `core_freq_ghz`, with the run's `seed`; validates
    /// `cfg` (keys `disk.*`) and the frequency (key `core.freq_ghz`).
    pub fn new(cfg: &DiskConfig, core_freq_ghz: f64, seed: u64) -> Result<Disk, ConfigError> {
        cfg.validate()?;
        check_freq(core_freq_ghz)?;
        let r = cfg.resolved();
        Ok(Disk {
            model: build_model(&r, core_freq_ghz),
            capacity: r.capacity_blocks,
            depth: r.queue_depth,
            fail_nth: r.fail_nth,
            fail_probability: r.fail_probability,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ DISK_STREAM),
            blocks: BTreeMap::new(),
            queue: VecDeque::with_capacity(r.queue_depth.min(1024)),
            completed: VecDeque::new(),
            busy_until: 0,
            accepted: 0,
            last_tick: None,
            retired_since_tick: false,
            stats: DiskStats::default(),
        })
    }

    /// Whether `submit` would accept a request now.
    #[inline]
    pub fn can_accept(&self) -> bool {
        self.queue.len() + self.completed.len() < self.depth
    }

    /// Queue `req`, arriving at `now` (not before the last tick). Refused (handed back) when
    /// the queue is full.
    pub fn submit(&mut self, now: Cycle, req: DiskRequest) -> Result<(), DiskRequest> {
        debug_assert!(
            self.last_tick.is_none_or(|l| now.0 >= l),
            "disk request {} submitted at {now}, before the last tick",
            req.id
        );
        if !self.can_accept() {
            self.stats.refused += 1;
            return Err(req);
        }
        self.accepted += 1;
        let n = self.accepted;
        let mut injected = self.fail_nth == Some(n);
        if self.fail_probability > 0.0 {
            let u = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            injected |= u < self.fail_probability;
        }
        let (service, error) = if req.block >= self.capacity {
            let rejected = Service {
                transfer: Cycles(1),
                ..Service::default()
            };
            let e = DiskError::OutOfRange {
                block: req.block,
                capacity: self.capacity,
            };
            (rejected, Some(e))
        } else {
            let s = self.model.serve(req.block, req.op.is_write());
            (s, injected.then_some(DiskError::Io { request: n }))
        };
        let start = now.0.max(self.busy_until);
        let seek_end = start.saturating_add(service.seek.0);
        let rotate_end = seek_end.saturating_add(service.rotate.0);
        let done = rotate_end.saturating_add(service.transfer.0);
        self.busy_until = done;
        self.queue.push_back(Scheduled {
            req,
            error,
            arrival: now.0,
            start,
            seek_end,
            rotate_end,
            done,
        });
        Ok(())
    }

    /// Advance to `now` (non-decreasing): complete every request done by `now`. True if a
    /// request completed or changed phase since the last tick.
    pub fn tick(&mut self, now: Cycle) -> bool {
        debug_assert!(
            self.last_tick.is_none_or(|l| now.0 >= l),
            "disk ticked backwards"
        );
        let from = self.last_tick.map_or(0, |l| l + 1);
        let crossed = self
            .queue
            .iter()
            .take_while(|s| s.start <= now.0)
            .any(|s| s.boundaries().iter().any(|&b| b >= from && b <= now.0));
        self.retire(now.0);
        let progress = crossed || self.retired_since_tick;
        self.retired_since_tick = false;
        self.last_tick = Some(now.0);
        progress
    }

    /// The earliest cycle after the last tick at which a request changes phase or completes;
    /// `None` when nothing is queued.
    pub fn next_event(&self) -> Option<Cycle> {
        let from = self.last_tick.map_or(0, |l| l + 1);
        self.queue
            .iter()
            .flat_map(|s| s.boundaries())
            .find(|&b| b >= from)
            .map(Cycle)
    }

    /// Take the oldest completion whose `done <= now` (FIFO order).
    pub fn pop_completion(&mut self, now: Cycle) -> Option<DiskCompletion> {
        self.retire(now.0);
        match self.completed.front() {
            Some(c) if c.done <= now => self.completed.pop_front(),
            _ => None,
        }
    }

    /// The `done` cycle of the oldest request not yet taken by `pop_completion`.
    pub fn next_completion(&self) -> Option<Cycle> {
        self.completed
            .front()
            .map(|c| c.done)
            .or_else(|| self.queue.front().map(|s| Cycle(s.done)))
    }

    /// Complete, in FIFO order, every request done by `now`.
    fn retire(&mut self, now: u64) {
        while self.queue.front().is_some_and(|s| s.done <= now) {
            let s = self.queue.pop_front().expect("front checked above");
            let write = s.req.op.is_write();
            let block = s.req.block;
            let result = match (s.error, s.req.op) {
                (Some(e), _) => Err(e),
                (None, DiskOp::Read) => self
                    .blocks
                    .get(&block)
                    .cloned()
                    .map(Some)
                    .ok_or(DiskError::Unwritten { block }),
                (None, DiskOp::Write(content)) => {
                    self.blocks.insert(block, content);
                    Ok(None)
                }
            };
            let st = &mut self.stats;
            let latency = s.done - s.arrival;
            if write {
                st.writes += 1;
                st.total_write_latency += latency;
            } else {
                st.reads += 1;
                st.total_read_latency += latency;
            }
            st.errors += u64::from(result.is_err());
            st.busy_cycles += s.done - s.start;
            st.seek_cycles += s.seek_end - s.start;
            st.rotation_cycles += s.rotate_end - s.seek_end;
            st.transfer_cycles += s.done - s.rotate_end;
            self.completed.push_back(DiskCompletion {
                id: s.req.id,
                block,
                write,
                result,
                arrival: Cycle(s.arrival),
                done: Cycle(s.done),
            });
            self.retired_since_tick = true;
        }
    }

    /// What the disk is doing as of the last tick.
    pub fn state(&self) -> DiskState {
        let t = self.last_tick.unwrap_or(0);
        for s in &self.queue {
            if t < s.start {
                break;
            }
            if t < s.seek_end {
                return DiskState::Seek;
            }
            if t < s.rotate_end {
                return DiskState::Rotate;
            }
            if t < s.done {
                return DiskState::Transfer;
            }
        }
        DiskState::Idle
    }

    /// Requests accepted and not yet done (waiting or in service).
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Requests holding a queue slot: not yet done, or done but not yet taken.
    pub fn outstanding(&self) -> usize {
        self.queue.len() + self.completed.len()
    }

    /// The content stored in `block` as of the last completion, if any.
    pub fn block(&self, block: u64) -> Option<&FrameContent> {
        self.blocks.get(&block)
    }

    pub fn capacity_blocks(&self) -> u64 {
        self.capacity
    }

    /// The model's parameters in core cycles.
    pub fn timing(&self) -> DiskTiming {
        self.model.timing()
    }

    pub fn stats(&self) -> &DiskStats {
        &self.stats
    }
}

impl crate::probe::Probed for Disk {
    fn declare(&self, out: &mut Vec<(String, crate::probe::SignalDecl)>) {
        use crate::probe::SignalDecl;
        out.push(("disk".into(), SignalDecl::state("state", DISK_STATE_NAMES)));
        out.push(("disk".into(), SignalDecl::bits("queue", 32)));
        out.push(("disk".into(), SignalDecl::bits("reads", 64)));
        out.push(("disk".into(), SignalDecl::bits("writes", 64)));
        out.push(("disk".into(), SignalDecl::bits("errors", 64)));
    }

    fn sample(&self, out: &mut Vec<u64>) {
        out.extend([
            self.state().index(),
            self.queue.len() as u64,
            self.stats.reads,
            self.stats.writes,
            self.stats.errors,
        ]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::PhysMem;
    use crate::probe::Probed;
    use crate::types::{PhysAddr, Ppn};

    const GHZ: f64 = 4.0;

    fn disk(cfg: &DiskConfig) -> Disk {
        Disk::new(cfg, GHZ, 1).expect("valid config")
    }

    fn preset(p: DiskPreset) -> DiskConfig {
        DiskConfig {
            preset: p,
            ..DiskConfig::default()
        }
    }

    fn read(id: u64, block: u64) -> DiskRequest {
        DiskRequest {
            id,
            block,
            op: DiskOp::Read,
        }
    }

    fn write(id: u64, block: u64, content: FrameContent) -> DiskRequest {
        DiskRequest {
            id,
            block,
            op: DiskOp::Write(content),
        }
    }

    /// A frame's content with real words and a signature derived from `tag`.
    fn content(tag: u64) -> FrameContent {
        let mut m = PhysMem::new(1);
        for i in 0..8 {
            let pa = PhysAddr(i * 512 + 8);
            m.write_u64(pa, tag.wrapping_mul(0x1000_0001) ^ i);
            m.record_store(pa, tag + i);
        }
        m.frame_content(Ppn(0))
    }

    /// Tick at each event until nothing is queued; the completions in pop order.
    fn drain(d: &mut Disk) -> Vec<DiskCompletion> {
        let mut out = Vec::new();
        while let Some(t) = d.next_event() {
            assert!(d.tick(t), "no progress at the reported event {t}");
            while let Some(c) = d.pop_completion(t) {
                out.push(c);
            }
        }
        assert_eq!(d.outstanding(), 0);
        out
    }

    /// The latency of one request submitted to `d`, idle, 100 cycles after its last tick.
    fn latency(d: &mut Disk, req: DiskRequest) -> u64 {
        let t0 = d.last_tick.map_or(100, |l| l + 100);
        d.submit(Cycle(t0), req).expect("room");
        let out = drain(d);
        assert_eq!(out.len(), 1);
        out[0].done.0 - t0
    }

    #[test]
    fn nvme_page_read_takes_88_us_and_write_20_us() {
        // 88 us x 4,000 cycles/us; 20 us x 4,000.
        let mut d = disk(&preset(DiskPreset::Nvme));
        assert_eq!(
            d.timing(),
            DiskTiming::Flash {
                read: 352_000,
                write: 80_000
            }
        );
        assert_eq!(latency(&mut d, write(1, 5, content(1))), 80_000);
        assert_eq!(latency(&mut d, read(2, 5)), 352_000);
    }

    #[test]
    fn sata_ssd_page_read_and_write_are_forty_percent_slower_than_nvme() {
        // 1.4 x 88 us = 123.2 us = 492,800 cycles; 1.4 x 20 us = 28 us = 112,000 cycles.
        let mut d = disk(&preset(DiskPreset::SataSsd));
        assert_eq!(latency(&mut d, write(1, 5, content(1))), 112_000);
        assert_eq!(latency(&mut d, read(2, 5)), 492_800);
    }

    #[test]
    fn hdd_page_access_is_seek_plus_half_rotation_plus_transfer() {
        // Half a turn at 7200 rpm: 30/7200 s = 4,166,666.67 ns -> 16,666,667 cycles; 4096 B at
        // 160 MB/s: 25.6 us -> 102,400 cycles. Head at block 0, block 0: no seek.
        let mut d = disk(&preset(DiskPreset::Hdd));
        assert_eq!(
            d.timing(),
            DiskTiming::Hdd {
                seek_min: 4_000_000,
                seek_max: 60_000_000,
                half_rotation: 16_666_667,
                transfer: 102_400,
                capacity_blocks: 1 << 28,
            }
        );
        assert_eq!(latency(&mut d, write(1, 0, content(1))), 16_769_067);
        // Head now at block 1. A quarter of the disk away (2^26 blocks from the head):
        // sqrt(1/4) = 1/2 of the 56,000,000-cycle span plus the 4,000,000 settle = 32,000,000.
        let far = 1 + (1 << 26);
        assert_eq!(latency(&mut d, read(2, far)), 48_769_067);
        // Head now at 2^26 + 2. Reads and writes cost the same: the same distance back.
        assert_eq!(latency(&mut d, write(3, 2, content(3))), 48_769_067);
    }

    #[test]
    fn hdd_seek_grows_with_distance_from_the_head() {
        let mut last = 0;
        for d in [0u64, 1, 100, 10_000, 1 << 20, 1 << 26, (1 << 28) - 1] {
            let mut disk = disk(&preset(DiskPreset::Hdd));
            let t = latency(&mut disk, read(1, d));
            let seek = disk.stats().seek_cycles;
            assert_eq!(t, seek + 16_666_667 + 102_400);
            if d == 0 {
                assert_eq!(seek, 0);
            } else {
                assert!(seek > last, "seek to {d} ({seek}) not longer than {last}");
                assert!((4_000_000..=60_000_000).contains(&seek));
            }
            last = seek;
        }
        assert_eq!(last, 60_000_000, "the last block is a full stroke away");
    }

    #[test]
    fn hdd_next_block_needs_no_seek() {
        let mut d = disk(&preset(DiskPreset::Hdd));
        latency(&mut d, write(1, 500, content(1)));
        let seeks = d.stats().seek_cycles;
        assert_eq!(
            latency(&mut d, write(2, 501, content(2))),
            16_666_667 + 102_400
        );
        assert_eq!(d.stats().seek_cycles, seeks);
    }

    #[test]
    fn requests_are_served_one_at_a_time_in_fifo_order() {
        let mut d = disk(&preset(DiskPreset::Nvme));
        d.submit(Cycle(10), write(7, 3, content(7))).unwrap();
        d.submit(Cycle(10), read(8, 3)).unwrap();
        d.submit(Cycle(20), read(9, 4)).unwrap();
        let out = drain(&mut d);
        let ids: Vec<_> = out.iter().map(|c| c.id).collect();
        assert_eq!(ids, [7, 8, 9]);
        let done: Vec<_> = out.iter().map(|c| c.done.0).collect();
        assert_eq!(
            done,
            [10 + 80_000, 10 + 80_000 + 352_000, 10 + 80_000 + 704_000]
        );
        // The read queued behind the write sees the written content.
        assert_eq!(out[1].result, Ok(Some(content(7))));
        assert_eq!(d.stats().total_read_latency, 432_000 + 783_990);
    }

    #[test]
    fn full_queue_refuses_until_a_completion_is_taken() {
        let cfg = DiskConfig {
            queue_depth: 2,
            ..DiskConfig::default()
        };
        let mut d = disk(&cfg);
        d.submit(Cycle(0), read(1, 0)).unwrap();
        d.submit(Cycle(0), read(2, 1)).unwrap();
        assert!(!d.can_accept());
        assert_eq!(d.submit(Cycle(0), read(3, 2)), Err(read(3, 2)));
        assert_eq!(d.stats().refused, 1);
        // Done but not taken: the slot is still held.
        d.tick(Cycle(352_000));
        assert_eq!(d.queue_len(), 1);
        assert_eq!(d.submit(Cycle(352_000), read(3, 2)), Err(read(3, 2)));
        assert_eq!(d.pop_completion(Cycle(352_000)).map(|c| c.id), Some(1));
        assert!(d.submit(Cycle(352_000), read(3, 2)).is_ok());
        let ids: Vec<_> = drain(&mut d).iter().map(|c| c.id).collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn fail_nth_fails_exactly_that_request() {
        let cfg = DiskConfig {
            fail_nth: Some(3),
            ..DiskConfig::default()
        };
        let mut d = disk(&cfg);
        for i in 1..=5 {
            d.submit(Cycle(0), write(i, i, content(i))).unwrap();
        }
        let out = drain(&mut d);
        for c in &out {
            if c.id == 3 {
                assert_eq!(c.result, Err(DiskError::Io { request: 3 }));
            } else {
                assert_eq!(c.result, Ok(None));
            }
        }
        assert_eq!(d.stats().errors, 1);
        // The failed write stored nothing; the others did.
        assert!(d.block(3).is_none());
        assert_eq!(d.block(4), Some(&content(4)));
        // It still took its full service time.
        assert_eq!(out[4].done, Cycle(5 * 80_000));
    }

    fn failure_pattern(seed: u64, p: f64, n: u64) -> Vec<bool> {
        let cfg = DiskConfig {
            fail_probability: p,
            read_us: Some(0.001),
            write_us: Some(0.001),
            queue_depth: n as usize,
            ..DiskConfig::default()
        };
        let mut d = Disk::new(&cfg, GHZ, seed).unwrap();
        for i in 0..n {
            d.submit(Cycle(0), write(i, i, content(i))).unwrap();
        }
        drain(&mut d).iter().map(|c| c.result.is_err()).collect()
    }

    #[test]
    fn probability_failures_are_reproducible_per_seed() {
        let a = failure_pattern(42, 0.25, 2000);
        assert_eq!(a, failure_pattern(42, 0.25, 2000));
        assert_ne!(a, failure_pattern(43, 0.25, 2000));
        let failed = a.iter().filter(|&&f| f).count();
        assert!(
            (400..600).contains(&failed),
            "{failed} of 2000 failed at p = 0.25"
        );
        assert!(failure_pattern(7, 0.0, 100).iter().all(|&f| !f));
        assert!(failure_pattern(7, 1.0, 100).iter().all(|&f| f));
    }

    #[test]
    fn written_page_reads_back_bit_identical() {
        let mut d = disk(&preset(DiskPreset::Hdd));
        let c = content(99);
        assert_ne!(c.signature, 0);
        d.submit(Cycle(0), write(1, 12345, c.clone())).unwrap();
        d.submit(Cycle(0), read(2, 12345)).unwrap();
        let out = drain(&mut d);
        assert_eq!(out[1].result, Ok(Some(c)));
        assert!(!out[1].write);
        assert_eq!((d.stats().reads, d.stats().writes), (1, 1));
    }

    #[test]
    fn reading_an_unwritten_block_is_an_error() {
        let mut d = disk(&DiskConfig::default());
        d.submit(Cycle(0), read(1, 77)).unwrap();
        let out = drain(&mut d);
        assert_eq!(out[0].result, Err(DiskError::Unwritten { block: 77 }));
        assert_eq!(d.stats().errors, 1);
    }

    #[test]
    fn block_beyond_the_disk_fails_after_one_cycle() {
        let cfg = DiskConfig {
            capacity_blocks: 16,
            ..DiskConfig::default()
        };
        let mut d = disk(&cfg);
        d.submit(Cycle(5), write(1, 16, content(1))).unwrap();
        let out = drain(&mut d);
        assert_eq!(
            out[0].result,
            Err(DiskError::OutOfRange {
                block: 16,
                capacity: 16
            })
        );
        assert_eq!(out[0].done, Cycle(6));
    }

    #[test]
    fn overrides_replace_the_preset_figures() {
        let ssd = DiskConfig {
            read_us: Some(10.0),
            ..DiskConfig::default()
        };
        assert_eq!(
            disk(&ssd).timing(),
            DiskTiming::Flash {
                read: 40_000,
                write: 80_000
            }
        );
        let hdd = DiskConfig {
            preset: DiskPreset::Hdd,
            rpm: Some(15_000),
            transfer_mb_s: Some(256.0),
            seek_min_ms: Some(0.5),
            seek_max_ms: Some(8.0),
            ..DiskConfig::default()
        };
        // 2 ms half turn; 4096 B / 256 MB/s = 16 us.
        assert_eq!(
            disk(&hdd).timing(),
            DiskTiming::Hdd {
                seek_min: 2_000_000,
                seek_max: 32_000_000,
                half_rotation: 8_000_000,
                transfer: 64_000,
                capacity_blocks: 1 << 28,
            }
        );
        let r = preset(DiskPreset::Hdd).resolved();
        assert_eq!((r.rpm, r.transfer_mb_s), (Some(7200), Some(160.0)));
        assert_eq!(r.read_us, None);
    }

    #[test]
    fn invalid_config_names_the_key() {
        let bad = |cfg: DiskConfig| cfg.validate().expect_err("invalid").key;
        let base = DiskConfig::default;
        assert_eq!(
            bad(DiskConfig {
                rpm: Some(7200),
                ..base()
            }),
            "disk.rpm"
        );
        assert_eq!(
            bad(DiskConfig {
                preset: DiskPreset::Hdd,
                read_us: Some(5.0),
                ..base()
            }),
            "disk.read_us"
        );
        assert_eq!(
            bad(DiskConfig {
                write_us: Some(0.0),
                ..base()
            }),
            "disk.write_us"
        );
        assert_eq!(
            bad(DiskConfig {
                preset: DiskPreset::Hdd,
                seek_max_ms: Some(0.5),
                ..base()
            }),
            "disk.seek_max_ms"
        );
        assert_eq!(
            bad(DiskConfig {
                fail_nth: Some(0),
                ..base()
            }),
            "disk.fail_nth"
        );
        assert_eq!(
            bad(DiskConfig {
                fail_probability: 1.5,
                ..base()
            }),
            "disk.fail_probability"
        );
        assert_eq!(
            bad(DiskConfig {
                queue_depth: 0,
                ..base()
            }),
            "disk.queue_depth"
        );
        assert_eq!(
            bad(DiskConfig {
                capacity_blocks: 0,
                ..base()
            }),
            "disk.capacity_blocks"
        );
        assert_eq!(
            Disk::new(&base(), 0.0, 1).expect_err("bad frequency").key,
            "core.freq_ghz"
        );
    }

    #[test]
    fn config_rejects_unknown_keys_and_reads_preset_names() {
        use serde::de::value::{Error as DeError, MapDeserializer};
        let parse = |pairs: Vec<(&'static str, &'static str)>| {
            let map = MapDeserializer::<_, DeError>::new(pairs.into_iter());
            DiskConfig::deserialize(map)
        };
        let cfg = parse(vec![("preset", "sata_ssd")]).expect("valid");
        assert_eq!(cfg.preset, DiskPreset::SataSsd);
        assert_eq!(cfg.queue_depth, 32);
        let err = parse(vec![("sead_ms", "1")]).expect_err("unknown key");
        assert!(err.to_string().contains("sead_ms"), "{err}");
    }

    #[test]
    fn probe_shows_hdd_phases_by_name() {
        let mut d = disk(&preset(DiskPreset::Hdd));
        let mut decls = Vec::new();
        d.declare(&mut decls);
        assert_eq!(decls.len(), 5);
        assert_eq!(
            decls[0].1.kind,
            crate::probe::SignalKind::State(DISK_STATE_NAMES)
        );
        let mut states = vec![DISK_STATE_NAMES[d.state().index() as usize]];
        d.submit(Cycle(0), read(1, 1 << 20)).unwrap();
        while let Some(t) = d.next_event() {
            d.tick(t);
            states.push(DISK_STATE_NAMES[d.state().index() as usize]);
        }
        assert_eq!(states, ["Idle", "Seek", "Rotate", "Transfer", "Idle"]);
        let mut values = Vec::new();
        d.sample(&mut values);
        // Idle, nothing queued, one read (of a block never written: an error).
        assert_eq!(values, [0, 0, 1, 0, 1]);
    }

    /// Requests at scripted cycles; ticks at every cycle, or only at events and submissions.
    fn run_script(cfg: &DiskConfig, every_cycle: bool) -> (Vec<DiskCompletion>, DiskStats) {
        let mut d = Disk::new(cfg, GHZ, 9).unwrap();
        let mut script: VecDeque<(u64, DiskRequest)> = VecDeque::from(vec![
            (3, write(1, 40, content(1))),
            (3, read(2, 40)),
            (5000, read(3, 41)),
            (5001, write(4, 9000, content(4))),
            (5001, read(5, 9000)),
            (90_000, read(6, 12)),
            (90_500, write(7, 0, content(7))),
            (400_000, read(8, 0)),
        ]);
        let mut out = Vec::new();
        let mut now = 0;
        loop {
            while script.front().is_some_and(|(t, _)| *t == now) {
                let (_, r) = script.pop_front().unwrap();
                d.submit(Cycle(now), r).expect("room");
            }
            d.tick(Cycle(now));
            while let Some(c) = d.pop_completion(Cycle(now)) {
                out.push(c);
            }
            let next = [d.next_event().map(|c| c.0), script.front().map(|(t, _)| *t)]
                .into_iter()
                .flatten()
                .min();
            match next {
                None => break,
                Some(n) if every_cycle => {
                    assert!(n > now);
                    now += 1;
                }
                Some(n) => now = n,
            }
        }
        (out, d.stats().clone())
    }

    #[test]
    fn ticking_every_cycle_matches_skipping_to_events() {
        let ssd = DiskConfig {
            read_us: Some(7.5),
            write_us: Some(2.25),
            fail_probability: 0.3,
            ..DiskConfig::default()
        };
        let hdd = DiskConfig {
            preset: DiskPreset::Hdd,
            seek_min_ms: Some(0.001),
            seek_max_ms: Some(0.01),
            rpm: Some(1_000_000),
            transfer_mb_s: Some(400.0),
            capacity_blocks: 10_000,
            fail_nth: Some(4),
            ..DiskConfig::default()
        };
        for cfg in [ssd, hdd] {
            let skipped = run_script(&cfg, false);
            let ticked = run_script(&cfg, true);
            assert_eq!(skipped.0.len(), 8);
            assert_eq!(skipped, ticked, "{:?}", cfg.preset);
        }
    }
}
