//! `--plots` writes three SVG figures beside the results.

use std::fs;
use vmsim_sim::{ConfigBuilder, NoObserver, RunOptions};

#[test]
fn plots_are_written_as_svg_with_one_bar_per_process() {
    let text = fs::read_to_string("sim/scenarios/segv.toml").unwrap();
    let cfg = ConfigBuilder::new()
        .toml("segv.toml", &text)
        .unwrap()
        .set("process[0].workload.accesses=2000")
        .unwrap()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = vmsim_sim::run_with(
        &cfg,
        Some(dir.path()),
        &mut NoObserver,
        RunOptions {
            plots: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    for (name, caption) in [
        ("walk_latency_cdf.svg", "Page-walk latency"),
        ("tlb_miss_cost.svg", "TLB miss cost"),
        ("fault_timeline.svg", "Faults over time"),
    ] {
        let svg = fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
        assert!(svg.contains(caption), "{name}");
        assert!(!dir.path().join(format!(".{name}.partial")).exists());
    }
    let walks = fs::read_to_string(dir.path().join("walk_latency_cdf.svg")).unwrap();
    assert!(walks.contains(&format!("{} walks", out.stats.walker.walks)));
    // One filled bar per process, besides the white background.
    let bars = fs::read_to_string(dir.path().join("tlb_miss_cost.svg")).unwrap();
    let filled = bars.matches("<rect").count();
    assert!(filled > out.stats.processes.len(), "{filled}");
    // The run made no figure files without --plots.
    let plain = tempfile::tempdir().unwrap();
    vmsim_sim::run(&cfg, Some(plain.path()), &mut NoObserver).unwrap();
    assert!(!plain.path().join("tlb_miss_cost.svg").exists());
}
