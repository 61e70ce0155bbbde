//! An exact latency histogram: every distinct value with its count, so percentiles are exact
//! and memory stays bounded by the number of distinct latencies, not by the run length.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    counts: BTreeMap<u64, u64>,
    n: u64,
    sum: u128,
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
    #[inline]
    pub fn record(&mut self, v: u64) {
        *self.counts.entry(v).or_insert(0) += 1;
        self.n += 1;
        self.sum += v as u128;
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    /// The smallest value v such that at least q of all samples are <= v (nearest-rank).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (&v, &c) in &self.counts {
            seen += c;
            if seen >= rank {
                return v;
            }
        }
        *self.counts.keys().next_back().expect("non-empty")
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.n,
            mean: if self.n == 0 {
                0.0
            } else {
                self.sum as f64 / self.n as f64
            },
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: self.counts.keys().next_back().copied().unwrap_or(0),
        }
    }

    /// (value, count) pairs in increasing order of value.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter().map(|(&v, &c)| (v, c))
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
    fn empty_is_zero() {
        assert_eq!(Histogram::default().summary(), LatencySummary::default());
    }
}
