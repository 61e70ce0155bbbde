//! The run configuration: plain serde data with documented defaults.
//!
//! A configuration is built in layers, each overriding the one before: the built-in defaults
//! (Skylake-like TLBs, DDR4-3200), an optional preset (`--preset zen3`), an optional TOML file
//! (`--config FILE`), then `--set key=value` overrides. Every table denies unknown keys; a bad
//! key or value is reported with its full dotted path and what is allowed. The fully resolved
//! configuration is written beside the results as `config.toml`.
//!
//! A scenario file (`--scenario FILE`) is a config file too: besides these tables it describes
//! the disk, the DMA engine, `[[process]]`es and `[[device]]`s (see [`crate::scenario`]).

use serde::{Deserialize, Serialize};
use thiserror::Error;
use vmsim_hw::ConfigError as HwConfigError;
use vmsim_hw::core::TlbsConfig;
use vmsim_hw::disk::DiskConfig;
use vmsim_hw::dma::DmaConfig;
use vmsim_hw::dram::DramConfig;
use vmsim_hw::memsys::CachesConfig;
use vmsim_hw::walker::WalkerConfig;
use vmsim_os::{OsConfig, OsError};

use crate::scenario::{DeviceConfig, ProcessConfig};
use crate::workload::{WorkloadConfig, WorkloadError};

/// A configuration error: one readable line.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Hw(#[from] HwConfigError),
    #[error(transparent)]
    Os(OsError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("config key `{key}`: {msg}")]
    Key { key: String, msg: String },
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
}

/// The core clock (`core.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoreConfig {
    /// Core clock in GHz: every latency is in cycles of this clock. Default 4.0 (ChampSim's
    /// default; DDR4-3200's tCK of 0.625 ns is then exactly 2.5 core cycles).
    pub freq_ghz: f64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig { freq_ghz: 4.0 }
    }
}

/// How the run loop advances time (`engine.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Jump straight to the next cycle at which some component has work (true), or tick every
    /// cycle (false; slower, same results).
    pub skip_idle: bool,
    /// Stop with an error if work is outstanding and nothing progresses for this many cycles.
    pub watchdog_cycles: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            skip_idle: true,
            watchdog_cycles: 100_000_000,
        }
    }
}

/// What the run writes (`output.*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Write `accesses.csv`, one row per access.
    pub accesses_csv: bool,
    /// Write `walks.csv`, one row per page walk.
    pub walks_csv: bool,
    /// Write `events.csv`, one row per fault, kill, eviction, swap transfer, disk request,
    /// device DMA burst, system call and context switch.
    pub events_csv: bool,
    /// At most this many rows per CSV (0 = unlimited); stats always cover the whole run.
    pub max_csv_rows: u64,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            accesses_csv: true,
            walks_csv: true,
            events_csv: true,
            max_csv_rows: 1_000_000,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seed of every random source (replacement, generators).
    pub seed: u64,
    pub core: CoreConfig,
    pub tlb: TlbsConfig,
    pub walker: WalkerConfig,
    pub caches: CachesConfig,
    pub dram: DramConfig,
    pub os: OsConfig,
    /// The swap disk (`[disk]`): preset "nvme", "sata_ssd" or "hdd", and overrides.
    pub disk: DiskConfig,
    /// The DMA engine (`[dma]`).
    pub dma: DmaConfig,
    /// The workload of a classic run, with no `[[process]]`: one process, pid 1.
    pub workload: WorkloadConfig,
    pub engine: EngineConfig,
    pub output: OutputConfig,
    /// A scenario's processes (`[[process]]`), pid = position + 1. When there is at least one,
    /// they replace `[workload]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub process: Vec<ProcessConfig>,
    /// A scenario's DMA devices (`[[device]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<DeviceConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            core: CoreConfig::default(),
            tlb: TlbsConfig::default(),
            walker: WalkerConfig::default(),
            caches: CachesConfig::default(),
            dram: DramConfig::default(),
            os: OsConfig::default(),
            disk: DiskConfig::default(),
            dma: DmaConfig::default(),
            workload: default_workload(),
            engine: EngineConfig::default(),
            output: OutputConfig::default(),
            process: Vec::new(),
            device: Vec::new(),
        }
    }
}

/// The built-in workload of `vmsim run`: one million zipf-distributed accesses (s = 0.99) over
/// 32768 pages (128 MiB). Hot pages hit the L1 TLB, warm ones the L2, cold ones walk; the
/// footprint spans 64 page-directory entries, twice what the PDE cache holds, so walks come with
/// and without page-walk-cache hits; and every first touch is a minor fault.
pub fn default_workload() -> WorkloadConfig {
    WorkloadConfig {
        kind: crate::workload::WorkloadKind::Zipf,
        pages: 32768,
        accesses: 1_000_000,
        ..WorkloadConfig::default()
    }
}

/// Named presets for real machines, as TOML overlays on the defaults.
pub const PRESETS: &[(&str, &str)] = &[
    ("skylake", include_str!("presets/skylake.toml")),
    ("zen3", include_str!("presets/zen3.toml")),
];

impl Config {
    /// Check every value; the error names the key and what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.core.freq_ghz > 0.0 && self.core.freq_ghz <= 20.0) {
            return Err(ConfigError::Key {
                key: "core.freq_ghz".into(),
                msg: format!(
                    "must be a clock in GHz between 0 and 20, got {}",
                    self.core.freq_ghz
                ),
            });
        }
        self.tlb.validate()?;
        self.walker.validate()?;
        self.caches.validate()?;
        self.dram.validate()?;
        self.os.validate().map_err(ConfigError::Os)?;
        self.caches
            .validate_reach(self.os.frames * vmsim_hw::PAGE_SIZE)?;
        self.disk.validate()?;
        self.dma.validate()?;
        self.workload.validate()?;
        if self.engine.watchdog_cycles == 0 {
            return Err(ConfigError::Key {
                key: "engine.watchdog_cycles".into(),
                msg: "must be at least 1".into(),
            });
        }
        crate::scenario::validate(&self.process, &self.device)?;
        for (i, p) in self.process.iter().enumerate() {
            if !p.kernel_thread {
                continue;
            }
            let key = |k: &str| format!("process[{i}].{k}");
            let bytes = self.os.kernel_pages * vmsim_hw::PAGE_SIZE;
            let end = p.workload.base + p.workload.pages * vmsim_hw::PAGE_SIZE;
            let why = if self.os.kernel_pages == 0 {
                Some((
                    key("kernel_thread"),
                    "needs kernel memory: set os.kernel_pages".to_string(),
                ))
            } else if !p.segments.is_empty() || !p.events.is_empty() {
                Some((
                    key("segments"),
                    "a kernel thread has no segments or events of its own: it runs on the \
                     kernel's memory"
                        .to_string(),
                ))
            } else if p.workload.kind != crate::workload::WorkloadKind::Trace && end > bytes {
                Some((
                    key("workload.pages"),
                    format!(
                        "a kernel thread's addresses are offsets into the {bytes:#x} bytes of \
                         kernel memory (os.kernel_pages); base + pages * 4096 = {end:#x}"
                    ),
                ))
            } else {
                None
            };
            if let Some((key, msg)) = why {
                return Err(ConfigError::Key { key, msg });
            }
        }
        Ok(())
    }

    /// Whether this is a scenario: at least one `[[process]]` (which then replace `[workload]`).
    pub fn is_scenario(&self) -> bool {
        !self.process.is_empty()
    }

    /// The resolved configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a Config always serializes")
    }
}

/// Builds a configuration from layers.
pub struct ConfigBuilder {
    value: toml::Table,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigBuilder {
    /// Start from the built-in defaults.
    pub fn new() -> ConfigBuilder {
        let value = toml::Table::try_from(Config::default()).expect("defaults serialize");
        ConfigBuilder { value }
    }

    /// Overlay a named preset.
    pub fn preset(mut self, name: &str) -> Result<ConfigBuilder, ConfigError> {
        let Some((_, text)) = PRESETS.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::Key {
                key: "--preset".into(),
                msg: format!("unknown preset {name:?}; allowed: {}", names.join(", ")),
            });
        };
        let t: toml::Table = text.parse().expect("built-in presets parse");
        merge(&mut self.value, t);
        Ok(self)
    }

    /// Overlay a TOML document (the text of `--config FILE`; `path` names it in errors).
    pub fn toml(mut self, path: &str, text: &str) -> Result<ConfigBuilder, ConfigError> {
        let t: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.into(),
                msg: e.message().to_string(),
            })?;
        merge(&mut self.value, t);
        Ok(self)
    }

    /// Apply one `key=value` override. The value is read as TOML (`64`, `true`, `0.5`,
    /// `"lru"`); anything that is not valid TOML is taken as a string, so `policy=lru` works.
    /// The key is dotted; `[i]` selects entry `i` (0-based) of an array of tables, as in
    /// `process[0].workload.accesses=1000`.
    pub fn set(mut self, assignment: &str) -> Result<ConfigBuilder, ConfigError> {
        let Some((key, raw)) = assignment.split_once('=') else {
            return Err(ConfigError::Key {
                key: assignment.into(),
                msg: "expected key=value".into(),
            });
        };
        let key = key.trim();
        let raw = raw.trim();
        let Some(steps) = parse_key(key) else {
            return Err(ConfigError::Key {
                key: key.into(),
                msg: "expected a dotted key such as tlb.l1d.entries or \
                      process[0].workload.accesses"
                    .into(),
            });
        };
        let value = parse_value(raw);
        let mut root = toml::Value::Table(std::mem::take(&mut self.value));
        let result = assign(&mut root, &steps, value);
        let toml::Value::Table(t) = root else {
            unreachable!("the root stays a table")
        };
        self.value = t;
        result.map(|()| self)
    }

    /// Deserialize and validate.
    pub fn build(self) -> Result<Config, ConfigError> {
        let cfg: Config = serde_path_to_error::deserialize(toml::Value::Table(self.value))
            .map_err(|e| {
                let path = e.path().to_string();
                let msg = e.inner().to_string();
                let msg = msg.lines().next().unwrap_or("").to_string();
                ConfigError::Key {
                    key: path,
                    msg: explain(&msg),
                }
            })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn explain(msg: &str) -> String {
    if msg.starts_with("unknown field") {
        // serde: "unknown field `x`, expected one of `a`, `b`"
        msg.replacen("unknown field", "unknown key", 1).replacen(
            "expected one of",
            "allowed keys:",
            1,
        )
    } else if msg.starts_with("missing field") {
        // serde: "missing field `x`"
        format!(
            "{} (required)",
            msg.replacen("missing field", "missing key", 1)
        )
    } else if msg.starts_with("unknown variant") {
        msg.replacen("expected one of", "allowed values:", 1)
    } else {
        msg.to_string()
    }
}

/// One step of a `--set` key: a table key or an array index.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Split `a.b[2].c` into steps; `None` if malformed (an empty part, a bad index).
fn parse_key(key: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if name.is_empty() {
            return None;
        }
        steps.push(Step::Key(name));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index = rest.get(1..close)?.parse().ok()?;
            steps.push(Step::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
}

/// The key path of the first `n` steps, for messages: `process[0].workload`.
fn steps_path(steps: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Set `value` at `steps` under `root`, creating missing tables (not array entries).
fn assign(
    root: &mut toml::Value,
    steps: &[Step<'_>],
    value: toml::Value,
) -> Result<(), ConfigError> {
    let mut cur = root;
    for (n, step) in steps.iter().enumerate() {
        let last = n + 1 == steps.len();
        let here = || steps_path(&steps[..n]);
        cur = match (step, cur) {
            (Step::Key(k), toml::Value::Table(t)) => {
                if last {
                    t.insert(k.to_string(), value);
                    return Ok(());
                }
                if matches!(steps[n + 1], Step::Index(_)) && !t.contains_key(*k) {
                    return Err(ConfigError::Key {
                        key: steps_path(&steps[..=n]),
                        msg: format!("is not set, so it has no entry to index (no [[{k}]] table)"),
                    });
                }
                t.entry(k.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            (Step::Index(i), toml::Value::Array(a)) => {
                let len = a.len();
                let Some(slot) = a.get_mut(*i) else {
                    return Err(ConfigError::Key {
                        key: steps_path(&steps[..=n]),
                        msg: format!("`{}` has {len} entries (indices from 0)", here()),
                    });
                };
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            (Step::Index(_), _) => {
                return Err(ConfigError::Key {
                    key: steps_path(&steps[..=n]),
                    msg: format!(
                        "`{}` is not an array of tables, so it takes no [index]",
                        here()
                    ),
                });
            }
            (Step::Key(_), _) => {
                return Err(ConfigError::Key {
                    key: here(),
                    msg: "is a value, not a table of keys".into(),
                });
            }
        };
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("parsed key v"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_roundtrip() {
        let c = ConfigBuilder::new().build().unwrap();
        assert_eq!(c, Config::default());
        let again = ConfigBuilder::new()
            .toml("x", &c.to_toml())
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn set_overrides_nested_keys_and_bare_strings() {
        let c = ConfigBuilder::new()
            .set("tlb.l1d.entries=32")
            .unwrap()
            .set("tlb.l2.policy=fifo")
            .unwrap()
            .set("dram.model=fixed")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.tlb.l1d.entries, 32);
        assert_eq!(c.tlb.l2.policy, vmsim_hw::replacement::PolicyKind::Fifo);
        assert_eq!(c.dram.model, vmsim_hw::dram::DramModelKind::Fixed);
    }

    #[test]
    fn unknown_key_names_the_path_and_allowed_keys() {
        let e = ConfigBuilder::new()
            .set("tlb.l1d.entires=32")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("tlb.l1d"), "{e}");
        assert!(e.contains("entires"), "{e}");
        assert!(e.contains("entries"), "{e}");
    }

    #[test]
    fn bad_enum_value_lists_allowed_values() {
        let e = ConfigBuilder::new()
            .set("tlb.l1d.policy=mru")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("tlb.l1d.policy"), "{e}");
        assert!(e.contains("lru") && e.contains("plru"), "{e}");
    }

    #[test]
    fn invalid_geometry_names_the_key() {
        let e = ConfigBuilder::new()
            .set("tlb.l1d.ways=5")
            .unwrap()
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("tlb.l1d.ways"), "{e}");
    }

    #[test]
    fn presets_apply_and_unknown_preset_is_refused() {
        let z = ConfigBuilder::new()
            .preset("zen3")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(z.tlb.l1d.ways, z.tlb.l1d.entries); // fully associative
        assert_eq!(z.tlb.l2.entries, 2048);
        let s = ConfigBuilder::new()
            .preset("skylake")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(s.tlb.l2.entries, 1536);
        assert!(ConfigBuilder::new().preset("m1").is_err());
    }
}
