//! One run from configuration to results: build the workload and the machine, run, collect.

use crate::config::Config;
use crate::device::DeviceSpec;
use crate::output::OutputFiles;
use crate::probe::Window;
use crate::stats::SystemStats;
use crate::system::{Kill, Observer, ProcessSpec, SimError, SyscallEvent, System, trace_segments};
use crate::workload;
use crate::workload::Workload;
use std::path::Path;
use vmsim_hw::VirtAddr;
use vmsim_hw::core::AccessDone;
use vmsim_hw::probe::Probe;
use vmsim_hw::walker::WalkRecord;
use vmsim_os::Pid;

/// What a run produced.
pub struct RunOutput {
    pub stats: SystemStats,
    /// One line per process killed, with its cycle.
    pub kills: Vec<(u64, String)>,
    /// Description of the workload.
    pub workload: String,
    /// Run-loop iterations (with idle skipping, far fewer than cycles).
    pub engine_steps: u64,
    /// The thrashing rule the run used (`os.thrashing_window`, `os.thrashing_threshold`).
    pub thrashing_window: u64,
    pub thrashing_threshold: f64,
}

/// What a run does besides the statistics and files of [`run`].
#[derive(Default)]
pub struct RunOptions {
    /// A probe (the VCD writer, a recorder) that sees every signal change inside `window`. It
    /// is finished ([`vmsim_hw::probe::Probe::finish`]) when the run succeeds, before the
    /// result files are moved into place, and dropped without finishing when it fails.
    pub probe: Option<Box<dyn Probe>>,
    /// The cycles the probe observes.
    pub window: Window,
    /// Write SVG figures into the output directory ([`crate::plots`]).
    pub plots: bool,
}

/// Runs `cfg`. With `out_dir`, writes stats.json, config.toml and the CSVs there. `extra` sees
/// every access and walk too (a progress bar, a test recorder).
pub fn run(
    cfg: &Config,
    out_dir: Option<&Path>,
    extra: &mut dyn Observer,
) -> Result<RunOutput, SimError> {
    run_with(cfg, out_dir, extra, RunOptions::default())
}

/// [`run`] with options: a probe and its window.
pub fn run_with(
    cfg: &Config,
    out_dir: Option<&Path>,
    extra: &mut dyn Observer,
    opts: RunOptions,
) -> Result<RunOutput, SimError> {
    cfg.validate()?;
    let Built {
        system: mut sys,
        mut workloads,
        description,
    } = build(cfg)?;
    if let Some(p) = opts.probe {
        sys.attach_probe_window(p, opts.window);
    }
    let mut files = match out_dir {
        Some(d) => Some(OutputFiles::create(d, cfg)?),
        None => None,
    };
    if files.as_ref().is_some_and(OutputFiles::wants_events) {
        sys.record_events(true);
    }
    let mut kills = Vec::new();
    let mut timeline = (opts.plots && out_dir.is_some()).then(crate::plots::FaultTimeline::default);
    let result = {
        let mut tee = Tee::new(files.as_mut(), extra, &mut kills, timeline.as_mut());
        let mut refs: Vec<&mut dyn Workload> = workloads
            .iter_mut()
            .map(|w| &mut **w as &mut dyn Workload)
            .collect();
        sys.run_all(&mut refs, &mut tee)
    };
    // A failed run drops the probe unfinished: a writer removes its partial file.
    let result = result.and_then(|()| sys.finish_probe().map(drop));
    if let Err(e) = result {
        if let Some(mut f) = files {
            f.abort();
        }
        return Err(e);
    }
    let stats = SystemStats::collect(&sys);
    if let Some(f) = files {
        f.finish(&stats, cfg)?;
    }
    if let (Some(dir), Some(t)) = (out_dir, &timeline) {
        crate::plots::write(dir, sys.walk_latency(), &stats, t)?;
    }
    Ok(RunOutput {
        stats,
        kills,
        workload: description,
        engine_steps: sys.engine.steps,
        thrashing_window: cfg.os.thrashing_window,
        thrashing_threshold: cfg.os.thrashing_threshold,
    })
}

/// A machine ready to run: its processes' workloads (process i + 1's at index i) and a
/// description of them.
pub struct Built {
    pub system: System,
    pub workloads: Vec<Box<dyn Workload>>,
    pub description: String,
}

/// Build the machine for `cfg`: the scenario's `[[process]]`es and `[[device]]`s, or the classic
/// single `[workload]` in one trace process.
pub fn build(cfg: &Config) -> Result<Built, SimError> {
    if cfg.process.is_empty() {
        let wl = workload::build(&cfg.workload, cfg.seed)?;
        let description = wl.describe();
        let sys = System::new(cfg, trace_segments())?;
        return Ok(Built {
            system: sys,
            workloads: vec![wl],
            description,
        });
    }
    let mut specs = Vec::new();
    let mut workloads = Vec::new();
    let mut parts = Vec::new();
    for (i, p) in cfg.process.iter().enumerate() {
        let wl = p.build_workload(i, cfg.seed)?;
        parts.push(format!(
            "{}: {}",
            crate::scenario::label(i, p),
            wl.describe()
        ));
        workloads.push(wl);
        let mut events: Vec<SyscallEvent> = p
            .events
            .iter()
            .map(|e| SyscallEvent {
                after: e.after,
                call: e.syscall(),
            })
            .collect();
        // Ties run in the order listed: the sort is stable.
        events.sort_by_key(|e| e.after);
        specs.push(ProcessSpec {
            name: p.name.clone().unwrap_or_else(|| format!("p{}", i + 1)),
            segments: p.initial_segments(),
            events,
        });
    }
    let devices = cfg
        .device
        .iter()
        .map(|d| {
            let seg = cfg.process[d.process_index()]
                .segments
                .iter()
                .find(|s| s.start == d.segment_start)
                .expect("validated: the device's segment exists");
            DeviceSpec {
                pid: Pid(crate::scenario::pid_of(d.process_index())),
                start: VirtAddr(d.segment_start),
                pages: seg.len / vmsim_hw::PAGE_SIZE,
                burst_bytes: d.burst_bytes,
                interval: d.interval_cycles,
                bursts: d.bursts,
            }
        })
        .collect();
    let mut sys = System::with_processes(cfg, specs, devices)?;
    for (i, p) in cfg.process.iter().enumerate() {
        if p.kernel_thread {
            sys.make_kernel_thread(Pid(crate::scenario::pid_of(i)));
        }
    }
    Ok(Built {
        system: sys,
        workloads,
        description: parts.join("; "),
    })
}

/// The observer a run hands the system: the output files, the fault timeline for the plots and
/// the caller's observer, in that order.
struct Tee<'a> {
    files: Option<&'a mut OutputFiles>,
    extra: &'a mut dyn Observer,
    kills: &'a mut Vec<(u64, String)>,
    timeline: Option<&'a mut crate::plots::FaultTimeline>,
    /// Whether an access has a consumer besides `extra`: accesses.csv or the fault timeline.
    accesses_kept: bool,
    /// Whether a walk has a consumer besides `extra`: walks.csv.
    walks_kept: bool,
}

impl<'a> Tee<'a> {
    /// The observer of a run. [`OutputFiles`] ignores accesses or walks it has no CSV for; so
    /// without those files (as in `vmsim bench` and the speed measurements) every access and
    /// walk goes straight to `extra`.
    fn new(
        files: Option<&'a mut OutputFiles>,
        extra: &'a mut dyn Observer,
        kills: &'a mut Vec<(u64, String)>,
        timeline: Option<&'a mut crate::plots::FaultTimeline>,
    ) -> Tee<'a> {
        let accesses_kept =
            files.as_ref().is_some_and(|f| f.wants_accesses()) || timeline.is_some();
        let walks_kept = files.as_ref().is_some_and(|f| f.wants_walks());
        Tee {
            files,
            extra,
            kills,
            timeline,
            accesses_kept,
            walks_kept,
        }
    }

    /// An access to the files and the timeline (kept out of line: the common call only checks
    /// `accesses_kept`).
    #[inline(never)]
    fn keep_access(&mut self, pid: Pid, a: &AccessDone) {
        if let Some(f) = self.files.as_mut() {
            f.on_access(pid, a);
        }
        if let Some(t) = self.timeline.as_mut() {
            t.on_access(pid, a);
        }
    }

    /// A walk to the files (out of line, as [`Tee::keep_access`]).
    #[inline(never)]
    fn keep_walk(&mut self, pid: Pid, w: &WalkRecord) {
        if let Some(f) = self.files.as_mut() {
            f.on_walk(pid, w);
        }
    }
}

impl Observer for Tee<'_> {
    #[inline]
    fn on_access(&mut self, pid: Pid, a: &AccessDone) {
        if self.accesses_kept {
            self.keep_access(pid, a);
        }
        self.extra.on_access(pid, a);
    }
    #[inline]
    fn on_walk(&mut self, pid: Pid, w: &WalkRecord) {
        if self.walks_kept {
            self.keep_walk(pid, w);
        }
        self.extra.on_walk(pid, w);
    }
    fn on_kill(&mut self, k: &Kill) {
        self.kills.push((
            k.cycle.0,
            format!(
                "pid {} killed by {} at {}: {}",
                k.pid.0,
                k.signal.as_str(),
                k.va,
                k.reason
            ),
        ));
        self.extra.on_kill(k);
    }
    fn on_event(&mut self, e: &crate::system::Event) {
        if let Some(f) = self.files.as_mut() {
            f.on_event(e);
        }
        self.extra.on_event(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigBuilder;

    /// Counts what reaches the caller's observer.
    #[derive(Default)]
    struct Count {
        accesses: u64,
        walks: u64,
    }
    impl Observer for Count {
        fn on_access(&mut self, _pid: Pid, _a: &AccessDone) {
            self.accesses += 1;
        }
        fn on_walk(&mut self, _pid: Pid, _w: &WalkRecord) {
            self.walks += 1;
        }
    }

    /// Whether or not the CSVs are written (the Tee skips the files without them), the
    /// caller's observer sees every access and walk, and a CSV has a row for each.
    #[test]
    fn every_access_and_walk_reaches_the_observer_and_the_csvs() {
        for csv in [false, true] {
            let cfg = ConfigBuilder::new()
                .set("workload.kind=random")
                .and_then(|b| b.set("workload.pages=512"))
                .and_then(|b| b.set("workload.accesses=2000"))
                .and_then(|b| b.set(&format!("output.accesses_csv={csv}")))
                .and_then(|b| b.set(&format!("output.walks_csv={csv}")))
                .and_then(|b| b.build())
                .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut count = Count::default();
            let out = run(&cfg, Some(dir.path()), &mut count).unwrap();
            assert_eq!(count.accesses, out.stats.accesses);
            assert_eq!(count.walks, out.stats.walker.walks);
            assert!(count.walks > 100);
            for (file, rows) in [("accesses.csv", count.accesses), ("walks.csv", count.walks)] {
                let path = dir.path().join(file);
                assert_eq!(path.exists(), csv, "{file}");
                if csv {
                    let text = std::fs::read_to_string(path).unwrap();
                    assert_eq!(text.lines().count() as u64, rows + 1, "{file}");
                }
            }
        }
    }
}
