//! How much of each zone moves in one picture, against a slowly updated background.
//!
//! A pixel moves when it differs both from the background (a running average, so what stays
//! becomes background within seconds) and from the previous picture (so what changed once and
//! then stays, such as the simulator's clock digits, moves for one picture only, which the
//! event tracker ignores). Both differences are taken after removing their median over the
//! picture, so light that changes everywhere at once (a cloud, the camera's exposure) moves
//! nothing. Single moving pixels are noise: a cell of 4x4 pixels moves only when a third of
//! its pixels do, and a zone's score is the area of its moving cells, in ten-thousandths of
//! the picture. Masked pixels (privacy masks) are ignored.

use super::picture::GreyPicture;
use mumu_shared::events::{COORD_MAX, MotionSettings, Point, pixel_spans};

/// Cells are this many pixels each way.
const CELL: usize = 4;

/// The background moves 1/2^this of the way to each new picture: at 5 pictures a second,
/// what stays still is background after about 3 s.
const BACKGROUND_SHIFT: u32 = 4;

/// Pictures after a start (or a new picture size) that only build the background.
const WARM_UP: u32 = 3;

/// The motion in one picture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Per zone, in the settings' order (one, the whole picture, without zones): the moving
    /// area in ten-thousandths of the picture.
    pub zones: Vec<u16>,
}

impl Score {
    /// The largest zone's moving area.
    pub fn peak(&self) -> u16 {
        self.zones.iter().copied().max().unwrap_or(0)
    }
}

/// Where on the detector's picture each zone and mask lies, for one picture size.
#[derive(Debug)]
struct Layout {
    width: usize,
    height: usize,
    /// Per pixel: one bit per zone it is in (0: in no zone, or masked).
    zone_bits: Vec<u8>,
    /// Per pixel: not masked.
    watched: Vec<bool>,
    zones: usize,
}

impl Layout {
    fn new(settings: &MotionSettings, width: usize, height: usize) -> Self {
        let (w, h) = (width as u32, height as u32);
        let mut watched = vec![true; width * height];
        for mask in &settings.masks {
            for span in pixel_spans(&mask.points, w, h) {
                let row = span.y as usize * width;
                watched[row + span.x0 as usize..row + span.x1 as usize].fill(false);
            }
        }
        let whole = mumu_shared::events::rectangle(0, 0, COORD_MAX, COORD_MAX);
        let shapes: Vec<&[Point]> = if settings.zones.is_empty() {
            vec![whole.as_slice()]
        } else {
            settings.zones.iter().map(|z| z.points.as_slice()).collect()
        };
        let mut zone_bits = vec![0u8; width * height];
        for (index, points) in shapes.iter().enumerate() {
            for span in pixel_spans(points, w, h) {
                let row = span.y as usize * width;
                for bits in &mut zone_bits[row + span.x0 as usize..row + span.x1 as usize] {
                    *bits |= 1 << index;
                }
            }
        }
        for (bits, watched) in zone_bits.iter_mut().zip(&watched) {
            if !watched {
                *bits = 0;
            }
        }
        Self {
            width,
            height,
            zone_bits,
            watched,
            zones: shapes.len(),
        }
    }
}

/// The detector's state: its settings, the background, and the previous picture.
#[derive(Debug)]
pub struct Detector {
    settings: MotionSettings,
    layout: Option<Layout>,
    /// The background, in 1/256 of a grey level.
    background: Vec<u32>,
    previous: Vec<u8>,
    warming: u32,
}

impl Detector {
    /// A detector with `settings` (validated by the caller).
    pub fn new(settings: MotionSettings) -> Self {
        Self {
            settings,
            layout: None,
            background: vec![],
            previous: vec![],
            warming: WARM_UP,
        }
    }

    /// New settings from the next picture on; the background stays.
    pub fn set_settings(&mut self, settings: MotionSettings) {
        self.settings = settings;
        self.layout = None;
    }

    /// The settings in force.
    pub fn settings(&self) -> &MotionSettings {
        &self.settings
    }

    /// How many grey levels a pixel must differ by to move.
    fn threshold(&self) -> i32 {
        let sensitivity = i32::from(self.settings.sensitivity.clamp(1, 100));
        6 + (100 - sensitivity) * 34 / 99
    }

    /// Looks at the next picture: how much of each zone moves.
    pub fn score(&mut self, picture: &GreyPicture) -> Score {
        let (width, height) = (picture.width(), picture.height());
        if self
            .layout
            .as_ref()
            .is_none_or(|l| (l.width, l.height) != (width, height))
        {
            if self.previous.len() != width * height {
                self.background = picture
                    .pixels()
                    .iter()
                    .map(|&p| u32::from(p) << 8)
                    .collect();
                self.previous = picture.pixels().to_vec();
                self.warming = WARM_UP;
            }
            self.layout = Some(Layout::new(&self.settings, width, height));
        }
        let Some(layout) = self.layout.as_ref() else {
            return Score::default();
        };
        let pixels = picture.pixels();
        let background_shift = median_difference(pixels, &layout.watched, |i| {
            ((self.background[i] + 128) >> 8) as i32
        });
        let previous_shift =
            median_difference(pixels, &layout.watched, |i| i32::from(self.previous[i]));
        let threshold = self.threshold();
        let mut moving = vec![false; pixels.len()];
        for (i, &p) in pixels.iter().enumerate() {
            if layout.zone_bits[i] == 0 {
                continue;
            }
            let p = i32::from(p);
            let from_background = p - ((self.background[i] + 128) >> 8) as i32 - background_shift;
            let from_previous = p - i32::from(self.previous[i]) - previous_shift;
            moving[i] = from_background.abs() > threshold && from_previous.abs() > threshold / 2;
        }
        let mut zones = vec![0u64; layout.zones];
        let mut in_cell = vec![0usize; layout.zones];
        let mut moving_in_cell = vec![0usize; layout.zones];
        for cell_y in (0..height).step_by(CELL) {
            for cell_x in (0..width).step_by(CELL) {
                in_cell.fill(0);
                moving_in_cell.fill(0);
                for y in cell_y..(cell_y + CELL).min(height) {
                    for x in cell_x..(cell_x + CELL).min(width) {
                        let i = y * width + x;
                        let bits = layout.zone_bits[i];
                        if bits == 0 {
                            continue;
                        }
                        let counts = in_cell.iter_mut().zip(moving_in_cell.iter_mut());
                        for (zone, (all, moved)) in counts.enumerate() {
                            if bits & (1 << zone) != 0 {
                                *all += 1;
                                *moved += usize::from(moving[i]);
                            }
                        }
                    }
                }
                for ((area, &all), &moved) in zones.iter_mut().zip(&in_cell).zip(&moving_in_cell) {
                    if moved >= 2 && moved * 3 >= all {
                        *area += all as u64;
                    }
                }
            }
        }
        // The background follows the picture; the previous picture is this one.
        for (i, &p) in pixels.iter().enumerate() {
            let target = u32::from(p) << 8;
            let current = self.background[i];
            self.background[i] = if target >= current {
                current + ((target - current) >> BACKGROUND_SHIFT)
            } else {
                current - ((current - target) >> BACKGROUND_SHIFT)
            };
        }
        self.previous.copy_from_slice(pixels);
        if self.warming > 0 {
            self.warming -= 1;
            return Score {
                zones: vec![0; layout.zones],
            };
        }
        let area = (width * height) as u64;
        Score {
            zones: zones
                .into_iter()
                .map(|moved| (moved * u64::from(COORD_MAX) / area) as u16)
                .collect(),
        }
    }
}

/// The median of `picture - reference` over the watched pixels: how much the whole picture's
/// light changed.
fn median_difference(picture: &[u8], watched: &[bool], reference: impl Fn(usize) -> i32) -> i32 {
    let mut histogram = [0u32; 511];
    let mut count = 0u32;
    for (i, (&p, &watched)) in picture.iter().zip(watched).enumerate() {
        if watched {
            let difference = i32::from(p) - reference(i);
            histogram[(difference + 255).clamp(0, 510) as usize] += 1;
            count += 1;
        }
    }
    let mut seen = 0;
    for (bin, &n) in histogram.iter().enumerate() {
        seen += n;
        if seen * 2 > count {
            return bin as i32 - 255;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use mumu_shared::events::{MotionZone, PrivacyMask, rectangle};

    const W: usize = 160;
    const H: usize = 90;

    /// A still scene with some structure: vertical bars of several greys.
    fn scene() -> GreyPicture {
        let mut picture = GreyPicture::filled(W, H, 0);
        for (i, level) in [190u8, 170, 150, 120, 90, 60, 30].iter().enumerate() {
            picture.fill_rect((i * W / 7, 0), ((i + 1) * W / 7 + 1, H), *level);
        }
        picture
    }

    /// A deterministic noise source (xorshift), so that the tests are repeatable.
    struct Noise(u64);

    impl Noise {
        /// A value in `-amplitude..=amplitude`, roughly bell-shaped (the sum of three).
        fn next(&mut self, amplitude: i32) -> i32 {
            let mut sum = 0;
            for _ in 0..3 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                sum += (self.0 % (2 * amplitude as u64 + 1)) as i32 - amplitude;
            }
            sum / 3
        }

        fn add_to(&mut self, picture: &mut GreyPicture, amplitude: i32) {
            for p in picture.pixels_mut() {
                *p = (i32::from(*p) + self.next(amplitude)).clamp(0, 255) as u8;
            }
        }
    }

    fn brighter(picture: &GreyPicture, by: i32) -> GreyPicture {
        let mut out = picture.clone();
        for p in out.pixels_mut() {
            *p = (i32::from(*p) + by).clamp(0, 255) as u8;
        }
        out
    }

    #[test]
    fn a_still_noisy_picture_moves_nothing() {
        let mut detector = Detector::new(MotionSettings {
            sensitivity: 100,
            ..MotionSettings::default()
        });
        let mut noise = Noise(7);
        for _ in 0..200 {
            let mut picture = scene();
            noise.add_to(&mut picture, 6);
            assert_eq!(detector.score(&picture).peak(), 0);
        }
    }

    #[test]
    fn a_block_moving_across_moves_the_zone_it_is_in() {
        let mut detector = Detector::new(MotionSettings::default());
        for _ in 0..5 {
            detector.score(&scene());
        }
        let mut picture = scene();
        picture.fill_rect((40, 30), (60, 50), 250);
        let score = detector.score(&picture);
        // 20x20 pixels of 160x90 are 278 ten-thousandths; the cells round it.
        assert!((200..=400).contains(&score.peak()), "{score:?}");
    }

    #[test]
    fn a_zone_or_a_mask_away_from_the_block_sees_nothing() {
        let settings = MotionSettings {
            zones: vec![
                MotionZone {
                    name: "left".into(),
                    points: rectangle(0, 0, 5000, COORD_MAX),
                },
                MotionZone {
                    name: "right".into(),
                    points: rectangle(5000, 0, COORD_MAX, COORD_MAX),
                },
            ],
            masks: vec![PrivacyMask {
                points: rectangle(0, 0, 3000, COORD_MAX),
            }],
            ..MotionSettings::default()
        };
        let mut detector = Detector::new(settings);
        for _ in 0..5 {
            detector.score(&scene());
        }
        // In the left zone but under the mask: nothing.
        let mut masked = scene();
        masked.fill_rect((10, 30), (30, 50), 250);
        assert_eq!(detector.score(&masked).zones, [0, 0]);
        // In the left zone outside the mask: the left zone only.
        let mut seen = scene();
        seen.fill_rect((55, 30), (75, 50), 250);
        let score = detector.score(&seen);
        assert!(score.zones[0] > 200 && score.zones[1] == 0, "{score:?}");
    }

    #[test]
    fn light_that_changes_everywhere_moves_nothing() {
        let mut detector = Detector::new(MotionSettings::default());
        let mut noise = Noise(3);
        // A slow dusk: 25 levels over 30 s at 5 pictures a second; then a lamp switched on.
        for step in 0..150 {
            let mut picture = brighter(&scene(), -(step * 25 / 150));
            noise.add_to(&mut picture, 4);
            assert_eq!(detector.score(&picture).peak(), 0, "step {step}");
        }
        let lamp = brighter(&scene(), -25 + 40);
        assert_eq!(detector.score(&lamp).peak(), 0);
    }
}
