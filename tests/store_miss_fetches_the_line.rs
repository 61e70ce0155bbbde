//! Regression (suspected bug): a store that misses every cache level is sent to DRAM as a
//! *write*, and the core waits for that write's completion.
//!
//! ARCHITECTURE.md section 3 describes the data caches as write-back. In a write-back,
//! write-allocate hierarchy a store miss fetches its line (a read, "read for ownership"),
//! installs it dirty, and DRAM sees a write only when a dirty line is evicted from the LLC.
//! `MemorySystem::accept` instead forwards the request with `write: req.write`, so a cold store
//! counts a DRAM write (with CWL instead of CL latency) and no read, and its line is also
//! installed dirty in the L1D, to be written back again when evicted. In the default zipf
//! snapshot (`tests/snapshots/stats_snapshot__stats_json.snap`) this shows as 330 DRAM writes
//! with no LLC write-back at all.

mod common;

use common::{VecWorkload, config, rec};
use vmsim_hw::AccessKind::{Read, Write};
use vmsim_sim::system::trace_segments;
use vmsim_sim::{NoObserver, System, SystemStats};

/// One cold 8-byte access on the default machine (DDR4, caches on).
fn cold(kind: vmsim_hw::AccessKind) -> SystemStats {
    let cfg = config(&["os.fault_cycles=100"]);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    sys.run(
        &mut VecWorkload::new(vec![rec(kind, 0x1000_0000, 8, 0)]),
        &mut NoObserver,
    )
    .unwrap();
    SystemStats::collect(&sys)
}

#[test]
fn cold_store_reads_its_line_and_writes_nothing_back_yet() {
    let (load, store) = (cold(Read), cold(Write));
    // The walks are the same: 1 + 4 PTE reads, the PML4E the second time from the L1D.
    // The load adds its data line: 5 DRAM reads.
    assert_eq!((load.dram.reads, load.dram.writes), (5, 0));
    // The store must fetch its line too, and nothing dirty has been evicted yet.
    assert_eq!((store.dram.reads, store.dram.writes), (5, 0));
    // So a cold store costs what a cold load costs (today it is 15 cycles shorter:
    // tRCD + CWL + burst = 105 instead of tRCD + CL + burst = 120).
    assert_eq!(store.cycles, load.cycles);
}
