//! Swap space: slots on the swap device (one 4 KiB disk block each) and the swap entries that
//! record them in non-present PTEs.
//!
//! A swap entry is a leaf PTE with P = 0 (so the hardware faults on it) and bit 1 set, holding
//! the slot number where a PTE holds its frame number (bits 12..51), as Linux's x86 swap entries
//! keep the swap offset in a non-present PTE. A zero PTE is a page never touched (or unmapped).
//!
//! A page keeps its slot after it is read back (the swap cache), so a clean page with a copy on
//! the device is dropped on eviction without being written again; the slot is released when
//! the page is freed. A slot whose last write failed is marked bad: its content is lost, and a
//! process that needs it back is killed with SIGBUS.

use std::collections::{BTreeMap, BTreeSet};
use vmsim_hw::PAGE_SHIFT;
use vmsim_hw::memory::FrameContent;
use vmsim_hw::pte::Pte;

/// Marks a non-present leaf PTE as a swap entry.
pub const SWAP_MARK: u64 = 1 << 1;
const SLOT_MASK: u64 = (1u64 << 40) - 1;

/// The swap entry for `slot`.
pub fn swap_pte(slot: u64) -> Pte {
    debug_assert!(slot <= SLOT_MASK);
    Pte((slot << PAGE_SHIFT) | SWAP_MARK)
}

/// The slot of a swap entry; `None` for a present PTE or an empty one.
pub fn swap_slot(pte: Pte) -> Option<u64> {
    (!pte.present() && pte.0 & SWAP_MARK != 0).then_some((pte.0 >> PAGE_SHIFT) & SLOT_MASK)
}

/// A 64-bit digest of a frame's content, kept per slot so that a swap-in can check that it
/// got back exactly what went out.
pub fn digest(c: &FrameContent) -> u64 {
    let mut h = c.signature ^ 0x9e37_79b9_7f4a_7c15;
    if let Some(w) = &c.words {
        for (i, x) in w.iter().enumerate() {
            h = (h ^ x.wrapping_add(i as u64)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// The slots of the swap device.
pub struct SwapSpace {
    capacity: u64,
    next_fresh: u64,
    free: Vec<u64>,
    /// Slots whose last write failed.
    bad: BTreeSet<u64>,
    /// Digest of the content last written to each slot.
    digests: BTreeMap<u64, u64>,
    /// Slots whose page is being read out of memory for a write not yet queued, and those of
    /// them released meanwhile (freed once the read-out ends, without a write).
    pinned: BTreeSet<u64>,
    dead: BTreeSet<u64>,
    /// Per slot, a count bumped at every write issued and every release: a write's failure
    /// matters only if the slot still holds what that write was to store.
    generation: BTreeMap<u64, u64>,
}

impl SwapSpace {
    /// `capacity` slots (the swap device's blocks).
    pub fn new(capacity: u64) -> SwapSpace {
        SwapSpace {
            capacity,
            next_fresh: 0,
            free: Vec::new(),
            bad: BTreeSet::new(),
            digests: BTreeMap::new(),
            pinned: BTreeSet::new(),
            dead: BTreeSet::new(),
            generation: BTreeMap::new(),
        }
    }

    /// A free slot, lowest never-used first after the most recently released.
    pub fn alloc(&mut self) -> Option<u64> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        (self.next_fresh < self.capacity).then(|| {
            self.next_fresh += 1;
            self.next_fresh - 1
        })
    }

    pub fn release(&mut self, slot: u64) {
        if self.pinned.contains(&slot) {
            self.dead.insert(slot);
            return;
        }
        self.bad.remove(&slot);
        self.digests.remove(&slot);
        *self.generation.entry(slot).or_insert(0) += 1;
        self.free.push(slot);
    }

    /// `slot`'s page is being read out for a write: a release waits until [`SwapSpace::unpin`].
    pub fn pin(&mut self, slot: u64) {
        self.pinned.insert(slot);
    }

    /// The read-out for `slot` ended. Returns true if the slot was released meanwhile (the page
    /// died): it is free now and nothing is to be written.
    pub fn unpin(&mut self, slot: u64) -> bool {
        self.pinned.remove(&slot);
        if self.dead.remove(&slot) {
            self.release(slot);
            true
        } else {
            false
        }
    }

    /// A write of `content` to `slot` was issued; returns its generation (see
    /// [`SwapSpace::write_failed`]).
    pub fn written(&mut self, slot: u64, content: &FrameContent) -> u64 {
        self.bad.remove(&slot);
        self.digests.insert(slot, digest(content));
        let g = self.generation.entry(slot).or_insert(0);
        *g += 1;
        *g
    }
    /// The write of generation `generation` to `slot` failed: if the slot still holds what it
    /// was to store (no later write, no release), that content is lost.
    pub fn write_failed(&mut self, slot: u64, generation: u64) {
        if self.generation.get(&slot) == Some(&generation) {
            self.bad.insert(slot);
        }
    }
    pub fn is_bad(&self, slot: u64) -> bool {
        self.bad.contains(&slot)
    }
    /// Whether `content` read back from `slot` is what was written there.
    pub fn intact(&self, slot: u64, content: &FrameContent) -> bool {
        self.digests.get(&slot) == Some(&digest(content))
    }
    /// Slots in use.
    pub fn used(&self) -> u64 {
        self.next_fresh - self.free.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_entries_round_trip_and_are_not_present() {
        for slot in [0, 1, 12345, SLOT_MASK] {
            let p = swap_pte(slot);
            assert!(!p.present());
            assert_eq!(swap_slot(p), Some(slot));
        }
        assert_eq!(swap_slot(Pte(0)), None);
        assert_eq!(swap_slot(Pte(Pte::P | Pte::RW | (5 << 12))), None);
    }

    #[test]
    fn slots_are_reused_and_bad_marks_clear_on_rewrite() {
        let mut s = SwapSpace::new(2);
        assert_eq!(s.alloc(), Some(0));
        assert_eq!(s.alloc(), Some(1));
        assert_eq!(s.alloc(), None);
        let c = FrameContent {
            words: None,
            signature: 42,
        };
        let g = s.written(1, &c);
        assert!(s.intact(1, &c));
        s.write_failed(1, g);
        assert!(s.is_bad(1));
        let g2 = s.written(1, &c);
        assert!(!s.is_bad(1));
        // A stale failure (of the write before) does not doom the newer content.
        s.write_failed(1, g);
        assert!(!s.is_bad(1));
        s.write_failed(1, g2);
        assert!(s.is_bad(1));
        s.release(0);
        assert_eq!(s.used(), 1);
        assert_eq!(s.alloc(), Some(0));
        // A pinned slot released meanwhile is freed only when unpinned.
        s.pin(0);
        s.release(0);
        assert_eq!(s.used(), 2);
        assert!(s.unpin(0));
        assert_eq!(s.used(), 1);
        s.pin(1);
        assert!(!s.unpin(1));
    }
}
