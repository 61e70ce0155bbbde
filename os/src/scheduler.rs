//! The scheduler: round robin over the runnable processes with a time slice.
//!
//! The run loop asks at every access boundary whether the running process's slice is over
//! ([`Scheduler::expired`]) and, when it is or when the process ends, which process runs next
//! ([`Scheduler::pick`]). A process that finished or was killed leaves the queue. The
//! mechanism of the switch (PTBR load, TLB flush) is [`crate::Kernel::context_switch`].

use crate::process::Pid;
use std::collections::VecDeque;
use vmsim_hw::Cycle;

pub struct Scheduler {
    slice: u64,
    /// Runnable processes in round-robin order; the running one is not in it.
    queue: VecDeque<Pid>,
    running: Option<Pid>,
    /// When the running process's slice ends.
    slice_end: Cycle,
}

impl Scheduler {
    pub fn new(slice: u64) -> Scheduler {
        Scheduler {
            slice,
            queue: VecDeque::new(),
            running: None,
            slice_end: Cycle(0),
        }
    }

    /// A new runnable process joins the back of the queue.
    pub fn admit(&mut self, pid: Pid) {
        self.queue.push_back(pid);
    }

    pub fn running(&self) -> Option<Pid> {
        self.running
    }

    /// Whether the running process has used its slice by `now` and someone else could run.
    #[inline]
    pub fn expired(&self, now: Cycle) -> bool {
        now >= self.slice_end && !self.queue.is_empty()
    }

    /// The running process ended: it leaves the rotation.
    pub fn remove_running(&mut self) {
        self.running = None;
    }

    /// Choose the next process at `now` (the running one, if any, goes to the back of the
    /// queue) and start its slice; `None` when nothing is runnable.
    pub fn pick(&mut self, now: Cycle) -> Option<Pid> {
        if let Some(p) = self.running.take() {
            self.queue.push_back(p);
        }
        let next = self.queue.pop_front()?;
        self.running = Some(next);
        self.slice_end = Cycle(now.0.saturating_add(self.slice));
        Some(next)
    }

    /// The running process's slice starts at `at` (after the context switch that gave it the
    /// core): a slice shorter than a switch still lets it run.
    pub fn start_slice(&mut self, at: Cycle) {
        self.slice_end = Cycle(at.0.saturating_add(self.slice));
    }

    /// Processes waiting to run.
    pub fn waiting(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_with_slices() {
        let mut s = Scheduler::new(100);
        s.admit(Pid(1));
        s.admit(Pid(2));
        assert_eq!(s.pick(Cycle(0)), Some(Pid(1)));
        assert!(!s.expired(Cycle(99)));
        assert!(s.expired(Cycle(100)));
        assert_eq!(s.pick(Cycle(100)), Some(Pid(2)));
        s.remove_running();
        assert_eq!(s.pick(Cycle(150)), Some(Pid(1)));
        // Alone: the slice never expires.
        assert!(!s.expired(Cycle(10_000)));
        s.remove_running();
        assert_eq!(s.pick(Cycle(200)), None);
    }
}
