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
        format!("{} Mb/s", fixed(bps / 1_000_000.0, 1))
    } else {
        format!("{} kb/s", fixed(bps / 1000.0, 0))
    }
}

/// A size in megabytes, short ("4.0 MB", "0.3 MB", "1200.0 MB").
pub fn bytes(n: u64) -> String {
    format!("{} MB", fixed(n as f64 / 1e6, 1))
}

/// `value` with `decimals` digits after the point, rounded half away from zero ("2.4", "850").
/// The app writes every number this way: `format!("{:.1}")` would bring core's float
/// formatting into the WASM, about 6 KB of its gzip.
pub fn fixed(value: f64, decimals: u32) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let scale = 10_u64.pow(decimals);
    let scaled = (value * scale as f64).round();
    let sign = if scaled < 0.0 { "-" } else { "" };
    let scaled = scaled.abs() as u64;
    let (whole, part) = (scaled / scale, scaled % scale);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{part:0width$}", width = decimals as usize)
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

    #[test]
    fn sizes() {
        assert_eq!(bytes(4_012_113), "4.0 MB");
        assert_eq!(bytes(260_000), "0.3 MB");
        assert_eq!(bytes(1_200_000_000), "1200.0 MB");
    }

    #[test]
    fn fixed_point_numbers() {
        assert_eq!(fixed(2.449, 1), "2.4");
        assert_eq!(fixed(2.45, 2), "2.45");
        assert_eq!(fixed(0.05, 2), "0.05");
        assert_eq!(fixed(849.6, 0), "850");
        assert_eq!(fixed(12.0, 1), "12.0");
        assert_eq!(fixed(0.0, 2), "0.00");
        assert_eq!(fixed(-3.26, 1), "-3.3");
        assert_eq!(fixed(-0.01, 1), "0.0", "no minus sign on a zero");
        assert_eq!(fixed(f64::NAN, 1), "—");
        assert_eq!(fixed(f64::INFINITY, 0), "—");
    }
}
