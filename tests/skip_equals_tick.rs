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

/// A scenario with everything that moves at once: three processes switching on short slices, one
/// swapping data-carrying pages through the DMA engine and a (fast) disk, one killed by SIGSEGV,
/// a device writing bursts into a pinned buffer, and an mprotect.
const BUSY_SCENARIO: &str = r#"
seed = 3
[os]
frames = 24
time_slice = 20000
[disk]
read_us = 0.5
write_us = 0.25
[[process]]
name = "swapper"
segments = [{ start = 0x1000_0000, len = 0x4_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x1000_0000, pages = 64, accesses = 400, data = true, write_ratio = 0.5 }
events = [{ after = 200, op = "mprotect", start = 0x1000_0000, len = 0x1000, perms = "rwxu" }]
[[process]]
name = "swapper2"
segments = [{ start = 0x4000_0000, len = 0x2_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x4000_0000, pages = 32, accesses = 200, data = true, write_ratio = 0.5 }
[[process]]
name = "receiver"
segments = [{ start = 0x2000_0000, len = 0x4000, perms = "rw-u", kind = "dma" }]
workload = { kind = "sequential", base = 0x2000_0000, pages = 4, accesses = 300, write_ratio = 0.0 }
[[process]]
name = "intruder"
segments = [{ start = 0x3000_0000, len = 0x1000, perms = "r--u" }]
workload = { kind = "sequential", base = 0x3000_0000, pages = 1, accesses = 50, write_ratio = 0.5 }
[[device]]
process = 3
segment_start = 0x2000_0000
burst_bytes = 512
interval_cycles = 3000
bursts = 20
"#;

fn scenario_stats(skip: bool) -> vmsim_sim::SystemStats {
    let cfg = vmsim_sim::ConfigBuilder::new()
        .toml("busy.toml", BUSY_SCENARIO)
        .unwrap()
        .set(&format!("engine.skip_idle={skip}"))
        .unwrap()
        .build()
        .unwrap();
    vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap().stats
}

#[test]
fn skipping_idle_cycles_changes_nothing_with_swapping_switching_and_dma() {
    let skipped = scenario_stats(true);
    // The scenario really exercises what it claims to.
    assert!(skipped.os.swap_ins > 0 && skipped.os.swap_outs > 0);
    assert!(skipped.os.context_switches > 2);
    assert_eq!(skipped.faults.segv_kills, 1);
    assert!(skipped.devices[0].delivered > 0);
    // The swappers gave up the core while their faults waited for the disk.
    assert!(skipped.processes[0].blocked > 0 && skipped.processes[1].blocked > 0);
    assert_eq!(skipped.os.syscalls, 1);
    assert_eq!(skipped.integrity.errors, 0);
    assert_eq!(skipped.to_json(), scenario_stats(false).to_json());
}
