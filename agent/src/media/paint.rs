//! What is painted into every raw frame before anything sees it: the privacy masks (black),
//! and in the simulator an object that crosses the picture now and then.
//!
//! A buffer probe on the raw frames just before the raw tee paints in place, in plain Rust: the
//! encoder, and so every live viewer and the recording, and the motion detector with its
//! thumbnails, only ever get the painted frame. A frame with nothing to paint is passed as it
//! is (no copy). Masks can change while the camera runs ([`Painter::set_masks`]); the pixel
//! spans are worked out again at the next frame.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use mumu_shared::events::{PixelSpan, Point, PrivacyMask, pixel_spans};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Black in limited-range YUV.
const BLACK_Y: u8 = 16;
const NEUTRAL_UV: u8 = 128;

/// The simulator's crossing object: every `every`, a square a fifth of the picture's height
/// crosses it from left to right, a little below the middle, in `crossing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossingObject {
    /// From the start of one crossing to the next.
    pub every: Duration,
    /// How long a crossing takes.
    pub crossing: Duration,
}

impl CrossingObject {
    /// An object crossing every `every`, in 1.5 s (or half of `every`, if that is shorter).
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            crossing: Duration::from_millis(1_500).min(every / 2),
        }
    }

    /// Where the square is at `at` in the stream, in a `width` x `height` picture: its
    /// top-left corner and side; `None` between crossings.
    pub fn place(&self, at: Duration, width: u32, height: u32) -> Option<(i64, i64, i64)> {
        let every = self.every.as_nanos().max(1);
        let into = at.as_nanos() % every;
        let crossing = self.crossing.as_nanos().max(1);
        if into >= crossing {
            return None;
        }
        let side = i64::from(height / 5).max(2);
        let travel = i64::from(width) + side;
        let x = (into * travel as u128 / crossing) as i64 - side;
        let y = i64::from(height) * 55 / 100 - side / 2;
        Some((x, y, side))
    }
}

/// The masks, the object, and the spans worked out for the current picture size.
#[derive(Debug, Default)]
pub struct Painter {
    masks: Mutex<Arc<Vec<Vec<Point>>>>,
    /// Bumped at each change of masks, so that the streaming thread works out its spans again.
    version: AtomicU64,
    object: Option<CrossingObject>,
}

impl Painter {
    /// A painter with no mask; with `object`, the simulator's crossing object.
    pub fn new(object: Option<CrossingObject>) -> Self {
        Self {
            object,
            ..Self::default()
        }
    }

    /// From the next frame on, blacks out `masks` (validated by the caller).
    pub fn set_masks(&self, masks: &[PrivacyMask]) {
        let shapes: Vec<Vec<Point>> = masks.iter().map(|m| m.points.clone()).collect();
        *self.masks.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(shapes);
        self.version.fetch_add(1, Ordering::Release);
    }

    fn masks(&self) -> Arc<Vec<Vec<Point>>> {
        self.masks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The spans of every mask, for one picture size and masks version.
struct Spans {
    version: u64,
    size: (u32, u32),
    luma: Vec<PixelSpan>,
    chroma: Vec<PixelSpan>,
}

/// What the streaming thread works out once per picture size and masks version.
#[derive(Default)]
struct Cache {
    info: Option<(gst::Caps, gst_video::VideoInfo)>,
    spans: Option<Spans>,
}

/// Paints every frame that passes `pad` (raw I420 or NV12) with `painter`.
pub fn install(pad: &gst::Pad, painter: Arc<Painter>) {
    // Only the streaming thread takes it: never contended.
    let cache = Mutex::new(Cache::default());
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, probe| {
        let version = painter.version.load(Ordering::Acquire);
        if version == 0 && painter.object.is_none() {
            return gst::PadProbeReturn::Ok;
        }
        let Some(caps) = pad.current_caps() else {
            return gst::PadProbeReturn::Ok;
        };
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        let Cache { info, spans } = &mut *cache;
        if info.as_ref().is_none_or(|(known, _)| *known != caps) {
            *info = gst_video::VideoInfo::from_caps(&caps)
                .ok()
                .map(|video| (caps.clone(), video));
        }
        let Some((_, video)) = info.as_ref() else {
            return gst::PadProbeReturn::Ok;
        };
        let size = (video.width(), video.height());
        if spans
            .as_ref()
            .is_none_or(|s| s.version != version || s.size != size)
        {
            *spans = Some(spans_for(&painter.masks(), version, size));
        }
        let (Some(spans), Some(buffer)) = (spans.as_ref(), probe.buffer_mut()) else {
            return gst::PadProbeReturn::Ok;
        };
        let at = buffer.pts().map(|t| Duration::from_nanos(t.nseconds()));
        let object = painter
            .object
            .zip(at)
            .and_then(|(object, at)| object.place(at, size.0, size.1));
        if spans.luma.is_empty() && object.is_none() {
            return gst::PadProbeReturn::Ok;
        }
        let buffer = buffer.make_mut();
        if let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, video) {
            paint(&mut frame, spans, object);
        }
        gst::PadProbeReturn::Ok
    });
}

fn spans_for(masks: &[Vec<Point>], version: u64, (width, height): (u32, u32)) -> Spans {
    let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
    Spans {
        version,
        size: (width, height),
        luma: masks
            .iter()
            .flat_map(|m| pixel_spans(m, width, height))
            .collect(),
        chroma: masks
            .iter()
            .flat_map(|m| pixel_spans(m, chroma_width, chroma_height))
            .collect(),
    }
}

/// A plane of a mapped frame: its bytes, bytes per row, and bytes per sample.
struct Plane<'a> {
    data: &'a mut [u8],
    stride: usize,
}

impl Plane<'_> {
    /// Sets samples `x0..x1` of row `y` (each `step` bytes apart, from byte `offset`) to `value`.
    fn fill(&mut self, y: usize, (x0, x1): (usize, usize), step: usize, offset: usize, value: u8) {
        let row = y * self.stride;
        for x in x0..x1 {
            if let Some(sample) = self.data.get_mut(row + x * step + offset) {
                *sample = value;
            }
        }
    }
}

fn paint(
    frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    spans: &Spans,
    object: Option<(i64, i64, i64)>,
) {
    let format = frame.format();
    let (width, height) = (frame.width() as i64, frame.height() as i64);
    let strides: Vec<usize> = frame
        .plane_stride()
        .iter()
        .map(|&s| s.max(0) as usize)
        .collect();
    // The crossing object, as whole rows of luma: bright where the picture is dark and dark
    // where it is bright, so it stands out on any background; its colour is taken out.
    let object_rows = object.map(|(x, y, side)| {
        let (x0, x1) = (
            x.clamp(0, width) as usize,
            (x + side).clamp(0, width) as usize,
        );
        let (y0, y1) = (
            y.clamp(0, height) as usize,
            (y + side).clamp(0, height) as usize,
        );
        ((x0, x1), (y0, y1))
    });
    if let Ok(data) = frame.plane_data_mut(0) {
        let mut luma = Plane {
            data,
            stride: strides[0],
        };
        if let Some(((x0, x1), (y0, y1))) = object_rows {
            for y in y0..y1 {
                let row = y * luma.stride;
                for sample in luma.data.iter_mut().take(row + x1).skip(row + x0) {
                    *sample = if *sample < 128 { 235 } else { 16 };
                }
            }
        }
        for span in &spans.luma {
            luma.fill(
                span.y as usize,
                (span.x0 as usize, span.x1 as usize),
                1,
                0,
                BLACK_Y,
            );
        }
    }
    let chroma_rows = object_rows
        .map(|((x0, x1), (y0, y1))| ((x0 / 2, x1.div_ceil(2)), (y0 / 2, y1.div_ceil(2))));
    let chroma_planes: &[(u32, usize, usize)] = match format {
        gst_video::VideoFormat::I420 => &[(1, 1, 0), (2, 1, 0)],
        gst_video::VideoFormat::Nv12 => &[(1, 2, 0), (1, 2, 1)],
        _ => &[],
    };
    for &(index, step, offset) in chroma_planes {
        let Some(&stride) = strides.get(index as usize) else {
            continue;
        };
        let Ok(data) = frame.plane_data_mut(index) else {
            continue;
        };
        let mut plane = Plane { data, stride };
        if let Some(((x0, x1), (y0, y1))) = chroma_rows {
            for y in y0..y1 {
                plane.fill(y, (x0, x1), step, offset, NEUTRAL_UV);
            }
        }
        for span in &spans.chroma {
            plane.fill(
                span.y as usize,
                (span.x0 as usize, span.x1 as usize),
                step,
                offset,
                NEUTRAL_UV,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mumu_shared::events::rectangle;

    #[test]
    fn the_object_crosses_once_per_period_and_is_gone_between() {
        let object = CrossingObject::every(Duration::from_secs(5));
        assert_eq!(object.crossing, Duration::from_millis(1_500));
        let (x0, _, side) = object.place(Duration::ZERO, 1280, 720).unwrap();
        assert_eq!((x0, side), (-144, 144));
        let (x_mid, ..) = object.place(Duration::from_millis(750), 1280, 720).unwrap();
        assert!((500..700).contains(&x_mid), "{x_mid}");
        assert_eq!(object.place(Duration::from_secs(2), 1280, 720), None);
        assert!(
            object
                .place(Duration::from_millis(5_100), 1280, 720)
                .is_some()
        );
        let short = CrossingObject::every(Duration::from_secs(1));
        assert_eq!(short.crossing, Duration::from_millis(500));
    }

    #[test]
    fn a_mask_blacks_out_its_pixels_in_every_plane() {
        crate::media::init_for_tests();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 8, 4)
            .build()
            .unwrap();
        let mut buffer = gst::Buffer::with_size(info.size()).unwrap();
        buffer.get_mut().unwrap().map_writable().unwrap().fill(200);
        let painter = Painter::new(None);
        painter.set_masks(&[PrivacyMask {
            points: rectangle(0, 0, 5000, 5000),
        }]);
        let spans = spans_for(&painter.masks(), 1, (8, 4));
        {
            let buffer = buffer.get_mut().unwrap();
            let mut frame =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &info).unwrap();
            paint(&mut frame, &spans, None);
        }
        let frame = gst_video::VideoFrame::from_buffer_readable(buffer, &info).unwrap();
        let luma = frame.plane_data(0).unwrap();
        let stride = frame.plane_stride()[0] as usize;
        for y in 0..4 {
            for x in 0..8 {
                let expected = if x < 4 && y < 2 { BLACK_Y } else { 200 };
                assert_eq!(luma[y * stride + x], expected, "({x}, {y})");
            }
        }
        let u = frame.plane_data(1).unwrap();
        assert_eq!((u[0], u[1], u[2]), (NEUTRAL_UV, NEUTRAL_UV, 200));
    }
}
