//! Clock-domain conversion: components whose natural unit is another clock or real time (DRAM's
//! tCK, the disk's microseconds, DMA set-up nanoseconds) convert to core cycles once, at
//! construction, rounding up.

use crate::error::ConfigError;

/// `ceil(x)` for a non-negative cycle count, treating values within a relative 1e-9 of an
/// integer as that integer, so that 22 x 0.625 ns x 4 GHz is exactly 55 and 88 us x 4 GHz is
/// exactly 352,000 despite floating-point error.
pub fn ceil_cycles(x: f64) -> u64 {
    let nearest = x.round();
    if (x - nearest).abs() <= 1e-9 * nearest.abs().max(1.0) {
        nearest as u64
    } else {
        x.ceil() as u64
    }
}

/// Nanoseconds to core cycles at `core_freq_ghz`, rounded up.
pub fn ns_to_cycles(ns: f64, core_freq_ghz: f64) -> u64 {
    ceil_cycles(ns * core_freq_ghz)
}

/// Check a core clock given to a component's constructor.
pub fn check_freq(core_freq_ghz: f64) -> Result<(), ConfigError> {
    if !(core_freq_ghz.is_finite() && core_freq_ghz > 0.0) {
        return Err(ConfigError::new(
            "core.freq_ghz",
            format!("must be a positive, finite frequency in GHz, got {core_freq_ghz}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_but_forgives_float_noise() {
        assert_eq!(ceil_cycles(22.0 * 0.625 * 4.0), 55);
        assert_eq!(ceil_cycles(2.5), 3);
        assert_eq!(ceil_cycles(55.001), 56);
        assert_eq!(ns_to_cycles(88_000.0, 4.0), 352_000);
        assert!(check_freq(0.0).is_err());
        assert!(check_freq(f64::NAN).is_err());
    }
}
