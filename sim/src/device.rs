//! A network-card-like device: every `interval` cycles it delivers a burst of `burst_bytes` by
//! DMA into the next page of a process's pinned `dma` segment (a receive ring of one buffer per
//! page, wrapping around), as a NIC writes received packets into its driver's buffers.
//!
//! The burst's content is known words (`burst_word(device, burst, i)`), so a test can check
//! that it arrived. The device finds the buffer's frame from the process's page table, as a
//! driver hands the NIC physical addresses of pinned buffers.

use vmsim_hw::dma::{DmaDescriptor, DmaDirection};
use vmsim_hw::memory::FrameContent;
use vmsim_hw::{Cycle, PAGE_SIZE, Ppn, VirtAddr};
use vmsim_os::Pid;

/// DMA descriptor ids of devices have this bit set (the kernel's never do).
pub const DEVICE_ID_BIT: u64 = 1 << 63;

/// What a device does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    /// The process whose buffer it fills.
    pub pid: Pid,
    /// Start and pages of the process's `dma` segment.
    pub start: VirtAddr,
    pub pages: u64,
    /// Bytes per burst: a multiple of 64 from 64 to 4096.
    pub burst_bytes: u64,
    /// Cycles between bursts (the first at `interval`).
    pub interval: u64,
    pub bursts: u64,
}

/// The value of word `i` of burst `burst` of device `device`.
pub fn burst_word(device: usize, burst: u64, i: u64) -> u64 {
    ((device as u64 + 1) << 56) ^ (burst << 16) ^ i ^ 0x5a5a_0000_0000
}

pub struct Nic {
    pub index: usize,
    pub spec: DeviceSpec,
    next_at: Cycle,
    sent: u64,
    /// Bursts the DMA engine completed.
    pub delivered: u64,
}

impl Nic {
    pub fn new(index: usize, spec: DeviceSpec) -> Nic {
        Nic {
            index,
            next_at: Cycle(spec.interval),
            spec,
            sent: 0,
            delivered: 0,
        }
    }

    /// The cycle of the next burst, if any remain.
    pub fn next_event(&self) -> Option<Cycle> {
        (self.sent < self.spec.bursts).then_some(self.next_at)
    }

    /// The page (virtual) and descriptor of the burst due at `now`, if one is due; `frame_of`
    /// translates the buffer page. The caller submits it and calls [`Nic::sent`] if the engine
    /// took it.
    pub fn due(
        &self,
        now: Cycle,
        frame_of: impl Fn(VirtAddr) -> Option<Ppn>,
    ) -> Option<DmaDescriptor> {
        if self.sent >= self.spec.bursts || now < self.next_at {
            return None;
        }
        let va = VirtAddr(self.spec.start.0 + (self.sent % self.spec.pages) * PAGE_SIZE);
        let frame = frame_of(va)?;
        let mut words = Box::new([0u64; 512]);
        for (i, w) in words
            .iter_mut()
            .enumerate()
            .take((self.spec.burst_bytes / 8) as usize)
        {
            *w = burst_word(self.index, self.sent, i as u64);
        }
        Some(DmaDescriptor {
            id: DEVICE_ID_BIT | ((self.index as u64) << 40) | self.sent,
            direction: DmaDirection::DeviceToMemory,
            frame,
            device_block: self.sent,
            len: self.spec.burst_bytes,
            data: Some(FrameContent {
                words: Some(words),
                signature: 0,
            }),
        })
    }

    /// Bursts submitted so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The burst due was accepted by the engine at `now`.
    pub fn accepted(&mut self, now: Cycle) {
        self.sent += 1;
        self.next_at = Cycle(now.0 + self.spec.interval);
    }

    /// Give up the remaining bursts (the buffer's process is gone).
    pub fn stop(&mut self) {
        self.spec.bursts = self.sent;
    }

    /// Which device a completion with this id belongs to.
    pub fn index_of(id: u64) -> Option<usize> {
        (id & DEVICE_ID_BIT != 0).then_some(((id & !DEVICE_ID_BIT) >> 40) as usize)
    }
}
