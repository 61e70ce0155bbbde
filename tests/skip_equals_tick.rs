//! Skipping idle cycles must give exactly what ticking every cycle gives (ARCHITECTURE.md
//! section 2), and the same config and seed must give byte-identical outputs.

mod common;

use common::config;
use std::fs;
use vmsim_sim::NoObserver;

fn stats_json(sets: &[&str]) -> String {
    let cfg = config(sets);
    vmsim_sim::run(&cfg, None, &mut NoObserver)
        .unwrap()
        .stats
        .to_json()
}

#[test]
fn skipping_idle_cycles_changes_nothing_with_ddr4_and_caches() {
    let base = [
        "workload.kind=zipf",
        "workload.pages=2048",
        "workload.accesses=3000",
        "os.fault_cycles=300",
    ];
    let mut tick = base.to_vec();
    tick.push("engine.skip_idle=false");
    assert_eq!(stats_json(&base), stats_json(&tick));
}

#[test]
fn skipping_idle_cycles_changes_nothing_with_fixed_dram_and_pwc_off() {
    let base = [
        "workload.kind=random",
        "workload.pages=512",
        "workload.accesses=2000",
        "dram.model=fixed",
        "walker.pwc.enabled=false",
        "caches.enabled=false",
        "os.fault_cycles=50",
    ];
    let mut tick = base.to_vec();
    tick.push("engine.skip_idle=false");
    assert_eq!(stats_json(&base), stats_json(&tick));
}

#[test]
fn same_config_and_seed_give_byte_identical_files() {
    let cfg = config(&[
        "workload.kind=zipf",
        "workload.pages=1024",
        "workload.accesses=5000",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    vmsim_sim::run(&cfg, Some(&a), &mut NoObserver).unwrap();
    vmsim_sim::run(&cfg, Some(&b), &mut NoObserver).unwrap();
    for f in ["stats.json", "accesses.csv", "walks.csv", "config.toml"] {
        let x = fs::read(a.join(f)).unwrap();
        let y = fs::read(b.join(f)).unwrap();
        assert!(!x.is_empty(), "{f} is empty");
        assert_eq!(x, y, "{f} differs between identical runs");
    }
}

#[test]
fn different_seed_changes_a_random_workload() {
    let a = stats_json(&["workload.kind=random", "workload.accesses=2000", "seed=1"]);
    let b = stats_json(&["workload.kind=random", "workload.accesses=2000", "seed=2"]);
    assert_ne!(a, b);
}
