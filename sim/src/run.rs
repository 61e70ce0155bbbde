//! One run from configuration to results: build the workload and the machine, run, collect.

use crate::config::Config;
use crate::output::OutputFiles;
use crate::probe::Window;
use crate::stats::SystemStats;
use crate::system::{Kill, Observer, SimError, System, trace_segments};
use crate::workload;
use std::path::Path;
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
    let mut wl = workload::build(&cfg.workload, cfg.seed)?;
    let description = wl.describe();
    let mut sys = System::new(cfg, trace_segments())?;
    if let Some(p) = opts.probe {
        sys.attach_probe_window(p, opts.window);
    }
    let mut files = match out_dir {
        Some(d) => Some(OutputFiles::create(d, cfg)?),
        None => None,
    };
    let mut kills = Vec::new();
    let result = {
        let mut tee = Tee {
            files: files.as_mut(),
            extra,
            kills: &mut kills,
        };
        sys.run(wl.as_mut(), &mut tee)
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
    Ok(RunOutput {
        stats,
        kills,
        workload: description,
        engine_steps: sys.engine.steps,
    })
}

struct Tee<'a> {
    files: Option<&'a mut OutputFiles>,
    extra: &'a mut dyn Observer,
    kills: &'a mut Vec<(u64, String)>,
}

impl Observer for Tee<'_> {
    #[inline]
    fn on_access(&mut self, pid: Pid, a: &AccessDone) {
        if let Some(f) = self.files.as_mut() {
            f.on_access(pid, a);
        }
        self.extra.on_access(pid, a);
    }
    #[inline]
    fn on_walk(&mut self, pid: Pid, w: &WalkRecord) {
        if let Some(f) = self.files.as_mut() {
            f.on_walk(pid, w);
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
}
