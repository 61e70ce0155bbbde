//! What the kernel asks of the hardware: TLB and page-walk-cache invalidations (done at once,
//! like `invlpg` on the one core), and I/O requests for the DMA engine and the disk (queued by
//! the kernel, submitted by the run loop as the devices accept them; their completions come
//! back as interrupts, [`crate::Kernel::on_dma`] and [`crate::Kernel::on_disk`]).

use vmsim_hw::disk::DiskRequest;
use vmsim_hw::dma::DmaDescriptor;
use vmsim_hw::{Asid, Vpn};

/// The translation caches of the core the kernel runs on.
pub trait Mmu {
    /// Drop every cached translation of page `vpn` in address space `asid` (`invlpg`).
    fn invalidate_page(&mut self, asid: Asid, vpn: Vpn);
    /// Drop every translation tagged `asid`, page-walk-cache entries included.
    fn invalidate_asid(&mut self, asid: Asid);
    /// Drop every non-global translation (a CR3 write without PCID).
    fn flush_non_global(&mut self);
}

/// An I/O request the kernel wants submitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoRequest {
    Dma(DmaDescriptor),
    Disk(DiskRequest),
}

/// An `Mmu` that forgets nothing; for kernel unit tests without hardware.
pub struct NoMmu;
impl Mmu for NoMmu {
    fn invalidate_page(&mut self, _: Asid, _: Vpn) {}
    fn invalidate_asid(&mut self, _: Asid) {}
    fn flush_non_global(&mut self) {}
}
