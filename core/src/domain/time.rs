//! Instants and calendar days. The API speaks RFC 3339 UTC with milliseconds; inside, an instant is
//! milliseconds since the Unix epoch, which sorts, compares and stores without ambiguity.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};

const RFC3339_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

const MILLIS_PER_DAY: i64 = 86_400_000;

/// An instant, in milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(RFC3339_MILLIS).ok())
            // Only instants beyond year 9999 fail to format; the clock never produces them.
            .unwrap_or_else(|| "9999-12-31T23:59:59.999Z".to_string())
    }

    /// Parses an RFC 3339 instant with any offset and precision, as schedulers write them
    /// (`2026-11-28T00:05:00Z`); sub-millisecond digits are dropped.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        let parsed = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| "must be an RFC 3339 instant".to_string())?;
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
            .map(Timestamp)
            .map_err(|_| "is out of range".to_string())
    }

    /// The UTC calendar day this instant falls in.
    pub fn date(self) -> Date {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let date = OffsetDateTime::from_unix_timestamp(days * 86_400)
            .map(|t| t.date())
            .unwrap_or(time::Date::MAX);
        Date(date)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// A UTC calendar day, as in `/v1/reports/daily/2026-11-21`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// Parses exactly `YYYY-MM-DD` naming a real calendar day (no 30 February).
    pub fn parse(text: &str) -> Result<Self, String> {
        const MESSAGE: &str = "must be a real calendar date written YYYY-MM-DD";
        let bytes = text.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return Err(MESSAGE.into());
        }
        let number = |range: std::ops::Range<usize>| text[range].parse::<u16>().map_err(|_| MESSAGE.to_string());
        let year = i32::from(number(0..4)?);
        let month = time::Month::try_from(u8::try_from(number(5..7)?).map_err(|_| MESSAGE.to_string())?)
            .map_err(|_| MESSAGE.to_string())?;
        let day = u8::try_from(number(8..10)?).map_err(|_| MESSAGE.to_string())?;
        time::Date::from_calendar_date(year, month, day)
            .map(Date)
            .map_err(|_| MESSAGE.to_string())
    }

    /// The calendar day before this one.
    pub fn previous(self) -> Self {
        Date(self.0.previous_day().unwrap_or(time::Date::MIN))
    }

    /// The first millisecond of the day (inclusive) and of the next day (exclusive).
    pub fn bounds(self) -> (Timestamp, Timestamp) {
        let start = self.0.midnight().assume_utc().unix_timestamp() * 1000;
        (Timestamp(start), Timestamp(start + MILLIS_PER_DAY))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_schedulers_write() {
        let at = |text| Timestamp::parse_rfc3339(text).map(Timestamp::to_rfc3339);
        assert_eq!(at("2026-11-28T00:05:00Z").as_deref(), Ok("2026-11-28T00:05:00.000Z"));
        assert_eq!(
            at("2026-11-28T01:05:00.250+01:00").as_deref(),
            Ok("2026-11-28T00:05:00.250Z")
        );
        assert!(at("2026-11-28 00:05").is_err());
        assert!(at("").is_err());
    }

    #[test]
    fn the_day_before_crosses_months_and_years() {
        let day = |text| Date::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(day("2026-03-01").previous(), day("2026-02-28"));
        assert_eq!(day("2027-01-01").previous(), day("2026-12-31"));
    }

    #[test]
    fn formats_rfc3339_with_milliseconds() {
        assert_eq!(Timestamp::from_millis(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp::from_millis(1_795_000_000_123).to_rfc3339(),
            "2026-11-18T11:06:40.123Z"
        );
    }

    #[test]
    fn refuses_dates_that_are_not_on_the_calendar() {
        assert!(Date::parse("2024-02-29").is_ok());
        for bad in [
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20261101",
            "",
            "2026-11-21x",
            "+026-11-21",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn day_bounds_cover_exactly_one_utc_day() {
        let date = Date::parse("2026-11-21").unwrap_or_else(|e| panic!("{e}"));
        let (start, end) = date.bounds();
        assert_eq!(start.to_rfc3339(), "2026-11-21T00:00:00.000Z");
        assert_eq!(end.as_millis() - start.as_millis(), 86_400_000);
        assert_eq!(start.date(), date);
        assert_eq!(Timestamp::from_millis(end.as_millis() - 1).date(), date);
    }

    proptest! {
        #[test]
        fn every_valid_date_round_trips(days in 0i64..2_932_896) {
            let date = Timestamp::from_millis(days * MILLIS_PER_DAY).date();
            prop_assert_eq!(Date::parse(&date.to_string()), Ok(date));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,16}") {
            let _ = Date::parse(&text);
        }
    }
}
