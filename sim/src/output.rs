//! Result files: `stats.json`, `accesses.csv`, `walks.csv`, `events.csv` and the resolved
//! `config.toml`, plus
//! the summary table printed on stdout.
//!
//! Files are written under temporary names (`.NAME.partial`) and renamed into place only when
//! the run succeeds, so a failed run never leaves a file that looks complete; on failure the
//! partial files are removed and earlier results in the directory are left untouched.

use crate::config::Config;
use crate::stats::SystemStats;
use crate::system::{Observer, SimError};
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use vmsim_hw::PageSize;
use vmsim_hw::core::AccessDone;
use vmsim_hw::pte::Level;
use vmsim_hw::walker::WalkRecord;
use vmsim_os::Pid;

/// Columns of `accesses.csv`.
pub const ACCESS_COLUMNS: [&str; 11] = [
    "cycle_start",
    "cycle_end",
    "pid",
    "kind",
    "va",
    "pa",
    "page_size",
    "tlb",
    "walk_cycles",
    "walk_mem_refs",
    "fault",
];

/// Columns of `walks.csv`.
pub const WALK_COLUMNS: [&str; 9] = [
    "cycle_start",
    "cycle_end",
    "pid",
    "va",
    "start_level",
    "mem_refs",
    "cache_hits",
    "dram_row_hits",
    "result",
];

/// Columns of `events.csv`.
pub const EVENT_COLUMNS: [&str; 7] = [
    "kind",
    "cycle_start",
    "cycle_end",
    "pid",
    "va",
    "frame",
    "slot",
];

struct CsvSink {
    w: csv::Writer<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    rows: u64,
}

impl CsvSink {
    fn create(dir: &Path, name: &str, header: &[&str]) -> Result<CsvSink, SimError> {
        let dest = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        let f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, f));
        w.write_record(header).map_err(|e| csv_err(&tmp, e))?;
        Ok(CsvSink {
            w,
            tmp,
            dest,
            rows: 0,
        })
    }
}

fn io_err(p: &Path, e: std::io::Error) -> SimError {
    SimError::Output(format!("{}: {e}", p.display()))
}
fn csv_err(p: &Path, e: csv::Error) -> SimError {
    SimError::Output(format!("{}: {e}", p.display()))
}

/// Writes the CSVs as the run goes, and the rest at the end.
pub struct OutputFiles {
    dir: PathBuf,
    accesses: Option<CsvSink>,
    walks: Option<CsvSink>,
    events: Option<CsvSink>,
    max_rows: u64,
    field: String,
    error: Option<SimError>,
}

/// A value written as 0x-prefixed hexadecimal.
struct Hex(u64);
impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Write one CSV row, formatting each field into a reused buffer.
fn write_row(
    w: &mut csv::Writer<BufWriter<File>>,
    buf: &mut String,
    fields: &[&dyn std::fmt::Display],
) -> Result<(), csv::Error> {
    for v in fields {
        buf.clear();
        let _ = write!(buf, "{v}");
        w.write_field(buf.as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

fn size_str(s: PageSize) -> &'static str {
    match s {
        PageSize::Size4K => "4K",
        PageSize::Size2M => "2M",
        PageSize::Size1G => "1G",
    }
}

fn level_str(l: Level) -> &'static str {
    l.name()
}

impl OutputFiles {
    /// Create `dir` and open the CSVs the configuration asks for.
    pub fn create(dir: &Path, cfg: &Config) -> Result<OutputFiles, SimError> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let accesses = if cfg.output.accesses_csv {
            Some(CsvSink::create(dir, "accesses.csv", &ACCESS_COLUMNS)?)
        } else {
            None
        };
        let walks = if cfg.output.walks_csv {
            Some(CsvSink::create(dir, "walks.csv", &WALK_COLUMNS)?)
        } else {
            None
        };
        let events = if cfg.output.events_csv {
            Some(CsvSink::create(dir, "events.csv", &EVENT_COLUMNS)?)
        } else {
            None
        };
        Ok(OutputFiles {
            dir: dir.to_path_buf(),
            accesses,
            walks,
            events,
            max_rows: if cfg.output.max_csv_rows == 0 {
                u64::MAX
            } else {
                cfg.output.max_csv_rows
            },
            field: String::with_capacity(64),
            error: None,
        })
    }

    /// Write `stats.json` and `config.toml` and move every file into place.
    pub fn finish(mut self, stats: &SystemStats, cfg: &Config) -> Result<(), SimError> {
        if let Some(e) = self.error.take() {
            self.abort();
            return Err(e);
        }
        let result = self.finish_inner(stats, cfg);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn finish_inner(&mut self, stats: &SystemStats, cfg: &Config) -> Result<(), SimError> {
        let mut done = Vec::new();
        for sink in [
            self.accesses.as_mut(),
            self.walks.as_mut(),
            self.events.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            sink.w.flush().map_err(|e| io_err(&sink.tmp, e))?;
            done.push((sink.tmp.clone(), sink.dest.clone()));
        }
        for (name, text) in [
            ("stats.json", stats.to_json()),
            ("config.toml", cfg.to_toml()),
        ] {
            let tmp = self.dir.join(format!(".{name}.partial"));
            fs::write(&tmp, text).map_err(|e| io_err(&tmp, e))?;
            done.push((tmp, self.dir.join(name)));
        }
        for (tmp, dest) in done {
            fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))?;
        }
        self.accesses = None;
        self.walks = None;
        self.events = None;
        Ok(())
    }

    /// Remove every partial file (the run failed).
    pub fn abort(&mut self) {
        for sink in [self.accesses.take(), self.walks.take(), self.events.take()]
            .into_iter()
            .flatten()
        {
            drop(sink.w);
            let _ = fs::remove_file(&sink.tmp);
        }
        for name in ["stats.json", "config.toml"] {
            let _ = fs::remove_file(self.dir.join(format!(".{name}.partial")));
        }
    }

    fn record_err(&mut self, e: SimError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

/// An optional value: empty when absent.
struct Opt<T>(Option<T>);
impl<T: std::fmt::Display> std::fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => Ok(()),
        }
    }
}

impl OutputFiles {
    /// Whether `events.csv` is written (the run must then record events).
    pub fn wants_events(&self) -> bool {
        self.events.is_some()
    }
    /// Whether `accesses.csv` is written.
    pub fn wants_accesses(&self) -> bool {
        self.accesses.is_some()
    }
    /// Whether `walks.csv` is written.
    pub fn wants_walks(&self) -> bool {
        self.walks.is_some()
    }
}

impl Observer for OutputFiles {
    fn on_event(&mut self, e: &crate::system::Event) {
        let Some(sink) = self.events.as_mut() else {
            return;
        };
        if sink.rows >= self.max_rows {
            return;
        }
        sink.rows += 1;
        let f = &mut self.field;
        let fields: [&dyn std::fmt::Display; 7] = [
            &e.kind,
            &e.start.0,
            &e.end.0,
            &Opt(e.pid.map(|p| p.0)),
            &Opt(e.va.map(|v| Hex(v.0))),
            &Opt(e.frame.map(|p| p.0)),
            &Opt(e.slot),
        ];
        if let Err(err) = write_row(&mut sink.w, f, &fields) {
            let tmp = sink.tmp.clone();
            self.record_err(csv_err(&tmp, err));
        }
    }

    fn on_access(&mut self, pid: Pid, a: &AccessDone) {
        let Some(sink) = self.accesses.as_mut() else {
            return;
        };
        if sink.rows >= self.max_rows {
            return;
        }
        sink.rows += 1;
        let f = &mut self.field;
        let fields: [&dyn std::fmt::Display; 11] = [
            &a.start.0,
            &a.end.0,
            &pid.0,
            &a.kind.as_str(),
            &Hex(a.va.0),
            &Hex(a.pa.0),
            &size_str(a.page_size),
            &a.tlb.as_str(),
            &a.walk_cycles,
            &a.walk_mem_refs,
            &a.fault.as_str(),
        ];
        if let Err(e) = write_row(&mut sink.w, f, &fields) {
            let tmp = sink.tmp.clone();
            self.record_err(csv_err(&tmp, e));
        }
    }

    fn on_walk(&mut self, pid: Pid, w: &WalkRecord) {
        let Some(sink) = self.walks.as_mut() else {
            return;
        };
        if sink.rows >= self.max_rows {
            return;
        }
        sink.rows += 1;
        let f = &mut self.field;
        let fields: [&dyn std::fmt::Display; 9] = [
            &w.start.0,
            &w.end.0,
            &pid.0,
            &Hex(w.va.0),
            &level_str(w.start_level),
            &w.mem_refs,
            &w.cache_hits,
            &w.dram_row_hits,
            &w.result.as_str(),
        ];
        if let Err(e) = write_row(&mut sink.w, f, &fields) {
            let tmp = sink.tmp.clone();
            self.record_err(csv_err(&tmp, e));
        }
    }
}
