//! VCD waveforms: every file vmsim writes passes its own lint and loads in wellen (the loader
//! behind the Surfer viewer, run inside `catch_unwind` as it can panic on bad input), with
//! scopes mirroring the component tree, FSM states by name at the cycles tests/probe_signals.rs
//! pins, windows that hold nothing outside them and start from the right values, and an
//! optional clock.

mod common;

use common::{VecWorkload, plain_machine, rec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmsim_hw::AccessKind::Read;
use vmsim_hw::walker::WALKER_STATE_NAMES;
use vmsim_sim::probe::Window;
use vmsim_sim::system::trace_segments;
use vmsim_sim::vcd::{VcdOptions, VcdProbe};
use vmsim_sim::vcd_lint::lint_file;
use vmsim_sim::{Config, NoObserver, RunOptions, System};

const L: u64 = 100;
const C: u64 = 4000;
/// Time units (ps) per core cycle at the default 4 GHz.
const CYCLE: u64 = 250;

/// A loaded waveform: each var's changes as (cycle, value), values as text (state names, or
/// the number for bit vectors), and the time table in cycles.
struct Wave {
    scopes: Vec<String>,
    /// Full dotted name -> changes.
    vars: BTreeMap<String, Vec<(u64, String)>>,
    is_string: BTreeMap<String, bool>,
    times: Vec<u64>,
    timescale: (u32, String),
}

impl Wave {
    fn changes(&self, name: &str) -> &[(u64, String)] {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("no var {name} in {:?}", self.vars.keys()))
    }
    fn states(&self, name: &str) -> Vec<(u64, &str)> {
        assert!(self.is_string[name], "{name} is not a string var");
        self.changes(name)
            .iter()
            .map(|(t, v)| (*t, v.as_str()))
            .collect()
    }
    fn numbers(&self, name: &str) -> Vec<(u64, u64)> {
        self.changes(name)
            .iter()
            .map(|(t, v)| (*t, v.parse().unwrap()))
            .collect()
    }
    /// The value a var holds at `cycle`.
    fn value_at(&self, name: &str, cycle: u64) -> &str {
        let ch = self.changes(name);
        let i = ch.partition_point(|(t, _)| *t <= cycle);
        assert!(i > 0, "{name} has no value at {cycle}");
        &ch[i - 1].1
    }
}

/// The lint finds nothing, and wellen loads the file without panicking.
fn check_and_load(path: &Path) -> Wave {
    let problems = lint_file(path).unwrap();
    assert!(
        problems.is_empty(),
        "{}: {}",
        path.display(),
        problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let p = path.to_path_buf();
    let loaded = std::panic::catch_unwind(move || {
        let mut w = wellen::simple::read(&p).expect("wellen reads the file");
        let h = w.hierarchy();
        let ts = h.timescale().expect("a timescale");
        let timescale = (ts.factor, format!("{:?}", ts.unit));
        let scopes: Vec<String> = h.scopes().map(|s| h[s].full_name(h)).collect();
        let vars: Vec<(String, wellen::SignalRef, bool)> = h
            .all_vars()
            .map(|v| {
                let v = &h[v];
                (v.full_name(h), v.signal_ref(), v.is_string(h))
            })
            .collect();
        let refs: Vec<wellen::SignalRef> = vars.iter().map(|v| v.1).collect();
        w.load_signals(&refs);
        let tt = w.time_table().to_vec();
        let mut out = BTreeMap::new();
        let mut is_string = BTreeMap::new();
        for (name, r, s) in vars {
            let sig = w.get_signal(r).expect("loaded");
            let ch: Vec<(u64, String)> = sig
                .iter_changes()
                .map(|(i, v)| {
                    let t = tt[i as usize];
                    let text = match v {
                        wellen::SignalValueRef::String(s) => s.to_string(),
                        other => {
                            let bits = other.to_bit_string().expect("a bit vector");
                            u64::from_str_radix(&bits, 2).unwrap().to_string()
                        }
                    };
                    (t, text)
                })
                .collect();
            out.insert(name.clone(), ch);
            is_string.insert(name, s);
        }
        (scopes, out, is_string, tt, timescale)
    });
    let (scopes, raw, is_string, tt, timescale) = match loaded {
        Ok(x) => x,
        Err(_) => panic!("wellen panicked on {}", path.display()),
    };
    assert_eq!(timescale, (1, "PicoSeconds".to_string()));
    let cyc = |t: u64| {
        assert_eq!(t % CYCLE, 0, "time {t} is not on a cycle boundary");
        t / CYCLE
    };
    // The clock changes every half cycle; everything else on cycle boundaries.
    let vars = raw
        .into_iter()
        .filter(|(n, _)| n != "core.clk")
        .map(|(n, ch)| (n, ch.into_iter().map(|(t, v)| (cyc(t), v)).collect()))
        .collect();
    Wave {
        scopes,
        vars,
        is_string,
        times: tt.into_iter().map(|t| t / CYCLE).collect(),
        timescale: (1, "ps".into()),
    }
}

/// Run `records` on `cfg` with a VCD probe; the file's path.
fn system_vcd(
    dir: &Path,
    cfg: &Config,
    records: Vec<vmsim_sim::workload::Record>,
    signals: &[&str],
    window: Window,
) -> PathBuf {
    let path = dir.join("waves.vcd");
    let opts = VcdOptions {
        signals: signals.iter().map(|s| s.to_string()).collect(),
        clock: false,
        freq_ghz: cfg.core.freq_ghz,
    };
    let mut sys = System::new(cfg, trace_segments()).unwrap();
    sys.attach_probe_window(Box::new(VcdProbe::create(&path, &opts).unwrap()), window);
    sys.run(&mut VecWorkload::new(records), &mut NoObserver)
        .unwrap();
    sys.finish_probe().unwrap();
    path
}

/// A whole run of `cfg` through `vmsim_sim::run_with`; its stats and the file's path.
fn run_vcd(
    dir: &Path,
    name: &str,
    cfg: &Config,
    signals: &[&str],
    clock: bool,
    window: Window,
) -> (vmsim_sim::SystemStats, PathBuf) {
    let path = dir.join(name);
    let opts = VcdOptions {
        signals: signals.iter().map(|s| s.to_string()).collect(),
        clock,
        freq_ghz: cfg.core.freq_ghz,
    };
    let probe = VcdProbe::create(&path, &opts).unwrap();
    let out = vmsim_sim::run_with(
        cfg,
        None,
        &mut NoObserver,
        RunOptions {
            probe: Some(Box::new(probe)),
            window,
            plots: false,
        },
    )
    .unwrap();
    (out.stats, path)
}

fn zipf(accesses: u64) -> Config {
    common::config(&[
        "workload.kind=zipf",
        &format!("workload.accesses={accesses}"),
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ])
}

/// The cold access of tests/walk_timing.rs (and tests/probe_signals.rs), as a waveform.
#[test]
fn cold_access_waveform_has_scopes_and_named_walker_states_at_the_pinned_cycles() {
    let dir = tempfile::tempdir().unwrap();
    let path = system_vcd(
        dir.path(),
        &plain_machine(L, &[]),
        vec![rec(Read, 0x1234_5678, 8, 1)],
        &[],
        Window::ALL,
    );
    let w = check_and_load(&path);
    // No data caches on the plain machine: no cache scope.
    assert_eq!(
        w.scopes,
        ["core", "tlb", "walker", "dram", "dma", "disk", "os"]
    );
    for v in [
        "walker.0.state",
        "walker.1.va",
        "walker.pwc.pde.hits",
        "walker.walks",
        "tlb.l2.misses",
    ] {
        assert!(w.vars.contains_key(v), "{v} missing");
    }
    let s = 24 + L + C; // walk 2 starts
    assert_eq!(
        w.states("walker.0.state"),
        vec![
            (0, "Idle"),
            (11, "WaitMem(PML4)"),
            (12 + L, "Idle"),
            (s, "WaitMem(PML4)"),
            (s + L + 1, "WaitMem(PDPT)"),
            (s + 2 * (L + 1), "WaitMem(PD)"),
            (s + 3 * (L + 1), "WaitMem(PT)"),
            (s + 4 * (L + 1), "Idle"),
        ]
    );
    assert_eq!(w.value_at("core.state", 13 + L), "WaitTrap");
    assert_eq!(
        w.numbers("os.in_handler"),
        vec![(0, 0), (14 + L, 1), (14 + L + C, 0)]
    );
    assert_eq!(w.numbers("walker.walks").last(), Some(&(s, 2)));
    // Every var has a value at time 0; the file ends one cycle after the last step.
    assert!(w.vars.values().all(|ch| ch.first().map(|c| c.0) == Some(0)));
    assert_eq!(w.times.first(), Some(&0));
    assert_eq!(w.times.last(), Some(&(30 + 6 * L + C + 1)));
    assert_eq!(w.timescale, (1, "ps".into()));
}

/// The tiny waveform of the cold access, whole: the format, pinned.
#[test]
fn cold_access_waveform_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = system_vcd(
        dir.path(),
        &plain_machine(L, &[]),
        vec![rec(Read, 0x1234_5678, 8, 1)],
        &["walker.0.*", "core.state", "os.in_handler"],
        Window::ALL,
    );
    check_and_load(&path);
    insta::assert_snapshot!(std::fs::read_to_string(&path).unwrap());
}

/// A default-machine zipf run: DDR4 banks, caches, two walkers; the final counter values in
/// the waveform are the run's statistics, and observing changes nothing.
#[test]
fn zipf_run_waveform_agrees_with_the_stats() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = zipf(3000);
    let (stats, path) = run_vcd(dir.path(), "zipf.vcd", &cfg, &[], false, Window::ALL);
    let w = check_and_load(&path);
    assert_eq!(
        w.scopes,
        [
            "core", "tlb", "walker", "cache", "dram", "dma", "disk", "os"
        ],
        "top-level scopes"
    );
    let banks = w
        .vars
        .keys()
        .filter(|n| n.starts_with("dram.bank") && n.ends_with(".open_row"))
        .count();
    assert_eq!(banks, 16);
    let last = |n: &str| w.numbers(n).last().unwrap().1;
    assert_eq!(last("walker.walks"), stats.walker.walks);
    assert_eq!(last("core.accesses"), stats.accesses);
    assert_eq!(last("tlb.l2.misses"), stats.tlb["l2"].misses);
    assert_eq!(last("dram.reads"), stats.dram.reads);
    // One access outstanding at a time: walker 0 does every walk.
    let st = w.states("walker.0.state");
    assert!(st.len() > 100, "walker 0 barely moved: {st:?}");
    assert!(st.iter().all(|(_, s)| WALKER_STATE_NAMES.contains(s)));
    assert!(st.iter().any(|(_, s)| *s == "WaitMem(PT)"));
    assert_eq!(w.states("walker.1.state"), vec![(0, "Idle")]);
    // Only changes are dumped.
    for (n, ch) in &w.vars {
        assert!(
            ch.windows(2).all(|p| p[0].1 != p[1].1 && p[0].0 < p[1].0),
            "{n} repeats a value"
        );
    }
    let plain = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    assert_eq!(plain.stats, stats, "observing changed the results");
}

/// A window and a signal filter: only the chosen signals, no change outside the window, and
/// the initial values at its start are the values the whole-run waveform shows there, though
/// no engine step falls on that cycle.
#[test]
fn window_and_filter_hold_only_what_was_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = zipf(1500);
    let (_, full) = run_vcd(dir.path(), "full.vcd", &cfg, &[], false, Window::ALL);
    let full = check_and_load(&full);
    let (start, end) = (600_003, 650_000);
    let window = Window {
        start: vmsim_hw::Cycle(start),
        end: vmsim_hw::Cycle(end),
    };
    let globs = ["walker.*", "dram.bank*.open_row"];
    let (_, path) = run_vcd(dir.path(), "win.vcd", &cfg, &globs, false, window);
    let w = check_and_load(&path);
    assert_eq!(w.scopes, ["walker", "dram"]);
    assert!(
        w.vars
            .keys()
            .all(|n| n.starts_with("walker.") || n.ends_with(".open_row")),
        "{:?}",
        w.vars.keys()
    );
    assert_eq!(w.vars.len(), 2 * 2 + 3 + 1 + 16);
    assert!(
        !full.times.contains(&start),
        "pick a start no step falls on"
    );
    assert_eq!(w.times.first(), Some(&start));
    assert_eq!(w.times.last(), Some(&end), "the file ends with the window");
    let mut inside = 0;
    for (n, ch) in &w.vars {
        assert_eq!(ch[0].0, start, "{n} starts late");
        assert!(ch.iter().all(|(t, _)| (start..end).contains(t)), "{n}");
        assert_eq!(ch[0].1, full.value_at(n, start), "{n} at the start");
        // Every change inside the window is the whole-run waveform's.
        let expected: Vec<&(u64, String)> = full
            .changes(n)
            .iter()
            .filter(|(t, _)| *t > start && *t < end)
            .collect();
        let got: Vec<&(u64, String)> = ch[1..].iter().collect();
        assert_eq!(got, expected, "{n}");
        inside += got.len();
    }
    assert!(
        inside > 50,
        "the window should see activity ({inside} changes)"
    );
}

/// Skipping idle cycles gives the same waveform as ticking every cycle, for the whole run and
/// for a window whose start no step falls on (DRAM refresh, which closes rows without waking
/// any component, included).
#[test]
fn waveform_is_the_same_ticking_every_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let skip = zipf(120);
    let mut tick = skip.clone();
    tick.engine.skip_idle = false;
    let window = Window {
        start: vmsim_hw::Cycle(150_001),
        end: vmsim_hw::Cycle(180_000),
    };
    for w in [window, Window::ALL] {
        let (a, pa) = run_vcd(dir.path(), "skip.vcd", &skip, &[], false, w);
        let (b, pb) = run_vcd(dir.path(), "tick.vcd", &tick, &[], false, w);
        assert_eq!(a, b);
        assert!(a.cycles > 180_000, "{} cycles", a.cycles);
        let wave = check_and_load(&pa);
        assert!(
            wave.numbers("dram.bank0.open_row")
                .iter()
                .filter(|(_, r)| *r == u32::MAX as u64)
                .count()
                > 1,
            "refresh should close bank 0 in the window"
        );
        let (ta, tb) = (
            std::fs::read_to_string(&pa).unwrap(),
            std::fs::read_to_string(&pb).unwrap(),
        );
        assert!(ta.lines().count() > 100);
        assert!(ta == tb, "{w}: the waveforms differ");
    }
}

/// With the clock, `core.clk` is high in the first half of every cycle of the window.
#[test]
fn clock_toggles_every_half_cycle_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = zipf(200);
    let (start, end) = (10_000, 10_100);
    let window = Window {
        start: vmsim_hw::Cycle(start),
        end: vmsim_hw::Cycle(end),
    };
    let (_, path) = run_vcd(dir.path(), "clk.vcd", &cfg, &["core.state"], true, window);
    check_and_load(&path);
    // Half cycles are not whole cycles: read the clock's changes from wellen directly.
    let mut wave = wellen::simple::read(&path).unwrap();
    let h = wave.hierarchy();
    let clk = h[h.lookup_var(&["core"], "clk").expect("core.clk")].signal_ref();
    wave.load_signals(&[clk]);
    let tt = wave.time_table().to_vec();
    let edges: Vec<(u64, String)> = wave
        .get_signal(clk)
        .unwrap()
        .iter_changes()
        .map(|(i, v)| (tt[i as usize], v.to_bit_string().unwrap()))
        .collect();
    assert_eq!(edges.len() as u64, 2 * (end - start));
    for (k, (t, v)) in edges.iter().enumerate() {
        assert_eq!(*t, start * CYCLE + k as u64 * CYCLE / 2);
        assert_eq!(v, if k % 2 == 0 { "1" } else { "0" });
    }
    assert_eq!(tt.last(), Some(&(end * CYCLE)));
}

/// A window of 1000 cycles out of a run of about 10^7 cycles gives a small file.
///
/// The bound, 16 KiB: the header of the default machine declares 48 signals in 35 scopes
/// (2.8 KB measured); `$dumpvars` writes each signal once, at most 48 x (64 bits + id + 3)
/// bytes = 3.3 KB; and this run spends about 2000 cycles per access (5000 accesses, mostly
/// first touches costing a 4000-cycle fault), so 1000 cycles hold at most a few accesses'
/// activity: each a walk of up to four PTE reads plus a data access, changing some 30 values of
/// at most 70 bytes with their timestamps, about 2 KB per access. (Measured: 3.3-3.8 KB for
/// windows at 1, 5 and 8 million cycles.) The whole run's file is 2.5 MB, so the window must
/// also be at least 500 times smaller than it.
#[test]
fn thousand_cycle_window_of_a_long_run_is_small() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = zipf(5000);
    let (start, end) = (5_000_000, 5_001_000);
    let window = Window {
        start: vmsim_hw::Cycle(start),
        end: vmsim_hw::Cycle(end),
    };
    let (stats, path) = run_vcd(dir.path(), "small.vcd", &cfg, &[], false, window);
    assert!(stats.cycles >= 9_000_000, "{} cycles", stats.cycles);
    let w = check_and_load(&path);
    let bytes = std::fs::metadata(&path).unwrap().len();
    assert!(bytes < 16 * 1024, "{bytes} bytes for 1000 cycles");
    assert_eq!(w.times.first(), Some(&start));
    assert_eq!(w.times.last(), Some(&end));
    let (_, full) = run_vcd(dir.path(), "big.vcd", &cfg, &[], false, Window::ALL);
    let full_bytes = std::fs::metadata(&full).unwrap().len();
    assert!(full_bytes > 500 * bytes, "{full_bytes} vs {bytes}");
}

fn vmsim(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vmsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("vmsim runs")
}

fn one_line_error(o: &std::process::Output) -> String {
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.trim_end().lines().count(), 1, "not one line: {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn cli_writes_a_windowed_filtered_vcd_and_refuses_bad_flags_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "run",
        "--quiet",
        "--workload",
        "zipf",
        "--set",
        "workload.accesses=300",
        "--out",
        "res",
    ];
    let with = |extra: &[&str]| {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        vmsim(&a, dir.path())
    };
    let o = with(&[
        "--vcd",
        "w.vcd",
        "--vcd-window",
        "1_000:200000",
        "--vcd-signals",
        "walker.*,core.state",
        "--vcd-clock",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("waveforms in w.vcd"));
    let w = dir.path().join("w.vcd");
    assert_eq!(lint_file(&w).unwrap(), vec![]);
    let text = std::fs::read_to_string(&w).unwrap();
    assert!(text.contains("$var wire 1 ! clk $end"), "{}", &text[..400]);
    assert!(!text.contains("dram"));
    // The lint, from the command line: silent on a good file, one line per problem otherwise.
    let ok = vmsim(&["lint-vcd", "w.vcd"], dir.path());
    assert!(ok.status.success());
    assert!(ok.stdout.is_empty());
    std::fs::write(dir.path().join("bad.vcd"), format!("{text}#0\n")).unwrap();
    let bad = vmsim(&["lint-vcd", "w.vcd", "bad.vcd"], dir.path());
    assert!(!bad.status.success());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.starts_with("bad.vcd: line ") && out.contains("time does not increase"),
        "{out}"
    );
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "vmsim: error: 1 of 2 files have problems"
    );
    std::fs::remove_file(dir.path().join("bad.vcd")).unwrap();

    for (flags, says) in [
        (&["--vcd", "x.vcd", "--vcd-window", "5"][..], "no `:`"),
        (
            &["--vcd", "x.vcd", "--vcd-window", "9:3"][..],
            "START is not below END",
        ),
        (
            &["--vcd", "x.vcd", "--vcd-window", "a:b"][..],
            "not a cycle count",
        ),
        (
            &["--vcd", "x.vcd", "--vcd-signals", "walker.*,tbl.*"][..],
            "`tbl.*` matches no signal",
        ),
        (&["--vcd", "nodir/x.vcd"][..], "nodir/x.vcd"),
    ] {
        let e = one_line_error(&with(flags));
        assert!(e.contains(says), "{flags:?}: {e}");
    }
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("vcd") && n != "w.vcd")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A run that fails removes its partial waveform and leaves no file that looks complete.
#[test]
fn failed_run_leaves_no_waveform() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.lackey"), "I  04000bd0,3\n L zz,8\n").unwrap();
    let o = vmsim(
        &[
            "run",
            "--quiet",
            "--trace",
            "bad.lackey",
            "--out",
            "res",
            "--vcd",
            "w.vcd",
        ],
        dir.path(),
    );
    one_line_error(&o);
    assert!(!dir.path().join("w.vcd").exists());
    assert!(!dir.path().join(".w.vcd.partial").exists());
}
