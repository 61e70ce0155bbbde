//! Scenario files: every example under `sim/scenarios/` parses through the real config builder,
//! a scenario survives the written `config.toml`, and each class of bad scenario is refused with
//! one line naming the key, by the library and by `vmsim run --scenario`.

mod common;

use common::{assert_one_line_error, vmsim};
use std::fs;
use std::path::{Path, PathBuf};
use vmsim_hw::AccessKind;
use vmsim_os::{SegmentKind, SegmentPerms};
use vmsim_sim::scenario::{Syscall, SyscallOp};
use vmsim_sim::workload::{WorkloadKind, data};
use vmsim_sim::{Config, ConfigBuilder, ConfigError};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/scenarios")
}

fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = fs::read_to_string(path).unwrap();
    ConfigBuilder::new()
        .toml(&path.display().to_string(), &text)?
        .build()
}

fn example(name: &str) -> Config {
    let path = scenarios_dir().join(name);
    load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether process `i`'s synthetic footprint lies inside one of its segments.
fn confined(cfg: &Config, i: usize) -> bool {
    let p = &cfg.process[i];
    let (lo, hi) = (p.workload.base, p.workload.base + p.workload.pages * 4096);
    p.segments.iter().any(|s| s.start <= lo && hi <= s.end())
}

#[test]
fn every_example_scenario_parses_and_round_trips() {
    let mut names = Vec::new();
    for entry in fs::read_dir(scenarios_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(cfg.is_scenario(), "{} has no [[process]]", path.display());
            // Small enough to run in well under a second (the default system, about a second
            // in release builds, is tested in tests/default_system.rs).
            if !path.ends_with("default.toml") {
                for p in &cfg.process {
                    assert!(p.workload.accesses <= 20_000, "{}", path.display());
                }
            }
            let again = ConfigBuilder::new()
                .toml("config.toml", &cfg.to_toml())
                .unwrap()
                .build()
                .unwrap();
            assert_eq!(again, cfg, "{} does not round-trip", path.display());
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "default.toml",
            "dma.toml",
            "mprotect.toml",
            "segv.toml",
            "swap.toml"
        ]
    );
}

#[test]
fn segv_example_has_a_confined_worker_and_a_writer_into_read_only_memory() {
    let c = example("segv.toml");
    assert_eq!(c.process.len(), 2);
    assert_eq!(c.process[0].workload.kind, WorkloadKind::Random);
    assert!(confined(&c, 0));
    let p2 = &c.process[1];
    assert!(confined(&c, 1));
    assert!(p2.segments.iter().all(|s| !s.perms.w));
    assert_eq!(p2.workload.write_ratio, 1.0);
}

#[test]
fn swap_example_is_four_times_memory_and_carries_data() {
    let c = example("swap.toml");
    assert_eq!(c.process.len(), 1);
    let p = &c.process[0];
    assert!(p.workload.data);
    assert_eq!(p.workload.pages, 4 * c.os.frames);
    assert!(confined(&c, 0));
    assert_eq!(c.disk.preset, vmsim_hw::disk::DiskPreset::Nvme);
    // Its writes carry the documented values for pid 1.
    let mut w = p.build_workload(0, c.seed).unwrap();
    let mut buf = Vec::new();
    assert!(w.next_batch(&mut buf).unwrap());
    let mut seq = 0;
    for r in &buf {
        assert_eq!(r.size, 8);
        if r.kind == AccessKind::Write {
            assert_eq!(r.data, Some(data::value(1, r.va.0, seq)));
            seq += 1;
        }
    }
    assert!(seq > 0);
}

#[test]
fn mprotect_example_uses_every_call() {
    let c = example("mprotect.toml");
    let ops: Vec<SyscallOp> = c
        .process
        .iter()
        .flat_map(|p| p.events.iter().map(|e| e.op))
        .collect();
    for op in [SyscallOp::Mmap, SyscallOp::Munmap, SyscallOp::Mprotect] {
        assert!(ops.contains(&op), "{op:?} missing");
    }
    let victim = &c.process[1];
    assert_eq!(
        victim.events[0].syscall(),
        Syscall::Mprotect {
            start: vmsim_hw::VirtAddr(0x3000_0000),
            end: vmsim_hw::VirtAddr(0x3002_0000),
            perms: SegmentPerms::parse("ru").unwrap(),
        }
    );
}

#[test]
fn dma_example_device_targets_a_dma_segment() {
    let c = example("dma.toml");
    assert_eq!(c.device.len(), 1);
    let d = &c.device[0];
    let p = &c.process[d.process_index()];
    let seg = p
        .segments
        .iter()
        .find(|s| s.start == d.segment_start)
        .unwrap();
    assert_eq!(seg.kind, SegmentKind::Dma);
    assert!(d.burst_bytes <= seg.len);
    assert!(confined(&c, 0) && confined(&c, 1));
}

// ---- bad scenarios ----------------------------------------------------------------------

const OK_PROCESS: &str = "[[process]]\nname = \"a\"\nsegments = [\n  { start = 0x1000_0000, len = 0x1_0000, perms = \"rw-u\" },\n]\n[process.workload]\nkind = \"random\"\nbase = 0x1000_0000\npages = 16\naccesses = 100\n";

/// Bad scenario classes: (name, file text, substrings the one-line error must contain).
fn bad_scenarios() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        (
            "overlapping segments",
            "[[process]]\nsegments = [\n  { start = 0x10000, len = 0x4000 },\n  { start = 0x12000, len = 0x1000 },\n]\n".into(),
            vec!["`process[0].segments[1]`", "overlaps", "process[0].segments[0]"],
        ),
        (
            "unknown key",
            format!("{OK_PROCESS}[[device]]\nprocess = 1\nsegment_start = 0x1000_0000\nburst_size = 64\n"),
            vec!["`device[0].burst_size`", "unknown key", "burst_bytes"],
        ),
        (
            "bad perms letter",
            "[[process]]\nsegments = [{ start = 0x10000, len = 0x1000, perms = \"rwz\" }]\n".into(),
            vec!["`process[0].segments[0].perms`", "rwz", "rwxu"],
        ),
        (
            "device on a non-dma segment",
            format!("{OK_PROCESS}[[device]]\nprocess = 1\nsegment_start = 0x1000_0000\n"),
            vec!["`device[0].segment_start`", "\"anonymous\"", "\"dma\""],
        ),
        (
            "shared length mismatch",
            "[[process]]\nsegments = [{ start = 0x10000, len = 0x2000, kind = \"shared:ring\" }]\n\
             [[process]]\nsegments = [{ start = 0x20000, len = 0x1000, kind = \"shared:ring\" }]\n"
                .into(),
            vec!["`process[1].segments[0].len`", "\"ring\"", "process[0].segments[0]"],
        ),
        (
            "zero frames",
            format!("[os]\nframes = 0\n{OK_PROCESS}"),
            vec!["`os.frames`", "between 8 and", "got 0"],
        ),
        (
            "bad segment kind",
            "[[process]]\nsegments = [{ start = 0x10000, len = 0x1000, kind = \"file\" }]\n".into(),
            vec!["`process[0].segments[0].kind`", "shared:NAME"],
        ),
        (
            "unaligned event",
            format!("{OK_PROCESS}[[process.events]]\nafter = 1\nop = \"munmap\"\nstart = 0x1000_0800\nlen = 0x1000\n"),
            vec!["`process[0].events[0].start`", "aligned"],
        ),
        (
            "bad disk preset",
            format!("[disk]\npreset = \"ssd\"\n{OK_PROCESS}"),
            vec!["disk.preset", "nvme", "sata_ssd", "hdd"],
        ),
        (
            "bad process workload",
            format!("{OK_PROCESS}write_ratio = 2.0\n"),
            vec!["`process[0].workload.write_ratio`"],
        ),
    ]
}

#[test]
fn each_bad_scenario_is_one_line_naming_the_key() {
    for (name, text, needles) in bad_scenarios() {
        let e = ConfigBuilder::new()
            .toml("bad.toml", &text)
            .and_then(|b| b.build())
            .expect_err(name)
            .to_string();
        assert_eq!(e.lines().count(), 1, "{name}: {e}");
        for n in needles {
            assert!(e.contains(n), "{name}: {n:?} not in: {e}");
        }
    }
}

#[test]
fn cli_refuses_each_bad_scenario_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, needles) in bad_scenarios() {
        fs::write(dir.path().join("bad.toml"), &text).unwrap();
        let o = vmsim(
            &["run", "--quiet", "--scenario", "bad.toml", "--out", "res"],
            dir.path(),
        );
        let e = assert_one_line_error(&o);
        assert!(e.starts_with("vmsim: error: "), "{name}: {e}");
        for n in needles {
            assert!(e.contains(n), "{name}: {n:?} not in: {e}");
        }
        assert!(!dir.path().join("res/stats.json").exists(), "{name}");
    }
}

#[test]
fn cli_scenario_needs_a_process_and_no_top_level_workload() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("empty.toml"), "[os]\nframes = 4096\n").unwrap();
    let o = vmsim(&["run", "--quiet", "--scenario", "empty.toml"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("empty.toml") && e.contains("[[process]]"), "{e}");

    fs::write(
        dir.path().join("both.toml"),
        format!("[workload]\naccesses = 10\n{OK_PROCESS}"),
    )
    .unwrap();
    let o = vmsim(&["run", "--quiet", "--scenario", "both.toml"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("both.toml") && e.contains("[workload]"), "{e}");

    fs::write(dir.path().join("ok.toml"), OK_PROCESS).unwrap();
    let o = vmsim(
        &[
            "run",
            "--quiet",
            "--scenario",
            "ok.toml",
            "--set",
            "workload.accesses=5",
        ],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(e.contains("process[N].workload"), "{e}");

    let o = vmsim(
        &["run", "--quiet", "--scenario", "missing.toml"],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(e.contains("missing.toml"), "{e}");

    fs::write(dir.path().join("syntax.toml"), "[[process]\n").unwrap();
    let o = vmsim(&["run", "--quiet", "--scenario", "syntax.toml"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("syntax.toml"), "{e}");
}

#[test]
fn cli_scenario_conflicts_with_other_workload_sources() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ok.toml"), OK_PROCESS).unwrap();
    for extra in [
        ["--config", "ok.toml"],
        ["--workload", "random"],
        ["--trace", "t.lackey"],
    ] {
        let mut args = vec!["run", "--quiet", "--scenario", "ok.toml"];
        args.extend(extra);
        let o = vmsim(&args, dir.path());
        assert!(!o.status.success(), "{extra:?} accepted");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("--scenario") && !e.contains("panicked"), "{e}");
    }
}

#[test]
fn a_process_trace_that_does_not_exist_names_the_process() {
    let text = "[[process]]\nname = \"replay\"\n[[process]]\nname = \"player\"\n\
                [process.workload]\nkind = \"trace\"\ntrace = \"/nonexistent/p.lackey\"\n";
    let c = ConfigBuilder::new()
        .toml("s.toml", text)
        .unwrap()
        .build()
        .unwrap();
    let e = c.process[1]
        .build_workload(1, c.seed)
        .err()
        .expect("a missing trace does not open")
        .to_string();
    assert!(
        e.starts_with("process[1] (pid 2, \"player\"): /nonexistent/p.lackey: "),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn the_readme_example_scenario_is_valid() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Scenarios\n")
        .nth(1)
        .expect("README has a Scenarios section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("the Scenarios section has a toml example");
    let c = ConfigBuilder::new()
        .toml("README.md", example)
        .unwrap()
        .build()
        .unwrap_or_else(|e| panic!("README example: {e}"));
    assert_eq!(c.process.len(), 2);
    assert_eq!(c.device.len(), 1);
    assert_eq!(c.disk.preset, vmsim_hw::disk::DiskPreset::SataSsd);
    assert!(confined(&c, 0), "the server stays in its heap");
    assert!(!confined(&c, 1), "the reader runs past its segment");
    assert_eq!(c.process[0].events.len(), 3);
}
