//! The physical frame allocator: a free list plus what each allocated frame is used for.
//!
//! Frames never used are handed out lowest number first, and freed frames are reused before
//! them (most recently freed first), so runs are reproducible. Frame accounting is an
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
    total: u64,
    /// Frames never handed out are `next_fresh..total`, handed out in increasing order.
    next_fresh: u64,
    /// Frames freed since, reused first (most recently freed first).
    free: Vec<Ppn>,
    /// Per frame: 0 free, `pid` a data page, `pid | TABLE_BIT` a page-table page. Zero-filled
    /// at creation, so building a large memory costs nothing until frames are used.
    uses: Vec<u32>,
    data: u64,
    tables: u64,
}

const TABLE_BIT: u32 = 1 << 31;

impl FrameAllocator {
    /// All `frames` frames free.
    pub fn new(frames: u64) -> FrameAllocator {
        FrameAllocator {
            total: frames,
            next_fresh: 0,
            free: Vec::new(),
            uses: vec![0; frames as usize],
            data: 0,
            tables: 0,
        }
    }

    /// Take a free frame for `purpose` (pids are at least 1).
    pub fn alloc(&mut self, purpose: FrameUse) -> Result<Ppn, OsError> {
        let code = match purpose {
            FrameUse::Data(pid) => {
                self.data += 1;
                pid
            }
            FrameUse::PageTable(pid) => {
                self.tables += 1;
                pid | TABLE_BIT
            }
            FrameUse::Free => panic!("alloc for no purpose"),
        };
        debug_assert!(code & !TABLE_BIT != 0, "pid 0 is reserved");
        let ppn = match self.free.pop() {
            Some(p) => p,
            None if self.next_fresh < self.total => {
                self.next_fresh += 1;
                Ppn(self.next_fresh - 1)
            }
            None => {
                match purpose {
                    FrameUse::Data(_) => self.data -= 1,
                    _ => self.tables -= 1,
                }
                return Err(OsError::OutOfFrames { frames: self.total });
            }
        };
        self.uses[ppn.0 as usize] = code;
        Ok(ppn)
    }

    pub fn free(&mut self, ppn: Ppn) {
        match self.use_of(ppn) {
            FrameUse::Data(_) => self.data -= 1,
            FrameUse::PageTable(_) => self.tables -= 1,
            FrameUse::Free => panic!("double free of frame {}", ppn.0),
        }
        self.uses[ppn.0 as usize] = 0;
        self.free.push(ppn);
    }

    pub fn use_of(&self, ppn: Ppn) -> FrameUse {
        match self.uses[ppn.0 as usize] {
            0 => FrameUse::Free,
            c if c & TABLE_BIT != 0 => FrameUse::PageTable(c & !TABLE_BIT),
            c => FrameUse::Data(c),
        }
    }
    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn free_count(&self) -> u64 {
        self.free.len() as u64 + (self.total - self.next_fresh)
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
