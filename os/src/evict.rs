//! Page replacement: which resident data frame to evict when no frame is free.
//!
//! Only evictable frames are candidates: resident data pages (private or shared) that are not
//! pinned for DMA and not in transit. Policies (`os.eviction`):
//! - `fifo`: the frame made resident longest ago.
//! - `clock`: second chance over physical frames in frame-number order, using the A bits of
//!   every PTE that maps the frame: a frame with an A bit set has it cleared and is passed
//!   over; the first frame found with none set is the victim. As Linux does on x86, clearing A
//!   does not flush the TLB, so a page that keeps hitting in the TLB looks unreferenced.
//! - `lru`: the frame least recently accessed. An OS cannot see every access; this policy is the
//!   idealised reference the others are measured against: the run loop reports every completed
//!   access's frame ([`Evictor::touch`]), and the victim is found by a scan of the resident
//!   frames (O(resident) per eviction).
//! - `random`: uniform over the resident frames, from a `Xoshiro256PlusPlus` seeded with
//!   `seed ^ EVICT_STREAM`.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use vmsim_hw::Ppn;

/// Seed stream of the `random` policy.
pub const EVICT_STREAM: u64 = 0x4556_4943_0000_0001;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvictionPolicy {
    Fifo,
    #[default]
    Clock,
    Lru,
    Random,
}

impl EvictionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::Fifo => "fifo",
            EvictionPolicy::Clock => "clock",
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Random => "random",
        }
    }
}

pub struct Evictor {
    policy: EvictionPolicy,
    /// Dense list of evictable frames, and each frame's index in it plus one (0 if absent:
    /// the vector starts zeroed, which costs nothing until frames are used).
    resident: Vec<Ppn>,
    pos: Vec<u32>,
    /// FIFO: (frame, generation) in order of becoming resident; stale entries are skipped.
    fifo: VecDeque<(Ppn, u32)>,
    /// FIFO: how many times each frame became a candidate (empty for the other policies).
    generation: Vec<u32>,
    /// Clock hand: the next frame number to look at.
    hand: u64,
    /// LRU: cycle of each frame's last access (or of becoming resident).
    last_use: Vec<u64>,
    rng: Xoshiro256PlusPlus,
}

impl Evictor {
    pub fn new(policy: EvictionPolicy, frames: u64, seed: u64) -> Evictor {
        let n = frames as usize;
        Evictor {
            policy,
            resident: Vec::new(),
            pos: vec![0; n],
            fifo: VecDeque::new(),
            generation: if policy == EvictionPolicy::Fifo {
                vec![0; n]
            } else {
                Vec::new()
            },
            hand: 0,
            last_use: if policy == EvictionPolicy::Lru {
                vec![0; n]
            } else {
                Vec::new()
            },
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ EVICT_STREAM),
        }
    }

    pub fn policy(&self) -> EvictionPolicy {
        self.policy
    }

    /// `ppn` became a resident, evictable frame at cycle `now`.
    #[inline(always)]
    pub fn insert(&mut self, ppn: Ppn, now: u64) {
        let f = ppn.0 as usize;
        debug_assert_eq!(self.pos[f], 0, "frame {} inserted twice", ppn.0);
        self.resident.push(ppn);
        self.pos[f] = self.resident.len() as u32;
        // Generations tell the FIFO queue's stale entries apart; only `fifo` reads them.
        match self.policy {
            EvictionPolicy::Fifo => {
                self.generation[f] = self.generation[f].wrapping_add(1);
                self.fifo.push_back((ppn, self.generation[f]));
            }
            EvictionPolicy::Lru => self.last_use[f] = now,
            _ => {}
        }
    }

    /// `ppn` is no longer a candidate (freed, or being evicted).
    pub fn remove(&mut self, ppn: Ppn) {
        let f = ppn.0 as usize;
        let Some(i) = self.pos[f].checked_sub(1) else {
            return;
        };
        self.resident.swap_remove(i as usize);
        if let Some(&moved) = self.resident.get(i as usize) {
            self.pos[moved.0 as usize] = i + 1;
        }
        self.pos[f] = 0;
    }

    pub fn contains(&self, ppn: Ppn) -> bool {
        self.pos[ppn.0 as usize] != 0
    }

    /// An access to `ppn` completed at cycle `now` (used by `lru` only).
    #[inline]
    pub fn touch(&mut self, ppn: Ppn, now: u64) {
        if self.policy == EvictionPolicy::Lru
            && let Some(t) = self.last_use.get_mut(ppn.0 as usize)
        {
            *t = now;
        }
    }

    /// Evictable frames.
    pub fn len(&self) -> usize {
        self.resident.len()
    }
    pub fn is_empty(&self) -> bool {
        self.resident.is_empty()
    }

    /// Choose a victim and remove it from the candidates. `referenced(ppn)` tests and clears
    /// the A bits of the frame's mappings (used by `clock`).
    pub fn pick(&mut self, referenced: &mut dyn FnMut(Ppn) -> bool) -> Option<Ppn> {
        if self.resident.is_empty() {
            return None;
        }
        let victim = match self.policy {
            EvictionPolicy::Fifo => loop {
                let (ppn, generation) = self.fifo.pop_front()?;
                if self.contains(ppn) && self.generation[ppn.0 as usize] == generation {
                    break ppn;
                }
            },
            EvictionPolicy::Random => {
                self.resident[(self.rng.next_u64() % self.resident.len() as u64) as usize]
            }
            EvictionPolicy::Lru => *self
                .resident
                .iter()
                .min_by_key(|p| (self.last_use[p.0 as usize], p.0))
                .expect("not empty"),
            EvictionPolicy::Clock => {
                let n = self.pos.len() as u64;
                // Two sweeps always find one: the first clears every A bit it passes.
                let mut found = None;
                for _ in 0..2 * n {
                    let p = Ppn(self.hand);
                    self.hand = (self.hand + 1) % n;
                    if self.contains(p) && !referenced(p) {
                        found = Some(p);
                        break;
                    }
                }
                found?
            }
        };
        self.remove(victim);
        Some(victim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(policy: EvictionPolicy) -> Evictor {
        let mut e = Evictor::new(policy, 8, 1);
        for (t, f) in [3u64, 1, 5, 2].into_iter().enumerate() {
            e.insert(Ppn(f), t as u64);
        }
        e
    }

    #[test]
    fn fifo_takes_the_oldest_and_skips_removed_frames() {
        let mut e = ev(EvictionPolicy::Fifo);
        e.remove(Ppn(3));
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(1)));
        // Re-inserted: now the youngest.
        e.insert(Ppn(3), 9);
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(5)));
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(2)));
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(3)));
        assert_eq!(e.pick(&mut |_| false), None);
    }

    #[test]
    fn lru_takes_the_least_recently_touched() {
        let mut e = ev(EvictionPolicy::Lru);
        e.touch(Ppn(3), 10);
        e.touch(Ppn(1), 11);
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(5)));
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(2)));
        assert_eq!(e.pick(&mut |_| false), Some(Ppn(3)));
    }

    #[test]
    fn clock_gives_referenced_frames_a_second_chance() {
        let mut e = ev(EvictionPolicy::Clock);
        let mut abits = [false; 8];
        abits[1] = true;
        abits[2] = true;
        let mut test_and_clear = |p: Ppn| std::mem::replace(&mut abits[p.0 as usize], false);
        // Hand starts at 0: frame 1 is referenced (cleared), 2 referenced (cleared), 3 is not.
        assert_eq!(e.pick(&mut test_and_clear), Some(Ppn(3)));
        assert_eq!(e.pick(&mut test_and_clear), Some(Ppn(5)));
        // Wraps around: 1 and 2 had their bits cleared on the first sweep.
        assert_eq!(e.pick(&mut test_and_clear), Some(Ppn(1)));
    }

    #[test]
    fn random_is_seeded_and_picks_only_candidates() {
        let picks = |seed| {
            let mut e = Evictor::new(EvictionPolicy::Random, 8, seed);
            for f in [3u64, 1, 5, 2] {
                e.insert(Ppn(f), 0);
            }
            (0..4)
                .map(|_| e.pick(&mut |_| false).unwrap().0)
                .collect::<Vec<_>>()
        };
        let a = picks(7);
        assert_eq!(a, picks(7));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, vec![1, 2, 3, 5]);
    }
}
