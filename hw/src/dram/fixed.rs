//! The fixed-latency model: every request completes exactly `fixed_latency` core cycles after
//! its arrival, whatever else is in flight. No banks, no rows (every completion reports
//! `RowOutcome::Closed`), no refresh. A channel holds at most `queue_depth` requests from
//! `enqueue` until their done cycle, which is the only back-pressure.

/// Requests in flight per channel.
#[derive(Clone, Debug)]
pub(super) struct Fixed {
    in_flight: Vec<usize>,
    depth: usize,
}

impl Fixed {
    pub(super) fn new(channels: u32, depth: usize) -> Fixed {
        Fixed {
            in_flight: vec![0; channels as usize],
            depth,
        }
    }

    #[inline]
    pub(super) fn can_accept(&self, channel: u32) -> bool {
        self.in_flight[channel as usize] < self.depth
    }

    /// Take a slot of `channel` (the caller checked `can_accept`).
    #[inline]
    pub(super) fn occupy(&mut self, channel: u32) {
        self.in_flight[channel as usize] += 1;
    }

    /// A request of `channel` reached its done cycle.
    #[inline]
    pub(super) fn release(&mut self, channel: u32) {
        self.in_flight[channel as usize] -= 1;
    }
}
