//! Who is told of a new event, decided in one pure function ([`decide`]): the household's arming
//! mode, the camera's cooldown and its `always` mark, each person's permission and quiet hours.
//! Time comes in as an argument (the clock seam's reading), so every rule is tested without
//! waiting.

use mumu_shared::api::ArmingMode;
use mumu_shared::{UnixMillis, UserId};

/// An event that started longer ago than this is stored but notifies nobody: it comes from a
/// camera's backlog after a reconnect, and "motion at the porch" an hour late misleads.
pub const STALE_MS: i64 = 10 * 60_000;

/// Minutes in a day.
const DAY_MIN: i64 = 24 * 60;

/// A camera's notification settings, and when it last notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Camera {
    /// Notifies while the household is armed `home`.
    pub always: bool,
    /// After a notification, none for this long.
    pub cooldown_ms: i64,
    /// When it last notified anyone.
    pub last_notified_at: Option<UnixMillis>,
}

/// A daily quiet span in someone's local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietSpan {
    /// Minutes after local midnight the quiet begins.
    pub start_min: u16,
    /// Minutes after local midnight it ends (before `start_min`: the next day).
    pub end_min: u16,
    /// Local time minus UTC, in minutes.
    pub utc_offset_min: i16,
}

impl QuietSpan {
    /// Whether `at` (UTC) falls in the span, in the person's local time.
    pub fn contains(&self, at: UnixMillis) -> bool {
        let local = (at.div_euclid(60_000) + i64::from(self.utc_offset_min)).rem_euclid(DAY_MIN);
        let (start, end) = (i64::from(self.start_min), i64::from(self.end_min));
        if start <= end {
            (start..end).contains(&local)
        } else {
            local >= start || local < end
        }
    }
}

/// Someone who may see the camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their account.
    pub user: UserId,
    /// They own the camera (always notified, unless quiet).
    pub owner: bool,
    /// Their share lets them be notified (ignored for the owner).
    pub share_notifies: bool,
    /// Their quiet hours, if they set some.
    pub quiet: Option<QuietSpan>,
}

/// Why nobody is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// The event started more than [`STALE_MS`] ago.
    Stale,
    /// The household is armed `off`.
    ArmedOff,
    /// The household is armed `home` and the camera is not marked `always`.
    ArmedHome,
    /// The camera notified less than its cooldown ago.
    Cooldown {
        /// When it may notify again.
        until: UnixMillis,
    },
    /// Nobody may be notified of this camera (no owner, no share with the permission).
    NobodyAllowed,
    /// Everyone who may be notified is in their quiet hours.
    AllQuiet,
}

/// What [`decide`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Tell these people (never empty), and start the camera's cooldown.
    Notify(Vec<UserId>),
    /// Tell nobody.
    Silent(Silence),
}

/// Who is told of an event that started at `start`, at `now`.
pub fn decide(
    now: UnixMillis,
    start: UnixMillis,
    arming: ArmingMode,
    camera: Camera,
    people: &[Person],
) -> Decision {
    if now - start > STALE_MS {
        return Decision::Silent(Silence::Stale);
    }
    match arming {
        ArmingMode::Off => return Decision::Silent(Silence::ArmedOff),
        ArmingMode::Home if !camera.always => return Decision::Silent(Silence::ArmedHome),
        ArmingMode::Home | ArmingMode::Away => {}
    }
    if let Some(last) = camera.last_notified_at {
        let until = last.saturating_add(camera.cooldown_ms);
        if now < until {
            return Decision::Silent(Silence::Cooldown { until });
        }
    }
    let allowed: Vec<&Person> = people
        .iter()
        .filter(|p| p.owner || p.share_notifies)
        .collect();
    if allowed.is_empty() {
        return Decision::Silent(Silence::NobodyAllowed);
    }
    let awake: Vec<UserId> = allowed
        .into_iter()
        .filter(|p| !p.quiet.is_some_and(|q| q.contains(now)))
        .map(|p| p.user.clone())
        .collect();
    if awake.is_empty() {
        return Decision::Silent(Silence::AllQuiet);
    }
    Decision::Notify(awake)
}

/// `HH:MM` as minutes after midnight.
pub fn parse_clock(text: &str) -> Result<u16, String> {
    let bad = || format!("a time of day is HH:MM, 00:00 to 23:59 (got {text:?})");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn format_clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    const MIN: i64 = 60_000;

    fn person(name: &str, owner: bool, share_notifies: bool) -> Person {
        Person {
            user: UserId(name.into()),
            owner,
            share_notifies,
            quiet: None,
        }
    }

    fn camera(always: bool, last: Option<UnixMillis>) -> Camera {
        Camera {
            always,
            cooldown_ms: MIN,
            last_notified_at: last,
        }
    }

    fn users(names: &[&str]) -> Decision {
        Decision::Notify(names.iter().map(|n| UserId((*n).into())).collect())
    }

    #[test]
    fn the_owner_and_shares_with_the_permission_are_told_when_away() {
        let clock = ManualClock::new();
        let now = clock.now_ms();
        let people = [
            person("owner", true, false),
            person("with", false, true),
            person("without", false, false),
        ];
        assert_eq!(
            decide(now, now, ArmingMode::Away, camera(false, None), &people),
            users(&["owner", "with"])
        );
        let nobody = [person("without", false, false)];
        assert_eq!(
            decide(now, now, ArmingMode::Away, camera(false, None), &nobody),
            Decision::Silent(Silence::NobodyAllowed)
        );
    }

    #[test]
    fn the_cooldown_silences_the_camera_for_its_length_after_a_notification() {
        let clock = ManualClock::new();
        let first = clock.now_ms();
        let people = [person("owner", true, false)];
        let cam = camera(false, Some(first));
        clock.advance_ms(30_000);
        let now = clock.now_ms();
        assert_eq!(
            decide(now, now, ArmingMode::Away, cam, &people),
            Decision::Silent(Silence::Cooldown { until: first + MIN })
        );
        clock.advance_ms(30_000);
        let now = clock.now_ms();
        assert_eq!(
            decide(now, now, ArmingMode::Away, cam, &people),
            users(&["owner"])
        );
        let none = Camera {
            cooldown_ms: 0,
            ..cam
        };
        assert_eq!(
            decide(first, first, ArmingMode::Away, none, &people),
            users(&["owner"]),
            "a zero cooldown lets every event through"
        );
    }

    #[test]
    fn arming_off_silences_all_and_home_all_but_the_always_cameras() {
        let now = ManualClock::new().now_ms();
        let people = [person("owner", true, false)];
        for always in [false, true] {
            assert_eq!(
                decide(now, now, ArmingMode::Off, camera(always, None), &people),
                Decision::Silent(Silence::ArmedOff)
            );
        }
        assert_eq!(
            decide(now, now, ArmingMode::Home, camera(false, None), &people),
            Decision::Silent(Silence::ArmedHome)
        );
        assert_eq!(
            decide(now, now, ArmingMode::Home, camera(true, None), &people),
            users(&["owner"])
        );
    }

    #[test]
    fn quiet_hours_cross_midnight_in_local_time() {
        // 22:30 to 07:00 at UTC+1.
        let quiet = QuietSpan {
            start_min: 22 * 60 + 30,
            end_min: 7 * 60,
            utc_offset_min: 60,
        };
        let utc = |h: i64, m: i64| 1_767_225_600_000 + (h * 60 + m) * MIN; // 2026-01-01 00:00 UTC
        assert!(quiet.contains(utc(21, 30)), "22:30 local");
        assert!(quiet.contains(utc(23, 59)));
        assert!(quiet.contains(utc(5, 59)), "06:59 local");
        assert!(!quiet.contains(utc(6, 0)), "07:00 local: over");
        assert!(!quiet.contains(utc(21, 29)));
        assert!(!quiet.contains(utc(12, 0)));
        // A span within one day, west of UTC.
        let lunch = QuietSpan {
            start_min: 12 * 60,
            end_min: 13 * 60,
            utc_offset_min: -300,
        };
        assert!(lunch.contains(utc(17, 30)));
        assert!(!lunch.contains(utc(12, 30)));

        let now = utc(22, 0);
        let mut sleeper = person("sleeper", true, false);
        sleeper.quiet = Some(quiet);
        let awake = person("awake", false, true);
        assert_eq!(
            decide(
                now,
                now,
                ArmingMode::Away,
                camera(false, None),
                &[sleeper.clone(), awake]
            ),
            users(&["awake"])
        );
        assert_eq!(
            decide(now, now, ArmingMode::Away, camera(false, None), &[sleeper]),
            Decision::Silent(Silence::AllQuiet)
        );
    }

    #[test]
    fn a_late_report_is_kept_but_tells_nobody() {
        let clock = ManualClock::new();
        let start = clock.now_ms();
        clock.advance_ms(STALE_MS + 1);
        let people = [person("owner", true, false)];
        assert_eq!(
            decide(
                clock.now_ms(),
                start,
                ArmingMode::Away,
                camera(false, None),
                &people
            ),
            Decision::Silent(Silence::Stale)
        );
    }

    #[test]
    fn times_of_day_read_and_print_as_hh_mm() {
        assert_eq!(parse_clock("07:05"), Ok(425));
        assert_eq!(parse_clock("23:59"), Ok(1439));
        assert_eq!(format_clock(425), "07:05");
        for bad in ["24:00", "7:05", "07:60", "0705", "aa:bb", ""] {
            assert!(parse_clock(bad).is_err(), "{bad}");
        }
    }
}
