//! Seeded synthetic generators.
//!
//! Common to all (from [`WorkloadConfig`]):
//! - `accesses` records are produced, then the workload is exhausted;
//! - the footprint is `pages` 4 KiB pages from `base`: every access lies in
//!   `[base, base + pages * 4096)`;
//! - accesses are `access_size` bytes (a power of two up to 4096) at `access_size`-aligned
//!   addresses, so none crosses a page (pointer chase: 8 bytes);
//! - each access is a Write with probability `write_ratio`, else a Read (pointer chase: always
//!   Read);
//! - each access carries `instrs = instrs_per_access`;
//! - randomness comes from `Xoshiro256PlusPlus::seed_from_u64(seed ^ K)` with a constant `K` per
//!   generator, so a run's seed fixes the stream and two generators never share a stream.
//!
//! Generators run on the simulation thread: they write straight into the batch buffer, with no
//! allocation per record. Zipf and pointer chase build their per-page tables once, at
//! construction (4 bytes a page, plus 8 for zipf's alias table up to
//! [`ZIPF_ALIAS_MAX_PAGES`] pages).
//!
//! They are made through [`super::build`], which validates the config first.

use super::{BATCH_SIZE, Record, Workload, WorkloadConfig, WorkloadError};
use rand::distr::Uniform;
use rand::{Rng, RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use vmsim_hw::{AccessKind, PAGE_SHIFT, PAGE_SIZE, VirtAddr};

/// Per-generator seed constants (ASCII tags), xor-ed with the run's seed.
const SEQUENTIAL_SEED: u64 = u64::from_be_bytes(*b"wl-seqnt");
const STRIDE_SEED: u64 = u64::from_be_bytes(*b"wl-strid");
const RANDOM_SEED: u64 = u64::from_be_bytes(*b"wl-randm");
const ZIPF_SEED: u64 = u64::from_be_bytes(*b"wl-zipfs");
const POINTER_CHASE_SEED: u64 = u64::from_be_bytes(*b"wl-chase");

/// Size of a pointer-chase access: one 8-byte pointer.
pub const POINTER_BYTES: u32 = 8;

/// What every generator shares: the count left, the write coin, the record template.
struct Common {
    remaining: u64,
    base: u64,
    access_size: u32,
    instrs: u32,
    /// Probability of a write; the coin is a uniform [0, 1) draw below it.
    write_ratio: f64,
    rng: Xoshiro256PlusPlus,
}

impl Common {
    /// Expects a validated config.
    fn new(cfg: &WorkloadConfig, seed: u64, tag: u64) -> Common {
        Common {
            remaining: cfg.accesses,
            base: cfg.base,
            access_size: cfg.access_size,
            instrs: cfg.instrs_per_access,
            write_ratio: cfg.write_ratio,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ tag),
        }
    }

    /// Fill `buf` with up to `BATCH_SIZE` records from `next(rng)`, which returns the byte
    /// offset of the access within the footprint; the read/write coin is tossed after it.
    /// The coin always takes one draw, so the addresses for a given seed do not depend on
    /// `write_ratio` (changing it changes only which accesses write).
    #[inline]
    fn fill(
        &mut self,
        buf: &mut Vec<Record>,
        mut next: impl FnMut(&mut Xoshiro256PlusPlus) -> u64,
    ) -> bool {
        buf.clear();
        let n = self.remaining.min(BATCH_SIZE as u64) as usize;
        if n == 0 {
            return false;
        }
        buf.reserve(n);
        for _ in 0..n {
            let offset = next(&mut self.rng);
            let kind = if unit_f64(&mut self.rng) < self.write_ratio {
                AccessKind::Write
            } else {
                AccessKind::Read
            };
            buf.push(Record {
                kind,
                va: VirtAddr(self.base + offset),
                size: self.access_size,
                instrs: self.instrs,
                data: None,
            });
        }
        self.remaining -= n as u64;
        true
    }
}

/// `sequential`: access i is at `base + (i * access_size) mod (pages * 4096)`, i = 0..accesses:
/// a walk through the footprint in `access_size` steps, wrapping to the start.
/// Parameters: `accesses`, `pages`, `base`, `access_size`, `write_ratio`, `instrs_per_access`.
pub struct Sequential {
    common: Common,
    footprint: u64,
    pos: u64,
    pages: u64,
}

impl Sequential {
    /// Expects a validated config (see [`WorkloadConfig::validate`]); [`super::build`] is the
    /// public way in.
    pub(crate) fn new(cfg: &WorkloadConfig, seed: u64) -> Sequential {
        Sequential {
            common: Common::new(cfg, seed, SEQUENTIAL_SEED),
            footprint: cfg.pages * PAGE_SIZE,
            pos: 0,
            pages: cfg.pages,
        }
    }
}

impl Workload for Sequential {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let (footprint, step) = (self.footprint, u64::from(self.common.access_size));
        let pos = &mut self.pos;
        Ok(self.common.fill(buf, |_| {
            let at = *pos;
            *pos += step;
            if *pos >= footprint {
                *pos -= footprint;
            }
            at
        }))
    }

    fn describe(&self) -> String {
        format!(
            "sequential over {} pages ({}-byte steps)",
            self.pages, self.common.access_size
        )
    }
}

/// `stride`: access i is at `base + (i * stride) mod (pages * 4096)`, rounded down to a
/// multiple of `access_size` (so it never crosses a page). The default stride, 4096 + 64, touches
/// a new page and a new cache line each time.
/// Parameters: `accesses`, `pages`, `base`, `stride`, `access_size`, `write_ratio`,
/// `instrs_per_access`.
pub struct Stride {
    common: Common,
    footprint: u64,
    step: u64,
    pos: u64,
    pages: u64,
    stride: u64,
}

impl Stride {
    /// Expects a validated config (see [`WorkloadConfig::validate`]); [`super::build`] is the
    /// public way in.
    pub(crate) fn new(cfg: &WorkloadConfig, seed: u64) -> Stride {
        let footprint = cfg.pages * PAGE_SIZE;
        Stride {
            common: Common::new(cfg, seed, STRIDE_SEED),
            footprint,
            step: cfg.stride % footprint,
            pos: 0,
            pages: cfg.pages,
            stride: cfg.stride,
        }
    }
}

impl Workload for Stride {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let (footprint, step) = (self.footprint, self.step);
        let align = !(u64::from(self.common.access_size) - 1);
        let pos = &mut self.pos;
        Ok(self.common.fill(buf, |_| {
            let at = *pos & align;
            *pos += step;
            if *pos >= footprint {
                *pos -= footprint;
            }
            at
        }))
    }

    fn describe(&self) -> String {
        format!("stride of {} bytes over {} pages", self.stride, self.pages)
    }
}

/// `random`: each access picks a page uniformly in `[0, pages)` and an `access_size`-aligned
/// offset uniformly within it (one draw over `pages * 4096 / access_size` slots).
/// Parameters: `accesses`, `pages`, `base`, `access_size`, `write_ratio`, `instrs_per_access`.
pub struct UniformRandom {
    common: Common,
    slots: Uniform<u64>,
    slot_shift: u32,
    pages: u64,
}

impl UniformRandom {
    /// Expects a validated config (see [`WorkloadConfig::validate`]); [`super::build`] is the
    /// public way in.
    pub(crate) fn new(cfg: &WorkloadConfig, seed: u64) -> UniformRandom {
        let slot_shift = cfg.access_size.trailing_zeros();
        let slots = (cfg.pages * PAGE_SIZE) >> slot_shift;
        UniformRandom {
            common: Common::new(cfg, seed, RANDOM_SEED),
            // validate() keeps pages >= 1, so the range is never empty.
            slots: Uniform::new(0, slots.max(1)).unwrap_or_else(|_| unreachable!()),
            slot_shift,
            pages: cfg.pages,
        }
    }
}

impl Workload for UniformRandom {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let (slots, shift) = (self.slots, self.slot_shift);
        Ok(self.common.fill(buf, |rng| rng.sample(slots) << shift))
    }

    fn describe(&self) -> String {
        format!("uniform random over {} pages", self.pages)
    }
}

/// A uniform double in [0, 1) from the top 53 bits of one draw (fixed here, independent of
/// `rand`'s float conversion).
#[inline]
fn unit_f64(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Zipf(n, s) sampler over ranks 1..=n, P(k) proportional to 1 / k^s, by rejection-inversion
/// (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from monotone
/// discrete distributions", ACM TOMACS 6(3), 1996), following Apache Commons RNG's
/// `RejectionInversionZipfSampler`.
///
/// O(1) memory and set-up, any n and any s > 0 (including s = 1); a sample costs one uniform
/// draw and two or three `exp`/`ln` calls, with an expected number of rounds below 1.1 for all
/// parameters (most samples are accepted by the cheap `k - x <= threshold` test).
#[derive(Clone, Debug)]
pub struct ZipfSampler {
    n: f64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    threshold: f64,
}

impl ZipfSampler {
    /// `n >= 1` ranks, exponent `s > 0` (finite).
    pub fn new(n: u64, s: f64) -> ZipfSampler {
        let mut z = ZipfSampler {
            n: n.max(1) as f64,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            threshold: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(z.n + 0.5);
        z.threshold = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// A rank in 1..=n.
    #[inline]
    pub fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        loop {
            let u = self.h_integral_n + unit_f64(rng) * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.threshold || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    /// h(x) = x^-s, the unnormalised density.
    #[inline]
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// H(x), an antiderivative of h: (x^(1-s) - 1) / (1 - s), or ln x at s = 1.
    #[inline]
    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    /// The inverse of H.
    #[inline]
    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
#[inline]
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
#[inline]
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// Zipf(n, s) by Walker's alias method (Vose's construction): O(n) set-up and 8 bytes a rank,
/// then O(1) per sample with a single 64-bit draw and one table read, several times faster than
/// rejection-inversion while the table stays in cache.
///
/// A draw r picks column `floor(r * n / 2^64)`; the remaining fraction `(r * n) mod 2^64` (whose
/// top 32 bits are uniform and independent of the column) is compared with the column's 32-bit
/// threshold to choose the column's own rank or its alias. Probabilities are exact to 2^-32
/// per column.
#[derive(Clone, Debug)]
pub struct ZipfAlias {
    /// Per 0-based rank: [threshold (probability of keeping the rank, times 2^32), alias].
    columns: Vec<[u32; 2]>,
}

impl ZipfAlias {
    /// `1 <= n <= 2^32` ranks, exponent `s > 0` (finite).
    pub fn new(n: u32, s: f64) -> ZipfAlias {
        let n = n.max(1) as usize;
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        drop(weights);
        // Columns that keep themselves (threshold 2^32 - 1, alias = self) are exact.
        let mut columns: Vec<[u32; 2]> = (0..n as u32).map(|i| [u32::MAX, i]).collect();
        let (mut small, mut large): (Vec<u32>, Vec<u32>) =
            (0..n as u32).partition(|&i| scaled[i as usize] < 1.0);
        while let (Some(&l), Some(&g)) = (small.last(), large.last()) {
            small.pop();
            large.pop();
            let p = scaled[l as usize];
            columns[l as usize] = [(p * 4_294_967_296.0) as u32, g];
            scaled[g as usize] = (scaled[g as usize] + p) - 1.0;
            if scaled[g as usize] < 1.0 {
                small.push(g);
            } else {
                large.push(g);
            }
        }
        // Whatever is left (rounding) keeps itself, as initialised.
        ZipfAlias { columns }
    }

    /// A rank in 1..=n.
    #[inline]
    pub fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        let n = self.columns.len() as u128;
        let m = u128::from(rng.next_u64()) * n;
        let column = (m >> 64) as usize;
        let fraction = ((m as u64) >> 32) as u32;
        let [threshold, alias] = self.columns[column];
        let rank0 = if fraction < threshold {
            column as u64
        } else {
            u64::from(alias)
        };
        rank0 + 1
    }
}

/// How [`Zipf`] draws ranks: an alias table up to [`ZIPF_ALIAS_MAX_PAGES`] pages,
/// rejection-inversion above (no table, constant speed).
#[derive(Clone, Debug)]
enum ZipfMethod {
    Alias(ZipfAlias),
    RejectionInversion(ZipfSampler),
}

/// Largest footprint for which [`Zipf`] uses the alias table (8 bytes a page: 8 MiB at 2^20).
pub const ZIPF_ALIAS_MAX_PAGES: u64 = 1 << 20;

/// A seeded uniformly random permutation of 0..n (Fisher-Yates).
fn shuffled(n: u32, rng: &mut Xoshiro256PlusPlus) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    for i in (1..n as usize).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

/// `zipf`: each access draws a page rank k in 1..=pages from Zipf(pages, zipf_s)
/// ([`ZipfAlias`] up to [`ZIPF_ALIAS_MAX_PAGES`] pages, [`ZipfSampler`] above), maps it to a page through a seeded random permutation (so the hot pages
/// are scattered over the footprint, not adjacent), and picks an `access_size`-aligned offset
/// uniformly within the page. Rank 1 is the most frequent page.
/// Parameters: `accesses`, `pages` (at most [`super::MAX_TABLE_PAGES`]), `base`, `access_size`,
/// `zipf_s`, `write_ratio`, `instrs_per_access`.
pub struct Zipf {
    common: Common,
    method: ZipfMethod,
    /// `page_of_rank[k - 1]` is the page of rank k.
    page_of_rank: Vec<u32>,
    slot_mask: u64,
    slot_shift: u32,
    s: f64,
}

impl Zipf {
    /// Expects a validated config (see [`WorkloadConfig::validate`]); [`super::build`] is the
    /// public way in.
    pub(crate) fn new(cfg: &WorkloadConfig, seed: u64) -> Zipf {
        Zipf::with_alias_limit(cfg, seed, ZIPF_ALIAS_MAX_PAGES)
    }

    /// [`Zipf::new`] with the alias table used only up to `alias_max_pages` pages.
    fn with_alias_limit(cfg: &WorkloadConfig, seed: u64, alias_max_pages: u64) -> Zipf {
        let mut common = Common::new(cfg, seed, ZIPF_SEED);
        let pages = cfg.pages.min(super::MAX_TABLE_PAGES) as u32;
        let page_of_rank = shuffled(pages, &mut common.rng);
        let slot_shift = cfg.access_size.trailing_zeros();
        let method = if u64::from(pages) <= alias_max_pages {
            ZipfMethod::Alias(ZipfAlias::new(pages, cfg.zipf_s))
        } else {
            ZipfMethod::RejectionInversion(ZipfSampler::new(u64::from(pages), cfg.zipf_s))
        };
        Zipf {
            common,
            method,
            page_of_rank,
            slot_mask: (PAGE_SIZE >> slot_shift) - 1,
            slot_shift,
            s: cfg.zipf_s,
        }
    }

    /// The page (0-based, from `base`) of rank `k` (1-based).
    pub fn page_of_rank(&self, k: u64) -> u64 {
        u64::from(self.page_of_rank[(k - 1) as usize])
    }
}

impl Workload for Zipf {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let table = &self.page_of_rank;
        let (mask, shift) = (self.slot_mask, self.slot_shift);
        let at = |rank: u64, rng: &mut Xoshiro256PlusPlus| {
            let page = u64::from(table[(rank - 1) as usize]);
            let slot = rng.next_u64() & mask;
            (page << PAGE_SHIFT) | (slot << shift)
        };
        // One loop per method, so the choice is not made per access.
        Ok(match &self.method {
            ZipfMethod::Alias(a) => self.common.fill(buf, |rng| at(a.sample(rng), rng)),
            ZipfMethod::RejectionInversion(z) => {
                self.common.fill(buf, |rng| at(z.sample(rng), rng))
            }
        })
    }

    fn describe(&self) -> String {
        format!("zipf over {} pages (s={})", self.page_of_rank.len(), self.s)
    }
}

/// `pointer-chase`: a linked list threaded through every page in a seeded random order. The
/// order is one random cycle over all pages (Sattolo's algorithm), so the walk visits every page
/// exactly once in each run of `pages` accesses, starting at page 0. Each access is an 8-byte
/// Read of the "next pointer" at offset 0 of the current page; `access_size` and
/// `write_ratio` are ignored.
/// Parameters: `accesses`, `pages` (at most [`super::MAX_TABLE_PAGES`]), `base`,
/// `instrs_per_access`.
pub struct PointerChase {
    common: Common,
    /// `next[p]` is the page after page p.
    next: Vec<u32>,
    current: u32,
}

impl PointerChase {
    /// Expects a validated config (see [`WorkloadConfig::validate`]); [`super::build`] is the
    /// public way in.
    pub(crate) fn new(cfg: &WorkloadConfig, seed: u64) -> PointerChase {
        let mut common = Common::new(cfg, seed, POINTER_CHASE_SEED);
        common.access_size = POINTER_BYTES;
        let pages = cfg.pages.min(super::MAX_TABLE_PAGES) as u32;
        // Sattolo: like Fisher-Yates but j < i, which yields a single n-cycle.
        let mut next: Vec<u32> = (0..pages).collect();
        for i in (1..pages as usize).rev() {
            let j = common.rng.random_range(0..i);
            next.swap(i, j);
        }
        PointerChase {
            common,
            next,
            current: 0,
        }
    }
}

impl Workload for PointerChase {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let c = &mut self.common;
        buf.clear();
        let n = c.remaining.min(BATCH_SIZE as u64) as usize;
        if n == 0 {
            return Ok(false);
        }
        buf.reserve(n);
        for _ in 0..n {
            buf.push(Record {
                kind: AccessKind::Read,
                va: VirtAddr(c.base + (u64::from(self.current) << PAGE_SHIFT)),
                size: POINTER_BYTES,
                instrs: c.instrs,
                data: None,
            });
            self.current = self.next[self.current as usize];
        }
        c.remaining -= n as u64;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("pointer chase over {} pages", self.next.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{WorkloadKind, build};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const SYNTHETIC: [WorkloadKind; 5] = [
        WorkloadKind::Sequential,
        WorkloadKind::Stride,
        WorkloadKind::Random,
        WorkloadKind::Zipf,
        WorkloadKind::PointerChase,
    ];

    fn cfg(kind: WorkloadKind, accesses: u64, pages: u64) -> WorkloadConfig {
        WorkloadConfig {
            kind,
            accesses,
            pages,
            ..WorkloadConfig::default()
        }
    }

    /// All records of a workload, checking the batch contract on the way.
    fn all(c: &WorkloadConfig, seed: u64) -> Vec<Record> {
        let mut w = build(c, seed).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while w.next_batch(&mut buf).unwrap() {
            assert!(!buf.is_empty() && buf.len() <= BATCH_SIZE);
            out.extend_from_slice(&buf);
        }
        assert!(buf.is_empty());
        assert!(
            !w.next_batch(&mut buf).unwrap(),
            "exhausted stays exhausted"
        );
        out
    }

    fn page(c: &WorkloadConfig, r: &Record) -> u64 {
        (r.va.0 - c.base) >> PAGE_SHIFT
    }

    #[test]
    fn same_seed_gives_the_same_stream_and_another_seed_another() {
        for kind in SYNTHETIC {
            let c = cfg(kind, 10_000, 512);
            let a = all(&c, 42);
            assert_eq!(a.len(), 10_000, "{kind}");
            assert_eq!(a, all(&c, 42), "{kind}: same seed");
            assert_ne!(a, all(&c, 43), "{kind}: different seed");
        }
    }

    #[test]
    fn generators_emit_exactly_the_configured_count_with_instrs_per_access() {
        for kind in SYNTHETIC {
            for accesses in [0, 1, BATCH_SIZE as u64, 3 * BATCH_SIZE as u64 + 5] {
                let c = WorkloadConfig {
                    instrs_per_access: 3,
                    ..cfg(kind, accesses, 64)
                };
                let recs = all(&c, 1);
                assert_eq!(recs.len() as u64, accesses, "{kind}");
                assert!(recs.iter().all(|r| r.instrs == 3), "{kind}");
            }
        }
    }

    #[test]
    fn sequential_walks_in_access_size_steps_and_wraps() {
        let c = WorkloadConfig {
            access_size: 64,
            ..cfg(WorkloadKind::Sequential, 300, 2)
        };
        let recs = all(&c, 0);
        for (i, r) in recs.iter().enumerate() {
            let want = c.base + (i as u64 * 64) % (2 * 4096);
            assert_eq!(r.va.0, want, "access {i}");
            assert_eq!(r.size, 64);
        }
    }

    #[test]
    fn stride_follows_the_formula_rounded_down_to_access_size() {
        for stride in [4096 + 64, 100, 3 * 4096, 50_000, 7] {
            let c = WorkloadConfig {
                stride,
                access_size: 16,
                ..cfg(WorkloadKind::Stride, 1000, 5)
            };
            let recs = all(&c, 0);
            for (i, r) in recs.iter().enumerate() {
                let want = c.base + (((i as u64 * stride) % (5 * 4096)) & !15);
                assert_eq!(r.va.0, want, "stride {stride}, access {i}");
            }
        }
    }

    #[test]
    fn write_ratio_is_roughly_respected() {
        for kind in [
            WorkloadKind::Sequential,
            WorkloadKind::Stride,
            WorkloadKind::Random,
            WorkloadKind::Zipf,
        ] {
            for ratio in [0.0, 0.1, 0.25, 0.5, 1.0] {
                let c = WorkloadConfig {
                    write_ratio: ratio,
                    ..cfg(kind, 100_000, 256)
                };
                let recs = all(&c, 9);
                let writes = recs.iter().filter(|r| r.kind == AccessKind::Write).count();
                let reads = recs.iter().filter(|r| r.kind == AccessKind::Read).count();
                assert_eq!(writes + reads, recs.len(), "only reads and writes");
                let share = writes as f64 / recs.len() as f64;
                assert!((share - ratio).abs() < 0.01, "{kind} {ratio}: {share}");
            }
        }
    }

    #[test]
    fn write_ratio_changes_only_which_accesses_write() {
        for kind in [
            WorkloadKind::Random,
            WorkloadKind::Zipf,
            WorkloadKind::Stride,
        ] {
            let at = |ratio| -> Vec<u64> {
                let c = WorkloadConfig {
                    write_ratio: ratio,
                    ..cfg(kind, 5000, 300)
                };
                all(&c, 8).iter().map(|r| r.va.0).collect()
            };
            assert_eq!(at(0.0), at(0.3), "{kind}");
            assert_eq!(at(0.0), at(1.0), "{kind}");
        }
    }

    #[test]
    fn pointer_chase_visits_every_page_exactly_once_per_cycle() {
        for pages in [1, 2, 3, 97, 1000] {
            let c = WorkloadConfig {
                write_ratio: 1.0, // ignored: the chase only reads
                access_size: 64,  // ignored: the pointer is 8 bytes
                ..cfg(WorkloadKind::PointerChase, 3 * pages, pages)
            };
            let recs = all(&c, 5);
            assert!(
                recs.iter()
                    .all(|r| r.kind == AccessKind::Read && r.size == 8)
            );
            assert!(recs.iter().all(|r| r.va.page_offset() == 0));
            assert_eq!(page(&c, &recs[0]), 0, "the walk starts at page 0");
            for cycle in recs.chunks(pages as usize) {
                let mut seen = vec![false; pages as usize];
                for r in cycle {
                    let p = page(&c, r) as usize;
                    assert!(!seen[p], "page {p} twice in one cycle of {pages}");
                    seen[p] = true;
                }
                assert!(seen.iter().all(|&s| s));
            }
            // The same cycle every time round.
            let n = pages as usize;
            assert_eq!(recs[..n], recs[n..2 * n]);
        }
    }

    #[test]
    fn pointer_chase_order_is_not_the_address_order() {
        let c = cfg(WorkloadKind::PointerChase, 1000, 1000);
        let recs = all(&c, 5);
        let ascending = recs.windows(2).filter(|w| w[1].va > w[0].va).count();
        assert!(
            ascending < 700,
            "{ascending} ascending steps look sequential"
        );
    }

    #[test]
    fn zipf_rank_one_page_is_the_most_frequent() {
        let c = WorkloadConfig {
            zipf_s: 0.99,
            ..cfg(WorkloadKind::Zipf, 200_000, 1024)
        };
        // Alias table (the default at this size) and rejection-inversion (forced).
        for alias_limit in [ZIPF_ALIAS_MAX_PAGES, 0] {
            let mut z = Zipf::with_alias_limit(&c, 3, alias_limit);
            assert_eq!(
                matches!(z.method, ZipfMethod::Alias(_)),
                alias_limit > 0,
                "method choice"
            );
            let mut recs = Vec::new();
            let mut buf = Vec::new();
            while z.next_batch(&mut buf).unwrap() {
                recs.extend_from_slice(&buf);
            }
            assert_eq!(recs.len(), 200_000);
            let mut count: BTreeMap<u64, u64> = BTreeMap::new();
            for r in &recs {
                assert!(r.va.0 >= c.base && r.va.0 < c.base + 1024 * 4096);
                *count.entry(page(&c, r)).or_default() += 1;
            }
            let (&top, &top_n) = count.iter().max_by_key(|(_, n)| **n).unwrap();
            assert_eq!(top, z.page_of_rank(1), "limit {alias_limit}");
            // Rank 1 is twice as frequent as rank 2 at s ~ 1 (2^0.99 = 1.99).
            let second = count[&z.page_of_rank(2)] as f64;
            let ratio = top_n as f64 / second;
            assert!((ratio - 2f64.powf(0.99)).abs() < 0.15, "{ratio}");
            // Hot pages are scattered, not the first pages of the footprint.
            let first_ten: Vec<u64> = (1..=10).map(|k| z.page_of_rank(k)).collect();
            assert_ne!(first_ten, (0..10).collect::<Vec<u64>>());
        }
    }

    #[test]
    fn zipf_page_table_is_a_permutation() {
        let c = cfg(WorkloadKind::Zipf, 1, 5000);
        let z = Zipf::new(&c, 11);
        let mut pages: Vec<u64> = (1..=5000).map(|k| z.page_of_rank(k)).collect();
        pages.sort_unstable();
        assert_eq!(pages, (0..5000).collect::<Vec<u64>>());
    }

    /// Exact pmf of Zipf(n, s) for comparison.
    fn pmf(n: u64, s: f64) -> Vec<f64> {
        let w: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = w.iter().sum();
        w.into_iter().map(|x| x / total).collect()
    }

    #[test]
    fn zipf_samplers_match_the_exact_distribution() {
        for (n, s, alias) in [
            (10, 0.5, false),
            (50, 0.99, false),
            (50, 1.0, false),
            (20, 1.5, false),
            (1000, 2.5, false),
            (1, 0.99, true),
            (10, 0.5, true),
            (50, 0.99, true),
            (50, 1.0, true),
            (20, 1.5, true),
            (1000, 2.5, true),
            (3000, 0.2, true),
        ] {
            let sampler = ZipfSampler::new(n, s);
            let table = ZipfAlias::new(n as u32, s);
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(77);
            let draws = 400_000;
            let mut hist = vec![0u64; n as usize + 1];
            for _ in 0..draws {
                let k = if alias {
                    table.sample(&mut rng)
                } else {
                    sampler.sample(&mut rng)
                };
                assert!((1..=n).contains(&k));
                hist[k as usize] += 1;
            }
            let p = pmf(n, s);
            // Ranks 1..=10 one by one, then the bands 11..=100 and 101..=n.
            let n = n as usize;
            let mut bands: Vec<(usize, usize)> = (1..=n.min(10)).map(|k| (k, k)).collect();
            bands.extend(
                [(11, 100.min(n)), (101, n)]
                    .into_iter()
                    .filter(|(a, b)| a <= b),
            );
            for (lo, hi) in bands {
                let got = hist[lo..=hi].iter().sum::<u64>() as f64 / draws as f64;
                let want: f64 = p[lo - 1..hi].iter().sum();
                // Within 5 standard deviations of the binomial count.
                let sd = (want * (1.0 - want) / draws as f64).sqrt();
                assert!(
                    (got - want).abs() < 5.0 * sd + 1e-4,
                    "n={n} s={s} alias={alias} ranks {lo}..={hi}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn zipf_sampler_handles_one_rank_and_extreme_exponents() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let one = ZipfSampler::new(1, 0.99);
        assert!((0..1000).all(|_| one.sample(&mut rng) == 1));
        let steep = ZipfSampler::new(1 << 24, 20.0);
        assert!((0..1000).all(|_| steep.sample(&mut rng) <= 2));
        let flat = ZipfSampler::new(1 << 24, 1e-6);
        let mut max = 0;
        for _ in 0..1000 {
            let k = flat.sample(&mut rng);
            assert!((1..=1 << 24).contains(&k));
            max = max.max(k);
        }
        assert!(max > 1 << 20, "nearly uniform over 2^24 ranks, max {max}");
    }

    fn kind_strategy() -> impl Strategy<Value = WorkloadKind> {
        proptest::sample::select(SYNTHETIC.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every access of every generator stays inside [base, base + pages * 4096), is aligned
        /// to its size, and so never crosses a page.
        #[test]
        fn accesses_stay_in_the_footprint_and_within_one_page(
            kind in kind_strategy(),
            pages in 1u64..40,
            base_page in 0u64..1_000_000,
            size_log in 0u32..=12,
            stride in 1u64..20_000,
            seed in any::<u64>(),
        ) {
            let c = WorkloadConfig {
                kind,
                accesses: 2000,
                pages,
                base: base_page * 4096,
                stride,
                access_size: 1 << size_log,
                ..WorkloadConfig::default()
            };
            let lo = c.base;
            let hi = c.base + pages * 4096;
            for r in all(&c, seed) {
                prop_assert!(r.va.0 >= lo && r.va.0 + u64::from(r.size) <= hi, "{:?}", r);
                prop_assert_eq!(r.va.0 % u64::from(r.size), 0);
                prop_assert_eq!(r.va.vpn(), VirtAddr(r.va.0 + u64::from(r.size) - 1).vpn());
            }
        }
    }

    #[test]
    fn random_covers_all_pages_and_offsets() {
        let c = WorkloadConfig {
            access_size: 1024,
            ..cfg(WorkloadKind::Random, 20_000, 16)
        };
        let recs = all(&c, 2);
        let mut seen = [[false; 4]; 16];
        for r in &recs {
            seen[page(&c, r) as usize][(r.va.page_offset() / 1024) as usize] = true;
        }
        assert!(seen.iter().flatten().all(|&s| s));
    }

    /// Generator throughput. Run in release:
    /// `cargo test --release -p vmsim-sim generator_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "throughput measurement; run in release with --ignored --nocapture"]
    fn generator_throughput() {
        for (kind, pages) in [
            (WorkloadKind::Sequential, 4096),
            (WorkloadKind::Stride, 4096),
            (WorkloadKind::Random, 4096),
            (WorkloadKind::Zipf, 4096),
            (WorkloadKind::Zipf, 1 << 20),
            (WorkloadKind::PointerChase, 4096),
            (WorkloadKind::PointerChase, 1 << 20),
        ] {
            let c = cfg(kind, 50_000_000, pages);
            let mut w = build(&c, 1).unwrap();
            let mut buf = Vec::new();
            let start = std::time::Instant::now();
            let mut n = 0u64;
            let mut sum = 0u64;
            while w.next_batch(&mut buf).unwrap() {
                n += buf.len() as u64;
                sum = sum.wrapping_add(buf[buf.len() - 1].va.0);
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{:<40} {:6.1} M accesses/s (checksum {sum:x})",
                w.describe(),
                n as f64 / secs / 1e6
            );
        }
        // The two zipf methods head to head (set-up included).
        for pages in [1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20] {
            for (name, limit) in [("alias", u64::MAX), ("rejection-inversion", 0)] {
                let c = cfg(WorkloadKind::Zipf, 20_000_000, pages);
                let start = std::time::Instant::now();
                let mut z = Zipf::with_alias_limit(&c, 1, limit);
                let mut buf = Vec::new();
                let mut n = 0u64;
                while z.next_batch(&mut buf).unwrap() {
                    n += buf.len() as u64;
                }
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "zipf {pages:>8} pages, {name:<20} {:6.1} M accesses/s",
                    n as f64 / secs / 1e6
                );
            }
        }
    }
}
