//! Motion events and the settings that shape them: what the camera detects, where (zones), what
//! it never shows (privacy masks), and the record it keeps of each event.
//!
//! Places on the picture are in normalized units, [`COORD_MAX`] across and down whatever the
//! camera's resolution, so a zone drawn on a still in the browser means the same on the camera
//! and survives a change of picture size. Everything is bounded ([`MAX_ZONES`], [`MAX_MASKS`],
//! [`MAX_POINTS`], [`MAX_NAME_CHARS`]) and checked by [`MotionSettings::validate`], whose errors
//! name the zone or mask and the point that is wrong: they go back to the person who drew them.

use crate::UnixMillis;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The right and bottom edge of the picture, in normalized units (the left and top are 0).
pub const COORD_MAX: u16 = 10_000;

/// The most motion zones a camera keeps.
pub const MAX_ZONES: usize = 8;

/// The most privacy masks a camera keeps.
pub const MAX_MASKS: usize = 8;

/// The most corners of one zone or mask.
pub const MAX_POINTS: usize = 16;

/// The longest zone name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// The default [`MotionSettings::sensitivity`].
pub const DEFAULT_SENSITIVITY: u8 = 50;

/// The default [`MotionSettings::min_area`]: 1 % of the picture.
pub const DEFAULT_MIN_AREA: u16 = 100;

/// A place on the picture: `x` from the left edge, `y` from the top, both `0..=COORD_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// From the left edge, `0..=COORD_MAX`.
    pub x: u16,
    /// From the top edge, `0..=COORD_MAX`.
    pub y: u16,
}

impl Point {
    /// The point at `x`, `y`.
    pub const fn new(x: u16, y: u16) -> Self {
        Self { x, y }
    }
}

/// The four corners of the rectangle from `(left, top)` to `(right, bottom)`, clockwise.
pub fn rectangle(left: u16, top: u16, right: u16, bottom: u16) -> Vec<Point> {
    vec![
        Point::new(left, top),
        Point::new(right, top),
        Point::new(right, bottom),
        Point::new(left, bottom),
    ]
}

/// A part of the picture where motion counts; motion elsewhere is ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionZone {
    /// What the owner calls it ("Front door"); unique among the camera's zones.
    pub name: String,
    /// The polygon's corners in order (a rectangle is four), 3 to [`MAX_POINTS`].
    pub points: Vec<Point>,
}

/// A part of the picture blacked out before the encoder: live viewers, recordings and
/// thumbnails never see it, and the detector ignores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyMask {
    /// The polygon's corners in order, 3 to [`MAX_POINTS`].
    pub points: Vec<Point>,
}

/// How the camera looks for motion, kept by the camera and set by its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionSettings {
    /// 1 (only large, strong changes) to 100 (the faintest): how different from the background
    /// a pixel must be to count as moving.
    #[serde(default = "default_sensitivity")]
    pub sensitivity: u8,
    /// The smallest moving area that counts, in ten-thousandths of the picture (100 = 1 %),
    /// `1..=10000`.
    #[serde(default = "default_min_area")]
    pub min_area: u16,
    /// Where motion counts; none: the whole picture.
    #[serde(default)]
    pub zones: Vec<MotionZone>,
    /// What is blacked out before the encoder.
    #[serde(default)]
    pub masks: Vec<PrivacyMask>,
}

fn default_sensitivity() -> u8 {
    DEFAULT_SENSITIVITY
}

fn default_min_area() -> u16 {
    DEFAULT_MIN_AREA
}

impl Default for MotionSettings {
    fn default() -> Self {
        Self {
            sensitivity: DEFAULT_SENSITIVITY,
            min_area: DEFAULT_MIN_AREA,
            zones: vec![],
            masks: vec![],
        }
    }
}

/// Why settings were refused. Each message says what to change.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    /// Sensitivity out of `1..=100`.
    #[error("sensitivity must be between 1 and 100 (got {0})")]
    Sensitivity(u8),
    /// Minimum area out of `1..=10000`.
    #[error("min_area must be between 1 and 10000 ten-thousandths of the picture (got {0})")]
    MinArea(u16),
    /// More zones or masks than a camera keeps.
    #[error("at most {max} {what} (got {count})")]
    TooMany {
        /// `zones` or `masks`.
        what: &'static str,
        /// How many were sent.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A zone without a usable name.
    #[error("zone {index}: a name of 1 to {MAX_NAME_CHARS} characters is needed (got {name:?})")]
    BadName {
        /// The zone's place in the list, from 0.
        index: usize,
        /// The name sent (cut short if very long).
        name: String,
    },
    /// Two zones with one name.
    #[error("two zones are called {0:?}: zone names must differ")]
    DuplicateName(String),
    /// A polygon with too few or too many corners.
    #[error("{what}: {count} points (a shape has 3 to {MAX_POINTS})")]
    PointCount {
        /// The zone (by name) or mask (by place).
        what: String,
        /// How many points it has.
        count: usize,
    },
    /// A corner outside the picture.
    #[error("{what}: point {index} ({x}, {y}) is outside the picture (0 to {COORD_MAX} each way)")]
    Outside {
        /// The zone (by name) or mask (by place).
        what: String,
        /// The point's place in the shape, from 0.
        index: usize,
        /// Its x.
        x: u16,
        /// Its y.
        y: u16,
    },
    /// Corners that enclose nothing (all on one line).
    #[error("{0}: the points enclose no area")]
    NoArea(String),
}

impl MotionSettings {
    /// Checks every bound; the first thing wrong is the error.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=100).contains(&self.sensitivity) {
            return Err(SettingsError::Sensitivity(self.sensitivity));
        }
        if !(1..=COORD_MAX).contains(&self.min_area) {
            return Err(SettingsError::MinArea(self.min_area));
        }
        for (what, count, max) in [
            ("zones", self.zones.len(), MAX_ZONES),
            ("masks", self.masks.len(), MAX_MASKS),
        ] {
            if count > max {
                return Err(SettingsError::TooMany { what, count, max });
            }
        }
        for (index, zone) in self.zones.iter().enumerate() {
            let chars = zone.name.chars().count();
            if chars == 0
                || chars > MAX_NAME_CHARS
                || zone.name.trim() != zone.name
                || zone.name.chars().any(char::is_control)
            {
                return Err(SettingsError::BadName {
                    index,
                    name: zone.name.chars().take(MAX_NAME_CHARS + 8).collect(),
                });
            }
            if self.zones[..index].iter().any(|z| z.name == zone.name) {
                return Err(SettingsError::DuplicateName(zone.name.clone()));
            }
            check_shape(&format!("zone {:?}", zone.name), &zone.points)?;
        }
        for (index, mask) in self.masks.iter().enumerate() {
            check_shape(&format!("mask {index}"), &mask.points)?;
        }
        Ok(())
    }
}

fn check_shape(what: &str, points: &[Point]) -> Result<(), SettingsError> {
    if !(3..=MAX_POINTS).contains(&points.len()) {
        return Err(SettingsError::PointCount {
            what: what.to_owned(),
            count: points.len(),
        });
    }
    if let Some((index, p)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| p.x > COORD_MAX || p.y > COORD_MAX)
    {
        return Err(SettingsError::Outside {
            what: what.to_owned(),
            index,
            x: p.x,
            y: p.y,
        });
    }
    if twice_area(points) == 0 {
        return Err(SettingsError::NoArea(what.to_owned()));
    }
    Ok(())
}

/// Twice the polygon's area (shoelace), in normalized units squared.
fn twice_area(points: &[Point]) -> u64 {
    let n = points.len();
    let sum: i64 = (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            i64::from(a.x) * i64::from(b.y) - i64::from(b.x) * i64::from(a.y)
        })
        .sum();
    sum.unsigned_abs()
}

/// A run of pixels on one row, `x0..x1` (the end excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelSpan {
    /// The row, from the top.
    pub y: u32,
    /// The first pixel.
    pub x0: u32,
    /// One past the last pixel.
    pub x1: u32,
}

/// The pixels of a `width` x `height` picture whose centres lie inside the polygon `points`
/// (even-odd rule), row by row: what the camera blacks out for a mask and counts for a zone, at
/// whatever size it needs.
pub fn pixel_spans(points: &[Point], width: u32, height: u32) -> Vec<PixelSpan> {
    let scale = |p: &Point| {
        (
            f64::from(p.x) * f64::from(width) / f64::from(COORD_MAX),
            f64::from(p.y) * f64::from(height) / f64::from(COORD_MAX),
        )
    };
    let corners: Vec<(f64, f64)> = points.iter().map(scale).collect();
    let mut spans = vec![];
    let mut crossings = Vec::with_capacity(corners.len());
    for y in 0..height {
        let centre = f64::from(y) + 0.5;
        crossings.clear();
        for (&a, &b) in corners.iter().zip(corners.iter().cycle().skip(1)) {
            // Half-open in y, so a corner on the row is counted once.
            if (a.1 <= centre) != (b.1 <= centre) {
                crossings.push(a.0 + (centre - a.1) / (b.1 - a.1) * (b.0 - a.0));
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            let first = (pair[0] - 0.5).ceil().clamp(0.0, f64::from(width)) as u32;
            let end = (pair[1] - 0.5).ceil().clamp(0.0, f64::from(width)) as u32;
            if end > first {
                spans.push(PixelSpan {
                    y,
                    x0: first,
                    x1: end,
                });
            }
        }
    }
    spans
}

/// One motion event as the camera records it: from the first moment the motion persisted to
/// the last motion before a quiet period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When the motion began (UTC).
    pub start: UnixMillis,
    /// When the last motion was seen (UTC).
    pub end: UnixMillis,
    /// The zones the motion was in, by name, in the order of the settings; empty when the
    /// camera has no zones (the whole picture counts).
    pub zones: Vec<String>,
    /// The largest moving area seen during the event, in ten-thousandths of the picture.
    pub peak_score: u16,
    /// Whether the camera keeps a thumbnail (a small JPEG of the picture as it began).
    pub thumbnail: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, points: Vec<Point>) -> MotionZone {
        MotionZone {
            name: name.into(),
            points,
        }
    }

    #[test]
    fn the_defaults_are_valid_and_fill_missing_fields() {
        MotionSettings::default().validate().unwrap();
        let parsed: MotionSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, MotionSettings::default());
    }

    #[test]
    fn a_point_outside_the_picture_is_refused_by_zone_and_place() {
        let mut points = rectangle(0, 0, 5000, 5000);
        points[2] = Point::new(12_000, 50);
        let settings = MotionSettings {
            zones: vec![zone("door", points)],
            ..MotionSettings::default()
        };
        let error = settings.validate().unwrap_err();
        assert_eq!(
            error.to_string(),
            "zone \"door\": point 2 (12000, 50) is outside the picture (0 to 10000 each way)"
        );
    }

    #[test]
    fn counts_names_and_shapes_are_bounded() {
        let square = rectangle(1000, 1000, 2000, 2000);
        let too_many = MotionSettings {
            zones: (0..=MAX_ZONES)
                .map(|i| zone(&format!("z{i}"), square.clone()))
                .collect(),
            ..MotionSettings::default()
        };
        assert!(matches!(
            too_many.validate(),
            Err(SettingsError::TooMany { what: "zones", .. })
        ));
        let many_points = MotionSettings {
            masks: vec![PrivacyMask {
                points: vec![Point::new(1, 1); MAX_POINTS + 1],
            }],
            ..MotionSettings::default()
        };
        assert_eq!(
            many_points.validate().unwrap_err().to_string(),
            "mask 0: 17 points (a shape has 3 to 16)"
        );
        let line = MotionSettings {
            masks: vec![PrivacyMask {
                points: vec![Point::new(0, 0), Point::new(10, 10), Point::new(20, 20)],
            }],
            ..MotionSettings::default()
        };
        assert_eq!(line.validate(), Err(SettingsError::NoArea("mask 0".into())));
        for name in ["", " padded", &"x".repeat(MAX_NAME_CHARS + 1), "a\nb"] {
            let bad = MotionSettings {
                zones: vec![zone(name, square.clone())],
                ..MotionSettings::default()
            };
            assert!(
                matches!(bad.validate(), Err(SettingsError::BadName { index: 0, .. })),
                "{name:?}"
            );
        }
        let twice = MotionSettings {
            zones: vec![zone("a", square.clone()), zone("a", square)],
            ..MotionSettings::default()
        };
        assert_eq!(
            twice.validate(),
            Err(SettingsError::DuplicateName("a".into()))
        );
        for (sensitivity, min_area) in [(0, 100), (101, 100), (50, 0), (50, 10_001)] {
            let bad = MotionSettings {
                sensitivity,
                min_area,
                ..MotionSettings::default()
            };
            assert!(bad.validate().is_err(), "{sensitivity} {min_area}");
        }
    }

    #[test]
    fn a_rectangle_covers_the_pixels_whose_centres_it_holds() {
        // The left half of a 10x4 picture, rows 1 and 2.
        let spans = pixel_spans(&rectangle(0, 2500, 5000, 7500), 10, 4);
        assert_eq!(
            spans,
            [
                PixelSpan { y: 1, x0: 0, x1: 5 },
                PixelSpan { y: 2, x0: 0, x1: 5 }
            ]
        );
        let whole = pixel_spans(&rectangle(0, 0, COORD_MAX, COORD_MAX), 7, 3);
        assert_eq!(whole.len(), 3);
        assert!(whole.iter().all(|s| s.x0 == 0 && s.x1 == 7));
        // A triangle: fewer pixels on its narrow rows.
        let triangle = [
            Point::new(0, 0),
            Point::new(10_000, 10_000),
            Point::new(0, 10_000),
        ];
        let widths: Vec<u32> = pixel_spans(&triangle, 4, 4)
            .iter()
            .map(|s| s.x1 - s.x0)
            .collect();
        assert_eq!(widths, [1, 2, 3], "a centre on the edge is outside");
    }
}
