//! The example waveforms in `waveforms/` are what the commands in `waveforms/README.md` produce
//! today: each is regenerated here and compared byte for byte, so a change in behaviour shows up
//! as a changed example (regenerate them with `VMSIM_BLESS_WAVEFORMS=1 cargo test --test
//! waveforms` and review the diff). Every example passes the lint, loads in wellen, and shows
//! what its scenario says it shows.

use std::fs;
use std::path::Path;
use vmsim_sim::probe::Window;
use vmsim_sim::vcd::{VcdOptions, VcdProbe};
use vmsim_sim::vcd_lint::lint_file;
use vmsim_sim::{ConfigBuilder, NoObserver, RunOptions, SystemStats};

/// The signals every example keeps (the `--vcd-signals` of waveforms/README.md).
const SIGNALS: &str =
    "core.*,tlb.*,walker.*,os.*,dma.*,disk.*,dram.reads,dram.writes,dram.outstanding";

const EXAMPLES: [&str; 4] = ["translation", "major_fault", "switch_flush", "switch_pcid"];

/// Regenerate example `name` into `out`; its stats.
fn regenerate(name: &str, out: &Path) -> SystemStats {
    let scenario = format!("waveforms/{name}.toml");
    let text = fs::read_to_string(&scenario).unwrap();
    let cfg = ConfigBuilder::new()
        .toml(&scenario, &text)
        .unwrap()
        .build()
        .unwrap();
    let opts = VcdOptions {
        signals: SIGNALS.split(',').map(str::to_string).collect(),
        clock: false,
        freq_ghz: cfg.core.freq_ghz,
    };
    let probe = VcdProbe::create(out, &opts).unwrap();
    vmsim_sim::run_with(
        &cfg,
        None,
        &mut NoObserver,
        RunOptions {
            probe: Some(Box::new(probe)),
            window: Window::ALL,
            plots: false,
        },
    )
    .unwrap()
    .stats
}

#[test]
fn examples_are_up_to_date_valid_and_show_what_they_say() {
    let bless = std::env::var_os("VMSIM_BLESS_WAVEFORMS").is_some();
    let dir = tempfile::tempdir().unwrap();
    let mut stats = Vec::new();
    for name in EXAMPLES {
        let fresh = dir.path().join(format!("{name}.vcd"));
        stats.push(regenerate(name, &fresh));
        let committed = format!("waveforms/{name}.vcd");
        let new = fs::read(&fresh).unwrap();
        if bless {
            fs::write(&committed, &new).unwrap();
        }
        let old = fs::read(&committed).unwrap_or_default();
        assert!(
            old == new,
            "{committed} differs from what its command produces now: regenerate with \
             VMSIM_BLESS_WAVEFORMS=1 cargo test --test waveforms, and review the diff"
        );
        let problems = lint_file(Path::new(&committed)).unwrap();
        assert!(problems.is_empty(), "{committed}: {problems:?}");
        let path = committed.clone();
        let loaded = std::panic::catch_unwind(move || {
            let w = wellen::simple::read(&path).expect("wellen reads it");
            w.hierarchy().all_vars().count()
        });
        assert!(loaded.unwrap() > 20, "{committed}");
        let gtkw = fs::read_to_string(format!("waveforms/{name}.gtkw")).unwrap();
        assert!(
            gtkw.contains(&format!("[dumpfile] \"{name}.vcd\"")),
            "{name}.gtkw"
        );
    }
    let [translation, major, flush, pcid] = &stats[..] else {
        unreachable!()
    };
    // translation: a cold walk and five more, six minor faults, an L1 hit and an L2 hit.
    assert_eq!(translation.faults.minor, 6);
    assert_eq!(translation.tlb["l2"].hits, 1);
    assert!(translation.tlb["l1d"].hits >= 1);
    assert!(translation.walker.pwc.pde.hits >= 1);
    // major_fault: one major fault through the DMA engine and the disk.
    assert_eq!(major.faults.major, 1);
    assert_eq!(major.os.swap_ins, 1);
    assert!(major.dma.transfers >= 2 && major.disk.reads == 1);
    // The switches: flushes and the misses they cause without PCID, none with it.
    assert!(flush.os.context_switches > 2);
    assert_eq!(flush.os.tlb_flushes, flush.os.context_switches);
    assert!(flush.os.switch_tlb_misses > 0);
    assert_eq!(pcid.os.context_switches, flush.os.context_switches);
    assert_eq!(pcid.os.tlb_flushes, 0);
    assert_eq!(pcid.os.switch_tlb_misses, 0);
    assert!(pcid.tlb["l2"].misses < flush.tlb["l2"].misses);
}
