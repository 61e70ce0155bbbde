//! VCD waveforms (IEEE 1364 §18): a [`Probe`] that writes every signal change through the `vcd`
//! crate.
//!
//! - **Scopes** mirror the component tree: a signal of scope `walker.0` named `state` is the var
//!   `state` inside `$scope module walker` / `$scope module 0`, so its full name in a viewer is
//!   `walker.0.state`, the name signal filters match.
//! - **Bits(w)** signals are `wire`s of width `w`; vector values are written without leading
//!   zeros, which IEEE 1364 §18.2.1 defines as zero-extension to the declared width (wellen and
//!   GTKWave both extend them).
//! - **State(names)** signals are `string` vars whose values are the state names, so GTKWave
//!   and Surfer (through wellen) show `WaitMem(PD)` rather than `9`. State names contain no
//!   whitespace.
//! - **Time**: one core cycle is a whole number of time units, and the `$timescale` unit is the
//!   coarsest legal one (1, 10 or 100 of s, ms, us, ns, ps, fs) that divides half a core cycle,
//!   so the time axis is real time and the optional clock's edges fall on whole units: at 4 GHz
//!   the unit is 1 ps and a cycle is 250 units. Half a cycle is rounded to a whole femtosecond
//!   (exact for every frequency whose half period is a whole fs count, e.g. 1, 2, 2.5, 4, 5 GHz;
//!   otherwise the time axis drifts from real time by under 1 fs per cycle).
//! - **Only changes are dumped**: the first observed cycle carries every signal's value in
//!   `$dumpvars`; after it, a timestamp is written only when some dumped signal changes.
//! - **Clock** (optional): a 1-bit `core.clk`, high in the first half of each cycle, one
//!   change every half cycle inside the observed window. It makes a file far larger (a
//!   timestamp and a change every half cycle, about 32 bytes per cycle: 32 MB for 10^6 cycles)
//!   and carries no information a cycle-based time axis does not, so it is off unless asked for.
//! - **Errors**: the file is written under a temporary name (`.NAME.partial` beside it) and
//!   moved into place by [`Probe::finish`]; the first I/O error stops writing and is reported
//!   there. A probe dropped without `finish` (a failed run) removes its partial file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use vcd::{IdCode, TimescaleUnit, Value, VarType};
use vmsim_hw::Cycle;
use vmsim_hw::probe::{Probe, ProbeError, SignalDecl, SignalKind};
use wildmatch::WildMatch;

/// Errors of the VCD writer's set-up.
#[derive(Debug, thiserror::Error)]
pub enum VcdError {
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    #[error("--vcd-signals: empty pattern")]
    EmptyGlob,
    #[error("--vcd-signals: `{glob}` matches no signal (signals: {known})")]
    NoMatch { glob: String, known: String },
}

/// The full dotted name of a signal: its scope, a dot, its name (`walker.0.state`).
pub fn full_name(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_string()
    } else {
        format!("{scope}.{name}")
    }
}

/// Which signals go into a waveform: globs over full dotted names, where `*` matches any run
/// of characters (dots included: `walker.*` takes every walker signal, `walker.pwc.pde.hits`
/// too) and `?` one character. No glob: every signal.
#[derive(Clone, Debug, Default)]
pub struct SignalFilter {
    globs: Vec<(String, WildMatch)>,
}

impl SignalFilter {
    /// A filter from globs (an empty list keeps everything); an empty glob is an error.
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<SignalFilter, VcdError> {
        let mut out = Vec::new();
        for g in globs {
            let g = g.as_ref().trim();
            if g.is_empty() {
                return Err(VcdError::EmptyGlob);
            }
            out.push((g.to_string(), WildMatch::new(g)));
        }
        Ok(SignalFilter { globs: out })
    }

    /// Whether the signal with this full name is kept.
    pub fn matches(&self, full_name: &str) -> bool {
        self.globs.is_empty() || self.globs.iter().any(|(_, m)| m.matches(full_name))
    }

    /// Check that every glob matches at least one of `signals` (a typo should not cost a run
    /// that dumps nothing).
    pub fn check(&self, signals: &[(String, SignalDecl)]) -> Result<(), VcdError> {
        let names: Vec<String> = signals.iter().map(|(s, d)| full_name(s, &d.name)).collect();
        for (g, m) in &self.globs {
            if !names.iter().any(|n| m.matches(n)) {
                return Err(VcdError::NoMatch {
                    glob: g.clone(),
                    known: names.join(", "),
                });
            }
        }
        Ok(())
    }
}

/// The VCD time unit for a core clock, and the length of a cycle in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timescale {
    /// 1, 10 or 100 (the only multipliers IEEE 1364 allows).
    pub number: u32,
    pub unit: TimescaleUnit,
    /// Half a core cycle, in time units.
    pub half_cycle: u64,
}

impl Timescale {
    /// The coarsest legal unit that divides half a cycle of a `freq_ghz` clock (rounded to a
    /// whole femtosecond).
    pub fn for_freq(freq_ghz: f64) -> Timescale {
        let half_fs = ((500_000.0 / freq_ghz).round() as u64).max(1);
        use TimescaleUnit::*;
        for (unit, fs) in [
            (S, 1_000_000_000_000_000u64),
            (MS, 1_000_000_000_000),
            (US, 1_000_000_000),
            (NS, 1_000_000),
            (PS, 1_000),
            (FS, 1),
        ] {
            for number in [100u32, 10, 1] {
                let size = fs * number as u64;
                if half_fs.is_multiple_of(size) {
                    return Timescale {
                        number,
                        unit,
                        half_cycle: half_fs / size,
                    };
                }
            }
        }
        unreachable!("1 fs divides every whole number of fs")
    }

    /// One core cycle, in time units.
    pub fn cycle(&self) -> u64 {
        2 * self.half_cycle
    }
}

/// What the VCD writer writes.
#[derive(Clone, Debug)]
pub struct VcdOptions {
    /// Globs over full dotted signal names (see [`SignalFilter`]); empty: every signal.
    pub signals: Vec<String>,
    /// Add a 1-bit `core.clk` toggling every half cycle (large files: see the module doc).
    pub clock: bool,
    /// Core clock frequency, GHz: sets the time unit ([`Timescale::for_freq`]).
    pub freq_ghz: f64,
}

impl Default for VcdOptions {
    fn default() -> VcdOptions {
        VcdOptions {
            signals: Vec::new(),
            clock: false,
            freq_ghz: 4.0,
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Bit,
    Vector(u32),
    State(&'static [&'static str]),
}

struct Sig {
    /// None: filtered out.
    code: Option<IdCode>,
    /// `" " + code + "\n"`: what follows a vector value.
    suffix: Vec<u8>,
    kind: Kind,
    value: u64,
}

/// A [`Probe`] that writes a VCD file (see the module documentation).
pub struct VcdProbe {
    out: Option<vcd::Writer<BufWriter<File>>>,
    tmp: PathBuf,
    dest: PathBuf,
    filter: SignalFilter,
    ts: Timescale,
    clock: bool,
    sigs: Vec<Sig>,
    clk: Option<IdCode>,
    declared: bool,
    /// The first cycle observed: the time of `$dumpvars`.
    first: Option<Cycle>,
    dumped: bool,
    /// The last timestamp written, in time units.
    now: u64,
    /// The clock's next edge, in time units, and the level it goes to.
    next_edge: u64,
    clk_level: bool,
    error: Option<String>,
    finished: bool,
    changes: u64,
}

impl VcdProbe {
    /// Open `path`'s temporary file for writing; nothing is written until the signals are
    /// declared.
    pub fn create(path: &Path, opts: &VcdOptions) -> Result<VcdProbe, VcdError> {
        let filter = SignalFilter::new(&opts.signals)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "waves.vcd".into());
        let dir = path.parent().unwrap_or(Path::new(""));
        let tmp = dir.join(format!(".{name}.partial"));
        let f = File::create(&tmp).map_err(|err| VcdError::Io {
            path: path.to_path_buf(),
            err,
        })?;
        Ok(VcdProbe {
            out: Some(vcd::Writer::new(BufWriter::with_capacity(1 << 16, f))),
            tmp,
            dest: path.to_path_buf(),
            filter,
            ts: Timescale::for_freq(opts.freq_ghz),
            clock: opts.clock,
            sigs: Vec::new(),
            clk: None,
            declared: false,
            first: None,
            dumped: false,
            now: 0,
            next_edge: 0,
            clk_level: true,
            error: None,
            finished: false,
            changes: 0,
        })
    }

    /// The time unit in use.
    pub fn timescale(&self) -> Timescale {
        self.ts
    }

    /// Value changes written so far (initial values included).
    pub fn changes_written(&self) -> u64 {
        self.changes
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(format!("{}: {e}", self.dest.display()));
        }
        self.out = None;
    }

    fn units(&mut self, at: Cycle) -> Option<u64> {
        let t = at.0.checked_mul(self.ts.cycle());
        if t.is_none() {
            self.fail(format_args!(
                "cycle {} overflows the time axis ({} units per cycle)",
                at.0,
                self.ts.cycle()
            ));
        }
        t
    }

    fn write_header(&mut self, signals: &[(String, SignalDecl)]) -> io::Result<()> {
        // The scope tree, each scope once, in order of first appearance.
        #[derive(Default)]
        struct Node {
            name: String,
            vars: Vec<usize>,
            clk: bool,
            children: Vec<Node>,
        }
        fn node<'a>(mut n: &'a mut Node, path: &str) -> &'a mut Node {
            let path = if path.is_empty() { "vmsim" } else { path };
            for part in path.split('.') {
                let i = match n.children.iter().position(|c| c.name == part) {
                    Some(i) => i,
                    None => {
                        n.children.push(Node {
                            name: part.to_string(),
                            ..Node::default()
                        });
                        n.children.len() - 1
                    }
                };
                n = &mut n.children[i];
            }
            n
        }
        let mut root = Node::default();
        if self.clock {
            node(&mut root, "core").clk = true;
        }
        self.sigs.clear();
        for (id, (scope, decl)) in signals.iter().enumerate() {
            let kind = match decl.kind {
                SignalKind::Bits(1) => Kind::Bit,
                SignalKind::Bits(w) => Kind::Vector(w.clamp(1, 64)),
                SignalKind::State(names) => Kind::State(names),
            };
            self.sigs.push(Sig {
                code: None,
                suffix: Vec::new(),
                kind,
                value: 0,
            });
            if self.filter.matches(&full_name(scope, &decl.name)) {
                node(&mut root, scope).vars.push(id);
            }
        }

        let Some(w) = self.out.as_mut() else {
            return Ok(());
        };
        w.version(&format!("vmsim {}", env!("CARGO_PKG_VERSION")))?;
        let unit_fs = self.ts.unit_fs();
        w.comment(&format!(
            "one core cycle = {} time units of {} {} ({} fs)",
            self.ts.cycle(),
            self.ts.number,
            self.ts.unit,
            self.ts.cycle() * unit_fs
        ))?;
        w.timescale(self.ts.number, self.ts.unit)?;
        fn emit(
            w: &mut vcd::Writer<BufWriter<File>>,
            n: &Node,
            signals: &[(String, SignalDecl)],
            sigs: &mut [Sig],
            clk: &mut Option<IdCode>,
        ) -> io::Result<()> {
            w.add_module(&n.name)?;
            if n.clk {
                *clk = Some(w.add_wire(1, "clk")?);
            }
            for &id in &n.vars {
                let name = &signals[id].1.name;
                let code = match sigs[id].kind {
                    Kind::Bit => w.add_wire(1, name)?,
                    Kind::Vector(width) => w.add_wire(width, name)?,
                    Kind::State(_) => w.add_var(VarType::String, 1, name, None)?,
                };
                sigs[id].code = Some(code);
                sigs[id].suffix = format!(" {code}\n").into_bytes();
            }
            for c in &n.children {
                emit(w, c, signals, sigs, clk)?;
            }
            w.upscope()
        }
        for c in &root.children {
            emit(w, c, signals, &mut self.sigs, &mut self.clk)?;
        }
        w.enddefinitions()
    }

    fn write_value(
        w: &mut vcd::Writer<BufWriter<File>>,
        code: IdCode,
        sig: &Sig,
        value: u64,
    ) -> io::Result<()> {
        match sig.kind {
            Kind::Bit => w.change_scalar(code, if value & 1 == 1 { Value::V1 } else { Value::V0 }),
            Kind::Vector(width) => {
                debug_assert!(
                    width == 64 || value >> width == 0,
                    "{value:#x} is wider than {width} bits"
                );
                let v = if width == 64 {
                    value
                } else {
                    value & ((1u64 << width) - 1)
                };
                // Vector changes are most of a file: format them by hand (the crate's
                // change_vector goes through the formatter once per bit).
                let digits = (64 - v.leading_zeros()).max(1) as usize;
                let mut buf = [0u8; 65];
                buf[0] = b'b';
                for (i, d) in buf[1..=digits].iter_mut().enumerate() {
                    *d = b'0' + ((v >> (digits - 1 - i)) & 1) as u8;
                }
                let out = w.writer();
                out.write_all(&buf[..=digits])?;
                out.write_all(&sig.suffix)
            }
            Kind::State(names) => match names.get(value as usize) {
                Some(name) => w.change_string(code, name),
                None => w.change_string(code, &format!("state{value}")),
            },
        }
    }

    /// Write `$dumpvars` with every dumped signal's value at the first observed cycle.
    fn dump_initial(&mut self) {
        self.dumped = true;
        let Some(first) = self.first else { return };
        let Some(t) = self.units(first) else { return };
        let Some(w) = self.out.as_mut() else { return };
        let mut n = 0;
        let r = (|| -> io::Result<()> {
            w.timestamp(t)?;
            w.begin(vcd::SimulationCommand::Dumpvars)?;
            if let Some(c) = self.clk {
                w.change_scalar(c, Value::V1)?;
                n += 1;
            }
            for s in &self.sigs {
                if let Some(code) = s.code {
                    Self::write_value(w, code, s, s.value)?;
                    n += 1;
                }
            }
            w.end()
        })();
        self.changes += n;
        self.now = t;
        self.next_edge = t + self.ts.half_cycle;
        self.clk_level = false;
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// Write the clock's edges before time `t` (units) and a timestamp for `t`, unless it is
    /// the last one written. With `edge_at_t`, a clock edge due at `t` itself is written there.
    fn advance(&mut self, t: u64, edge_at_t: bool) -> io::Result<()> {
        if t <= self.now {
            return Ok(());
        }
        let Some(w) = self.out.as_mut() else {
            return Ok(());
        };
        if let Some(c) = self.clk {
            while self.next_edge < t {
                w.timestamp(self.next_edge)?;
                w.change_scalar(c, self.clk_level)?;
                self.changes += 1;
                self.clk_level = !self.clk_level;
                self.next_edge += self.ts.half_cycle;
            }
            w.timestamp(t)?;
            if edge_at_t && self.next_edge == t {
                w.change_scalar(c, self.clk_level)?;
                self.changes += 1;
                self.clk_level = !self.clk_level;
                self.next_edge += self.ts.half_cycle;
            }
        } else {
            w.timestamp(t)?;
        }
        self.now = t;
        Ok(())
    }

    fn finish_inner(&mut self, end: Cycle) -> Result<(), String> {
        if !self.declared {
            self.fail("no signals were declared");
        }
        if !self.dumped {
            self.dump_initial();
        }
        // The clock's edges to the end of the window, and a last timestamp there, so that a
        // viewer shows the whole window.
        if self.out.is_some()
            && let Some(t) = self.units(end)
            && let Err(e) = self.advance(t, false)
        {
            self.fail(e);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let Some(mut w) = self.out.take() else {
            return Err(format!("{}: writer closed", self.dest.display()));
        };
        w.flush()
            .map_err(|e| format!("{}: {e}", self.tmp.display()))?;
        drop(w);
        fs::rename(&self.tmp, &self.dest).map_err(|e| format!("{}: {e}", self.dest.display()))?;
        Ok(())
    }
}

impl Timescale {
    /// The time unit, in femtoseconds.
    pub fn unit_fs(&self) -> u64 {
        let fs = match self.unit {
            TimescaleUnit::S => 1_000_000_000_000_000u64,
            TimescaleUnit::MS => 1_000_000_000_000,
            TimescaleUnit::US => 1_000_000_000,
            TimescaleUnit::NS => 1_000_000,
            TimescaleUnit::PS => 1_000,
            TimescaleUnit::FS => 1,
        };
        fs * self.number as u64
    }
}

impl Probe for VcdProbe {
    fn declare(&mut self, signals: &[(String, SignalDecl)]) {
        if self.declared {
            return;
        }
        self.declared = true;
        // A VCD string value ends at whitespace.
        for (scope, d) in signals {
            if let SignalKind::State(names) = d.kind
                && let Some(bad) = names
                    .iter()
                    .find(|n| n.is_empty() || n.contains(char::is_whitespace))
            {
                let name = full_name(scope, &d.name);
                self.fail(format_args!(
                    "state name `{bad}` of {name} is empty or has blanks"
                ));
                return;
            }
        }
        if let Err(e) = self.write_header(signals) {
            self.fail(e);
        }
    }

    #[inline]
    fn change(&mut self, at: Cycle, id: usize, value: u64) {
        if id >= self.sigs.len() {
            return;
        }
        if !self.dumped {
            // Collect the values of the first observed cycle; the first change after it
            // writes them all as `$dumpvars`.
            let first = *self.first.get_or_insert(at);
            if at <= first {
                self.sigs[id].value = value;
                return;
            }
            self.dump_initial();
        }
        self.sigs[id].value = value;
        let Some(code) = self.sigs[id].code else {
            return;
        };
        if self.out.is_none() {
            return;
        }
        let Some(t) = self.units(at) else { return };
        let r = self
            .advance(t, true)
            .and_then(|()| match self.out.as_mut() {
                Some(w) => Self::write_value(w, code, &self.sigs[id], value),
                None => Ok(()),
            });
        self.changes += 1;
        if let Err(e) = r {
            self.fail(e);
        }
    }

    fn finish(&mut self, end: Cycle) -> Result<(), ProbeError> {
        if self.finished {
            return Err(ProbeError(format!(
                "{}: finished twice",
                self.dest.display()
            )));
        }
        self.finished = true;
        let r = self.finish_inner(end);
        if r.is_err() {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
        r.map_err(ProbeError)
    }
}

impl Drop for VcdProbe {
    fn drop(&mut self) {
        if !self.finished {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescales_are_legal_and_exact() {
        let t = Timescale::for_freq(4.0);
        assert_eq!(
            (t.number, t.unit, t.half_cycle),
            (1, TimescaleUnit::PS, 125)
        );
        assert_eq!(t.cycle(), 250);
        let t = Timescale::for_freq(1.0);
        assert_eq!(
            (t.number, t.unit, t.half_cycle),
            (100, TimescaleUnit::PS, 5)
        );
        let t = Timescale::for_freq(2.0);
        assert_eq!(
            (t.number, t.unit, t.half_cycle),
            (10, TimescaleUnit::PS, 25)
        );
        let t = Timescale::for_freq(0.001);
        assert_eq!(
            (t.number, t.unit, t.half_cycle),
            (100, TimescaleUnit::NS, 5)
        );
        // 3 GHz: 166 666.67 fs per half cycle, rounded to 166 667 fs.
        let t = Timescale::for_freq(3.0);
        assert_eq!(
            (t.number, t.unit, t.half_cycle),
            (1, TimescaleUnit::FS, 166_667)
        );
    }

    fn decls() -> Vec<(String, SignalDecl)> {
        vec![
            ("a.b".into(), SignalDecl::state("st", &["Idle", "Busy(X)"])),
            ("a".into(), SignalDecl::bits("n", 8)),
            ("c".into(), SignalDecl::bits("bit", 1)),
        ]
    }

    #[test]
    fn probe_writes_dumpvars_then_changes_and_renames_on_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vcd");
        let mut p = VcdProbe::create(&path, &VcdOptions::default()).unwrap();
        let partial = dir.path().join(".t.vcd.partial");
        assert!(partial.exists());
        p.declare(&decls());
        for (id, v) in [(0, 0), (1, 5), (2, 0)] {
            p.change(Cycle(3), id, v);
        }
        p.change(Cycle(3), 1, 6); // still the first cycle: the initial value
        p.change(Cycle(4), 0, 1);
        p.change(Cycle(4), 2, 1);
        p.change(Cycle(9), 1, 255);
        p.finish(Cycle(10)).unwrap();
        assert!(!partial.exists());
        let text = fs::read_to_string(&path).unwrap();
        let body = text.split("$enddefinitions $end\n").nth(1).unwrap();
        assert_eq!(
            body,
            "#750\n$dumpvars\nsIdle \"\nb110 !\n0#\n$end\n#1000\nsBusy(X) \"\n1#\n#2250\nb11111111 !\n#2500\n"
        );
        // Each scope once; its vars before its subscopes.
        assert!(
            text.contains(
                "$scope module a $end\n$var wire 8 ! n $end\n$scope module b $end\n$var string 1 \" st $end\n$upscope $end\n$upscope $end\n$scope module c $end\n$var wire 1 # bit $end"
            ),
            "{text}"
        );
        assert_eq!(crate::vcd_lint::lint_str(&text), vec![]);
        assert_eq!(p.changes_written(), 6);
    }

    #[test]
    fn dropping_an_unfinished_probe_removes_its_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vcd");
        let mut p = VcdProbe::create(&path, &VcdOptions::default()).unwrap();
        p.declare(&decls());
        p.change(Cycle(0), 0, 0);
        drop(p);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn state_names_with_blanks_are_an_error_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vcd");
        let mut p = VcdProbe::create(&path, &VcdOptions::default()).unwrap();
        p.declare(&[("x".into(), SignalDecl::state("st", &["Wait Mem"]))]);
        p.change(Cycle(0), 0, 0);
        let e = p.finish(Cycle(1)).unwrap_err();
        assert!(e.0.contains("state name `Wait Mem` of x.st"), "{e}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn globs_match_full_dotted_names() {
        let f = SignalFilter::new(&["walker.*", "dram.bank?.open_row"]).unwrap();
        assert!(f.matches("walker.0.state"));
        assert!(f.matches("walker.pwc.pde.hits"));
        assert!(f.matches("dram.bank3.open_row"));
        assert!(!f.matches("dram.bank12.open_row"));
        assert!(!f.matches("core.state"));
        assert!(SignalFilter::new::<&str>(&[]).unwrap().matches("anything"));
        assert!(matches!(
            SignalFilter::new(&["core.*", " "]),
            Err(VcdError::EmptyGlob)
        ));
        let decls = vec![("core".to_string(), SignalDecl::bits("va", 64))];
        assert!(f.check(&decls).is_err());
        assert!(
            SignalFilter::new(&["core.v?"])
                .unwrap()
                .check(&decls)
                .is_ok()
        );
    }
}
