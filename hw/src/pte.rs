//! The x86-64 long-mode page-table entry: 8 bytes, 512 per 4 KiB table.
//!
//! Bits: P(0) R/W(1) U/S(2) PWT(3) PCD(4) A(5) D(6) PS(7) G(8), PPN in bits 12..=51, NX(63).
//! Each level of a walk uses 9 bits of the virtual address as the index into its table.

use crate::types::{AccessKind, PAGE_SHIFT, PhysAddr, Ppn, VirtAddr};
use serde::{Deserialize, Serialize};

/// Entries per page table (4096 / 8).
pub const ENTRIES_PER_TABLE: usize = 512;
/// Bytes per entry.
pub const PTE_BYTES: u64 = 8;

const PPN_MASK: u64 = ((1u64 << 52) - 1) & !((1u64 << PAGE_SHIFT) - 1);

/// One page-table entry, exactly as it sits in simulated physical memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pte(pub u64);

impl Pte {
    pub const P: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const PWT: u64 = 1 << 3;
    pub const PCD: u64 = 1 << 4;
    pub const A: u64 = 1 << 5;
    pub const D: u64 = 1 << 6;
    pub const PS: u64 = 1 << 7;
    pub const G: u64 = 1 << 8;
    pub const NX: u64 = 1 << 63;

    /// An entry pointing at `ppn` with the given flag bits.
    #[inline]
    pub fn new(ppn: Ppn, flags: u64) -> Pte {
        Pte(((ppn.0 << PAGE_SHIFT) & PPN_MASK) | (flags & !PPN_MASK))
    }
    #[inline]
    pub fn present(self) -> bool {
        self.0 & Self::P != 0
    }
    #[inline]
    pub fn writable(self) -> bool {
        self.0 & Self::RW != 0
    }
    #[inline]
    pub fn user(self) -> bool {
        self.0 & Self::US != 0
    }
    #[inline]
    pub fn no_execute(self) -> bool {
        self.0 & Self::NX != 0
    }
    #[inline]
    pub fn accessed(self) -> bool {
        self.0 & Self::A != 0
    }
    #[inline]
    pub fn dirty(self) -> bool {
        self.0 & Self::D != 0
    }
    #[inline]
    pub fn huge(self) -> bool {
        self.0 & Self::PS != 0
    }
    #[inline]
    pub fn global(self) -> bool {
        self.0 & Self::G != 0
    }
    #[inline]
    pub fn ppn(self) -> Ppn {
        Ppn((self.0 & PPN_MASK) >> PAGE_SHIFT)
    }
    #[inline]
    pub fn with(self, flags: u64) -> Pte {
        Pte(self.0 | flags)
    }
}

/// The permissions a completed walk grants: the AND of R/W and U/S over all levels, and
/// execute only where NX is clear at every level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Perms {
    pub writable: bool,
    pub user: bool,
    pub executable: bool,
}

impl Perms {
    /// The identity for combining levels: everything allowed.
    pub const ALL: Perms = Perms {
        writable: true,
        user: true,
        executable: true,
    };

    /// Narrow by one more level's entry.
    #[inline]
    pub fn and(self, pte: Pte) -> Perms {
        Perms {
            writable: self.writable && pte.writable(),
            user: self.user && pte.user(),
            executable: self.executable && !pte.no_execute(),
        }
    }

    /// Whether an access of `kind` in user mode (`user_mode`) is permitted. A fault is raised
    /// when this returns false.
    #[inline]
    pub fn permits(self, kind: AccessKind, user_mode: bool) -> bool {
        if user_mode && !self.user {
            return false;
        }
        match kind {
            AccessKind::Read => true,
            AccessKind::Write => self.writable,
            AccessKind::Execute => self.executable,
        }
    }
}

/// Page-table levels, named as in the Intel SDM. `Pt` holds the 4 KiB leaf entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Pml5,
    Pml4,
    Pdpt,
    Pd,
    Pt,
}

impl Level {
    /// Right shift that brings this level's 9 index bits of a virtual address to the bottom.
    #[inline]
    pub fn shift(self) -> u32 {
        match self {
            Level::Pml5 => 48,
            Level::Pml4 => 39,
            Level::Pdpt => 30,
            Level::Pd => 21,
            Level::Pt => 12,
        }
    }
    /// Index of the entry for `va` in a table of this level.
    #[inline]
    pub fn index(self, va: VirtAddr) -> u64 {
        (va.0 >> self.shift()) & (ENTRIES_PER_TABLE as u64 - 1)
    }
    /// Physical address of the entry for `va` in the table at `table`.
    #[inline]
    pub fn entry_addr(self, table: Ppn, va: VirtAddr) -> PhysAddr {
        PhysAddr((table.0 << PAGE_SHIFT) + self.index(va) * PTE_BYTES)
    }
    /// The level below, or `None` for the leaf level.
    #[inline]
    pub fn next(self) -> Option<Level> {
        match self {
            Level::Pml5 => Some(Level::Pml4),
            Level::Pml4 => Some(Level::Pdpt),
            Level::Pdpt => Some(Level::Pd),
            Level::Pd => Some(Level::Pt),
            Level::Pt => None,
        }
    }
    /// Short name used in waveforms and CSVs.
    pub fn name(self) -> &'static str {
        match self {
            Level::Pml5 => "PML5",
            Level::Pml4 => "PML4",
            Level::Pdpt => "PDPT",
            Level::Pd => "PD",
            Level::Pt => "PT",
        }
    }
    /// The top level for a paging mode with `levels` levels (4 or 5).
    pub fn top(levels: u8) -> Level {
        if levels == 5 {
            Level::Pml5
        } else {
            Level::Pml4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pte_bits_roundtrip() {
        let p = Pte::new(Ppn(0xabcde), Pte::P | Pte::RW | Pte::US | Pte::NX);
        assert!(p.present() && p.writable() && p.user() && p.no_execute());
        assert!(!p.accessed() && !p.dirty() && !p.huge() && !p.global());
        assert_eq!(p.ppn(), Ppn(0xabcde));
        assert_eq!(p.0, 0x8000_0000_abcd_e007);
    }

    #[test]
    fn nine_index_bits_per_level() {
        let va = VirtAddr(0x0000_7f12_3456_7000 | (0x1a5 << 12));
        assert_eq!(Level::Pt.index(va), (va.0 >> 12) & 511);
        assert_eq!(Level::Pml4.index(VirtAddr(511 << 39)), 511);
        assert_eq!(Level::Pd.index(VirtAddr(3 << 21)), 3);
        // Entry address: table base + index * 8 bytes.
        assert_eq!(
            Level::Pd.entry_addr(Ppn(2), VirtAddr(3 << 21)),
            PhysAddr(0x2000 + 24)
        );
    }

    #[test]
    fn fault_when_access_not_permitted() {
        let ro = Perms::ALL.and(Pte::new(Ppn(1), Pte::P | Pte::US | Pte::NX));
        assert!(ro.permits(AccessKind::Read, true));
        assert!(!ro.permits(AccessKind::Write, true));
        assert!(!ro.permits(AccessKind::Execute, true));
        let kernel = Perms::ALL.and(Pte::new(Ppn(1), Pte::P | Pte::RW));
        assert!(!kernel.permits(AccessKind::Read, true));
        assert!(kernel.permits(AccessKind::Write, false));
    }
}
