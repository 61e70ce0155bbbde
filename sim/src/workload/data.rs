//! Data-carrying accesses (`workload.data = true`): every access of a synthetic generator carries
//! the 8-byte value it stores or expects to load, so a run can check that memory keeps what was
//! written through eviction, swap and DMA.
//!
//! [`DataCarrying`] wraps a generator and rewrites each batch in place:
//!
//! - a read or write becomes an 8-byte access at its address rounded down to a multiple of 8
//!   (`va & !7`, `size = 8`); an instruction fetch is passed on untouched, with no data;
//! - a write carries `data = Some(value(pid, va, seq))`, where `seq` counts this workload's
//!   earlier writes (0 for its first) and [`value`] is the mix below, never 0, so a zero-filled
//!   page can never pass for a written one;
//! - a read carries `data = Some(v)`, `v` being the value this workload last wrote at that `va`,
//!   or 0 if it never wrote there (fresh anonymous memory reads as zeros).
//!
//! The expectations assume the workload is the only writer of its bytes: a second data-carrying
//! process writing the same `shared:NAME` bytes, a device's DMA into them, or an munmap that
//! drops them (a later touch maps fresh zeros) make a read legitimately differ from its
//! expectation.
//!
//! The last value written at each address is kept in a `BTreeMap` (16 bytes a written address
//! plus the tree's overhead), consulted and updated in program order, so the stream depends only
//! on the inner generator's stream and on `pid`.

use super::{Record, Workload, WorkloadError};
use std::collections::BTreeMap;
use vmsim_hw::AccessKind;

/// Bytes of every data-carrying access.
pub const DATA_BYTES: u32 = 8;

/// The splitmix64 increment (2^64 / golden ratio).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One splitmix64 step: `z = x + GOLDEN`, then
/// `z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31`
/// (wrapping arithmetic). A bijection of the 64-bit values.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The value the `seq`-th write (0-based) of process `pid` stores at `va`:
/// `mix(mix(mix(pid) ^ va) ^ seq)`, with [`mix`] one splitmix64 step; a result of 0 is replaced by
/// 1, so no write ever stores 0.
pub fn value(pid: u32, va: u64, seq: u64) -> u64 {
    match mix(mix(mix(u64::from(pid)) ^ va) ^ seq) {
        0 => 1,
        v => v,
    }
}

/// A workload whose reads and writes carry data; see the module documentation.
pub struct DataCarrying {
    inner: Box<dyn Workload>,
    pid: u32,
    /// Writes so far: the `seq` of the next write.
    writes: u64,
    /// The last value written at each (8-aligned) address.
    shadow: BTreeMap<u64, u64>,
}

impl DataCarrying {
    /// Wrap `inner`, the workload of process `pid`.
    pub fn new(inner: Box<dyn Workload>, pid: u32) -> DataCarrying {
        DataCarrying {
            inner,
            pid,
            writes: 0,
            shadow: BTreeMap::new(),
        }
    }

    /// Writes so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// The value the next read of `va` (rounded down to 8) will expect: 0 if never written.
    pub fn expected(&self, va: u64) -> u64 {
        self.shadow.get(&(va & !7)).copied().unwrap_or(0)
    }

    fn rewrite(&mut self, r: &mut Record) {
        if r.kind == AccessKind::Execute {
            return;
        }
        r.va.0 &= !7;
        r.size = DATA_BYTES;
        let v = match r.kind {
            AccessKind::Write => {
                let v = value(self.pid, r.va.0, self.writes);
                self.writes += 1;
                self.shadow.insert(r.va.0, v);
                v
            }
            _ => self.expected(r.va.0),
        };
        r.data = Some(v);
    }
}

impl Workload for DataCarrying {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        let more = self.inner.next_batch(buf)?;
        for r in buf.iter_mut() {
            self.rewrite(r);
        }
        Ok(more)
    }

    fn describe(&self) -> String {
        format!("{}, carrying data", self.inner.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmsim_hw::VirtAddr;

    /// Plays back fixed records in batches of `per_batch`.
    struct Fixed {
        records: Vec<Record>,
        at: usize,
        per_batch: usize,
    }

    impl Workload for Fixed {
        fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
            buf.clear();
            let end = (self.at + self.per_batch).min(self.records.len());
            buf.extend_from_slice(&self.records[self.at..end]);
            self.at = end;
            Ok(!buf.is_empty())
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
    }

    fn rec(kind: AccessKind, va: u64, size: u32) -> Record {
        Record {
            kind,
            va: VirtAddr(va),
            size,
            instrs: 1,
            data: None,
        }
    }

    fn run(records: Vec<Record>, pid: u32, per_batch: usize) -> Vec<Record> {
        let mut w = DataCarrying::new(
            Box::new(Fixed {
                records,
                at: 0,
                per_batch,
            }),
            pid,
        );
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while w.next_batch(&mut buf).unwrap() {
            out.extend_from_slice(&buf);
        }
        assert!(!w.next_batch(&mut buf).unwrap());
        out
    }

    #[test]
    fn mix_is_splitmix64() {
        // The first outputs of splitmix64 seeded with 0 (Vigna's reference implementation).
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix(GOLDEN), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn values_of_a_tiny_sequence_are_exact() {
        let out = run(
            vec![
                rec(AccessKind::Read, 0x1000, 8),
                rec(AccessKind::Write, 0x1000, 8),
                rec(AccessKind::Read, 0x1004, 4),
                rec(AccessKind::Write, 0x1000, 8),
                rec(AccessKind::Read, 0x1000, 8),
                rec(AccessKind::Execute, 0x2003, 3),
                rec(AccessKind::Write, 0x2fff, 1),
            ],
            7,
            2,
        );
        let v0 = value(7, 0x1000, 0);
        let v1 = value(7, 0x1000, 1);
        let v2 = value(7, 0x2ff8, 2);
        assert_eq!(v0, mix(mix(mix(7) ^ 0x1000)));
        assert_eq!(v1, mix(mix(mix(7) ^ 0x1000) ^ 1));
        assert_eq!(v0, 0xAD9E_7D83_226F_EE19);
        assert_eq!(v1, 0x9573_B9ED_5080_A8F0);
        assert_eq!(v2, 0x47D7_AF51_F439_5DF6);
        assert_ne!(v0, v1);
        let expect = [
            (AccessKind::Read, 0x1000, 8, Some(0)),
            (AccessKind::Write, 0x1000, 8, Some(v0)),
            (AccessKind::Read, 0x1000, 8, Some(v0)),
            (AccessKind::Write, 0x1000, 8, Some(v1)),
            (AccessKind::Read, 0x1000, 8, Some(v1)),
            (AccessKind::Execute, 0x2003, 3, None),
            (AccessKind::Write, 0x2ff8, 8, Some(v2)),
        ];
        assert_eq!(out.len(), expect.len());
        for (r, (kind, va, size, data)) in out.iter().zip(expect) {
            assert_eq!((r.kind, r.va.0, r.size, r.data), (kind, va, size, data));
            assert_eq!(r.instrs, 1);
        }
    }

    #[test]
    fn the_value_depends_on_pid_address_and_sequence() {
        let v = value(1, 0x1000, 0);
        assert_ne!(v, value(2, 0x1000, 0));
        assert_ne!(v, value(1, 0x1008, 0));
        assert_ne!(v, value(1, 0x1000, 1));
        assert_ne!(v, 0);
    }

    #[test]
    fn batch_boundaries_do_not_change_the_stream() {
        let records: Vec<Record> = (0..50u64)
            .map(|i| {
                let kind = if i % 3 == 0 {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                };
                rec(kind, 0x4000 + (i * 24) % 128, 8)
            })
            .collect();
        let a = run(records.clone(), 3, 1);
        let b = run(records.clone(), 3, 7);
        let c = run(records, 3, 100);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        proptest! {
            /// Every read expects exactly the last value written at its 8-byte word (0 if none),
            /// every write stores a fresh nonzero value, and addresses are 8-aligned words.
            #[test]
            fn a_read_expects_the_last_write_to_its_word(
                ops in prop::collection::vec((any::<bool>(), 0u64..256, 1u32..=8), 1..300),
                pid in 1u32..5,
                per_batch in 1usize..40,
            ) {
                let records: Vec<Record> = ops
                    .iter()
                    .map(|&(write, off, size)| {
                        let kind = if write { AccessKind::Write } else { AccessKind::Read };
                        rec(kind, 0x7000 + off, size)
                    })
                    .collect();
                let out = run(records, pid, per_batch);
                prop_assert_eq!(out.len(), ops.len());
                let mut last: HashMap<u64, u64> = HashMap::new();
                let mut seq = 0;
                for (r, &(write, off, _)) in out.iter().zip(&ops) {
                    let word = (0x7000 + off) & !7;
                    prop_assert_eq!(r.va.0, word);
                    prop_assert_eq!(r.size, 8);
                    let data = r.data.expect("reads and writes carry data");
                    if write {
                        prop_assert_eq!(data, value(pid, word, seq));
                        prop_assert_ne!(data, 0);
                        seq += 1;
                        last.insert(word, data);
                    } else {
                        prop_assert_eq!(data, last.get(&word).copied().unwrap_or(0));
                    }
                }
            }
        }
    }
}
