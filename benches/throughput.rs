//! Simulated accesses per host second of whole runs (`vmsim_sim::run`, no output files):
//!
//! - `trace_matmul`: the TLB-hit-heavy real-program trace `tests/data/traces/matmul.lackey.gz`;
//! - `random_1m_pages`: uniform random accesses over 1 M pages (4 GiB), DDR4 and caches on, so
//!   nearly every access walks and most first-touch a page (a minor fault);
//! - `default_zipf`: the built-in default workload (zipf over 32768 pages), fewer accesses;
//! - `run_overhead/one_access`: a run of a single access on the default machine, i.e. the fixed
//!   cost of a run (building the 4 GiB machine and the workload) included in each figure above.
//!
//! Each iteration is one complete run, machine construction and workload set-up included, as in
//! `vmsim bench`. Criterion reports the rate as elements/s, an element being one access
//! (`stats.accesses`).
//!
//! Under `cargo test --benches` (criterion's test mode, unoptimised) the synthetic workloads are
//! cut to a few thousand accesses so that the smoke test stays quick.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;
use vmsim_sim::{Config, ConfigBuilder, NoObserver};

/// Accesses of the random-over-1M-pages run (about a second per run on a current core).
const RANDOM_ACCESSES: u64 = 300_000;
/// Accesses of the default-workload run.
const DEFAULT_ACCESSES: u64 = 200_000;
/// Accesses of the synthetic runs in test mode.
const SMOKE_ACCESSES: u64 = 2_000;

/// Criterion's own rule: benchmarks run only with `--bench` and without `--test`; otherwise
/// (`cargo test --benches`) each runs once as a test.
fn test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    !has("--bench") || has("--test")
}

fn config(sets: &[String]) -> Config {
    let mut b = ConfigBuilder::new()
        .set("output.accesses_csv=false")
        .and_then(|b| b.set("output.walks_csv=false"))
        .expect("valid output keys");
    for s in sets {
        b = b.set(s).unwrap_or_else(|e| panic!("--set {s}: {e}"));
    }
    b.build().expect("valid bench configuration")
}

/// One run; returns the accesses simulated.
fn run_once(cfg: &Config) -> u64 {
    let out = vmsim_sim::run(cfg, None, &mut NoObserver).expect("bench run succeeds");
    out.stats.accesses
}

fn bench_one(c: &mut Criterion, name: &str, cfg: &Config, secs: u64) {
    // One calibration run: the element count for the throughput (and a warm page cache).
    let accesses = run_once(cfg);
    assert!(accesses > 0, "{name}: the workload made no access");
    let mut g = c.benchmark_group("throughput");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(secs))
        .throughput(Throughput::Elements(accesses));
    g.bench_function(name, |b| b.iter(|| black_box(run_once(black_box(cfg)))));
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let smoke = test_mode();
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/traces/matmul.lackey.gz");
    let path = toml::Value::String(trace.display().to_string());

    // (a) A real program: almost every access hits the L1 TLB.
    let a = config(&[
        "workload.kind=\"trace\"".into(),
        format!("workload.trace={path}"),
    ]);
    bench_one(c, "trace_matmul", &a, 5);

    // (b) Uniform random over 1 M pages with DDR4 and caches: walks, faults and DRAM traffic.
    let n = if smoke {
        SMOKE_ACCESSES
    } else {
        RANDOM_ACCESSES
    };
    let b = config(&[
        "workload.kind=random".into(),
        "workload.pages=1048576".into(),
        format!("workload.accesses={n}"),
        "os.frames=1100000".into(),
        "dram.model=ddr4".into(),
        "caches.enabled=true".into(),
    ]);
    bench_one(c, "random_1m_pages", &b, 12);

    // (c) The built-in default workload (zipf), shortened.
    let n = if smoke {
        SMOKE_ACCESSES
    } else {
        DEFAULT_ACCESSES
    };
    let cc = config(&[format!("workload.accesses={n}")]);
    bench_one(c, "default_zipf", &cc, 5);

    // The fixed cost of one run, paid once per iteration above.
    let one = config(&[
        "workload.kind=sequential".into(),
        "workload.accesses=1".into(),
    ]);
    assert_eq!(run_once(&one), 1);
    let mut g = c.benchmark_group("run_overhead");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("one_access", |b| {
        b.iter(|| black_box(run_once(black_box(&one))))
    });
    g.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
