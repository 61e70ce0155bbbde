//! A VCD lint: the checks a waveform file must pass before any viewer is trusted with it.
//!
//! Viewers are lenient in different ways (GTKWave's `vcd2fst` accepts broken files silently;
//! wellen, behind Surfer, panics on some), so vmsim checks its own files, and yours:
//!
//! - the header is well formed: a legal `$timescale` (1, 10 or 100 of s, ms, us, ns, ps, fs),
//!   balanced `$scope`/`$upscope`, every `$var` inside a scope with a known type and a width,
//!   an id declared twice only with the same width, `$enddefinitions`;
//! - nothing but comments comes before `$enddefinitions`: no value change, no timestamp;
//! - every id used in a value change is declared;
//! - widths match: a scalar change (`0!`) only for a 1-bit var, a vector (`b101 !`) at most as
//!   wide as its var and never empty (shorter vectors are zero-extended, IEEE 1364 §18.2.1), a
//!   string (`sName !`) only for a `string` var, a real (`r1.5 !`) only for a real one;
//! - time strictly increases, and no value changes before the first timestamp;
//! - every declared var gets an initial value at the first time (in `$dumpvars` or as a plain
//!   change there).
//!
//! [`lint_reader`] streams the file, so large files are fine; problems are listed in file
//! order, at most [`MAX_PROBLEMS`] of them and then a count of the rest.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;

/// Problems listed at most; the rest are counted in one last entry.
pub const MAX_PROBLEMS: usize = 100;

/// One thing wrong with a VCD file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the token at fault (0: the end of the file).
    pub line: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "end of file: {}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

/// Lint VCD text.
pub fn lint_str(text: &str) -> Vec<Problem> {
    lint_reader(text.as_bytes()).expect("reading from memory cannot fail")
}

/// Lint a VCD file.
pub fn lint_file(path: &Path) -> io::Result<Vec<Problem>> {
    let f = std::fs::File::open(path)?;
    lint_reader(io::BufReader::with_capacity(1 << 16, f))
}

/// Lint VCD text read from `r`, line by line.
pub fn lint_reader<R: BufRead>(mut r: R) -> io::Result<Vec<Problem>> {
    let mut l = Linter::default();
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line += 1;
        let text = String::from_utf8_lossy(&buf);
        for tok in text.split_whitespace() {
            l.token(line, tok);
        }
    }
    l.eof();
    Ok(l.into_problems())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VarClass {
    Bits,
    Real,
    Str,
}

#[derive(Clone, Debug)]
struct VarInfo {
    width: u32,
    class: VarClass,
    name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Vector,
    Real,
    Str,
}

#[derive(Default)]
struct Linter {
    problems: Vec<Problem>,
    dropped: usize,
    /// A header command being collected: its name, line and tokens.
    cmd: Option<(String, u64, Vec<String>)>,
    /// An open simulation command (`$dumpvars` ...) and its line.
    sim: Option<(String, u64)>,
    /// A vector, real or string value waiting for its id.
    pending: Option<(Change, String, u64)>,
    header_done: bool,
    depth: i64,
    scopes_seen: bool,
    vars: HashMap<String, VarInfo>,
    /// Ids in declaration order (each once).
    order: Vec<String>,
    timescale: bool,
    time: Option<u64>,
    timestamps: u64,
    first_line: u64,
    initial: HashSet<String>,
    initial_checked: bool,
}

const SIM_COMMANDS: [&str; 4] = ["$dumpvars", "$dumpall", "$dumpon", "$dumpoff"];
const HEADER_COMMANDS: [&str; 8] = [
    "$comment",
    "$date",
    "$version",
    "$timescale",
    "$scope",
    "$upscope",
    "$var",
    "$enddefinitions",
];
const VAR_TYPES: [&str; 22] = [
    "event",
    "integer",
    "parameter",
    "real",
    "realtime",
    "reg",
    "supply0",
    "supply1",
    "time",
    "tri",
    "triand",
    "trior",
    "trireg",
    "tri0",
    "tri1",
    "wand",
    "wire",
    "wor",
    "string",
    "logic",
    "bit",
    "int",
];
const SCOPE_TYPES: [&str; 5] = ["module", "task", "function", "begin", "fork"];

fn is_bit(c: char) -> bool {
    matches!(c, '0' | '1' | 'x' | 'X' | 'z' | 'Z')
}

impl Linter {
    fn problem(&mut self, line: u64, message: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                line,
                message: message.into(),
            });
        } else {
            self.dropped += 1;
        }
    }

    fn into_problems(mut self) -> Vec<Problem> {
        if self.dropped > 0 {
            self.problems.push(Problem {
                line: 0,
                message: format!("... and {} more problems", self.dropped),
            });
        }
        self.problems
    }

    fn token(&mut self, line: u64, tok: &str) {
        if let Some((_, _, toks)) = self.cmd.as_mut() {
            if tok == "$end" {
                let (name, at, toks) = self.cmd.take().expect("checked");
                self.header_command(&name, at, &toks);
            } else {
                toks.push(tok.to_string());
            }
            return;
        }
        if let Some((kind, value, at)) = self.pending.take() {
            self.change(at, kind, &value, tok);
            return;
        }
        if tok.starts_with('$') {
            self.command(line, tok);
        } else if let Some(t) = tok.strip_prefix('#') {
            self.timestamp(line, t);
        } else {
            let mut chars = tok.chars();
            let c = chars.next().expect("tokens are not empty");
            let rest = chars.as_str();
            if is_bit(c) {
                if rest.is_empty() {
                    self.problem(line, format!("scalar value `{tok}` without an id"));
                } else {
                    self.scalar(line, rest);
                }
            } else {
                let kind = match c {
                    'b' | 'B' => Change::Vector,
                    'r' | 'R' => Change::Real,
                    's' | 'S' => Change::Str,
                    _ => {
                        self.problem(line, format!("unexpected token `{tok}`"));
                        return;
                    }
                };
                self.pending = Some((kind, rest.to_string(), line));
            }
        }
    }

    fn command(&mut self, line: u64, tok: &str) {
        if tok == "$end" {
            if self.sim.take().is_none() {
                self.problem(line, "`$end` closes nothing");
            }
            return;
        }
        if SIM_COMMANDS.contains(&tok) {
            if !self.header_done {
                self.problem(line, format!("`{tok}` before `$enddefinitions`"));
            }
            if let Some((open, at)) = &self.sim {
                let msg = format!("`{tok}` inside `{open}` (opened on line {at})");
                self.problem(line, msg);
            }
            self.sim = Some((tok.to_string(), line));
            return;
        }
        if HEADER_COMMANDS.contains(&tok) {
            if self.header_done && !matches!(tok, "$comment") {
                self.problem(line, format!("`{tok}` after `$enddefinitions`"));
            }
            self.cmd = Some((tok.to_string(), line, Vec::new()));
            return;
        }
        self.problem(line, format!("unknown command `{tok}`"));
    }

    fn header_command(&mut self, name: &str, line: u64, toks: &[String]) {
        match name {
            "$timescale" => {
                let text: String = toks.concat();
                let digits: String = text.chars().take_while(|c| c.is_ascii_digit()).collect();
                let unit = &text[digits.len()..];
                let ok_num = matches!(digits.as_str(), "1" | "10" | "100");
                let ok_unit = matches!(unit, "s" | "ms" | "us" | "ns" | "ps" | "fs");
                if !ok_num || !ok_unit {
                    self.problem(
                        line,
                        format!(
                            "bad $timescale `{}` (1, 10 or 100 of s, ms, us, ns, ps, fs)",
                            toks.join(" ")
                        ),
                    );
                }
                if self.timescale {
                    self.problem(line, "second $timescale");
                }
                self.timescale = true;
            }
            "$scope" => {
                if toks.len() != 2 {
                    self.problem(line, "$scope needs a type and a name");
                } else if !SCOPE_TYPES.contains(&toks[0].as_str()) {
                    self.problem(line, format!("unknown scope type `{}`", toks[0]));
                }
                self.depth += 1;
                self.scopes_seen = true;
            }
            "$upscope" => {
                self.depth -= 1;
                if self.depth < 0 {
                    self.problem(line, "$upscope without a matching $scope");
                    self.depth = 0;
                }
            }
            "$var" => self.var(line, toks),
            "$enddefinitions" => {
                if self.depth != 0 {
                    self.problem(line, format!("{} scopes left open", self.depth));
                }
                if self.vars.is_empty() {
                    self.problem(line, "no $var declared");
                }
                self.header_done = true;
            }
            _ => {} // $comment, $date, $version: free text
        }
    }

    fn var(&mut self, line: u64, toks: &[String]) {
        if toks.len() < 4 || toks.len() > 5 {
            self.problem(
                line,
                format!(
                    "$var needs type, width, id and name (and maybe an index): `{}`",
                    toks.join(" ")
                ),
            );
            return;
        }
        let (tpe, width, id, name) = (&toks[0], &toks[1], &toks[2], &toks[3]);
        if self.depth == 0 {
            self.problem(line, format!("$var {name} outside any $scope"));
        }
        if !VAR_TYPES.contains(&tpe.as_str()) {
            self.problem(line, format!("unknown var type `{tpe}` for {name}"));
        }
        let class = match tpe.as_str() {
            "string" => VarClass::Str,
            "real" | "realtime" => VarClass::Real,
            _ => VarClass::Bits,
        };
        let Ok(width) = width.parse::<u32>() else {
            self.problem(line, format!("bad width `{width}` for {name}"));
            return;
        };
        if width == 0 && class == VarClass::Bits && tpe != "event" {
            self.problem(line, format!("zero width for {name}"));
        }
        match self.vars.get(id) {
            Some(v) if v.width != width || v.class != class => {
                let msg = format!(
                    "id `{id}` declared again for {name} with width {width}, first for {} with width {}",
                    v.name, v.width
                );
                self.problem(line, msg);
            }
            Some(_) => {} // an alias: the same signal under another name
            None => {
                self.order.push(id.clone());
                self.vars.insert(
                    id.clone(),
                    VarInfo {
                        width,
                        class,
                        name: name.clone(),
                    },
                );
            }
        }
    }

    fn timestamp(&mut self, line: u64, t: &str) {
        if !self.header_done {
            self.problem(line, format!("timestamp #{t} before `$enddefinitions`"));
        }
        if let Some((open, at)) = &self.sim {
            let msg = format!("timestamp #{t} inside `{open}` (opened on line {at})");
            self.problem(line, msg);
        }
        let Ok(t) = t.parse::<u64>() else {
            self.problem(line, format!("bad timestamp `#{t}`"));
            return;
        };
        if let Some(prev) = self.time
            && t <= prev
        {
            self.problem(line, format!("time does not increase: #{t} after #{prev}"));
            return;
        }
        self.timestamps += 1;
        if self.timestamps == 1 {
            self.first_line = line;
        } else if self.timestamps == 2 {
            self.check_initial();
        }
        self.time = Some(t);
    }

    fn check_initial(&mut self) {
        if self.initial_checked {
            return;
        }
        self.initial_checked = true;
        let first = self.time.unwrap_or(0);
        let missing: Vec<String> = self
            .order
            .iter()
            .filter(|id| !self.initial.contains(*id))
            .map(|id| format!("{} (`{id}`)", self.vars[id].name))
            .collect();
        for m in missing {
            let line = self.first_line;
            self.problem(line, format!("{m} has no initial value at time {first}"));
        }
    }

    /// Common checks of a value change to `id`; the var if it is declared.
    fn target(&mut self, line: u64, id: &str) -> Option<VarInfo> {
        if !self.header_done {
            self.problem(
                line,
                format!("value change to `{id}` before `$enddefinitions`"),
            );
        } else if self.time.is_none() {
            self.problem(
                line,
                format!("value change to `{id}` before the first timestamp"),
            );
        }
        let Some(v) = self.vars.get(id).cloned() else {
            self.problem(line, format!("value change to undeclared id `{id}`"));
            return None;
        };
        if self.timestamps <= 1 {
            self.initial.insert(id.to_string());
        }
        Some(v)
    }

    fn scalar(&mut self, line: u64, id: &str) {
        let Some(v) = self.target(line, id) else {
            return;
        };
        if v.class != VarClass::Bits || v.width != 1 {
            self.problem(
                line,
                format!(
                    "width mismatch: scalar change to {} (`{id}`), a {}",
                    v.name,
                    describe(&v)
                ),
            );
        }
    }

    fn change(&mut self, line: u64, kind: Change, value: &str, id: &str) {
        let Some(v) = self.target(line, id) else {
            return;
        };
        match kind {
            Change::Vector => {
                if v.class != VarClass::Bits {
                    self.problem(
                        line,
                        format!("vector change to {} (`{id}`), a {}", v.name, describe(&v)),
                    );
                } else if value.is_empty() {
                    self.problem(line, format!("empty vector for {} (`{id}`)", v.name));
                } else if !value.chars().all(is_bit) {
                    self.problem(
                        line,
                        format!("bad vector `b{value}` for {} (`{id}`)", v.name),
                    );
                } else if value.len() as u64 > v.width as u64 {
                    self.problem(
                        line,
                        format!(
                            "width mismatch: {}-bit value `b{value}` for {} (`{id}`), declared {} bits",
                            value.len(),
                            v.name,
                            v.width
                        ),
                    );
                }
            }
            Change::Real => {
                if v.class != VarClass::Real {
                    self.problem(
                        line,
                        format!("real change to {} (`{id}`), a {}", v.name, describe(&v)),
                    );
                } else if value.parse::<f64>().is_err() {
                    self.problem(line, format!("bad real `r{value}` for {}", v.name));
                }
            }
            Change::Str => {
                if v.class != VarClass::Str {
                    self.problem(
                        line,
                        format!("string change to {} (`{id}`), a {}", v.name, describe(&v)),
                    );
                }
            }
        }
    }

    fn eof(&mut self) {
        if let Some((name, at, _)) = self.cmd.take() {
            self.problem(at, format!("`{name}` has no `$end`"));
        }
        if let Some((kind, value, at)) = self.pending.take() {
            let c = match kind {
                Change::Vector => 'b',
                Change::Real => 'r',
                Change::Str => 's',
            };
            self.problem(at, format!("value `{c}{value}` without an id"));
        }
        if let Some((name, at)) = self.sim.take() {
            self.problem(at, format!("`{name}` has no `$end`"));
        }
        if !self.header_done {
            self.problem(0, "no `$enddefinitions`");
            return;
        }
        if !self.timescale {
            self.problem(0, "no `$timescale`");
        }
        if self.timestamps == 0 {
            self.problem(0, "no timestamp: the file holds no values");
            return;
        }
        self.check_initial();
    }
}

fn describe(v: &VarInfo) -> String {
    match v.class {
        VarClass::Bits => format!("{}-bit var", v.width),
        VarClass::Real => "real var".into(),
        VarClass::Str => "string var".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "$version test $end
$timescale 1 ps $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 8 \" count $end
$scope module fsm $end
$var string 1 # state $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
1!
b0 \"
sIdle #
$end
#125
0!
#250
1!
b101 \"
sWaitMem(PD) #
";

    fn messages(text: &str) -> Vec<String> {
        lint_str(text).into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_good_file_passes() {
        assert_eq!(messages(GOOD), Vec::<String>::new());
        // Initial values as plain changes at the first time, 1ps written as one token.
        let plain = GOOD
            .replace("$dumpvars\n", "")
            .replace("sIdle #\n$end\n", "sIdle #\n")
            .replace("1 ps", "1ps");
        assert_eq!(messages(&plain), Vec::<String>::new());
    }

    #[test]
    fn undeclared_id_is_found() {
        let bad = GOOD.replace("b101 \"", "b101 %");
        assert_eq!(
            messages(&bad),
            vec!["line 21: value change to undeclared id `%`"]
        );
    }

    #[test]
    fn width_mismatch_is_found() {
        let bad = GOOD.replace("b101 \"", "b101010101 \"");
        assert_eq!(
            messages(&bad),
            vec![
                "line 21: width mismatch: 9-bit value `b101010101` for count (`\"`), declared 8 bits"
            ]
        );
        let bad = GOOD.replace("0!", "b10 !");
        assert!(messages(&bad)[0].contains("width mismatch: 2-bit value"));
        let bad = GOOD.replace("b101 \"", "1\"");
        assert!(messages(&bad)[0].contains("width mismatch: scalar change to count"));
        let bad = GOOD.replace("sWaitMem(PD) #", "b1 #");
        assert!(messages(&bad)[0].contains("vector change to state (`#`), a string var"));
        let bad = GOOD.replace("b101 \"", "sText \"");
        assert!(messages(&bad)[0].contains("string change to count"));
    }

    #[test]
    fn time_going_backwards_is_found() {
        let bad = GOOD.replace("#250", "#100");
        assert_eq!(
            messages(&bad),
            vec!["line 19: time does not increase: #100 after #125"]
        );
        let bad = GOOD.replace("#250", "#125");
        assert_eq!(
            messages(&bad),
            vec!["line 19: time does not increase: #125 after #125"]
        );
    }

    #[test]
    fn missing_initial_value_is_found() {
        let bad = GOOD.replace("b0 \"\n", "");
        assert_eq!(
            messages(&bad),
            vec!["line 11: count (`\"`) has no initial value at time 0"]
        );
        // Only one timestamp: checked at the end of the file.
        let one = GOOD.split("#125").next().unwrap().replace("sIdle #\n", "");
        assert_eq!(
            messages(&one),
            vec!["line 11: state (`#`) has no initial value at time 0"]
        );
    }

    #[test]
    fn changes_before_the_header_ends_are_found() {
        let bad = GOOD.replace("$enddefinitions $end\n", "1!\n$enddefinitions $end\n");
        assert_eq!(
            messages(&bad),
            vec!["line 10: value change to `!` before `$enddefinitions`"]
        );
        let bad = GOOD.replace("#0\n", "");
        assert!(messages(&bad)[0].contains("before the first timestamp"));
        let bad = GOOD.replace("$enddefinitions $end\n", "#0\n$enddefinitions $end\n");
        assert!(messages(&bad)[0].contains("timestamp #0 before `$enddefinitions`"));
    }

    #[test]
    fn header_mistakes_are_found() {
        assert!(messages(&GOOD.replace("1 ps", "250 ps"))[0].contains("bad $timescale"));
        assert!(
            messages(&GOOD.replacen("$upscope $end\n", "", 1))[0].contains("1 scopes left open")
        );
        assert!(messages(&GOOD.replace("wire 8", "wire eight"))[0].contains("bad width"));
        assert!(
            messages(&GOOD.replace("$var wire 8 \" count", "$var wire 8 ! count"))[0]
                .contains("declared again")
        );
        let m = messages("$timescale 1ns $end\n$enddefinitions $end\n");
        assert_eq!(
            m,
            vec![
                "line 2: no $var declared",
                "end of file: no timestamp: the file holds no values"
            ]
        );
        let m = messages("$scope module a $end\n$var wire 1 ! x $end\n$upscope $end\n");
        assert_eq!(m, vec!["end of file: no `$enddefinitions`"]);
    }

    #[test]
    fn problems_are_capped() {
        let mut text = GOOD.to_string();
        for i in 0..300 {
            text.push_str(&format!("#{}\n1?\n", 1000 + i));
        }
        let p = lint_str(&text);
        assert_eq!(p.len(), MAX_PROBLEMS + 1);
        assert_eq!(p[MAX_PROBLEMS].message, "... and 200 more problems");
    }
}
