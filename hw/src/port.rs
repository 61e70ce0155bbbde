//! Bounded, time-stamped ports: the only way components talk on the miss path.
//!
//! A message carries the cycle at which it becomes visible to the receiver. The sender stamps it
//! with `now + latency` where latency is at least one cycle, so a message sent in cycle `t` is
//! never seen in cycle `t`: the order in which components are ticked within a cycle cannot change
//! results (evaluate, then commit). A full port refuses a send and the sender retries later, so
//! back-pressure is modelled rather than ignored.

use crate::types::Cycle;
use std::collections::VecDeque;

/// A bounded queue of time-stamped messages, delivered in order of visibility (ties in order of
/// sending).
#[derive(Debug)]
pub struct Port<T> {
    queue: VecDeque<(Cycle, T)>,
    capacity: usize,
}

impl<T> Port<T> {
    /// A port that holds at most `capacity` messages in flight.
    pub fn new(capacity: usize) -> Port<T> {
        assert!(capacity > 0, "a port needs room for one message");
        Port {
            queue: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Send `msg`, visible to the receiver from cycle `ready`. Refused (the message is handed
    /// back) when the port is full.
    #[inline]
    pub fn try_send(&mut self, ready: Cycle, msg: T) -> Result<(), T> {
        if self.queue.len() >= self.capacity {
            return Err(msg);
        }
        // Keep the queue ordered by visibility; equal stamps stay in sending order. Stamps
        // mostly arrive in order, so appending is the common case.
        if self.queue.back().is_none_or(|(last, _)| *last <= ready) {
            self.queue.push_back((ready, msg));
            return Ok(());
        }
        let mut pos = self.queue.len() - 1;
        while pos > 0 && self.queue[pos - 1].0 > ready {
            pos -= 1;
        }
        self.queue.insert(pos, (ready, msg));
        Ok(())
    }

    /// Take the oldest message visible at `now`.
    #[inline]
    pub fn recv(&mut self, now: Cycle) -> Option<T> {
        match self.queue.front() {
            Some((ready, _)) if *ready <= now => self.queue.pop_front().map(|(_, m)| m),
            _ => None,
        }
    }

    /// The cycle at which the next message becomes visible.
    #[inline]
    pub fn next_ready(&self) -> Option<Cycle> {
        self.queue.front().map(|(c, _)| *c)
    }

    /// The most messages the port holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
    #[inline]
    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.capacity
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.queue.len()
    }
    /// Drop every message (used when the receiver is reset).
    pub fn clear(&mut self) {
        self.queue.clear();
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
}
