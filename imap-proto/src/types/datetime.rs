//! Dates and times (RFC 3501 §9).
//!
//! ```text
//! date            = date-text / DQUOTE date-text DQUOTE
//! date-day        = 1*2DIGIT
//! date-day-fixed  = (SP DIGIT) / 2DIGIT
//! date-month      = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" /
//!                   "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
//! date-text       = date-day "-" date-month "-" date-year
//! date-year       = 4DIGIT
//! date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
//!                   SP time SP zone DQUOTE
//! time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
//! zone            = ("+" / "-") 4DIGIT
//! ```

use super::ValidationError;
use super::core::IntoStatic;

/// Month names of `date-month`.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `date-text`: a calendar day (SEARCH BEFORE/ON/SINCE ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A date; `month` 1-12, `day` 1-31, `year` 0-9999.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, ValidationError> {
        if year > 9999 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(ValidationError::new(
                "date",
                format!("{year}-{month}-{day}"),
            ));
        }
        Ok(Self { year, month, day })
    }
    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, 1-12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of month, 1-31.
    pub fn day(&self) -> u8 {
        self.day
    }
}

impl IntoStatic for Date {
    type Static = Date;
    fn into_static(self) -> Self {
        self
    }
}

/// `date-time`: INTERNALDATE and APPEND dates, with the zone as signed minutes east of UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    zone_minutes: i16,
}

impl DateTime {
    /// A date-time; `zone_minutes` is the offset east of UTC (`-0700` is -420), at most ±99:59.
    pub fn new(
        date: Date,
        hour: u8,
        minute: u8,
        second: u8,
        zone_minutes: i16,
    ) -> Result<Self, ValidationError> {
        if hour > 23 || minute > 59 || second > 60 || zone_minutes.unsigned_abs() > 99 * 60 + 59 {
            return Err(ValidationError::new(
                "date-time",
                format!("{hour}:{minute}:{second} {zone_minutes}"),
            ));
        }
        Ok(Self {
            date,
            hour,
            minute,
            second,
            zone_minutes,
        })
    }
    /// The calendar day.
    pub fn date(&self) -> Date {
        self.date
    }
    /// Hours, minutes, seconds.
    pub fn time(&self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }
    /// Offset east of UTC in minutes.
    pub fn zone_minutes(&self) -> i16 {
        self.zone_minutes
    }
    /// Seconds since the Unix epoch (UTC).
    pub fn unix_timestamp(&self) -> i64 {
        let d = self.date;
        let days = days_from_civil(i64::from(d.year), i64::from(d.month), i64::from(d.day));
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }
    /// The date-time of a Unix timestamp, in UTC (`+0000`).
    pub fn from_unix_timestamp(ts: i64) -> Result<Self, ValidationError> {
        let days = ts.div_euclid(86_400);
        let secs = ts.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year =
            u16::try_from(y).map_err(|_| ValidationError::new("date-time", ts.to_string()))?;
        Self::new(
            Date::new(year, m as u8, d as u8)?,
            (secs / 3600) as u8,
            (secs / 60 % 60) as u8,
            (secs % 60) as u8,
            0,
        )
    }
}

impl IntoStatic for DateTime {
    type Static = DateTime;
    fn into_static(self) -> Self {
        self
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_round_trip() {
        let dt = DateTime::new(Date::new(1996, 7, 17).unwrap(), 2, 44, 25, -420).unwrap();
        assert_eq!(dt.unix_timestamp(), 837_596_665);
        let utc = DateTime::from_unix_timestamp(837_596_665).unwrap();
        assert_eq!(utc.time(), (9, 44, 25));
        assert!(Date::new(2000, 13, 1).is_err());
    }
}
