//! Page-walk caches: the paging-structure caches of Intel SDM Vol. 3A 4.10.3.
//!
//! Three small set-associative caches hold upper-level entries of recent walks, each mapping a
//! key to the physical frame of the next-level table:
//!
//! | cache   | key                            | a hit gives the frame of | walk resumes at |
//! | ------- | ------------------------------ | ------------------------ | --------------- |
//! | `pml4e` | asid, VA >> 39 (bits 47:39)    | the PDPT                 | [`Level::Pdpt`] |
//! | `pdpte` | asid, VA >> 30 (bits 47:30)    | the PD                   | [`Level::Pd`]   |
//! | `pde`   | asid, VA >> 21 (bits 47:21)    | the PT                   | [`Level::Pt`]   |
//!
//! # Reference semantics
//!
//! - **Keys** are all VA bits from the level's shift upwards (`va >> 39`, `>> 30`, `>> 21`), not
//!   masked at bit 47, so with 5-level paging the PML5 index (bits 56:48) is part of every key
//!   (the SDM's 5-level PML4E cache is keyed by bits 56:39) and regions under different PML5
//!   entries never alias. PML5 entries are not cached (`fill` ignores [`Level::Pml5`]): a walk in
//!   5-level mode that misses all three caches reads the PML5 entry as usual.
//! - **Set index** of a level = `key % sets` (the low bits of the key; sets are a power of two).
//! - **Match**: valid, same key, same asid. Global pages play no part: paging-structure cache
//!   entries are always tagged with the asid (PCID).
//! - **Lookup** probes the three caches in parallel: each enabled level counts one lookup, and on
//!   a hit one hit and a replacement update (even when a deeper level also hits). The deepest hit
//!   wins (PDE over PDPTE over PML4E). When the whole unit is disabled nothing is counted.
//! - **Fill** records a present, *non-leaf* entry read by the walker at a level (the walker must
//!   not fill a PDPTE or PDE with PS set: it maps a huge page, not a table). It counts one fill
//!   for that level; an existing entry with the same (asid, key) is updated in place, otherwise
//!   the level's policy picks a way (invalid ways first).
//! - **Invalidation** by VA removes, in every level, the entry covering `va` for `asid`. (A real
//!   INVLPG drops *all* paging-structure-cache entries of the current PCID, SDM 4.10.4.1; the OS
//!   model may call [`PageWalkCaches::invalidate_asid`] to get that behaviour.) Invalidations are
//!   not counted.
//! - A level configured with `entries = 0` does not exist: it never hits and counts nothing.
//!
//! Default sizes (2 / 4 / 32 entries) are small ChampSim-like paging-structure caches (see
//! REFERENCE.md, "What other simulators default to": ChampSim PSCL5..2 = 2, 4, 8, 32 entries).

use crate::error::ConfigError;
use crate::pte::Level;
use crate::replacement::{PolicyKind, Replacement};
use crate::tlb::validate_geometry;
use crate::types::{Asid, Cycles, Ppn, VirtAddr};
use crate::ways::first_of;
use serde::{Deserialize, Serialize};
use std::ops::Sub;

/// Configuration of the three page-walk caches (config key `walker.pwc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PwcConfig {
    /// Whether the walker has page-walk caches at all.
    pub enabled: bool,
    /// Lookup latency in core cycles (>= 1); the three levels are probed in parallel.
    pub latency: u64,
    /// Replacement policy of all three levels.
    pub policy: PolicyKind,
    /// PML4E cache (its hits skip to the PDPT).
    pub pml4e: PwcLevelConfig,
    /// PDPTE cache (its hits skip to the PD).
    pub pdpte: PwcLevelConfig,
    /// PDE cache (its hits skip to the PT).
    pub pde: PwcLevelConfig,
}

/// Geometry of one page-walk-cache level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PwcLevelConfig {
    /// Entries; 0 removes this level.
    pub entries: usize,
    /// Associativity: divides `entries` with a power-of-two number of sets.
    pub ways: usize,
}

impl PwcLevelConfig {
    pub fn sets(&self) -> usize {
        self.entries / self.ways.max(1)
    }
}

impl Default for PwcConfig {
    /// Enabled, 1 cycle, LRU; PML4E 2 entries (fully assoc.), PDPTE 4 (fully assoc.),
    /// PDE 32 (4-way, 8 sets): small ChampSim-like sizes (REFERENCE.md).
    fn default() -> PwcConfig {
        PwcConfig {
            enabled: true,
            latency: 1,
            policy: PolicyKind::Lru,
            pml4e: PwcLevelConfig {
                entries: 2,
                ways: 2,
            },
            pdpte: PwcLevelConfig {
                entries: 4,
                ways: 4,
            },
            pde: PwcLevelConfig {
                entries: 32,
                ways: 4,
            },
        }
    }
}

impl PwcConfig {
    /// Check the config; `key` is its config key (`walker.pwc`), and errors name the field
    /// under it (`walker.pwc.pde.ways`). Checked even when disabled.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.latency == 0 {
            return Err(ConfigError::new(
                format!("{key}.latency"),
                "must be at least 1 (lookup latency in core cycles)",
            ));
        }
        for (name, lc) in [
            ("pml4e", &self.pml4e),
            ("pdpte", &self.pdpte),
            ("pde", &self.pde),
        ] {
            if lc.entries > 0 {
                validate_geometry(
                    &format!("{key}.{name}"),
                    "entries",
                    lc.entries,
                    lc.ways,
                    true,
                )?;
            }
        }
        Ok(())
    }
}

/// A page-walk-cache hit: resume the walk by reading the `next_level` entry in table `table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PwcHit {
    pub next_level: Level,
    pub table: Ppn,
}

/// Counters of one level.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PwcLevelStats {
    pub lookups: u64,
    pub hits: u64,
    pub fills: u64,
}

/// Counters of the three levels.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PwcStats {
    pub pml4e: PwcLevelStats,
    pub pdpte: PwcLevelStats,
    pub pde: PwcLevelStats,
}

impl Sub for PwcLevelStats {
    type Output = PwcLevelStats;
    /// Counts since an earlier snapshot; saturates at zero.
    fn sub(self, e: PwcLevelStats) -> PwcLevelStats {
        PwcLevelStats {
            lookups: self.lookups.saturating_sub(e.lookups),
            hits: self.hits.saturating_sub(e.hits),
            fills: self.fills.saturating_sub(e.fills),
        }
    }
}

impl Sub for PwcStats {
    type Output = PwcStats;
    /// Counts since an earlier snapshot; saturates at zero.
    fn sub(self, e: PwcStats) -> PwcStats {
        PwcStats {
            pml4e: self.pml4e - e.pml4e,
            pdpte: self.pdpte - e.pdpte,
            pde: self.pde - e.pde,
        }
    }
}

/// Slot word flag: the slot holds an entry.
const SLOT_VALID: u64 = 1 << 63;
/// Slot word: the asid's 16 bits sit at 47..63, above the key (a VA shifted right by at least
/// 21 bits: at most 43 bits).
const ASID_SHIFT: u32 = 47;

/// The slot word of a valid entry for (asid, key).
#[inline]
fn slot_tag(asid: Asid, key: u64) -> u64 {
    debug_assert!(
        key < 1 << ASID_SHIFT,
        "PWC key {key:#x} overlaps the asid bits"
    );
    SLOT_VALID | u64::from(asid.0) << ASID_SHIFT | key
}

/// The index of the first `want` in `tags`. Compares four tags per step with one branch (the
/// PDE cache's set is scanned to the end on every miss, the common case).
#[inline]
fn position_of(tags: &[u64], want: u64) -> Option<usize> {
    let mut chunks = tags.chunks_exact(4);
    let mut base = 0;
    for c in &mut chunks {
        if (c[0] == want) | (c[1] == want) | (c[2] == want) | (c[3] == want) {
            return c.iter().position(|&t| t == want).map(|p| base + p);
        }
        base += 4;
    }
    chunks
        .remainder()
        .iter()
        .position(|&t| t == want)
        .map(|p| base + p)
}

/// The index of the first `want` in `tags`: [`position_of`], with the scan unrolled for the
/// default associativities (2 and 4 ways: one compare and branch per way).
#[inline(always)]
fn way_of(tags: &[u64], want: u64) -> Option<usize> {
    match tags.len() {
        4 => first_of::<4>(tags, want),
        2 => first_of::<2>(tags, want),
        _ => position_of(tags, want),
    }
}

/// Marks "no way" in [`PwcLevel::last_touched`].
const NO_WAY: usize = usize::MAX;

/// One level: a set-associative array of (asid, key) -> table frame.
///
/// Three memos spare work that cannot change a result (all exact: see the fields): a lookup of
/// the key that last hit skips the search, a hit on the way its set last touched skips the
/// replacement update, and a fill of the key the level last missed skips the search for an
/// existing entry.
#[derive(Clone, Debug)]
struct PwcLevel {
    /// VA shift of this level's key (39, 30 or 21).
    shift: u32,
    /// The level at which a hit resumes the walk.
    next_level: Level,
    sets: usize,
    /// `sets - 1` (sets are a power of two): the set of a key is `key & set_mask`.
    set_mask: u64,
    ways: usize,
    /// Per slot (`set * ways + way`): the key, the asid and a valid flag in one word (see
    /// [`slot_tag`]), so a lookup compares one word per way.
    tags: Vec<u64>,
    /// Slots holding an entry: once all do, a fill need not look for a free way.
    valid: usize,
    tables: Vec<Ppn>,
    /// Per set: the way of the set's last replacement update (a hit or a fill), or [`NO_WAY`].
    /// Touching that way again changes no policy's choices (LRU and FIFO orders and PLRU bits
    /// stay as they are; LRU stamps stay in the same order; random ignores hits), so a hit on
    /// it skips [`Replacement::on_hit`].
    last_touched: Vec<usize>,
    /// The slot tag of the last lookup that hit (or 0) and its set and way: the slot holds it
    /// until the level changes, so every fill and invalidation resets it. A lookup of it needs
    /// no search (the upper levels see the same entry walk after walk).
    last_hit: (u64, usize, usize),
    /// The slot tag of the last lookup that missed, or 0: no valid slot holds it until a fill
    /// (the only way an entry appears), so every fill resets it. A fill of this tag need not
    /// look for an existing entry.
    last_miss: u64,
    /// `None` when the level has no entries.
    repl: Option<Replacement>,
}

impl PwcLevel {
    fn new(cfg: &PwcLevelConfig, policy: PolicyKind, shift: u32, next: Level, seed: u64) -> Self {
        let n = cfg.entries;
        let sets = cfg.sets();
        PwcLevel {
            shift,
            next_level: next,
            sets,
            set_mask: (sets as u64).wrapping_sub(1),
            ways: cfg.ways,
            tags: vec![0; n],
            valid: 0,
            tables: vec![Ppn(0); n],
            last_touched: vec![NO_WAY; sets],
            last_hit: (0, 0, 0),
            last_miss: 0,
            repl: (n > 0).then(|| Replacement::new(policy, sets, cfg.ways, seed)),
        }
    }

    #[inline]
    fn key(&self, va: VirtAddr) -> u64 {
        va.0 >> self.shift
    }

    /// (set, way) of the entry for (asid, key).
    #[inline]
    fn find(&self, asid: Asid, key: u64) -> Option<(usize, usize)> {
        if self.sets == 0 {
            return None;
        }
        let set = (key & self.set_mask) as usize;
        let want = slot_tag(asid, key);
        self.tags[set * self.ways..(set + 1) * self.ways]
            .iter()
            .position(|&t| t == want)
            .map(|w| (set, w))
    }

    /// One lookup: the table frame on a hit. Counts a lookup and maybe a hit (nothing when the
    /// level has no entries).
    #[inline(always)]
    fn lookup(&mut self, asid: Asid, va: VirtAddr, stats: &mut PwcLevelStats) -> Option<Ppn> {
        let repl = self.repl.as_mut()?;
        stats.lookups += 1;
        let key = va.0 >> self.shift;
        let want = slot_tag(asid, key);
        let (set, w) = if want == self.last_hit.0 {
            (self.last_hit.1, self.last_hit.2)
        } else {
            let set = (key & self.set_mask) as usize;
            let base = set * self.ways;
            let Some(w) = way_of(&self.tags[base..base + self.ways], want) else {
                self.last_miss = want;
                return None;
            };
            self.last_hit = (want, set, w);
            (set, w)
        };
        stats.hits += 1;
        if self.last_touched[set] != w {
            self.last_touched[set] = w;
            repl.on_hit(set, w);
        }
        Some(self.tables[set * self.ways + w])
    }

    #[inline(always)]
    fn fill(&mut self, asid: Asid, va: VirtAddr, table: Ppn, stats: &mut PwcLevelStats) {
        let Some(repl) = self.repl.as_mut() else {
            return;
        };
        stats.fills += 1;
        let key = va.0 >> self.shift;
        let want = slot_tag(asid, key);
        let set = (key & self.set_mask) as usize;
        let base = set * self.ways;
        let tags = &self.tags[base..base + self.ways];
        // The key the level last missed is in no slot (the level has not changed since).
        let existing = if want == self.last_miss {
            None
        } else {
            way_of(tags, want)
        };
        let way = match existing {
            Some(w) => {
                repl.on_fill(set, w);
                w
            }
            // The lowest invalid way, else the policy's victim (`Replacement::victim`). A full
            // level has no invalid way in any set.
            None => match (self.valid < self.tags.len())
                .then(|| tags.iter().position(|&t| t & SLOT_VALID == 0))
                .flatten()
            {
                Some(w) => {
                    self.valid += 1;
                    repl.on_fill(set, w);
                    w
                }
                None => repl.victim_then_fill(set),
            },
        };
        self.last_touched[set] = way;
        self.last_miss = 0;
        self.last_hit = (0, 0, 0);
        self.tags[base + way] = want;
        self.tables[base + way] = table;
    }

    /// Empty slot `i`, which holds an entry.
    fn drop_slot(&mut self, i: usize) {
        self.tags[i] = 0;
        self.valid -= 1;
        self.last_hit = (0, 0, 0);
        if let Some(r) = self.repl.as_mut() {
            r.on_invalidate(i / self.ways, i % self.ways);
        }
    }

    /// Forget both memos (the next operations take the general path); for tests. Also checks
    /// that `valid` counts the valid slots (so a full level truly has no free way).
    #[cfg(test)]
    fn forget_memos(&mut self) {
        self.last_touched.fill(NO_WAY);
        self.last_miss = 0;
        self.last_hit = (0, 0, 0);
        let valid = self.tags.iter().filter(|&&t| t & SLOT_VALID != 0).count();
        assert_eq!(self.valid, valid, "valid slot count");
    }

    fn invalidate_va(&mut self, asid: Asid, va: VirtAddr) -> usize {
        match self.find(asid, self.key(va)) {
            Some((set, way)) => {
                self.drop_slot(set * self.ways + way);
                1
            }
            None => 0,
        }
    }

    fn invalidate_where(&mut self, pred: impl Fn(Asid) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.tags.len() {
            let t = self.tags[i];
            if t & SLOT_VALID != 0 && pred(Asid((t >> ASID_SHIFT) as u16)) {
                self.drop_slot(i);
                n += 1;
            }
        }
        n
    }
}

/// The three page-walk caches of one walker (see the module documentation).
#[derive(Clone, Debug)]
pub struct PageWalkCaches {
    enabled: bool,
    latency: Cycles,
    pml4e: PwcLevel,
    pdpte: PwcLevel,
    pde: PwcLevel,
    stats: PwcStats,
}

impl PageWalkCaches {
    /// Build empty caches. `seed` feeds the random policy (each level derives its own stream).
    ///
    /// Panics if `cfg` does not pass [`PwcConfig::validate`] (validate configs first).
    pub fn new(cfg: &PwcConfig, seed: u64) -> PageWalkCaches {
        if let Err(e) = cfg.validate("walker.pwc") {
            panic!("PageWalkCaches::new with an unvalidated config: {e}");
        }
        const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
        PageWalkCaches {
            enabled: cfg.enabled,
            latency: Cycles(cfg.latency),
            pml4e: PwcLevel::new(&cfg.pml4e, cfg.policy, 39, Level::Pdpt, seed ^ MIX),
            pdpte: PwcLevel::new(
                &cfg.pdpte,
                cfg.policy,
                30,
                Level::Pd,
                seed ^ MIX.wrapping_mul(2),
            ),
            pde: PwcLevel::new(
                &cfg.pde,
                cfg.policy,
                21,
                Level::Pt,
                seed ^ MIX.wrapping_mul(3),
            ),
            stats: PwcStats::default(),
        }
    }

    /// Probe all three levels in parallel; the deepest hit wins. Each enabled level counts a
    /// lookup (and a hit, updating its replacement state). `None` when disabled (nothing
    /// counted) or when every level misses.
    #[inline(always)]
    pub fn lookup(&mut self, asid: Asid, va: VirtAddr) -> Option<PwcHit> {
        if !self.enabled {
            return None;
        }
        let l4 = self.pml4e.lookup(asid, va, &mut self.stats.pml4e);
        let l3 = self.pdpte.lookup(asid, va, &mut self.stats.pdpte);
        let l2 = self.pde.lookup(asid, va, &mut self.stats.pde);
        let hit = |next_level, table| PwcHit { next_level, table };
        match (l2, l3, l4) {
            (Some(t), _, _) => Some(hit(self.pde.next_level, t)),
            (None, Some(t), _) => Some(hit(self.pdpte.next_level, t)),
            (None, None, Some(t)) => Some(hit(self.pml4e.next_level, t)),
            (None, None, None) => None,
        }
    }

    /// Record the present, non-leaf entry read at `level` for `va`, pointing at table
    /// `next_table`: a `Pml4` entry goes to the PML4E cache, `Pdpt` to PDPTE, `Pd` to PDE;
    /// `Pml5` and `Pt` are ignored. No-op when disabled.
    #[inline(always)]
    pub fn fill(&mut self, asid: Asid, va: VirtAddr, level: Level, next_table: Ppn) {
        if !self.enabled {
            return;
        }
        match level {
            Level::Pml4 => self.pml4e.fill(asid, va, next_table, &mut self.stats.pml4e),
            Level::Pdpt => self.pdpte.fill(asid, va, next_table, &mut self.stats.pdpte),
            Level::Pd => self.pde.fill(asid, va, next_table, &mut self.stats.pde),
            Level::Pml5 | Level::Pt => {}
        }
    }

    /// Drop, in every level, the entry covering `va` for `asid`. Returns how many were dropped.
    pub fn invalidate_va(&mut self, asid: Asid, va: VirtAddr) -> usize {
        self.pml4e.invalidate_va(asid, va)
            + self.pdpte.invalidate_va(asid, va)
            + self.pde.invalidate_va(asid, va)
    }

    /// Drop every entry of `asid`. Returns how many were dropped.
    pub fn invalidate_asid(&mut self, asid: Asid) -> usize {
        self.pml4e.invalidate_where(|a| a == asid)
            + self.pdpte.invalidate_where(|a| a == asid)
            + self.pde.invalidate_where(|a| a == asid)
    }

    /// Drop every entry. Returns how many were dropped.
    pub fn invalidate_all(&mut self) -> usize {
        self.pml4e.invalidate_where(|_| true)
            + self.pdpte.invalidate_where(|_| true)
            + self.pde.invalidate_where(|_| true)
    }

    pub fn stats(&self) -> &PwcStats {
        &self.stats
    }

    /// Forget every level's memos, so the next operation takes the general path; for tests.
    #[cfg(test)]
    fn forget_memos(&mut self) {
        self.pml4e.forget_memos();
        self.pdpte.forget_memos();
        self.pde.forget_memos();
    }

    /// Lookup latency (all levels in parallel).
    pub fn latency(&self) -> Cycles {
        self.latency
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Asid = Asid(1);

    /// A VA from its PML4, PDPT, PD and PT indices (and page offset 0x123).
    fn va(l4: u64, l3: u64, l2: u64, l1: u64) -> VirtAddr {
        VirtAddr((l4 << 39) | (l3 << 30) | (l2 << 21) | (l1 << 12) | 0x123)
    }

    fn pwc() -> PageWalkCaches {
        PageWalkCaches::new(&PwcConfig::default(), 0)
    }

    /// Fill the three levels as a walk of `v` would: PML4E -> PDPT frame `base`+1,
    /// PDPTE -> PD frame `base`+2, PDE -> PT frame `base`+3.
    fn walk_fill(p: &mut PageWalkCaches, asid: Asid, v: VirtAddr, base: u64) {
        p.fill(asid, v, Level::Pml4, Ppn(base + 1));
        p.fill(asid, v, Level::Pdpt, Ppn(base + 2));
        p.fill(asid, v, Level::Pd, Ppn(base + 3));
    }

    #[test]
    fn pde_hit_skips_to_the_pt_level_with_the_right_table() {
        let mut p = pwc();
        let v = va(1, 2, 3, 4);
        p.fill(A, v, Level::Pd, Ppn(0x777));
        let hit = p.lookup(A, va(1, 2, 3, 400)).unwrap();
        assert_eq!(
            hit,
            PwcHit {
                next_level: Level::Pt,
                table: Ppn(0x777)
            }
        );
        // Walking on from the hit reads the PT entry for the VA in that table.
        assert_eq!(
            hit.next_level.entry_addr(hit.table, va(1, 2, 3, 400)).0,
            (0x777 << 12) + 400 * 8
        );
    }

    #[test]
    fn deepest_hit_wins() {
        let mut p = pwc();
        walk_fill(&mut p, A, va(1, 2, 3, 4), 100);
        // Same 2 MiB region: PDE hit.
        assert_eq!(
            p.lookup(A, va(1, 2, 3, 9)),
            Some(PwcHit {
                next_level: Level::Pt,
                table: Ppn(103)
            })
        );
        // Same 1 GiB, other 2 MiB: PDPTE hit.
        assert_eq!(
            p.lookup(A, va(1, 2, 4, 9)),
            Some(PwcHit {
                next_level: Level::Pd,
                table: Ppn(102)
            })
        );
        // Same 512 GiB, other 1 GiB: PML4E hit.
        assert_eq!(
            p.lookup(A, va(1, 3, 3, 4)),
            Some(PwcHit {
                next_level: Level::Pdpt,
                table: Ppn(101)
            })
        );
        // Other 512 GiB: miss.
        assert_eq!(p.lookup(A, va(2, 2, 3, 4)), None);
        // Every level counted every lookup; hits only where the level hit.
        let s = p.stats();
        assert_eq!((s.pml4e.lookups, s.pml4e.hits, s.pml4e.fills), (4, 3, 1));
        assert_eq!((s.pdpte.lookups, s.pdpte.hits, s.pdpte.fills), (4, 2, 1));
        assert_eq!((s.pde.lookups, s.pde.hits, s.pde.fills), (4, 1, 1));
    }

    #[test]
    fn entries_for_different_regions_do_not_alias() {
        let mut p = pwc();
        // Adjacent 2 MiB regions, the same PD index under different PDPT indices, and the same
        // lower indices under different PML4 indices: all distinct PDE keys.
        let regions = [
            va(1, 2, 3, 0),
            va(1, 2, 4, 0),
            va(1, 5, 3, 0),
            va(6, 2, 3, 0),
        ];
        for (i, &r) in regions.iter().enumerate() {
            p.fill(A, r, Level::Pd, Ppn(0x100 + i as u64));
        }
        for (i, &r) in regions.iter().enumerate() {
            let hit = p.lookup(A, VirtAddr(r.0 + 0x5000)).unwrap();
            assert_eq!(hit.next_level, Level::Pt);
            assert_eq!(hit.table, Ppn(0x100 + i as u64), "region {i}");
        }
        // PDPTE keys: two 1 GiB regions with the same PDPT index under different PML4 entries.
        p.fill(A, va(1, 7, 0, 0), Level::Pdpt, Ppn(0x201));
        p.fill(A, va(2, 7, 0, 0), Level::Pdpt, Ppn(0x202));
        assert_eq!(p.lookup(A, va(1, 7, 9, 9)).unwrap().table, Ppn(0x201));
        assert_eq!(p.lookup(A, va(2, 7, 9, 9)).unwrap().table, Ppn(0x202));
    }

    #[test]
    fn pde_set_index_is_key_mod_sets() {
        // Default PDE cache: 32 entries, 4 ways, 8 sets. PD indices 0, 8, 16, 24, 32 (same
        // PML4/PDPT) share set 0; the fifth fill evicts the LRU one (index 0).
        let mut p = pwc();
        for i in [0, 8, 16, 24, 32] {
            p.fill(A, va(0, 0, i, 0), Level::Pd, Ppn(i));
        }
        assert_eq!(p.lookup(A, va(0, 0, 0, 0)), None);
        for i in [8, 16, 24, 32] {
            assert_eq!(p.lookup(A, va(0, 0, i, 0)).unwrap().table, Ppn(i));
        }
        // Other sets are untouched: 28 more entries fit without evicting any of the above.
        for i in (1..40).filter(|i| i % 8 != 0).take(28) {
            p.fill(A, va(0, 0, i, 0), Level::Pd, Ppn(i));
        }
        for i in [8, 16, 24, 32] {
            assert!(p.lookup(A, va(0, 0, i, 0)).is_some());
        }
    }

    #[test]
    fn five_level_paging_is_handled_safely() {
        let mut p = pwc();
        // A PML5 entry is never cached, nor is a PT (leaf) entry.
        p.fill(A, va(1, 2, 3, 4), Level::Pml5, Ppn(9));
        p.fill(A, va(1, 2, 3, 4), Level::Pt, Ppn(9));
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)), None);
        assert_eq!(
            p.stats().pml4e.fills + p.stats().pdpte.fills + p.stats().pde.fills,
            0
        );
        // 57-bit VAs that differ only in the PML5 index (bits 56:48) do not alias.
        let lo = va(1, 2, 3, 4);
        let hi = VirtAddr(lo.0 | (5 << 48));
        walk_fill(&mut p, A, lo, 10);
        walk_fill(&mut p, A, hi, 20);
        assert_eq!(p.lookup(A, lo).unwrap().table, Ppn(13));
        assert_eq!(p.lookup(A, hi).unwrap().table, Ppn(23));
        assert_eq!(
            p.lookup(A, VirtAddr(va(1, 9, 0, 0).0 | (5 << 48)))
                .unwrap()
                .table,
            Ppn(21)
        );
        assert_eq!(p.lookup(A, va(1, 9, 0, 0)).unwrap().table, Ppn(11));
    }

    #[test]
    fn asids_are_isolated() {
        let mut p = pwc();
        walk_fill(&mut p, A, va(1, 2, 3, 4), 100);
        assert_eq!(p.lookup(Asid(2), va(1, 2, 3, 4)), None);
        walk_fill(&mut p, Asid(2), va(1, 2, 3, 4), 200);
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)).unwrap().table, Ppn(103));
        assert_eq!(p.lookup(Asid(2), va(1, 2, 3, 4)).unwrap().table, Ppn(203));
    }

    #[test]
    fn refill_replaces_in_place() {
        let mut p = pwc();
        p.fill(A, va(1, 2, 3, 4), Level::Pd, Ppn(1));
        p.fill(A, va(1, 2, 3, 5), Level::Pd, Ppn(2));
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)).unwrap().table, Ppn(2));
        assert_eq!(p.invalidate_all(), 1, "only one entry for the key");
        assert_eq!(p.stats().pde.fills, 2);
    }

    #[test]
    fn disabled_caches_count_nothing() {
        let cfg = PwcConfig {
            enabled: false,
            ..PwcConfig::default()
        };
        let mut p = PageWalkCaches::new(&cfg, 0);
        assert!(!p.enabled());
        walk_fill(&mut p, A, va(1, 2, 3, 4), 100);
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)), None);
        assert_eq!(p.stats(), &PwcStats::default());
    }

    #[test]
    fn a_level_with_no_entries_never_hits_and_counts_nothing() {
        let cfg = PwcConfig {
            pml4e: PwcLevelConfig {
                entries: 0,
                ways: 0,
            },
            ..PwcConfig::default()
        };
        assert_eq!(cfg.validate("walker.pwc"), Ok(()));
        let mut p = PageWalkCaches::new(&cfg, 0);
        p.fill(A, va(1, 2, 3, 4), Level::Pml4, Ppn(1));
        p.fill(A, va(1, 2, 3, 4), Level::Pdpt, Ppn(2));
        assert_eq!(p.lookup(A, va(1, 3, 0, 0)), None);
        assert_eq!(p.lookup(A, va(1, 2, 0, 0)).unwrap().table, Ppn(2));
        assert_eq!(p.stats().pml4e, PwcLevelStats::default());
        assert_eq!(p.stats().pdpte.lookups, 2);
    }

    #[test]
    fn invalidation_by_va_asid_and_all() {
        let mut p = pwc();
        walk_fill(&mut p, A, va(1, 2, 3, 4), 100);
        walk_fill(&mut p, Asid(2), va(1, 2, 3, 4), 200);
        // By VA: every level covering the VA, for that asid only.
        assert_eq!(p.invalidate_va(A, va(1, 2, 3, 0)), 3);
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)), None);
        assert_eq!(p.lookup(Asid(2), va(1, 2, 3, 4)).unwrap().table, Ppn(203));
        // A VA in another 2 MiB region of the same 1 GiB drops the PML4E and PDPTE only.
        walk_fill(&mut p, A, va(1, 2, 3, 4), 100);
        assert_eq!(p.invalidate_va(A, va(1, 2, 8, 0)), 2);
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)).unwrap().table, Ppn(103));
        assert_eq!(p.lookup(A, va(1, 2, 8, 0)), None);
        // By asid.
        assert_eq!(p.invalidate_asid(Asid(2)), 3);
        assert_eq!(p.lookup(Asid(2), va(1, 2, 3, 4)), None);
        assert!(p.lookup(A, va(1, 2, 3, 4)).is_some());
        // All.
        assert_eq!(p.invalidate_all(), 1);
        assert_eq!(p.lookup(A, va(1, 2, 3, 4)), None);
    }

    /// The memos (skipped replacement updates on repeated hits, skipped searches on fills of
    /// a key just missed) change nothing: a PWC that forgets them before every operation, and
    /// so always takes the general path, gives the same answers and counts, for every policy.
    #[test]
    fn memos_match_the_general_path() {
        use rand::{RngExt, SeedableRng};
        for policy in [
            PolicyKind::Lru,
            PolicyKind::Plru,
            PolicyKind::Fifo,
            PolicyKind::Random,
        ] {
            let cfg = PwcConfig {
                policy,
                pml4e: PwcLevelConfig {
                    entries: 2,
                    ways: 2,
                },
                pdpte: PwcLevelConfig {
                    entries: 4,
                    ways: 2,
                },
                pde: PwcLevelConfig {
                    entries: 8,
                    ways: 4,
                },
                ..PwcConfig::default()
            };
            let mut fast = PageWalkCaches::new(&cfg, 5);
            let mut general = PageWalkCaches::new(&cfg, 5);
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(policy as u64);
            let mut hits = 0;
            for step in 0..20_000 {
                general.forget_memos();
                let asid = Asid(rng.random_range(1..3));
                let v = va(
                    rng.random_range(0..3),
                    rng.random_range(0..4),
                    rng.random_range(0..12),
                    0,
                );
                match rng.random_range(0..10) {
                    0..5 => {
                        let a = fast.lookup(asid, v);
                        assert_eq!(a, general.lookup(asid, v), "{policy:?} step {step}");
                        hits += a.is_some() as u32;
                        if rng.random_bool(0.5) {
                            // A walk fills the key it just missed.
                            let level = [Level::Pml4, Level::Pdpt, Level::Pd][step % 3];
                            fast.fill(asid, v, level, Ppn(step as u64));
                            general.forget_memos();
                            general.fill(asid, v, level, Ppn(step as u64));
                        }
                    }
                    5..9 => {
                        let level = [Level::Pml4, Level::Pdpt, Level::Pd][step % 3];
                        let table = Ppn(rng.random_range(0..1000));
                        fast.fill(asid, v, level, table);
                        general.fill(asid, v, level, table);
                    }
                    _ => assert_eq!(fast.invalidate_va(asid, v), general.invalidate_va(asid, v)),
                }
                assert_eq!(fast.stats(), general.stats(), "{policy:?} step {step}");
            }
            assert!(hits > 1000, "{policy:?}: the sequence must hit");
        }
    }

    #[test]
    fn position_of_finds_the_first_match_at_any_length() {
        for len in 0..20usize {
            for at in 0..len {
                let mut tags: Vec<u64> = (0..len as u64).map(|i| 100 + i).collect();
                tags[at] = 7;
                if at + 2 < len {
                    tags[at + 2] = 7; // a later duplicate does not count
                }
                assert_eq!(position_of(&tags, 7), Some(at), "len {len} at {at}");
                assert_eq!(way_of(&tags, 7), Some(at), "len {len} at {at}");
            }
            let none: Vec<u64> = (0..len as u64).collect();
            assert_eq!(position_of(&none, 99), None, "len {len}");
            assert_eq!(way_of(&none, 99), None, "len {len}");
        }
    }

    #[test]
    fn config_validation_names_the_key() {
        assert_eq!(PwcConfig::default().validate("walker.pwc"), Ok(()));
        let cfg = PwcConfig {
            pde: PwcLevelConfig {
                entries: 24,
                ways: 4,
            },
            ..PwcConfig::default()
        };
        let e = cfg.validate("walker.pwc").unwrap_err();
        assert_eq!(e.key, "walker.pwc.pde.ways");
        assert!(e.to_string().contains("power-of-two number of sets"), "{e}");
        let cfg = PwcConfig {
            latency: 0,
            ..PwcConfig::default()
        };
        assert_eq!(
            cfg.validate("walker.pwc").unwrap_err().key,
            "walker.pwc.latency"
        );
    }
}
