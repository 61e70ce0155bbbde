//! Completed (or scheduled-to-complete) requests, handed out in order of their done cycle.

use super::DramCompletion;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A completion ordered by (done, id, then scheduling order for duplicate ids).
#[derive(Debug)]
struct Slot {
    seq: u64,
    c: DramCompletion,
}

impl Slot {
    #[inline]
    fn key(&self) -> (u64, u64, u64) {
        (self.c.done.0, self.c.id, self.seq)
    }
}
impl PartialEq for Slot {
    fn eq(&self, o: &Slot) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Slot {}
impl PartialOrd for Slot {
    fn partial_cmp(&self, o: &Slot) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Slot {
    fn cmp(&self, o: &Slot) -> Ordering {
        self.key().cmp(&o.key())
    }
}

/// Requests whose done cycle is known: `unclaimed` until `pop`, and separately their done
/// cycles not yet passed by `tick`, which are events (the controller reports progress then and
/// a fixed-latency channel frees a slot).
#[derive(Debug, Default)]
pub(super) struct CompletionQueue {
    unclaimed: BinaryHeap<Reverse<Slot>>,
    /// (done, channel) of completions whose done cycle is after the last tick.
    pending: BinaryHeap<Reverse<(u64, u32)>>,
    seq: u64,
}

impl CompletionQueue {
    pub(super) fn with_capacity(n: usize) -> CompletionQueue {
        CompletionQueue {
            unclaimed: BinaryHeap::with_capacity(n),
            pending: BinaryHeap::with_capacity(n),
            seq: 0,
        }
    }

    /// Record a request that completes at `c.done`, served by `channel`.
    #[inline]
    pub(super) fn push(&mut self, c: DramCompletion, channel: u32) {
        self.pending.push(Reverse((c.done.0, channel)));
        self.unclaimed.push(Reverse(Slot { seq: self.seq, c }));
        self.seq += 1;
    }

    /// Pass every done cycle <= `now`, calling `release(channel)` for each; true if any.
    #[inline]
    pub(super) fn retire(&mut self, now: u64, mut release: impl FnMut(u32)) -> bool {
        let mut any = false;
        while let Some(&Reverse((done, ch))) = self.pending.peek() {
            if done > now {
                break;
            }
            self.pending.pop();
            release(ch);
            any = true;
        }
        any
    }

    /// The earliest done cycle not yet passed by `retire`.
    #[inline]
    pub(super) fn next_done(&self) -> Option<u64> {
        self.pending.peek().map(|r| r.0.0)
    }

    /// Take the completion with the smallest (done, id) if it is done by `now`.
    #[inline]
    pub(super) fn pop(&mut self, now: u64) -> Option<DramCompletion> {
        match self.unclaimed.peek() {
            Some(Reverse(s)) if s.c.done.0 <= now => self.unclaimed.pop().map(|r| r.0.c),
            _ => None,
        }
    }

    /// Completions not yet taken by `pop`.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.unclaimed.len()
    }
}
