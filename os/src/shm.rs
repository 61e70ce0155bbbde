//! Shared-memory objects: the pages behind every `shared:NAME` segment of that name.
//!
//! An object is created by the first segment that names it and lives while any process maps
//! it. Each attachment maps a run of the object's pages at some virtual address of some
//! process; page `i` of the object is the same frame in every attachment. A page is resident
//! (one frame), swapped (one slot) or not yet touched; the processes' PTEs only cache the
//! resident state: eviction clears them all, and each process faults the page back in on its
//! next touch.

use crate::process::Pid;
use vmsim_hw::{PAGE_SIZE, Ppn, VirtAddr};

/// Where a shared page's content is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmPage {
    Untouched,
    Resident(Ppn),
    Swapped(u64),
}

/// One process's mapping of pages `first..first + pages` of an object at `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub pid: Pid,
    pub start: VirtAddr,
    pub first: u64,
    pub pages: u64,
}

impl Attachment {
    pub fn contains(&self, pid: Pid, va: VirtAddr) -> bool {
        self.pid == pid && va >= self.start && va.0 < self.start.0 + self.pages * PAGE_SIZE
    }
    /// The virtual address at which this attachment maps object page `index`, if it does.
    pub fn va_of(&self, index: u64) -> Option<VirtAddr> {
        (index >= self.first && index < self.first + self.pages)
            .then(|| VirtAddr(self.start.0 + (index - self.first) * PAGE_SIZE))
    }
}

pub struct SharedObject {
    pub name: String,
    pub pages: Vec<ShmPage>,
    pub attachments: Vec<Attachment>,
}

impl SharedObject {
    pub fn new(name: &str, pages: u64) -> SharedObject {
        SharedObject {
            name: name.to_string(),
            pages: vec![ShmPage::Untouched; pages as usize],
            attachments: Vec::new(),
        }
    }

    /// The object page that `pid` maps at `va`.
    pub fn index_of(&self, pid: Pid, va: VirtAddr) -> Option<u64> {
        self.attachments
            .iter()
            .find(|a| a.contains(pid, va))
            .map(|a| a.first + (va.0 - a.start.0) / PAGE_SIZE)
    }
}
