//! Completed (or scheduled-to-complete) requests, handed out in order of their done cycle.

use super::DramCompletion;
use std::cmp::Ordering;
use std::collections::VecDeque;

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

/// The done cycles (with their channels) for `retire`, in ascending order: inserted from the
/// back, taken from the front. The DDR4 done cycles of one channel increase in issue order
/// (bursts never overlap), so with one channel every insertion is a push at the back; else it
/// steps back over the few later ones (other channels' completions scheduled by the same tick,
/// or fixed-model requests that arrived earlier). Cheaper than a heap, which sifts on every
/// push and pop.
#[derive(Debug)]
struct DoneQueue(VecDeque<(u64, u32)>);

impl DoneQueue {
    fn with_capacity(n: usize) -> DoneQueue {
        DoneQueue(VecDeque::with_capacity(n))
    }

    #[inline(always)]
    fn insert(&mut self, x: (u64, u32)) {
        match self.0.back() {
            Some(&last) if last > x => self.insert_before_back(x),
            _ => self.0.push_back(x),
        }
    }

    /// `insert` when `x` goes before the back element.
    #[cold]
    #[inline(never)]
    fn insert_before_back(&mut self, x: (u64, u32)) {
        let i = self.0.partition_point(|&y| y <= x);
        self.0.insert(i, x);
    }

    #[inline]
    fn front(&self) -> Option<(u64, u32)> {
        self.0.front().copied()
    }

    /// Drop the front element (the caller checked that there is one).
    #[inline]
    fn drop_front(&mut self) {
        self.0.pop_front();
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
}

impl CompletionQueue {
    pub(super) fn with_capacity(n: usize) -> CompletionQueue {
        CompletionQueue {
            unclaimed: ClaimQueue::with_capacity(n),
            pending: DoneQueue::with_capacity(n),
            next_pending: u64::MAX,
            seq: 0,
        }
    }

    /// Record a request that completes at `c.done`, served by `channel`.
    #[inline(always)]
    pub(super) fn push(&mut self, c: DramCompletion, channel: u32) {
        self.pending.insert((c.done.0, channel));
        self.next_pending = self.next_pending.min(c.done.0);
        self.unclaimed.insert(Slot { seq: self.seq, c });
        self.seq += 1;
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
    fn retire_due(&mut self, now: u64, mut release: impl FnMut(u32)) -> bool {
        let mut any = false;
        while let Some((done, ch)) = self.pending.front() {
            if done > now {
                break;
            }
            self.pending.drop_front();
            release(ch);
            any = true;
        }
        self.next_pending = self.pending.front().map_or(u64::MAX, |p| p.0);
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
                while let Some(Reverse(h)) = heap.peek().copied().filter(|h| h.0.0 <= take) {
                    heap.pop();
                    assert_eq!(q.front(), Some(h));
                    q.drop_front();
                }
                assert!(q.front().is_none_or(|f| f.0 > take));
                assert_eq!(q.0.len(), heap.len());
            }
            assert!(q.0.capacity() <= 4 * 64, "{}", q.0.capacity());
        }
    }
}
