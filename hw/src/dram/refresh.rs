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

/// The refresh epoch a cycle falls in, with the cycles that bound the rank's commands in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Epoch {
    /// Refresh windows of the rank begun at or before the cycle.
    pub(super) index: u64,
    /// The first cycle of the epoch: the start of the window that began it (0 in epoch 0).
    pub(super) start: u64,
    /// The first cycle of the epoch at which the rank takes commands: the end of the window
    /// that began it (0 in epoch 0).
    pub(super) open_from: u64,
    /// The start of the next window, which ends the epoch (`u64::MAX` with refresh off).
    pub(super) next_start: u64,
}

impl Epoch {
    /// Whether cycle `t` falls in this epoch.
    #[inline]
    pub(super) fn contains(&self, t: u64) -> bool {
        self.start <= t && t < self.next_start
    }
}

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

    /// The epoch of `rank` that `t` falls in, with its bounds (one division).
    #[inline]
    pub(super) fn epoch_at(&self, rank: usize, t: u64) -> Epoch {
        if !self.enabled {
            return Epoch {
                index: 0,
                start: 0,
                open_from: 0,
                next_start: u64::MAX,
            };
        }
        let index = self.epoch(rank, t);
        let start = if index == 0 {
            0
        } else {
            self.window_start(rank, index)
        };
        Epoch {
            index,
            start,
            open_from: if index == 0 { 0 } else { start + self.rfc },
            next_start: self.window_start(rank, index + 1),
        }
    }

    /// The cycle at which window `k` (k >= 1) of `rank` begins.
    #[inline]
    pub(super) fn window_start(&self, rank: usize, k: u64) -> u64 {
        k * self.refi + self.offsets[rank]
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
