//! Valgrind Lackey traces (`valgrind --tool=lackey --trace-mem=yes prog`).
//!
//! ```text
//! ==12345== Lackey, an example Valgrind tool
//! I  04000bd0,3
//!  S 1ffefffd88,8
//!  L 04225d30,8
//!  M 0421f5e0,4
//! ```
//!
//! - `I` is an instruction fetch: one [`AccessKind::Execute`] record with `instrs = 1`.
//! - ` L` is a load (Read), ` S` a store (Write), ` M` a modify: a Read followed by a Write of
//!   the same bytes, so two records. Data records carry `instrs = 0`.
//! - The address is hex without `0x` (at most 64 bits; leading zeros are fine), then a comma and
//!   the size in decimal bytes (1 to 2^32 - 1). The access must not wrap past 2^64.
//! - Lines starting with `==` (Valgrind's own messages) and blank lines are skipped.
//!
//! Tolerated: `\r\n` line endings, any run of spaces or tabs before the type letter, between it
//! and the address, and at the end of the line. Anything else is a
//! [`WorkloadError::Parse`] naming the file and 1-based line.
//!
//! The parser works on bytes in place (no regex, no allocation on the good path): a table-driven
//! hex loop and a decimal loop per line.

use super::reader::{RecordSink, Stop};
use super::{Record, WorkloadError, quote};
use std::io::{self, BufRead};
use vmsim_hw::{AccessKind, VirtAddr};

/// Longest line accepted, in bytes. Lackey's records are under 40 bytes; Valgrind's `==` lines
/// (which echo the command line) can be longer. The limit keeps memory bounded when a binary
/// file is read as Lackey text by mistake.
pub const MAX_LINE: usize = 64 * 1024;

const NOT_HEX: u8 = 0xff;

/// Value of each byte as a hex digit, or `NOT_HEX`.
static HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn expected_record(line: &[u8]) -> String {
    format!(
        "expected 'I', ' L', ' S' or ' M' record with hex address and size, found {}",
        quote(line)
    )
}

/// Parse one line (with or without its `\n` / `\r\n`) and append its records to `out`: none
/// for a blank or `==` line, one for `I`, `L`, `S`, two for `M`. On a malformed line returns
/// the message (what was expected, quoting the bad text) and leaves `out` unchanged.
pub fn parse_line(line: &[u8], out: &mut Vec<Record>) -> Result<(), String> {
    let line = match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] | [rest @ .., b'\r'] => rest,
        _ => line,
    };
    let n = line.len();
    let mut i = 0;
    while i < n && is_blank(line[i]) {
        i += 1;
    }
    if i == n || line[i..].starts_with(b"==") {
        return Ok(());
    }

    // Type letter, then at least one blank.
    let op = line[i];
    if !matches!(op, b'I' | b'L' | b'S' | b'M') || i + 1 >= n || !is_blank(line[i + 1]) {
        return Err(expected_record(line));
    }
    i += 1;
    while i < n && is_blank(line[i]) {
        i += 1;
    }

    // Hex address up to the comma.
    let addr_start = i;
    let mut va: u64 = 0;
    while i < n && line[i] != b',' {
        let d = HEX[line[i] as usize];
        if d == NOT_HEX {
            let end = line[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(n, |p| i + p);
            return Err(format!(
                "expected a hex address (digits 0-9 a-f, no 0x), found {}",
                quote(&line[addr_start..end])
            ));
        }
        if va >> 60 != 0 {
            let end = line[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(n, |p| i + p);
            return Err(format!(
                "expected a hex address that fits in 64 bits, found {}",
                quote(&line[addr_start..end])
            ));
        }
        va = (va << 4) | u64::from(d);
        i += 1;
    }
    if i == n {
        return Err(format!(
            "expected ',' and a decimal size after the address, found {}",
            quote(line)
        ));
    }
    if i == addr_start {
        return Err(format!(
            "expected a hex address before ',', found {}",
            quote(line)
        ));
    }
    i += 1;

    // Decimal size up to a blank or the end.
    let size_start = i;
    let mut size: u64 = 0;
    while i < n && line[i].is_ascii_digit() {
        size = size
            .saturating_mul(10)
            .saturating_add(u64::from(line[i] - b'0'));
        i += 1;
    }
    let mut token_end = i;
    while token_end < n && !is_blank(line[token_end]) {
        token_end += 1;
    }
    if token_end != i || i == size_start || size == 0 || size > u64::from(u32::MAX) {
        return Err(format!(
            "expected a decimal size from 1 to {}, found {}",
            u32::MAX,
            quote(&line[size_start..token_end])
        ));
    }
    i = token_end;
    while i < n && is_blank(line[i]) {
        i += 1;
    }
    if i < n {
        return Err(format!(
            "expected the end of the line after the size, found {}",
            quote(&line[i..])
        ));
    }
    if va.checked_add(size - 1).is_none() {
        return Err(format!(
            "expected an access that ends below 2^64, found {size} bytes at {va:#x} (it wraps)"
        ));
    }

    let size = size as u32;
    let va = VirtAddr(va);
    let rec = |kind, instrs| Record {
        kind,
        va,
        size,
        instrs,
        data: None,
    };
    match op {
        b'I' => out.push(rec(AccessKind::Execute, 1)),
        b'L' => out.push(rec(AccessKind::Read, 0)),
        b'S' => out.push(rec(AccessKind::Write, 0)),
        _ => {
            out.push(rec(AccessKind::Read, 0));
            out.push(rec(AccessKind::Write, 0));
        }
    }
    Ok(())
}

/// The common line shapes, parsed in one pass straight from the read buffer: `I` + spaces, or
/// space + `L`/`S`/`M` + spaces, then 1 to 16 hex digits, `,`, 1 to 9 decimal digits (not 0),
/// and `\n` or `\r\n`. Returns the bytes used (through the `\n`) after appending the
/// records, or `None` without touching `out` for anything else: other shapes, errors, and a
/// line cut off by the end of `rest`. Whatever it accepts, [`parse_line`] parses to the same
/// records (a property test checks this).
#[inline]
fn parse_fast(rest: &[u8], out: &mut Vec<Record>) -> Option<usize> {
    let (op, mut i) = match rest {
        [b'I', b' ', ..] => (b'I', 2),
        [b' ', op @ (b'L' | b'S' | b'M'), b' ', ..] => (*op, 3),
        _ => return None,
    };
    while *rest.get(i)? == b' ' {
        i += 1;
    }
    let addr_start = i;
    let mut va: u64 = 0;
    loop {
        let d = HEX[usize::from(*rest.get(i)?)];
        if d == NOT_HEX {
            break;
        }
        va = (va << 4) | u64::from(d);
        i += 1;
    }
    if i == addr_start || i - addr_start > 16 || rest[i] != b',' {
        return None;
    }
    i += 1;
    let size_start = i;
    let mut size: u32 = 0;
    loop {
        let b = *rest.get(i)?;
        if !b.is_ascii_digit() {
            break;
        }
        size = size.wrapping_mul(10).wrapping_add(u32::from(b - b'0'));
        i += 1;
    }
    if i == size_start || i - size_start > 9 || size == 0 {
        return None;
    }
    if rest[i] == b'\r' {
        i += 1;
    }
    if *rest.get(i)? != b'\n' {
        return None;
    }
    va.checked_add(u64::from(size) - 1)?;
    let va = VirtAddr(va);
    let rec = |kind, instrs| Record {
        kind,
        va,
        size,
        instrs,
        data: None,
    };
    match op {
        b'I' => out.push(rec(AccessKind::Execute, 1)),
        b'L' => out.push(rec(AccessKind::Read, 0)),
        b'S' => out.push(rec(AccessKind::Write, 0)),
        _ => {
            out.push(rec(AccessKind::Read, 0));
            out.push(rec(AccessKind::Write, 0));
        }
    }
    Some(i + 1)
}

fn too_long(path: &str, line_no: u64, line: &[u8]) -> Stop {
    Stop::Failed(WorkloadError::Parse {
        path: path.to_owned(),
        line: line_no,
        msg: format!(
            "expected a line of at most {MAX_LINE} bytes, found {}",
            quote(line)
        ),
    })
}

/// [`parse_line`] with its message turned into a [`WorkloadError::Parse`].
fn parse_general(line: &[u8], out: &mut Vec<Record>, path: &str, line_no: u64) -> Result<(), Stop> {
    parse_line(line, out).map_err(|msg| {
        Stop::Failed(WorkloadError::Parse {
            path: path.to_owned(),
            line: line_no,
            msg,
        })
    })
}

/// Parse a whole Lackey stream into `sink`, stopping at the first malformed line (the records
/// before it are in the sink; the error is returned for the caller to send after them).
///
/// Lines are parsed in place in the read buffer, by [`parse_fast`] when they have the usual
/// shape and by [`parse_line`] otherwise; only a line split across two reads is copied (into a
/// reused buffer). A final line without `\n` counts. A line longer than [`MAX_LINE`] is an
/// error, so memory stays bounded even on binary input.
pub(crate) fn parse_stream(
    reader: &mut dyn BufRead,
    path: &str,
    sink: &mut impl RecordSink,
) -> Result<(), Stop> {
    let mut carry: Vec<u8> = Vec::new();
    let mut line_no: u64 = 0;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Stop::Failed(WorkloadError::Io {
                    path: path.to_owned(),
                    msg: format!("read failed after line {line_no}: {e}"),
                }));
            }
        };
        if chunk.is_empty() {
            if !carry.is_empty() {
                line_no += 1;
                parse_general(&carry, sink.buf_mut(), path, line_no)?;
            }
            return Ok(());
        }
        let len = chunk.len();
        let mut pos = 0;
        if !carry.is_empty() {
            // Finish the line begun in the previous read.
            let Some(nl) = chunk.iter().position(|&b| b == b'\n') else {
                carry.extend_from_slice(chunk);
                if carry.len() > MAX_LINE {
                    return Err(too_long(path, line_no + 1, &carry));
                }
                reader.consume(len);
                continue;
            };
            carry.extend_from_slice(&chunk[..nl]);
            line_no += 1;
            if carry.len() > MAX_LINE {
                return Err(too_long(path, line_no, &carry));
            }
            parse_general(&carry, sink.buf_mut(), path, line_no)?;
            sink.flush_if_full()?;
            carry.clear();
            pos = nl + 1;
        }
        while pos < len {
            let rest = &chunk[pos..];
            if let Some(used) = parse_fast(rest, sink.buf_mut()) {
                pos += used;
                line_no += 1;
            } else if let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                line_no += 1;
                if nl > MAX_LINE {
                    return Err(too_long(path, line_no, &rest[..nl]));
                }
                parse_general(&rest[..nl], sink.buf_mut(), path, line_no)?;
                pos += nl + 1;
            } else {
                if rest.len() > MAX_LINE {
                    return Err(too_long(path, line_no + 1, rest));
                }
                carry.extend_from_slice(rest);
                break;
            }
            sink.flush_if_full()?;
        }
        reader.consume(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(line: &str) -> Result<Vec<Record>, String> {
        let mut out = Vec::new();
        parse_line(line.as_bytes(), &mut out).map(|()| out)
    }

    fn rec(kind: AccessKind, va: u64, size: u32, instrs: u32) -> Record {
        Record {
            kind,
            va: VirtAddr(va),
            size,
            instrs,
            data: None,
        }
    }

    #[test]
    fn instruction_fetch_is_one_execute_record_retiring_one_instruction() {
        assert_eq!(
            parse("I  04000bd0,3").unwrap(),
            [rec(AccessKind::Execute, 0x0400_0bd0, 3, 1)]
        );
    }

    #[test]
    fn load_and_store_are_read_and_write_records_retiring_nothing() {
        assert_eq!(
            parse(" L 04225d30,8").unwrap(),
            [rec(AccessKind::Read, 0x0422_5d30, 8, 0)]
        );
        assert_eq!(
            parse(" S 1ffefffd88,8").unwrap(),
            [rec(AccessKind::Write, 0x1f_feff_fd88, 8, 0)]
        );
    }

    #[test]
    fn modify_is_a_read_then_a_write_of_the_same_bytes() {
        assert_eq!(
            parse(" M 0421f5e0,4").unwrap(),
            [
                rec(AccessKind::Read, 0x0421_f5e0, 4, 0),
                rec(AccessKind::Write, 0x0421_f5e0, 4, 0)
            ]
        );
    }

    #[test]
    fn valgrind_messages_and_blank_lines_give_no_records() {
        for line in [
            "==12345== Lackey, an example Valgrind tool",
            "==12345== ",
            "==1== Counted 1 call to main()",
            "",
            "\n",
            "\r\n",
            "   \t ",
        ] {
            assert_eq!(parse(line).unwrap(), [], "{line:?}");
        }
    }

    #[test]
    fn crlf_endings_extra_blanks_and_upper_case_hex_are_accepted() {
        let want = [rec(AccessKind::Read, 0xabc, 16, 0)];
        for line in [
            " L abc,16\r\n",
            " L abc,16\n",
            " L ABC,16",
            "L abc,16",
            " L\t\tabc,16  \t",
            "  L     0000000000000000000abc,16",
        ] {
            assert_eq!(parse(line).unwrap(), want, "{line:?}");
        }
    }

    #[test]
    fn largest_address_and_size_are_accepted() {
        assert_eq!(
            parse(" L ffffffffffffffff,1").unwrap(),
            [rec(AccessKind::Read, u64::MAX, 1, 0)]
        );
        assert_eq!(
            parse(" L 0,4294967295").unwrap(),
            [rec(AccessKind::Read, 0, u32::MAX, 0)]
        );
    }

    /// Each malformation with the start of the expected message and the quoted text.
    #[test]
    fn malformed_lines_say_what_was_expected_and_quote_the_bad_text() {
        let cases = [
            (
                "foo bar",
                "expected 'I', ' L', ' S' or ' M' record",
                "\"foo bar\"",
            ),
            (
                " X 0400,8",
                "expected 'I', ' L', ' S' or ' M' record",
                "\" X 0400,8\"",
            ),
            (
                "I04000bd0,3",
                "expected 'I', ' L', ' S' or ' M' record",
                "\"I04000bd0,3\"",
            ),
            ("I", "expected 'I', ' L', ' S' or ' M' record", "\"I\""),
            (
                "I  04000bd0",
                "expected ',' and a decimal size",
                "\"I  04000bd0\"",
            ),
            (" L ,8", "expected a hex address before ','", "\" L ,8\""),
            (
                " L 04zz00,8",
                "expected a hex address (digits",
                "\"04zz00\"",
            ),
            (" L 0x400,8", "expected a hex address (digits", "\"0x400\""),
            (" L 04 00,8", "expected a hex address (digits", "\"04 00\""),
            (
                " L 1ffffffffffffffff,8",
                "expected a hex address that fits in 64 bits",
                "\"1ffffffffffffffff\"",
            ),
            (" L 0400,0", "expected a decimal size from 1 to", "\"0\""),
            (" L 0400,", "expected a decimal size from 1 to", "\"\""),
            (
                " L 0400,abc",
                "expected a decimal size from 1 to",
                "\"abc\"",
            ),
            (" L 0400,8x", "expected a decimal size from 1 to", "\"8x\""),
            (" L 0400,-8", "expected a decimal size from 1 to", "\"-8\""),
            (
                " L 0400,4294967296",
                "expected a decimal size from 1 to",
                "\"4294967296\"",
            ),
            (
                " L 0400,8 junk",
                "expected the end of the line after the size",
                "\"junk\"",
            ),
            (
                " L 0400,8,9",
                "expected a decimal size from 1 to",
                "\"8,9\"",
            ),
            (
                " L ffffffffffffffff,2",
                "expected an access that ends below 2^64",
                "0xffffffffffffffff",
            ),
        ];
        for (line, expected, quoted) in cases {
            let msg = parse(line).expect_err(line);
            assert!(msg.starts_with(expected), "{line:?}: {msg}");
            assert!(msg.contains(quoted), "{line:?}: {msg}");
        }
    }

    #[test]
    fn fast_path_takes_the_usual_lines_and_leaves_the_rest_to_the_general_parser() {
        for line in [
            "I  04000bd0,3\n",
            " L 1ffefffd88,8\r\n",
            " S 0,1\n",
            " M 0421f5e0,4\nI  0401c6e8,2\n",
            " L ffffffffffffffff,1\n",
            " L 0400,999999999\n",
        ] {
            let mut fast = Vec::new();
            let used = parse_fast(line.as_bytes(), &mut fast).expect(line);
            let first = &line[..used];
            assert!(first.ends_with('\n') && !first[..used - 1].contains('\n'));
            assert_eq!(fast, parse(first).unwrap(), "{line:?}");
        }
        for line in [
            "==1== hi\n",
            "\n",
            "I\t0400,3\n",
            " L 0400,8 \n",
            " L 0400,8",
            " L 0400,1000000000\n",
            " L 00000000000000000400,8\n",
            " L 0400,0\n",
            " L ffffffffffffffff,2\n",
            "foo\n",
        ] {
            let mut fast = Vec::new();
            assert_eq!(parse_fast(line.as_bytes(), &mut fast), None, "{line:?}");
            assert!(fast.is_empty());
        }
    }

    #[test]
    fn a_malformed_line_appends_nothing() {
        let mut out = vec![rec(AccessKind::Read, 1, 1, 0)];
        assert!(parse_line(b" M 0400,0", &mut out).is_err());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn long_bad_text_is_truncated_in_the_message() {
        let line = format!("bogus {}", "y".repeat(500));
        let msg = parse(&line).unwrap_err();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.ends_with("..."), "{msg}");
    }

    /// Collects everything (no batching) for driving `parse_stream` directly.
    struct Collect(Vec<Record>);
    impl RecordSink for Collect {
        fn buf_mut(&mut self) -> &mut Vec<Record> {
            &mut self.0
        }
        fn flush_if_full(&mut self) -> Result<(), Stop> {
            Ok(())
        }
    }

    /// Records and the error line (if any) of `text` read through a buffer of `capacity` bytes.
    fn stream(text: &[u8], capacity: usize) -> (Vec<Record>, Option<(u64, String)>) {
        let mut reader = std::io::BufReader::with_capacity(capacity, text);
        let mut sink = Collect(Vec::new());
        let err = match parse_stream(&mut reader, "t", &mut sink) {
            Ok(()) => None,
            Err(Stop::Failed(WorkloadError::Parse { line, msg, .. })) => Some((line, msg)),
            Err(other) => panic!("unexpected {other:?}"),
        };
        (sink.0, err)
    }

    #[test]
    fn lines_split_across_reads_parse_the_same_as_whole_lines() {
        let mut text = String::from("==7== Lackey\r\n\n");
        for i in 0..300u64 {
            let eol = if i % 4 == 0 { "\r\n" } else { "\n" };
            let line = match i % 5 {
                0 => format!("I  {:08x},{}", i * 3, 1 + i % 9),
                1 => format!(" L {:x},8", i << 20),
                2 => format!(" S\t{:x},4 ", i),
                3 => format!(" M {:x},16", i * 4096),
                _ => format!("==7== message {i}"),
            };
            text.push_str(&line);
            text.push_str(eol);
        }
        text.push_str(" L 77,2"); // no final newline
        let whole = stream(text.as_bytes(), 1 << 20);
        assert!(whole.1.is_none(), "{:?}", whole.1);
        assert_eq!(whole.0.len(), 60 * (1 + 1 + 1 + 2) + 1);
        for capacity in [1, 2, 3, 5, 7, 13, 64] {
            assert_eq!(
                stream(text.as_bytes(), capacity),
                whole,
                "capacity {capacity}"
            );
        }
        // An error keeps its line number whatever the buffer size.
        let bad = format!("{text}\n L 1,8\n L zz,8\n L 2,8\n");
        let want = stream(bad.as_bytes(), 1 << 20);
        let lines = bad.lines().count() as u64;
        assert_eq!(want.1.as_ref().map(|e| e.0), Some(lines - 1));
        for capacity in [1, 3, 7, 64] {
            assert_eq!(
                stream(bad.as_bytes(), capacity),
                want,
                "capacity {capacity}"
            );
        }
    }

    fn kind_letter() -> impl Strategy<Value = char> {
        prop_oneof![Just('I'), Just('L'), Just('S'), Just('M')]
    }

    proptest! {
        /// Whatever Lackey writes (any type, address, size, padding, zero-padded hex),
        /// parsing gives back the same access.
        #[test]
        fn formatted_records_parse_back(
            letter in kind_letter(),
            va in 0u64..u64::MAX / 2,
            size in 1u32..=4096,
            width in 0usize..20,
            crlf in any::<bool>(),
        ) {
            let lead = if letter == 'I' { "" } else { " " };
            let pad = if letter == 'I' { "  " } else { " " };
            let eol = if crlf { "\r\n" } else { "\n" };
            let line = format!("{lead}{letter}{pad}{va:0width$x},{size}{eol}");
            let got = parse(&line).unwrap();
            let want: Vec<Record> = match letter {
                'I' => vec![rec(AccessKind::Execute, va, size, 1)],
                'L' => vec![rec(AccessKind::Read, va, size, 0)],
                'S' => vec![rec(AccessKind::Write, va, size, 0)],
                _ => vec![rec(AccessKind::Read, va, size, 0), rec(AccessKind::Write, va, size, 0)],
            };
            prop_assert_eq!(got, want);
        }

        /// The fast path accepts only what the general parser accepts, with the same records,
        /// on line-like input with many near misses (odd spacing, long numbers, junk bytes).
        #[test]
        fn fast_path_agrees_with_the_general_parser(
            line in "(I|I |  L| L| S| M|==| X|L)( {0,2}|\t)[0-9a-fA-Fx]{0,18}(,[0-9]{0,11})?( |\r|x)?(\r?\n)?",
        ) {
            let mut fast = Vec::new();
            let mut general = Vec::new();
            if let Some(used) = parse_fast(line.as_bytes(), &mut fast) {
                prop_assert_eq!(used, line.len());
                prop_assert!(parse_line(line.as_bytes(), &mut general).is_ok());
                prop_assert_eq!(fast, general);
            } else {
                prop_assert!(fast.is_empty());
            }
        }

        /// Arbitrary bytes never panic the parser; either records or a message come back.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            let _ = parse_line(&bytes, &mut out);
            prop_assert!(out.len() <= 2);
            let _ = parse_fast(&bytes, &mut out);
            prop_assert!(out.len() <= 4);
        }
    }
}
