//! Bounded, time-stamped ports: the only way components talk on the miss path.
//!
//! A message carries the cycle at which it becomes visible to the receiver. The sender stamps it
//! with `now + latency` where latency is at least one cycle, so a message sent in cycle `t` is
//! never seen in cycle `t`: the order in which components are ticked within a cycle cannot change
//! results (evaluate, then commit). A full port refuses a send and the sender retries later, so
//! back-pressure is modelled rather than ignored.

use crate::types::Cycle;

/// A bounded queue of time-stamped messages, delivered in order of visibility (ties in order of
/// sending).
///
/// A ring of `capacity` slots rounded up to a power of two, so that a slot index is a mask
/// rather than a compare and subtract: every step of the run loop asks several ports for their
/// next stamp. Slots are pushed on first use (no `Default` bound on messages); a send to an
/// empty ring starts again at slot 0.
#[derive(Debug)]
pub struct Port<T: Copy> {
    /// Slot `head`, then `head + 1`, ... (mod the ring size) hold the `len` messages in order.
    slots: Vec<(Cycle, T)>,
    head: usize,
    len: usize,
    /// Ring size - 1.
    mask: usize,
    capacity: usize,
}

impl<T: Copy> Port<T> {
    /// A port that holds at most `capacity` messages in flight.
    pub fn new(capacity: usize) -> Port<T> {
        assert!(capacity > 0, "a port needs room for one message");
        let size = capacity.next_power_of_two();
        Port {
            slots: Vec::with_capacity(size),
            head: 0,
            len: 0,
            mask: size - 1,
            capacity,
        }
    }

    /// Send `msg`, visible to the receiver from cycle `ready`. Refused (the message is handed
    /// back) when the port is full.
    #[inline(always)]
    pub fn try_send(&mut self, ready: Cycle, msg: T) -> Result<(), T> {
        // Most sends find the port empty (a port mostly holds one message at a time): the
        // message goes to slot 0, inline at the sender. Reusing one slot keeps it in the
        // host's L1 cache (walking the ring would touch a line that the simulated caches'
        // lookups have long evicted).
        if self.len == 0 && !self.slots.is_empty() {
            self.head = 0;
            self.slots[0] = (ready, msg);
            self.len = 1;
            return Ok(());
        }
        self.send_queued(ready, msg)
    }

    /// [`Port::try_send`] to a port that holds messages (or has never held one: then `head`
    /// is still 0, as `new` and `clear` leave it).
    #[inline(never)]
    fn send_queued(&mut self, ready: Cycle, msg: T) -> Result<(), T> {
        if self.len >= self.capacity {
            return Err(msg);
        }
        debug_assert!(self.len > 0 || self.head == 0);
        // Slots are used in index order from 0, so a slot not yet pushed is the next one.
        let tail = (self.head + self.len) & self.mask;
        if tail < self.slots.len() {
            self.slots[tail] = (ready, msg);
        } else {
            self.slots.push((ready, msg));
        }
        self.len += 1;
        // Keep the queue ordered by visibility; equal stamps stay in sending order. Stamps
        // mostly arrive in order, so the new message is usually already in place.
        let mut k = self.len - 1;
        while k > 0 {
            let (prev, cur) = (self.slot(k - 1), self.slot(k));
            if self.slots[prev].0 <= ready {
                break;
            }
            self.slots.swap(prev, cur);
            k -= 1;
        }
        Ok(())
    }

    /// Take the oldest message visible at `now`.
    #[inline]
    pub fn recv(&mut self, now: Cycle) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let (ready, msg) = self.slots[self.head];
        if ready > now {
            return None;
        }
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        Some(msg)
    }

    /// The cycle at which the next message becomes visible.
    #[inline]
    pub fn next_ready(&self) -> Option<Cycle> {
        if self.len == 0 {
            None
        } else {
            Some(self.slots[self.head].0)
        }
    }

    /// The most messages the port holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// Drop every message (used when the receiver is reset).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.slots.clear();
    }

    /// Slot index of the `k`th message from the oldest.
    #[inline]
    fn slot(&self, k: usize) -> usize {
        (self.head + k) & self.mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_invisible_before_its_cycle() {
        let mut p = Port::new(2);
        p.try_send(Cycle(5), 'a').unwrap();
        assert_eq!(p.recv(Cycle(4)), None);
        assert_eq!(p.recv(Cycle(5)), Some('a'));
    }

    #[test]
    fn full_port_refuses() {
        let mut p = Port::new(1);
        p.try_send(Cycle(1), 1).unwrap();
        assert_eq!(p.try_send(Cycle(1), 2), Err(2));
        assert!(p.is_full());
    }

    #[test]
    fn delivered_in_visibility_order_ties_in_send_order() {
        let mut p = Port::new(4);
        p.try_send(Cycle(9), 'c').unwrap();
        p.try_send(Cycle(3), 'a').unwrap();
        p.try_send(Cycle(3), 'b').unwrap();
        assert_eq!(p.next_ready(), Some(Cycle(3)));
        assert_eq!(p.recv(Cycle(10)), Some('a'));
        assert_eq!(p.recv(Cycle(10)), Some('b'));
        assert_eq!(p.recv(Cycle(10)), Some('c'));
    }

    #[test]
    fn out_of_order_stamps_are_inserted_in_place() {
        let mut p = Port::new(8);
        for (c, m) in [
            (4, 'b'),
            (9, 'e'),
            (1, 'a'),
            (4, 'c'),
            (7, 'd'),
            (9, 'f'),
            (12, 'g'),
        ] {
            p.try_send(Cycle(c), m).unwrap();
        }
        let got: Vec<char> = std::iter::from_fn(|| p.recv(Cycle(20))).collect();
        assert_eq!(got, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    }

    /// Against a plain model (a list kept stably sorted by stamp), over many wrap-arounds of
    /// a ring whose size (8) exceeds the capacity (5), with out-of-order stamps, refusals and
    /// receives at varying cycles.
    #[test]
    fn ring_matches_a_sorted_list() {
        let mut p = Port::new(5);
        let mut model: Vec<(u64, u32)> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for m in 0..20_000u32 {
            if rnd() % 3 != 0 {
                let ready = now + 1 + rnd() % 6;
                let sent = p.try_send(Cycle(ready), m);
                if model.len() < 5 {
                    assert_eq!(sent, Ok(()));
                    let pos = model
                        .iter()
                        .position(|&(c, _)| c > ready)
                        .unwrap_or(model.len());
                    model.insert(pos, (ready, m));
                } else {
                    assert_eq!(sent, Err(m));
                }
            } else {
                now += rnd() % 4;
                loop {
                    let want = match model.first() {
                        Some(&(c, v)) if c <= now => Some(v),
                        _ => None,
                    };
                    assert_eq!(p.recv(Cycle(now)), want);
                    if want.is_none() {
                        break;
                    }
                    model.remove(0);
                }
            }
            assert_eq!(p.len(), model.len());
            assert_eq!(p.next_ready(), model.first().map(|&(c, _)| Cycle(c)));
        }
    }
}
