//! Sampling components for probes: after each engine step, every declared signal is read and
//! each one that changed is reported with the cycle. With no probe attached nothing is sampled.
//!
//! A [`Window`] limits observation to the cycles `[start, end)`: before `start` nothing is
//! sampled (the run loop keeps its fast paths), the state at `start` is reported as every
//! signal's initial value, and from `end` on nothing is sampled again. As the engine skips idle
//! cycles, no step may fall on `start`: the state there is the one left by the last step before
//! it, which [`Sampler::after_step`] reports when it sees that the next step comes later.

use std::fmt;
use std::str::FromStr;
use vmsim_hw::Cycle;
use vmsim_hw::probe::{Probe, ProbeError, Probed, SignalDecl};

/// The cycles `[start, end)` a probe observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: Cycle,
    /// Exclusive; `Cycle(u64::MAX)` for the end of the run.
    pub end: Cycle,
}

impl Window {
    /// The whole run.
    pub const ALL: Window = Window {
        start: Cycle(0),
        end: Cycle(u64::MAX),
    };

    /// Whether cycle `at` is inside the window.
    pub fn contains(&self, at: Cycle) -> bool {
        self.start <= at && at < self.end
    }
}

impl Default for Window {
    fn default() -> Window {
        Window::ALL
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end.0 == u64::MAX {
            write!(f, "{}:", self.start.0)
        } else {
            write!(f, "{}:{}", self.start.0, self.end.0)
        }
    }
}

/// A window that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "bad window `{text}`: {why} (expected START:END in cycles, START < END; START or END may be left out)"
)]
pub struct WindowError {
    pub text: String,
    pub why: &'static str,
}

impl FromStr for Window {
    type Err = WindowError;
    /// `START:END`, `START:` (to the end of the run) or `:END` (from cycle 0), in core cycles;
    /// `_` separators are allowed (`1_000_000:1_001_000`).
    fn from_str(s: &str) -> Result<Window, WindowError> {
        let err = |why| WindowError {
            text: s.to_string(),
            why,
        };
        let (a, b) = s.split_once(':').ok_or_else(|| err("no `:`"))?;
        let num = |t: &str, dflt: u64| -> Result<u64, WindowError> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(dflt);
            }
            t.replace('_', "")
                .parse::<u64>()
                .map_err(|_| err("not a cycle count"))
        };
        let start = num(a, 0)?;
        let end = num(b, u64::MAX)?;
        if start >= end {
            return Err(err("START is not below END"));
        }
        Ok(Window {
            start: Cycle(start),
            end: Cycle(end),
        })
    }
}

/// Holds the attached probe and the last value of every signal.
pub struct Sampler {
    probe: Box<dyn Probe>,
    last: Vec<u64>,
    scratch: Vec<u64>,
    started: bool,
    window: Window,
    /// The window is over: nothing more is sampled.
    done: bool,
}

impl Sampler {
    /// Observe the whole run.
    pub fn new(probe: Box<dyn Probe>) -> Sampler {
        Sampler::with_window(probe, Window::ALL)
    }

    /// Observe the cycles of `window` only.
    pub fn with_window(probe: Box<dyn Probe>, window: Window) -> Sampler {
        Sampler {
            probe,
            last: Vec::new(),
            scratch: Vec::new(),
            started: false,
            window,
            done: false,
        }
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether the engine may run the steps after `now` up to `next` without sampling in
    /// between (its fast path that starts accesses back to back): the step at `now` and those
    /// up to `next` are all before the window, or the window is over.
    #[inline]
    pub fn may_skip(&self, now: Cycle, next: Cycle) -> bool {
        self.done || now >= self.window.end || next < self.window.start
    }

    /// Whether the engine should step at `at` for the probe's sake (a change no component
    /// wakes the engine for, such as a DRAM refresh closing rows): `at` is inside the window.
    #[inline]
    pub fn wants_step_at(&self, at: Cycle) -> bool {
        !self.done && self.window.contains(at)
    }

    /// Sample `parts` after the engine's step at `now`, its next step being at `next` (None:
    /// the run is over). Inside the window, report what changed at `now` (the first report
    /// declares the signals and gives every initial value). Before the window, if the next step
    /// comes after its start, nothing changes until then: report the state as it stands as the
    /// initial values at the start. From the window's end on, nothing.
    /// Whether observation is over at `now` (past the window's end): nothing more to sample.
    #[inline]
    pub fn over(&self, now: Cycle) -> bool {
        self.done || now >= self.window.end
    }

    pub fn after_step(&mut self, now: Cycle, next: Option<Cycle>, parts: &[&dyn Probed]) {
        if self.done {
            return;
        }
        if now >= self.window.end {
            self.done = true;
        } else if now >= self.window.start {
            self.report(now, parts);
        } else if !self.started && next.is_some_and(|n| n > self.window.start) {
            self.report(self.window.start, parts);
        }
    }

    fn report(&mut self, at: Cycle, parts: &[&dyn Probed]) {
        if !self.started {
            let mut decls: Vec<(String, SignalDecl)> = Vec::new();
            for p in parts {
                p.declare(&mut decls);
            }
            self.probe.declare(&decls);
        }
        self.scratch.clear();
        for p in parts {
            p.sample_at(at, &mut self.scratch);
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

    /// The run is over after the step at `last`: if the window starts later, report the final
    /// state as the initial values at its start (nothing changes any more), then tell the probe
    /// that observation ends at `min(last + 1, window end)`.
    pub fn finish(&mut self, last: Cycle, parts: &[&dyn Probed]) -> Result<(), ProbeError> {
        if !self.started {
            self.report(self.window.start, parts);
        }
        self.done = true;
        let end = Cycle(last.0.saturating_add(1)).min(self.window.end);
        self.probe.finish(end)
    }

    /// Give the probe back (to read a recorder or finish a writer).
    pub fn into_probe(self) -> Box<dyn Probe> {
        self.probe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        let w = |s: &str| s.parse::<Window>();
        assert_eq!(
            w("10:20"),
            Ok(Window {
                start: Cycle(10),
                end: Cycle(20)
            })
        );
        assert_eq!(w("1_000:").unwrap().end, Cycle(u64::MAX));
        assert_eq!(w(":5").unwrap().start, Cycle(0));
        assert_eq!(w(":").unwrap(), Window::ALL);
        assert_eq!(w("5:5").unwrap_err().why, "START is not below END");
        assert_eq!(w("7:3").unwrap_err().why, "START is not below END");
        assert_eq!(w("10").unwrap_err().why, "no `:`");
        assert_eq!(w("a:3").unwrap_err().why, "not a cycle count");
        assert_eq!(w("-1:3").unwrap_err().why, "not a cycle count");
        assert_eq!(w("10:20").unwrap().to_string(), "10:20");
        assert_eq!(w("10:").unwrap().to_string(), "10:");
    }
}
