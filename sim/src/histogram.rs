//! An exact latency histogram: every distinct value with its count, so percentiles are exact
//! and memory stays bounded by the number of distinct latencies, not by the run length.

use serde::Serialize;
use std::collections::BTreeMap;

/// Values below this are counted in a flat array (a record is an increment); larger ones, rare
/// for latencies in cycles, in a map.
const FLAT: usize = 1024;

#[derive(Clone, Debug)]
pub struct Histogram {
    /// Counts of values below [`FLAT`], indexed by value.
    flat: Box<[u64; FLAT]>,
    /// Counts of values from [`FLAT`] up.
    counts: BTreeMap<u64, u64>,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            flat: Box::new([0; FLAT]),
            counts: BTreeMap::new(),
        }
    }
}

impl PartialEq for Histogram {
    fn eq(&self, o: &Histogram) -> bool {
        self.iter().eq(o.iter())
    }
}

/// Summary figures of a histogram (`latency` in stats.json).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Histogram {
    /// Count one sample of `v`: an increment (the sample count and sum are derived from the
    /// counts when asked for, so a record stores nothing else).
    #[inline]
    pub fn record(&mut self, v: u64) {
        match self.flat.get_mut(v as usize) {
            Some(c) => *c += 1,
            None => self.record_large(v),
        }
    }

    /// [`Histogram::record`] of a value from [`FLAT`] up.
    #[cold]
    #[inline(never)]
    fn record_large(&mut self, v: u64) {
        *self.counts.entry(v).or_insert(0) += 1;
    }

    /// The number of samples.
    pub fn count(&self) -> u64 {
        self.iter().map(|(_, c)| c).sum()
    }

    /// The sum of all samples (exact).
    fn sum(&self) -> u128 {
        self.iter().map(|(v, c)| v as u128 * c as u128).sum()
    }

    /// The smallest value v such that at least q of all samples are <= v (nearest-rank).
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (v, c) in self.iter() {
            seen += c;
            if seen >= rank {
                return v;
            }
        }
        self.max()
    }

    /// The largest value recorded (0 when empty).
    fn max(&self) -> u64 {
        match self.counts.keys().next_back() {
            Some(&v) => v,
            None => self.flat.iter().rposition(|&c| c > 0).unwrap_or(0) as u64,
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let n = self.count();
        LatencySummary {
            count: n,
            mean: if n == 0 {
                0.0
            } else {
                self.sum() as f64 / n as f64
            },
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: self.max(),
        }
    }

    /// (value, count) pairs in increasing order of value.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let flat = (self.flat.iter().enumerate())
            .filter(|&(_, &c)| c > 0)
            .map(|(v, &c)| (v as u64, c));
        flat.chain(self.counts.iter().map(|(&v, &c)| (v, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!((s.p50, s.p99, s.max, s.count), (50, 99, 100, 100));
        assert_eq!(s.mean, 50.5);
    }

    #[test]
    fn values_on_both_sides_of_the_flat_range_stay_exact() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        let values = [5, 1023, 1024, 70_000, 5, 3, 1_000_000, 1023];
        for v in values {
            a.record(v);
        }
        for v in values.iter().rev() {
            b.record(*v);
        }
        assert_eq!(a, b);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [
                (3, 1),
                (5, 2),
                (1023, 2),
                (1024, 1),
                (70_000, 1),
                (1_000_000, 1)
            ]
        );
        let s = a.summary();
        assert_eq!(
            (s.p50, s.p99, s.max, s.count),
            (1023, 1_000_000, 1_000_000, 8)
        );
        let mut small = Histogram::default();
        small.record(7);
        assert_eq!(small.summary().max, 7);
        assert_ne!(small, a);
    }

    /// The count, sum and percentiles derived from the counts are those of the samples.
    #[test]
    fn summary_matches_the_samples() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut h = Histogram::default();
        let mut samples: Vec<u64> = (0..10_000)
            .map(|_| match rng.random_range(0..10) {
                0 => rng.random_range(FLAT as u64..1 << 40),
                _ => rng.random_range(0..FLAT as u64),
            })
            .collect();
        for &v in &samples {
            h.record(v);
        }
        samples.sort_unstable();
        let n = samples.len() as u64;
        let sum: u128 = samples.iter().map(|&v| v as u128).sum();
        let s = h.summary();
        assert_eq!(s.count, n);
        assert_eq!(s.mean, sum as f64 / n as f64);
        assert_eq!(s.p50, samples[(n as usize).div_ceil(2) - 1]);
        assert_eq!(s.p99, samples[(n as f64 * 0.99).ceil() as usize - 1]);
        assert_eq!(s.max, *samples.last().unwrap());
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Histogram::default().summary(), LatencySummary::default());
    }
}
