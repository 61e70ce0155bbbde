//! The physical frame allocator and its reverse map: a free list plus, for every allocated
//! frame, what it holds and who maps it.
//!
//! Frames never used are handed out lowest number first, and freed frames are reused before
//! them (most recently freed first), so runs are reproducible. Frame accounting is an
//! invariant the tests check: free + data + page-table = total.
//!
//! The reverse map is the owner of each data frame: a private page is `(pid, vpn)`, a shared
//! page is `(shared object, page index)` (the object lists every process that maps it, so every
//! mapping of a shared frame can be found, as Linux's `anon_vma` and `address_space` do). Each
//! data frame also records its swap slot (the copy of its content on the swap device, if any),
//! and whether it is pinned for DMA (never evicted).

use crate::error::OsError;
use vmsim_hw::{Ppn, Vpn};

/// What an allocated frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameUse {
    Free,
    /// A page-table page of the process with this pid.
    PageTable(u32),
    /// A private data page of the process with this pid.
    Data(u32),
    /// A page of the shared-memory object with this id.
    Shared(u32),
}

/// Who a data frame belongs to, and at which page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Private page `vpn` of process `pid`.
    Private { pid: u32, vpn: Vpn },
    /// Page `index` of shared object `obj`.
    Shared { obj: u32, index: u64 },
}

pub struct FrameAllocator {
    total: u64,
    /// Frames never handed out are `next_fresh..total`, handed out in increasing order.
    next_fresh: u64,
    /// Frames freed since, reused first (most recently freed first).
    free: Vec<Ppn>,
    /// Per frame: 0 free, `pid` a private data page, `pid | TABLE_BIT` a page-table page,
    /// `obj | SHARED_BIT` a shared page. Zero-filled at creation (calloc), so building a large
    /// memory costs nothing until frames are used; the same holds for the vectors below.
    uses: Vec<u32>,
    /// Per data frame: the vpn (private) or page index (shared) it holds.
    keys: Vec<u64>,
    /// Per data frame: swap slot + 1 of its copy on the swap device, 0 for none.
    slots: Vec<u64>,
    /// Per frame: pinned for DMA.
    pinned: Vec<bool>,
    data: u64,
    tables: u64,
}

const TABLE_BIT: u32 = 1 << 31;
const SHARED_BIT: u32 = 1 << 30;

impl FrameAllocator {
    /// All `frames` frames free.
    pub fn new(frames: u64) -> FrameAllocator {
        let n = frames as usize;
        FrameAllocator {
            total: frames,
            next_fresh: 0,
            free: Vec::new(),
            uses: vec![0; n],
            keys: vec![0; n],
            slots: vec![0; n],
            pinned: vec![false; n],
            data: 0,
            tables: 0,
        }
    }

    /// Take a free frame for a page-table page of `pid` (pids are at least 1).
    pub fn alloc_table(&mut self, pid: u32) -> Result<Ppn, OsError> {
        debug_assert!(pid != 0 && pid & (TABLE_BIT | SHARED_BIT) == 0);
        let ppn = self.take()?;
        self.uses[ppn.0 as usize] = pid | TABLE_BIT;
        self.tables += 1;
        Ok(ppn)
    }

    /// Take a free frame for the data page `owner`.
    #[inline(always)]
    pub fn alloc_data(&mut self, owner: Owner) -> Result<Ppn, OsError> {
        let ppn = self.take()?;
        let f = ppn.0 as usize;
        (self.uses[f], self.keys[f]) = match owner {
            Owner::Private { pid, vpn } => {
                debug_assert!(pid != 0 && pid & (TABLE_BIT | SHARED_BIT) == 0);
                (pid, vpn.0)
            }
            Owner::Shared { obj, index } => (obj | SHARED_BIT, index),
        };
        self.slots[f] = 0;
        self.pinned[f] = false;
        self.data += 1;
        Ok(ppn)
    }

    fn take(&mut self) -> Result<Ppn, OsError> {
        match self.free.pop() {
            Some(p) => Ok(p),
            None if self.next_fresh < self.total => {
                self.next_fresh += 1;
                Ok(Ppn(self.next_fresh - 1))
            }
            None => Err(OsError::OutOfFrames { frames: self.total }),
        }
    }

    /// Return a frame to the free list (its swap slot, if any, is the caller's to release).
    pub fn free(&mut self, ppn: Ppn) {
        let f = ppn.0 as usize;
        match self.use_of(ppn) {
            FrameUse::Data(_) | FrameUse::Shared(_) => self.data -= 1,
            FrameUse::PageTable(_) => self.tables -= 1,
            FrameUse::Free => panic!("double free of frame {}", ppn.0),
        }
        self.uses[f] = 0;
        self.keys[f] = 0;
        self.slots[f] = 0;
        self.pinned[f] = false;
        self.free.push(ppn);
    }

    pub fn use_of(&self, ppn: Ppn) -> FrameUse {
        match self.uses[ppn.0 as usize] {
            0 => FrameUse::Free,
            c if c & TABLE_BIT != 0 => FrameUse::PageTable(c & !TABLE_BIT),
            c if c & SHARED_BIT != 0 => FrameUse::Shared(c & !SHARED_BIT),
            c => FrameUse::Data(c),
        }
    }

    /// The owner of a data frame (None for free and page-table frames).
    pub fn owner(&self, ppn: Ppn) -> Option<Owner> {
        let key = self.keys[ppn.0 as usize];
        match self.use_of(ppn) {
            FrameUse::Data(pid) => Some(Owner::Private { pid, vpn: Vpn(key) }),
            FrameUse::Shared(obj) => Some(Owner::Shared { obj, index: key }),
            _ => None,
        }
    }

    /// The swap slot holding a copy of this frame's content, if any.
    pub fn slot(&self, ppn: Ppn) -> Option<u64> {
        self.slots[ppn.0 as usize].checked_sub(1)
    }
    pub fn set_slot(&mut self, ppn: Ppn, slot: Option<u64>) {
        self.slots[ppn.0 as usize] = slot.map_or(0, |s| s + 1);
    }

    pub fn pinned(&self, ppn: Ppn) -> bool {
        self.pinned[ppn.0 as usize]
    }
    pub fn pin(&mut self, ppn: Ppn) {
        self.pinned[ppn.0 as usize] = true;
    }

    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn free_count(&self) -> u64 {
        self.free.len() as u64 + (self.total - self.next_fresh)
    }
    /// Data frames (private and shared) in use.
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
        assert_eq!(a.alloc_table(1).unwrap(), Ppn(0));
        let own = Owner::Private {
            pid: 1,
            vpn: Vpn(7),
        };
        assert_eq!(a.alloc_data(own).unwrap(), Ppn(1));
        assert_eq!(a.owner(Ppn(1)), Some(own));
        assert_eq!(a.free_count() + a.data_count() + a.table_count(), 4);
        a.free(Ppn(0));
        assert_eq!(a.free_count(), 3);
        assert_eq!(a.use_of(Ppn(0)), FrameUse::Free);
        let sh = Owner::Shared { obj: 3, index: 9 };
        assert_eq!(a.alloc_data(sh).unwrap(), Ppn(0));
        assert_eq!(a.use_of(Ppn(0)), FrameUse::Shared(3));
        assert_eq!(a.owner(Ppn(0)), Some(sh));
    }

    #[test]
    fn slots_and_pins_are_per_frame_and_cleared_on_free() {
        let mut a = FrameAllocator::new(2);
        let f = a
            .alloc_data(Owner::Private {
                pid: 1,
                vpn: Vpn(0),
            })
            .unwrap();
        assert_eq!(a.slot(f), None);
        a.set_slot(f, Some(0));
        a.pin(f);
        assert_eq!(a.slot(f), Some(0));
        assert!(a.pinned(f));
        a.free(f);
        let g = a
            .alloc_data(Owner::Private {
                pid: 2,
                vpn: Vpn(1),
            })
            .unwrap();
        assert_eq!(g, f);
        assert_eq!(a.slot(g), None);
        assert!(!a.pinned(g));
    }

    #[test]
    fn running_out_is_an_error() {
        let mut a = FrameAllocator::new(1);
        a.alloc_data(Owner::Private {
            pid: 1,
            vpn: Vpn(0),
        })
        .unwrap();
        assert_eq!(a.alloc_table(1), Err(OsError::OutOfFrames { frames: 1 }));
    }
}
