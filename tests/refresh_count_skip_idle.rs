//! Regression: `dram.refreshes` must not depend on `engine.skip_idle`.
//!
//! ARCHITECTURE.md section 2: running cycle by cycle must give exactly the same results as
//! skipping idle cycles. The DDR4 model counts refresh windows in `Ddr4::advance`, that is
//! only when the controller is ticked (`refreshes` = windows begun by the last tick). Ticking
//! every cycle ticks the controller up to the end of the run; skipping ticks it only when it has
//! work. So a run whose DRAM goes idle before a refresh window begins (here: the last accesses
//! hit the TLB and the L1D) reports one refresh more when ticking than when skipping, and
//! `stats.json` differs between the modes.

mod common;

use common::{VecWorkload, config, rec};
use vmsim_hw::AccessKind::Read;
use vmsim_sim::system::trace_segments;
use vmsim_sim::{NoObserver, System, SystemStats};

/// A cold read (DRAM traffic until about cycle 4700), then a read of the same line carrying
/// 40000 instructions: an L1 TLB hit and an L1D hit, no DRAM traffic, ending after the first
/// refresh window begins at tREFI = 31200 cycles.
fn stats(skip_idle: bool) -> SystemStats {
    let cfg = config(&[&format!("engine.skip_idle={skip_idle}")]);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    let records = vec![
        rec(Read, 0x1000_0000, 8, 0),
        rec(Read, 0x1000_0000, 8, 40_000),
    ];
    sys.run(&mut VecWorkload::new(records), &mut NoObserver)
        .unwrap();
    SystemStats::collect(&sys)
}

#[test]
fn refresh_count_is_the_same_when_ticking_and_when_skipping() {
    let (skip, tick) = (stats(true), stats(false));
    assert!(skip.cycles > 31_200 && skip.cycles < 2 * 31_200);
    assert_eq!(skip.cycles, tick.cycles);
    // One window (at 31200) begins during the run, whichever way time advances.
    assert_eq!(tick.dram.refreshes, 1);
    assert_eq!(skip.dram.refreshes, tick.dram.refreshes);
    assert_eq!(skip.to_json(), tick.to_json());
}
