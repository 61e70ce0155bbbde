//! Bad input ends the run with a non-zero exit and one readable line naming the file and line, or
//! the key and what is allowed; no panic, no output file left looking complete.

mod common;

use common::{assert_one_line_error, vmsim};
use std::fs;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malformed_trace_line_names_file_and_line_and_leaves_no_results() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.lackey");
    fs::write(
        &trace,
        "==1== Lackey\nI  04000bd0,3\n L 04225d30,8\n L zzzz,8\n",
    )
    .unwrap();
    let o = vmsim(
        &["run", "--quiet", "--trace", "bad.lackey", "--out", "res"],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(e.contains("bad.lackey:4"), "{e}");
    for f in ["stats.json", "accesses.csv", "walks.csv", "config.toml"] {
        assert!(!dir.path().join("res").join(f).exists(), "{f} left behind");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("res")).unwrap().collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
}

#[test]
fn failed_run_keeps_earlier_results_intact() {
    let dir = tempfile::tempdir().unwrap();
    let ok = vmsim(
        &[
            "run",
            "--quiet",
            "--workload",
            "sequential",
            "--set",
            "workload.accesses=1000",
            "--out",
            "res",
        ],
        dir.path(),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = fs::read(dir.path().join("res/stats.json")).unwrap();
    fs::write(dir.path().join("bad.lackey"), "I  04000bd0\n").unwrap();
    let o = vmsim(
        &["run", "--quiet", "--trace", "bad.lackey", "--out", "res"],
        dir.path(),
    );
    assert_one_line_error(&o);
    assert_eq!(fs::read(dir.path().join("res/stats.json")).unwrap(), before);
}

#[test]
fn unknown_config_key_names_key_and_allowed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let o = vmsim(
        &["run", "--quiet", "--set", "tlb.l1d.entrys=32"],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(
        e.contains("tlb.l1d") && e.contains("entrys") && e.contains("entries"),
        "{e}"
    );
}

#[test]
fn bad_value_names_key_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let o = vmsim(&["run", "--quiet", "--set", "dram.model=ddr5"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(
        e.contains("dram.model") && e.contains("ddr4") && e.contains("fixed"),
        "{e}"
    );
    let o = vmsim(&["run", "--quiet", "--set", "tlb.l2.ways=7"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("tlb.l2.ways"), "{e}");
    // Errors of the hardware's and the workload's configs (wrapped twice on the way out).
    let o = vmsim(
        &["run", "--quiet", "--set", "caches.l1d.ways=3"],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(
        e.contains("caches.l1d.ways") && e.contains("must divide"),
        "{e}"
    );
    let o = vmsim(
        &[
            "run",
            "--quiet",
            "--workload",
            "random",
            "--set",
            "workload.pages=0",
        ],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(e.contains("workload.pages"), "{e}");
}

#[test]
fn physical_memory_beyond_a_caches_tags_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = vmsim(
        &[
            "run",
            "--quiet",
            "--set",
            "os.frames=268435456",
            "--set",
            "caches.l1d.size_kib=4",
            "--set",
            "caches.l1d.ways=16",
        ],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(
        e.contains("caches.l1d.ways") && e.contains("at least 16 sets"),
        "{e}"
    );
}

#[test]
fn unknown_key_in_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("c.toml"), "[walker]\nwalkerz = 3\n").unwrap();
    let o = vmsim(&["run", "--quiet", "--config", "c.toml"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("walker") && e.contains("walkerz"), "{e}");
}

#[test]
fn missing_trace_file_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = vmsim(&["run", "--quiet", "--trace", "nope.lackey.gz"], dir.path());
    let e = assert_one_line_error(&o);
    assert!(e.contains("nope.lackey.gz"), "{e}");
}

#[test]
fn too_few_frames_is_a_clear_error() {
    // Fewer frames than pages is fine (the kernel swaps); fewer than a page table needs is not.
    let dir = tempfile::tempdir().unwrap();
    let o = vmsim(
        &[
            "run",
            "--quiet",
            "--workload",
            "sequential",
            "--set",
            "os.frames=4",
            "--set",
            "workload.pages=64",
        ],
        dir.path(),
    );
    let e = assert_one_line_error(&o);
    assert!(e.contains("os.frames"), "{e}");
}
