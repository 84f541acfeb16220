//! Dates for the `date` and `currentdate` tests (RFC 5260 §4, §5): reading the date-time of
//! RFC 5322 §3.3 from a header field, moving it to a zone, and the date parts.
//!
//! ```text
//! date-time       =   [ day-of-week "," ] date time [CFWS]
//! date            =   day month year
//! time            =   time-of-day zone
//! time-of-day     =   hour ":" minute [ ":" second ]
//! zone            =   (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment and the zone it is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub(crate) timestamp: i64,
    /// Minutes east of UTC.
    pub(crate) offset: i32,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl DateTime {
    pub(crate) fn from_system(now: SystemTime, offset: i32) -> Self {
        let timestamp = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Self { timestamp, offset }
    }

    /// The same moment written in another zone.
    pub(crate) fn in_zone(self, offset: i32) -> Self {
        Self { offset, ..self }
    }

    /// (year, month, day, hour, minute, second, weekday 0 = Sunday, days since the epoch) in
    /// this zone.
    fn fields(self) -> (i64, u32, u32, u32, u32, u32, u32, i64) {
        let local = self.timestamp.saturating_add(i64::from(self.offset) * 60);
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as u32;
        (
            y,
            m,
            d,
            (secs / 3600) as u32,
            (secs / 60 % 60) as u32,
            (secs % 60) as u32,
            weekday,
            days,
        )
    }

    /// A date part of RFC 5260 §4.2, or `None` for an unknown part name.
    #[allow(clippy::many_single_char_names)] // y, d, h, s: the parts as RFC 5260 §4.2 names them
    pub(crate) fn part(self, name: &str) -> Option<String> {
        let (y, mo, d, h, mi, s, wd, days) = self.fields();
        let zone = zone_string(self.offset);
        Some(match name.to_ascii_lowercase().as_str() {
            "year" => format!("{y:04}"),
            "month" => format!("{mo:02}"),
            "day" => format!("{d:02}"),
            "date" => format!("{y:04}-{mo:02}-{d:02}"),
            // Modified Julian Day: days since 1858-11-17.
            "julian" => (days + 40_587).to_string(),
            "hour" => format!("{h:02}"),
            "minute" => format!("{mi:02}"),
            "second" => format!("{s:02}"),
            "time" => format!("{h:02}:{mi:02}:{s:02}"),
            "iso8601" => {
                let z = if self.offset == 0 {
                    "Z".to_owned()
                } else {
                    format!("{}:{}", &zone[..3], &zone[3..])
                };
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{z}")
            }
            "std11" => format!(
                "{}, {d} {} {y:04} {h:02}:{mi:02}:{s:02} {zone}",
                WEEKDAYS[wd as usize],
                capitalised(MONTHS[(mo - 1) as usize]),
            ),
            "zone" => zone,
            "weekday" => wd.to_string(),
            _ => return None,
        })
    }

    /// RFC 5322 date-time (with the obsolete zones of §4.3), as `Date:` carries it.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let mut words = value
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .peekable();
        if words
            .peek()
            .is_some_and(|w| w.chars().next().is_some_and(char::is_alphabetic))
        {
            words.next();
        }
        let day: u32 = words.next()?.parse().ok()?;
        let month_word = words.next()?.to_ascii_lowercase();
        let month = MONTHS.iter().position(|m| month_word.starts_with(m))? as u32 + 1;
        let year_word = words.next()?;
        let mut year: i64 = year_word.parse().ok()?;
        // RFC 5322 §4.3: two-digit years are 19xx from 50, 20xx below; three-digit add 1900.
        if year_word.len() == 2 {
            year += if year < 50 { 2000 } else { 1900 };
        } else if year_word.len() == 3 {
            year += 1900;
        }
        let time = words.next()?;
        let mut hms = time.split(':');
        let hour: u32 = hms.next()?.parse().ok()?;
        let minute: u32 = hms.next()?.parse().ok()?;
        let second: u32 = match hms.next() {
            Some(s) => s.parse().ok()?,
            None => 0,
        };
        let offset = match words.next() {
            Some(z) => parse_zone(z).or_else(|| obs_zone(z))?,
            None => 0,
        };
        if !(1..=31).contains(&day)
            || !(0..=9999).contains(&year)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59));
        Some(Self {
            timestamp: local - i64::from(offset) * 60,
            offset,
        })
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// `+hhmm` / `-hhmm`.
pub(crate) fn zone_string(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    format!("{sign}{:02}{:02}", a / 60, a % 60)
}

/// `+hhmm` / `-hhmm` to minutes east of UTC (RFC 5260 §4.1 `:zone`).
pub(crate) fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hours: i32 = z[1..3].parse().ok()?;
    let minutes: i32 = z[3..5].parse().ok()?;
    if minutes > 59 {
        return None;
    }
    let m = hours * 60 + minutes;
    Some(if b[0] == b'-' { -m } else { m })
}

fn obs_zone(z: &str) -> Option<i32> {
    Some(match z.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EST" => -5 * 60,
        "EDT" => -4 * 60,
        "CST" => -6 * 60,
        "CDT" => -5 * 60,
        "MST" => -7 * 60,
        "MDT" => -6 * 60,
        "PST" => -8 * 60,
        "PDT" => -7 * 60,
        // RFC 5322 §4.3: military zones and other letters "SHOULD all be considered equivalent
        // to -0000".
        s if s.chars().all(|c| c.is_ascii_alphabetic()) => 0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn parts_of_a_date_header() {
        // RFC 5260 §4.2's example values, from "Fri, 05 Aug 2005 17:31:00 -0700".
        let d = DateTime::parse("Fri, 05 Aug 2005 17:31:00 -0700").unwrap();
        assert_eq!(d.part("year").unwrap(), "2005");
        assert_eq!(d.part("date").unwrap(), "2005-08-05");
        assert_eq!(d.part("time").unwrap(), "17:31:00");
        assert_eq!(d.part("zone").unwrap(), "-0700");
        assert_eq!(d.part("weekday").unwrap(), "5");
        assert_eq!(d.part("iso8601").unwrap(), "2005-08-05T17:31:00-07:00");
        assert_eq!(d.part("std11").unwrap(), "Fri, 5 Aug 2005 17:31:00 -0700");
        assert_eq!(d.part("julian").unwrap(), "53587");
        let utc = d.in_zone(0);
        assert_eq!(utc.part("time").unwrap(), "00:31:00");
        assert_eq!(utc.part("day").unwrap(), "06");
        assert_eq!(utc.part("iso8601").unwrap(), "2005-08-06T00:31:00Z");
        assert!(d.part("fortnight").is_none());
    }

    #[test]
    fn lenient_dates() {
        assert!(DateTime::parse("5 Aug 05 17:31 GMT").is_some());
        assert!(DateTime::parse("Fri, 5 Aug 2005 17:31:00 +0000 (UTC)").is_some());
        assert!(DateTime::parse("yesterday").is_none());
        assert!(DateTime::parse("").is_none());
        assert_eq!(parse_zone("+0530"), Some(330));
        assert_eq!(parse_zone("abc"), None);
    }
}
