//! vmsim-sim: configuration, workloads, the System that wires hardware and OS, the run loop,
//! statistics and output files.

pub mod config;
pub mod device;
pub mod histogram;
pub mod output;
pub mod plots;
pub mod probe;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod summary;
pub mod system;
pub mod vcd;
pub mod vcd_lint;
pub mod workload;

pub use config::{Config, ConfigBuilder, ConfigError};
pub use run::{RunOptions, RunOutput, run, run_with};
pub use stats::SystemStats;
pub use system::{NoObserver, Observer, SimError, System};
