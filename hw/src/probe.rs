//! Observation of hardware state: each component declares its signals and reports their
//! current values; probes (the VCD writer, CSV writers, test recorders) receive the changes.
//!
//! Nothing inside a component writes files or keeps history for observation: the run loop samples
//! components through [`Probed`] after each step, and only when a probe is attached, so with no
//! probe observation costs nothing.

use crate::types::Cycle;

/// How a viewer should show a signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignalKind {
    /// An unsigned value of this many bits.
    Bits(u32),
    /// A state machine: the value indexes these names (a viewer shows `WaitMem(PD)`, not `7`).
    State(&'static [&'static str]),
}

/// One declared signal, named within its component's scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalDecl {
    pub name: String,
    pub kind: SignalKind,
}

impl SignalDecl {
    pub fn bits(name: impl Into<String>, width: u32) -> SignalDecl {
        SignalDecl {
            name: name.into(),
            kind: SignalKind::Bits(width),
        }
    }
    pub fn state(name: impl Into<String>, names: &'static [&'static str]) -> SignalDecl {
        SignalDecl {
            name: name.into(),
            kind: SignalKind::State(names),
        }
    }
}

/// A component whose observable state can be sampled.
pub trait Probed {
    /// Append this component's signals, each as (scope, declaration). Scopes are dotted paths
    /// mirroring the component tree (`core`, `tlb.l1d`, `walker.0`, `dram.bank3`).
    fn declare(&self, out: &mut Vec<(String, SignalDecl)>);
    /// Append the current value of every declared signal, in declaration order.
    fn sample(&self, out: &mut Vec<u64>);
    /// Append the value of every declared signal at cycle `at`, no earlier than the
    /// component's last tick and with nothing ticked since. Components whose observable state
    /// moves with time alone (DRAM refresh closes rows at fixed cycles, without a tick) override
    /// this so that a probe sees the state at the sampled cycle; the default is [`Probed::sample`].
    fn sample_at(&self, _at: Cycle, out: &mut Vec<u64>) {
        self.sample(out);
    }
}

/// Receives signal declarations once, then value changes in time order.
///
/// Contract: `declare` comes first, once; then `change` is called for every signal at the first
/// observed cycle (its initial value), then only for values that differ from the last one
/// reported, with `at` never decreasing; `finish` comes last, at most once.
pub trait Probe {
    /// Signal `id` (its index in `signals`) is declared; called once before any change.
    fn declare(&mut self, signals: &[(String, SignalDecl)]);
    /// Signal `id` takes `value` at cycle `at` (also called for every signal's initial value).
    fn change(&mut self, at: Cycle, id: usize, value: u64);
    /// Observation is over: nothing changes from cycle `end` on (it is one past the last
    /// cycle observed). A writer flushes and closes its output here and reports any error it met
    /// on the way, as the other methods cannot return one. The default does nothing.
    fn finish(&mut self, _end: Cycle) -> Result<(), ProbeError> {
        Ok(())
    }
}

/// Why a probe failed (an output file that could not be written, ...), reported at the end.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);
