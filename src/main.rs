//! The `vmsim` command line: run a simulation, or measure the simulator's own speed.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use vmsim_hw::core::AccessDone;
use vmsim_os::Pid;
use vmsim_sim::probe::Window;
use vmsim_sim::system::trace_segments;
use vmsim_sim::vcd::{SignalFilter, VcdOptions, VcdProbe};
use vmsim_sim::{Config, ConfigBuilder, NoObserver, Observer, RunOptions, System};

#[derive(Parser)]
#[command(
    name = "vmsim",
    version,
    about = "Cycle-level model of the virtual-memory subsystem: TLBs, page walker, caches, DRAM and the OS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a simulation (with no arguments: the built-in default workload).
    Run(Box<RunArgs>),
    /// Measure simulated accesses per host second on standard workloads.
    Bench(BenchArgs),
    /// Check VCD files: ids declared, widths match, time increasing, initial values present.
    LintVcd(LintArgs),
}

#[derive(Args)]
struct LintArgs {
    /// VCD files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct ConfigArgs {
    /// TOML configuration file (layered over the defaults and the preset).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A machine preset: skylake or zen3.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Override any config key, e.g. --set tlb.l1d.entries=32 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    cfg: ConfigArgs,
    /// A scenario: a config file with [[process]] tables (processes, segments, workloads,
    /// events) and optional [[device]], [disk] and [dma] tables. Layered like --config.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "trace", "workload"])]
    scenario: Option<PathBuf>,
    /// A memory trace to replay (plain, .gz or .xz).
    #[arg(long, value_name = "FILE", conflicts_with = "workload")]
    trace: Option<PathBuf>,
    /// Trace format: lackey (Valgrind --tool=lackey --trace-mem=yes) or champsim.
    #[arg(
        long,
        value_name = "FORMAT",
        default_value = "lackey",
        requires = "trace"
    )]
    format: String,
    /// A synthetic workload: sequential, stride, random, zipf or pointer-chase.
    #[arg(long, value_name = "NAME")]
    workload: Option<String>,
    /// Directory for stats.json, accesses.csv, walks.csv and config.toml.
    #[arg(long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Write VCD waveforms of every component's signals to FILE.
    #[arg(long, value_name = "FILE")]
    vcd: Option<PathBuf>,
    /// Only the cycles START <= cycle < END (START: or :END leave one side open).
    #[arg(long, value_name = "START:END", requires = "vcd")]
    vcd_window: Option<String>,
    /// Only the signals whose full dotted names match one of these globs (* and ?), e.g.
    /// 'walker.*,dram.bank*.open_row'.
    #[arg(long, value_name = "GLOB,...", value_delimiter = ',', requires = "vcd")]
    vcd_signals: Vec<String>,
    /// Add a clock signal core.clk toggling every half cycle (makes files much larger).
    #[arg(long, requires = "vcd")]
    vcd_clock: bool,
    /// Also write SVG figures into the output directory: the walk-latency CDF, the TLB miss
    /// cost per process, and the fault timeline.
    #[arg(long)]
    plots: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// The TLB-hit-heavy real-program trace to replay.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Accesses for the random-over-1M-pages workload.
    #[arg(long, default_value_t = 2_000_000)]
    accesses: u64,
}

fn build_config(args: &ConfigArgs, extra: &[String]) -> Result<Config> {
    build_config_with(args, None, false, extra)
}

/// The configuration of the layers: defaults, preset, the config or scenario file, `--set`s.
/// A scenario must describe at least one process, which replace `[workload]`: a top-level
/// `[workload]` in the file or a `--set workload.*` would be silently unused, so both are
/// refused.
fn build_config_with(
    args: &ConfigArgs,
    scenario: Option<&Path>,
    built_in: bool,
    extra: &[String],
) -> Result<Config> {
    let mut b = ConfigBuilder::new();
    if let Some(p) = &args.preset {
        b = b.preset(p)?;
    }
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        b = b.toml(&path.display().to_string(), &text)?;
    }
    let scenario_text = match scenario {
        Some(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scenario file {name}"))?;
            Some((name, text))
        }
        None if built_in => Some((
            "the built-in default system (sim/scenarios/default.toml)".to_string(),
            vmsim_sim::scenario::DEFAULT_SYSTEM.to_string(),
        )),
        None => None,
    };
    if let Some((name, text)) = &scenario_text {
        b = b.toml(name, text)?;
        if let Ok(table) = text.parse::<toml::Table>()
            && table.contains_key("workload")
        {
            bail!(
                "{name}: a scenario gives each [[process]] its own workload \
                 ([process.workload]); move the top-level [workload] there (or load the file \
                 with --config)"
            );
        }
        if let Some(s) = args
            .sets
            .iter()
            .find(|s| s.trim_start().starts_with("workload."))
        {
            bail!(
                "--set {s}: a scenario's processes have their own workloads; set \
                 process[N].workload.KEY instead (N from 0)"
            );
        }
    }
    for s in extra.iter().chain(&args.sets) {
        b = b.set(s)?;
    }
    let cfg = b.build()?;
    if let Some(path) = scenario
        && !cfg.is_scenario()
    {
        bail!(
            "{}: a scenario needs at least one [[process]] table (see README, Scenarios); \
             load a plain config file with --config",
            path.display()
        );
    }
    Ok(cfg)
}

/// A progress bar on stderr, advanced every 64 Ki accesses.
struct Progress {
    bar: Option<ProgressBar>,
    count: u64,
}

impl Progress {
    /// Move the bar (kept out of line: the per-access call is a counter increment).
    #[cold]
    #[inline(never)]
    fn redraw(&self) {
        if let Some(b) = &self.bar {
            b.set_position(self.count);
        }
    }
}

impl Observer for Progress {
    #[inline]
    fn on_access(&mut self, _pid: Pid, _a: &AccessDone) {
        self.count += 1;
        if self.count & 0xffff == 0 {
            self.redraw();
        }
    }
}

fn cmd_run(args: RunArgs) -> Result<()> {
    let mut extra = Vec::new();
    if let Some(t) = &args.trace {
        extra.push("workload.kind=\"trace\"".to_string());
        extra.push(format!(
            "workload.trace={}",
            toml::Value::String(t.display().to_string())
        ));
        extra.push(format!("workload.format={}", args.format));
    }
    if let Some(w) = &args.workload {
        extra.push(format!("workload.kind={w}"));
    }
    // With no workload, trace, scenario or config of its own, a run is the built-in default
    // system; `--workload NAME` runs one synthetic workload instead.
    let built_in = args.scenario.is_none()
        && args.cfg.config.is_none()
        && args.trace.is_none()
        && args.workload.is_none()
        && !args
            .cfg
            .sets
            .iter()
            .any(|s| s.trim_start().starts_with("workload."));
    let cfg = build_config_with(&args.cfg, args.scenario.as_deref(), built_in, &extra)?;
    let bar = if args.quiet {
        None
    } else {
        // Synthetic workloads know their length; a trace does not.
        let length = |w: &vmsim_sim::workload::WorkloadConfig| match w.kind {
            vmsim_sim::workload::WorkloadKind::Trace => None,
            _ => Some(w.accesses),
        };
        let total = if cfg.process.is_empty() {
            length(&cfg.workload)
        } else {
            cfg.process.iter().map(|p| length(&p.workload)).sum()
        };
        let b = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        b.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} accesses [{elapsed}] {per_sec}")
                .expect("valid template"),
        );
        b.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
        Some(b)
    };
    let mut progress = Progress {
        bar: bar.clone(),
        count: 0,
    };
    let mut opts = vcd_options(&args, &cfg)?;
    opts.plots = args.plots;
    let start = Instant::now();
    // With --quiet nothing draws the bar: the run needs no observer of its own.
    let extra: &mut dyn Observer = if bar.is_some() {
        &mut progress
    } else {
        &mut NoObserver
    };
    let out = vmsim_sim::run_with(&cfg, Some(&args.out), extra, opts)?;
    let secs = start.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    print!("{}", vmsim_sim::summary::render(&out));
    println!(
        "  results in {}/ (stats.json, accesses.csv, walks.csv, events.csv, config.toml)",
        args.out.display()
    );
    if let Some(path) = &args.vcd {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("  waveforms in {} ({} bytes)", path.display(), bytes);
    }
    if !args.quiet {
        eprintln!(
            "host: {:.2} s, {:.2} M accesses/s, {} engine steps",
            secs,
            out.stats.accesses as f64 / secs / 1e6,
            out.engine_steps
        );
    }
    Ok(())
}

/// The VCD writer the flags ask for, checked before the run: the window parses, every signal
/// glob matches some signal, the file can be created.
fn vcd_options(args: &RunArgs, cfg: &Config) -> Result<RunOptions> {
    let Some(path) = &args.vcd else {
        return Ok(RunOptions::default());
    };
    let window = match &args.vcd_window {
        Some(w) => w.parse::<Window>().context("--vcd-window")?,
        None => Window::ALL,
    };
    let filter = SignalFilter::new(&args.vcd_signals)?;
    let sys = System::new(cfg, trace_segments())?;
    filter.check(&sys.signals())?;
    drop(sys);
    let probe = VcdProbe::create(
        path,
        &VcdOptions {
            signals: args.vcd_signals.clone(),
            clock: args.vcd_clock,
            freq_ghz: cfg.core.freq_ghz,
        },
    )?;
    Ok(RunOptions {
        probe: Some(Box::new(probe)),
        window,
        plots: false,
    })
}

fn bench_one(name: &str, cfg: &Config) -> Result<f64> {
    // Five runs: this figure moves with the host's load, so the spread is shown with the best.
    const RUNS: usize = 5;
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = vmsim_sim::run(cfg, None, &mut NoObserver)?;
        rates.push(out.stats.accesses as f64 / start.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let (worst, median, best) = (rates[0], rates[RUNS / 2], rates[RUNS - 1]);
    println!(
        "{name:<48} {:>8.2} M accesses/s (best of {RUNS}; median {:.2}, worst {:.2})",
        best / 1e6,
        median / 1e6,
        worst / 1e6
    );
    Ok(best)
}

fn default_bench_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/traces/matmul.lackey.gz")
}

fn cmd_bench(args: BenchArgs) -> Result<()> {
    let trace = args.trace.unwrap_or_else(default_bench_trace);
    if !trace.exists() {
        bail!(
            "bench trace {} not found (pass --trace FILE)",
            trace.display()
        );
    }
    // tools/pgo.sh sets VMSIM_PGO for its optimised build: say which build is measured.
    let build = match option_env!("VMSIM_PGO") {
        Some(_) => "release, profile-guided (tools/pgo.sh)",
        None => "release",
    };
    println!("build: {build}");
    let quiet_out = ["output.accesses_csv=false", "output.walks_csv=false"];
    let mut sets: Vec<String> = quiet_out.iter().map(|s| s.to_string()).collect();
    sets.push("workload.kind=\"trace\"".into());
    sets.push(format!(
        "workload.trace={}",
        toml::Value::String(trace.display().to_string())
    ));
    let a = build_config(&ConfigArgs::empty(), &sets)?;
    bench_one(&format!("(a) trace {}", file_name(&trace)), &a)?;
    let mut sets: Vec<String> = quiet_out.iter().map(|s| s.to_string()).collect();
    sets.extend([
        "workload.kind=random".to_string(),
        "workload.pages=1048576".to_string(),
        format!("workload.accesses={}", args.accesses),
        "os.frames=1100000".to_string(),
        "dram.model=ddr4".to_string(),
        "caches.enabled=true".to_string(),
    ]);
    let b = build_config(&ConfigArgs::empty(), &sets)?;
    bench_one("(b) uniform random over 1M pages, DDR4, caches", &b)?;
    Ok(())
}

/// Print every problem as `FILE: line N: what`; fail if there is any.
fn cmd_lint_vcd(args: LintArgs) -> Result<()> {
    let mut bad = 0;
    for f in &args.files {
        let problems = vmsim_sim::vcd_lint::lint_file(f)
            .with_context(|| format!("cannot read {}", f.display()))?;
        for p in &problems {
            println!("{}: {p}", f.display());
        }
        if !problems.is_empty() {
            bad += 1;
        }
    }
    if bad > 0 {
        bail!("{bad} of {} files have problems", args.files.len());
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl ConfigArgs {
    fn empty() -> ConfigArgs {
        ConfigArgs {
            config: None,
            preset: None,
            sets: Vec::new(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => cmd_run(*a),
        Command::Bench(a) => cmd_bench(a),
        Command::LintVcd(a) => cmd_lint_vcd(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vmsim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
