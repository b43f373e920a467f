//! Brute-force protection (beyond Kratos): the pure decision of how long a client must wait
//! after failed logins — free attempts, then exponential backoff capped at a maximum, and a
//! window after which failures are forgotten. Never a permanent lockout. No I/O, no clock.

use super::model::Micros;
use crate::config::identity::BruteForceConfig;

/// Microseconds the next attempt must still wait, given `failures` so far, the time of the
/// last failure and now; 0 when an attempt is allowed.
pub fn wait_micros(
    cfg: &BruteForceConfig,
    free: u32,
    failures: i64,
    last_failure: Micros,
    now: Micros,
) -> Micros {
    if !cfg.enabled || now - last_failure >= cfg.window.micros() {
        return 0;
    }
    let over = failures - i64::from(free);
    if over < 0 {
        return 0;
    }
    let exp = u32::try_from(over).unwrap_or(u32::MAX).min(30);
    let delay = cfg
        .base_delay
        .micros()
        .saturating_mul(1i64 << exp)
        .min(cfg.max_delay.micros());
    (last_failure + delay - now).max(0)
}

/// The failure count after one more failure at `now` (reset when the window has passed).
pub fn next_failures(
    cfg: &BruteForceConfig,
    failures: i64,
    last_failure: Micros,
    now: Micros,
) -> i64 {
    if now - last_failure >= cfg.window.micros() {
        1
    } else {
        failures + 1
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_expires() {
        let cfg = BruteForceConfig::default();
        let s = 1_000_000;
        assert_eq!(wait_micros(&cfg, 5, 4, 0, 0), 0);
        assert_eq!(wait_micros(&cfg, 5, 5, 0, 0), s);
        assert_eq!(wait_micros(&cfg, 5, 7, 0, 0), 4 * s);
        assert_eq!(wait_micros(&cfg, 5, 7, 0, 3 * s), s);
        assert_eq!(wait_micros(&cfg, 5, 100, 0, 0), cfg.max_delay.micros());
        // never permanent: after the window everything is forgotten
        assert_eq!(wait_micros(&cfg, 5, 100, 0, cfg.window.micros()), 0);
        assert_eq!(next_failures(&cfg, 100, 0, cfg.window.micros()), 1);
        let off = BruteForceConfig {
            enabled: false,
            ..cfg
        };
        assert_eq!(wait_micros(&off, 5, 100, 0, 0), 0);
    }
}
