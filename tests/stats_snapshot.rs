//! Snapshots of a small fixed run's outputs: `stats.json` and the first 20 lines of
//! `accesses.csv` and `walks.csv`. They exist to catch any change in counts or timing; a change
//! that is meant must be reviewed and the snapshots accepted (`INSTA_UPDATE=always cargo test
//! --test stats_snapshot`, or `cargo insta review`).
//!
//! The run: 2000 zipf accesses over 256 pages, with the default machine (DDR4, data caches, PTE
//! reads through them, page-walk caches). The section-5 identities are asserted too, so that a
//! snapshot cannot be accepted with counts that contradict each other.

mod common;

use common::config;
use serde_json::Value;
use std::fs;
use vmsim_sim::NoObserver;

fn head(text: &str, lines: usize) -> String {
    text.lines().take(lines).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn zipf_2000_accesses_256_pages_ddr4_caches_on() {
    let cfg = config(&[
        "workload.kind=zipf",
        "workload.accesses=2000",
        "workload.pages=256",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = vmsim_sim::run(&cfg, Some(dir.path()), &mut NoObserver).unwrap();
    let json = fs::read_to_string(dir.path().join("stats.json")).unwrap();
    assert_eq!(
        json,
        out.stats.to_json(),
        "stats.json is the returned stats"
    );
    let accesses = fs::read_to_string(dir.path().join("accesses.csv")).unwrap();
    let walks = fs::read_to_string(dir.path().join("walks.csv")).unwrap();

    // Identities that hold whatever the snapshot says.
    let s: Value = serde_json::from_str(&json).unwrap();
    let n = |p: &str| -> u64 {
        s.pointer(p)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(n("/accesses"), 2000);
    assert_eq!(
        accesses.lines().count(),
        1 + 2000,
        "header + one row per access"
    );
    assert_eq!(walks.lines().count() as u64, 1 + n("/walker/walks"));
    assert_eq!(n("/walker/walks"), n("/tlb/l2/misses"));
    assert_eq!(
        n("/tlb/l2/lookups"),
        n("/tlb/l1d/misses") + n("/tlb/l1i/misses")
    );
    assert_eq!(
        n("/tlb/l1i/lookups"),
        0,
        "no instruction fetches in a synthetic workload"
    );
    assert_eq!(n("/walker/faults"), n("/faults/minor"));
    // 8-byte aligned accesses never cross a page: one translation each, plus one retry per
    // fault.
    assert_eq!(n("/core/page_translations"), 2000 + n("/faults/minor"));
    assert_eq!(n("/tlb/l1d/lookups"), n("/core/page_translations"));
    assert!(
        n("/faults/minor") <= 256,
        "at most one fault per page of the footprint"
    );
    assert_eq!(n("/os/data_pages"), n("/faults/minor"));
    assert_eq!(
        n("/os/frames"),
        n("/os/frames_free") + n("/os/data_pages") + n("/os/page_table_pages")
    );
    // 256 pages from 0x10000000: one PML4 entry, one PDPT entry, one 2 MiB region (PD index
    // 128, pages 0x10000..0x100ff): root + PDPT + PD + PT.
    assert_eq!(n("/os/page_table_pages"), 4);
    assert_eq!(
        n("/walker/pte_cache_hits") + n("/walker/pte_dram_reads"),
        n("/walker/mem_refs")
    );
    assert_eq!(
        n("/dram/reads") + n("/dram/writes"),
        n("/dram/row_hits") + n("/dram/row_misses") + n("/dram/row_conflicts")
    );
    assert_eq!(n("/walker/latency/count"), n("/walker/walks"));
    assert_eq!(n("/os/fault_cycles"), 4000 * n("/faults/minor"));
    assert_eq!(n("/core/fault_cycles"), 4000 * n("/faults/minor"));
    // Refresh windows are counted as the controller is ticked: at most one per tREFI.
    assert!(n("/dram/refreshes") <= n("/cycles") / 31_200);

    insta::assert_snapshot!("stats_json", json);
    insta::assert_snapshot!("accesses_csv_head", head(&accesses, 20));
    insta::assert_snapshot!("walks_csv_head", head(&walks, 20));
}

/// A small scenario that swaps, switches, kills and receives DMA bursts: its `stats.json` and
/// the head of its `events.csv`.
#[test]
fn swapping_scenario_events_and_stats() {
    let toml = r#"
seed = 9
[os]
frames = 20
time_slice = 30000
[[process]]
name = "swapper"
segments = [{ start = 0x1000_0000, len = 0x2_0000, perms = "rw-u" }]
workload = { kind = "random", base = 0x1000_0000, pages = 32, accesses = 120, data = true, write_ratio = 0.5 }
[[process]]
name = "receiver"
segments = [{ start = 0x2000_0000, len = 0x2000, perms = "rw-u", kind = "dma" }]
workload = { kind = "sequential", base = 0x2000_0000, pages = 2, accesses = 2000, write_ratio = 0.0 }
[[process]]
name = "rogue"
segments = [{ start = 0x3000_0000, len = 0x1000, perms = "r--u" }]
workload = { kind = "sequential", base = 0x3000_0000, pages = 1, accesses = 20, write_ratio = 0.2 }
[[device]]
process = 2
segment_start = 0x2000_0000
burst_bytes = 256
interval_cycles = 40000
bursts = 3
"#;
    let cfg = vmsim_sim::ConfigBuilder::new()
        .toml("s.toml", toml)
        .unwrap()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = vmsim_sim::run(&cfg, Some(dir.path()), &mut NoObserver).unwrap();
    let events = fs::read_to_string(dir.path().join("events.csv")).unwrap();
    let count = |k: &str| {
        events
            .lines()
            .filter(|l| l.starts_with(&format!("{k},")))
            .count() as u64
    };
    let s = &out.stats;
    // Every counted event has its row.
    assert_eq!(count("minor_fault"), s.faults.minor);
    assert_eq!(count("major_fault"), s.faults.major);
    assert_eq!(count("swap_in"), s.os.swap_ins);
    assert_eq!(count("swap_out"), s.os.swap_outs);
    assert_eq!(count("eviction"), s.os.evictions);
    assert_eq!(count("disk_read"), s.disk.reads);
    assert_eq!(count("disk_write"), s.disk.writes);
    assert_eq!(count("context_switch"), s.os.context_switches);
    assert_eq!(count("kill_sigsegv"), 1);
    assert_eq!(count("device_dma"), s.devices[0].delivered);
    assert!(s.os.swap_ins > 0 && s.devices[0].delivered > 0);
    assert_eq!(s.integrity.errors, 0);
    insta::assert_snapshot!("scenario_stats_json", s.to_json());
    insta::assert_snapshot!("scenario_events_csv_head", head(&events, 40));
}
