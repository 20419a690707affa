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

/// A size in bytes, short ("512 B", "4.0 MB", "1.20 GB" as "1.2 GB").
pub fn bytes(n: u64) -> String {
    match n {
        0..=999 => format!("{n} B"),
        1000..=999_999 => format!("{} kB", fixed(n as f64 / 1e3, 0)),
        1_000_000..=999_999_999 => format!("{} MB", fixed(n as f64 / 1e6, 1)),
        _ => format!("{} GB", fixed(n as f64 / 1e9, 1)),
    }
}

/// Unix milliseconds as a date and time ("2026-12-07 16:32:05"), `offset_min` minutes ahead of
/// UTC (the browser's zone at that time). Whole seconds: the picture's clock reads like the
/// one a camera burns in.
pub fn clock(ms: i64, offset_min: i64) -> String {
    let s = ms.div_euclid(1000) + offset_min * 60;
    let (days, t) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
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
    fn sizes_and_clocks() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4_012_113), "4.0 MB");
        assert_eq!(bytes(1_200_000_000), "1.2 GB");
        // 2025-12-31T23:30:58.634Z, the golden export's first frame.
        assert_eq!(clock(1_767_223_858_634, 0), "2025-12-31 23:30:58");
        assert_eq!(clock(1_767_223_858_634, 60), "2026-01-01 00:30:58");
        assert_eq!(clock(0, -300), "1969-12-31 19:00:00");
        assert_eq!(clock(951_782_400_000, 0), "2000-02-29 00:00:00");
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
