//! Numbers and times in words, for people.

/// How long ago `then_ms` was, seen at `now_ms` ("just now", "5 min ago", "3 h ago", "2 days ago").
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let s = (now_ms - then_ms).max(0) / 1000;
    match s {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => match s / 86_400 {
            1 => "1 day ago".into(),
            d => format!("{d} days ago"),
        },
    }
}

/// A duration in seconds, short ("42 s", "5 min", "3 h 20 min", "2 d 4 h").
pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Bits per second, short ("850 kb/s", "2.4 Mb/s").
pub fn bitrate(bps: f64) -> String {
    if bps >= 1_000_000.0 {
        format!("{:.1} Mb/s", bps / 1_000_000.0)
    } else {
        format!("{:.0} kb/s", bps / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_reads_naturally() {
        let now = 10_000_000_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago(now - 86_400_000, now), "1 day ago");
        assert_eq!(ago(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(
            ago(now + 5_000, now),
            "just now",
            "a clock ahead is not the future"
        );
    }

    #[test]
    fn durations_and_rates() {
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(12_000), "3 h 20 min");
        assert_eq!(duration(187_200), "2 d 4 h");
        assert_eq!(bitrate(850_000.0), "850 kb/s");
        assert_eq!(bitrate(2_400_000.0), "2.4 Mb/s");
    }
}
