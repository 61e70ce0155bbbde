//! Refresh, computed analytically rather than by events.
//!
//! Rank `r` of every channel is refreshed in the windows `[k * tREFI + offset_r,
//! k * tREFI + offset_r + tRFC)` for k = 1, 2, ...: the first window begins at tREFI (plus the
//! offset), not at 0. Ranks are staggered by `offset_r = r * tREFI / ranks` so that they are
//! not all busy at once. At the start of a window every bank of the rank is precharged (its row
//! closes), and no command issues to the rank inside the window.
//!
//! Nothing happens at a window unless a request is waiting: a bank remembers the refresh
//! *epoch* (the number of windows begun) of its last command, and a bank whose epoch is older
//! than the rank's current one has had its row closed. An idle controller costs nothing.

use super::timing::CoreTiming;

#[derive(Clone, Debug)]
pub(super) struct RefreshSchedule {
    enabled: bool,
    refi: u64,
    rfc: u64,
    /// Per rank (within a channel): the stagger offset.
    offsets: Vec<u64>,
}

impl RefreshSchedule {
    pub(super) fn new(t: &CoreTiming, enabled: bool, ranks: u32) -> RefreshSchedule {
        let enabled = enabled && t.refi > 0;
        let offsets = (0..u64::from(ranks))
            .map(|r| {
                if enabled {
                    r * t.refi / u64::from(ranks)
                } else {
                    0
                }
            })
            .collect();
        RefreshSchedule {
            enabled,
            refi: t.refi,
            rfc: t.rfc,
            offsets,
        }
    }

    /// The number of refresh windows of `rank` begun at or before `t`.
    #[inline]
    pub(super) fn epoch(&self, rank: usize, t: u64) -> u64 {
        if !self.enabled {
            return 0;
        }
        let off = self.offsets[rank];
        if t < off + self.refi {
            0
        } else {
            (t - off) / self.refi
        }
    }

    /// The cycle at which window `k` (k >= 1) of `rank` begins.
    #[inline]
    pub(super) fn window_start(&self, rank: usize, k: u64) -> u64 {
        k * self.refi + self.offsets[rank]
    }

    /// The first cycle >= `t` at which `rank` may take a command, given that `t` is in epoch
    /// `k` (= `self.epoch(rank, t)`): the end of the window if `t` falls inside it.
    #[inline]
    pub(super) fn after_window(&self, rank: usize, k: u64, t: u64) -> u64 {
        if k == 0 {
            return t;
        }
        let end = self.window_start(rank, k) + self.rfc;
        t.max(end)
    }

    /// Refresh windows begun at or before `t`, summed over the ranks of one channel.
    pub(super) fn count(&self, t: u64) -> u64 {
        (0..self.offsets.len()).map(|r| self.epoch(r, t)).sum()
    }

    /// The earliest window start of any rank after `t` (None if refresh is off).
    pub(super) fn next_start_after(&self, t: u64) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        (0..self.offsets.len())
            .map(|r| self.window_start(r, self.epoch(r, t) + 1))
            .min()
    }
}
