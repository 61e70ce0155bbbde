//! Probes see each component's signals change, with FSM states by name, at the right cycles.

mod common;

use common::{VecWorkload, plain_machine, rec};
use std::cell::RefCell;
use std::rc::Rc;
use vmsim_hw::AccessKind::Read;
use vmsim_hw::Cycle;
use vmsim_hw::probe::{Probe, SignalDecl, SignalKind};
use vmsim_sim::system::trace_segments;
use vmsim_sim::{NoObserver, System};

#[derive(Default)]
struct Log {
    decls: Vec<(String, SignalDecl)>,
    changes: Vec<(u64, usize, u64)>,
}

struct Recorder(Rc<RefCell<Log>>);

impl Probe for Recorder {
    fn declare(&mut self, signals: &[(String, SignalDecl)]) {
        self.0.borrow_mut().decls = signals.to_vec();
    }
    fn change(&mut self, at: Cycle, id: usize, value: u64) {
        self.0.borrow_mut().changes.push((at.0, id, value));
    }
}

impl Log {
    fn id(&self, scope: &str, name: &str) -> usize {
        self.decls
            .iter()
            .position(|(s, d)| s == scope && d.name == name)
            .unwrap_or_else(|| panic!("no signal {scope}.{name}"))
    }
    /// (cycle, state name) of every change of a state signal.
    fn states(&self, scope: &str, name: &str) -> Vec<(u64, &'static str)> {
        let id = self.id(scope, name);
        let SignalKind::State(names) = self.decls[id].1.kind else {
            panic!("{scope}.{name} is not a state signal");
        };
        self.changes
            .iter()
            .filter(|c| c.1 == id)
            .map(|c| (c.0, names[c.2 as usize]))
            .collect()
    }
}

const L: u64 = 100;
const C: u64 = 4000;

/// The cold access of tests/walk_timing.rs, seen by a probe: walker 0 waits on the PML4E read
/// from cycle 11 and goes idle at 12+L with a fault; after the OS (in_handler from 14+L to
/// 14+L+C) it walks all four levels, each read L+1 cycles after the previous one was issued.
#[test]
fn walker_states_are_named_and_timed() {
    let log = Rc::new(RefCell::new(Log::default()));
    let cfg = plain_machine(L, &[]);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    sys.attach_probe(Box::new(Recorder(log.clone())));
    sys.run(
        &mut VecWorkload::new(vec![rec(Read, 0x1234_5678, 8, 1)]),
        &mut NoObserver,
    )
    .unwrap();
    let log = log.borrow();
    let w = 24 + L + C; // walk 2 starts
    assert_eq!(
        log.states("walker.0", "state"),
        vec![
            (0, "Idle"),
            (11, "WaitMem(PML4)"),
            (12 + L, "Idle"),
            (w, "WaitMem(PML4)"),
            (w + L + 1, "WaitMem(PDPT)"),
            (w + 2 * (L + 1), "WaitMem(PD)"),
            (w + 3 * (L + 1), "WaitMem(PT)"),
            (w + 4 * (L + 1), "Idle"),
        ]
    );
    let core = log.states("core", "state");
    assert_eq!(core[0], (0, "WaitWalk"));
    assert!(core.contains(&(13 + L, "WaitTrap")), "{core:?}");
    let in_handler = log.id("os", "in_handler");
    let h: Vec<(u64, u64)> = log
        .changes
        .iter()
        .filter(|c| c.1 == in_handler)
        .map(|c| (c.0, c.2))
        .collect();
    assert_eq!(h, vec![(0, 0), (14 + L, 1), (14 + L + C, 0)]);
    // Every declared signal got an initial value at cycle 0.
    let initial = log.changes.iter().filter(|c| c.0 == 0).count();
    assert!(initial >= log.decls.len());
}

#[test]
fn dram_banks_are_declared_per_bank_with_ddr4() {
    let log = Rc::new(RefCell::new(Log::default()));
    let cfg = common::config(&["workload.accesses=10"]);
    let mut sys = System::new(&cfg, trace_segments()).unwrap();
    sys.attach_probe(Box::new(Recorder(log.clone())));
    sys.run(
        &mut VecWorkload::new(vec![rec(Read, 0x1000, 8, 0)]),
        &mut NoObserver,
    )
    .unwrap();
    let log = log.borrow();
    // One channel, one rank, 4 bank groups x 4 banks.
    let banks = log
        .decls
        .iter()
        .filter(|(s, d)| s.starts_with("dram.bank") && d.name == "open_row")
        .count();
    assert_eq!(banks, 16);
    // Some bank opened a row (the first PTE read).
    let ids: Vec<usize> = (0..log.decls.len())
        .filter(|&i| log.decls[i].0.starts_with("dram.bank"))
        .collect();
    assert!(
        log.changes
            .iter()
            .any(|c| c.0 > 0 && ids.contains(&c.1) && c.2 != u32::MAX as u64)
    );
}
