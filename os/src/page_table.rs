//! The OS's software view of a process's x86-64 page table: it lives as real PTEs in simulated
//! physical memory, the same bytes the hardware walker reads.

use crate::error::OsError;
use crate::frames::FrameAllocator;
use vmsim_hw::memory::PhysMem;
use vmsim_hw::pte::{ENTRIES_PER_TABLE, Level, PTE_BYTES, Pte};
use vmsim_hw::{PAGE_SHIFT, PhysAddr, Ppn, VirtAddr, Vpn};

/// Mask of a table index (9 bits).
const INDEX_MASK: u64 = ENTRIES_PER_TABLE as u64 - 1;

/// Flags of a non-leaf entry: present, writable, user. Permissions are enforced at the leaf;
/// upper levels allow everything so that the AND over levels equals the leaf's flags.
const TABLE_FLAGS: u64 = Pte::P | Pte::RW | Pte::US;

/// `va` sign-extended from its top translated bit (bit 47 with 4 levels, 56 with 5): the
/// canonical form of an address built from table indices.
pub fn canonical(va: u64, levels: u8) -> u64 {
    let bits = 12 + 9 * u32::from(levels);
    let shift = 64 - bits;
    (((va << shift) as i64) >> shift) as u64
}

/// The first address of the upper canonical half (the kernel's), e.g. 0xffff800000000000.
pub fn kernel_base(levels: u8) -> u64 {
    canonical(1u64 << (12 + 9 * u32::from(levels) - 1), levels)
}

/// The address of `va`'s entry in the last-level table `table`.
#[inline]
pub fn leaf_entry(table: Ppn, va: VirtAddr) -> PhysAddr {
    PhysAddr((table.0 << PAGE_SHIFT) + ((va.0 >> PAGE_SHIFT) & INDEX_MASK) * PTE_BYTES)
}

/// A memo of the kernel's software walks: the last-level table of recently faulted 2 MiB
/// regions, per page-table root, so that a fault near an earlier one reads only its leaf
/// entry. Host-side only: it changes no modelled state, and what it answers is exactly what
/// [`PageTable::leaf_table_of`] would, because a table entry above the leaves is written only
/// while not present (a new table) and cleared only when the whole page table is destroyed,
/// which must [`LeafTables::clear`] it (its frames, the root included, may then be reused).
/// (The walker's A-bit updates of upper entries keep their frame and present bit.)
pub struct LeafTables {
    /// Direct-mapped by region: `[root + 1, region, table]`, all zero for an empty slot.
    slots: Vec<[u64; 3]>,
}

impl Default for LeafTables {
    fn default() -> Self {
        // Zeroed memory from the allocator: no host cost until slots are used.
        LeafTables {
            slots: vec![[0; 3]; LeafTables::SLOTS],
        }
    }
}

impl LeafTables {
    /// 4096 regions of 2 MiB: 8 GiB of densely used address space.
    const SLOTS: usize = 4096;
    const REGION_SHIFT: u32 = 21;

    /// `va`'s last-level table under `root`, if remembered.
    #[inline]
    pub fn get(&self, root: Ppn, va: VirtAddr) -> Option<Ppn> {
        let region = va.0 >> Self::REGION_SHIFT;
        let s = &self.slots[region as usize % Self::SLOTS];
        (s[0] == root.0 + 1 && s[1] == region).then_some(Ppn(s[2]))
    }

    /// Remember that `va`'s last-level table under `root` is `table`.
    #[inline]
    pub fn insert(&mut self, root: Ppn, va: VirtAddr, table: Ppn) {
        let region = va.0 >> Self::REGION_SHIFT;
        self.slots[region as usize % Self::SLOTS] = [root.0 + 1, region, table.0];
    }

    /// Forget everything: a page table was destroyed.
    pub fn clear(&mut self) {
        self.slots.fill([0; 3]);
    }
}

/// A page table rooted at a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable {
    pub root: Ppn,
    pub levels: u8,
}

impl PageTable {
    /// Allocate an empty top-level table for process `pid`.
    pub fn create(
        phys: &mut PhysMem,
        frames: &mut FrameAllocator,
        pid: u32,
        levels: u8,
    ) -> Result<PageTable, OsError> {
        let root = frames.alloc_table(pid)?;
        phys.zero_frame(root);
        Ok(PageTable { root, levels })
    }

    /// Walk in software: the leaf entry's address and value if every level down to it is present.
    pub fn lookup(&self, phys: &PhysMem, va: VirtAddr) -> Option<(PhysAddr, Pte)> {
        let mut level = Level::top(self.levels);
        let mut table = self.root;
        loop {
            let addr = level.entry_addr(table, va);
            let pte = phys.read_pte(addr);
            if !pte.present() {
                return None;
            }
            match level.next() {
                None => return Some((addr, pte)),
                Some(next) if pte.huge() => {
                    let _ = next;
                    return Some((addr, pte));
                }
                Some(next) => {
                    level = next;
                    table = pte.ppn();
                }
            }
        }
    }

    /// The leaf (PT-level) entry for `va`, present or not, if every table above it exists: the
    /// kernel keeps swap entries in non-present leaves.
    ///
    /// The walk counts levels by their index shift (9 bits less per level down to the PT's 12)
    /// rather than stepping through [`Level`]s: the same entries, read in the same order, for
    /// less host work on the fault path.
    #[inline]
    pub fn leaf(&self, phys: &PhysMem, va: VirtAddr) -> Option<(PhysAddr, Pte)> {
        let addr = leaf_entry(self.leaf_table_of(phys, va)?, va);
        Some((addr, phys.read_pte(addr)))
    }

    /// The last-level (PT) table on the way to `va`, if every table above it exists.
    #[inline]
    pub fn leaf_table_of(&self, phys: &PhysMem, va: VirtAddr) -> Option<Ppn> {
        let mut shift = Level::top(self.levels).shift();
        let mut table = self.root;
        while shift > Level::Pt.shift() {
            let entry = (table.0 << PAGE_SHIFT) + ((va.0 >> shift) & INDEX_MASK) * PTE_BYTES;
            let pte = phys.read_pte(PhysAddr(entry));
            if !pte.present() {
                return None;
            }
            table = pte.ppn();
            shift -= 9;
        }
        Some(table)
    }

    /// How many page-table pages mapping `va` would allocate.
    pub fn missing_tables(&self, phys: &PhysMem, va: VirtAddr) -> u32 {
        let mut level = Level::top(self.levels);
        let mut table = self.root;
        let mut depth = 0;
        while let Some(next) = level.next() {
            let pte = phys.read_pte(level.entry_addr(table, va));
            if !pte.present() {
                return self.levels as u32 - 1 - depth;
            }
            depth += 1;
            level = next;
            table = pte.ppn();
        }
        0
    }

    /// Allocate (zeroed) any missing page-table pages on the way to `va`'s leaf, writing no
    /// leaf. Returns how many were allocated.
    pub fn ensure_tables(
        &self,
        phys: &mut PhysMem,
        frames: &mut FrameAllocator,
        pid: u32,
        va: VirtAddr,
    ) -> Result<u32, OsError> {
        Ok(self.leaf_table(phys, frames, pid, va)?.1)
    }

    /// The last-level table on the way to `va`, allocating (zeroed) any missing table pages,
    /// and how many were allocated.
    fn leaf_table(
        &self,
        phys: &mut PhysMem,
        frames: &mut FrameAllocator,
        pid: u32,
        va: VirtAddr,
    ) -> Result<(Ppn, u32), OsError> {
        let mut level = Level::top(self.levels);
        let mut table = self.root;
        let mut allocated = 0;
        while let Some(next) = level.next() {
            let addr = level.entry_addr(table, va);
            let pte = phys.read_pte(addr);
            table = if pte.present() {
                pte.ppn()
            } else {
                let t = frames.alloc_table(pid)?;
                phys.zero_frame(t);
                phys.write_pte(addr, Pte::new(t, TABLE_FLAGS));
                allocated += 1;
                t
            };
            level = next;
        }
        Ok((table, allocated))
    }

    /// Map the 4 KiB page at `va` to `frame` with leaf `flags`, allocating any missing page-table
    /// pages (zeroed). Returns how many table pages were allocated.
    pub fn map(
        &self,
        phys: &mut PhysMem,
        frames: &mut FrameAllocator,
        pid: u32,
        va: VirtAddr,
        frame: Ppn,
        flags: u64,
    ) -> Result<u32, OsError> {
        let (table, allocated) = self.leaf_table(phys, frames, pid, va)?;
        phys.write_pte(Level::Pt.entry_addr(table, va), Pte::new(frame, flags));
        Ok(allocated)
    }

    /// Map a page to `frame` with leaf `flags` through its leaf entry at `entry`, as an earlier
    /// [`PageTable::leaf`] found it (table pages are freed only with the whole table, so the
    /// entry stays where it was).
    pub fn map_leaf(&self, phys: &mut PhysMem, entry: PhysAddr, frame: Ppn, flags: u64) {
        phys.write_pte(entry, Pte::new(frame, flags));
    }

    /// Clear the leaf entry for `va`; returns the old entry if it was present.
    pub fn unmap(&self, phys: &mut PhysMem, va: VirtAddr) -> Option<Pte> {
        let (addr, pte) = self.lookup(phys, va)?;
        phys.write_pte(addr, Pte(0));
        Some(pte)
    }

    /// Free every page-table page, including the root, handing every non-zero leaf entry
    /// (present mappings and swap entries alike) with its virtual page to `leaf` first: data
    /// frames and swap slots are the kernel's to release, since a shared frame outlives one
    /// process's mapping of it.
    pub fn destroy(
        &self,
        phys: &mut PhysMem,
        frames: &mut FrameAllocator,
        leaf: &mut dyn FnMut(&mut PhysMem, &mut FrameAllocator, Vpn, Pte),
    ) {
        #[allow(clippy::too_many_arguments)]
        fn free_table(
            phys: &mut PhysMem,
            frames: &mut FrameAllocator,
            table: Ppn,
            level: Level,
            base: u64,
            levels: u8,
            leaf: &mut dyn FnMut(&mut PhysMem, &mut FrameAllocator, Vpn, Pte),
        ) {
            let span = 1u64 << level.shift();
            for i in 0..ENTRIES_PER_TABLE as u64 {
                let addr = PhysAddr(table.base().0 + i * PTE_BYTES);
                let pte = phys.read_pte(addr);
                if pte.0 == 0 {
                    continue;
                }
                let va = canonical(base + i * span, levels);
                match level.next() {
                    Some(next) if pte.present() && !pte.huge() => {
                        free_table(phys, frames, pte.ppn(), next, va, levels, leaf)
                    }
                    Some(_) => {}
                    None => leaf(phys, frames, VirtAddr(va).vpn(), pte),
                }
            }
            phys.zero_frame(table);
            frames.free(table);
        }
        free_table(
            phys,
            frames,
            self.root,
            Level::top(self.levels),
            0,
            self.levels,
            leaf,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::Owner;

    fn owner(va: VirtAddr) -> Owner {
        Owner::Private {
            pid: 1,
            vpn: va.vpn(),
        }
    }

    #[test]
    fn first_mapping_allocates_three_tables_and_lookup_finds_it() {
        let mut phys = PhysMem::new(64);
        let mut frames = FrameAllocator::new(64);
        let pt = PageTable::create(&mut phys, &mut frames, 1, 4).unwrap();
        let va = VirtAddr(0x7fff_ffff_e123);
        let data = frames.alloc_data(owner(va)).unwrap();
        let n = pt
            .map(
                &mut phys,
                &mut frames,
                1,
                va,
                data,
                Pte::P | Pte::RW | Pte::US,
            )
            .unwrap();
        assert_eq!(n, 3);
        let (addr, pte) = pt.lookup(&phys, va).unwrap();
        assert_eq!(pte.ppn(), data);
        assert_eq!(addr.0 & 0xfff, Level::Pt.index(va) * 8);
        // A neighbour in the same 2 MiB region needs no new table.
        let d2 = frames.alloc_data(owner(VirtAddr(va.0 - 0x1000))).unwrap();
        let n2 = pt
            .map(
                &mut phys,
                &mut frames,
                1,
                VirtAddr(va.0 - 0x1000),
                d2,
                Pte::P,
            )
            .unwrap();
        assert_eq!(n2, 0);
        assert_eq!(frames.table_count(), 4);
        // The memo answers what the walk finds, for its root and region only.
        let table = pt.leaf_table_of(&phys, va).unwrap();
        assert_eq!(pt.leaf(&phys, va).unwrap().0, leaf_entry(table, va));
        let mut memo = LeafTables::default();
        assert_eq!(memo.get(pt.root, va), None);
        memo.insert(pt.root, va, table);
        assert_eq!(memo.get(pt.root, VirtAddr(va.0 - 0x1000)), Some(table));
        assert_eq!(memo.get(Ppn(pt.root.0 + 1), va), None);
        assert_eq!(memo.get(pt.root, VirtAddr(va.0 - 0x20_0000)), None);
        assert_eq!(pt.leaf_table_of(&phys, VirtAddr(0)), None);
        memo.clear();
        assert_eq!(memo.get(pt.root, va), None);
        assert_eq!(pt.missing_tables(&phys, va), 0);
        assert_eq!(pt.missing_tables(&phys, VirtAddr(0)), 3);
        let mut leaves = Vec::new();
        pt.destroy(&mut phys, &mut frames, &mut |_, f, vpn, pte| {
            leaves.push(vpn);
            f.free(pte.ppn());
        });
        assert_eq!(leaves, vec![VirtAddr(va.0 - 0x1000).vpn(), va.vpn()]);
        assert_eq!(frames.free_count(), 64);
    }
}
