//! Sampling components for probes: after each engine step, every declared signal is read and
//! each one that changed is reported with the cycle. With no probe attached nothing is sampled.

use vmsim_hw::Cycle;
use vmsim_hw::probe::{Probe, Probed, SignalDecl};

/// Holds the attached probe and the last value of every signal.
pub struct Sampler {
    probe: Box<dyn Probe>,
    last: Vec<u64>,
    scratch: Vec<u64>,
    started: bool,
}

impl Sampler {
    pub fn new(probe: Box<dyn Probe>) -> Sampler {
        Sampler {
            probe,
            last: Vec::new(),
            scratch: Vec::new(),
            started: false,
        }
    }

    /// Sample `parts` at cycle `at`; the first call declares the signals and reports every
    /// initial value.
    pub fn sample(&mut self, at: Cycle, parts: &[&dyn Probed]) {
        if !self.started {
            let mut decls: Vec<(String, SignalDecl)> = Vec::new();
            for p in parts {
                p.declare(&mut decls);
            }
            self.probe.declare(&decls);
        }
        self.scratch.clear();
        for p in parts {
            p.sample(&mut self.scratch);
        }
        if !self.started {
            self.started = true;
            self.last = self.scratch.clone();
            for (id, &v) in self.last.iter().enumerate() {
                self.probe.change(at, id, v);
            }
            return;
        }
        for (id, (old, &new)) in self.last.iter_mut().zip(&self.scratch).enumerate() {
            if *old != new {
                *old = new;
                self.probe.change(at, id, new);
            }
        }
    }

    /// Give the probe back (to read a recorder or finish a writer).
    pub fn into_probe(self) -> Box<dyn Probe> {
        self.probe
    }
}
