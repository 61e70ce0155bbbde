//! DRAM behaviour tests: exact unloaded latencies, scheduling order, timing constraints,
//! refresh, back-pressure, mapping, configuration, and skip-versus-tick equivalence.
//!
//! Expected cycles are derived by hand from the DDR4-3200AA defaults at 4 GHz (tCK = 2.5 core
//! cycles): CL = tRCD = tRP = 55, burst 10, CWL 40, tRAS 130, tCCD_S/L 10/20, tRRD_S/L 10/20,
//! tFAW 85, tWR 60, tRTP 30, tWTR_S/L 10/30, one command per 3 cycles, tRFC 1400, tREFI 31200.

use super::*;
use crate::{Cycle, Cycles, PhysAddr};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const GHZ: f64 = 4.0;

fn dram(cfg: &DramConfig) -> Dram {
    Dram::new(cfg, GHZ).expect("valid config")
}

/// An address with the default geometry and mapping (one channel, one rank):
/// column-low 6-11, bank group 12-13, bank 14-15, column-high 16, row 17-32.
fn at(bank_group: u64, bank: u64, row: u64, line_in_row: u64) -> PhysAddr {
    PhysAddr(
        (row << 17)
            | ((line_in_row >> 6) << 16)
            | (bank << 14)
            | (bank_group << 12)
            | ((line_in_row & 63) << 6),
    )
}

fn read(id: u64, addr: PhysAddr) -> DramRequest {
    DramRequest {
        id,
        addr,
        write: false,
    }
}

fn write(id: u64, addr: PhysAddr) -> DramRequest {
    DramRequest {
        id,
        addr,
        write: true,
    }
}

/// Tick at each event until nothing is queued or in flight; the completions in pop order.
fn drain(d: &mut Dram) -> Vec<DramCompletion> {
    let mut out = Vec::new();
    while let Some(t) = d.next_event() {
        assert!(d.tick(t), "no progress at the reported event {t}");
        while let Some(c) = d.pop_completion(t) {
            out.push(c);
        }
    }
    assert_eq!(d.outstanding(), 0);
    out
}

/// Serve one request arriving at `arrival` on an otherwise idle controller.
fn serve(d: &mut Dram, req: DramRequest, arrival: u64) -> DramCompletion {
    d.enqueue(req, Cycle(arrival)).expect("room");
    let out = drain(d);
    assert_eq!(out.len(), 1);
    out[0]
}

fn by_id(out: &[DramCompletion], id: u64) -> DramCompletion {
    *out.iter().find(|c| c.id == id).expect("completed")
}

#[test]
fn timing_converts_to_core_cycles_rounding_up() {
    let d = dram(&DramConfig::default());
    let t = d.timing();
    assert_eq!((t.cl, t.rcd, t.rp, t.burst), (55, 55, 55, 10));
    assert_eq!((t.ras, t.cwl, t.cmd, t.faw), (130, 40, 3, 85));
    assert_eq!((t.rfc, t.refi), (1400, 31200));
    assert_eq!(
        (t.read_hit(), t.read_closed(), t.read_conflict()),
        (65, 120, 175)
    );
}

#[test]
fn ceiling_is_epsilon_safe() {
    assert_eq!(timing::ceil_cycles(22.0 * 0.625 * 4.0), 55);
    assert_eq!(timing::ceil_cycles(0.1 * 3.0 * 10.0), 3);
    assert_eq!(timing::ceil_cycles(2.5), 3);
    assert_eq!(timing::ceil_cycles(55.001), 56);
}

#[test]
fn unloaded_read_latencies_at_4ghz_are_120_closed_65_hit_175_conflict() {
    let mut d = dram(&DramConfig::default());
    let c = serve(&mut d, read(1, at(1, 2, 7, 0)), 10);
    assert_eq!((c.done, c.row), (Cycle(10 + 120), RowOutcome::Closed));
    let c = serve(&mut d, read(2, at(1, 2, 7, 5)), 1000);
    assert_eq!((c.done, c.row), (Cycle(1000 + 65), RowOutcome::Hit));
    let c = serve(&mut d, read(3, at(1, 2, 8, 5)), 2000);
    assert_eq!((c.done, c.row), (Cycle(2000 + 175), RowOutcome::Conflict));
    assert_eq!(c.arrival, Cycle(2000));
    let s = d.stats();
    assert_eq!(
        (s.reads, s.row_hits, s.row_misses, s.row_conflicts),
        (3, 1, 1, 1)
    );
    assert_eq!(s.total_read_latency, 120 + 65 + 175);
    assert_eq!((s.activates, s.precharges, s.refreshes), (2, 1, 0));
}

#[test]
fn at_3ghz_each_term_is_rounded_up_separately() {
    // tCK = 1.875 cycles: CL = tRCD = tRP = ceil(41.25) = 42, burst = ceil(7.5) = 8. A row hit
    // is 50 cycles, not ceil(26 tCK * 1.875) = 49.
    let mut d = Dram::new(&DramConfig::default(), 3.0).expect("valid");
    let t = *d.timing();
    assert_eq!((t.cl, t.rcd, t.rp, t.burst, t.cmd), (42, 42, 42, 8, 2));
    assert_eq!((t.rfc, t.refi), (1050, 23400));
    let c = serve(&mut d, read(1, at(0, 0, 1, 0)), 5);
    assert_eq!(c.done, Cycle(5 + 92));
    let c = serve(&mut d, read(2, at(0, 0, 1, 1)), 500);
    assert_eq!(c.done, Cycle(500 + 50));
    let c = serve(&mut d, read(3, at(0, 0, 2, 1)), 900);
    assert_eq!(c.done, Cycle(900 + 134));
}

#[test]
fn fixed_model_completes_at_exactly_arrival_plus_latency() {
    let cfg = DramConfig::fixed(200);
    let mut d = dram(&cfg);
    // Same bank, conflicting rows, a write: none of it matters.
    d.enqueue(read(1, at(0, 0, 1, 0)), Cycle(10)).unwrap();
    d.enqueue(read(2, at(0, 0, 2, 0)), Cycle(10)).unwrap();
    d.enqueue(write(3, at(0, 0, 3, 0)), Cycle(11)).unwrap();
    d.enqueue(read(4, at(0, 0, 1, 0)), Cycle(5)).unwrap();
    assert_eq!(d.outstanding(), 4);
    assert_eq!(d.next_event(), Some(Cycle(205)));
    let out = drain(&mut d);
    let got: Vec<_> = out.iter().map(|c| (c.id, c.done.0, c.row)).collect();
    assert_eq!(
        got,
        vec![
            (4, 205, RowOutcome::Closed),
            (1, 210, RowOutcome::Closed),
            (2, 210, RowOutcome::Closed),
            (3, 211, RowOutcome::Closed),
        ]
    );
    let s = d.stats();
    assert_eq!((s.reads, s.writes, s.total_read_latency), (3, 1, 600));
    assert_eq!(d.next_event(), None);
    assert_eq!(d.bank_states().count(), 0);
}

#[test]
fn fixed_model_refuses_beyond_queue_depth_until_a_request_is_done() {
    let cfg = DramConfig {
        fixed_latency: 50,
        model: DramModelKind::Fixed,
        queue_depth: 2,
        ..DramConfig::default()
    };
    let mut d = dram(&cfg);
    d.enqueue(read(1, at(0, 0, 1, 0)), Cycle(1)).unwrap();
    d.enqueue(read(2, at(1, 0, 1, 0)), Cycle(3)).unwrap();
    assert!(!d.can_accept(at(2, 0, 1, 0)));
    assert_eq!(
        d.enqueue(read(3, at(2, 0, 1, 0)), Cycle(3)),
        Err(read(3, at(2, 0, 1, 0)))
    );
    assert!(!d.tick(Cycle(50)));
    assert!(!d.can_accept(at(2, 0, 1, 0)));
    assert!(d.tick(Cycle(51)));
    assert!(d.can_accept(at(2, 0, 1, 0)));
}

#[test]
fn fr_fcfs_serves_younger_row_hit_before_older_conflict() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(0, at(0, 0, 1, 0)), 10); // opens row 1
    let a = 1000;
    // W hits row 1 at A: RD at A (tRTP: the bank may precharge from A + 30).
    d.enqueue(read(1, at(0, 0, 1, 1)), Cycle(a)).unwrap();
    // X, older, conflicts: its PRE is ready at A + 30.
    d.enqueue(read(2, at(0, 0, 2, 0)), Cycle(a + 1)).unwrap();
    // Y, younger, hits row 1: its RD is ready at A + 30 too, and goes first.
    d.enqueue(read(3, at(0, 0, 1, 2)), Cycle(a + 30)).unwrap();
    let out = drain(&mut d);
    assert_eq!(out.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 3, 2]);
    let y = by_id(&out, 3);
    assert_eq!((y.done, y.row), (Cycle(a + 30 + 65), RowOutcome::Hit));
    // X's PRE waits tRTP after Y's RD: PRE at A + 60, then tRP + tRCD + CL + burst.
    let x = by_id(&out, 2);
    assert_eq!((x.done, x.row), (Cycle(a + 60 + 175), RowOutcome::Conflict));
}

#[test]
fn fr_fcfs_serves_oldest_first_among_non_hits() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(0, at(0, 0, 1, 0)), 10); // opens row 1 in bank (0, 0)
    let a = 1000;
    // Two conflicts to the same bank, the younger one enqueued first: age is the arrival.
    d.enqueue(read(2, at(0, 0, 3, 0)), Cycle(a + 1)).unwrap();
    d.enqueue(read(1, at(0, 0, 2, 0)), Cycle(a)).unwrap();
    let out = drain(&mut d);
    let first = by_id(&out, 1);
    assert_eq!(
        (first.done, first.row),
        (Cycle(a + 175), RowOutcome::Conflict)
    );
    let second = by_id(&out, 2);
    assert_eq!(second.row, RowOutcome::Conflict);
    assert!(second.done > first.done);
}

#[test]
fn back_to_back_row_hits_to_one_bank_are_spaced_by_ccd_l() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(0, at(2, 1, 9, 0)), 10);
    let a = 1000;
    for i in 1..=4 {
        d.enqueue(read(i, at(2, 1, 9, i)), Cycle(a)).unwrap();
    }
    let out = drain(&mut d);
    let done: Vec<u64> = out.iter().map(|c| c.done.0 - a).collect();
    // max(tCCD_L = 20, burst = 10) apart.
    assert_eq!(done, vec![65, 85, 105, 125]);
    assert!(out.iter().all(|c| c.row == RowOutcome::Hit));
}

#[test]
fn row_hits_across_bank_groups_are_spaced_by_ccd_s_and_the_bus() {
    let mut d = dram(&DramConfig::default());
    for g in 0..4 {
        serve(&mut d, read(10 + g, at(g, 0, 4, 0)), 10 + 500 * g);
    }
    let a = 5000;
    for g in 0..4 {
        d.enqueue(read(g, at(g, 0, 4, 1)), Cycle(a)).unwrap();
    }
    let out = drain(&mut d);
    let done: Vec<u64> = out.iter().map(|c| c.done.0 - a).collect();
    // max(tCCD_S = 10, burst = 10) apart: the data bus is busy back to back.
    assert_eq!(done, vec![65, 75, 85, 95]);
    assert_eq!(d.stats().bus_busy_cycles, 8 * 10);
}

#[test]
fn read_after_write_waits_for_write_to_read_time() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(0, at(0, 0, 1, 0)), 10);
    serve(&mut d, read(0, at(1, 0, 1, 0)), 500);
    let a = 1000;
    d.enqueue(write(1, at(0, 0, 1, 1)), Cycle(a)).unwrap();
    let out = drain(&mut d);
    // WR at A: data A + 40 .. A + 50.
    assert_eq!(out[0].done, Cycle(a + 50));
    assert_eq!(d.stats().total_write_latency, 50);

    let a = 2000;
    d.enqueue(write(2, at(0, 0, 1, 2)), Cycle(a)).unwrap();
    // Same bank group: RD waits tWTR_L (30) after the write data: RD at A + 80.
    d.enqueue(read(3, at(0, 0, 1, 3)), Cycle(a + 1)).unwrap();
    let out = drain(&mut d);
    assert_eq!(by_id(&out, 3).done, Cycle(a + 80 + 65));

    let a = 3000;
    d.enqueue(write(4, at(0, 0, 1, 4)), Cycle(a)).unwrap();
    // Other bank group: tWTR_S (10): RD at A + 60.
    d.enqueue(read(5, at(1, 0, 1, 3)), Cycle(a + 1)).unwrap();
    let out = drain(&mut d);
    assert_eq!(by_id(&out, 5).done, Cycle(a + 60 + 65));
}

#[test]
fn fifth_activate_waits_for_the_four_activate_window() {
    let mut d = dram(&DramConfig::default());
    let a = 10;
    let banks = [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)];
    for (i, (g, b)) in banks.into_iter().enumerate() {
        d.enqueue(read(i as u64, at(g, b, 1, 0)), Cycle(a)).unwrap();
    }
    let out = drain(&mut d);
    // ACTs at A, A+10, A+20, A+30 (tRRD_S); their RDs at A+55, +65, +75, +85. The fifth ACT
    // waits for tFAW (A+85), yields to the row hit ready then, and goes at A+88 (command bus).
    let done: Vec<u64> = (0..5).map(|i| by_id(&out, i).done.0 - a).collect();
    assert_eq!(done, vec![120, 130, 140, 150, 88 + 120]);
    assert_eq!(d.stats().activates, 5);
}

#[test]
fn request_inside_refresh_window_waits_for_its_end_and_finds_the_row_closed() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    assert_eq!(d.bank_states().next(), Some((0, Some(3))));
    // The first window of the only rank is [tREFI, tREFI + tRFC) = [31200, 32600).
    let c = serve(&mut d, read(2, at(0, 0, 3, 1)), 31_210);
    assert_eq!((c.done, c.row), (Cycle(32_600 + 120), RowOutcome::Closed));
    assert_eq!(d.stats().refreshes, 1);
}

#[test]
fn refresh_closes_rows_even_when_no_request_waits() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    d.tick(Cycle(40_000));
    assert_eq!(d.bank_states().next(), Some((0, None)));
    let c = serve(&mut d, read(2, at(0, 0, 3, 1)), 40_001);
    assert_eq!((c.done, c.row), (Cycle(40_001 + 120), RowOutcome::Closed));
    assert_eq!(d.stats().refreshes, 1);
}

/// Waveforms read the rows at the sampled cycle: a refresh that began after the last tick has
/// closed them, with no tick; the next refresh start is known in advance.
#[test]
fn rows_at_a_cycle_see_refresh_without_a_tick() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    let last = d.bank_states().count();
    assert_eq!(last, 16);
    assert_eq!(d.next_refresh_after(Cycle(100)), Some(Cycle(31_200)));
    assert_eq!(d.next_refresh_after(Cycle(31_200)), Some(Cycle(62_400)));
    for (t, row) in [(31_199, Some(3)), (31_200, None)] {
        assert_eq!(d.bank_states_at(Cycle(t)).next(), Some((0, row)));
        let mut out = Vec::new();
        d.push_bank_rows_at(Cycle(t), &mut out);
        let expected: Vec<u64> = d
            .bank_states_at(Cycle(t))
            .map(|(_, r)| r.map_or(u64::from(u32::MAX), u64::from))
            .collect();
        assert_eq!(out, expected);
        assert_eq!(out[0], row.map_or(u64::from(u32::MAX), u64::from));
    }
    // Before the next tick, the last tick's view is unchanged.
    assert_eq!(d.bank_states().next(), Some((0, Some(3))));
}

#[test]
fn command_planned_across_a_refresh_start_is_replanned_after_it() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    // A conflict arriving 10 cycles before the window: PRE at 31190 is fine, but the ACT
    // (31245) would fall inside the window, after which the bank is precharged anyway.
    let c = serve(&mut d, read(2, at(0, 0, 4, 0)), 31_190);
    assert_eq!((c.done, c.row), (Cycle(32_600 + 120), RowOutcome::Conflict));
    // A hit planned for inside the window becomes an ACT after it.
    let cfg = DramConfig::default();
    let mut d = dram(&cfg);
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    let c = serve(&mut d, read(2, at(0, 0, 3, 1)), 31_199);
    assert_eq!((c.done, c.row), (Cycle(31_199 + 65), RowOutcome::Hit));
}

#[test]
fn refresh_windows_are_staggered_across_ranks() {
    let cfg = DramConfig {
        ranks: 2,
        ..DramConfig::default()
    };
    let mut d = dram(&cfg);
    // Two ranks: rank = bit 16, column-high = bit 17, row from bit 18.
    let rank0 = PhysAddr(3 << 18);
    let rank1 = PhysAddr((3 << 18) | (1 << 16));
    assert_eq!(d.decode(rank1).rank, 1);
    serve(&mut d, read(1, rank0), 10);
    serve(&mut d, read(2, rank1), 200);
    // Rank 0 refreshes in [31200, 32600); rank 1 in [31200 + 15600, ...).
    let c = serve(&mut d, read(3, PhysAddr(rank1.0 | 64)), 31_210);
    assert_eq!((c.done, c.row), (Cycle(31_210 + 65), RowOutcome::Hit));
    let c = serve(&mut d, read(4, PhysAddr(rank0.0 | 64)), 31_300);
    assert_eq!((c.done, c.row), (Cycle(32_600 + 120), RowOutcome::Closed));
    let c = serve(&mut d, read(5, PhysAddr(rank1.0 | 128)), 46_810);
    assert_eq!(
        (c.done, c.row),
        (Cycle(46_800 + 1400 + 120), RowOutcome::Closed)
    );
    // Windows begun by the last tick (48320): rank 0's at 31200, rank 1's at 46800.
    assert_eq!(d.stats().refreshes, 2);
}

#[test]
fn full_queue_refuses_until_a_column_command_frees_a_slot() {
    let cfg = DramConfig {
        queue_depth: 2,
        ..DramConfig::default()
    };
    let mut d = dram(&cfg);
    let third = read(3, at(2, 0, 1, 0));
    d.enqueue(read(1, at(0, 0, 1, 0)), Cycle(10)).unwrap();
    d.enqueue(read(2, at(1, 0, 1, 0)), Cycle(10)).unwrap();
    assert!(!d.can_accept(third.addr));
    assert_eq!(d.enqueue(third, Cycle(10)), Err(third));
    assert_eq!(d.outstanding(), 2);
    // ACT at 10 and 20 (tRRD_S); the first RD at 65 leaves the queue.
    let mut freed_at = None;
    while let Some(t) = d.next_event() {
        d.tick(t);
        if d.can_accept(third.addr) {
            freed_at = Some(t);
            break;
        }
    }
    assert_eq!(freed_at, Some(Cycle(65)));
    d.enqueue(third, Cycle(66)).unwrap();
    assert_eq!(drain(&mut d).len(), 3);
}

#[test]
fn next_event_is_none_when_idle_and_tick_reports_progress() {
    let mut d = dram(&DramConfig::default());
    assert_eq!(d.next_event(), None);
    assert!(!d.tick(Cycle(5)));
    d.enqueue(read(1, at(0, 0, 1, 0)), Cycle(10)).unwrap();
    assert_eq!(d.outstanding(), 1);
    assert_eq!(d.next_event(), Some(Cycle(10)));
    assert!(!d.tick(Cycle(9)));
    assert!(d.tick(Cycle(10))); // ACT
    assert_eq!(d.next_event(), Some(Cycle(65))); // RD
    assert!(d.tick(Cycle(65)));
    assert_eq!(d.next_event(), Some(Cycle(130))); // data done
    assert_eq!(d.pop_completion(Cycle(129)), None);
    assert!(d.tick(Cycle(130)));
    assert_eq!(d.next_event(), None);
    assert_eq!(d.outstanding(), 1); // done but not yet taken
    assert_eq!(d.pop_completion(Cycle(130)).map(|c| c.id), Some(1));
    assert_eq!(d.outstanding(), 0);
}

#[test]
fn a_tick_at_the_last_cycle_issues_everything_queued() {
    // u64::MAX marks "none" inside the controller (no plan, no command); a tick there must
    // still serve the queue, then report no progress. Refresh off: its windows would overflow.
    let cfg = DramConfig {
        refresh: false,
        ..DramConfig::default()
    };
    let mut d = dram(&cfg);
    assert!(!d.tick(Cycle(u64::MAX - 1000)));
    d.enqueue(read(1, at(0, 0, 1, 0)), Cycle(u64::MAX - 999))
        .unwrap();
    d.enqueue(read(2, at(0, 0, 2, 0)), Cycle(u64::MAX - 999))
        .unwrap();
    assert!(d.tick(Cycle(u64::MAX)));
    assert_eq!(d.next_event(), None);
    let ids: Vec<u64> = std::iter::from_fn(|| d.pop_completion(Cycle(u64::MAX)))
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert!(!d.tick(Cycle(u64::MAX)));
}

#[test]
fn completions_pop_in_done_order_ties_by_id() {
    let cfg = DramConfig::fixed(10);
    let mut d = dram(&cfg);
    for id in [9, 3, 5] {
        d.enqueue(read(id, at(0, 0, 0, 0)), Cycle(1)).unwrap();
    }
    d.enqueue(read(1, at(0, 0, 0, 0)), Cycle(2)).unwrap();
    d.tick(Cycle(20));
    let ids: Vec<u64> = std::iter::from_fn(|| d.pop_completion(Cycle(20)))
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, vec![3, 5, 9, 1]);
}

#[test]
fn default_mapping_puts_fields_where_documented() {
    let d = dram(&DramConfig::default());
    let c = |a: u64| d.decode(PhysAddr(a));
    // Lines of a page: one bank, one row, consecutive columns (8 bus columns per line).
    for line in 0..64u64 {
        let k = c(line << 6);
        assert_eq!(
            (k.bank_group, k.bank, k.row, k.column),
            (0, 0, 0, line as u32 * 8)
        );
    }
    assert_eq!(c(1 << 12).bank_group, 1);
    assert_eq!(c(1 << 14).bank, 1);
    assert_eq!(c(1 << 16).column, 64 * 8);
    assert_eq!(c(1 << 17).row, 1);
    assert_eq!(c((1 << 33) - 1).row, 65535);
    assert_eq!(c(1 << 33), c(0), "bits above the capacity alias");
    // Consecutive pages: every bank before a bank repeats, bank groups first.
    let banks: Vec<(u32, u32)> = (0..16u64)
        .map(|p| c(p << 12))
        .map(|k| (k.bank_group, k.bank))
        .collect();
    assert_eq!(&banks[..5], &[(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]);
    let mut distinct = banks.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 16);
    let flat = d.flat_bank(&c(3 << 12 | 2 << 14));
    assert_eq!(flat, 3 * 4 + 2);
}

#[test]
fn default_mapping_interleaves_lines_across_channels() {
    let cfg = DramConfig {
        channels: 2,
        ..DramConfig::default()
    };
    let d = dram(&cfg);
    let c = |a: u64| d.decode(PhysAddr(a));
    for line in 0..64u64 {
        let k = c(line << 6);
        assert_eq!(k.channel, (line & 1) as u32);
        assert_eq!((k.bank_group, k.bank, k.row), (0, 0, 0));
        assert_eq!(k.column, (line >> 1) as u32 * 8);
    }
    // Two channels: column-low 7-11, bank group 12-13, bank 14-15, column-high 16-17, row 18+.
    assert_eq!(c(1 << 12).bank_group, 1);
    assert_eq!(c(1 << 14).bank, 1);
    assert_eq!(c(1 << 16).column, 32 * 8);
    assert_eq!(c(1 << 18).row, 1);
    assert_eq!(d.flat_bank(&c(64)), 16);
}

#[test]
fn other_mappings_put_fields_where_documented() {
    let with = |m: AddressMapping| {
        dram(&DramConfig {
            mapping: m,
            ..DramConfig::default()
        })
    };
    let d = with(AddressMapping::RowRankBankColumnChannel);
    let k = d.decode(PhysAddr(127 << 6));
    assert_eq!((k.bank_group, k.column, k.row), (0, 127 * 8, 0));
    assert_eq!(d.decode(PhysAddr(1 << 13)).bank_group, 1);
    assert_eq!(d.decode(PhysAddr(1 << 15)).bank, 1);
    assert_eq!(d.decode(PhysAddr(1 << 17)).row, 1);

    let d = with(AddressMapping::RowColumnRankBankChannel);
    let groups: Vec<u32> = (0..4u64)
        .map(|l| d.decode(PhysAddr(l << 6)).bank_group)
        .collect();
    assert_eq!(groups, vec![0, 1, 2, 3]);
    assert_eq!(d.decode(PhysAddr(1 << 8)).bank, 1);
    assert_eq!(d.decode(PhysAddr(1 << 10)).column, 8);
    assert_eq!(d.decode(PhysAddr(1 << 17)).row, 1);

    let d = with(AddressMapping::ChannelRankBankRowColumn);
    assert_eq!(d.decode(PhysAddr(127 << 6)).column, 127 * 8);
    assert_eq!(d.decode(PhysAddr(1 << 13)).row, 1);
    assert_eq!(d.decode(PhysAddr(1 << 29)).bank_group, 1);
    assert_eq!(d.decode(PhysAddr(1 << 31)).bank, 1);
}

#[test]
fn config_validation_names_the_key() {
    assert_eq!(DramConfig::default().validate(), Ok(()));
    type Edit = fn(&mut DramConfig);
    let cases: Vec<(&str, Edit)> = vec![
        ("dram.banks_per_group", (|c| c.banks_per_group = 3)),
        ("dram.channels", (|c| c.channels = 0)),
        ("dram.ranks", (|c| c.ranks = 6)),
        ("dram.bank_groups", (|c| c.bank_groups = 5)),
        ("dram.rows", (|c| c.rows = 1000)),
        ("dram.columns", (|c| c.columns = 4)),
        (
            "dram.rows",
            (|c| {
                c.rows = 1 << 31;
                c.channels = 1 << 20; // 6 + 20 + 4 + 31 + 7 address bits
            }),
        ),
        ("dram.cl", (|c| c.cl = 0)),
        ("dram.burst", (|c| c.burst = 0)),
        ("dram.tck_ns", (|c| c.tck_ns = -1.0)),
        ("dram.tck_ns", (|c| c.tck_ns = f64::NAN)),
        ("dram.rfc_ns", (|c| c.rfc_ns = 8000.0)),
        ("dram.refi_ns", (|c| c.refi_ns = 0.0)),
        ("dram.queue_depth", (|c| c.queue_depth = 0)),
        ("dram.fixed_latency", (|c| c.fixed_latency = 0)),
    ];
    for (key, edit) in cases {
        let mut cfg = DramConfig::default();
        edit(&mut cfg);
        let err = cfg.validate().expect_err(key);
        assert_eq!(err.key, key, "{err}");
        assert!(Dram::new(&cfg, GHZ).is_err());
    }
    // Refresh off: its fields are not checked.
    let cfg = DramConfig {
        refresh: false,
        rfc_ns: 0.0,
        ..DramConfig::default()
    };
    assert_eq!(cfg.validate(), Ok(()));
    let err = Dram::new(&DramConfig::default(), 0.0).expect_err("bad frequency");
    assert_eq!(err.key, "core.freq_ghz");
    let msg = DramConfig {
        banks_per_group: 3,
        ..DramConfig::default()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("dram.banks_per_group") && msg.contains("power of two"),
        "{msg}"
    );
}

#[test]
fn config_deserializes_with_defaults_and_rejects_unknown_keys() {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, MapDeserializer};
    let map = |kv: Vec<(&'static str, u64)>| MapDeserializer::<_, Error>::new(kv.into_iter());
    let cfg = DramConfig::deserialize(map(vec![("channels", 2), ("cl", 24)])).unwrap();
    assert_eq!(
        cfg,
        DramConfig {
            channels: 2,
            cl: 24,
            ..DramConfig::default()
        }
    );
    let err = DramConfig::deserialize(map(vec![("chanels", 2)])).unwrap_err();
    assert!(err.to_string().contains("chanels"), "{err}");

    let name = |s: &'static str| s.into_deserializer();
    let m = |s| AddressMapping::deserialize(name(s)).map_err(|e: Error| e.to_string());
    assert_eq!(m("page-interleaved"), Ok(AddressMapping::PageInterleaved));
    assert_eq!(
        m("row-rank-bank-column-channel"),
        Ok(AddressMapping::RowRankBankColumnChannel)
    );
    assert_eq!(
        m("row-column-rank-bank-channel"),
        Ok(AddressMapping::RowColumnRankBankChannel)
    );
    assert_eq!(
        m("channel-rank-bank-row-column"),
        Ok(AddressMapping::ChannelRankBankRowColumn)
    );
    assert!(m("RoBaRaCoCh").is_err());
    let k = |s| DramModelKind::deserialize(name(s)).map_err(|e: Error| e.to_string());
    assert_eq!(k("ddr4"), Ok(DramModelKind::Ddr4));
    assert_eq!(k("fixed"), Ok(DramModelKind::Fixed));
}

// ---- skip versus tick ------------------------------------------------------------------------

/// A random request stream: (cycle the sender first tries, request). Half the requests follow
/// the previous address (row hits), the rest land anywhere in a small region (conflicts).
fn random_stream(seed: u64, n: usize, region_bits: u32) -> Vec<(u64, DramRequest)> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut t = 0u64;
    let mut prev = 0u64;
    (0..n as u64)
        .map(|id| {
            t += match rng.random_range(0..10u32) {
                0..=3 => 0,
                4..=7 => rng.random_range(1..30u64),
                _ => rng.random_range(30..400u64),
            };
            let addr = if rng.random_bool(0.5) {
                prev + 64
            } else {
                rng.random_range(0..1u64 << region_bits) & !63
            };
            prev = addr;
            let write = rng.random_bool(0.3);
            (
                t,
                DramRequest {
                    id,
                    addr: PhysAddr(addr),
                    write,
                },
            )
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Drive {
    /// Tick every cycle.
    EveryCycle,
    /// Jump to the earliest of the DRAM's next event and the sender's next request.
    Events,
    /// Jump to the sender's next request, past any DRAM events before it; only when the sender
    /// is blocked or done, to the DRAM's next event.
    Lazy,
}

/// Run a stream, ticking as `drive` says. A refused request is retried every cycle, or at the
/// DRAM's next event. Returns the completions, stats, last cycle and refusals.
fn run(
    cfg: &DramConfig,
    ghz: f64,
    stream: &[(u64, DramRequest)],
    drive: Drive,
) -> (Vec<DramCompletion>, DramStats, u64, u64) {
    let skip = drive == Drive::Events;
    let mut d = Dram::new(cfg, ghz).expect("valid");
    let mut out = Vec::new();
    let (mut now, mut i) = (0u64, 0usize);
    let mut dram_event = None;
    let mut refused = 0;
    loop {
        let progress = d.tick(Cycle(now));
        if skip && dram_event == Some(Cycle(now)) {
            assert!(progress, "no progress at the reported event {now}");
        }
        while let Some(c) = d.pop_completion(Cycle(now)) {
            out.push(c);
        }
        let mut blocked = false;
        while i < stream.len() && stream[i].0 <= now {
            let can = d.can_accept(stream[i].1.addr);
            match d.enqueue(stream[i].1, Cycle(now + 1)) {
                Ok(()) => {
                    assert!(can);
                    i += 1;
                }
                Err(r) => {
                    assert!(!can);
                    assert_eq!(r, stream[i].1);
                    blocked = true;
                    refused += 1;
                    break;
                }
            }
        }
        if i == stream.len() && d.outstanding() == 0 {
            break;
        }
        dram_event = d.next_event();
        if let Some(e) = dram_event {
            assert!(e.0 > now, "next event {e} not after {now}");
        }
        let sender = (!blocked && i < stream.len()).then(|| stream[i].0);
        now = match drive {
            Drive::EveryCycle => now + 1,
            Drive::Events => [dram_event.map(|c| c.0), sender]
                .into_iter()
                .flatten()
                .min()
                .expect("something to wait for"),
            Drive::Lazy => sender.or(dram_event.map(|c| c.0)).expect("something"),
        };
    }
    (out, d.stats().clone(), now, refused)
}

fn check_equivalence(cfg: &DramConfig, ghz: f64, seed: u64, region_bits: u32) {
    let stream = random_stream(seed, 2500, region_bits);
    let (ticked, ts, tend, _) = run(cfg, ghz, &stream, Drive::EveryCycle);
    assert_eq!(ticked.len(), stream.len());
    for drive in [Drive::Events, Drive::Lazy] {
        let (skipped, ss, send, _) = run(cfg, ghz, &stream, drive);
        assert_eq!(ticked, skipped, "{drive:?}");
        assert_eq!(ts, ss, "{drive:?}");
        assert_eq!(tend, send, "{drive:?}");
    }
    let (_, _, _, refused) = run(cfg, ghz, &stream, Drive::Events);
    if cfg.queue_depth <= 8 {
        assert!(refused > 0, "the stream should fill the queue");
    }
    if cfg.refresh && cfg.model == DramModelKind::Ddr4 && cfg.refi_ns < 1000.0 {
        assert!(ts.refreshes > 100, "{ts:?}");
    }
    // Every request exactly once, in done order, never faster than an unloaded row hit.
    let mut ids: Vec<u64> = ticked.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert!(ids.iter().enumerate().all(|(i, &id)| i as u64 == id));
    assert!(ticked.windows(2).all(|w| w[0].done <= w[1].done));
    let t = *Dram::new(cfg, ghz).unwrap().timing();
    for c in &ticked {
        let min = if cfg.model == DramModelKind::Fixed {
            t.fixed_latency
        } else if c.write {
            t.cwl + t.burst
        } else {
            t.read_hit()
        };
        assert!(c.done - c.arrival >= Cycles(min), "{c:?}");
    }
    assert_eq!(ts.reads + ts.writes, stream.len() as u64);
    if cfg.model == DramModelKind::Ddr4 {
        assert_eq!(
            ts.row_hits + ts.row_misses + ts.row_conflicts,
            stream.len() as u64
        );
        assert!(
            ts.row_hits > 0 && ts.row_misses > 0 && ts.row_conflicts > 0,
            "{ts:?}"
        );
    }
}

#[test]
fn skipping_to_next_event_matches_ticking_every_cycle_default() {
    check_equivalence(&DramConfig::default(), 4.0, 1, 21);
}

#[test]
fn skipping_to_next_event_matches_ticking_every_cycle_with_frequent_refresh() {
    let cfg = DramConfig {
        channels: 2,
        ranks: 2,
        queue_depth: 4,
        refi_ns: 500.0,
        rfc_ns: 90.0,
        mapping: AddressMapping::RowColumnRankBankChannel,
        ..DramConfig::default()
    };
    check_equivalence(&cfg, 4.0, 2, 22);
    let cfg = DramConfig {
        bank_groups: 2,
        queue_depth: 8,
        refi_ns: 300.0,
        rfc_ns: 120.0,
        mapping: AddressMapping::RowRankBankColumnChannel,
        ..DramConfig::default()
    };
    check_equivalence(&cfg, 3.0, 3, 20);
}

#[test]
fn skipping_to_next_event_matches_ticking_every_cycle_fixed() {
    let cfg = DramConfig {
        fixed_latency: 37,
        model: DramModelKind::Fixed,
        queue_depth: 3,
        channels: 2,
        ..DramConfig::default()
    };
    check_equivalence(&cfg, 4.0, 4, 20);
}

/// Tick only at `next_state_change` (as `MemorySystem` does) until nothing is left; the
/// completions, taken as soon as they are scheduled.
fn drain_at_state_changes(d: &mut Dram) -> Vec<DramCompletion> {
    let mut out = Vec::new();
    while let Some(t) = d.next_state_change() {
        d.tick(t);
        while let Some(c) = d.pop_completion(Cycle(u64::MAX)) {
            out.push(c);
        }
    }
    out
}

/// A row conflict (PRE at 1000, ACT at 1055, RD at 1110, data at 1175) wakes an owner that
/// ticks at state changes once, at the RD: the bound min(1000 + tRP, next refresh) + tRCD is
/// exact when nothing competes. A closed bank (ACT at 2000) is bounded by ACT + tRCD = 2055.
#[test]
fn state_changes_are_column_commands_and_pre_act_issue_on_the_way() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    d.enqueue(read(2, at(0, 0, 4, 0)), Cycle(1000)).unwrap();
    d.enqueue(read(3, at(2, 1, 9, 0)), Cycle(2000)).unwrap();
    assert_eq!(d.next_event(), Some(Cycle(1000)));
    assert_eq!(d.next_state_change(), Some(Cycle(1110)));
    // The banks as a tick at 1055 would leave them: bank 0 precharged at 1000 and opened on
    // row 4 at 1055, with no tick.
    assert_eq!(d.bank_states_at(Cycle(1054)).next(), Some((0, None)));
    assert_eq!(d.bank_states_at(Cycle(1055)).next(), Some((0, Some(4))));
    assert_eq!(d.next_refresh_after(Cycle(1000)), Some(Cycle(1055)));
    assert_eq!(d.bank_states().next(), Some((0, Some(3))));
    assert_eq!(d.stats().precharges, 0);
    let out = drain_at_state_changes(&mut d);
    assert_eq!(
        out.iter()
            .map(|c| (c.id, c.done.0, c.row))
            .collect::<Vec<_>>(),
        [
            (2, 1175, RowOutcome::Conflict),
            (3, 2120, RowOutcome::Closed)
        ]
    );
    let s = d.stats();
    assert_eq!((s.activates, s.precharges), (3, 1));
}

/// `settle` issues the PRE and ACT due by the end that no tick reached, so the counts do not
/// depend on how the owner ticked.
#[test]
fn settle_issues_the_commands_due_by_then() {
    let mut d = dram(&DramConfig::default());
    serve(&mut d, read(1, at(0, 0, 3, 0)), 100);
    d.enqueue(read(2, at(0, 0, 4, 0)), Cycle(1000)).unwrap();
    d.tick(Cycle(1000));
    assert_eq!((d.stats().precharges, d.stats().activates), (1, 1));
    d.settle(Cycle(1060));
    assert_eq!((d.stats().precharges, d.stats().activates), (1, 2));
    assert_eq!(d.stats().reads, 1);
}

/// Against per-cycle ticking, with random traffic over few banks (conflicts, hits, writes,
/// refresh): ticking only at state changes gives the same completions and counts, and every
/// column command meets the bound (a debug assertion in the controller).
#[test]
fn ticking_at_state_changes_matches_ticking_every_cycle() {
    let cfg = DramConfig {
        channels: 2,
        ranks: 2,
        ..DramConfig::default()
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let mut reqs = Vec::new();
    let mut t = 0;
    for id in 0..600 {
        t += rng.random_range(0..150u64);
        // 1 MiB: a few rows per bank, so hits and conflicts both occur.
        let addr = PhysAddr(rng.random_range(0..1u64 << 14) << 6);
        reqs.push((t, id, addr, rng.random_range(0..4u32) == 0));
    }
    let run = |every_cycle: bool| {
        let mut d = dram(&cfg);
        let mut out = Vec::new();
        let mut pending = std::collections::VecDeque::from(reqs.clone());
        let mut now = 0;
        loop {
            // Requests due by now, in order; one refused by a full queue is retried next cycle.
            while let Some(&(at, id, addr, w)) = pending.front() {
                let r = DramRequest { id, addr, write: w };
                if at > now || d.enqueue(r, Cycle(now)).is_err() {
                    break;
                }
                pending.pop_front();
            }
            d.tick(Cycle(now));
            while let Some(c) = d.pop_completion(Cycle(u64::MAX)) {
                out.push(c);
            }
            let next = if every_cycle {
                Some(now + 1)
            } else {
                [
                    d.next_state_change().map(|c| c.0),
                    pending.front().map(|p| p.0.max(now + 1)),
                ]
                .into_iter()
                .flatten()
                .min()
            };
            match next {
                Some(n) if !(pending.is_empty() && d.outstanding() == 0) => now = n,
                _ => break,
            }
        }
        d.settle(Cycle(now));
        (out, d.stats().clone())
    };
    let (a, sa) = run(false);
    let (b, sb) = run(true);
    assert_eq!(a.len(), 600);
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert!(
        sa.row_conflicts > 50 && sa.row_hits > 50 && sa.writes > 50,
        "{sa:?}"
    );
    assert!(sa.refreshes > 0, "{sa:?}");
}

// ---- fused path for a queue of one ------------------------------------------------------------

/// Every command the controller issued, per channel: (cycle, command, request id).
fn command_log(d: &Dram) -> Vec<Vec<(u64, ddr4::Cmd, u64)>> {
    match &d.model {
        Model::Ddr4(x) => x.command_log(),
        Model::Fixed(_) => Vec::new(),
    }
}

/// Drive `stream` into `d`, ticking at the DRAM's state changes and the sender's next request
/// (or every cycle); completions are taken as soon as they are scheduled.
fn drive_log(
    d: &mut Dram,
    stream: &[(u64, DramRequest)],
    every_cycle: bool,
) -> (Vec<DramCompletion>, DramStats) {
    let mut out = Vec::new();
    let (mut now, mut i) = (0u64, 0usize);
    loop {
        while i < stream.len() && stream[i].0 <= now {
            if d.enqueue(stream[i].1, Cycle(now)).is_err() {
                break;
            }
            i += 1;
        }
        d.tick(Cycle(now));
        while let Some(c) = d.pop_completion(Cycle(u64::MAX)) {
            out.push(c);
        }
        if i == stream.len() && d.outstanding() == 0 {
            break;
        }
        now = if every_cycle {
            now + 1
        } else {
            [
                d.next_state_change().map(|c| c.0),
                stream.get(i).map(|s| s.0.max(now + 1)),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("something to wait for")
        };
    }
    d.settle(Cycle(now));
    (out, d.stats().clone())
}

/// The configurations the fused-path comparisons run: the default, two channels of two ranks
/// with frequent refresh, and one with more frequent refresh and a queue of `queue_depth`.
fn fused_test_configs(queue_depth: usize) -> [DramConfig; 3] {
    [
        DramConfig::default(),
        DramConfig {
            channels: 2,
            ranks: 2,
            refi_ns: 400.0,
            rfc_ns: 120.0,
            ..DramConfig::default()
        },
        DramConfig {
            refi_ns: 300.0,
            rfc_ns: 100.0,
            queue_depth,
            ..DramConfig::default()
        },
    ]
}

/// The fused path for a queue of one, and the plans kept for a queue of two, issue the same
/// commands at the same cycles as the general path (plan and replan every request after every
/// command), with the same completions and counts: random
/// streams, sparse (mostly a queue of one) and dense, with refresh often enough to cut into
/// PRE-ACT-RD chains, one and two channels and ranks, ticked at state changes and every cycle.
#[test]
fn fused_path_issues_the_same_commands_as_the_general_path() {
    let configs = fused_test_configs(4);
    let (mut sole_calls, mut sole_fallbacks, mut pair_kept, mut ahead_calls) = (0, 0, 0, 0);
    for (ci, cfg) in configs.iter().enumerate() {
        for seed in 0..4u64 {
            for (spread, region_bits) in [(400u64, 22u32), (40, 18), (2000, 26)] {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed * 31 + ci as u64);
                let mut t = 0u64;
                let mut stream = random_stream(seed + 100 * ci as u64, 600, region_bits);
                for s in &mut stream {
                    t += rng.random_range(0..spread);
                    s.0 = t;
                }
                for every_cycle in [false, true] {
                    if every_cycle && spread > 400 {
                        continue;
                    }
                    let mut fused = dram(cfg);
                    let mut general = dram(cfg);
                    if let Model::Ddr4(x) = &mut general.model {
                        x.force_general_path();
                    }
                    let a = drive_log(&mut fused, &stream, every_cycle);
                    let b = drive_log(&mut general, &stream, every_cycle);
                    let (la, lb) = (command_log(&fused), command_log(&general));
                    assert_eq!(la, lb, "config {ci} seed {seed} spread {spread}");
                    assert_eq!(a, b, "config {ci} seed {seed} spread {spread}");
                    assert_eq!(a.0.len(), stream.len());
                    if let Model::Ddr4(x) = &fused.model {
                        let [calls, fallbacks, kept, ahead] = x.fused_counts();
                        sole_calls += calls;
                        sole_fallbacks += fallbacks;
                        pair_kept += kept;
                        ahead_calls += ahead;
                    }
                }
            }
        }
    }
    assert!(
        sole_calls > 10_000 && sole_fallbacks > 20 && pair_kept > 1000 && ahead_calls > 100,
        "{sole_calls} {sole_fallbacks} {pair_kept} {ahead_calls}"
    );
}

/// Drive `stream` as `MemorySystem` does: tick only at state changes, and enqueue each request
/// ahead of the ticks, at the last tick, with its own cycle as arrival (the controller has not
/// been ticked up to it), so that the commands of a request already queued may still be due
/// before a new one is visible. A request refused by a full queue is sent again after the next
/// tick, arriving then at the earliest. Completions are taken as soon as they are scheduled.
fn drive_ahead(d: &mut Dram, stream: &[(u64, DramRequest)]) -> (Vec<DramCompletion>, DramStats) {
    let mut out = Vec::new();
    let (mut now, mut i) = (0u64, 0usize);
    loop {
        // Requests that arrive by the controller's next state change, if they fit.
        while let Some(&(at, req)) = stream.get(i) {
            let horizon = d.next_state_change().map_or(u64::MAX, |c| c.0);
            if at > horizon || d.enqueue(req, Cycle(at.max(now + 1))).is_err() {
                break;
            }
            i += 1;
        }
        now = match (d.next_state_change(), stream.get(i)) {
            (Some(c), _) => c.0,
            (None, Some(s)) => s.0.max(now + 1),
            (None, None) => break,
        };
        d.tick(Cycle(now));
        while let Some(c) = d.pop_completion(Cycle(u64::MAX)) {
            out.push(c);
        }
    }
    d.settle(Cycle(now));
    (out, d.stats().clone())
}

/// The fused paths (a queue of one, the request ahead of another in a queue of two, and the
/// plans kept for a queue of two) issue the same commands at the same cycles as the general
/// path, with the same completions and counts, when requests are queued ahead of the ticks as
/// `MemorySystem` queues them (see [`drive_ahead`]): a read now and then, and a write sent
/// right after a read completes (as a dirty victim is), with refresh often enough to cut into
/// the chains, one and two channels and ranks, queues deep and shallow.
#[test]
fn fused_paths_issue_the_same_commands_as_the_general_path_ahead_of_ticks() {
    let configs = fused_test_configs(2);
    let mut ahead_calls = 0;
    for (ci, cfg) in configs.iter().enumerate() {
        for seed in 0..4u64 {
            for (spread, region_bits) in [(200u64, 22u32), (60, 18), (600, 26)] {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed * 17 + ci as u64);
                let mut t = 0u64;
                let mut stream = Vec::new();
                for id in 0..1500u64 {
                    // A read, sometimes followed closely by a write elsewhere (a victim).
                    t += rng.random_range(1..spread);
                    let addr = |rng: &mut Xoshiro256PlusPlus| {
                        PhysAddr(rng.random_range(0..1u64 << region_bits) & !63)
                    };
                    let write = id % 3 == 1 && rng.random_bool(0.8);
                    if write {
                        t -= t.saturating_sub(1).min(rng.random_range(0..spread));
                        t += rng.random_range(0..4u64);
                    }
                    stream.push((
                        t,
                        DramRequest {
                            id,
                            addr: addr(&mut rng),
                            write,
                        },
                    ));
                }
                stream.sort_by_key(|s| s.0);
                let mut fused = dram(cfg);
                let mut general = dram(cfg);
                if let Model::Ddr4(x) = &mut general.model {
                    x.force_general_path();
                }
                let a = drive_ahead(&mut fused, &stream);
                let b = drive_ahead(&mut general, &stream);
                let (la, lb) = (command_log(&fused), command_log(&general));
                assert_eq!(la, lb, "config {ci} seed {seed} spread {spread}");
                assert_eq!(a, b, "config {ci} seed {seed} spread {spread}");
                assert_eq!(a.0.len(), stream.len());
                if let Model::Ddr4(x) = &fused.model {
                    ahead_calls += x.fused_counts()[3];
                }
            }
        }
    }
    assert!(ahead_calls > 1000, "{ahead_calls}");
}

/// Without done cycles as events (`set_done_events(false)`) a DDR4 controller issues the same
/// commands at the same cycles, with the same completions and counts, for an owner that takes
/// completions as soon as they are scheduled; the fixed model keeps freeing its slots.
#[test]
fn done_events_off_changes_no_command_or_completion() {
    let configs = [
        DramConfig::default(),
        DramConfig {
            channels: 2,
            ranks: 2,
            refi_ns: 400.0,
            rfc_ns: 120.0,
            queue_depth: 4,
            ..DramConfig::default()
        },
        DramConfig {
            model: DramModelKind::Fixed,
            queue_depth: 2,
            ..DramConfig::default()
        },
    ];
    for (ci, cfg) in configs.iter().enumerate() {
        for seed in 0..3u64 {
            let stream = random_stream(seed + 7 * ci as u64, 800, 22);
            for every_cycle in [false, true] {
                let mut on = dram(cfg);
                let mut off = dram(cfg);
                off.set_done_events(false);
                let a = drive_log(&mut on, &stream, every_cycle);
                let b = drive_log(&mut off, &stream, every_cycle);
                assert_eq!(
                    command_log(&on),
                    command_log(&off),
                    "config {ci} seed {seed}"
                );
                assert_eq!(a, b, "config {ci} seed {seed}");
                assert_eq!(a.0.len(), stream.len());
                if cfg.model == DramModelKind::Ddr4 {
                    assert_eq!(off.next_event(), None);
                }
            }
        }
    }
}
