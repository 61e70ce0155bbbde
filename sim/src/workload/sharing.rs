//! A producer and a consumer over shared memory (`kind = "producer"`, `kind = "consumer"`): the
//! producer writes a buffer, the consumer reads it and checks every word, through a
//! `shared:NAME` segment that the two processes may map at different virtual addresses.
//!
//! The buffer is `pages` pages from `base`; only the first [`WORDS_PER_PAGE`] 8-byte words of
//! each page are used. The word at byte offset `off` from the start of the buffer always holds
//! [`shared_value`]`(off)`, whoever writes it, so a correct read finds exactly that value
//! whatever the interleaving, once the word has been written:
//!
//! - the producer's access `i` writes word `(i / pages) % WORDS_PER_PAGE` of page `i % pages`:
//!   its first `pages * WORDS_PER_PAGE` accesses write every word once, then it rewrites them
//!   in the same order;
//! - the consumer reads a uniformly random word of a uniformly random page (seeded) and expects
//!   `shared_value(off)`.
//!
//! The consumer's expectations hold once the producer's first `pages * WORDS_PER_PAGE` writes are
//! done: give the producer the lower pid (it is dispatched first) and a time slice long enough
//! for them (64 pages take 256 minor-fault-free writes plus 64 minor faults, about 0.3 M cycles
//! at the default costs; `os.time_slice` defaults to 1 M). A read that finds anything else is an
//! integrity error: a lost or misplaced shared page, or a consumer that ran too early.

use super::data::mix;
use super::{BATCH_SIZE, Record, Workload, WorkloadConfig, WorkloadError};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use vmsim_hw::{AccessKind, PAGE_SIZE, VirtAddr};

/// Words of each buffer page that the producer writes and the consumer reads.
pub const WORDS_PER_PAGE: u64 = 4;

const CONSUMER_SEED: u64 = u64::from_be_bytes(*b"wl-consu");

/// The value of the word at byte offset `off` of the buffer: `mix(off ^ 0x5348_4152_4544)`
/// (splitmix64, see [`super::data::mix`]), never 0.
pub fn shared_value(off: u64) -> u64 {
    match mix(off ^ 0x5348_4152_4544) {
        0 => 1,
        v => v,
    }
}

/// Which side of the buffer a workload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Producer,
    Consumer,
}

pub struct SharedBuffer {
    role: Role,
    base: u64,
    pages: u64,
    remaining: u64,
    instrs: u32,
    i: u64,
    rng: Xoshiro256PlusPlus,
}

impl SharedBuffer {
    /// Expects a validated config.
    pub fn new(cfg: &WorkloadConfig, seed: u64, role: Role) -> SharedBuffer {
        SharedBuffer {
            role,
            base: cfg.base,
            pages: cfg.pages,
            remaining: cfg.accesses,
            instrs: cfg.instrs_per_access,
            i: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ CONSUMER_SEED),
        }
    }
}

impl Workload for SharedBuffer {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        buf.clear();
        let n = self.remaining.min(BATCH_SIZE as u64);
        for _ in 0..n {
            let (page, word) = match self.role {
                Role::Producer => (self.i % self.pages, (self.i / self.pages) % WORDS_PER_PAGE),
                Role::Consumer => (
                    self.rng.next_u64() % self.pages,
                    self.rng.next_u64() % WORDS_PER_PAGE,
                ),
            };
            self.i += 1;
            let off = page * PAGE_SIZE + word * 8;
            buf.push(Record {
                kind: match self.role {
                    Role::Producer => AccessKind::Write,
                    Role::Consumer => AccessKind::Read,
                },
                va: VirtAddr(self.base + off),
                size: 8,
                instrs: self.instrs,
                data: Some(shared_value(off)),
            });
        }
        self.remaining -= n;
        Ok(n > 0)
    }

    fn describe(&self) -> String {
        let role = match self.role {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        };
        format!("{role} over a {}-page shared buffer", self.pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::WorkloadKind;

    fn cfg(kind: WorkloadKind) -> WorkloadConfig {
        WorkloadConfig {
            kind,
            pages: 3,
            accesses: 14,
            base: 0x10_0000,
            ..WorkloadConfig::default()
        }
    }

    #[test]
    fn the_producer_writes_every_word_once_then_again_in_order() {
        let mut p = SharedBuffer::new(&cfg(WorkloadKind::Producer), 1, Role::Producer);
        let mut buf = Vec::new();
        assert!(p.next_batch(&mut buf).unwrap());
        let offs: Vec<u64> = buf.iter().map(|r| r.va.0 - 0x10_0000).collect();
        assert_eq!(
            offs,
            vec![
                0, 4096, 8192, 8, 4104, 8200, 16, 4112, 8208, 24, 4120, 8216, 0, 4096
            ]
        );
        for r in &buf {
            assert_eq!(r.kind, AccessKind::Write);
            assert_eq!(r.data, Some(shared_value(r.va.0 - 0x10_0000)));
        }
        assert!(!p.next_batch(&mut buf).unwrap());
    }

    #[test]
    fn the_consumer_reads_the_words_the_producer_writes() {
        let mut c = SharedBuffer::new(&cfg(WorkloadKind::Consumer), 1, Role::Consumer);
        let mut buf = Vec::new();
        assert!(c.next_batch(&mut buf).unwrap());
        assert_eq!(buf.len(), 14);
        for r in &buf {
            let off = r.va.0 - 0x10_0000;
            assert!(off % PAGE_SIZE < WORDS_PER_PAGE * 8 && off < 3 * PAGE_SIZE);
            assert_eq!(r.kind, AccessKind::Read);
            assert_eq!(r.data, Some(shared_value(off)));
        }
        assert_ne!(shared_value(0), shared_value(8));
    }
}
