//! The TLB: a set-associative CAM of translations, tagged with an address-space id.
//!
//! # Reference semantics
//!
//! - **Geometry**: `sets = entries / ways`, any whole number (a power of two is indexed with a
//!   mask, any other count with a modulo); `ways == entries` gives a fully associative TLB.
//! - **Indexing**: entries are 4 KiB-granular. The set of a translation for `vpn` is
//!   `vpn.0 % sets` (the low bits of the 4 KiB virtual page number), whatever the page size.
//! - **Page size** is carried for reporting only: the walker inserts a 2 MiB or 1 GiB mapping as
//!   the one 4 KiB piece being accessed (its `vpn` and the matching `ppn` within the huge frame),
//!   so another 4 KiB piece of the same huge page misses and walks again. This is a deliberate
//!   simplification (real TLBs hold one entry per huge page, often in separate arrays).
//! - **Match**: an entry matches `(asid, vpn)` if it is valid, its `vpn` is equal, and it is
//!   `global` or its `asid` is equal.
//! - **Counting**: [`Tlb::lookup`] counts one lookup and exactly one hit or miss; a hit updates
//!   replacement state. [`Tlb::probe`] and [`Tlb::set_dirty`] count nothing and touch no
//!   replacement state. [`Tlb::fill`] counts one fill; an eviction is counted when a valid entry
//!   of a different translation is displaced. Invalidations count each entry removed.
//! - **No duplicates**: a fill first looks for an entry that conflicts with the new one (same
//!   `vpn`, and either of the two is global or the asids are equal). The lowest-numbered such way
//!   is overwritten in place (a fill, not an eviction; replacement sees it as a fill); any further
//!   conflicting ways (only possible when a global entry is inserted over several per-asid ones)
//!   are dropped without being counted. Otherwise the policy chooses a way in the set
//!   ([`crate::replacement`]). So no `(asid, vpn)` is ever matched by two valid entries.

use crate::error::ConfigError;
use crate::pte::Perms;
use crate::replacement::{PolicyKind, Replacement};
use crate::types::{Asid, Cycles, PageSize, PhysAddr, Ppn, Vpn};
use crate::ways::first_of;
use serde::{Deserialize, Serialize};
use std::ops::Sub;

/// Geometry, policy and latency of one TLB level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlbConfig {
    /// Total entries (> 0).
    pub entries: usize,
    /// Associativity: must divide `entries`. `ways == entries` is fully associative.
    pub ways: usize,
    /// Replacement policy within a set.
    pub policy: PolicyKind,
    /// Lookup latency in core cycles (>= 1).
    pub latency: u64,
}

impl Default for TlbConfig {
    /// 64 entries, 4-way, LRU, 1 cycle: a Skylake-like L1 DTLB (REFERENCE.md). The sim crate
    /// sets its own per-level defaults.
    fn default() -> TlbConfig {
        TlbConfig {
            entries: 64,
            ways: 4,
            policy: PolicyKind::Lru,
            latency: 1,
        }
    }
}

impl TlbConfig {
    /// Check the config; `key` is this TLB's config key (e.g. `tlb.l1d`), and errors name the
    /// offending field under it (`tlb.l1d.ways`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        // Any number of sets (set = vpn % sets), as in Zen 2's 12-way STLB or Cortex-A76's 5-way.
        validate_geometry(key, "entries", self.entries, self.ways, false)?;
        if self.latency == 0 {
            return Err(ConfigError::new(
                format!("{key}.latency"),
                "must be at least 1 (lookup latency in core cycles)",
            ));
        }
        Ok(())
    }

    /// Number of sets, `entries / ways`.
    pub fn sets(&self) -> usize {
        self.entries / self.ways.max(1)
    }
}

/// Shared check for "`count` entries (or lines) in `ways` ways" (with `pow2_sets`, also a
/// power-of-two number of sets). `what` names
/// the count field (`entries`).
pub(crate) fn validate_geometry(
    key: &str,
    what: &str,
    count: usize,
    ways: usize,
    pow2_sets: bool,
) -> Result<(), ConfigError> {
    if count == 0 {
        return Err(ConfigError::new(
            format!("{key}.{what}"),
            "must be at least 1",
        ));
    }
    if ways == 0 {
        return Err(ConfigError::new(
            format!("{key}.ways"),
            format!("must be at least 1 and divide {what} ({count})"),
        ));
    }
    if !count.is_multiple_of(ways) {
        return Err(ConfigError::new(
            format!("{key}.ways"),
            format!(
                "must divide {what} ({count}) (got {ways} ways); use ways = {what} for fully \
                 associative"
            ),
        ));
    }
    if pow2_sets && !(count / ways).is_power_of_two() {
        return Err(ConfigError::new(
            format!("{key}.ways"),
            format!(
                "must divide {what} ({count}) and give a power-of-two number of sets \
                 (got {ways} ways); use ways = {what} for fully associative"
            ),
        ));
    }
    Ok(())
}

/// One translation as the TLB holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    pub asid: Asid,
    /// The 4 KiB virtual page (also for pieces of huge pages).
    pub vpn: Vpn,
    /// The 4 KiB physical frame that `vpn` maps to.
    pub ppn: Ppn,
    /// Size of the mapping the walker found (reporting only; see the module docs).
    pub size: PageSize,
    /// Effective permissions of the walk.
    pub perms: Perms,
    /// G bit of the leaf: matches every asid; survives non-global flushes.
    pub global: bool,
    /// D is already set in the leaf PTE.
    pub dirty: bool,
    /// Where the leaf PTE lives (to set D on a later write).
    pub pte_addr: PhysAddr,
}

/// Counters of one TLB.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlbStats {
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub fills: u64,
    pub evictions: u64,
    pub invalidations: u64,
}

impl Sub for TlbStats {
    type Output = TlbStats;
    /// Counts since an earlier snapshot (warm-up deltas); saturates at zero.
    fn sub(self, e: TlbStats) -> TlbStats {
        TlbStats {
            lookups: self.lookups.saturating_sub(e.lookups),
            hits: self.hits.saturating_sub(e.hits),
            misses: self.misses.saturating_sub(e.misses),
            fills: self.fills.saturating_sub(e.fills),
            evictions: self.evictions.saturating_sub(e.evictions),
            invalidations: self.invalidations.saturating_sub(e.invalidations),
        }
    }
}

/// A TLB level (see the module documentation for the exact semantics).
#[derive(Clone, Debug)]
pub struct Tlb {
    sets: usize,
    ways: usize,
    /// `sets - 1` when `sets` is a power of two (the set of `vpn` is then `vpn & set_mask`);
    /// otherwise `u64::MAX` and the set is `vpn % sets`.
    set_mask: u64,
    /// Per slot (`set * ways + way`): the vpn with [`VALID`] set if the slot holds an entry,
    /// so the lookup loop compares one word per way.
    tags: Vec<u64>,
    /// Slots holding an entry: once all do, a fill need not look for a free way.
    valid_count: usize,
    entries: Vec<TlbEntry>,
    /// Per set: the way of the set's last replacement update (a hit or a fill), or [`NO_WAY`].
    /// Touching that way again changes no policy's choices (LRU and FIFO orders and PLRU bits
    /// stay as they are; LRU stamps stay in the same order; random ignores hits), so a hit on
    /// it skips [`Replacement::on_hit`].
    last_touched: Vec<usize>,
    /// The last lookup that missed: its tag (`vpn | VALID`, or 0 for none) and asid. Only a
    /// fill can make it match (invalidations only remove entries), so every fill resets it.
    /// Until then a lookup of it misses without a search, and a non-global fill of it cannot
    /// conflict with an entry (see [`Tlb::place`]).
    last_miss: (u64, Asid),
    repl: Replacement,
    latency: Cycles,
    stats: TlbStats,
}

/// Tag flag: the slot holds an entry (vpns are below 2^52).
const VALID: u64 = 1 << 63;

/// Marks "no way" in `Tlb::last_touched`.
const NO_WAY: usize = usize::MAX;

const EMPTY: TlbEntry = TlbEntry {
    asid: Asid(0),
    vpn: Vpn(0),
    ppn: Ppn(0),
    size: PageSize::Size4K,
    perms: Perms {
        writable: false,
        user: false,
        executable: false,
    },
    global: false,
    dirty: false,
    pte_addr: PhysAddr(0),
};

impl Tlb {
    /// Build an empty TLB. `seed` feeds the random policy.
    ///
    /// Panics if `cfg` does not pass [`TlbConfig::validate`] (validate configs first).
    pub fn new(cfg: &TlbConfig, seed: u64) -> Tlb {
        if let Err(e) = cfg.validate("tlb") {
            panic!("Tlb::new with an unvalidated config: {e}");
        }
        let sets = cfg.sets();
        let n = cfg.entries;
        Tlb {
            sets,
            ways: cfg.ways,
            set_mask: if sets.is_power_of_two() {
                sets as u64 - 1
            } else {
                u64::MAX
            },
            tags: vec![0; n],
            valid_count: 0,
            entries: vec![EMPTY; n],
            last_touched: vec![NO_WAY; sets],
            last_miss: (0, Asid(0)),
            repl: Replacement::new(cfg.policy, sets, cfg.ways, seed),
            latency: Cycles(cfg.latency),
            stats: TlbStats::default(),
        }
    }

    #[inline]
    fn set_of(&self, vpn: Vpn) -> usize {
        if self.set_mask != u64::MAX {
            (vpn.0 & self.set_mask) as usize
        } else {
            (vpn.0 % self.sets as u64) as usize
        }
    }

    /// The way in `set` matching `(asid, vpn)`, if any.
    #[inline(always)]
    fn find(&self, set: usize, asid: Asid, vpn: Vpn) -> Option<usize> {
        let base = set * self.ways;
        let want = vpn.0 | VALID;
        // The tight scan compares tags only; the entry is read for a tag that matches.
        let w = self.first_tag(base, want)?;
        let e = &self.entries[base + w];
        if e.global || e.asid == asid {
            return Some(w);
        }
        self.find_after(base, w, asid, want)
    }

    /// The first way of the set at slot `base` whose tag is `want`. Sets of the common
    /// associativities (4, 8, 12 ways: the default TLBs) are scanned by a fully unrolled loop
    /// (one compare and branch per way); the result is the same as the general scan's.
    #[inline(always)]
    fn first_tag(&self, base: usize, want: u64) -> Option<usize> {
        let ways = self.ways;
        let tags = &self.tags[base..base + ways];
        if ways == 12 {
            first_of::<12>(tags, want)
        } else if ways == 4 {
            first_of::<4>(tags, want)
        } else if ways == 8 {
            first_of::<8>(tags, want)
        } else {
            tags.iter().position(|&t| t == want)
        }
    }

    /// [`Tlb::find`] past way `w`, whose tag matched but whose entry belongs to another asid
    /// (rare: the same page cached for two address spaces).
    #[cold]
    #[inline(never)]
    fn find_after(&self, base: usize, mut w: usize, asid: Asid, want: u64) -> Option<usize> {
        let tags = &self.tags[base..base + self.ways];
        while let Some(p) = tags[w + 1..].iter().position(|&t| t == want) {
            w += 1 + p;
            let e = &self.entries[base + w];
            if e.global || e.asid == asid {
                return Some(w);
            }
        }
        None
    }

    /// One lookup: counts a lookup and a hit or a miss; a hit updates replacement state.
    /// Allocation-free.
    #[inline(always)]
    pub fn lookup(&mut self, asid: Asid, vpn: Vpn) -> Option<TlbEntry> {
        self.stats.lookups += 1;
        if self.last_miss == (vpn.0 | VALID, asid) {
            // Nothing was filled since this same lookup missed.
            self.stats.misses += 1;
            return None;
        }
        let set = self.set_of(vpn);
        match self.find(set, asid, vpn) {
            Some(w) => Some(self.hit(set, w)),
            None => {
                self.stats.misses += 1;
                self.last_miss = (vpn.0 | VALID, asid);
                None
            }
        }
    }

    /// The bookkeeping of a hit on way `w` of `set`: its entry.
    #[inline]
    fn hit(&mut self, set: usize, w: usize) -> TlbEntry {
        self.stats.hits += 1;
        if self.last_touched[set] != w {
            self.touch(set, w);
        }
        self.entries[set * self.ways + w]
    }

    /// A hit on a way other than the set's last touched one updates the replacement state.
    #[inline(never)]
    fn touch(&mut self, set: usize, w: usize) {
        self.last_touched[set] = w;
        self.repl.on_hit(set, w);
    }

    /// Same match rule as [`Tlb::lookup`], but counts nothing and touches no replacement state.
    pub fn probe(&self, asid: Asid, vpn: Vpn) -> Option<TlbEntry> {
        let set = self.set_of(vpn);
        self.find(set, asid, vpn)
            .map(|w| self.entries[set * self.ways + w])
    }

    /// Insert a translation (counts a fill). An entry that conflicts with it is overwritten in
    /// place (returns `None`); otherwise the policy picks a way, and if that way held a valid
    /// entry it is returned and counted as an eviction.
    pub fn fill(&mut self, e: TlbEntry) -> Option<TlbEntry> {
        let (i, evicted) = self.place(&e);
        let old = evicted.then(|| self.entries[i]);
        self.entries[i] = e;
        old
    }

    /// [`Tlb::fill`] for a caller that has no use for the evicted entry (the core): the same
    /// fill, without reading the old entry back.
    ///
    /// A non-global fill of the last lookup that missed, into a full TLB (the usual fill after
    /// a walk once the TLB has warmed up), takes a short path that does what [`Tlb::place`]
    /// does then: no entry can conflict (see there) and no way is free, so the policy's victim
    /// is evicted.
    #[inline(always)]
    pub fn insert(&mut self, e: TlbEntry) {
        let want = e.vpn.0 | VALID;
        if !e.global && self.last_miss == (want, e.asid) && self.valid_count == self.tags.len() {
            self.stats.fills += 1;
            self.stats.evictions += 1;
            self.last_miss = (0, Asid(0));
            let set = self.set_of(e.vpn);
            let way = self.repl.victim_then_fill(set);
            self.last_touched[set] = way;
            let i = set * self.ways + way;
            self.tags[i] = want;
            self.entries[i] = e;
            return;
        }
        let (i, _) = self.place(&e);
        self.entries[i] = e;
    }

    /// The bookkeeping of a fill of `e` (counts, replacement, the tag written): the slot it
    /// goes to, and whether that slot's valid entry is evicted.
    ///
    /// A non-global fill of the last lookup that missed skips the search for conflicting
    /// entries: that miss says no valid entry of the vpn is global or has the asid, and a
    /// non-global entry conflicts only with such entries.
    #[inline(never)]
    fn place(&mut self, e: &TlbEntry) -> (usize, bool) {
        self.stats.fills += 1;
        let set = self.set_of(e.vpn);
        let base = set * self.ways;
        let want = e.vpn.0 | VALID;
        let mut in_place = None;
        let known_absent = !e.global && self.last_miss == (want, e.asid);
        self.last_miss = (0, Asid(0));
        // Usually no slot of the set holds the vpn at all: one scan says so.
        let first = if known_absent {
            None
        } else {
            self.tags[base..base + self.ways]
                .iter()
                .position(|&t| t == want)
        };
        if let Some(first) = first {
            for w in first..self.ways {
                let i = base + w;
                if self.tags[i] == want {
                    let old = &self.entries[i];
                    if e.global || old.global || old.asid == e.asid {
                        if in_place.is_none() {
                            in_place = Some(w);
                        } else {
                            // A second conflicting entry: drop it so no duplicate can remain.
                            self.drop_slot(i);
                        }
                    }
                }
            }
        }
        let (way, evicted) = match in_place {
            Some(w) => {
                self.repl.on_fill(set, w);
                (w, false)
            }
            None => {
                let free = if self.valid_count < self.tags.len() {
                    self.tags[base..base + self.ways]
                        .iter()
                        .position(|&t| t & VALID == 0)
                } else {
                    None
                };
                match free {
                    Some(w) => {
                        self.valid_count += 1;
                        self.repl.on_fill(set, w);
                        (w, false)
                    }
                    None => {
                        let w = self.repl.victim_then_fill(set);
                        self.stats.evictions += 1;
                        (w, true)
                    }
                }
            }
        };
        self.last_touched[set] = way;
        let i = base + way;
        self.tags[i] = want;
        (i, evicted)
    }

    /// Mark the entry matching `(asid, vpn)` dirty (after the hardware set D in the PTE).
    /// Counts nothing; no-op if there is no such entry.
    pub fn set_dirty(&mut self, asid: Asid, vpn: Vpn) {
        let set = self.set_of(vpn);
        if let Some(w) = self.find(set, asid, vpn) {
            self.entries[set * self.ways + w].dirty = true;
        }
    }

    /// Forget both memos, so the next operation takes the general path; for tests.
    #[cfg(test)]
    fn forget_memos(&mut self) {
        self.last_touched.fill(NO_WAY);
        self.last_miss = (0, Asid(0));
    }

    /// Drop slot `i` if `pred` holds for its entry; returns whether it did.
    #[inline]
    fn drop_if(&mut self, i: usize, pred: impl Fn(&TlbEntry) -> bool) -> bool {
        if self.tags[i] & VALID != 0 && pred(&self.entries[i]) {
            self.drop_slot(i);
            self.stats.invalidations += 1;
            true
        } else {
            false
        }
    }

    /// Empty slot `i` (which holds an entry). Counts nothing.
    #[inline]
    fn drop_slot(&mut self, i: usize) {
        self.tags[i] &= !VALID;
        self.valid_count -= 1;
        self.repl.on_invalidate(i / self.ways, i % self.ways);
    }

    /// Invalidate every entry matching `(asid, vpn)`, global ones included (like INVLPG).
    /// Returns how many were removed (counted as invalidations).
    pub fn invalidate_page(&mut self, asid: Asid, vpn: Vpn) -> usize {
        let base = self.set_of(vpn) * self.ways;
        (base..base + self.ways)
            .filter(|&i| self.drop_if(i, |e| e.vpn == vpn && (e.global || e.asid == asid)))
            .count()
    }

    /// Invalidate every non-global entry of `asid` (INVPCID single-context).
    pub fn invalidate_asid(&mut self, asid: Asid) -> usize {
        (0..self.entries.len())
            .filter(|&i| self.drop_if(i, |e| !e.global && e.asid == asid))
            .count()
    }

    /// Invalidate every non-global entry (a CR3 write without PCID).
    pub fn invalidate_non_global(&mut self) -> usize {
        (0..self.entries.len())
            .filter(|&i| self.drop_if(i, |e| !e.global))
            .count()
    }

    /// Invalidate every entry.
    pub fn invalidate_all(&mut self) -> usize {
        (0..self.entries.len())
            .filter(|&i| self.drop_if(i, |_| true))
            .count()
    }

    pub fn stats(&self) -> &TlbStats {
        &self.stats
    }

    /// Lookup latency.
    pub fn latency(&self) -> Cycles {
        self.latency
    }

    pub fn sets(&self) -> usize {
        self.sets
    }

    pub fn ways(&self) -> usize {
        self.ways
    }

    /// Every valid entry, in slot order (set-major). For tests and probes.
    pub fn valid_entries(&self) -> impl Iterator<Item = TlbEntry> + '_ {
        self.entries
            .iter()
            .zip(&self.tags)
            .filter(|(_, t)| **t & VALID != 0)
            .map(|(e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(entries: usize, ways: usize, policy: PolicyKind) -> TlbConfig {
        TlbConfig {
            entries,
            ways,
            policy,
            latency: 1,
        }
    }

    fn entry(asid: u16, vpn: u64) -> TlbEntry {
        TlbEntry {
            asid: Asid(asid),
            vpn: Vpn(vpn),
            ppn: Ppn(0x1000 + vpn),
            size: PageSize::Size4K,
            perms: Perms::ALL,
            global: false,
            dirty: false,
            pte_addr: PhysAddr(0x8000 + vpn * 8),
        }
    }

    fn global(asid: u16, vpn: u64) -> TlbEntry {
        TlbEntry {
            global: true,
            ..entry(asid, vpn)
        }
    }

    #[test]
    fn lookup_counts_one_lookup_and_one_hit_or_miss() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        assert_eq!(t.lookup(Asid(1), Vpn(5)), None);
        t.fill(entry(1, 5));
        assert_eq!(t.lookup(Asid(1), Vpn(5)), Some(entry(1, 5)));
        assert_eq!(t.lookup(Asid(1), Vpn(5)), Some(entry(1, 5)));
        assert_eq!(t.lookup(Asid(1), Vpn(6)), None);
        let s = t.stats();
        assert_eq!((s.lookups, s.hits, s.misses, s.fills), (4, 2, 2, 1));
        assert_eq!((s.evictions, s.invalidations), (0, 0));
    }

    #[test]
    fn probe_counts_nothing_and_keeps_replacement_order() {
        let mut t = Tlb::new(&cfg(2, 2, PolicyKind::Lru), 0);
        t.fill(entry(1, 0));
        t.fill(entry(1, 1));
        // A probe of vpn 0 must not make it recent: vpn 0 is still the LRU victim.
        assert_eq!(t.probe(Asid(1), Vpn(0)), Some(entry(1, 0)));
        assert_eq!(t.probe(Asid(1), Vpn(9)), None);
        assert_eq!(t.fill(entry(1, 2)), Some(entry(1, 0)));
        assert_eq!(t.stats().lookups, 0);
    }

    #[test]
    fn set_index_is_vpn_mod_sets() {
        // 16 entries, 4 ways: 4 sets. vpns 0, 4, 8, 12, 16 all map to set 0.
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        assert_eq!(t.sets(), 4);
        for v in [0, 4, 8, 12] {
            assert_eq!(t.fill(entry(1, v)), None);
        }
        t.fill(entry(1, 1)); // set 1: no conflict
        t.lookup(Asid(1), Vpn(0)); // 0 becomes most recent; LRU of set 0 is now 4
        assert_eq!(t.fill(entry(1, 16)), Some(entry(1, 4)));
        assert_eq!(t.stats().evictions, 1);
        assert!(t.probe(Asid(1), Vpn(1)).is_some());
        assert!(t.probe(Asid(1), Vpn(4)).is_none());
        for v in [0, 8, 12, 16] {
            assert!(t.probe(Asid(1), Vpn(v)).is_some(), "vpn {v}");
        }
        // Only the low bits index: vpn 0x1_0000_0002 goes to set 2 and conflicts with nothing.
        assert_eq!(t.fill(entry(1, 0x1_0000_0002)), None);
    }

    #[test]
    fn non_power_of_two_sets_index_by_modulo() {
        // 6 entries, 2 ways: 3 sets. vpns 0, 3, 6 share set 0; vpn 4 is in set 1.
        let mut t = Tlb::new(&cfg(6, 2, PolicyKind::Lru), 0);
        assert_eq!(t.sets(), 3);
        t.fill(entry(1, 0));
        t.fill(entry(1, 3));
        assert_eq!(t.fill(entry(1, 4)), None);
        assert_eq!(t.fill(entry(1, 6)), Some(entry(1, 0)));
        assert!(t.probe(Asid(1), Vpn(4)).is_some());
    }

    /// `insert` is `fill` without the returned victim: the same sequence of fills (refills in
    /// place, globals, evictions) leaves both TLBs with the same entries and counts.
    #[test]
    fn insert_leaves_the_same_state_as_fill() {
        for policy in [
            PolicyKind::Lru,
            PolicyKind::Plru,
            PolicyKind::Fifo,
            PolicyKind::Random,
        ] {
            let mut a = Tlb::new(&cfg(8, 2, policy), 3);
            let mut b = Tlb::new(&cfg(8, 2, policy), 3);
            let mut evicted = 0;
            for i in 0..200u64 {
                let e = TlbEntry {
                    global: i % 13 == 0,
                    ..entry((i % 3) as u16, (i * 7) % 23)
                };
                evicted += a.fill(e).is_some() as u64;
                b.insert(e);
                assert_eq!(
                    a.lookup(Asid(1), Vpn(i % 23)),
                    b.lookup(Asid(1), Vpn(i % 23))
                );
            }
            assert_eq!(
                a.valid_entries().collect::<Vec<_>>(),
                b.valid_entries().collect::<Vec<_>>()
            );
            assert_eq!(a.stats(), b.stats(), "{policy:?}");
            assert_eq!(b.stats().evictions, evicted);
            assert!(evicted > 0, "the sequence must evict");
        }
    }

    /// The memos (a repeated miss without a search, a fill of a page just missed without a
    /// conflict search, no replacement update on a repeated hit) change nothing: a TLB that
    /// forgets them before every operation, and so always takes the general path, gives the
    /// same answers, victims, entries and counts, for every policy.
    #[test]
    fn memos_match_the_general_path() {
        use rand::{RngExt, SeedableRng};
        for policy in [
            PolicyKind::Lru,
            PolicyKind::Plru,
            PolicyKind::Fifo,
            PolicyKind::Random,
        ] {
            for (entries, ways) in [(8, 2), (12, 12), (24, 3)] {
                let mut fast = Tlb::new(&cfg(entries, ways, policy), 7);
                let mut general = Tlb::new(&cfg(entries, ways, policy), 7);
                let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(ways as u64);
                for step in 0..20_000 {
                    general.forget_memos();
                    let asid = Asid(rng.random_range(0..2));
                    let vpn = Vpn(rng.random_range(0..entries as u64 + 6));
                    let e = TlbEntry {
                        global: rng.random_bool(0.05),
                        ppn: Ppn(step),
                        ..entry(asid.0, vpn.0)
                    };
                    let what = format!("{policy:?} {entries}/{ways} step {step}");
                    match rng.random_range(0..100) {
                        0..50 => {
                            let a = fast.lookup(asid, vpn);
                            assert_eq!(a, general.lookup(asid, vpn), "{what}");
                            if a.is_none() && rng.random_bool(0.7) {
                                // A walk fills the page that missed (after retrying the
                                // lookup, as after a fault, half of the time).
                                if rng.random_bool(0.5) {
                                    assert_eq!(fast.lookup(asid, vpn), None);
                                    general.forget_memos();
                                    assert_eq!(general.lookup(asid, vpn), None);
                                }
                                general.forget_memos();
                                assert_eq!(fast.fill(e), general.fill(e), "{what}");
                            }
                        }
                        50..85 => assert_eq!(fast.fill(e), general.fill(e), "{what}"),
                        85..92 => {
                            fast.set_dirty(asid, vpn);
                            general.set_dirty(asid, vpn);
                        }
                        92..99 => assert_eq!(
                            fast.invalidate_page(asid, vpn),
                            general.invalidate_page(asid, vpn)
                        ),
                        _ => assert_eq!(fast.invalidate_asid(asid), general.invalidate_asid(asid)),
                    }
                    assert_eq!(fast.stats(), general.stats(), "{what}");
                }
                assert_eq!(
                    fast.valid_entries().collect::<Vec<_>>(),
                    general.valid_entries().collect::<Vec<_>>()
                );
                let s = fast.stats();
                assert!(s.hits > 1000 && s.evictions > 1000, "{s:?}");
            }
        }
    }

    /// The core's fill after a walk (`insert` right after the lookup that missed: its short
    /// path once the TLB is full) leaves the same entries, victims and counts as the general
    /// fill, for every policy and for the associativities with an unrolled scan and others.
    #[test]
    fn insert_after_a_miss_matches_the_general_fill() {
        use rand::{RngExt, SeedableRng};
        for policy in [
            PolicyKind::Lru,
            PolicyKind::Plru,
            PolicyKind::Fifo,
            PolicyKind::Random,
        ] {
            for (entries, ways) in [(16, 4), (32, 8), (48, 12), (24, 3), (8, 8)] {
                let mut fast = Tlb::new(&cfg(entries, ways, policy), 5);
                let mut general = Tlb::new(&cfg(entries, ways, policy), 5);
                let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(ways as u64);
                for step in 0..5_000 {
                    let asid = Asid(rng.random_range(0..2));
                    let vpn = Vpn(rng.random_range(0..3 * entries as u64));
                    let what = format!("{policy:?} {entries}/{ways} step {step}");
                    let hit = fast.lookup(asid, vpn);
                    general.forget_memos();
                    assert_eq!(hit, general.lookup(asid, vpn), "{what}");
                    if hit.is_none() {
                        let e = TlbEntry {
                            global: rng.random_bool(0.02),
                            ppn: Ppn(step),
                            ..entry(asid.0, vpn.0)
                        };
                        fast.insert(e);
                        general.forget_memos();
                        general.fill(e);
                    } else if rng.random_bool(0.05) {
                        fast.invalidate_page(asid, vpn);
                        general.invalidate_page(asid, vpn);
                    }
                    assert_eq!(fast.stats(), general.stats(), "{what}");
                }
                assert_eq!(
                    fast.valid_entries().collect::<Vec<_>>(),
                    general.valid_entries().collect::<Vec<_>>()
                );
                assert!(fast.stats().evictions > 1000, "{policy:?} {entries}/{ways}");
            }
        }
    }

    /// The set scans (unrolled for 4, 8 and 12 ways, a loop otherwise, and the continued search
    /// past a tag of another address space) find what a search of every entry finds: the
    /// entry of the page that is global or has the asid.
    #[test]
    fn set_scans_match_a_search_of_every_entry() {
        use rand::{RngExt, SeedableRng};
        for (entries, ways) in [(16, 4), (32, 8), (48, 12), (32, 16), (24, 3), (12, 12)] {
            let mut t = Tlb::new(&cfg(entries, ways, PolicyKind::Lru), 1);
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(entries as u64);
            for step in 0..20_000u64 {
                let asid = Asid(rng.random_range(0..4));
                let vpn = Vpn(rng.random_range(0..2 * entries as u64));
                if rng.random_bool(0.5) {
                    t.fill(TlbEntry {
                        global: rng.random_bool(0.03),
                        ppn: Ppn(step),
                        ..entry(asid.0, vpn.0)
                    });
                } else if rng.random_bool(0.1) {
                    t.invalidate_page(asid, vpn);
                }
                let asid = Asid(rng.random_range(0..4));
                let vpn = Vpn(rng.random_range(0..2 * entries as u64));
                let every = t
                    .valid_entries()
                    .find(|e| e.vpn == vpn && (e.global || e.asid == asid));
                assert_eq!(t.probe(asid, vpn), every, "{entries}/{ways} step {step}");
            }
        }
    }

    #[test]
    fn refill_of_same_page_replaces_in_place() {
        let mut t = Tlb::new(&cfg(4, 4, PolicyKind::Lru), 0);
        t.fill(entry(1, 7));
        let newer = TlbEntry {
            ppn: Ppn(0xbeef),
            dirty: true,
            ..entry(1, 7)
        };
        assert_eq!(t.fill(newer), None);
        assert_eq!(t.valid_entries().collect::<Vec<_>>(), vec![newer]);
        assert_eq!((t.stats().fills, t.stats().evictions), (2, 0));
    }

    #[test]
    fn global_fill_replaces_every_per_asid_copy() {
        let mut t = Tlb::new(&cfg(8, 8, PolicyKind::Lru), 0);
        t.fill(entry(1, 3));
        t.fill(entry(2, 3));
        t.fill(entry(3, 4));
        assert_eq!(t.fill(global(9, 3)), None);
        let vpn3: Vec<_> = t.valid_entries().filter(|e| e.vpn == Vpn(3)).collect();
        assert_eq!(vpn3, vec![global(9, 3)]);
        assert_eq!(t.probe(Asid(2), Vpn(3)), Some(global(9, 3)));
        assert_eq!(t.probe(Asid(3), Vpn(4)), Some(entry(3, 4)));
    }

    #[test]
    fn asid_tagging_isolates_address_spaces() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        let a = entry(1, 42);
        let b = TlbEntry {
            ppn: Ppn(0x9999),
            ..entry(2, 42)
        };
        t.fill(a);
        assert_eq!(t.lookup(Asid(2), Vpn(42)), None);
        t.fill(b);
        assert_eq!(t.lookup(Asid(1), Vpn(42)), Some(a));
        assert_eq!(t.lookup(Asid(2), Vpn(42)), Some(b));
        assert_eq!(t.invalidate_asid(Asid(1)), 1);
        assert_eq!(t.lookup(Asid(1), Vpn(42)), None);
        assert_eq!(t.lookup(Asid(2), Vpn(42)), Some(b));
    }

    #[test]
    fn global_entries_match_every_asid() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        t.fill(global(1, 0x100));
        assert_eq!(t.lookup(Asid(7), Vpn(0x100)), Some(global(1, 0x100)));
    }

    #[test]
    fn global_entries_survive_invalidate_non_global_and_invalidate_asid() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        t.fill(global(1, 1));
        t.fill(entry(1, 2));
        t.fill(entry(2, 3));
        assert_eq!(t.invalidate_asid(Asid(1)), 1);
        assert!(t.probe(Asid(1), Vpn(1)).is_some());
        assert_eq!(t.invalidate_non_global(), 1);
        assert_eq!(t.valid_entries().collect::<Vec<_>>(), vec![global(1, 1)]);
        assert_eq!(t.invalidate_all(), 1);
        assert_eq!(t.valid_entries().count(), 0);
        assert_eq!(t.stats().invalidations, 3);
    }

    #[test]
    fn invalidate_page_removes_matching_global_entries_too() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        t.fill(global(1, 8));
        t.fill(entry(2, 12)); // same set (8 % 4 == 12 % 4)
        t.fill(entry(3, 12));
        assert_eq!(t.invalidate_page(Asid(5), Vpn(8)), 1);
        assert_eq!(t.invalidate_page(Asid(2), Vpn(12)), 1);
        assert_eq!(t.probe(Asid(3), Vpn(12)), Some(entry(3, 12)));
        assert_eq!(t.invalidate_page(Asid(2), Vpn(12)), 0);
    }

    #[test]
    fn invalidated_way_is_refilled_before_any_eviction() {
        let mut t = Tlb::new(&cfg(4, 4, PolicyKind::Lru), 0);
        for v in 0..4 {
            t.fill(entry(1, v));
        }
        t.invalidate_page(Asid(1), Vpn(2));
        assert_eq!(t.fill(entry(1, 9)), None);
        assert_eq!(t.stats().evictions, 0);
        assert_eq!(t.valid_entries().count(), 4);
    }

    #[test]
    fn fully_associative_tlb_uses_every_way() {
        let mut t = Tlb::new(&cfg(64, 64, PolicyKind::Lru), 0);
        assert_eq!(t.sets(), 1);
        for v in 0..64 {
            assert_eq!(t.fill(entry(1, v * 1000)), None);
        }
        for v in 0..64 {
            assert!(t.lookup(Asid(1), Vpn(v * 1000)).is_some());
        }
        t.lookup(Asid(1), Vpn(0));
        // LRU is now vpn 1000 (looked up first in the loop, and 0 was touched again).
        assert_eq!(t.fill(entry(1, 1)), Some(entry(1, 1000)));
        assert_eq!(t.valid_entries().count(), 64);
    }

    #[test]
    fn fifo_tlb_evicts_oldest_fill_despite_hits() {
        let mut t = Tlb::new(&cfg(2, 2, PolicyKind::Fifo), 0);
        t.fill(entry(1, 0));
        t.fill(entry(1, 1));
        t.lookup(Asid(1), Vpn(0));
        assert_eq!(t.fill(entry(1, 2)), Some(entry(1, 0)));
    }

    #[test]
    fn set_dirty_marks_only_the_matching_entry() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        t.fill(entry(1, 5));
        t.fill(entry(2, 5));
        t.set_dirty(Asid(2), Vpn(5));
        t.set_dirty(Asid(3), Vpn(6)); // no such entry: no-op
        assert!(!t.probe(Asid(1), Vpn(5)).unwrap().dirty);
        assert!(t.probe(Asid(2), Vpn(5)).unwrap().dirty);
        assert_eq!(
            t.stats(),
            &TlbStats {
                fills: 2,
                ..TlbStats::default()
            }
        );
    }

    #[test]
    fn stats_subtract_for_warmup_deltas() {
        let mut t = Tlb::new(&cfg(16, 4, PolicyKind::Lru), 0);
        t.lookup(Asid(1), Vpn(1));
        let warm = t.stats().clone();
        t.fill(entry(1, 1));
        t.lookup(Asid(1), Vpn(1));
        let d = t.stats().clone() - warm;
        assert_eq!((d.lookups, d.hits, d.misses, d.fills), (1, 1, 0, 1));
    }

    #[test]
    fn config_validation_names_the_key() {
        assert_eq!(TlbConfig::default().validate("tlb.l1d"), Ok(()));
        let bad_ways = cfg(64, 5, PolicyKind::Lru).validate("tlb.l1d").unwrap_err();
        assert_eq!(bad_ways.key, "tlb.l1d.ways");
        assert!(
            bad_ways.to_string().contains("must divide entries (64)"),
            "{bad_ways}"
        );
        // 48 entries 4-way = 12 sets: not a power of two, indexed by vpn % 12.
        assert_eq!(cfg(48, 4, PolicyKind::Lru).validate("tlb.l2"), Ok(()));
        // ...but 48 fully associative is fine (Neoverse N1 L1 DTLB), as is 1536 12-way.
        assert_eq!(cfg(48, 48, PolicyKind::Plru).validate("tlb.l1d"), Ok(()));
        assert_eq!(cfg(1536, 12, PolicyKind::Lru).validate("tlb.l2"), Ok(()));
        assert_eq!(
            cfg(0, 4, PolicyKind::Lru)
                .validate("tlb.l2")
                .unwrap_err()
                .key,
            "tlb.l2.entries"
        );
        assert_eq!(
            cfg(64, 0, PolicyKind::Lru)
                .validate("tlb.l2")
                .unwrap_err()
                .key,
            "tlb.l2.ways"
        );
        let lat = TlbConfig {
            latency: 0,
            ..TlbConfig::default()
        };
        assert_eq!(lat.validate("tlb.l1i").unwrap_err().key, "tlb.l1i.latency");
    }

    #[test]
    fn config_rejects_unknown_fields_and_defaults_the_rest() {
        use serde::de::value::{Error as DeError, MapDeserializer};
        let map = |pairs: Vec<(&'static str, u64)>| {
            let d: MapDeserializer<_, DeError> = MapDeserializer::new(pairs.into_iter());
            TlbConfig::deserialize(d)
        };
        let c = map(vec![("entries", 1536), ("ways", 12)]).unwrap();
        assert_eq!(
            (c.entries, c.ways, c.policy, c.latency),
            (1536, 12, PolicyKind::Lru, 1)
        );
        assert!(map(vec![("entries", 64), ("way", 4)]).is_err());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Fill { asid: u16, vpn: u64, global: bool },
        Lookup { asid: u16, vpn: u64 },
        InvPage { asid: u16, vpn: u64 },
        InvAsid { asid: u16 },
        InvNonGlobal,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u16..3, 0u64..24, prop::bool::weighted(0.15))
                .prop_map(|(asid, vpn, global)| Op::Fill { asid, vpn, global }),
            4 => (0u16..3, 0u64..24).prop_map(|(asid, vpn)| Op::Lookup { asid, vpn }),
            1 => (0u16..3, 0u64..24).prop_map(|(asid, vpn)| Op::InvPage { asid, vpn }),
            1 => (0u16..3).prop_map(|asid| Op::InvAsid { asid }),
            1 => Just(Op::InvNonGlobal),
        ]
    }

    proptest! {
        #[test]
        fn random_ops_never_leave_two_entries_for_one_page(
            geometry in prop_oneof![Just((8usize, 2usize)), Just((8, 8)), Just((16, 4)), Just((12, 12))],
            policy in prop_oneof![
                Just(PolicyKind::Lru), Just(PolicyKind::Plru),
                Just(PolicyKind::Fifo), Just(PolicyKind::Random)
            ],
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut t = Tlb::new(&cfg(geometry.0, geometry.1, policy), 3);
            for op in ops {
                match op {
                    Op::Fill { asid, vpn, global } => {
                        let e = TlbEntry { global, ..entry(asid, vpn) };
                        t.fill(e);
                        prop_assert_eq!(t.probe(Asid(asid), Vpn(vpn)), Some(e));
                        if global {
                            prop_assert_eq!(t.probe(Asid(asid + 1), Vpn(vpn)), Some(e));
                        }
                    }
                    Op::Lookup { asid, vpn } => {
                        let before = t.probe(Asid(asid), Vpn(vpn));
                        prop_assert_eq!(t.lookup(Asid(asid), Vpn(vpn)), before);
                    }
                    Op::InvPage { asid, vpn } => {
                        t.invalidate_page(Asid(asid), Vpn(vpn));
                        prop_assert_eq!(t.probe(Asid(asid), Vpn(vpn)), None);
                    }
                    Op::InvAsid { asid } => {
                        t.invalidate_asid(Asid(asid));
                        prop_assert!(t.valid_entries().all(|e| e.global || e.asid != Asid(asid)));
                    }
                    Op::InvNonGlobal => {
                        t.invalidate_non_global();
                        prop_assert!(t.valid_entries().all(|e| e.global));
                    }
                }
                for asid in 0..4u16 {
                    for vpn in 0..24u64 {
                        let n = t.valid_entries()
                            .filter(|e| e.vpn == Vpn(vpn) && (e.global || e.asid == Asid(asid)))
                            .count();
                        prop_assert!(n <= 1, "asid {} vpn {} matched {} entries", asid, vpn, n);
                    }
                }
                let s = t.stats();
                prop_assert_eq!(s.lookups, s.hits + s.misses);
                prop_assert!(t.valid_entries().count() <= geometry.0);
            }
        }
    }
}
