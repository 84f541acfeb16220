//! The `From ` separator line: envelope sender and asctime date.
//!
//! RFC 4155 Appendix A describes the line as: the exact character sequence of "From"; a single
//! Space character (0x20); the email address of the message sender (as obtained from the message
//! envelope or other authoritative source), conformant with the "addr-spec" syntax from RFC 2822; a
//! single Space character; a timestamp indicating the UTC date and time when the message was
//! originally received, conformant with the syntax of the traditional UNIX 'ctime' output sans
//! timezone; an end-of-line marker.
//!
//! Real files also carry seconds-less times, a zone before or after the year and trailing words
//! (`remote from host`): the parser accepts all of these and keeps the raw line.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date and time in the `ctime(3)` form of `From ` lines (`Sat Nov 28 12:34:56 2026`),
/// taken as UTC (RFC 4155 Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Asctime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

impl Asctime {
    /// Builds a date from its parts (month 1-12, day 1-31, hour 0-23, minute 0-59, second
    /// 0-60, year 0-9999); `None` when a part is out of range.
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let ok = year <= 9999
            && (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && hour < 24
            && minute < 60
            && second <= 60;
        ok.then_some(Asctime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The UTC date of `time` (seconds precision).
    pub fn from_system_time(time: SystemTime) -> Result<Self, Error> {
        let secs = match time.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).map_err(|_| Error::InvalidDate)?,
            Err(e) => -i64::try_from(e.duration().as_secs()).map_err(|_| Error::InvalidDate)?,
        };
        Self::from_unix(secs)
    }

    /// The UTC date of a Unix timestamp.
    pub fn from_unix(secs: i64) -> Result<Self, Error> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year = u16::try_from(y).map_err(|_| Error::InvalidDate)?;
        Asctime::new(
            year,
            m,
            d,
            (rem / 3600) as u8,
            (rem % 3600 / 60) as u8,
            (rem % 60) as u8,
        )
        .ok_or(Error::InvalidDate)
    }

    /// Seconds since the Unix epoch, reading the date as UTC.
    pub fn to_unix(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The date as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        let secs = self.to_unix();
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    /// Year (0-9999).
    pub fn year(self) -> u16 {
        self.year
    }
    /// Month (1-12).
    pub fn month(self) -> u8 {
        self.month
    }
    /// Day of the month (1-31).
    pub fn day(self) -> u8 {
        self.day
    }
    /// Hour (0-23).
    pub fn hour(self) -> u8 {
        self.hour
    }
    /// Minute (0-59).
    pub fn minute(self) -> u8 {
        self.minute
    }
    /// Second (0-60).
    pub fn second(self) -> u8 {
        self.second
    }

    /// Day of the week, 0 = Sunday.
    pub fn weekday(self) -> u8 {
        // 1970-01-01 was a Thursday (4).
        (days_from_civil(i64::from(self.year), self.month, self.day) + 4).rem_euclid(7) as u8
    }
}

impl std::fmt::Display for Asctime {
    /// `ctime(3)` layout: `Sun Nov  1 09:05:03 2026` (day padded with a space to two columns).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            WEEKDAYS[self.weekday() as usize],
            MONTHS[self.month as usize - 1],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A parsed `From ` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FromLine {
    sender: String,
    date: Option<Asctime>,
    raw: Vec<u8>,
}

impl FromLine {
    /// A line for writing: `From <sender> <date>`. The sender must be non-empty and hold no
    /// whitespace or control characters (use `MAILER-DAEMON` for the null sender, as Postfix and
    /// Python's `mailbox` do).
    pub fn new(sender: &str, date: Asctime) -> Result<Self, Error> {
        if sender.is_empty() || sender.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidSender(sender.to_owned()));
        }
        let raw = format!("From {sender} {date}").into_bytes();
        Ok(FromLine {
            sender: sender.to_owned(),
            date: Some(date),
            raw,
        })
    }

    /// Parses a `From ` line (without its line ending). Never fails: what cannot be understood is
    /// left out (`date() == None`), and the raw bytes are kept.
    pub fn parse(line: &[u8]) -> Self {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line.strip_prefix(b"From ").unwrap_or(line);
        let text = String::from_utf8_lossy(rest);
        let tokens: Vec<(usize, &str)> = split_tokens(&text);
        // The date starts at the first "weekday month" pair; everything before it is the sender
        // (which may itself hold spaces in a quoted local part).
        let start = (1..tokens.len()).chain(std::iter::once(0)).find(|&i| {
            i + 1 < tokens.len()
                && is_name(tokens[i].1, &WEEKDAYS)
                && is_name(tokens[i + 1].1, &MONTHS)
        });
        let (sender, date) = match start {
            Some(i) => {
                let sender = text[..tokens[i].0].trim().to_owned();
                (sender, parse_date(&tokens[i..]))
            }
            None => (
                tokens.first().map(|t| t.1.to_owned()).unwrap_or_default(),
                None,
            ),
        };
        FromLine {
            sender,
            date,
            raw: line.to_vec(),
        }
    }

    /// The envelope sender (lossily decoded as UTF-8).
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The date, when it could be parsed.
    pub fn date(&self) -> Option<Asctime> {
        self.date
    }

    /// The line as read or as it will be written, without `From `-line ending.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Whether this line has both a sender and a date, as a real separator should.
    pub fn is_well_formed(&self) -> bool {
        self.date.is_some() && !self.sender.is_empty()
    }
}

fn split_tokens(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_ascii_whitespace() {
            if let Some(st) = start.take() {
                out.push((st, &s[st..i]));
            }
        } else if start.is_none() {
            start = Some(i);
        }
        if out.len() > 64 {
            break;
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    out
}

fn is_name(token: &str, names: &[&str]) -> bool {
    names.iter().any(|n| n.eq_ignore_ascii_case(token))
}

/// `Www Mmm dd hh:mm[:ss] [zone] yyyy [zone] [remote from ...]`
fn parse_date(tokens: &[(usize, &str)]) -> Option<Asctime> {
    let month_name = tokens.get(1)?.1;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as u8
        + 1;
    let day: u8 = tokens.get(2)?.1.parse().ok()?;
    let mut hms = tokens.get(3)?.1.split(':');
    let hour: u8 = hms.next()?.parse().ok()?;
    let minute: u8 = hms.next()?.parse().ok()?;
    let second: u8 = match hms.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if hms.next().is_some() {
        return None;
    }
    // The year is the first all-digit token of length 4 within the next two tokens (a zone may
    // stand between the time and the year).
    let year: u16 = tokens
        .iter()
        .skip(4)
        .take(2)
        .find(|t| t.1.len() == 4 && t.1.bytes().all(|b| b.is_ascii_digit()))?
        .1
        .parse()
        .ok()?;
    Asctime::new(year, month, day, hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_shapes() {
        let l = FromLine::parse(b"From alice@example.org Sat Nov 28 12:34:56 2026");
        assert_eq!(l.sender(), "alice@example.org");
        assert_eq!(l.date(), Asctime::new(2026, 11, 28, 12, 34, 56));
        let l = FromLine::parse(b"From MAILER-DAEMON Sun Nov  1 09:05:03 2026\r");
        assert_eq!(l.sender(), "MAILER-DAEMON");
        assert_eq!(l.date(), Asctime::new(2026, 11, 1, 9, 5, 3));
        let l = FromLine::parse(b"From bob Mon Jan  5 10:00 GMT 1998 remote from x");
        assert_eq!(l.date(), Asctime::new(1998, 1, 5, 10, 0, 0));
        let l = FromLine::parse(b"From \"a b\"@c.d Tue Feb 29 00:00:00 2000 +0000");
        assert_eq!(l.sender(), "\"a b\"@c.d");
        assert_eq!(l.date(), Asctime::new(2000, 2, 29, 0, 0, 0));
        let l = FromLine::parse(b"From here to eternity");
        assert_eq!(l.date(), None);
        assert!(!l.is_well_formed());
    }

    #[test]
    fn formats_like_ctime() {
        let d = Asctime::from_unix(0).unwrap();
        assert_eq!(d.to_string(), "Thu Jan  1 00:00:00 1970");
        let d = Asctime::from_unix(1_795_782_896).unwrap();
        assert_eq!(d.to_unix(), 1_795_782_896);
        let l = FromLine::new("a@b", Asctime::new(2026, 11, 28, 12, 34, 56).unwrap()).unwrap();
        assert_eq!(l.as_bytes(), b"From a@b Sat Nov 28 12:34:56 2026");
        assert!(FromLine::new("a b", d).is_err());
        assert!(FromLine::new("", d).is_err());
    }

    #[test]
    fn civil_round_trip() {
        for secs in [
            -86_400 * 365 * 100,
            -1,
            0,
            951_782_400,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(Asctime::from_unix(secs).unwrap().to_unix(), secs);
        }
    }
}
