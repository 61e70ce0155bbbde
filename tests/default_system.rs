//! The built-in default system (`vmsim run` with no arguments) shows everything the machine
//! does: context switches with PCID, swap-ins, a SIGSEGV kill, DMA transfers and shared-memory
//! traffic, with every checked value intact.

use vmsim_sim::{ConfigBuilder, NoObserver};

#[test]
fn the_default_run_shows_the_whole_system() {
    let cfg = ConfigBuilder::new()
        .toml("default.toml", vmsim_sim::scenario::DEFAULT_SYSTEM)
        .unwrap()
        .build()
        .unwrap();
    assert!(cfg.os.pcid);
    let s = vmsim_sim::run(&cfg, None, &mut NoObserver).unwrap().stats;
    assert!(s.os.context_switches > 10, "{}", s.os.context_switches);
    // PCID: the only flushes are the recycling of Linux's 6 hardware ASIDs among 7 processes.
    assert_eq!(s.os.tlb_flushes, s.os.asid_recycles);
    assert!(s.os.tlb_flushes < s.os.context_switches / 10);
    assert!(s.os.swap_ins > 0 && s.faults.major == s.os.swap_ins);
    assert!(s.os.evictions > 0);
    assert_eq!(s.faults.segv_kills, 1);
    assert!(
        s.dma.transfers > s.os.swap_ins + s.os.swap_outs,
        "device bursts too"
    );
    assert!(s.devices[0].delivered > 0);
    assert_eq!(s.integrity.errors, 0);
    assert!(s.integrity.loads_checked > 0);
    let by_name = |n: &str| s.processes.iter().find(|p| p.name == n).unwrap();
    // Shared-memory traffic: the consumer checked the producer's words through its own mapping.
    assert_eq!(by_name("consumer").accesses, 100_000);
    assert!(by_name("rogue").exit.starts_with("SIGSEGV"));
    assert_eq!(
        by_name("kthread").faults,
        0,
        "kernel memory is always mapped"
    );
    for n in ["scan", "hash", "chase", "producer", "consumer", "kthread"] {
        assert_eq!(by_name(n).exit, "exited", "{n}");
    }
}
