//! ChampSim binary instruction traces (usually `.champsimtrace.xz`).
//!
//! Each instruction is one 64-byte little-endian record:
//!
//! ```text
//! offset  field
//!      0  u64 ip
//!      8  u8  is_branch
//!      9  u8  branch_taken
//!     10  u8  destination_registers[2]
//!     12  u8  source_registers[4]
//!     16  u64 destination_memory[2]
//!     32  u64 source_memory[4]
//! ```
//!
//! An instruction becomes: an Execute record of 1 byte at `ip` retiring one instruction, then a
//! Read of 1 byte for each nonzero `source_memory` (in order), then a Write of 1 byte for each
//! nonzero `destination_memory` (in order); data records retire nothing. Branch and register
//! fields are ignored. A file whose length is not a multiple of 64 ends in a truncated record,
//! which is a [`WorkloadError::Parse`] naming the file and the 1-based record number (in the
//! error's `line` field).

use super::reader::{RecordSink, Stop};
use super::{Record, WorkloadError};
use std::io::{self, BufRead};
use vmsim_hw::{AccessKind, VirtAddr};

/// Bytes per ChampSim instruction record.
pub const RECORD_BYTES: usize = 64;

#[inline]
fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Append the records of one 64-byte instruction record to `out` (1 to 7 records).
pub fn decode_record(raw: &[u8; RECORD_BYTES], out: &mut Vec<Record>) {
    let one_byte = |kind, va, instrs| Record {
        kind,
        va: VirtAddr(va),
        size: 1,
        instrs,
        data: None,
    };
    out.push(one_byte(AccessKind::Execute, le64(raw, 0), 1));
    for k in 0..4 {
        let va = le64(raw, 32 + 8 * k);
        if va != 0 {
            out.push(one_byte(AccessKind::Read, va, 0));
        }
    }
    for k in 0..2 {
        let va = le64(raw, 16 + 8 * k);
        if va != 0 {
            out.push(one_byte(AccessKind::Write, va, 0));
        }
    }
}

/// Parse a whole ChampSim stream into `sink`. Whole records are decoded in place from the read
/// buffer; only a record split across two reads is copied.
pub(crate) fn parse_stream(
    reader: &mut dyn BufRead,
    path: &str,
    sink: &mut impl RecordSink,
) -> Result<(), Stop> {
    let mut partial = [0u8; RECORD_BYTES];
    let mut have = 0usize;
    let mut record_no: u64 = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Stop::Failed(WorkloadError::Io {
                    path: path.to_owned(),
                    msg: format!("read failed after record {record_no}: {e}"),
                }));
            }
        };
        if chunk.is_empty() {
            if have > 0 {
                return Err(Stop::Failed(WorkloadError::Parse {
                    path: path.to_owned(),
                    line: record_no + 1,
                    msg: format!(
                        "expected a {RECORD_BYTES}-byte ChampSim record, found only {have} bytes \
                         before the end of the file (truncated record {})",
                        record_no + 1
                    ),
                }));
            }
            return Ok(());
        }
        let len = chunk.len();
        let mut rest = chunk;
        if have > 0 {
            let take = (RECORD_BYTES - have).min(rest.len());
            partial[have..have + take].copy_from_slice(&rest[..take]);
            have += take;
            rest = &rest[take..];
            if have == RECORD_BYTES {
                record_no += 1;
                decode_record(&partial, sink.buf_mut());
                sink.flush_if_full()?;
                have = 0;
            }
        }
        let mut whole = rest.chunks_exact(RECORD_BYTES);
        for raw in whole.by_ref() {
            let mut rec = [0u8; RECORD_BYTES];
            rec.copy_from_slice(raw);
            record_no += 1;
            decode_record(&rec, sink.buf_mut());
            sink.flush_if_full()?;
        }
        let tail = whole.remainder();
        if !tail.is_empty() {
            // Only reached with `have == 0`: a partial record left over above consumed all of
            // `rest` or completed.
            partial[have..have + tail.len()].copy_from_slice(tail);
            have += tail.len();
        }
        reader.consume(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{TraceFormat, Workload, open_trace};
    use std::io::Write;

    /// One raw record.
    fn raw(ip: u64, dst: [u64; 2], src: [u64; 4]) -> [u8; RECORD_BYTES] {
        let mut r = [0u8; RECORD_BYTES];
        r[0..8].copy_from_slice(&ip.to_le_bytes());
        r[8] = 1; // is_branch: ignored
        r[10] = 5; // a destination register: ignored
        for (k, v) in dst.iter().enumerate() {
            r[16 + 8 * k..24 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        for (k, v) in src.iter().enumerate() {
            r[32 + 8 * k..40 + 8 * k].copy_from_slice(&v.to_le_bytes());
        }
        r
    }

    fn one(kind: AccessKind, va: u64, instrs: u32) -> Record {
        Record {
            kind,
            va: VirtAddr(va),
            size: 1,
            instrs,
            data: None,
        }
    }

    fn drain(w: &mut dyn Workload) -> (Vec<Record>, Option<WorkloadError>) {
        let mut all = Vec::new();
        let mut buf = Vec::new();
        loop {
            match w.next_batch(&mut buf) {
                Ok(true) => all.extend_from_slice(&buf),
                Ok(false) => return (all, None),
                Err(e) => return (all, Some(e)),
            }
        }
    }

    #[test]
    fn instruction_is_execute_then_reads_then_writes_of_one_byte() {
        let mut out = Vec::new();
        decode_record(
            &raw(0x40_1000, [0x7000, 0], [0x5000, 0, 0x6000, 0]),
            &mut out,
        );
        assert_eq!(
            out,
            [
                one(AccessKind::Execute, 0x40_1000, 1),
                one(AccessKind::Read, 0x5000, 0),
                one(AccessKind::Read, 0x6000, 0),
                one(AccessKind::Write, 0x7000, 0),
            ]
        );
    }

    #[test]
    fn instruction_without_memory_operands_is_one_execute_record() {
        let mut out = Vec::new();
        decode_record(&raw(0x1234, [0; 2], [0; 4]), &mut out);
        assert_eq!(out, [one(AccessKind::Execute, 0x1234, 1)]);
    }

    #[test]
    fn instruction_with_every_operand_gives_seven_records() {
        let mut out = Vec::new();
        decode_record(&raw(9, [7, 8], [1, 2, 3, 4]), &mut out);
        let kinds: Vec<_> = out.iter().map(|r| r.kind).collect();
        use AccessKind::*;
        assert_eq!(kinds, [Execute, Read, Read, Read, Read, Write, Write]);
        let vas: Vec<_> = out.iter().map(|r| r.va.0).collect();
        assert_eq!(vas, [9, 1, 2, 3, 4, 7, 8]);
    }

    fn trace_bytes(n: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..n {
            bytes.extend_from_slice(&raw(
                0x40_0000 + 4 * i,
                [0, 0x9000 + i],
                [0x8000 + i, 0, 0, 0],
            ));
        }
        bytes
    }

    #[test]
    fn plain_gzip_and_xz_champsim_traces_give_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let n = 10_000u64;
        let bytes = trace_bytes(n);
        let plain = dir.path().join("t.champsimtrace");
        std::fs::write(&plain, &bytes).unwrap();
        let xz = dir.path().join("t.champsimtrace.xz");
        let mut enc = xz2::write::XzEncoder::new(std::fs::File::create(&xz).unwrap(), 1);
        enc.write_all(&bytes).unwrap();
        enc.finish().unwrap();
        let gz = dir.path().join("t.champsimtrace.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&bytes).unwrap();
        enc.finish().unwrap();

        let (want, err) = drain(&mut *open_trace(&plain, TraceFormat::Champsim).unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(want.len() as u64, 3 * n);
        for i in 0..n as usize {
            assert_eq!(
                want[3 * i],
                one(AccessKind::Execute, 0x40_0000 + 4 * i as u64, 1)
            );
            assert_eq!(want[3 * i + 1], one(AccessKind::Read, 0x8000 + i as u64, 0));
            assert_eq!(
                want[3 * i + 2],
                one(AccessKind::Write, 0x9000 + i as u64, 0)
            );
        }
        for p in [&xz, &gz] {
            let (got, err) = drain(&mut *open_trace(p, TraceFormat::Champsim).unwrap());
            assert!(err.is_none(), "{err:?}");
            assert_eq!(got, want);
        }
    }

    #[test]
    fn truncated_final_record_is_an_error_naming_the_file_and_record_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = trace_bytes(5000);
        bytes.truncate(bytes.len() - 20);
        let p = dir.path().join("cut.champsimtrace");
        std::fs::write(&p, &bytes).unwrap();
        let (recs, err) = drain(&mut *open_trace(&p, TraceFormat::Champsim).unwrap());
        assert_eq!(recs.len(), 3 * 4999, "the whole records come first");
        match err {
            Some(e @ WorkloadError::Parse { .. }) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&format!("{}:5000: ", p.display())),
                    "{text}"
                );
                assert!(text.contains("44 bytes"), "{text}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }
}
