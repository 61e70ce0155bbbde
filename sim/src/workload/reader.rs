//! Trace files: opening, decompression and the reader thread.
//!
//! [`open_trace`] opens the file on the caller's thread (so a missing file is reported at once),
//! picks the decompressor, and starts a thread named `trace-reader` that decompresses, parses and
//! sends `Result<Vec<Record>, WorkloadError>` batches over a bounded crossbeam channel of
//! [`CHANNEL_BATCHES`] batches. The returned [`Workload`] receives them and hands the emptied
//! buffers back over a second channel, so steady state allocates nothing.
//!
//! Memory stays bounded: [`CHANNEL_BATCHES`] batches in the channel, as many recycled empty
//! ones, one being filled and one being used (about 100 KiB each), two 256 KiB read buffers
//! and at most one line of up to [`lackey::MAX_LINE`] bytes; nothing is loaded whole.
//!
//! Compression, by extension first and magic bytes second:
//! - a name ending in `.gz` must hold gzip data (magic `1f 8b 08`), read with
//!   `MultiGzDecoder` so concatenated members (`cat a.gz b.gz`) are all read;
//! - a name ending in `.xz` must hold xz data (magic `fd 37 7a 58 5a 00`), read with xz's
//!   multi-stream decoder;
//! - any other name is sniffed: gzip or xz magic selects that decompressor, otherwise plain.
//!
//! A disagreement between extension and content is an I/O error rather than a flood of parse
//! errors.

use super::{BATCH_SIZE, Record, TraceFormat, Workload, WorkloadError, champsim, lackey, quote};
use crossbeam_channel::{Receiver, Sender};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::thread::JoinHandle;

/// Batches in flight between the reader thread and the simulation.
pub const CHANNEL_BATCHES: usize = 4;

/// Bytes read from the file (or decompressor) at a time.
const READ_BUFFER: usize = 256 * 1024;

/// Room in a batch buffer: a batch is flushed once it holds `BATCH_SIZE` records, and one line
/// or instruction adds at most 7 more.
const BATCH_CAPACITY: usize = BATCH_SIZE + 8;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b, 0x08];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

type Batch = Result<Vec<Record>, WorkloadError>;

/// Why a parser stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Malformed input or a read error; sent to the workload after the records before it.
    Failed(WorkloadError),
    /// The workload was dropped; nobody is listening, so just exit.
    Disconnected,
}

/// Where a parser puts records: it appends to `buf_mut()` and calls `flush_if_full` after each
/// line or instruction.
pub(crate) trait RecordSink {
    /// The batch being filled.
    fn buf_mut(&mut self) -> &mut Vec<Record>;
    /// Hands the batch on once it holds [`BATCH_SIZE`] records.
    fn flush_if_full(&mut self) -> Result<(), Stop>;
}

/// The parser's end of the channel.
pub(crate) struct BatchSink {
    buf: Vec<Record>,
    tx: Sender<Batch>,
    recycled: Receiver<Vec<Record>>,
}

impl RecordSink for BatchSink {
    #[inline]
    fn buf_mut(&mut self) -> &mut Vec<Record> {
        &mut self.buf
    }

    #[inline]
    fn flush_if_full(&mut self) -> Result<(), Stop> {
        if self.buf.len() >= BATCH_SIZE {
            self.flush()
        } else {
            Ok(())
        }
    }
}

impl BatchSink {
    /// Sends the batch if it holds anything, taking a recycled buffer for the next one.
    fn flush(&mut self) -> Result<(), Stop> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = match self.recycled.try_recv() {
            Ok(v) => v,
            Err(_) => Vec::with_capacity(BATCH_CAPACITY),
        };
        let full = std::mem::replace(&mut self.buf, next);
        self.tx.send(Ok(full)).map_err(|_| Stop::Disconnected)
    }

    /// Ends the stream: sends what is buffered, then the error if there is one.
    fn finish(mut self, result: Result<(), Stop>) {
        let err = match result {
            Ok(()) => None,
            Err(Stop::Failed(e)) => Some(e),
            Err(Stop::Disconnected) => return,
        };
        if self.flush().is_err() {
            return;
        }
        if let Some(e) = err {
            // If the receiver is gone nobody needs the error.
            let _ = self.tx.send(Err(e));
        }
    }
}

fn io_err(path: &str, msg: impl Into<String>) -> WorkloadError {
    WorkloadError::Io {
        path: path.to_owned(),
        msg: msg.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
}

/// Extension first (verified against the content), magic bytes otherwise.
fn detect_compression(path: &Path, head: &[u8]) -> Result<Compression, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("gz") if head.starts_with(GZIP_MAGIC) => Ok(Compression::Gzip),
        Some("gz") => Err(format!(
            "named .gz but does not start with gzip's magic bytes 1f 8b 08 (starts with {})",
            quote(&head[..head.len().min(8)])
        )),
        Some("xz") if head.starts_with(XZ_MAGIC) => Ok(Compression::Xz),
        Some("xz") => Err(format!(
            "named .xz but does not start with xz's magic bytes fd 37 7a 58 5a 00 (starts with {})",
            quote(&head[..head.len().min(8)])
        )),
        _ if head.starts_with(GZIP_MAGIC) => Ok(Compression::Gzip),
        _ if head.starts_with(XZ_MAGIC) => Ok(Compression::Xz),
        _ => Ok(Compression::None),
    }
}

/// Open a trace file as a workload: plain, gzip or xz (see the module doc for detection).
/// Parsing happens on a reader thread; the returned workload receives its batches. Errors in
/// opening come back here; errors in reading or parsing come from `next_batch`, after every
/// record before them.
pub fn open_trace(path: &Path, format: TraceFormat) -> Result<Box<dyn Workload>, WorkloadError> {
    Ok(Box::new(spawn_reader(path, format)?))
}

/// [`open_trace`] without the box (tests reach the reader thread's handle through it).
fn spawn_reader(path: &Path, format: TraceFormat) -> Result<TraceWorkload, WorkloadError> {
    let path_str = path.display().to_string();
    let file = File::open(path).map_err(|e| io_err(&path_str, format!("cannot open: {e}")))?;
    let mut raw = BufReader::with_capacity(READ_BUFFER, file);
    // Peek at the first bytes; a short first read of a pipe just means plain (or an error
    // later), which is acceptable for sniffing.
    let head = loop {
        match raw.fill_buf() {
            Ok(h) => break h,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(&path_str, format!("cannot read: {e}"))),
        }
    };
    let compression = detect_compression(path, head).map_err(|m| io_err(&path_str, m))?;
    let mut reader: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Xz => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            xz2::bufread::XzDecoder::new_multi_decoder(raw),
        )),
    };

    let (tx, rx) = crossbeam_channel::bounded::<Batch>(CHANNEL_BATCHES);
    let (recycle_tx, recycled) = crossbeam_channel::bounded::<Vec<Record>>(CHANNEL_BATCHES);
    let thread_path = path_str.clone();
    let handle = std::thread::Builder::new()
        .name("trace-reader".into())
        .spawn(move || {
            let mut sink = BatchSink {
                buf: Vec::with_capacity(BATCH_CAPACITY),
                tx,
                recycled,
            };
            let result = match format {
                TraceFormat::Lackey => lackey::parse_stream(&mut *reader, &thread_path, &mut sink),
                TraceFormat::Champsim => {
                    champsim::parse_stream(&mut *reader, &thread_path, &mut sink)
                }
            };
            sink.finish(result);
        })
        .map_err(|e| io_err(&path_str, format!("cannot start the reader thread: {e}")))?;

    let name = path
        .file_name()
        .map_or_else(|| path_str.clone(), |n| n.to_string_lossy().into_owned());
    Ok(TraceWorkload {
        rx,
        recycle: recycle_tx,
        handle: Some(handle),
        path: path_str,
        description: format!("{format} trace {name}"),
        finished: false,
    })
}

/// The simulation's end of a trace: receives batches from the reader thread.
///
/// Dropping it drops the receiver; the reader's next send fails and the thread exits on its own
/// (it is detached, never joined on drop, so a drop cannot block).
struct TraceWorkload {
    rx: Receiver<Batch>,
    recycle: Sender<Vec<Record>>,
    handle: Option<JoinHandle<()>>,
    path: String,
    description: String,
    finished: bool,
}

impl Workload for TraceWorkload {
    fn next_batch(&mut self, buf: &mut Vec<Record>) -> Result<bool, WorkloadError> {
        if self.finished {
            buf.clear();
            return Ok(false);
        }
        match self.rx.recv() {
            Ok(Ok(batch)) => {
                let mut old = std::mem::replace(buf, batch);
                if old.capacity() >= BATCH_SIZE {
                    old.clear();
                    // A full recycling channel or a finished reader: just drop the buffer.
                    let _ = self.recycle.try_send(old);
                }
                Ok(true)
            }
            Ok(Err(e)) => {
                self.finished = true;
                buf.clear();
                Err(e)
            }
            Err(_) => {
                // The reader dropped its sender: either it finished, or it panicked.
                self.finished = true;
                buf.clear();
                match self.handle.take().map(JoinHandle::join) {
                    Some(Err(_)) => Err(io_err(&self.path, "the trace reader thread panicked")),
                    _ => Ok(false),
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Record;
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};
    use vmsim_hw::{AccessKind, VirtAddr};

    const SAMPLE: &str = "==12345== Lackey, an example Valgrind tool\n\
                          ==12345== Command: ./a.out\n\
                          I  04000bd0,3\n\
                          \x20S 1ffefffd88,8\n\
                          \n\
                          \x20L 04225d30,8\n\
                          \x20M 0421f5e0,4\n\
                          I  0401c6e8,2\n\
                          ==12345== Counted 1 call to main()\n";

    fn sample_records() -> Vec<Record> {
        let r = |kind, va, size, instrs| Record {
            kind,
            va: VirtAddr(va),
            size,
            instrs,
            data: None,
        };
        vec![
            r(AccessKind::Execute, 0x0400_0bd0, 3, 1),
            r(AccessKind::Write, 0x1f_feff_fd88, 8, 0),
            r(AccessKind::Read, 0x0422_5d30, 8, 0),
            r(AccessKind::Read, 0x0421_f5e0, 4, 0),
            r(AccessKind::Write, 0x0421_f5e0, 4, 0),
            r(AccessKind::Execute, 0x0401_c6e8, 2, 1),
        ]
    }

    fn write_plain(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn write_gz(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
        p
    }

    fn write_xz(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        let mut enc = xz2::write::XzEncoder::new(File::create(&p).unwrap(), 1);
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
        p
    }

    /// Everything the workload delivers: the records, and the error that ended it, if any.
    fn drain(w: &mut dyn Workload) -> (Vec<Record>, Option<WorkloadError>) {
        let mut all = Vec::new();
        let mut buf = Vec::new();
        loop {
            match w.next_batch(&mut buf) {
                Ok(true) => {
                    assert!(!buf.is_empty(), "Ok(true) must come with records");
                    assert!(buf.len() <= BATCH_CAPACITY);
                    all.extend_from_slice(&buf);
                }
                Ok(false) => {
                    assert!(buf.is_empty());
                    // Exhausted stays exhausted.
                    assert!(!w.next_batch(&mut buf).unwrap());
                    return (all, None);
                }
                Err(e) => {
                    assert!(buf.is_empty());
                    assert!(!w.next_batch(&mut buf).unwrap());
                    return (all, Some(e));
                }
            }
        }
    }

    fn read_all(path: &Path, format: TraceFormat) -> (Vec<Record>, Option<WorkloadError>) {
        let mut w = open_trace(path, format).unwrap();
        drain(&mut *w)
    }

    #[test]
    fn lackey_sample_gives_its_records_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_plain(dir.path(), "ls.lackey", SAMPLE.as_bytes());
        let (recs, err) = read_all(&p, TraceFormat::Lackey);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(recs, sample_records());
    }

    #[test]
    fn gzip_and_xz_traces_give_the_same_records_as_plain() {
        let dir = tempfile::tempdir().unwrap();
        let plain = write_plain(dir.path(), "t.lackey", SAMPLE.as_bytes());
        let gz = write_gz(dir.path(), "t.lackey.gz", SAMPLE.as_bytes());
        let xz = write_xz(dir.path(), "t.lackey.xz", SAMPLE.as_bytes());
        let want = read_all(&plain, TraceFormat::Lackey).0;
        assert_eq!(want, sample_records());
        assert_eq!(read_all(&gz, TraceFormat::Lackey).0, want);
        assert_eq!(read_all(&xz, TraceFormat::Lackey).0, want);
    }

    #[test]
    fn compressed_traces_without_an_extension_are_recognised_by_magic_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let gz = write_gz(dir.path(), "gz-inside.trace", SAMPLE.as_bytes());
        let xz = write_xz(dir.path(), "xz-inside.trace", SAMPLE.as_bytes());
        assert_eq!(read_all(&gz, TraceFormat::Lackey).0, sample_records());
        assert_eq!(read_all(&xz, TraceFormat::Lackey).0, sample_records());
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_gz(dir.path(), "a.gz", b"I  1000,4\n");
        let b = write_gz(dir.path(), "b.gz", b" L 2000,8\n");
        let mut both = std::fs::read(a).unwrap();
        both.extend(std::fs::read(b).unwrap());
        let p = write_plain(dir.path(), "ab.lackey.gz", &both);
        let recs = read_all(&p, TraceFormat::Lackey).0;
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].va, VirtAddr(0x2000));
    }

    #[test]
    fn extension_that_disagrees_with_the_content_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["plain.gz", "plain.xz"] {
            let p = write_plain(dir.path(), name, SAMPLE.as_bytes());
            match open_trace(&p, TraceFormat::Lackey) {
                Err(WorkloadError::Io { path, msg }) => {
                    assert_eq!(path, p.display().to_string());
                    assert!(msg.contains("magic"), "{msg}");
                }
                Err(other) => panic!("expected an I/O error, got {other:?}"),
                Ok(_) => panic!("{name} must not open"),
            }
        }
    }

    #[test]
    fn corrupt_gzip_data_is_an_io_error_after_the_good_records() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (0..20_000).map(|i| format!(" L {:x},8\n", i * 8)).collect();
        let good = write_gz(dir.path(), "good.gz", body.as_bytes());
        let mut bytes = std::fs::read(good).unwrap();
        let n = bytes.len();
        bytes.truncate(n * 2 / 3);
        bytes.extend_from_slice(&[0xff; 64]);
        let p = write_plain(dir.path(), "bad.lackey.gz", &bytes);
        let (recs, err) = read_all(&p, TraceFormat::Lackey);
        match err {
            Some(WorkloadError::Io { path, .. }) => assert_eq!(path, p.display().to_string()),
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert!(recs.len() < 20_000);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.va, VirtAddr(i as u64 * 8));
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        match open_trace(Path::new("/no/such/trace.lackey"), TraceFormat::Lackey) {
            Err(e @ WorkloadError::Io { .. }) => {
                assert!(
                    e.to_string()
                        .starts_with("/no/such/trace.lackey: cannot open"),
                    "{e}"
                );
            }
            Err(other) => panic!("expected an I/O error, got {other:?}"),
            Ok(_) => panic!("a missing file must not open"),
        }
    }

    #[test]
    fn malformed_line_error_names_the_path_and_one_based_line_after_earlier_records() {
        let dir = tempfile::tempdir().unwrap();
        // (text of line 4, message start)
        let cases = [
            ("foo bar", "expected 'I', ' L', ' S' or ' M' record"),
            (" L 04zz,8", "expected a hex address"),
            (
                " L 11112222333344445,8",
                "expected a hex address that fits in 64 bits",
            ),
            (" L 0400,0", "expected a decimal size"),
            (" S 0400,big", "expected a decimal size"),
            (" M 0400,8 trailing", "expected the end of the line"),
            ("I  0400", "expected ','"),
        ];
        for (bad, msg_start) in cases {
            let text = format!("==1== hello\nI  1000,4\r\n L 2000,8\n{bad}\n L 3000,8\n");
            let p = write_plain(dir.path(), "trace.lackey", text.as_bytes());
            let (recs, err) = read_all(&p, TraceFormat::Lackey);
            assert_eq!(recs.len(), 2, "records before the bad line come first");
            match err {
                Some(e @ WorkloadError::Parse { .. }) => {
                    let WorkloadError::Parse { path, line, msg } = &e else {
                        unreachable!()
                    };
                    assert_eq!(path, &p.display().to_string());
                    assert_eq!(*line, 4, "{bad:?}");
                    assert!(msg.starts_with(msg_start), "{bad:?}: {msg}");
                    let shown = e.to_string();
                    assert!(
                        shown.starts_with(&format!("{}:4: ", p.display())),
                        "{shown}"
                    );
                }
                other => panic!("{bad:?}: expected a parse error, got {other:?}"),
            }
        }
    }

    #[test]
    fn parse_error_deep_in_a_compressed_trace_has_the_right_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..100_000u64 {
            text.push_str(&format!(" S {:x},8\n", i));
        }
        text.push_str(" Q 0,8\n");
        let p = write_xz(dir.path(), "deep.lackey.xz", text.as_bytes());
        let (recs, err) = read_all(&p, TraceFormat::Lackey);
        assert_eq!(recs.len(), 100_000);
        match err {
            Some(WorkloadError::Parse { line, .. }) => assert_eq!(line, 100_001),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn final_line_without_newline_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_plain(dir.path(), "t.lackey", b"I  1000,4\n L 2000,8");
        assert_eq!(read_all(&p, TraceFormat::Lackey).0.len(), 2);
    }

    #[test]
    fn empty_trace_is_exhausted_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_plain(dir.path(), "empty.lackey", b"");
        let (recs, err) = read_all(&p, TraceFormat::Lackey);
        assert!(recs.is_empty() && err.is_none());
    }

    #[test]
    fn overlong_line_is_a_parse_error_not_unbounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = b"I  1000,4\n".to_vec();
        text.extend(std::iter::repeat_n(b'z', lackey::MAX_LINE * 5));
        let p = write_plain(dir.path(), "binary.lackey", &text);
        let (recs, err) = read_all(&p, TraceFormat::Lackey);
        assert_eq!(recs.len(), 1);
        match err {
            Some(WorkloadError::Parse { line, msg, .. }) => {
                assert_eq!(line, 2);
                assert!(msg.starts_with("expected a line of at most"), "{msg}");
            }
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    /// Lines split across reads (the read buffer is 256 KiB) must come out whole.
    #[test]
    fn trace_of_many_batches_arrives_complete_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let n: u64 = 50 * BATCH_SIZE as u64 + 17;
        let mut text = String::with_capacity(n as usize * 16);
        for i in 0..n {
            if i.is_multiple_of(3) {
                text.push_str(&format!("I  {:x},{}\n", i, 1 + i % 15));
            } else {
                text.push_str(&format!(" L {:x},{}\n", i, 1 + i % 15));
            }
        }
        for p in [
            write_plain(dir.path(), "many.lackey", text.as_bytes()),
            write_gz(dir.path(), "many.lackey.gz", text.as_bytes()),
        ] {
            let (recs, err) = read_all(&p, TraceFormat::Lackey);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(recs.len() as u64, n);
            for (i, r) in recs.iter().enumerate() {
                let i = i as u64;
                assert_eq!(r.va, VirtAddr(i));
                assert_eq!(r.size as u64, 1 + i % 15);
                let kind = if i.is_multiple_of(3) {
                    AccessKind::Execute
                } else {
                    AccessKind::Read
                };
                assert_eq!(r.kind, kind);
            }
        }
    }

    #[test]
    fn dropping_a_trace_workload_mid_stream_does_not_hang_and_the_reader_exits() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..200_000).map(|i| format!(" L {:x},8\n", i)).collect();
        let p = write_plain(dir.path(), "long.lackey", text.as_bytes());
        for take_first in [true, false] {
            let mut w = spawn_reader(&p, TraceFormat::Lackey).unwrap();
            let mut buf = Vec::new();
            if take_first {
                assert!(w.next_batch(&mut buf).unwrap());
            }
            // Let the reader fill the channel and block in `send`.
            std::thread::sleep(Duration::from_millis(20));
            let handle = w.handle.take().unwrap();
            let start = Instant::now();
            drop(w);
            assert!(start.elapsed() < Duration::from_secs(1), "drop blocked");
            // The reader notices the dropped receiver and exits on its own.
            let (done_tx, done_rx) = crossbeam_channel::bounded(1);
            std::thread::spawn(move || {
                let _ = done_tx.send(handle.join().is_ok());
            });
            assert_eq!(
                done_rx.recv_timeout(Duration::from_secs(10)),
                Ok(true),
                "reader thread did not exit cleanly after the workload was dropped"
            );
        }
        // Dropping through the public box does not block either.
        let start = Instant::now();
        drop(open_trace(&p, TraceFormat::Lackey).unwrap());
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn description_names_the_format_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_gz(dir.path(), "ls.lackey.gz", SAMPLE.as_bytes());
        let w = open_trace(&p, TraceFormat::Lackey).unwrap();
        assert_eq!(w.describe(), "lackey trace ls.lackey.gz");
    }

    /// Parse throughput on a generated 10M-line trace, plain and gzip. Run in release:
    /// `cargo test --release -p vmsim-sim lackey_parse_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore = "throughput measurement; run in release with --ignored --nocapture"]
    fn lackey_parse_throughput() {
        let dir = tempfile::tempdir().unwrap();
        let lines: u64 = 10_000_000;
        let mut text = Vec::with_capacity(lines as usize * 18);
        let mut expected: u64 = 0;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..lines {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match i % 8 {
                0 | 2 | 4 | 6 => {
                    writeln!(
                        text,
                        "I  {:08x},{}",
                        0x0400_0000 + (x & 0xf_ffff),
                        1 + x % 7
                    )
                    .unwrap();
                    expected += 1;
                }
                1 | 5 => {
                    writeln!(text, " L {:x},8", 0x1f_fefe_0000 + (x & 0xffff)).unwrap();
                    expected += 1;
                }
                3 => {
                    writeln!(text, " S {:x},4", 0x0422_0000 + (x & 0xffff)).unwrap();
                    expected += 1;
                }
                _ => {
                    writeln!(text, " M {:x},8", 0x0421_0000 + (x & 0xffff)).unwrap();
                    expected += 2;
                }
            }
        }
        // The parser alone, on one thread, over the text in memory.
        struct Counting {
            buf: Vec<Record>,
            n: u64,
        }
        impl RecordSink for Counting {
            fn buf_mut(&mut self) -> &mut Vec<Record> {
                &mut self.buf
            }
            fn flush_if_full(&mut self) -> Result<(), Stop> {
                if self.buf.len() >= BATCH_SIZE {
                    self.n += self.buf.len() as u64;
                    self.buf.clear();
                }
                Ok(())
            }
        }
        for _ in 0..2 {
            let start = Instant::now();
            let mut sink = Counting {
                buf: Vec::with_capacity(BATCH_CAPACITY),
                n: 0,
            };
            let mut cursor = io::BufReader::with_capacity(READ_BUFFER, &text[..]);
            lackey::parse_stream(&mut cursor, "mem", &mut sink).unwrap();
            let n = sink.n + sink.buf.len() as u64;
            let secs = start.elapsed().as_secs_f64();
            assert_eq!(n, expected);
            println!(
                "in memory, parser only: {:.1} M lines/s, {:.1} M records/s",
                lines as f64 / secs / 1e6,
                n as f64 / secs / 1e6
            );
        }
        let plain = write_plain(dir.path(), "big.lackey", &text);
        let gz = dir.path().join("big.lackey.gz");
        let mut enc = flate2::write::GzEncoder::new(
            File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(&text).unwrap();
        enc.finish().unwrap();
        let mb = text.len() as f64 / 1e6;
        drop(text);
        for p in [plain, gz] {
            for _ in 0..2 {
                let start = Instant::now();
                let mut w = open_trace(&p, TraceFormat::Lackey).unwrap();
                let mut buf = Vec::new();
                let mut n: u64 = 0;
                while w.next_batch(&mut buf).unwrap() {
                    n += buf.len() as u64;
                }
                let secs = start.elapsed().as_secs_f64();
                assert_eq!(n, expected);
                println!(
                    "{}: {lines} lines ({mb:.0} MB text), {n} records in {secs:.3} s: \
                     {:.1} M lines/s, {:.1} M records/s",
                    p.file_name().unwrap().to_string_lossy(),
                    lines as f64 / secs / 1e6,
                    n as f64 / secs / 1e6
                );
            }
        }
    }
}
