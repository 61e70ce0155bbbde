//! Errors the hardware crate reports as values.

use thiserror::Error;

/// A configuration value that a component cannot be built from. `key` is the full dotted
/// config key (for example `tlb.l1d.ways`), so the user can find and fix it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("config key `{key}`: {msg}")]
pub struct ConfigError {
    pub key: String,
    pub msg: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            msg: msg.into(),
        }
    }
}
