//! Times as people read them in the history channel's messages and file names (UTC).

use mumu_shared::UnixMillis;

/// `2025-12-31T20:00:00Z` (to the second).
pub fn iso(at: UnixMillis) -> String {
    let (date, (h, m, s)) = civil(at);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

/// `2025-12-31 20-00-00`, for a file name.
pub fn file_stamp(at: UnixMillis) -> String {
    let (date, (h, m, s)) = civil(at);
    format!("{date} {h:02}-{m:02}-{s:02}")
}

/// The UTC date (`YYYY-MM-DD`) and time of day of `at`.
fn civil(at: UnixMillis) -> (String, (i64, i64, i64)) {
    let secs = at.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::recording::civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        (of_day / 3600, of_day % 3600 / 60, of_day % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_767_211_200_000), "2025-12-31T20:00:00Z");
        assert_eq!(iso(1_709_208_000_999), "2024-02-29T12:00:00Z");
        assert_eq!(file_stamp(1_767_223_858_634), "2025-12-31 23-30-58");
    }
}
