//! Completed (or scheduled-to-complete) requests, handed out in order of their done cycle.

use super::DramCompletion;
use std::cmp::Ordering;

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

/// The done cycles (with their channels) for `retire`, in ascending order from `head`:
/// inserted from the back, taken from the front by moving `head` on. The DDR4 done cycles of
/// one channel increase in issue order (bursts never overlap), so with one channel every
/// insertion is a push at the back; else it steps back over the few later ones (other
/// channels' completions scheduled by the same tick, or fixed-model requests that arrived
/// earlier). The vector is emptied when its last element is taken (an owner ticking at its
/// events usually holds one or two), and the taken elements are dropped once there are
/// `COMPACT_AT` of them, so that a queue that never empties stays small. Cheaper than a heap,
/// which sifts on every push and pop, and than a ring buffer, which wraps its indices.
#[derive(Debug)]
struct DoneQueue {
    v: Vec<(u64, u32)>,
    /// The first element not yet taken; `head < v.len()` unless `v` is empty (then 0).
    head: usize,
}

impl DoneQueue {
    const COMPACT_AT: usize = 64;

    fn with_capacity(n: usize) -> DoneQueue {
        DoneQueue {
            v: Vec::with_capacity(n),
            head: 0,
        }
    }

    #[inline(always)]
    fn insert(&mut self, x: (u64, u32)) {
        match self.v.last() {
            Some(&last) if last > x => self.insert_before_back(x),
            _ => self.v.push(x),
        }
    }

    /// `insert` when `x` goes before the back element (which is not taken yet).
    #[cold]
    #[inline(never)]
    fn insert_before_back(&mut self, x: (u64, u32)) {
        let i = self.v[self.head..].partition_point(|&y| y <= x);
        self.v.insert(self.head + i, x);
    }

    #[inline]
    fn front(&self) -> Option<(u64, u32)> {
        self.v.get(self.head).copied()
    }

    /// Take the elements done by `now` from the front, calling `release(channel)` for each;
    /// whether any was taken, and the done cycle of the new front (None: empty).
    #[inline(always)]
    fn take_through(&mut self, now: u64, mut release: impl FnMut(u32)) -> (bool, Option<u64>) {
        let start = self.head;
        let mut i = start;
        let next = loop {
            match self.v.get(i) {
                Some(&(done, ch)) if done <= now => {
                    release(ch);
                    i += 1;
                }
                Some(&(done, _)) => break Some(done),
                None => break None,
            }
        };
        if next.is_none() {
            self.v.clear();
            self.head = 0;
        } else {
            self.head = i;
            if i >= Self::COMPACT_AT {
                self.compact();
            }
        }
        (i > start, next)
    }

    /// Drop the front element (the caller checked that there is one).
    #[cfg(test)]
    fn drop_front(&mut self) {
        self.head += 1;
        if self.head >= self.v.len() {
            self.v.clear();
            self.head = 0;
        } else if self.head >= Self::COMPACT_AT {
            self.compact();
        }
    }

    /// Drop the taken elements (a queue that has not emptied for a while).
    #[cold]
    #[inline(never)]
    fn compact(&mut self) {
        self.v.drain(..self.head);
        self.head = 0;
    }

    /// Elements not yet taken.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.v.len() - self.head
    }
}

/// Completions not yet taken, smallest (done, id, seq) last: taken from the back, and inserted
/// at the back when smaller than every one held. An owner that takes completions as soon as
/// they are scheduled (`MemorySystem`) holds none when the next is pushed, so both are a plain
/// `Vec` push and pop; else (several completions scheduled by one tick, done cycles ascending)
/// an insertion steps over the few held. Cheaper than a heap, which sifts on every push and
/// pop; any priority queue takes in the same order, the keys being unique.
#[derive(Debug)]
struct ClaimQueue(Vec<Slot>);

impl ClaimQueue {
    fn with_capacity(n: usize) -> ClaimQueue {
        ClaimQueue(Vec::with_capacity(n))
    }

    #[inline(always)]
    fn insert(&mut self, s: Slot) {
        match self.0.last() {
            Some(last) if last.key() < s.key() => self.insert_before_back(s),
            _ => self.0.push(s),
        }
    }

    /// `insert` when `s` goes before the back element.
    #[cold]
    #[inline(never)]
    fn insert_before_back(&mut self, s: Slot) {
        let i = self.0.partition_point(|x| x.key() > s.key());
        self.0.insert(i, s);
    }

    /// The smallest completion, if it is done by `now`.
    #[inline(always)]
    fn pop_done_by(&mut self, now: u64) -> Option<DramCompletion> {
        match self.0.last() {
            Some(s) if s.c.done.0 <= now => self.0.pop().map(|s| s.c),
            _ => None,
        }
    }
}

/// Requests whose done cycle is known: `unclaimed` until `pop`, and separately their done
/// cycles not yet passed by `tick`, which are events (the controller reports progress then and
/// a fixed-latency channel frees a slot).
#[derive(Debug)]
pub(super) struct CompletionQueue {
    unclaimed: ClaimQueue,
    /// (done, channel) of completions whose done cycle is after the last tick.
    pending: DoneQueue,
    /// The front done cycle of `pending` (`u64::MAX` when empty): a tick before it passes
    /// nothing, known with one comparison.
    next_pending: u64,
    seq: u64,
    /// Whether done cycles are events (kept in `pending`); see [`super::Dram::set_done_events`].
    done_events: bool,
}

impl CompletionQueue {
    pub(super) fn with_capacity(n: usize) -> CompletionQueue {
        CompletionQueue {
            unclaimed: ClaimQueue::with_capacity(n),
            pending: DoneQueue::with_capacity(n),
            next_pending: u64::MAX,
            seq: 0,
            done_events: true,
        }
    }

    /// Record a request that completes at `c.done`, served by `channel`.
    #[inline(always)]
    pub(super) fn push(&mut self, c: DramCompletion, channel: u32) {
        if self.done_events {
            self.pending.insert((c.done.0, channel));
            self.next_pending = self.next_pending.min(c.done.0);
        }
        self.unclaimed.insert(Slot { seq: self.seq, c });
        self.seq += 1;
    }

    /// Keep done cycles as events (the default) or not (`retire` and `next_done` then see
    /// none of the completions pushed from now on).
    pub(super) fn set_done_events(&mut self, on: bool) {
        self.done_events = on;
    }

    /// Pass every done cycle <= `now`, calling `release(channel)` for each; true if any.
    #[inline]
    pub(super) fn retire(&mut self, now: u64, release: impl FnMut(u32)) -> bool {
        if self.next_pending > now {
            return false;
        }
        self.retire_due(now, release)
    }

    /// `retire` when the front done cycle is <= `now`.
    #[inline]
    fn retire_due(&mut self, now: u64, release: impl FnMut(u32)) -> bool {
        let (any, next) = self.pending.take_through(now, release);
        self.next_pending = next.unwrap_or(u64::MAX);
        any
    }

    /// The earliest done cycle not yet passed by `retire`.
    #[inline]
    pub(super) fn next_done(&self) -> Option<u64> {
        self.pending.front().map(|p| p.0)
    }

    /// Take the completion with the smallest (done, id) if it is done by `now`.
    #[inline]
    pub(super) fn pop(&mut self, now: u64) -> Option<DramCompletion> {
        self.unclaimed.pop_done_by(now)
    }

    /// Completions not yet taken by `pop`.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.unclaimed.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cycle, PhysAddr};
    use rand::{RngExt, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// The claim queue hands out completions in the order of a heap of their keys, with
    /// completions pushed in bursts (several per tick, done cycles mostly ascending, sometimes
    /// out of order and with equal done cycles) and taken partly as they come, partly late.
    #[test]
    fn claim_queue_takes_in_heap_order() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut q = CompletionQueue::with_capacity(0);
        let mut heap = BinaryHeap::new();
        let mut now = 0u64;
        for id in 0..50_000u64 {
            now += rng.random_range(0..5u64);
            let c = DramCompletion {
                id: rng.random_range(0..1000u64),
                addr: PhysAddr(id * 64),
                write: false,
                row: super::super::RowOutcome::Hit,
                arrival: Cycle(now),
                done: Cycle(now + rng.random_range(0..40u64)),
            };
            heap.push(Reverse(Slot { seq: q.seq, c }));
            q.push(c, 0);
            if rng.random_range(0..4u32) == 0 {
                continue;
            }
            let take = if rng.random_bool(0.5) { u64::MAX } else { now };
            loop {
                let want = match heap.peek() {
                    Some(Reverse(s)) if s.c.done.0 <= take => heap.pop().map(|r| r.0.c),
                    _ => None,
                };
                assert_eq!(q.pop(take), want);
                if want.is_none() {
                    break;
                }
            }
            assert_eq!(q.len(), heap.len());
        }
    }

    #[test]
    fn done_queue_takes_in_heap_order_and_stays_small() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut q = DoneQueue::with_capacity(0);
        let mut heap = BinaryHeap::new();
        let mut now = 0u64;
        for _ in 0..100_000 {
            // Mostly increasing done cycles, sometimes a little out of order.
            now += rng.random_range(0..4u64);
            let x = (now + rng.random_range(0..20u64), rng.random_range(0..3u32));
            q.insert(x);
            heap.push(Reverse(x));
            if rng.random_range(0..3u32) > 0 {
                let take = now.saturating_sub(10);
                let mut want = Vec::new();
                while let Some(Reverse(h)) = heap.peek().copied().filter(|h| h.0.0 <= take) {
                    heap.pop();
                    want.push(h);
                }
                if rng.random_bool(0.5) {
                    for &h in &want {
                        assert_eq!(q.front(), Some(h));
                        q.drop_front();
                    }
                } else {
                    let mut released = Vec::new();
                    let (any, next) = q.take_through(take, |ch| released.push(ch));
                    assert!(want.iter().map(|h| h.1).eq(released));
                    assert_eq!(any, !want.is_empty());
                    assert_eq!(next, heap.peek().map(|Reverse(h)| h.0));
                }
                assert!(q.front().is_none_or(|f| f.0 > take));
                assert_eq!(q.len(), heap.len());
            }
            assert!(q.v.capacity() <= 4 * 64, "{}", q.v.capacity());
        }
    }
}
