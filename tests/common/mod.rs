//! Helpers shared by the integration tests.
#![allow(dead_code)]

use vmsim_hw::core::AccessDone;
use vmsim_hw::walker::WalkRecord;
use vmsim_hw::{AccessKind, VirtAddr};
use vmsim_os::Pid;
use vmsim_sim::workload::{Record, Workload, WorkloadError};
use vmsim_sim::{Config, ConfigBuilder, Observer};

/// A workload from a fixed list of records.
pub struct VecWorkload {
    records: Vec<Record>,
    pos: usize,
}

impl VecWorkload {
    pub fn new(records: Vec<Record>) -> VecWorkload {
        VecWorkload { records, pos: 0 }
    }
}

impl Workload for VecWorkload {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        buf.clear();
        let end = (self.pos + 3).min(self.records.len());
        buf.extend_from_slice(&self.records[self.pos..end]);
        self.pos = end;
        Ok(!buf.is_empty())
    }
    fn describe(&self) -> String {
        format!("{} fixed records", self.records.len())
    }
}

pub fn rec(kind: AccessKind, va: u64, size: u32, instrs: u32) -> Record {
    Record {
        kind,
        va: VirtAddr(va),
        size,
        instrs,
        data: None,
    }
}

/// The defaults with `sets` applied.
pub fn config(sets: &[&str]) -> Config {
    let mut b = ConfigBuilder::new();
    for s in sets {
        b = b.set(s).unwrap();
    }
    b.build().unwrap()
}

/// Fixed DRAM latency, no caches, no page-walk caches: the hand-derivable machine.
pub fn plain_machine(latency: u64, extra: &[&str]) -> Config {
    let lat = format!("dram.fixed_latency={latency}");
    let mut sets = vec![
        "dram.model=fixed",
        lat.as_str(),
        "caches.enabled=false",
        "walker.pwc.enabled=false",
        "output.accesses_csv=false",
        "output.walks_csv=false",
    ];
    sets.extend_from_slice(extra);
    config(&sets)
}

/// An observer that keeps every completed access and walk.
#[derive(Default)]
pub struct Recorder {
    pub accesses: Vec<AccessDone>,
    pub walks: Vec<WalkRecord>,
}

impl Observer for Recorder {
    fn on_access(&mut self, _pid: Pid, a: &AccessDone) {
        self.accesses.push(*a);
    }
    fn on_walk(&mut self, _pid: Pid, w: &WalkRecord) {
        self.walks.push(*w);
    }
}
