//! Scenarios: processes with segments, workloads and timed system calls, and DMA devices.
//!
//! A scenario file is a config file (see [`crate::config`]) with `[[process]]` and `[[device]]`
//! tables; `vmsim run --scenario FILE` loads it like `--config FILE` and requires at least one
//! process. These are the types of those tables, their validation, and the helpers the run loop
//! builds a process from:
//!
//! - process number `i` of `cfg.process` (0-based) has pid `i + 1` ([`pid_of`]); errors name it
//!   `process[i]`, the key path of its table;
//! - its address space starts as [`ProcessConfig::initial_segments`] (each one
//!   [`SegmentConfig::to_segment`]);
//! - its accesses come from [`ProcessConfig::build_workload`] (seeded by [`process_seed`]);
//! - its [`EventConfig`]s run, in order, when its access count reaches their `after`
//!   ([`EventConfig::syscall`] gives the resolved call);
//! - each [`DeviceConfig`] writes bursts by DMA into a `dma` segment of one process
//!   ([`DeviceConfig::burst_cycle`], [`DeviceConfig::burst_va`]).
//!
//! [`validate`] checks everything that can be checked before the run; a trace file that cannot
//! be opened is reported when the workload is built, naming the process.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vmsim_hw::{LINE_SIZE, PAGE_SIZE, VirtAddr};
use vmsim_os::{Segment, SegmentKind, SegmentPerms};

use crate::config::ConfigError;
use crate::workload::{self, USER_VA_END, Workload, WorkloadConfig, WorkloadError, process_label};

/// The built-in default system that `vmsim run` runs with no workload, trace, scenario or config
/// of its own (`sim/scenarios/default.toml`).
pub const DEFAULT_SYSTEM: &str = include_str!("../scenarios/default.toml");

/// Most processes a scenario may describe: the 4095 non-zero 12-bit PCIDs.
pub const MAX_PROCESSES: usize = 4095;

/// Largest DMA burst: one page.
pub const MAX_BURST_BYTES: u64 = PAGE_SIZE;

/// The pid of `[[process]]` number `index` (0-based): `index + 1`.
pub fn pid_of(index: usize) -> u32 {
    u32::try_from(index + 1).expect("validate() caps the number of processes")
}

/// The seed of process `pid`'s workload in a run seeded with `run_seed`:
/// `run_seed ^ (pid - 1) * 0x9E3779B97F4A7C15` (wrapping). Process 1 gets the run's seed, so a
/// one-process scenario generates the same stream as a classic run with the same `[workload]`;
/// other processes get distinct streams.
pub fn process_seed(run_seed: u64, pid: u32) -> u64 {
    run_seed ^ u64::from(pid.saturating_sub(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn default_perms() -> SegmentPerms {
    SegmentPerms {
        r: true,
        w: true,
        x: false,
        u: true,
    }
}

fn default_kind() -> SegmentKind {
    SegmentKind::Anonymous
}

/// One segment of a process (`[[process.segments]]`): `len` bytes from `start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// First byte; 4 KiB aligned.
    pub start: u64,
    /// Length in bytes; a non-zero multiple of 4096, and `start + len` at most 2^47.
    pub len: u64,
    /// Letters from "rwxu" (read, write, execute, user), any order, "-" ignored: "rw-u".
    /// Default "rw-u".
    #[serde(default = "default_perms")]
    pub perms: SegmentPerms,
    /// "anonymous" (default), "shared:NAME" or "dma".
    #[serde(default = "default_kind")]
    pub kind: SegmentKind,
}

impl SegmentConfig {
    /// The OS segment `[start, start + len)`.
    pub fn to_segment(&self) -> Segment {
        Segment {
            start: VirtAddr(self.start),
            end: VirtAddr(self.start.saturating_add(self.len)),
            perms: self.perms,
            kind: self.kind.clone(),
        }
    }

    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// The system call of an [`EventConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyscallOp {
    /// Map a new segment `[start, start + len)` with `perms` and `kind`.
    Mmap,
    /// Unmap `[start, start + len)` (whole segments or parts of them).
    Munmap,
    /// Change the permissions of `[start, start + len)` to `perms`.
    Mprotect,
}

impl SyscallOp {
    pub fn as_str(self) -> &'static str {
        match self {
            SyscallOp::Mmap => "mmap",
            SyscallOp::Munmap => "munmap",
            SyscallOp::Mprotect => "mprotect",
        }
    }
}

/// A timed system call of a process (`[[process.events]]`): executed when the process has made
/// `after` accesses (before its access number `after + 1`; `after = 0` runs before its first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventConfig {
    /// Accesses of this process before the call; events of a process are listed in
    /// non-decreasing `after` order, and ties run in the order listed.
    pub after: u64,
    /// "mmap", "munmap" or "mprotect".
    pub op: SyscallOp,
    /// First byte of the range; 4 KiB aligned.
    pub start: u64,
    /// Length of the range in bytes; a non-zero multiple of 4096.
    pub len: u64,
    /// The new permissions: required for mmap and mprotect, not allowed for munmap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perms: Option<SegmentPerms>,
    /// mmap only: what backs the new segment; default "anonymous".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SegmentKind>,
}

/// A resolved system call, as the kernel takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Syscall {
    Mmap(Segment),
    Munmap {
        start: VirtAddr,
        end: VirtAddr,
    },
    Mprotect {
        start: VirtAddr,
        end: VirtAddr,
        perms: SegmentPerms,
    },
}

impl EventConfig {
    /// The call this event makes (of a validated event: a missing `perms` is then impossible;
    /// it would read as no access).
    pub fn syscall(&self) -> Syscall {
        let start = VirtAddr(self.start);
        let end = VirtAddr(self.start.saturating_add(self.len));
        let perms = self
            .perms
            .unwrap_or(SegmentPerms::parse("").expect("empty perms"));
        match self.op {
            SyscallOp::Mmap => Syscall::Mmap(Segment {
                start,
                end,
                perms,
                kind: self.kind.clone().unwrap_or(SegmentKind::Anonymous),
            }),
            SyscallOp::Munmap => Syscall::Munmap { start, end },
            SyscallOp::Mprotect => Syscall::Mprotect { start, end, perms },
        }
    }
}

/// One process of a scenario (`[[process]]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// A name for outputs and errors; optional, non-empty and unique when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The segments the process starts with; page aligned, non-empty, not overlapping.
    pub segments: Vec<SegmentConfig>,
    /// Its accesses: a trace, or a synthetic generator (aim `base`/`pages` at a segment to stay
    /// inside it, or outside it on purpose to fault).
    pub workload: WorkloadConfig,
    /// Timed system calls, in non-decreasing `after` order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventConfig>,
    /// A kernel thread: it runs in supervisor mode on the kernel's memory only (needs
    /// `os.kernel_pages`; no segments or events of its own). Its workload's addresses are
    /// offsets into the kernel mapping: `base = 0` is its first page. Its TLB entries are
    /// global, so they survive the flushes of context switches without PCID.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub kernel_thread: bool,
}

impl ProcessConfig {
    /// The address space the process starts with.
    pub fn initial_segments(&self) -> Vec<Segment> {
        self.segments
            .iter()
            .map(SegmentConfig::to_segment)
            .collect()
    }

    /// Build the workload of `[[process]]` number `index` (0-based, pid `index + 1`) in a run
    /// seeded with `run_seed`: seeded with [`process_seed`], carrying data for its pid if
    /// `workload.data`. An error names the process (`process[1].workload.pages`, or
    /// `process[1] (pid 2, "b"): t.lackey: ...` for a trace that cannot be opened).
    pub fn build_workload(
        &self,
        index: usize,
        run_seed: u64,
    ) -> Result<Box<dyn Workload>, WorkloadError> {
        let pid = pid_of(index);
        workload::build_for(&self.workload, process_seed(run_seed, pid), pid)
            .map_err(|e| e.in_process(index, self.name.as_deref()))
    }
}

fn default_burst_bytes() -> u64 {
    1536
}

fn default_interval_cycles() -> u64 {
    5000
}

fn default_bursts() -> u64 {
    100
}

/// A network-card-like device (`[[device]]`) that writes bursts by DMA into a process's `dma`
/// segment, used as a ring of one buffer per page (a DMA descriptor starts at a frame's first
/// byte): burst `k` (0-based, `k < bursts`) is submitted at cycle `(k + 1) * interval_cycles`
/// (later if the DMA engine's queue is full: the next one follows `interval_cycles` after it)
/// and writes `burst_bytes` from the start of page `k mod pages` of the segment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// The process it writes into: its pid, the 1-based position of its `[[process]]` table.
    pub process: usize,
    /// Start of that process's `dma` segment.
    pub segment_start: u64,
    /// Bytes per burst: a multiple of 64 (a cache line) from 64 to 4096; default 1536 (an
    /// Ethernet frame of 1500 bytes, rounded up to lines).
    #[serde(default = "default_burst_bytes")]
    pub burst_bytes: u64,
    /// Cycles between bursts; default 5000 (1.25 us at 4 GHz: 1536 bytes at about 10 Gb/s).
    #[serde(default = "default_interval_cycles")]
    pub interval_cycles: u64,
    /// Number of bursts; default 100.
    #[serde(default = "default_bursts")]
    pub bursts: u64,
}

impl DeviceConfig {
    /// The index into `cfg.process` of the process it writes into.
    pub fn process_index(&self) -> usize {
        self.process.saturating_sub(1)
    }

    /// The cycle at which burst `k` (0-based) is submitted: `(k + 1) * interval_cycles`.
    pub fn burst_cycle(&self, k: u64) -> u64 {
        (k + 1).saturating_mul(self.interval_cycles)
    }

    /// The first virtual address burst `k` writes, in a segment of `segment_len` bytes.
    pub fn burst_va(&self, k: u64, segment_len: u64) -> VirtAddr {
        let pages = (segment_len / PAGE_SIZE).max(1);
        VirtAddr(self.segment_start + (k % pages) * PAGE_SIZE)
    }
}

fn key_err(key: String, msg: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key,
        msg: msg.into(),
    }
}

/// Check a range `[start, start + len)` at key `at` (`process[0].segments[1]`): aligned,
/// non-empty, in the user space.
fn check_range(at: &str, start: u64, len: u64) -> Result<(), ConfigError> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(key_err(
            format!("{at}.start"),
            format!("must be 4 KiB page aligned (a multiple of 0x1000), got {start:#x}"),
        ));
    }
    if start >= USER_VA_END {
        return Err(key_err(
            format!("{at}.start"),
            format!(
                "must lie in the 47-bit user address space (below {USER_VA_END:#x}), got {start:#x}"
            ),
        ));
    }
    if len == 0 || !len.is_multiple_of(PAGE_SIZE) {
        return Err(key_err(
            format!("{at}.len"),
            format!("must be a non-zero multiple of 4096 bytes (whole pages), got {len:#x}"),
        ));
    }
    if start.checked_add(len).is_none_or(|end| end > USER_VA_END) {
        return Err(key_err(
            format!("{at}.len"),
            format!(
                "{len:#x} bytes from {start:#x} run past the 47-bit user address space (end \
                 {USER_VA_END:#x}; at most {:#x} bytes fit)",
                USER_VA_END - start
            ),
        ));
    }
    Ok(())
}

/// Validate the scenario part of a configuration: processes, their segments, workloads and
/// events, and devices. The error names the key (`process[0].segments[1].len`) and what is
/// allowed.
pub fn validate(processes: &[ProcessConfig], devices: &[DeviceConfig]) -> Result<(), ConfigError> {
    if processes.len() > MAX_PROCESSES {
        return Err(key_err(
            "process".into(),
            format!(
                "at most {MAX_PROCESSES} processes (one per PCID), got {}",
                processes.len()
            ),
        ));
    }
    // Every shared object's length, and where it was first seen.
    let mut shared: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut check_shared = |kind: &SegmentKind, len: u64, at: String| match kind {
        SegmentKind::Shared(name) => match shared.get(name.as_str()) {
            Some((first_len, first_at)) if *first_len != len => Err(key_err(
                format!("{at}.len"),
                format!(
                    "shared object {name:?} is {len:#x} bytes here but {first_len:#x} bytes at \
                     {first_at}: every segment of one shared object has the same length"
                ),
            )),
            Some(_) => Ok(()),
            None => {
                shared.insert(name.clone(), (len, at));
                Ok(())
            }
        },
        _ => Ok(()),
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in processes.iter().enumerate() {
        if let Some(name) = &p.name {
            if name.is_empty() {
                return Err(key_err(
                    format!("process[{i}].name"),
                    "must not be empty (leave it out for an unnamed process)",
                ));
            }
            if let Some(first) = names.insert(name, i) {
                return Err(key_err(
                    format!("process[{i}].name"),
                    format!("{name:?} is already the name of process[{first}]; names are unique"),
                ));
            }
        }
        for (j, s) in p.segments.iter().enumerate() {
            let at = format!("process[{i}].segments[{j}]");
            check_range(&at, s.start, s.len)?;
            check_shared(&s.kind, s.len, at)?;
        }
        // Overlaps: in order of start, each segment against the furthest-reaching one before it.
        let mut order: Vec<usize> = (0..p.segments.len()).collect();
        order.sort_by_key(|&j| (p.segments[j].start, j));
        let mut reach: Option<usize> = None;
        for &j in &order {
            let s = &p.segments[j];
            if let Some(r) = reach {
                let o = &p.segments[r];
                if s.start < o.end() {
                    let (a, b) = (j.max(r), j.min(r));
                    let (sa, sb) = (&p.segments[a], &p.segments[b]);
                    return Err(key_err(
                        format!("process[{i}].segments[{a}]"),
                        format!(
                            "{:#x}..{:#x} overlaps process[{i}].segments[{b}] ({:#x}..{:#x}); \
                             the segments of a process must not overlap",
                            sa.start,
                            sa.end(),
                            sb.start,
                            sb.end()
                        ),
                    ));
                }
                if s.end() > o.end() {
                    reach = Some(j);
                }
            } else {
                reach = Some(j);
            }
        }
        p.workload
            .validate()
            .map_err(|e| ConfigError::Workload(e.in_process(i, p.name.as_deref())))?;
        let mut prev_after = 0;
        for (j, e) in p.events.iter().enumerate() {
            let at = format!("process[{i}].events[{j}]");
            if e.after < prev_after {
                return Err(key_err(
                    format!("{at}.after"),
                    format!(
                        "events run in order: must be at least the previous event's after \
                         ({prev_after}), got {}",
                        e.after
                    ),
                ));
            }
            prev_after = e.after;
            check_range(&at, e.start, e.len)?;
            let op = e.op.as_str();
            match e.op {
                SyscallOp::Mmap | SyscallOp::Mprotect if e.perms.is_none() => {
                    return Err(key_err(
                        format!("{at}.perms"),
                        format!(
                            "{op} needs the new permissions, letters from \"rwxu\" (e.g. \"rw-u\")"
                        ),
                    ));
                }
                SyscallOp::Munmap if e.perms.is_some() => {
                    return Err(key_err(
                        format!("{at}.perms"),
                        "munmap takes no permissions (only mmap and mprotect do)",
                    ));
                }
                _ => {}
            }
            match (&e.kind, e.op) {
                (Some(kind), SyscallOp::Mmap) => check_shared(kind, e.len, at)?,
                (Some(_), _) => {
                    return Err(key_err(
                        format!("{at}.kind"),
                        format!("{op} takes no kind (only mmap does)"),
                    ));
                }
                (None, _) => {}
            }
        }
    }
    for (d, dev) in devices.iter().enumerate() {
        let at = format!("device[{d}]");
        if processes.is_empty() {
            return Err(key_err(
                format!("{at}.process"),
                "there is no [[process]] for the device to write into",
            ));
        }
        if dev.process == 0 || dev.process > processes.len() {
            return Err(key_err(
                format!("{at}.process"),
                format!(
                    "must be the pid of a process: 1 to {} (the 1-based position of its \
                     [[process]] table), got {}",
                    processes.len(),
                    dev.process
                ),
            ));
        }
        let i = dev.process - 1;
        let p = &processes[i];
        let Some(j) = p.segments.iter().position(|s| s.start == dev.segment_start) else {
            let starts: Vec<String> = p
                .segments
                .iter()
                .filter(|s| s.kind == SegmentKind::Dma)
                .map(|s| format!("{:#x}", s.start))
                .collect();
            return Err(key_err(
                format!("{at}.segment_start"),
                format!(
                    "{:#x} is not the start of a segment of process[{i}] (pid {}); its dma \
                     segments start at: {}",
                    dev.segment_start,
                    dev.process,
                    if starts.is_empty() {
                        "none".to_string()
                    } else {
                        starts.join(", ")
                    }
                ),
            ));
        };
        let s = &p.segments[j];
        if s.kind != SegmentKind::Dma {
            return Err(key_err(
                format!("{at}.segment_start"),
                format!(
                    "{:#x} starts process[{i}].segments[{j}], of kind \"{}\": a device writes \
                     only into a segment of kind \"dma\"",
                    dev.segment_start, s.kind
                ),
            ));
        }
        if dev.burst_bytes < LINE_SIZE
            || dev.burst_bytes > MAX_BURST_BYTES
            || !dev.burst_bytes.is_multiple_of(LINE_SIZE)
        {
            return Err(key_err(
                format!("{at}.burst_bytes"),
                format!(
                    "must be a multiple of {LINE_SIZE} (a cache line) from {LINE_SIZE} to \
                     {MAX_BURST_BYTES}, got {}",
                    dev.burst_bytes
                ),
            ));
        }
        if dev.burst_bytes > s.len {
            return Err(key_err(
                format!("{at}.burst_bytes"),
                format!(
                    "{} bytes do not fit process[{i}].segments[{j}] ({} bytes)",
                    dev.burst_bytes, s.len
                ),
            ));
        }
        if dev.interval_cycles == 0 {
            return Err(key_err(
                format!("{at}.interval_cycles"),
                "must be at least 1 cycle",
            ));
        }
        if dev.bursts == 0 {
            return Err(key_err(
                format!("{at}.bursts"),
                "must be at least 1 (leave the [[device]] out for none)",
            ));
        }
    }
    Ok(())
}

/// How a process is named in messages: `process[1] (pid 2, "b")`.
pub fn label(index: usize, p: &ProcessConfig) -> String {
    process_label(index, p.name.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigBuilder};

    const GOOD: &str = r#"
[os]
frames = 4096

[disk]
preset = "hdd"

[[process]]
name = "server"
segments = [
  { start = 0x1000_0000, len = 0x10_0000, perms = "rw-u" },
  { start = 0x2000_0000, len = 0x4000, perms = "rwu", kind = "dma" },
  { start = 0x3000_0000, len = 0x2000, perms = "r--u", kind = "shared:log" },
]
workload = { kind = "random", pages = 256, base = 0x1000_0000, accesses = 1000, data = true }
events = [
  { after = 10, op = "mmap", start = 0x4000_0000, len = 0x1000, perms = "rw-u" },
  { after = 10, op = "mprotect", start = 0x1000_0000, len = 0x1000, perms = "r--u" },
  { after = 20, op = "munmap", start = 0x4000_0000, len = 0x1000 },
]

[[process]]
segments = [{ start = 0x5000_0000, len = 0x2000, kind = "shared:log" }]
workload = { kind = "sequential", pages = 2, base = 0x5000_0000, accesses = 10 }

[[device]]
process = 1
segment_start = 0x2000_0000
burst_bytes = 512
"#;

    fn build(text: &str) -> Result<Config, ConfigError> {
        ConfigBuilder::new().toml("s.toml", text)?.build()
    }

    fn err(text: &str) -> String {
        build(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_full_scenario_parses_with_defaults_filled_in() {
        let c = build(GOOD).unwrap();
        assert!(c.is_scenario());
        assert_eq!(c.os.frames, 4096);
        assert_eq!(c.disk.preset, vmsim_hw::disk::DiskPreset::Hdd);
        assert_eq!(c.process.len(), 2);
        let p = &c.process[0];
        assert_eq!(p.name.as_deref(), Some("server"));
        assert_eq!(p.segments[1].kind, SegmentKind::Dma);
        assert_eq!(p.segments[2].kind, SegmentKind::Shared("log".into()));
        assert!(p.workload.data);
        assert_eq!(p.events[2].op, SyscallOp::Munmap);
        // Defaults: perms rw-u, kind anonymous, the device's interval and count.
        let q = &c.process[1];
        assert_eq!(q.segments[0].perms.to_string(), "rw-u");
        assert_eq!(c.process[0].segments[0].kind, SegmentKind::Anonymous);
        assert_eq!(c.device[0].interval_cycles, 5000);
        assert_eq!(c.device[0].bursts, 100);
        let seg = p.segments[0].to_segment();
        assert_eq!(
            (seg.start, seg.end),
            (VirtAddr(0x1000_0000), VirtAddr(0x1010_0000))
        );
        assert_eq!(p.initial_segments().len(), 3);
        assert_eq!(
            p.events[0].syscall(),
            Syscall::Mmap(Segment {
                start: VirtAddr(0x4000_0000),
                end: VirtAddr(0x4000_1000),
                perms: SegmentPerms::parse("rwu").unwrap(),
                kind: SegmentKind::Anonymous,
            })
        );
        assert_eq!(
            p.events[2].syscall(),
            Syscall::Munmap {
                start: VirtAddr(0x4000_0000),
                end: VirtAddr(0x4000_1000)
            }
        );
    }

    #[test]
    fn a_scenario_round_trips_through_the_written_config() {
        let c = build(GOOD).unwrap();
        let again = build(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn the_classic_config_has_no_processes_and_writes_none() {
        let c = ConfigBuilder::new().build().unwrap();
        assert!(!c.is_scenario());
        let text = c.to_toml();
        assert!(!text.contains("process"), "{text}");
        assert!(text.contains("[disk]") && text.contains("[dma]"), "{text}");
    }

    #[test]
    fn process_seeds_keep_pid_1_on_the_run_seed() {
        assert_eq!(process_seed(42, 1), 42);
        assert_ne!(process_seed(42, 2), 42);
        assert_ne!(process_seed(42, 2), process_seed(42, 3));
        assert_eq!(pid_of(0), 1);
    }

    #[test]
    fn build_workload_uses_the_pid_and_names_the_process() {
        let c = build(GOOD).unwrap();
        let mut w = c.process[0].build_workload(0, c.seed).unwrap();
        let mut buf = Vec::new();
        assert!(w.next_batch(&mut buf).unwrap());
        let first_write = buf
            .iter()
            .find(|r| r.kind == vmsim_hw::AccessKind::Write)
            .unwrap();
        assert_eq!(
            first_write.data,
            Some(crate::workload::data::value(1, first_write.va.0, 0))
        );
        let mut p = c.process[1].clone();
        p.workload.kind = crate::workload::WorkloadKind::Trace;
        p.workload.trace = Some("/nonexistent/x.lackey".into());
        let e = p.build_workload(1, 1).err().unwrap().to_string();
        assert!(
            e.starts_with("process[1] (pid 2): /nonexistent/x.lackey"),
            "{e}"
        );
    }

    #[test]
    fn device_bursts_form_a_ring_in_the_segment() {
        let c = build(GOOD).unwrap();
        let d = &c.device[0];
        assert_eq!(d.process_index(), 0);
        assert_eq!(d.burst_cycle(0), 5000);
        assert_eq!(d.burst_cycle(2), 15000);
        // 0x4000 bytes are a ring of 4 one-page buffers, whatever the burst size.
        assert_eq!(d.burst_va(0, 0x4000), VirtAddr(0x2000_0000));
        assert_eq!(d.burst_va(3, 0x4000), VirtAddr(0x2000_3000));
        assert_eq!(d.burst_va(4, 0x4000), VirtAddr(0x2000_0000));
    }

    fn one(segments: &str) -> String {
        format!("[[process]]\nsegments = [{segments}]\nworkload = {{ accesses = 10 }}\n")
    }

    #[test]
    fn bad_segments_name_the_key() {
        let cases = [
            (
                one("{ start = 0x1001, len = 0x1000 }"),
                "`process[0].segments[0].start`",
            ),
            (
                one("{ start = 0x1000, len = 0 }"),
                "`process[0].segments[0].len`",
            ),
            (
                one("{ start = 0x1000, len = 0x1800 }"),
                "`process[0].segments[0].len`",
            ),
            (
                one("{ start = 0x7fff_ffff_f000, len = 0x2000 }"),
                "`process[0].segments[0].len`",
            ),
            (
                one("{ start = 0x8000_0000_0000, len = 0x1000 }"),
                "`process[0].segments[0].start`",
            ),
            (
                one("{ start = 0x1000, len = 0x1000, perms = \"rwq\" }"),
                "`process[0].segments[0].perms`",
            ),
            (
                one("{ start = 0x1000, len = 0x1000, kind = \"file\" }"),
                "`process[0].segments[0].kind`",
            ),
            (
                one("{ start = 0x1000, len = 0x1000, lenght = 3 }"),
                "`process[0].segments[0].lenght`",
            ),
            (
                one("{ len = 0x1000 }"),
                "`process[0].segments[0]`: missing key `start` (required)",
            ),
        ];
        for (text, key) in cases {
            let e = err(&text);
            assert!(e.contains(key), "{key} not in: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let e = err(&one("{ start = 0x1000, len = 0x1000, perms = \"rwq\" }"));
        assert!(e.contains("rwxu"), "{e}");
        let e = err(&one("{ start = 0x1000, len = 0x1000, kind = \"file\" }"));
        assert!(e.contains("shared:NAME") && e.contains("dma"), "{e}");
    }

    #[test]
    fn overlapping_segments_name_both() {
        let e = err(&one(
            "{ start = 0x10000, len = 0x10000 }, { start = 0x40000, len = 0x1000 }, \
             { start = 0x30000, len = 0x1000 }, { start = 0x1f000, len = 0x1000 }",
        ));
        assert!(
            e.contains("`process[0].segments[3]`") && e.contains("process[0].segments[0]"),
            "{e}"
        );
        assert!(
            e.contains("0x1f000..0x20000") && e.contains("0x10000..0x20000"),
            "{e}"
        );
        // A segment inside a long one is found past a short one in between.
        let e = err(&one(
            "{ start = 0x10000, len = 0x100000 }, { start = 0x11000, len = 0x1000 }",
        ));
        assert!(
            e.contains("segments[1]") && e.contains("segments[0]"),
            "{e}"
        );
        let e = err(&one(
            "{ start = 0x10000, len = 0x100000 }, { start = 0x20000, len = 0x1000 }, \
             { start = 0x20000, len = 0x1000 }",
        ));
        assert!(e.contains("overlaps"), "{e}");
        // Touching is fine.
        build(&one(
            "{ start = 0x10000, len = 0x1000 }, { start = 0x11000, len = 0x1000 }",
        ))
        .unwrap();
    }

    #[test]
    fn shared_objects_keep_one_length() {
        let text = format!(
            "{}{}",
            one("{ start = 0x10000, len = 0x2000, kind = \"shared:buf\" }"),
            one("{ start = 0x80000, len = 0x3000, kind = \"shared:buf\" }")
        );
        let e = err(&text);
        assert!(e.contains("`process[1].segments[0].len`"), "{e}");
        assert!(
            e.contains("\"buf\"") && e.contains("process[0].segments[0]"),
            "{e}"
        );
    }

    #[test]
    fn bad_events_name_the_key() {
        let with = |events: &str| {
            format!(
                "[[process]]\nsegments = [{{ start = 0x10000, len = 0x1000 }}]\n\
                 workload = {{ accesses = 10 }}\nevents = [{events}]\n"
            )
        };
        let cases = [
            (
                "{ after = 5, op = \"munmap\", start = 0x10000, len = 0x1000 }, \
                 { after = 4, op = \"munmap\", start = 0x10000, len = 0x1000 }",
                "`process[0].events[1].after`",
            ),
            (
                "{ after = 5, op = \"mmap\", start = 0x20000, len = 0x1000 }",
                "`process[0].events[0].perms`",
            ),
            (
                "{ after = 5, op = \"munmap\", start = 0x10000, len = 0x1000, perms = \"r\" }",
                "`process[0].events[0].perms`",
            ),
            (
                "{ after = 5, op = \"mprotect\", start = 0x10000, len = 0x1000, perms = \"r\", \
                 kind = \"dma\" }",
                "`process[0].events[0].kind`",
            ),
            (
                "{ after = 5, op = \"munmap\", start = 0x10800, len = 0x1000 }",
                "`process[0].events[0].start`",
            ),
            (
                "{ after = 5, op = \"munmap\", start = 0x10000, len = 0 }",
                "`process[0].events[0].len`",
            ),
            (
                "{ after = 5, op = \"brk\", start = 0x10000, len = 0x1000 }",
                "`process[0].events[0].op`",
            ),
        ];
        for (events, key) in cases {
            let e = err(&with(events));
            assert!(e.contains(key), "{key} not in: {e}");
        }
        let e = err(&with(
            "{ after = 5, op = \"brk\", start = 0x10000, len = 0x1000 }",
        ));
        assert!(e.contains("mmap") && e.contains("mprotect"), "{e}");
    }

    #[test]
    fn bad_devices_name_the_key() {
        let base = one(
            "{ start = 0x10000, len = 0x2000, kind = \"dma\" }, { start = 0x20000, len = 0x1000 }",
        );
        let dev = |d: &str| format!("{base}[[device]]\n{d}\n");
        let cases = [
            (
                "process = 2\nsegment_start = 0x10000",
                "`device[0].process`",
            ),
            (
                "process = 0\nsegment_start = 0x10000",
                "`device[0].process`",
            ),
            (
                "process = 1\nsegment_start = 0x30000",
                "`device[0].segment_start`",
            ),
            (
                "process = 1\nsegment_start = 0x20000",
                "`device[0].segment_start`",
            ),
            (
                "process = 1\nsegment_start = 0x10000\nburst_bytes = 100",
                "`device[0].burst_bytes`",
            ),
            (
                "process = 1\nsegment_start = 0x10000\nburst_bytes = 8192",
                "`device[0].burst_bytes`",
            ),
            (
                "process = 1\nsegment_start = 0x10000\ninterval_cycles = 0",
                "`device[0].interval_cycles`",
            ),
            (
                "process = 1\nsegment_start = 0x10000\nbursts = 0",
                "`device[0].bursts`",
            ),
            (
                "process = 1\nsegment_start = 0x10000\nburst = 64",
                "`device[0].burst`",
            ),
        ];
        for (d, key) in cases {
            let e = err(&dev(d));
            assert!(e.contains(key), "{key} not in: {e}");
        }
        let e = err(&dev("process = 1\nsegment_start = 0x20000"));
        assert!(e.contains("\"anonymous\"") && e.contains("\"dma\""), "{e}");
        assert!(e.contains("process[0].segments[1]"), "{e}");
        build(&dev(
            "process = 1\nsegment_start = 0x10000\nburst_bytes = 4096",
        ))
        .unwrap();
        let e = err("[[device]]\nprocess = 1\nsegment_start = 0x10000\n");
        assert!(
            e.contains("`device[0].process`") && e.contains("no [[process]]"),
            "{e}"
        );
        // A one-page segment holds the largest burst.
        let small = one("{ start = 0x10000, len = 0x1000, kind = \"dma\" }");
        build(&format!(
            "{small}[[device]]\nprocess = 1\nsegment_start = 0x10000\nburst_bytes = 4096\n"
        ))
        .unwrap();
    }

    #[test]
    fn names_are_unique_and_workload_errors_name_the_process() {
        let text = "[[process]]\nname = \"a\"\n[[process]]\nname = \"a\"\n";
        assert!(err(text).contains("`process[1].name`"), "{}", err(text));
        let text = "[[process]]\nname = \"\"\n";
        assert!(err(text).contains("`process[0].name`"));
        let text = "[[process]]\n[[process]]\nworkload = { write_ratio = 3.0 }\n";
        let e = err(text);
        assert!(e.contains("`process[1].workload.write_ratio`"), "{e}");
        let text = "[[process]]\nworkload = { kind = \"trace\", trace = \"t\", data = true }\n";
        assert!(err(text).contains("`process[0].workload.data`"));
        let text = "[[process]]\nworkload = { acesses = 3 }\n";
        let e = err(text);
        assert!(
            e.contains("process[0].workload") && e.contains("acesses"),
            "{e}"
        );
    }

    #[test]
    fn disk_and_dma_errors_name_their_keys() {
        let e = err("[disk]\npreset = \"nvme\"\nrpm = 7200\n");
        assert!(e.contains("`disk.rpm`"), "{e}");
        let e = err("[disk]\npreset = \"floppy\"\n");
        assert!(e.contains("disk.preset") && e.contains("sata_ssd"), "{e}");
        let e = err("[dma]\nmax_outstanding = 0\n");
        assert!(e.contains("`dma.max_outstanding`"), "{e}");
        let e = err("[os]\nframes = 0\n");
        assert!(
            e.contains("`os.frames`") && e.contains("between 8 and"),
            "{e}"
        );
    }

    #[test]
    fn set_reaches_into_arrays_of_tables() {
        let c = ConfigBuilder::new()
            .toml("s.toml", GOOD)
            .unwrap()
            .set("process[1].workload.accesses=77")
            .unwrap()
            .set("device[0].bursts=3")
            .unwrap()
            .set("process[0].segments[0].perms=r")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.process[1].workload.accesses, 77);
        assert_eq!(c.device[0].bursts, 3);
        assert_eq!(c.process[0].segments[0].perms.to_string(), "r---");
        let e = ConfigBuilder::new()
            .toml("s.toml", GOOD)
            .unwrap()
            .set("process[2].workload.accesses=77")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`process[2]`") && e.contains("2 entries"), "{e}");
        let e = ConfigBuilder::new()
            .set("tlb[0].x=1")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`tlb[0]`"), "{e}");
        let e = ConfigBuilder::new()
            .set("process[0].name=x")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`process`") && e.contains("[[process]]"), "{e}");
        for bad in ["a..b=1", "a[=1", "a[x]=1", "a[1]b=1", "[1]=1"] {
            assert!(ConfigBuilder::new().set(bad).is_err(), "{bad}");
        }
    }
}
