//! Input rules shared by the server (which enforces them) and the web app (which checks forms
//! before sending): one definition, so both always agree.

/// Usernames: 3–32 characters of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
pub fn username(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(3..=32).contains(&len) {
        return Err(format!(
            "username must be 3 to 32 characters long (got {len})"
        ));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err("username must start with a letter or a digit".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "username may contain only letters, digits, '_', '.' and '-' (found {bad:?})"
        ));
    }
    Ok(())
}

/// Email addresses: one `@` with text on both sides, a dot in the domain, no spaces, at most
/// 254 characters. Deliverability is not checked.
pub fn email(address: &str) -> Result<(), String> {
    if address.len() > 254 {
        return Err("email must be at most 254 characters long".into());
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || is_deceptive(c))
    {
        return Err("email must not contain spaces or invisible characters".into());
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err("email must contain an '@'".into());
    };
    if local.is_empty() || domain.contains('@') {
        return Err("email must have exactly one '@' with a name before it".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err("email domain must look like example.com".into());
    }
    Ok(())
}

/// Passwords: 8–128 characters. Length is what matters; no composition rules (NIST 800-63B).
pub fn password(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < 8 {
        return Err(format!(
            "password must be at least 8 characters long (got {len})"
        ));
    }
    if len > 128 {
        return Err("password must be at most 128 characters long".into());
    }
    Ok(())
}

/// Characters that change how text around them is shown without being visible themselves:
/// control characters, bidirectional overrides and isolates (a name that reads backwards),
/// zero-width characters (two names that look alike), and line or paragraph separators. A
/// name shown to other people must not contain them.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}' // zero-width space, joiners, LRM/RLM
                | '\u{2028}'..='\u{202E}' // line/paragraph separators, bidi embeddings and overrides
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{FEFF}' // zero-width no-break space
                | '\u{061C}' // Arabic letter mark
                | '\u{180E}' // Mongolian vowel separator
        )
}

/// Text that other people see (a device's name, its reported source or encoder): at most
/// `max` characters and nothing [deceptive](is_deceptive). `what` names the field in the error.
pub fn display_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    let len = text.chars().count();
    if len > max {
        return Err(format!(
            "{what} must be at most {max} characters long (got {len})"
        ));
    }
    if let Some(bad) = text.chars().find(|c| is_deceptive(*c)) {
        return Err(format!(
            "{what} must not contain control, invisible or direction-changing characters (found U+{:04X})",
            bad as u32
        ));
    }
    Ok(())
}

/// A short label a peer reports that is shown but not worth refusing (an agent's version, the
/// reason it gives for ending a watch): what is [deceptive](is_deceptive) is dropped, the rest
/// trimmed and cut to `max` characters.
pub fn clean_label(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !is_deceptive(*c))
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

/// Device names: 1–64 characters after trimming, nothing [deceptive](is_deceptive). Returns
/// the trimmed name.
pub fn device_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("device name must not be empty".into());
    }
    display_text("device name", trimmed, 64)?;
    Ok(trimmed.to_owned())
}

/// The longest `source` a device may report.
pub const MAX_STATUS_SOURCE: usize = 128;
/// The longest `encoder` a device may report.
pub const MAX_STATUS_ENCODER: usize = 64;

/// A device's status report: short, clean texts and a temperature that is a number. Everything
/// a device reports reaches its owner's screen, so a device cannot make it large or misleading.
pub fn device_status(status: &crate::api::DeviceStatus) -> Result<(), String> {
    if let Some(source) = &status.source {
        display_text("status source", source, MAX_STATUS_SOURCE)?;
    }
    if let Some(encoder) = &status.encoder {
        display_text("status encoder", encoder, MAX_STATUS_ENCODER)?;
    }
    if let Some(t) = status.cpu_temp_c
        && !(t.is_finite() && (-100.0..=200.0).contains(&t))
    {
        return Err(format!(
            "status cpu_temp_c must be a temperature between -100 and 200 (got {t})"
        ));
    }
    Ok(())
}

/// The furthest into the future a camera's event may start, for clocks a little ahead.
pub const MAX_EVENT_CLOCK_SKEW_MS: i64 = 10 * 60_000;

/// The longest event a camera may report (it cuts its own at five minutes).
pub const MAX_EVENT_MS: i64 = 3_600_000;

/// A camera's `motion_event`, as of `now`: times that make sense (not before
/// `oldest`, not more than [`MAX_EVENT_CLOCK_SKEW_MS`] ahead, an end after the start and at most
/// [`MAX_EVENT_MS`] later), a score within the picture, and zone names as the camera's
/// settings allow them. Every field reaches people's notifications.
pub fn motion_event(
    event: &crate::signaling::MotionEvent,
    now: crate::UnixMillis,
    oldest: crate::UnixMillis,
) -> Result<(), String> {
    use crate::events::{COORD_MAX, MAX_NAME_CHARS, MAX_ZONES};
    if event.start > now + MAX_EVENT_CLOCK_SKEW_MS {
        return Err(format!(
            "motion_event start {} is {} s in the future: check the camera's clock",
            event.start,
            (event.start - now) / 1000
        ));
    }
    if event.start < oldest {
        return Err(format!(
            "motion_event start {} is older than events are kept (from {oldest})",
            event.start
        ));
    }
    if let Some(end) = event.end
        && !(event.start..=event.start + MAX_EVENT_MS).contains(&end)
    {
        return Err(format!(
            "motion_event end {end} must be after its start {} and at most {} s later",
            event.start,
            MAX_EVENT_MS / 1000
        ));
    }
    if event.peak_score > COORD_MAX {
        return Err(format!(
            "motion_event peak_score must be 0 to {COORD_MAX} ten-thousandths of the picture (got {})",
            event.peak_score
        ));
    }
    if event.zones.len() > MAX_ZONES {
        return Err(format!(
            "motion_event names at most {MAX_ZONES} zones (got {})",
            event.zones.len()
        ));
    }
    for zone in &event.zones {
        if zone.trim().is_empty() {
            return Err("motion_event zone names must not be empty".into());
        }
        display_text("motion_event zone name", zone, MAX_NAME_CHARS)?;
    }
    Ok(())
}

/// The alphabet of pairing codes: no 0/O, 1/I/L or U, so a code read aloud or off a small
/// screen is not mistyped.
pub const PAIRING_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

/// The number of symbols in a pairing code (shown as two groups of four: `ABCD-EFGH`).
pub const PAIRING_CODE_LEN: usize = 8;

/// A pairing code as typed by a person (any case, with spaces or dashes) in canonical form
/// (upper case, no separators), or an error saying why it cannot be a code.
pub fn pairing_code(typed: &str) -> Result<String, String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.chars().count() != PAIRING_CODE_LEN {
        return Err(format!(
            "a pairing code has {PAIRING_CODE_LEN} letters and digits, like ABCD-EFGH (got {})",
            code.chars().count()
        ));
    }
    if let Some(bad) = code
        .chars()
        .find(|c| !c.is_ascii() || !PAIRING_ALPHABET.contains(&(*c as u8)))
    {
        return Err(format!("a pairing code never contains {bad:?}"));
    }
    Ok(code)
}

/// A canonical pairing code as shown to people: `ABCD-EFGH`.
pub fn display_pairing_code(code: &str) -> String {
    if code.len() == PAIRING_CODE_LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        assert!(username("alice").is_ok());
        assert!(username("a.b-c_9").is_ok());
        assert!(username("al").unwrap_err().contains("3 to 32"));
        assert!(username("_alice").unwrap_err().contains("start"));
        assert!(username("al ice").unwrap_err().contains("' '"));
        assert!(username(&"a".repeat(33)).is_err());
    }

    #[test]
    fn emails_need_one_at_and_a_dotted_domain() {
        assert!(email("a@example.com").is_ok());
        assert!(email("a@b").unwrap_err().contains("domain"));
        assert!(email("example.com").unwrap_err().contains("'@'"));
        assert!(email("a@@b.com").is_err());
        assert!(email("a b@c.com").is_err());
    }

    #[test]
    fn passwords_are_judged_by_length() {
        assert!(password("correct horse").is_ok());
        assert!(password("short").unwrap_err().contains("at least 8"));
        assert!(password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn device_names_are_trimmed_and_bounded() {
        assert_eq!(device_name("  Porch  ").unwrap(), "Porch");
        assert!(device_name("   ").is_err());
        assert!(device_name(&"x".repeat(65)).is_err());
        assert!(device_name("a\u{7}b").is_err());
        assert!(device_name("Porch \u{1F4F7}").is_ok(), "emoji are fine");
        assert!(device_name("Caf\u{E9}").is_ok());
    }

    #[test]
    fn names_cannot_hide_or_reverse_text() {
        for hostile in [
            "Porch\u{202E}gnp.exe",
            "Por\u{200B}ch",
            "Porch\u{2028}Kitchen",
            "\u{2066}Porch\u{2069}",
            "\u{FEFF}Porch",
        ] {
            let error = device_name(hostile).unwrap_err();
            assert!(error.contains("direction-changing"), "{hostile:?}: {error}");
        }
    }

    #[test]
    fn labels_are_cleaned_and_cut_not_refused() {
        assert_eq!(clean_label(" 0.1.0\u{202E}\n ", 64), "0.1.0");
        assert_eq!(clean_label(&"v".repeat(100), 64).len(), 64);
    }

    #[test]
    fn device_status_reports_are_bounded() {
        use crate::api::DeviceStatus;
        let ok = DeviceStatus {
            source: Some("v4l2:/dev/video0".into()),
            encoder: Some("v4l2h264enc".into()),
            cpu_temp_c: Some(48.5),
            ..DeviceStatus::default()
        };
        assert!(device_status(&ok).is_ok());
        let long = DeviceStatus {
            source: Some("x".repeat(MAX_STATUS_SOURCE + 1)),
            ..DeviceStatus::default()
        };
        assert!(device_status(&long).unwrap_err().contains("at most 128"));
        let hidden = DeviceStatus {
            encoder: Some("x264\u{202E}".into()),
            ..DeviceStatus::default()
        };
        assert!(device_status(&hidden).is_err());
        let hot = DeviceStatus {
            cpu_temp_c: Some(f32::NAN),
            ..DeviceStatus::default()
        };
        assert!(device_status(&hot).unwrap_err().contains("cpu_temp_c"));
    }

    #[test]
    fn pairing_codes_are_read_the_way_people_type_them() {
        assert_eq!(pairing_code("abcd-efgh").unwrap(), "ABCDEFGH");
        assert_eq!(pairing_code(" ABCD EFGH ").unwrap(), "ABCDEFGH");
        assert!(pairing_code("ABC").unwrap_err().contains("8 letters"));
        assert!(pairing_code("ABCD-EFG0").unwrap_err().contains("'0'"));
        assert_eq!(display_pairing_code("ABCDEFGH"), "ABCD-EFGH");
    }

    #[test]
    fn motion_events_are_bounded_in_time_size_and_text() {
        use crate::signaling::MotionEvent;
        let now = 1_767_225_600_000;
        let oldest = now - 30 * 86_400_000;
        let event = |start, end, zones: Vec<&str>, peak_score| MotionEvent {
            start,
            end,
            zones: zones.into_iter().map(str::to_owned).collect(),
            peak_score,
        };
        assert!(motion_event(&event(now, None, vec!["door"], 120), now, oldest).is_ok());
        assert!(motion_event(&event(now - 5_000, Some(now), vec![], 0), now, oldest).is_ok());
        let future = motion_event(&event(now + 3_600_000, None, vec![], 1), now, oldest);
        assert!(future.unwrap_err().contains("future"));
        let old = motion_event(&event(oldest - 1, None, vec![], 1), now, oldest);
        assert!(old.unwrap_err().contains("older"));
        let backwards = motion_event(&event(now, Some(now - 1), vec![], 1), now, oldest);
        assert!(backwards.unwrap_err().contains("after its start"));
        let score = motion_event(&event(now, None, vec![], 10_001), now, oldest);
        assert!(score.unwrap_err().contains("peak_score"));
        let many: Vec<String> = (0..1000).map(|i| format!("z{i}")).collect();
        let crowded = MotionEvent {
            zones: many,
            ..event(now, None, vec![], 1)
        };
        assert_eq!(
            motion_event(&crowded, now, oldest).unwrap_err(),
            "motion_event names at most 8 zones (got 1000)"
        );
        let long = "x".repeat(33);
        assert!(motion_event(&event(now, None, vec![long.as_str()], 1), now, oldest).is_err());
        assert!(motion_event(&event(now, None, vec!["a\u{202E}b"], 1), now, oldest).is_err());
        assert!(motion_event(&event(now, None, vec![" "], 1), now, oldest).is_err());
    }
}
