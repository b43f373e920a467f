//! Time for every role: the one injectable [`Clock`], and timestamps on the wire — RFC 3339
//! text as Ory's Go services read and print it (`time.Time`'s JSON) to and from Unix
//! microseconds, the unit every table stores.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Microseconds since the Unix epoch.
pub type Micros = i64;

/// The time source of every role, injected (through `Stack::start_with_clock` or a role's
/// constructor) so that cores and tests never read the system clock themselves.
///
/// The system clock costs one `SystemTime::now()`; a test clock is the system clock moved by
/// an offset the test controls ([`Clock::adjustable`]), or a frozen instant ([`Clock::fixed`]).
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    Fixed(Micros),
    Offset(Arc<AtomicI64>),
    Manual(Arc<AtomicI64>),
}

/// Moves an [`Clock::adjustable`] or [`Clock::manual`] clock (and every clone of it) forward.
#[derive(Clone)]
pub struct ClockHand(Arc<AtomicI64>);

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that always reads `at`.
    pub fn fixed(at: Micros) -> Self {
        Self(Source::Fixed(at))
    }

    /// A clock that stands at `at` until the returned hand moves it.
    pub fn manual(at: Micros) -> (Self, ClockHand) {
        let at = Arc::new(AtomicI64::new(at));
        (Self(Source::Manual(at.clone())), ClockHand(at))
    }

    /// The wall clock plus an offset that the returned hand moves: a test jumps past an
    /// expiry instead of sleeping.
    pub fn adjustable() -> (Self, ClockHand) {
        let offset = Arc::new(AtomicI64::new(0));
        (Self(Source::Offset(offset.clone())), ClockHand(offset))
    }

    /// Now, in Unix microseconds.
    pub fn now(&self) -> Micros {
        match &self.0 {
            Source::System => crate::store::unix_micros(SystemTime::now()),
            Source::Fixed(at) => *at,
            Source::Offset(offset) => crate::store::unix_micros(SystemTime::now())
                .saturating_add(offset.load(Ordering::Relaxed)),
            Source::Manual(at) => at.load(Ordering::Relaxed),
        }
    }

    /// Now, as a `SystemTime` (for JWT `iat`/`exp` and cache expiry).
    pub fn now_system(&self) -> SystemTime {
        match &self.0 {
            Source::System => SystemTime::now(),
            _ => system_time(self.now()),
        }
    }
}

impl ClockHand {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::system"),
            Source::Fixed(at) => write!(f, "Clock::fixed({at})"),
            Source::Offset(o) => write!(f, "Clock::adjustable(+{}µs)", o.load(Ordering::Relaxed)),
            Source::Manual(at) => write!(f, "Clock::manual({})", at.load(Ordering::Relaxed)),
        }
    }
}

/// Unix microseconds as a `SystemTime` (before the epoch clamps to the epoch).
pub fn system_time(micros: Micros) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// RFC 3339 in UTC with microsecond precision, as Go prints `time.Time` (trailing zeros of the
/// fraction trimmed): Kratos' timestamps.
pub fn rfc3339_micros(micros: Micros) -> String {
    let base = rfc3339_base(micros);
    let frac = micros.rem_euclid(1_000_000);
    if frac == 0 {
        format!("{base}Z")
    } else {
        let f = format!("{frac:06}");
        format!("{base}.{}Z", f.trim_end_matches('0'))
    }
}

/// RFC 3339 in UTC to the second: Hydra's timestamps (its columns keep whole seconds).
pub fn rfc3339_seconds(micros: Micros) -> String {
    format!("{}Z", rfc3339_base(micros))
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix-microsecond instant, UTC.
fn rfc3339_base(micros: Micros) -> String {
    let secs = micros.div_euclid(1_000_000);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since the epoch to (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an RFC 3339 timestamp (`2024-01-02T03:04:05Z`, fractional seconds and numeric
/// offsets allowed) into Unix microseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits]
            .chars()
            .chain("000000".chars())
            .take(6)
            .collect();
        micros = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000 + micros)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_micros(1_700_000_000_123_400),
            "2023-11-14T22:13:20.1234Z"
        );
        assert_eq!(rfc3339_micros(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_seconds(1_700_000_000_999_999),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(rfc3339_seconds(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parse_reads_what_format_prints() {
        for at in [
            0,
            1_700_000_000_123_400,
            951_782_400_000_000,
            4_102_444_800_000_001,
        ] {
            assert_eq!(parse_rfc3339(&rfc3339_micros(at)), Some(at));
        }
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(parse_rfc3339("2023-13-14T23:13:20Z"), None);
    }

    #[test]
    fn an_adjustable_clock_moves_only_when_told() {
        let (clock, hand) = Clock::adjustable();
        let copy = clock.clone();
        let before = clock.now();
        hand.advance(Duration::from_secs(3600));
        let after = copy.now();
        assert!(after - before >= 3_600_000_000, "{before} → {after}");
        assert!(after - before < 3_660_000_000, "{before} → {after}");
        assert_eq!(Clock::fixed(42).now(), 42);
        let (manual, hand) = Clock::manual(1_000_000);
        hand.advance(Duration::from_secs(2));
        assert_eq!(manual.now(), 3_000_000);
        assert_eq!(Clock::fixed(1_500_000).now_system(), system_time(1_500_000));
    }
}
