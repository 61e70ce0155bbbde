//! Workloads: the stream of memory accesses a simulated process makes.
//!
//! A workload is either a real trace read from a file (Valgrind Lackey text, ChampSim binary;
//! plain, `.gz` or `.xz`) or a seeded synthetic generator (sequential, stride, uniform random,
//! zipf, pointer chase). Either way it is consumed through one trait, [`Workload`], in batches
//! of [`Record`]s, so the run loop pays one virtual call per few thousand accesses.
//!
//! - [`WorkloadConfig`] is the `[workload]` table of a config or scenario; [`build`] (for the
//!   single process of a classic run, pid 1) or [`build_for`] (for a scenario's process) turns it
//!   into a `Box<dyn Workload>`.
//! - With `data = true` a synthetic generator is wrapped in [`data::DataCarrying`]: its accesses
//!   carry the values they store or expect to load.
//! - Traces are parsed on a reader thread ([`reader`]) that hands batches to the simulation over
//!   a bounded crossbeam channel: memory stays bounded and decompression overlaps simulation.
//! - Generators ([`synthetic`]) run on the simulation thread and write straight into the batch
//!   buffer; they allocate nothing per record.

pub mod champsim;
pub mod data;
pub mod lackey;
pub mod reader;
pub mod sharing;
pub mod synthetic;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use vmsim_hw::{AccessKind, PAGE_SIZE, VirtAddr};

pub use reader::open_trace;

/// Records per batch handed from a workload to the run loop. A trace batch may exceed this by
/// the records of one line or instruction (a Lackey `M` line is two records, a ChampSim
/// instruction up to seven).
pub const BATCH_SIZE: usize = 4096;

/// One memory access of the workload, before page splitting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Read, Write or Execute (instruction fetch).
    pub kind: AccessKind,
    /// First byte accessed.
    pub va: VirtAddr,
    /// Bytes accessed, at least 1. `[va, va + size)` never wraps past the top of the address
    /// space.
    pub size: u32,
    /// Instructions retired with this record: 1 for an instruction fetch (Lackey `I`, ChampSim
    /// ip), 0 for a trace's data access; synthetic generators put `instrs_per_access` on every
    /// access.
    pub instrs: u32,
    /// A data-carrying access: for a write, the 8-byte value it stores at `va`; for a read, the
    /// value it expects to load there (the run counts a mismatch as an integrity error). `None`
    /// for ordinary accesses, whose stores only fold into the frame's content signature.
    pub data: Option<u64>,
}

/// Why a workload could not be built or could not deliver its next records.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A malformed trace: `line` is the 1-based line (Lackey) or record (ChampSim) number;
    /// `msg` says what was expected and quotes the bad text (truncated).
    #[error("{path}:{line}: {msg}")]
    Parse {
        path: String,
        line: u64,
        msg: String,
    },
    /// The trace file could not be opened, read or decompressed.
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
    /// A bad `[workload]` setting; `key` is the full key, e.g. `workload.write_ratio`.
    #[error("config key `{key}`: {msg}")]
    Config { key: String, msg: String },
    /// An error of the workload of one of a scenario's processes; `process` names it, e.g.
    /// `process[1] (pid 2, "client")`.
    #[error("{process}: {source}")]
    InProcess {
        process: String,
        source: Box<WorkloadError>,
    },
}

impl WorkloadError {
    /// This error, as one of the workload of `[[process]]` number `index` (0-based; pid
    /// `index + 1`), named `name` if it has a name: a config key gets the prefix `process[i].`
    /// (`process[1].workload.write_ratio`); a trace's I/O or parse error is prefixed with the
    /// process (`process[1] (pid 2, "client"): t.lackey: No such file or directory`).
    pub fn in_process(self, index: usize, name: Option<&str>) -> WorkloadError {
        match self {
            WorkloadError::Config { key, msg } => WorkloadError::Config {
                key: format!("process[{index}].{key}"),
                msg,
            },
            e @ WorkloadError::InProcess { .. } => e,
            e => WorkloadError::InProcess {
                process: process_label(index, name),
                source: Box::new(e),
            },
        }
    }
}

/// How errors name `[[process]]` number `index` (0-based): `process[1] (pid 2, "client")`, or
/// `process[1] (pid 2)` without a name.
pub fn process_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("process[{index}] (pid {}, {n:?})", index + 1),
        None => format!("process[{index}] (pid {})", index + 1),
    }
}

/// A source of records, consumed in batches (the run loop asks for the next batch when it has
/// used the last).
///
/// Contract:
/// - `next_batch` replaces `buf`'s contents (it clears `buf` first) and returns `Ok(true)` with
///   at least one record, or `Ok(false)` with `buf` empty once the workload is exhausted; every
///   later call also returns `Ok(false)`.
/// - Records come in program order; the concatenation of all batches is the whole workload,
///   independent of batch boundaries and of thread timing.
/// - After an `Err` the workload is finished: later calls return `Ok(false)`. Records before a
///   malformed trace line are delivered before the error.
/// - Dropping a workload mid-stream never blocks (a trace's reader thread notices the dropped
///   channel and exits on its own).
pub trait Workload: Send {
    /// Replace `buf`'s contents with the next records (about [`BATCH_SIZE`]). `Ok(false)` when
    /// exhausted (`buf` empty).
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError>;
    /// A short description for the summary, e.g. "lackey trace ls.lackey.gz" or
    /// "zipf over 4096 pages (s=0.99)".
    fn describe(&self) -> String;
}

/// Which workload to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// [`synthetic::Sequential`]
    #[default]
    Sequential,
    /// [`synthetic::Stride`]
    Stride,
    /// [`synthetic::UniformRandom`]
    Random,
    /// [`synthetic::Zipf`]
    Zipf,
    /// [`synthetic::PointerChase`]
    PointerChase,
    /// [`sharing::SharedBuffer`]: writes a shared buffer every word of which has a known value.
    Producer,
    /// [`sharing::SharedBuffer`]: reads the producer's buffer and checks every word.
    Consumer,
    /// A trace file: `trace` (path) in `format`.
    Trace,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Sequential => "sequential",
            WorkloadKind::Stride => "stride",
            WorkloadKind::Random => "random",
            WorkloadKind::Zipf => "zipf",
            WorkloadKind::PointerChase => "pointer-chase",
            WorkloadKind::Producer => "producer",
            WorkloadKind::Consumer => "consumer",
            WorkloadKind::Trace => "trace",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format of a trace file (its compression is detected separately).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceFormat {
    /// Valgrind Lackey text (`valgrind --tool=lackey --trace-mem=yes`), see [`lackey`].
    #[default]
    Lackey,
    /// ChampSim binary instruction trace (64-byte records), see [`champsim`].
    Champsim,
}

impl TraceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceFormat::Lackey => "lackey",
            TraceFormat::Champsim => "champsim",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Largest footprint, in pages, of the generators that keep a per-page table (zipf's rank to
/// page permutation and pointer chase's cycle, 4 bytes a page): 2^24 pages = 64 GiB of virtual
/// footprint, a 64 MiB table.
pub const MAX_TABLE_PAGES: u64 = 1 << 24;

/// Top of the canonical 47-bit user address space (exclusive).
pub const USER_VA_END: u64 = 1 << 47;

/// The `[workload]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadConfig {
    /// "sequential" | "stride" | "random" | "zipf" | "pointer-chase" | "trace".
    pub kind: WorkloadKind,
    /// Path of the trace file, for kind = "trace" (and only then).
    pub trace: Option<String>,
    /// Trace format: "lackey" (default) or "champsim".
    pub format: TraceFormat,
    /// Synthetic: number of accesses to generate.
    pub accesses: u64,
    /// Synthetic footprint in 4 KiB pages.
    pub pages: u64,
    /// Synthetic: base virtual address; page aligned, and the footprint must stay in the
    /// canonical 47-bit user space.
    pub base: u64,
    /// Bytes between accesses for "stride" ("sequential" steps by `access_size`).
    pub stride: u64,
    /// Bytes per synthetic access: a power of two from 1 to 4096, so that accesses aligned to
    /// their size never cross a page.
    pub access_size: u32,
    /// Share of synthetic accesses that are writes, 0..=1 (pointer chase only reads).
    pub write_ratio: f64,
    /// Zipf exponent s > 0: page of rank k is drawn with probability proportional to 1/k^s.
    pub zipf_s: f64,
    /// Instructions retired with each synthetic access.
    pub instrs_per_access: u32,
    /// Synthetic only: make every read and write an 8-byte, 8-aligned access carrying data
    /// (writes the value they store, reads the value they expect; see [`data`]). Not allowed
    /// with kind = "trace".
    pub data: bool,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig {
            kind: WorkloadKind::Sequential,
            trace: None,
            format: TraceFormat::Lackey,
            accesses: 1_000_000,
            pages: 4096,
            base: 0x1000_0000,
            stride: PAGE_SIZE + 64,
            access_size: 8,
            write_ratio: 0.25,
            zipf_s: 0.99,
            instrs_per_access: 1,
            data: false,
        }
    }
}

fn config_err(key: &str, msg: impl Into<String>) -> WorkloadError {
    WorkloadError::Config {
        key: format!("workload.{key}"),
        msg: msg.into(),
    }
}

impl WorkloadConfig {
    /// Checks every setting; the error names the key under "workload." (e.g.
    /// "config key `workload.write_ratio`: must be between 0 and 1, found 1.5").
    ///
    /// The synthetic settings are checked whatever the kind (their defaults are valid), so a bad
    /// value is reported even while it is unused; `trace` must be set exactly when
    /// kind = "trace" (a trace path with another kind is almost certainly a forgotten `kind`).
    pub fn validate(&self) -> Result<(), WorkloadError> {
        match (self.kind, &self.trace) {
            (WorkloadKind::Trace, None) => {
                return Err(config_err(
                    "trace",
                    "a trace path is required when workload.kind = \"trace\"",
                ));
            }
            (WorkloadKind::Trace, Some(p)) if p.is_empty() => {
                return Err(config_err("trace", "must not be empty"));
            }
            (WorkloadKind::Trace, Some(_)) => {}
            (kind, Some(p)) => {
                return Err(config_err(
                    "trace",
                    format!(
                        "is only used with workload.kind = \"trace\", but kind is \"{kind}\" \
                         (trace = {p:?})"
                    ),
                ));
            }
            (_, None) => {}
        }
        if self.data && self.kind == WorkloadKind::Trace {
            return Err(config_err(
                "data",
                "is for synthetic generators only: a trace's accesses carry no values \
                 (remove workload.data or pick a synthetic kind)",
            ));
        }
        if self.data && matches!(self.kind, WorkloadKind::Producer | WorkloadKind::Consumer) {
            return Err(config_err(
                "data",
                format!(
                    "kind \"{}\" always carries data (its own values): remove workload.data",
                    self.kind
                ),
            ));
        }
        if self.pages == 0 {
            return Err(config_err("pages", "must be at least 1"));
        }
        if !self.base.is_multiple_of(PAGE_SIZE) {
            return Err(config_err(
                "base",
                format!("must be 4 KiB page aligned, found {:#x}", self.base),
            ));
        }
        if self.base >= USER_VA_END {
            return Err(config_err(
                "base",
                format!(
                    "must lie in the canonical 47-bit user address space (below {USER_VA_END:#x}), \
                     found {:#x}",
                    self.base
                ),
            ));
        }
        let end = self
            .pages
            .checked_mul(PAGE_SIZE)
            .and_then(|bytes| self.base.checked_add(bytes));
        if end.is_none_or(|end| end > USER_VA_END) {
            return Err(config_err(
                "pages",
                format!(
                    "{} pages from base {:#x} run past the 47-bit user address space \
                     (at most {} pages fit)",
                    self.pages,
                    self.base,
                    (USER_VA_END - self.base) / PAGE_SIZE
                ),
            ));
        }
        if matches!(self.kind, WorkloadKind::Zipf | WorkloadKind::PointerChase)
            && self.pages > MAX_TABLE_PAGES
        {
            return Err(config_err(
                "pages",
                format!(
                    "at most {MAX_TABLE_PAGES} for kind \"{}\" (it keeps a table of 4 bytes per \
                     page), found {}",
                    self.kind, self.pages
                ),
            ));
        }
        if self.stride == 0 {
            return Err(config_err("stride", "must be at least 1 byte"));
        }
        if !self.access_size.is_power_of_two() || u64::from(self.access_size) > PAGE_SIZE {
            return Err(config_err(
                "access_size",
                format!(
                    "must be a power of two from 1 to 4096 bytes (so that an aligned access never \
                     crosses a page), found {}",
                    self.access_size
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(config_err(
                "write_ratio",
                format!("must be between 0 and 1, found {}", self.write_ratio),
            ));
        }
        if !(self.zipf_s.is_finite() && self.zipf_s > 0.0) {
            return Err(config_err(
                "zipf_s",
                format!("must be a finite number above 0, found {}", self.zipf_s),
            ));
        }
        Ok(())
    }
}

/// Build the workload of a classic (single-process) run: [`build_for`] with pid 1.
pub fn build(cfg: &WorkloadConfig, seed: u64) -> Result<Box<dyn Workload>, WorkloadError> {
    build_for(cfg, seed, 1)
}

/// Build the workload of process `pid`. `seed` is the seed of its generator, which draws from
/// `Xoshiro256PlusPlus::seed_from_u64(seed ^ its own constant)` (a scenario's process uses
/// [`crate::scenario::process_seed`]). With `data = true` the generator is wrapped in
/// [`data::DataCarrying`] for `pid`. Validates `cfg` first.
pub fn build_for(
    cfg: &WorkloadConfig,
    seed: u64,
    pid: u32,
) -> Result<Box<dyn Workload>, WorkloadError> {
    cfg.validate()?;
    let w: Box<dyn Workload> = match cfg.kind {
        WorkloadKind::Sequential => Box::new(synthetic::Sequential::new(cfg, seed)),
        WorkloadKind::Stride => Box::new(synthetic::Stride::new(cfg, seed)),
        WorkloadKind::Random => Box::new(synthetic::UniformRandom::new(cfg, seed)),
        WorkloadKind::Zipf => Box::new(synthetic::Zipf::new(cfg, seed)),
        WorkloadKind::PointerChase => Box::new(synthetic::PointerChase::new(cfg, seed)),
        WorkloadKind::Producer => Box::new(sharing::SharedBuffer::new(
            cfg,
            seed,
            sharing::Role::Producer,
        )),
        WorkloadKind::Consumer => Box::new(sharing::SharedBuffer::new(
            cfg,
            seed,
            sharing::Role::Consumer,
        )),
        WorkloadKind::Trace => {
            // validate() guarantees the path is set.
            let path = cfg.trace.as_deref().unwrap_or_default();
            open_trace(Path::new(path), cfg.format)?
        }
    };
    Ok(if cfg.data {
        Box::new(data::DataCarrying::new(w, pid))
    } else {
        w
    })
}

/// Quote `bytes` for an error message: lossy UTF-8, at most 80 characters (then "..."), in
/// Rust string syntax so control characters show.
pub(crate) fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MAX).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<WorkloadConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    fn key_of(err: WorkloadError) -> String {
        match err {
            WorkloadError::Config { key, .. } => key,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn empty_table_gives_the_documented_defaults() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg, WorkloadConfig::default());
        assert_eq!(cfg.kind, WorkloadKind::Sequential);
        assert_eq!(cfg.format, TraceFormat::Lackey);
        assert_eq!(cfg.accesses, 1_000_000);
        assert_eq!(cfg.pages, 4096);
        assert_eq!(cfg.base, 0x1000_0000);
        assert_eq!(cfg.stride, 4096 + 64);
        assert_eq!(cfg.access_size, 8);
        assert_eq!(cfg.write_ratio, 0.25);
        assert_eq!(cfg.zipf_s, 0.99);
        assert_eq!(cfg.instrs_per_access, 1);
        assert!(!cfg.data);
        cfg.validate().unwrap();
    }

    #[test]
    fn kinds_and_formats_are_kebab_case() {
        let cfg = parse("kind = \"pointer-chase\"").unwrap();
        assert_eq!(cfg.kind, WorkloadKind::PointerChase);
        let cfg = parse("kind = \"trace\"\ntrace = \"a.xz\"\nformat = \"champsim\"").unwrap();
        assert_eq!(cfg.kind, WorkloadKind::Trace);
        assert_eq!(cfg.format, TraceFormat::Champsim);
        for kind in [
            WorkloadKind::Sequential,
            WorkloadKind::Stride,
            WorkloadKind::Random,
            WorkloadKind::Zipf,
            WorkloadKind::PointerChase,
            WorkloadKind::Trace,
        ] {
            let cfg = parse(&format!("kind = \"{kind}\"")).unwrap();
            assert_eq!(cfg.kind, kind);
        }
        assert!(parse("kind = \"pointer_chase\"").is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = parse("acesses = 10").unwrap_err();
        assert!(err.to_string().contains("acesses"), "{err}");
    }

    #[test]
    fn config_round_trips_through_toml() {
        let cfg = WorkloadConfig {
            kind: WorkloadKind::Zipf,
            zipf_s: 1.2,
            pages: 77,
            ..WorkloadConfig::default()
        };
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(parse(&text).unwrap(), cfg);
    }

    #[test]
    fn validation_names_the_bad_key() {
        let d = WorkloadConfig::default;
        let cases: Vec<(WorkloadConfig, &str)> = vec![
            (
                WorkloadConfig {
                    write_ratio: 1.5,
                    ..d()
                },
                "workload.write_ratio",
            ),
            (
                WorkloadConfig {
                    write_ratio: f64::NAN,
                    ..d()
                },
                "workload.write_ratio",
            ),
            (WorkloadConfig { zipf_s: 0.0, ..d() }, "workload.zipf_s"),
            (
                WorkloadConfig {
                    zipf_s: f64::INFINITY,
                    ..d()
                },
                "workload.zipf_s",
            ),
            (WorkloadConfig { pages: 0, ..d() }, "workload.pages"),
            (
                WorkloadConfig {
                    base: 0x1000_0010,
                    ..d()
                },
                "workload.base",
            ),
            (
                WorkloadConfig {
                    base: 1 << 47,
                    ..d()
                },
                "workload.base",
            ),
            (
                WorkloadConfig {
                    base: (1 << 47) - 4096,
                    pages: 2,
                    ..d()
                },
                "workload.pages",
            ),
            (
                WorkloadConfig {
                    pages: u64::MAX,
                    ..d()
                },
                "workload.pages",
            ),
            (
                WorkloadConfig {
                    kind: WorkloadKind::PointerChase,
                    pages: MAX_TABLE_PAGES + 1,
                    ..d()
                },
                "workload.pages",
            ),
            (WorkloadConfig { stride: 0, ..d() }, "workload.stride"),
            (
                WorkloadConfig {
                    access_size: 0,
                    ..d()
                },
                "workload.access_size",
            ),
            (
                WorkloadConfig {
                    access_size: 12,
                    ..d()
                },
                "workload.access_size",
            ),
            (
                WorkloadConfig {
                    access_size: 8192,
                    ..d()
                },
                "workload.access_size",
            ),
            (
                WorkloadConfig {
                    kind: WorkloadKind::Trace,
                    ..d()
                },
                "workload.trace",
            ),
            (
                WorkloadConfig {
                    kind: WorkloadKind::Trace,
                    trace: Some(String::new()),
                    ..d()
                },
                "workload.trace",
            ),
            (
                WorkloadConfig {
                    kind: WorkloadKind::Random,
                    trace: Some("x.lackey".into()),
                    ..d()
                },
                "workload.trace",
            ),
            (
                WorkloadConfig {
                    kind: WorkloadKind::Trace,
                    trace: Some("x.lackey".into()),
                    data: true,
                    ..d()
                },
                "workload.data",
            ),
        ];
        for (cfg, key) in cases {
            let err = cfg.validate().unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with(&format!("config key `{key}`: ")), "{text}");
            assert_eq!(key_of(err), key);
        }
    }

    #[test]
    fn largest_footprint_that_fits_the_user_space_is_accepted() {
        let cfg = WorkloadConfig {
            base: (1 << 47) - 2 * 4096,
            pages: 2,
            ..WorkloadConfig::default()
        };
        cfg.validate().unwrap();
    }

    #[test]
    fn build_rejects_an_invalid_config() {
        let cfg = WorkloadConfig {
            write_ratio: -0.1,
            ..WorkloadConfig::default()
        };
        let err = build(&cfg, 1).err().expect("invalid config must not build");
        assert_eq!(key_of(err), "workload.write_ratio");
    }

    #[test]
    fn build_makes_each_kind_and_describes_it() {
        let expect = [
            (WorkloadKind::Sequential, "sequential"),
            (WorkloadKind::Stride, "stride"),
            (WorkloadKind::Random, "random"),
            (WorkloadKind::Zipf, "zipf over 4096 pages (s=0.99)"),
            (WorkloadKind::PointerChase, "pointer chase"),
        ];
        for (kind, text) in expect {
            let cfg = WorkloadConfig {
                kind,
                accesses: 10,
                ..WorkloadConfig::default()
            };
            let mut w = build(&cfg, 7).unwrap();
            assert!(w.describe().contains(text), "{}", w.describe());
            let mut buf = Vec::new();
            assert!(w.next_batch(&mut buf).unwrap());
            assert_eq!(buf.len(), 10);
            assert!(!w.next_batch(&mut buf).unwrap());
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn build_of_a_missing_trace_file_is_an_io_error_naming_the_path() {
        let cfg = WorkloadConfig {
            kind: WorkloadKind::Trace,
            trace: Some("/nonexistent/dir/t.lackey".into()),
            ..WorkloadConfig::default()
        };
        match build(&cfg, 0) {
            Err(WorkloadError::Io { path, .. }) => assert_eq!(path, "/nonexistent/dir/t.lackey"),
            Err(other) => panic!("expected an I/O error, got {other:?}"),
            Ok(_) => panic!("a missing file must not open"),
        }
    }

    #[test]
    fn data_wraps_a_generator_for_its_pid() {
        let cfg = WorkloadConfig {
            kind: WorkloadKind::Random,
            accesses: 200,
            pages: 4,
            access_size: 64,
            write_ratio: 0.5,
            data: true,
            ..WorkloadConfig::default()
        };
        let plain = WorkloadConfig {
            data: false,
            ..cfg.clone()
        };
        let batch = |c: &WorkloadConfig, pid| {
            let mut w = build_for(c, 5, pid).unwrap();
            let mut buf = Vec::new();
            assert!(w.next_batch(&mut buf).unwrap());
            (w.describe(), buf)
        };
        let (desc, with) = batch(&cfg, 2);
        let (_, without) = batch(&plain, 2);
        assert!(desc.ends_with("carrying data"), "{desc}");
        let mut last = std::collections::BTreeMap::new();
        let mut seq = 0;
        for (d, p) in with.iter().zip(&without) {
            assert_eq!((d.kind, d.va.0, d.size), (p.kind, p.va.0 & !7, 8));
            assert_eq!(p.data, None);
            if d.kind == AccessKind::Write {
                assert_eq!(d.data, Some(data::value(2, d.va.0, seq)));
                seq += 1;
                last.insert(d.va.0, d.data.unwrap());
            } else {
                assert_eq!(d.data, Some(last.get(&d.va.0).copied().unwrap_or(0)));
            }
        }
        assert!(seq > 50, "about half the accesses write");
        // pid 1 is what build() makes.
        let (_, one) = batch(&cfg, 1);
        let mut w = build(&cfg, 5).unwrap();
        let mut buf = Vec::new();
        w.next_batch(&mut buf).unwrap();
        assert_eq!(buf, one);
        assert_ne!(one, with);
    }

    #[test]
    fn errors_in_a_process_workload_name_the_process() {
        let cfg = WorkloadConfig {
            write_ratio: 2.0,
            ..WorkloadConfig::default()
        };
        let e = build_for(&cfg, 1, 2)
            .err()
            .unwrap()
            .in_process(1, Some("b"));
        assert_eq!(key_of(e), "process[1].workload.write_ratio");
        let cfg = WorkloadConfig {
            kind: WorkloadKind::Trace,
            trace: Some("/nonexistent/t.lackey".into()),
            ..WorkloadConfig::default()
        };
        let e = build_for(&cfg, 1, 2)
            .err()
            .unwrap()
            .in_process(1, Some("b"));
        let text = e.to_string();
        assert!(
            text.starts_with("process[1] (pid 2, \"b\"): /nonexistent/t.lackey: "),
            "{text}"
        );
        assert_eq!(
            process_label(0, None),
            "process[0] (pid 1)",
            "unnamed processes are named by index and pid"
        );
    }

    #[test]
    fn quote_truncates_long_text_and_escapes_control_characters() {
        assert_eq!(quote(b"foo bar"), "\"foo bar\"");
        assert_eq!(quote(b"a\tb"), "\"a\\tb\"");
        let long = vec![b'x'; 200];
        let q = quote(&long);
        assert!(q.ends_with("\"..."), "{q}");
        assert_eq!(q.len(), 80 + 2 + 3);
    }
}
