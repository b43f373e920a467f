//! Brute-force protection (beyond Kratos): the pure decision of how long a client must wait
//! after failed logins — free attempts, then exponential backoff capped at a maximum, and a
//! window after which failures are forgotten. Never a permanent lockout. No I/O, no clock.
//! The store applies the same decision inside one conditional upsert ([`Rule`]), so that an
//! attempt is counted as a failure before its password is verified and concurrent attempts
//! cannot all pass one check.

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

/// The decision of [`wait_micros`] as numbers for the store's one-statement reservation: an
/// attempt may go ahead when the window has passed since the last failure, or fewer than
/// `free` failures are counted, or `last_failure + min(base << min(failures - free,
/// max_shift), max) <= now`. `max_shift` is where the doubling reaches `max` (at most 30), so
/// the shift cannot overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub free: i64,
    pub window: Micros,
    pub base: Micros,
    pub max: Micros,
    pub max_shift: i64,
}

impl Rule {
    pub fn new(cfg: &BruteForceConfig, free: u32) -> Self {
        let base = cfg.base_delay.micros().max(0);
        let max = cfg.max_delay.micros().max(0);
        let mut max_shift = 0;
        while max_shift < 30 && base > 0 && base.saturating_mul(1i64 << max_shift) < max {
            max_shift += 1;
        }
        Rule {
            free: i64::from(free),
            window: cfg.window.micros(),
            base,
            max,
            max_shift,
        }
    }

    /// What the store's statement decides, in Rust (for tests): may an attempt go ahead?
    pub fn allows(&self, failures: i64, last_failure: Micros, now: Micros) -> bool {
        if now - last_failure >= self.window || failures < self.free {
            return true;
        }
        let shift = (failures - self.free).clamp(0, self.max_shift);
        let delay = (self.base << shift).min(self.max);
        last_failure + delay <= now
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

    /// The store's statement decides as `wait_micros` does.
    #[test]
    fn the_rule_of_the_store_agrees_with_the_backoff() {
        let s: i64 = 1_000_000;
        for (base, max) in [
            (s, 900 * s),
            (3 * s, 10 * s),
            (s, s),
            (0, 5 * s),
            (3_600 * s, 3_600 * s),
        ] {
            let cfg = BruteForceConfig {
                base_delay: crate::config::duration::GoDuration(base as u128 * 1000),
                max_delay: crate::config::duration::GoDuration(max as u128 * 1000),
                ..BruteForceConfig::default()
            };
            for free in [0, 1, 5] {
                let rule = Rule::new(&cfg, free);
                for failures in 0..40 {
                    for now in [
                        0,
                        s / 2,
                        s,
                        3 * s,
                        7 * s,
                        100 * s,
                        1000 * s,
                        cfg.window.micros(),
                    ] {
                        assert_eq!(
                            rule.allows(failures, 0, now),
                            wait_micros(&cfg, free, failures, 0, now) == 0,
                            "base {base} max {max} free {free} failures {failures} now {now}"
                        );
                    }
                }
            }
        }
    }
}
