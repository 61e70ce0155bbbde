//! Thrashing detection: the share of cycles spent servicing paging faults, per window.
//!
//! Time is cut into windows of `os.thrashing_window` cycles from cycle 0. A cycle counts as
//! paging when at least one fault that waits for the swap device (a major fault, or one whose
//! victim had to be written out) is between its trap and its reply; overlapping faults count
//! once. Minor faults do not count: a program touching fresh memory is warming up, not
//! thrashing (Denning's thrashing is time lost moving pages to and from the backing store). A window whose share of such cycles exceeds `os.thrashing_threshold` is a
//! thrashing window; the last, partial window is judged on the cycles it covers.

pub struct Thrashing {
    window: u64,
    threshold: f64,
    /// Fault-service cycles per window.
    busy: Vec<u64>,
    /// Cycles before this are already counted.
    covered: u64,
}

impl Thrashing {
    pub fn new(window: u64, threshold: f64) -> Thrashing {
        Thrashing {
            window: window.max(1),
            threshold,
            busy: Vec::new(),
            covered: 0,
        }
    }

    /// Faults were being serviced over `[start, end)`.
    pub fn add(&mut self, start: u64, end: u64) {
        let mut s = start.max(self.covered);
        while s < end {
            let w = s / self.window;
            let stop = end.min((w + 1) * self.window);
            if self.busy.len() <= w as usize {
                self.busy.resize(w as usize + 1, 0);
            }
            self.busy[w as usize] += stop - s;
            s = stop;
        }
        self.covered = self.covered.max(end);
    }

    /// Thrashing windows of a run that ended at cycle `end`.
    pub fn windows(&self, end: u64) -> u64 {
        self.busy
            .iter()
            .enumerate()
            .filter(|&(w, &busy)| {
                let from = w as u64 * self.window;
                let len = end.saturating_sub(from).min(self.window);
                len > 0 && busy as f64 > self.threshold * len as f64
            })
            .count() as u64
    }

    /// Share of fault-service cycles in each window up to `end`.
    pub fn shares(&self, end: u64) -> Vec<f64> {
        let n = end.div_ceil(self.window);
        (0..n)
            .map(|w| {
                let len = (end - w * self.window).min(self.window);
                let busy = self.busy.get(w as usize).copied().unwrap_or(0);
                busy as f64 / len as f64
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_count_once_and_intervals_split_across_windows() {
        let mut t = Thrashing::new(100, 0.5);
        t.add(10, 70); // 60 in window 0
        t.add(50, 80); // overlaps: only 70..80 counts
        t.add(190, 260); // 10 in window 1, 60 in window 2
        assert_eq!(t.busy, vec![70, 10, 60]);
        // Window 0: 70% > 50%; window 1: 10%; window 2 ends at 250: 60 / 50 cycles > 50%.
        assert_eq!(t.windows(250), 2);
        assert_eq!(t.windows(300), 2);
        t.add(300, 351);
        assert_eq!(t.windows(400), 3);
        assert_eq!(t.shares(200), vec![0.7, 0.1]);
    }
}
