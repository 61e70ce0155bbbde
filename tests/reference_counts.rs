//! Exact counts on real program traces and hand-made edge cases, compared with the expectations
//! that `tools/refmodel.py` (an independent Python implementation of the reference semantics,
//! ARCHITECTURE.md section 5) derived. Equality is required, not closeness. CI re-derives the
//! expectations with `tools/check_expected.py`, so they cannot drift from the model.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use vmsim_sim::{ConfigBuilder, NoObserver};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn expected_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root().join("tests/data/expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

/// Run the simulator on one expectation file's trace and config; return the mismatches.
fn check(path: &Path) -> Vec<String> {
    let spec: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let trace = root().join(spec["trace"].as_str().unwrap());
    let mut b = ConfigBuilder::new()
        .set("workload.kind=trace")
        .unwrap()
        .set(&format!(
            "workload.trace={}",
            toml::Value::String(trace.display().to_string())
        ))
        .unwrap()
        // Counts do not depend on timing; the fixed model keeps these runs short.
        .set("dram.model=fixed")
        .unwrap()
        .set("walker.pwc.enabled=false")
        .unwrap();
    for (k, v) in spec["set"].as_object().unwrap() {
        let v = match v {
            Value::String(s) => format!("\"{s}\""),
            other => other.to_string(),
        };
        b = b.set(&format!("{k}={v}")).unwrap();
    }
    let cfg = b.build().unwrap();
    let out = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap();
    let got: Value = serde_json::from_str(&out.stats.to_json()).unwrap();
    let exp = &spec["expected"];
    let mut bad = Vec::new();
    let mut cmp = |name: &str, g: &Value, e: &Value| {
        if g != e {
            bad.push(format!(
                "{}: {name}: vmsim {g} != reference {e}",
                path.display()
            ));
        }
    };
    cmp("accesses", &got["accesses"], &exp["accesses"]);
    cmp(
        "instructions",
        &got["core"]["instructions"],
        &exp["instructions"],
    );
    for level in ["l1i", "l1d", "l2"] {
        for k in ["lookups", "hits", "misses"] {
            cmp(
                &format!("tlb.{level}.{k}"),
                &got["tlb"][level][k],
                &exp["tlb"][level][k],
            );
        }
    }
    cmp(
        "walker.walks",
        &got["walker"]["walks"],
        &exp["walker"]["walks"],
    );
    cmp(
        "walker.mem_refs",
        &got["walker"]["mem_refs"],
        &exp["walker"]["mem_refs"],
    );
    cmp(
        "faults.minor",
        &got["faults"]["minor"],
        &exp["faults"]["minor"],
    );
    cmp(
        "os.data_pages",
        &got["os"]["data_pages"],
        &exp["pages_touched"],
    );
    bad
}

#[test]
fn counts_equal_the_independent_reference_model_on_every_trace_and_config() {
    let files = expected_files();
    assert!(files.len() >= 50, "expectation files missing");
    let bad: Vec<String> = files.iter().flat_map(|f| check(f)).collect();
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The hand derivation in tests/data/traces/README.md, pinned here too.
#[test]
fn edge_tiny_matches_the_hand_derivation() {
    let f = root().join("tests/data/expected/edge_tiny__default.json");
    assert!(check(&f).is_empty(), "{:?}", check(&f));
    let spec: Value = serde_json::from_str(&fs::read_to_string(&f).unwrap()).unwrap();
    let e = &spec["expected"];
    assert_eq!(e["walker"]["walks"], 6);
    assert_eq!(e["walker"]["mem_refs"], 20);
    assert_eq!(e["faults"]["minor"], 3);
    assert_eq!(e["tlb"]["l2"]["lookups"], 7);
}
