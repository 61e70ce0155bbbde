//! Helpers shared by the integration tests.
#![allow(dead_code)]

use vmsim_hw::core::AccessDone;
use vmsim_hw::walker::WalkRecord;
use vmsim_hw::{AccessKind, VirtAddr};
use vmsim_os::Pid;
use vmsim_sim::workload::{Record, Workload, WorkloadError};
use vmsim_sim::{Config, ConfigBuilder, Observer};

/// A workload from a fixed list of records.
pub struct VecWorkload {
    records: Vec<Record>,
    pos: usize,
}

impl VecWorkload {
    pub fn new(records: Vec<Record>) -> VecWorkload {
        VecWorkload { records, pos: 0 }
    }
}

impl Workload for VecWorkload {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        buf.clear();
        let end = (self.pos + 3).min(self.records.len());
        buf.extend_from_slice(&self.records[self.pos..end]);
        self.pos = end;
        Ok(!buf.is_empty())
    }
    fn describe(&self) -> String {
        format!("{} fixed records", self.records.len())
    }
}

pub fn rec(kind: AccessKind, va: u64, size: u32, instrs: u32) -> Record {
    Record {
        kind,
        va: VirtAddr(va),
        size,
        instrs,
        data: None,
    }
}

/// The defaults with `sets` applied.
pub fn config(sets: &[&str]) -> Config {
    let mut b = ConfigBuilder::new();
    for s in sets {
        b = b.set(s).unwrap();
    }
    b.build().unwrap()
}

/// Fixed DRAM latency, no caches, no page-walk caches: the hand-derivable machine.
pub fn plain_machine(latency: u64, extra: &[&str]) -> Config {
    let lat = format!("dram.fixed_latency={latency}");
    let mut sets = vec![
        "dram.model=fixed",
        lat.as_str(),
        "caches.enabled=false",
        "walker.pwc.enabled=false",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ];
    sets.extend_from_slice(extra);
    config(&sets)
}

/// An observer that keeps every completed access and walk.
#[derive(Default)]
pub struct Recorder {
    pub accesses: Vec<AccessDone>,
    pub walks: Vec<WalkRecord>,
}

impl Observer for Recorder {
    fn on_access(&mut self, _pid: Pid, a: &AccessDone) {
        self.accesses.push(*a);
    }
    fn on_walk(&mut self, _pid: Pid, w: &WalkRecord) {
        self.walks.push(*w);
    }
}

/// The text of `sim/scenarios/NAME`.
pub fn scenario_text(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sim/scenarios")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A scenario file's configuration, with `sets` applied after it.
pub fn scenario(name: &str, sets: &[&str]) -> Config {
    toml_config(&scenario_text(name), sets)
}

/// A configuration from TOML text, with `sets` applied after it.
pub fn toml_config(text: &str, sets: &[&str]) -> Config {
    let mut b = ConfigBuilder::new().toml("test.toml", text).unwrap();
    for s in sets {
        b = b.set(s).unwrap();
    }
    b.build().unwrap()
}

/// Build the machine for `cfg` (its `[[process]]`es and devices) and run it to the end, with the
/// kernel's invariants checked after every step when `check` is set.
pub fn run_built(
    cfg: &Config,
    check: bool,
    obs: &mut dyn Observer,
) -> Result<vmsim_sim::System, vmsim_sim::SimError> {
    let vmsim_sim::run::Built {
        system: mut sys,
        mut workloads,
        ..
    } = vmsim_sim::run::build(cfg)?;
    sys.check_invariants = check;
    let mut refs: Vec<&mut dyn Workload> = workloads
        .iter_mut()
        .map(|w| &mut **w as &mut dyn Workload)
        .collect();
    sys.run_all(&mut refs, obs)?;
    Ok(sys)
}

/// A data-carrying record (8 bytes, no instructions): a write stores `v`, a read expects `v`.
pub fn drec(kind: AccessKind, va: u64, v: u64) -> Record {
    Record {
        data: Some(v),
        ..rec(kind, va, 8, 0)
    }
}

/// A segment `[start, start + len)` with permissions `perms` (e.g. "rw-u") and kind `kind`
/// ("anonymous", "dma" or "shared:NAME").
pub fn segment(start: u64, len: u64, perms: &str, kind: &str) -> vmsim_os::Segment {
    vmsim_os::Segment {
        start: VirtAddr(start),
        end: VirtAddr(start + len),
        perms: vmsim_os::SegmentPerms::parse(perms).unwrap(),
        kind: vmsim_os::SegmentKind::try_from(kind.to_string()).unwrap(),
    }
}

/// An observer that keeps every completed access with its pid, and every kill.
#[derive(Default)]
pub struct PidRecorder {
    pub accesses: Vec<(Pid, AccessDone)>,
    pub kills: Vec<vmsim_sim::system::Kill>,
}

impl Observer for PidRecorder {
    fn on_access(&mut self, pid: Pid, a: &AccessDone) {
        self.accesses.push((pid, *a));
    }
    fn on_kill(&mut self, k: &vmsim_sim::system::Kill) {
        self.kills.push(k.clone());
    }
}

/// Run the `vmsim` binary with `args` in `dir`.
pub fn vmsim(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vmsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("vmsim runs")
}

/// The run failed with exactly one readable line on stderr (no panic, no backtrace hint);
/// that line.
pub fn assert_one_line_error(o: &std::process::Output) -> String {
    assert!(!o.status.success(), "expected failure");
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!e.contains("panicked"), "panic: {e}");
    assert!(!e.contains("RUST_BACKTRACE"), "backtrace hint: {e}");
    assert_eq!(e.trim_end().lines().count(), 1, "not one line: {e}");
    // An error printed with its source must not say the same thing twice ("x: x").
    let line = e.trim_end();
    for (i, _) in line.match_indices(": ") {
        let (head, tail) = (&line[..i], &line[i + 2..]);
        assert!(
            !head.ends_with(tail) || tail.is_empty(),
            "message repeats itself: {e}"
        );
    }
    e
}
