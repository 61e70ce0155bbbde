//! Simulated physical memory: frames allocated on first touch on the host.
//!
//! Page-table frames hold their 512 real 8-byte PTEs, read by the walker and written by the OS.
//! Data frames carry a 64-bit content signature that every store updates, so a page that is
//! lost, misplaced or corrupted (for example across swapping) is detectable without storing
//! 4 KiB of bytes per touched page. Frames that are written as words (page tables, and data
//! workloads that carry values) hold real words.

use crate::pte::{ENTRIES_PER_TABLE, PTE_BYTES, Pte};
use crate::types::{PhysAddr, Ppn};

type Words = Box<[u64; ENTRIES_PER_TABLE]>;

/// Sparse physical memory of a fixed number of 4 KiB frames.
pub struct PhysMem {
    words: Vec<Option<Words>>,
    signatures: Vec<u64>,
}

impl PhysMem {
    /// Memory with `frames` frames; nothing is allocated on the host until touched.
    pub fn new(frames: u64) -> PhysMem {
        let n = frames as usize;
        // `vec![None; n]` of boxes is zero-filled memory from the allocator: no host cost until
        // frames are touched.
        PhysMem {
            words: vec![None; n],
            signatures: vec![0; n],
        }
    }

    /// Number of frames.
    pub fn frames(&self) -> u64 {
        self.words.len() as u64
    }

    /// Whether `pa` lies inside memory.
    #[inline]
    pub fn contains(&self, pa: PhysAddr) -> bool {
        (pa.ppn().0 as usize) < self.words.len()
    }

    /// Read the aligned 8-byte word at `pa` (zero if never written).
    ///
    /// # Panics
    /// If `pa` is outside memory: the hardware only forms addresses from PTEs the OS wrote.
    #[inline]
    pub fn read_u64(&self, pa: PhysAddr) -> u64 {
        let (f, i) = Self::split(pa);
        self.words[f].as_ref().map_or(0, |w| w[i])
    }

    /// Start loading the host memory that holds the word at `pa` (a PTE about to be read),
    /// if its frame holds words. Changes nothing.
    #[inline]
    pub fn prefetch(&self, pa: PhysAddr) {
        let (f, i) = Self::split(pa);
        if let Some(Some(w)) = self.words.get(f) {
            crate::prefetch::prefetch(&w[i]);
        }
    }

    /// Start loading the host memory that holds the content signature of frame `ppn` (a
    /// store to it is about to be recorded). Changes nothing.
    #[inline]
    pub fn prefetch_signature(&self, ppn: Ppn) {
        if let Some(s) = self.signatures.get(ppn.0 as usize) {
            crate::prefetch::prefetch(s);
        }
    }

    /// Write the aligned 8-byte word at `pa`.
    #[inline]
    pub fn write_u64(&mut self, pa: PhysAddr, value: u64) {
        let (f, i) = Self::split(pa);
        let frame = self.words[f].get_or_insert_with(|| Box::new([0; ENTRIES_PER_TABLE]));
        frame[i] = value;
    }

    /// Read a PTE.
    #[inline]
    pub fn read_pte(&self, pa: PhysAddr) -> Pte {
        Pte(self.read_u64(pa))
    }

    /// Write a PTE.
    #[inline]
    pub fn write_pte(&mut self, pa: PhysAddr, pte: Pte) {
        self.write_u64(pa, pte.0)
    }

    /// Zero a whole frame (words and signature), as the OS does before handing it out.
    pub fn zero_frame(&mut self, ppn: Ppn) {
        let f = ppn.0 as usize;
        self.words[f] = None;
        self.signatures[f] = 0;
    }

    /// Fold a store of `value` at `pa` into the frame's content signature.
    #[inline]
    pub fn record_store(&mut self, pa: PhysAddr, value: u64) {
        let f = pa.ppn().0 as usize;
        let s = &mut self.signatures[f];
        *s = (s.rotate_left(7) ^ pa.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ value;
    }

    /// The frame's content signature.
    pub fn signature(&self, ppn: Ppn) -> u64 {
        self.signatures[ppn.0 as usize]
    }

    /// A copy of the frame's whole content (words and signature), as a DMA transfer sees it.
    pub fn frame_content(&self, ppn: Ppn) -> FrameContent {
        let f = ppn.0 as usize;
        FrameContent {
            words: self.words[f].clone(),
            signature: self.signatures[f],
        }
    }

    /// Overwrite the frame's whole content.
    pub fn set_frame_content(&mut self, ppn: Ppn, content: FrameContent) {
        let f = ppn.0 as usize;
        self.words[f] = content.words;
        self.signatures[f] = content.signature;
    }

    #[inline]
    fn split(pa: PhysAddr) -> (usize, usize) {
        (pa.ppn().0 as usize, ((pa.0 & 0xfff) / PTE_BYTES) as usize)
    }
}

/// The content of one frame, bit for bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameContent {
    pub words: Option<Words>,
    pub signature: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back_and_unwritten_are_zero() {
        let mut m = PhysMem::new(16);
        assert_eq!(m.read_u64(PhysAddr(0x3008)), 0);
        m.write_u64(PhysAddr(0x3008), 0xdead_beef);
        assert_eq!(m.read_u64(PhysAddr(0x3008)), 0xdead_beef);
        assert_eq!(m.read_u64(PhysAddr(0x3000)), 0);
        m.zero_frame(Ppn(3));
        assert_eq!(m.read_u64(PhysAddr(0x3008)), 0);
    }

    #[test]
    fn content_copies_are_bit_identical() {
        let mut m = PhysMem::new(4);
        m.write_u64(PhysAddr(0x1010), 7);
        m.record_store(PhysAddr(0x1020), 9);
        let c = m.frame_content(Ppn(1));
        m.set_frame_content(Ppn(2), c.clone());
        assert_eq!(m.frame_content(Ppn(2)), c);
        assert_ne!(m.signature(Ppn(2)), 0);
    }
}
