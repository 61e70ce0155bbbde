//! The physical frame allocator: a free list plus what each allocated frame is used for.
//!
//! Frames are handed out lowest number first, so runs are reproducible. Frame accounting is an
//! invariant the tests check: free + data + page-table = total.

use crate::error::OsError;
use vmsim_hw::Ppn;

/// What an allocated frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameUse {
    Free,
    /// A page-table page of the process with this pid.
    PageTable(u32),
    /// A data page of the process with this pid.
    Data(u32),
}

pub struct FrameAllocator {
    free: Vec<Ppn>,
    uses: Vec<FrameUse>,
    data: u64,
    tables: u64,
}

impl FrameAllocator {
    /// All `frames` frames free.
    pub fn new(frames: u64) -> FrameAllocator {
        FrameAllocator {
            free: (0..frames).rev().map(Ppn).collect(),
            uses: vec![FrameUse::Free; frames as usize],
            data: 0,
            tables: 0,
        }
    }

    pub fn alloc(&mut self, purpose: FrameUse) -> Result<Ppn, OsError> {
        debug_assert!(purpose != FrameUse::Free);
        let ppn = self.free.pop().ok_or(OsError::OutOfFrames {
            frames: self.total(),
        })?;
        self.uses[ppn.0 as usize] = purpose;
        match purpose {
            FrameUse::Data(_) => self.data += 1,
            FrameUse::PageTable(_) => self.tables += 1,
            FrameUse::Free => {}
        }
        Ok(ppn)
    }

    pub fn free(&mut self, ppn: Ppn) {
        let u = &mut self.uses[ppn.0 as usize];
        match *u {
            FrameUse::Data(_) => self.data -= 1,
            FrameUse::PageTable(_) => self.tables -= 1,
            FrameUse::Free => panic!("double free of frame {}", ppn.0),
        }
        *u = FrameUse::Free;
        self.free.push(ppn);
    }

    pub fn use_of(&self, ppn: Ppn) -> FrameUse {
        self.uses[ppn.0 as usize]
    }
    pub fn total(&self) -> u64 {
        self.uses.len() as u64
    }
    pub fn free_count(&self) -> u64 {
        self.free.len() as u64
    }
    pub fn data_count(&self) -> u64 {
        self.data
    }
    pub fn table_count(&self) -> u64 {
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_first_and_accounting_balances() {
        let mut a = FrameAllocator::new(4);
        assert_eq!(a.alloc(FrameUse::PageTable(1)).unwrap(), Ppn(0));
        assert_eq!(a.alloc(FrameUse::Data(1)).unwrap(), Ppn(1));
        assert_eq!(a.free_count() + a.data_count() + a.table_count(), 4);
        a.free(Ppn(0));
        assert_eq!(a.free_count(), 3);
        assert_eq!(a.use_of(Ppn(0)), FrameUse::Free);
        assert_eq!(a.alloc(FrameUse::Data(2)).unwrap(), Ppn(0));
    }

    #[test]
    fn running_out_is_an_error() {
        let mut a = FrameAllocator::new(1);
        a.alloc(FrameUse::Data(1)).unwrap();
        assert_eq!(
            a.alloc(FrameUse::Data(1)),
            Err(OsError::OutOfFrames { frames: 1 })
        );
    }
}
