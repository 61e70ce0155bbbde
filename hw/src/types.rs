//! Time and address newtypes shared by every component.
//!
//! `Cycle` is a point in core-clock time, `Cycles` a duration. Addresses are typed so that a
//! virtual address can never be handed to DRAM by mistake; conversions are explicit.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Base page size: 4 KiB.
pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Cache line size in bytes (data caches and DRAM bursts).
pub const LINE_SHIFT: u32 = 6;
pub const LINE_SIZE: u64 = 1 << LINE_SHIFT;

/// A point in time, in core clock cycles.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cycle(pub u64);

/// A duration, in core clock cycles.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cycles(pub u64);

impl Add<Cycles> for Cycle {
    type Output = Cycle;
    #[inline]
    fn add(self, d: Cycles) -> Cycle {
        Cycle(self.0 + d.0)
    }
}
impl AddAssign<Cycles> for Cycle {
    #[inline]
    fn add_assign(&mut self, d: Cycles) {
        self.0 += d.0;
    }
}
impl Sub<Cycle> for Cycle {
    type Output = Cycles;
    /// Elapsed time; saturates at zero.
    #[inline]
    fn sub(self, earlier: Cycle) -> Cycles {
        Cycles(self.0.saturating_sub(earlier.0))
    }
}
impl Add for Cycles {
    type Output = Cycles;
    #[inline]
    fn add(self, o: Cycles) -> Cycles {
        Cycles(self.0 + o.0)
    }
}
impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A virtual address (48-bit canonical in 4-level mode, 57-bit in 5-level mode).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct VirtAddr(pub u64);

/// A physical address.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PhysAddr(pub u64);

/// A virtual page number (virtual address >> 12).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Vpn(pub u64);

/// A physical page (frame) number (physical address >> 12).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ppn(pub u64);

/// An address-space identifier (x86 PCID, Arm ASID) as the TLB tags entries with it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Asid(pub u16);

impl VirtAddr {
    #[inline]
    pub fn vpn(self) -> Vpn {
        Vpn(self.0 >> PAGE_SHIFT)
    }
    #[inline]
    pub fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
}
impl Vpn {
    #[inline]
    pub fn base(self) -> VirtAddr {
        VirtAddr(self.0 << PAGE_SHIFT)
    }
}
impl Ppn {
    #[inline]
    pub fn base(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
    /// The physical address of `offset` within this frame: ppn << 12 | offset.
    #[inline]
    pub fn with_offset(self, offset: u64) -> PhysAddr {
        PhysAddr((self.0 << PAGE_SHIFT) | (offset & (PAGE_SIZE - 1)))
    }
}
impl PhysAddr {
    #[inline]
    pub fn ppn(self) -> Ppn {
        Ppn(self.0 >> PAGE_SHIFT)
    }
    #[inline]
    pub fn line(self) -> u64 {
        self.0 >> LINE_SHIFT
    }
}
impl fmt::Display for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// What an access does: the three permissions a PTE can grant or refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AccessKind {
    /// A data load (R).
    Read,
    /// A data store (W).
    Write,
    /// An instruction fetch (X).
    Execute,
}

impl AccessKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKind::Read => "R",
            AccessKind::Write => "W",
            AccessKind::Execute => "X",
        }
    }
}

/// Supported page sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PageSize {
    Size4K,
    Size2M,
    Size1G,
}

impl PageSize {
    pub fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 1 << 12,
            PageSize::Size2M => 1 << 21,
            PageSize::Size1G => 1 << 30,
        }
    }
    /// Number of 4 KiB pages covered.
    pub fn base_pages(self) -> u64 {
        self.bytes() >> PAGE_SHIFT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_address_is_ppn_shifted_or_offset() {
        assert_eq!(Ppn(0x1234).with_offset(0xabc), PhysAddr(0x1234abc));
        assert_eq!(PhysAddr(0x1234abc).ppn(), Ppn(0x1234));
        assert_eq!(VirtAddr(0x7fff_1234_5678).vpn(), Vpn(0x7_fff1_2345));
        assert_eq!(VirtAddr(0x7fff_1234_5678).page_offset(), 0x678);
    }

    #[test]
    fn cycle_arithmetic() {
        assert_eq!(Cycle(10) + Cycles(5), Cycle(15));
        assert_eq!(Cycle(15) - Cycle(10), Cycles(5));
        assert_eq!(Cycle(5) - Cycle(10), Cycles(0));
    }
}
