//! Kong's rate-limiting periods: their names, TTLs, and where each period starts (UTC calendar
//! starts for fixed windows, as kong.tools.timestamp computes them).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Period {
    pub const ALL: [Period; 6] = [
        Period::Second,
        Period::Minute,
        Period::Hour,
        Period::Day,
        Period::Month,
        Period::Year,
    ];

    /// The config field and the Redis key suffix (`minute`).
    pub fn name(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
            Period::Year => "year",
        }
    }

    /// The header suffix (`X-RateLimit-Limit-Minute`).
    pub fn title(self) -> &'static str {
        match self {
            Period::Second => "Second",
            Period::Minute => "Minute",
            Period::Hour => "Hour",
            Period::Day => "Day",
            Period::Month => "Month",
            Period::Year => "Year",
        }
    }

    /// `X-RateLimit-Limit-<Title>`, written out (no formatting on every request).
    pub fn limit_header(self) -> &'static str {
        match self {
            Period::Second => "X-RateLimit-Limit-Second",
            Period::Minute => "X-RateLimit-Limit-Minute",
            Period::Hour => "X-RateLimit-Limit-Hour",
            Period::Day => "X-RateLimit-Limit-Day",
            Period::Month => "X-RateLimit-Limit-Month",
            Period::Year => "X-RateLimit-Limit-Year",
        }
    }

    /// `X-RateLimit-Remaining-<Title>`.
    pub fn remaining_header(self) -> &'static str {
        match self {
            Period::Second => "X-RateLimit-Remaining-Second",
            Period::Minute => "X-RateLimit-Remaining-Minute",
            Period::Hour => "X-RateLimit-Remaining-Hour",
            Period::Day => "X-RateLimit-Remaining-Day",
            Period::Month => "X-RateLimit-Remaining-Month",
            Period::Year => "X-RateLimit-Remaining-Year",
        }
    }

    /// Kong's EXPIRATION table: the key TTL and the window length of `RateLimit-Reset`
    /// (a month is 30 days, a year 365, whatever the calendar says).
    pub fn seconds(self) -> u64 {
        match self {
            Period::Second => 1,
            Period::Minute => 60,
            Period::Hour => 3600,
            Period::Day => 86_400,
            Period::Month => 2_592_000,
            Period::Year => 31_536_000,
        }
    }

    /// Start in ms of the UTC calendar period holding `now_ms` (Kong's fixed windows).
    pub fn calendar_start(self, now_ms: u64) -> u64 {
        let secs = now_ms / 1000;
        let day_start = secs - secs % 86_400;
        let (y, m, _) = civil_from_days((secs / 86_400) as i64);
        let start = match self {
            Period::Second => secs,
            Period::Minute => secs - secs % 60,
            Period::Hour => secs - secs % 3600,
            Period::Day => day_start,
            Period::Month => days_from_civil(y, m, 1) as u64 * 86_400,
            Period::Year => days_from_civil(y, 1, 1) as u64 * 86_400,
        };
        start * 1000
    }

    /// Start in ms of the epoch-aligned window of this length holding `now_ms` (sliding windows).
    pub fn aligned_start(self, now_ms: u64) -> u64 {
        let size = self.seconds() * 1000;
        now_ms - now_ms % size
    }
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {

    #[test]
    fn written_out_header_names_are_the_titled_ones() {
        for p in Period::ALL {
            assert_eq!(p.limit_header(), format!("X-RateLimit-Limit-{}", p.title()));
            assert_eq!(
                p.remaining_header(),
                format!("X-RateLimit-Remaining-{}", p.title())
            );
        }
    }

    use super::*;

    // 2024-02-29T13:45:30.250Z, a leap day.
    const NOW: u64 = 1_709_214_330_250;

    #[test]
    fn calendar_starts_are_utc_calendar_boundaries() {
        assert_eq!(Period::Second.calendar_start(NOW), 1_709_214_330_000);
        assert_eq!(Period::Minute.calendar_start(NOW), 1_709_214_300_000); // 13:45:00
        assert_eq!(Period::Hour.calendar_start(NOW), 1_709_211_600_000); // 13:00:00
        assert_eq!(Period::Day.calendar_start(NOW), 1_709_164_800_000); // 2024-02-29
        assert_eq!(Period::Month.calendar_start(NOW), 1_706_745_600_000); // 2024-02-01
        assert_eq!(Period::Year.calendar_start(NOW), 1_704_067_200_000); // 2024-01-01
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000i64, 0, 59, 60, 365, 11_016, 19_782, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn ttls_are_kongs() {
        let t: Vec<u64> = Period::ALL.iter().map(|p| p.seconds()).collect();
        assert_eq!(t, vec![1, 60, 3600, 86_400, 2_592_000, 31_536_000]);
    }

    #[test]
    fn aligned_windows() {
        assert_eq!(Period::Minute.aligned_start(125_000), 120_000);
    }
}
