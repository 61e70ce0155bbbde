//! A set-associative, write-back data cache. It holds tags and dirty bits only: the data lives
//! in simulated physical memory.
//!
//! # Reference semantics
//!
//! - **Lines** are [`LINE_SIZE`] (64) bytes. Geometry: `lines = size_kib * 1024 / 64`,
//!   `sets = lines / ways`, a power of two.
//! - **Set index** = line number % sets, where line number = `addr >> 6`.
//! - [`Cache::access`] counts one access and one hit or miss. A hit updates replacement state
//!   and, for a write, marks the line dirty. A miss changes nothing (the caller fills).
//! - [`Cache::fill`] of a line that is not present counts one fill and installs it (invalid ways
//!   first, else the policy's victim); a displaced valid line is returned, and counted as a
//!   writeback if dirty. Filling a line that is already present installs nothing and counts
//!   nothing: it ORs in the dirty bit and touches the line like a hit (most recent for LRU, the
//!   tree for PLRU; FIFO and random unchanged), as a write-back arriving from an upper level
//!   would.
//! - [`Cache::invalidate`] drops a line and reports whether it was dirty; it counts nothing (the
//!   caller decides whether to write it back).
//!
//! # Tags
//!
//! A way holds one 32-bit word: the line's tag as a hardware cache keeps it, the line number
//! without its set-index bits (`line >> log2(sets)`), stored plus one in the low 31 bits (so
//! that 0 marks an empty way), and the dirty bit on top. A 16-way set is then 64 bytes, one
//! host cache line, holding every tag and dirty bit a lookup or a fill reads and writes (the
//! replacement state is kept apart, by [`Replacement`]), and a lookup compares all its ways at
//! once (`first_of32` in `ways.rs`). The physical memory must fit the 31 bits:
//! [`CacheConfig::validate_reach`] checks it (any cache reaches 128 GiB; at the largest memory
//! the OS allows, 1 TiB, a cache needs at least 16 sets).

use crate::error::ConfigError;
use crate::replacement::{PolicyKind, Replacement};
use crate::tlb::validate_geometry;
use crate::types::{Cycles, LINE_SHIFT, LINE_SIZE, PhysAddr};
use crate::ways::first_of32;
use serde::{Deserialize, Serialize};
use std::ops::Sub;

/// Geometry, latency and policy of one cache level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Capacity in KiB (>= 1).
    pub size_kib: usize,
    /// Associativity: divides the number of lines with a power-of-two number of sets.
    pub ways: usize,
    /// Hit latency in core cycles (>= 1).
    pub latency: u64,
    /// Replacement policy within a set.
    pub policy: PolicyKind,
}

impl Default for CacheConfig {
    /// 32 KiB, 8-way, 4 cycles, LRU: an L1D-like cache. The sim crate sets per-level defaults.
    fn default() -> CacheConfig {
        CacheConfig {
            size_kib: 32,
            ways: 8,
            latency: 4,
            policy: PolicyKind::Lru,
        }
    }
}

impl CacheConfig {
    /// Number of 64-byte lines.
    pub fn lines(&self) -> usize {
        self.size_kib * 1024 / LINE_SIZE as usize
    }

    /// Number of sets, `lines / ways`.
    pub fn sets(&self) -> usize {
        self.lines() / self.ways.max(1)
    }

    /// The bytes of physical memory whose lines this cache's 31-bit tags can tell apart (see
    /// the module documentation): `2^31 - 1` tags per set.
    pub fn reach(&self) -> u128 {
        u128::from(TAG_MASK) * self.sets() as u128 * LINE_SIZE as u128
    }

    /// Check that a physical memory of `phys_bytes` fits this cache's tags (see
    /// [`CacheConfig::reach`]); `key` as for [`CacheConfig::validate`].
    pub fn validate_reach(&self, key: &str, phys_bytes: u64) -> Result<(), ConfigError> {
        if u128::from(phys_bytes) <= self.reach() {
            return Ok(());
        }
        let min_sets = u128::from(phys_bytes)
            .div_ceil(u128::from(TAG_MASK) * LINE_SIZE as u128)
            .next_power_of_two();
        Err(ConfigError::new(
            format!("{key}.ways"),
            format!(
                "{} ways of {} KiB leave {} sets, too few for {phys_bytes} bytes of physical \
                 memory: tags are 31 bits (line number / sets), so it needs at least {min_sets} \
                 sets (fewer ways, a larger size_kib, or fewer os.frames)",
                self.ways,
                self.size_kib,
                self.sets()
            ),
        ))
    }

    /// Check the config; `key` is this cache's config key (e.g. `cache.l1d`), and errors name
    /// the field under it (`cache.l1d.ways`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.size_kib == 0 {
            return Err(ConfigError::new(
                format!("{key}.size_kib"),
                "must be at least 1 (capacity in KiB)",
            ));
        }
        validate_geometry(key, "lines", self.lines(), self.ways, true).map_err(|e| {
            ConfigError::new(e.key, format!("{} (size_kib {})", e.msg, self.size_kib))
        })?;
        if self.latency == 0 {
            return Err(ConfigError::new(
                format!("{key}.latency"),
                "must be at least 1 (hit latency in core cycles)",
            ));
        }
        Ok(())
    }
}

/// A line pushed out by a fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Victim {
    /// The line address (a multiple of 64).
    pub addr: PhysAddr,
    /// Whether it must be written back.
    pub dirty: bool,
}

/// Counters of one cache.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CacheStats {
    pub accesses: u64,
    pub hits: u64,
    pub misses: u64,
    pub fills: u64,
    pub writebacks: u64,
}

impl Sub for CacheStats {
    type Output = CacheStats;
    /// Counts since an earlier snapshot (warm-up deltas); saturates at zero.
    fn sub(self, e: CacheStats) -> CacheStats {
        CacheStats {
            accesses: self.accesses.saturating_sub(e.accesses),
            hits: self.hits.saturating_sub(e.hits),
            misses: self.misses.saturating_sub(e.misses),
            fills: self.fills.saturating_sub(e.fills),
            writebacks: self.writebacks.saturating_sub(e.writebacks),
        }
    }
}
/// Dirty flag of a way's word.
const DIRTY: u32 = 1 << 31;
/// The tag (plus one) within a way's word.
const TAG_MASK: u32 = DIRTY - 1;

/// The way of `set` (one set's words) whose tag is `want` (dirty or not), if any.
///
/// The common associativities get a vector search without a branch per way; others a plain
/// scan. Both return the lowest matching way (a line is in at most one way, so there is only
/// one).
#[inline(always)]
fn way_of(set: &[u32], want: u32) -> Option<usize> {
    match set.len() {
        4 => first_of32::<4>(set, want, TAG_MASK),
        8 => first_of32::<8>(set, want, TAG_MASK),
        16 => first_of32::<16>(set, want, TAG_MASK),
        _ => set.iter().position(|&t| t & TAG_MASK == want),
    }
}

/// A data cache level (see the module documentation).
#[derive(Clone, Debug)]
pub struct Cache {
    sets: usize,
    ways: usize,
    set_mask: u64,
    /// Per slot (`tag0 + set * ways + way`): the tag plus one and the [`DIRTY`] flag (see the
    /// module documentation), or 0 when the slot is empty, so a set's lookup compares one
    /// contiguous run of words against one value.
    tags: Vec<u32>,
    /// Where slot 0 is in `tags`: the first word at a 64-byte boundary, so that a set of 16
    /// ways is exactly one host cache line (and a set of 8 or 4 never straddles two). A large
    /// cache's lookups miss the host's caches, and each line touched is a miss. (A clone keeps
    /// the offset: still correct, perhaps no longer aligned.)
    tag0: usize,
    /// log2(sets): the line number's bits below the tag.
    set_bits: u32,
    /// Number of slots (`sets * ways`, kept for the fill's every-slot-valid test).
    lines: usize,
    /// Slots holding a line: once every slot does, a fill need not look for an invalid way.
    valid_lines: usize,
    /// A line was invalidated at some point. Until then every set's valid ways are a prefix
    /// `0..k` (a fill takes the lowest invalid way, or replaces a valid one), so a set whose
    /// last way is valid is full and a fill need not search it for an invalid way.
    invalidated: bool,
    repl: Replacement,
    latency: Cycles,
    stats: CacheStats,
}

impl Cache {
    /// Build an empty cache. `seed` feeds the random policy.
    ///
    /// Panics if `cfg` does not pass [`CacheConfig::validate`] (validate configs first).
    pub fn new(cfg: &CacheConfig, seed: u64) -> Cache {
        if let Err(e) = cfg.validate("cache") {
            panic!("Cache::new with an unvalidated config: {e}");
        }
        let sets = cfg.sets();
        let n = cfg.lines();
        // Up to 15 spare words in front of slot 0 (a `Vec` never moves once allocated).
        let tags = vec![0u32; n + 15];
        let tag0 = tags.as_ptr().align_offset(64).min(15);
        Cache {
            sets,
            ways: cfg.ways,
            set_mask: sets as u64 - 1,
            tags,
            tag0,
            set_bits: sets.trailing_zeros(),
            lines: n,
            valid_lines: 0,
            invalidated: false,
            repl: Replacement::new(cfg.policy, sets, cfg.ways, seed),
            latency: Cycles(cfg.latency),
            stats: CacheStats::default(),
        }
    }

    /// The set of `addr`.
    #[inline]
    fn set_of(&self, addr: PhysAddr) -> usize {
        (addr.line() & self.set_mask) as usize
    }

    /// The way of `set` holding `addr`'s line, if present. Always inlined: the result then
    /// stays in registers, and the lookup is most of the cost of an access.
    #[inline(always)]
    fn way_in(&self, set: usize, addr: PhysAddr) -> Option<usize> {
        let base = self.tag0 + set * self.ways;
        way_of(&self.tags[base..base + self.ways], self.key(addr))
    }

    /// The tag word of `addr`'s line, clean: its tag plus one. [`CacheConfig::validate_reach`]
    /// keeps physical addresses within 31 bits of tag.
    #[inline(always)]
    fn key(&self, addr: PhysAddr) -> u32 {
        let tag = addr.line() >> self.set_bits;
        debug_assert!(
            tag < u64::from(TAG_MASK),
            "{addr:?} beyond the cache's reach"
        );
        (tag + 1) as u32
    }

    /// The slot of way `w` of `set` in `tags`.
    #[inline(always)]
    fn slot(&self, set: usize, w: usize) -> usize {
        self.tag0 + set * self.ways + w
    }

    /// (set, way) of the line holding `addr`, if present.
    #[inline(always)]
    fn find(&self, addr: PhysAddr) -> (usize, Option<usize>) {
        let set = self.set_of(addr);
        (set, self.way_in(set, addr))
    }

    /// Look up the line holding `addr`: counts an access and a hit or a miss. A hit updates
    /// replacement state and, if `write`, marks the line dirty. Returns whether it hit.
    /// Always inlined into its few callers (the core's L1 path, the memory system's lookups).
    #[inline(always)]
    pub fn access(&mut self, addr: PhysAddr, write: bool) -> bool {
        self.stats.accesses += 1;
        match self.find(addr) {
            (set, Some(w)) => {
                self.stats.hits += 1;
                self.repl.on_hit(set, w);
                if write {
                    let i = self.slot(set, w);
                    self.tags[i] |= DIRTY;
                }
                true
            }
            (_, None) => {
                self.stats.misses += 1;
                false
            }
        }
    }

    /// Whether the line holding `addr` is present. Counts nothing.
    pub fn contains(&self, addr: PhysAddr) -> bool {
        self.find(addr).1.is_some()
    }

    /// Whether the line holding `addr` is present and dirty. Counts nothing.
    pub fn is_dirty(&self, addr: PhysAddr) -> bool {
        match self.find(addr) {
            (set, Some(w)) => self.tags[self.slot(set, w)] & DIRTY != 0,
            _ => false,
        }
    }

    /// Install the line holding `addr` (see the module docs): returns the displaced valid line,
    /// whose writeback is counted if it is dirty. A line already present only ORs in `dirty`.
    #[inline]
    pub fn fill(&mut self, addr: PhysAddr, dirty: bool) -> Option<Victim> {
        self.fill_known(addr, dirty, false)
    }

    /// [`Cache::fill`] of a line the caller knows is absent (it missed here, and nothing was
    /// installed since): the same, without looking the line up again.
    #[inline]
    pub fn fill_absent(&mut self, addr: PhysAddr, dirty: bool) -> Option<Victim> {
        self.fill_known(addr, dirty, true)
    }

    /// [`Cache::fill_absent`] if `known_absent`, else [`Cache::fill`], with a single copy of
    /// the install code for callers that decide at run time.
    #[inline(always)]
    pub fn fill_known(
        &mut self,
        addr: PhysAddr,
        dirty: bool,
        known_absent: bool,
    ) -> Option<Victim> {
        let set = self.set_of(addr);
        if known_absent {
            debug_assert!(!self.contains(addr), "fill_absent of a present line");
        } else if let Some(w) = self.way_in(set, addr) {
            if dirty {
                let i = self.slot(set, w);
                self.tags[i] |= DIRTY;
            }
            self.repl.on_hit(set, w);
            return None;
        }
        self.insert(set, addr, dirty)
    }

    /// Put the absent line holding `addr` into `set`: an invalid way if any, else the policy's
    /// victim, which is returned.
    #[inline(always)]
    fn insert(&mut self, set: usize, addr: PhysAddr, dirty: bool) -> Option<Victim> {
        let tag_base = self.slot(set, 0);
        self.stats.fills += 1;
        let set_tags = &self.tags[tag_base..tag_base + self.ways];
        // Empty slots hold 0, which no valid tag equals.
        let free = if self.valid_lines == self.lines
            || !self.invalidated && set_tags[self.ways - 1] != 0
        {
            None
        } else {
            way_of(set_tags, 0)
        };
        let w = match free {
            Some(w) => {
                self.repl.on_fill(set, w);
                w
            }
            None => self.repl.victim_then_fill(set),
        };
        let word = self.key(addr) | if dirty { DIRTY } else { 0 };
        let old = std::mem::replace(&mut self.tags[tag_base + w], word);
        if old != 0 {
            let was_dirty = old & DIRTY != 0;
            if was_dirty {
                self.stats.writebacks += 1;
            }
            let line = u64::from((old & TAG_MASK) - 1) << self.set_bits | set as u64;
            Some(Victim {
                addr: PhysAddr(line << LINE_SHIFT),
                dirty: was_dirty,
            })
        } else {
            self.valid_lines += 1;
            None
        }
    }

    /// Drop the line holding `addr`; `Some(dirty)` if it was present. Counts nothing.
    pub fn invalidate(&mut self, addr: PhysAddr) -> Option<bool> {
        let (set, w) = self.find(addr);
        let w = w?;
        let i = self.slot(set, w);
        let was_dirty = std::mem::replace(&mut self.tags[i], 0) & DIRTY != 0;
        self.invalidated = true;
        self.valid_lines -= 1;
        self.repl.on_invalidate(set, w);
        Some(was_dirty)
    }

    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Hit latency.
    pub fn latency(&self) -> Cycles {
        self.latency
    }

    pub fn sets(&self) -> usize {
        self.sets
    }

    pub fn ways(&self) -> usize {
        self.ways
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 KiB = 16 lines; `ways` ways.
    fn small(ways: usize, policy: PolicyKind) -> Cache {
        Cache::new(
            &CacheConfig {
                size_kib: 1,
                ways,
                latency: 2,
                policy,
            },
            0,
        )
    }

    /// Address of byte `off` in line `line`.
    fn at(line: u64, off: u64) -> PhysAddr {
        PhysAddr(line * 64 + off)
    }

    #[test]
    fn hit_after_fill_anywhere_in_the_line() {
        let mut c = small(2, PolicyKind::Lru);
        assert!(!c.access(at(5, 0), false));
        assert_eq!(c.fill(at(5, 0), false), None);
        assert!(c.access(at(5, 63), false));
        assert!(!c.access(at(6, 0), false));
        assert!(c.contains(at(5, 17)));
        let s = c.stats();
        assert_eq!(
            (s.accesses, s.hits, s.misses, s.fills, s.writebacks),
            (3, 1, 2, 1, 0)
        );
        assert_eq!(c.latency(), Cycles(2));
    }

    #[test]
    fn set_index_is_line_mod_sets() {
        // 16 lines, 2 ways: 8 sets. Lines 3, 11, 19 share set 3.
        let mut c = small(2, PolicyKind::Lru);
        assert_eq!(c.sets(), 8);
        c.fill(at(3, 0), false);
        c.fill(at(11, 0), false);
        c.fill(at(4, 0), false); // set 4: no conflict
        assert_eq!(
            c.fill(at(19, 8), false),
            Some(Victim {
                addr: at(3, 0),
                dirty: false
            })
        );
        assert!(c.contains(at(4, 0)) && c.contains(at(11, 0)) && c.contains(at(19, 0)));
    }

    #[test]
    fn dirty_line_is_written_back_on_eviction() {
        let mut c = small(2, PolicyKind::Lru);
        c.fill(at(3, 0), false);
        c.fill(at(11, 0), false);
        assert!(c.access(at(3, 4), true)); // write hit: dirty, most recent
        assert!(c.is_dirty(at(3, 0)));
        assert_eq!(
            c.fill(at(19, 0), false),
            Some(Victim {
                addr: at(11, 0),
                dirty: false
            })
        );
        assert_eq!(c.stats().writebacks, 0);
        assert_eq!(
            c.fill(at(27, 0), true),
            Some(Victim {
                addr: at(3, 0),
                dirty: true
            })
        );
        assert_eq!(c.stats().writebacks, 1);
        assert!(c.is_dirty(at(27, 0)));
    }

    #[test]
    fn filling_a_present_line_ors_dirty_and_counts_nothing() {
        let mut c = small(2, PolicyKind::Lru);
        c.fill(at(3, 0), false);
        c.fill(at(11, 0), false);
        assert_eq!(c.fill(at(3, 0), true), None);
        assert!(c.is_dirty(at(3, 0)));
        assert_eq!(c.fill(at(3, 0), false), None);
        assert!(c.is_dirty(at(3, 0)), "dirty is ORed, never cleared");
        assert_eq!(c.stats().fills, 2);
        // The refresh made line 3 most recent: 11 is the LRU victim.
        assert_eq!(c.fill(at(19, 0), false).unwrap().addr, at(11, 0));
    }

    #[test]
    fn read_hit_keeps_line_clean() {
        let mut c = small(4, PolicyKind::Plru);
        c.fill(at(1, 0), false);
        assert!(c.access(at(1, 0), false));
        assert!(!c.is_dirty(at(1, 0)));
    }

    #[test]
    fn invalidate_reports_dirty_and_frees_the_way() {
        let mut c = small(2, PolicyKind::Fifo);
        c.fill(at(3, 0), true);
        c.fill(at(11, 0), false);
        assert_eq!(c.invalidate(at(3, 0)), Some(true));
        assert_eq!(c.invalidate(at(3, 0)), None);
        assert_eq!(c.invalidate(at(11, 0)), Some(false));
        assert_eq!(c.fill(at(19, 0), false), None);
        assert!(!c.is_dirty(at(19, 0)));
        assert_eq!(c.stats().writebacks, 0);
    }

    #[test]
    fn fully_associative_cache_has_one_set() {
        let mut c = small(16, PolicyKind::Lru);
        assert_eq!(c.sets(), 1);
        for l in 0..16 {
            assert_eq!(c.fill(at(l * 1000, 0), false), None);
        }
        assert_eq!(c.fill(at(7, 0), false).unwrap().addr, at(0, 0));
    }

    /// Until a line is invalidated, a fill takes a set whose last way is valid as full; with
    /// the shortcut off (as after an invalidation) the search for an invalid way gives the same
    /// victims, counts and contents.
    #[test]
    fn full_set_shortcut_matches_the_search() {
        use rand::{Rng, SeedableRng};
        use rand_xoshiro::Xoshiro256PlusPlus;
        for ways in [1, 2, 4, 8, 16] {
            for policy in [PolicyKind::Lru, PolicyKind::Plru, PolicyKind::Random] {
                let mut fast = Cache::new(
                    &CacheConfig {
                        size_kib: 4,
                        ways,
                        latency: 1,
                        policy,
                    },
                    3,
                );
                let mut searched = fast.clone();
                searched.invalidated = true;
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(ways as u64);
                for step in 0..5_000 {
                    let a = at(rng.next_u64() % 200, 0);
                    let write = rng.next_u64() % 3 == 0;
                    if rng.next_u64() % 2 == 0 {
                        assert_eq!(fast.access(a, write), searched.access(a, write));
                    } else {
                        assert_eq!(fast.fill(a, write), searched.fill(a, write), "step {step}");
                    }
                }
                assert_eq!(fast.stats(), searched.stats());
                assert_eq!(fast.tags, searched.tags);
            }
        }
    }

    /// The vector searches of 4, 8 and 16 ways find what a plain scan finds.
    #[test]
    fn vector_way_search_matches_a_scan() {
        for ways in 1..=20 {
            // Every third way dirty: the flag must not change what matches.
            let mut set: Vec<u32> = (0..ways as u32)
                .map(|w| (100 + w) | if w % 3 == 0 { DIRTY } else { 0 })
                .collect();
            set[ways / 2] = 0; // one invalid way
            for want in (98..100 + ways as u32 + 2).chain([0]) {
                let scan = set.iter().position(|&t| t & TAG_MASK == want);
                assert_eq!(way_of(&set, want), scan, "{ways} ways, want {want:#x}");
            }
        }
    }

    /// Victims come back with their full address and dirty bit from the 32-bit words, up to
    /// the largest physical memory the OS allows (1 TiB), in the default LLC's geometry and in
    /// a cache of 16 sets, the fewest that reach 1 TiB.
    #[test]
    fn victim_addresses_survive_the_narrow_tags() {
        const TIB: u64 = 1 << 40;
        for (size_kib, ways) in [(8192, 16), (16, 16)] {
            let cfg = CacheConfig {
                size_kib,
                ways,
                latency: 1,
                policy: PolicyKind::Fifo,
            };
            assert_eq!(cfg.validate_reach("caches.llc", TIB), Ok(()));
            let mut c = Cache::new(&cfg, 0);
            let stride = c.sets() as u64 * 64; // same set, next tag
            let top = TIB - 64 - 5 * stride; // the last line of memory is the 6th filled
            let lines: Vec<PhysAddr> = (0..=ways as u64 + 5)
                .map(|k| PhysAddr(top + (k % 6) * stride - (k / 6) * 7 * stride))
                .collect();
            let mut victims = Vec::new();
            for (k, &a) in lines.iter().enumerate() {
                victims.extend(c.fill(a, k % 2 == 0));
            }
            // FIFO: the first six lines filled leave, in order, with their dirty bits.
            let want: Vec<Victim> = (0..6)
                .map(|k| Victim {
                    addr: lines[k],
                    dirty: k % 2 == 0,
                })
                .collect();
            assert_eq!(victims, want, "{size_kib} KiB {ways}-way");
            assert!(lines.contains(&PhysAddr(TIB - 64)));
        }
    }

    #[test]
    fn reach_is_checked_against_the_physical_memory() {
        let tiny = CacheConfig {
            size_kib: 4,
            ways: 16,
            latency: 1,
            policy: PolicyKind::Lru,
        };
        // 4 sets: 4 * (2^31 - 1) lines, just under 512 GiB.
        assert_eq!(tiny.sets(), 4);
        assert_eq!(tiny.validate_reach("caches.l1d", 1 << 38), Ok(()));
        let e = tiny.validate_reach("caches.l1d", 1 << 39).unwrap_err();
        assert_eq!(e.key, "caches.l1d.ways");
        assert!(e.msg.contains("at least 8 sets"), "{}", e.msg);
        let e = tiny.validate_reach("caches.l1d", 1 << 40).unwrap_err();
        assert!(e.msg.contains("at least 16 sets"), "{}", e.msg);
    }

    #[test]
    fn config_validation_names_the_key() {
        assert_eq!(CacheConfig::default().validate("cache.l1d"), Ok(()));
        let llc = CacheConfig {
            size_kib: 2048,
            ways: 16,
            latency: 40,
            policy: PolicyKind::Lru,
        };
        assert_eq!(llc.validate("cache.llc"), Ok(()));
        // 48 KiB 12-way = 768 lines, 64 sets: fine (Golden Cove L1D).
        let gc = CacheConfig {
            size_kib: 48,
            ways: 12,
            ..CacheConfig::default()
        };
        assert_eq!(gc.validate("cache.l1d"), Ok(()));
        let e = CacheConfig {
            ways: 3,
            ..CacheConfig::default()
        }
        .validate("cache.l2")
        .unwrap_err();
        assert_eq!(e.key, "cache.l2.ways");
        assert!(e.to_string().contains("must divide lines (512)"), "{e}");
        let e = CacheConfig {
            size_kib: 0,
            ..CacheConfig::default()
        }
        .validate("cache.l2")
        .unwrap_err();
        assert_eq!(e.key, "cache.l2.size_kib");
        let e = CacheConfig {
            latency: 0,
            ..CacheConfig::default()
        }
        .validate("cache.l2")
        .unwrap_err();
        assert_eq!(e.key, "cache.l2.latency");
    }
}
