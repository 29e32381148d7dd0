//! Timestamps: ISO-8601 parsing (allocation-free), `timediff` expressions and `date_format`.

use crate::api::value::Value;
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// A tiny cursor over ASCII bytes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + u32::from(d - b'0');
            self.i += 1;
        }
        Some(v)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses an ISO-8601 date or date-time into milliseconds since the epoch (UTC).
///
/// Accepted: `YYYY-MM-DD`, then optionally `T`/`t`/space and `HH`, `HH:MM`, `HH:MM:SS`,
/// `HH:MM:SS.f…` (any number of fraction digits, truncated to milliseconds), then optionally
/// `Z`/`z` or an offset `±HH`, `±HHMM`, `±HH:MM`. Without an offset the time is UTC.
pub(crate) fn parse_iso_ms(s: &str) -> Option<i64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let (mut h, mut mi, mut sec, mut ms) = (0, 0, 0, 0);
    let mut offset_min: i64 = 0;
    if !c.done() {
        if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
            return None;
        }
        h = c.digits(2)?;
        if c.eat(b':') {
            mi = c.digits(2)?;
            if c.eat(b':') {
                sec = c.digits(2)?;
                if c.eat(b'.') || c.eat(b',') {
                    let start = c.i;
                    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                        let pos = c.i - start;
                        if pos < 3 {
                            ms = ms * 10 + u32::from(d - b'0');
                        }
                        c.i += 1;
                    }
                    let n = c.i - start;
                    if n == 0 {
                        return None;
                    }
                    for _ in n..3 {
                        ms *= 10;
                    }
                }
            }
        }
        if c.eat(b'Z') || c.eat(b'z') {
        } else if let Some(sign) = c.peek().filter(|b| *b == b'+' || *b == b'-') {
            c.i += 1;
            let oh = c.digits(2)?;
            let om = if c.done() {
                0
            } else {
                c.eat(b':');
                c.digits(2)?
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh * 60 + om);
            offset_min = if sign == b'-' { -off } else { off };
        }
        if !c.done() {
            return None;
        }
    }
    let dt = date.and_hms_milli_opt(h, mi, sec, ms)?;
    Some(dt.and_utc().timestamp_millis() - offset_min * MINUTE)
}

/// A document timestamp: `Value::Int` milliseconds or an ISO-8601 string.
pub(crate) fn doc_time_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::String(s) => parse_iso_ms(s),
        _ => None,
    }
}

/// The base of a `timediff` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeBase {
    /// `now`
    Now,
    /// `now/d`: start of today (UTC).
    Day,
    /// `now/w`: start of this week, Monday (UTC).
    Week,
    /// `now/m`: start of this month (UTC).
    Month,
}

/// A parsed `timediff` value such as `now/d-7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timediff {
    base: TimeBase,
    delta_ms: i64,
}

impl Timediff {
    /// Parses `now`, `now/d`, `now/w`, `now/m`, optionally followed by `+N` or `-N` with a unit
    /// `s m h d w` (`m` = minutes). Whitespace around the parts is allowed.
    pub(crate) fn parse(s: &str) -> Option<Timediff> {
        let s = s.trim();
        let rest = s.strip_prefix("now")?;
        let (base, rest) = if let Some(r) = rest.strip_prefix("/d") {
            (TimeBase::Day, r)
        } else if let Some(r) = rest.strip_prefix("/w") {
            (TimeBase::Week, r)
        } else if let Some(r) = rest.strip_prefix("/m") {
            (TimeBase::Month, r)
        } else {
            (TimeBase::Now, rest)
        };
        let rest = rest.trim_start();
        if rest.is_empty() {
            return Some(Timediff { base, delta_ms: 0 });
        }
        let (neg, rest) = if let Some(r) = rest.strip_prefix('+') {
            (false, r)
        } else if let Some(r) = rest.strip_prefix('-') {
            (true, r)
        } else {
            return None;
        };
        let rest = rest.trim_start();
        let ndigits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if ndigits == 0 {
            return None;
        }
        let n: i64 = rest[..ndigits].parse().ok()?;
        let unit = match &rest[ndigits..] {
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => WEEK,
            _ => return None,
        };
        let delta = n.checked_mul(unit)?;
        Some(Timediff {
            base,
            delta_ms: if neg { -delta } else { delta },
        })
    }

    /// The instant (ms since epoch) this expression denotes at `now_ms`.
    pub(crate) fn resolve(&self, now_ms: i64) -> i64 {
        let days = now_ms.div_euclid(DAY);
        let day_start = days.saturating_mul(DAY);
        let base = match self.base {
            TimeBase::Now => now_ms,
            TimeBase::Day => day_start,
            // 1970-01-01 was a Thursday: Monday-based weekday index 3.
            TimeBase::Week => day_start.saturating_sub(days.saturating_add(3).rem_euclid(7) * DAY),
            TimeBase::Month => DateTime::<Utc>::from_timestamp_millis(now_ms)
                .and_then(|dt| dt.date_naive().with_day(1))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(day_start, |d| d.and_utc().timestamp_millis()),
        };
        base.saturating_add(self.delta_ms)
    }
}

/// One piece of a `date_format` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FmtPart {
    Lit(String),
    Spec(u8),
}

/// A group key's `date_format`: `year`, `month`, `day` (integers, like Mongo's `$year`,
/// `$month`, `$dayOfMonth`) or a Mongo `$dateToString` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateFormat {
    Year,
    Month,
    Day,
    Pattern(Vec<FmtPart>),
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

impl DateFormat {
    /// Parses a format. Supported specifiers (Mongo `$dateToString`): `%Y %m %d %H %M %S %L
    /// %j %w %u %U %V %G %z %Z %b %B %%`.
    pub(crate) fn parse(s: &str) -> Result<DateFormat, String> {
        match s {
            "year" => return Ok(DateFormat::Year),
            "month" => return Ok(DateFormat::Month),
            "day" => return Ok(DateFormat::Day),
            _ => {}
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => lit.push('%'),
                Some(
                    spec @ ('Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'L' | 'j' | 'w' | 'u' | 'U' | 'V'
                    | 'G' | 'z' | 'Z' | 'b' | 'B'),
                ) => {
                    if !lit.is_empty() {
                        parts.push(FmtPart::Lit(std::mem::take(&mut lit)));
                    }
                    // Every accepted specifier is ASCII.
                    parts.push(FmtPart::Spec(spec as u8));
                }
                Some(other) => return Err(format!("unsupported date_format specifier '%{other}'")),
                None => return Err("date_format ends with '%'".to_owned()),
            }
        }
        if !lit.is_empty() {
            parts.push(FmtPart::Lit(lit));
        }
        Ok(DateFormat::Pattern(parts))
    }

    /// Formats the instant `ms` (UTC); `Null` when it is out of range.
    pub(crate) fn apply(&self, ms: i64) -> Value {
        use std::fmt::Write;
        let Some(dt) = DateTime::<Utc>::from_timestamp_millis(ms) else {
            return Value::Null;
        };
        let parts = match self {
            DateFormat::Year => return Value::Int(i64::from(dt.year())),
            DateFormat::Month => return Value::Int(i64::from(dt.month())),
            DateFormat::Day => return Value::Int(i64::from(dt.day())),
            DateFormat::Pattern(p) => p,
        };
        let mut out = String::with_capacity(16);
        for p in parts {
            // Writing into a String cannot fail.
            let _ = match p {
                FmtPart::Lit(s) => out.write_str(s),
                FmtPart::Spec(b'Y') => write!(out, "{:04}", dt.year()),
                FmtPart::Spec(b'm') => write!(out, "{:02}", dt.month()),
                FmtPart::Spec(b'd') => write!(out, "{:02}", dt.day()),
                FmtPart::Spec(b'H') => write!(out, "{:02}", dt.hour()),
                FmtPart::Spec(b'M') => write!(out, "{:02}", dt.minute()),
                FmtPart::Spec(b'S') => write!(out, "{:02}", dt.second()),
                FmtPart::Spec(b'L') => write!(out, "{:03}", dt.timestamp_subsec_millis()),
                FmtPart::Spec(b'j') => write!(out, "{:03}", dt.ordinal()),
                FmtPart::Spec(b'w') => write!(out, "{}", dt.weekday().number_from_sunday()),
                FmtPart::Spec(b'u') => write!(out, "{}", dt.weekday().number_from_monday()),
                FmtPart::Spec(b'U') => {
                    let yday = dt.ordinal0();
                    let wday = dt.weekday().num_days_from_sunday();
                    write!(out, "{:02}", (yday + 7 - wday) / 7)
                }
                FmtPart::Spec(b'V') => write!(out, "{:02}", dt.iso_week().week()),
                FmtPart::Spec(b'G') => write!(out, "{:04}", dt.iso_week().year()),
                FmtPart::Spec(b'z') => out.write_str("+0000"),
                FmtPart::Spec(b'Z') => out.write_str("+0"),
                FmtPart::Spec(b'b') => out.write_str(&MONTHS[dt.month0() as usize][..3]),
                FmtPart::Spec(b'B') => out.write_str(MONTHS[dt.month0() as usize]),
                FmtPart::Spec(_) => Ok(()),
            };
        }
        Value::String(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, milli: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_milli_opt(h, mi, s, milli))
            .map(|d| d.and_utc().timestamp_millis())
            .unwrap()
    }

    #[test]
    fn iso_forms() {
        let base = ms(2026, 11, 22, 10, 54, 11, 0);
        assert_eq!(parse_iso_ms("2026-11-22T10:54:11Z"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22T10:54:11.123Z"), Some(base + 123));
        assert_eq!(parse_iso_ms("2026-11-22T10:54:11.1Z"), Some(base + 100));
        assert_eq!(
            parse_iso_ms("2026-11-22T10:54:11.123456789Z"),
            Some(base + 123)
        );
        assert_eq!(parse_iso_ms("2026-11-22T10:54:11"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22 10:54:11"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22T12:54:11+02:00"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22T12:54:11+0200"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22T08:54:11-02"), Some(base));
        assert_eq!(parse_iso_ms("2026-11-22T10:54Z"), Some(base - 11_000));
        assert_eq!(
            parse_iso_ms("2026-11-22"),
            Some(ms(2026, 11, 22, 0, 0, 0, 0))
        );
        assert_eq!(parse_iso_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-30",
            "2026-11-22T",
            "2026-11-22T25:00:00Z",
            "2026-11-22T10:54:11.Z",
            "2026-11-22T10:54:11Zjunk",
            "22/11/2026",
            "2026-11-22T10:61",
            "2026-11-22T10:54:11+24:00",
            "now",
        ] {
            assert_eq!(parse_iso_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn doc_times() {
        assert_eq!(doc_time_ms(&Value::Int(5)), Some(5));
        assert_eq!(
            doc_time_ms(&Value::from("1970-01-01T00:00:00.005Z")),
            Some(5)
        );
        assert_eq!(doc_time_ms(&Value::Bool(true)), None);
        assert_eq!(doc_time_ms(&Value::Float(5.0)), None);
    }

    #[test]
    fn timediff_bases_and_units() {
        // Wednesday 2026-11-25 13:14:15.678 UTC.
        let now = ms(2026, 11, 25, 13, 14, 15, 678);
        let r = |s: &str| Timediff::parse(s).map(|t| t.resolve(now));
        assert_eq!(r("now"), Some(now));
        assert_eq!(r(" now "), Some(now));
        assert_eq!(r("now/d"), Some(ms(2026, 11, 25, 0, 0, 0, 0)));
        assert_eq!(r("now/w"), Some(ms(2026, 11, 23, 0, 0, 0, 0)));
        assert_eq!(r("now/m"), Some(ms(2026, 11, 1, 0, 0, 0, 0)));
        assert_eq!(r("now-30s"), Some(now - 30_000));
        assert_eq!(r("now+5m"), Some(now + 300_000));
        assert_eq!(r("now - 2h"), Some(now - 2 * HOUR));
        assert_eq!(r("now/d+1d"), Some(ms(2026, 11, 26, 0, 0, 0, 0)));
        assert_eq!(r("now/w-1w"), Some(ms(2026, 11, 16, 0, 0, 0, 0)));
        assert_eq!(r("now/m-3d"), Some(ms(2026, 10, 29, 0, 0, 0, 0)));
        for bad in [
            "",
            "today",
            "now/y",
            "now-",
            "now-5",
            "now-5y",
            "now*5d",
            "now-5dd",
            "now-99999999999999999999d",
            "now/d-1d trailing",
        ] {
            assert_eq!(Timediff::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn week_starts_monday_even_on_monday_and_sunday() {
        let monday = ms(2026, 11, 23, 0, 0, 0, 0);
        let at = |y, mo, d| {
            Timediff::parse("now/w")
                .unwrap()
                .resolve(ms(y, mo, d, 9, 0, 0, 0))
        };
        assert_eq!(at(2026, 11, 23), monday);
        assert_eq!(at(2026, 11, 29), monday);
        assert_eq!(at(2026, 11, 30), ms(2026, 11, 30, 0, 0, 0, 0));
        // Before the epoch too.
        assert_eq!(at(1969, 12, 31), ms(1969, 12, 29, 0, 0, 0, 0));
    }

    #[test]
    fn date_formats() {
        let t = ms(2026, 1, 4, 7, 8, 9, 12); // a Sunday
        let f = |p: &str| DateFormat::parse(p).unwrap().apply(t);
        assert_eq!(f("%Y-%m-%d"), Value::from("2026-01-04"));
        assert_eq!(f("%Y-%m"), Value::from("2026-01"));
        assert_eq!(f("%H:%M:%S.%L"), Value::from("07:08:09.012"));
        assert_eq!(f("%j %w %u %U %V %G"), Value::from("004 1 7 01 01 2026"));
        assert_eq!(f("%b %B 100%%"), Value::from("Jan January 100%"));
        assert_eq!(f("year"), Value::Int(2026));
        assert_eq!(f("month"), Value::Int(1));
        assert_eq!(f("day"), Value::Int(4));
        assert!(DateFormat::parse("%Q").is_err());
        assert!(DateFormat::parse("%Y%").is_err());
    }
}
