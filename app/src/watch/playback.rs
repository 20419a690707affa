//! Playing a recording: the camera's fragmented MP4 appended, as it comes over the `history`
//! channel, to a Media Source Extensions buffer behind the `<video class="playback">`. The
//! decisions (which gap to jump, what to ask for next, what to forget) are pure functions, so
//! they are tested without a browser.

use mumu_shared::UnixMillis;
use mumu_shared::history::{Playing, Span, StreamId};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{HtmlVideoElement, MediaSource, SourceBuffer, TimeRanges};

/// Recorded time the camera is asked to have sent ahead of the picture, at 1× (× the speed):
/// below `AHEAD_LOW` a `more` asks up to `AHEAD_HIGH`.
pub const AHEAD_LOW_MS: i64 = 20_000;
/// See [`AHEAD_LOW_MS`].
pub const AHEAD_HIGH_MS: i64 = 30_000;

/// Playback within this many seconds of a buffered range's end has reached it.
const AT_END_S: f64 = 0.3;

/// Media bytes waiting for the SourceBuffer at most (it takes them as fast as they come: more
/// means the browser stopped taking them).
const MAX_PENDING: usize = 32 * 1024 * 1024;

/// Where to jump when playback at `t` (seconds) has reached the end of its buffered range, or
/// stands in a hole between two, and a later range exists: that range's start. `ranges` are
/// the buffer's, in order.
pub fn gap_jump(ranges: &[(f64, f64)], t: f64) -> Option<f64> {
    if ranges.iter().any(|&(s, e)| s <= t && t < e - AT_END_S) {
        return None;
    }
    ranges.iter().map(|&(s, _)| s).find(|&s| s > t)
}

/// The wall-clock time by which `ms` of recording after `from` has passed, stepping over the
/// gaps between `spans` (oldest first). Time after the last span counts as recorded: the
/// camera records on.
pub fn until_after(spans: &[Span], from: UnixMillis, ms: i64) -> UnixMillis {
    let (mut t, mut left) = (from, ms);
    for span in spans.iter().filter(|s| s.end > from) {
        t = t.max(span.start);
        if span.end - t >= left {
            return t + left;
        }
        left -= span.end - t;
        t = span.end;
    }
    t + left
}

/// What to remove from a buffer starting at `first` (seconds) while playing at `t`: all
/// before a minute behind, once that is 75 s (not on every frame).
pub fn trim_before(first: f64, t: f64) -> Option<f64> {
    (t - first > 75.0).then_some(t - 60.0)
}

/// Why this browser cannot play recordings of `mime`, when it cannot.
pub fn cannot_play(mime: &str) -> Option<&'static str> {
    let has_mse = js_sys::Reflect::get(&js_sys::global(), &"MediaSource".into())
        .is_ok_and(|m| m.is_function());
    if !has_mse {
        Some(
            "This browser cannot play recordings: it has no Media Source Extensions. Live video \
             and export still work.",
        )
    } else if !MediaSource::is_type_supported(mime) {
        Some(
            "This browser cannot play recordings: it cannot decode their video (H.264 in MP4). \
             Live video and export still work.",
        )
    } else {
        None
    }
}

fn ranges_of(buffered: Option<TimeRanges>) -> Vec<(f64, f64)> {
    let Some(b) = buffered else { return Vec::new() };
    (0..b.length())
        .filter_map(|i| Some((b.start(i).ok()?, b.end(i).ok()?)))
        .collect()
}

/// What [`Playback::tick`] found.
pub enum Tick {
    /// Nothing to do.
    Fine,
    /// Ask the camera to send on up to this time.
    More(UnixMillis),
    /// The picture reached the end of all the camera will send.
    Done,
}

/// The MediaSource side of a playback, shared with its event handlers.
struct Media {
    video: HtmlVideoElement,
    buffer: Option<SourceBuffer>,
    /// Bytes come faster than an append finishes: they wait here and go in one append.
    pending: Vec<u8>,
    /// Where to put the picture once the first bytes are in (seconds).
    seek_to: Option<f64>,
    /// Whether to play from there (or stay paused).
    play: bool,
    url: String,
}

impl Media {
    fn flush(&mut self) {
        let Some(buffer) = &self.buffer else { return };
        if buffer.updating() {
            return;
        }
        if !self.pending.is_empty() {
            match buffer.append_buffer_with_u8_array(&mut self.pending) {
                Ok(()) => self.pending.clear(),
                // Full (QuotaExceededError): forget what was seen; the bytes go in after.
                Err(_) => {
                    let t = self.video.current_time();
                    let _ = buffer.remove(0.0, (t - 5.0).max(0.0));
                }
            }
        }
        // Once the first media is in, the picture goes where it was asked for.
        if self.seek_to.is_some() && buffer.buffered().is_ok_and(|b| b.length() > 0) {
            self.video
                .set_current_time(self.seek_to.take().unwrap_or_default());
            // Paused on purpose also keeps `autoplay` from starting it.
            if self.play {
                let _ = self.video.play();
            } else {
                let _ = self.video.pause();
            }
        }
    }
}

/// One playback: a stream the camera sends from `at`, into its own MediaSource (each has its
/// own `origin`, so a seek outside what is buffered is a new one).
pub struct Playback {
    /// The stream's id on the channel.
    pub stream: StreamId,
    /// The time asked for.
    pub at: UnixMillis,
    /// How far the camera was asked to send.
    pub requested: UnixMillis,
    /// The camera sent everything up to the newest recorded frame (`live_edge`).
    pub ended: bool,
    origin: Option<UnixMillis>,
    media: Option<Rc<RefCell<Media>>>,
    _callbacks: Vec<Closure<dyn FnMut()>>,
}

impl Playback {
    /// A playback asked for, waiting for `playing`.
    pub fn new(stream: StreamId, at: UnixMillis, requested: UnixMillis) -> Self {
        Self {
            stream,
            at,
            requested,
            ended: false,
            origin: None,
            media: None,
            _callbacks: Vec::new(),
        }
    }

    /// The camera said what it sends: a MediaSource for it, behind `video`, playing once the
    /// first bytes are in unless `paused`.
    pub fn start(
        &mut self,
        video: &HtmlVideoElement,
        playing: &Playing,
        paused: bool,
    ) -> Result<(), String> {
        if let Some(why) = cannot_play(&playing.mime) {
            return Err(why.into());
        }
        let failed = |e: wasm_bindgen::JsValue| {
            crate::api::js_error_text(&e, "the browser refused the recording")
        };
        let source = MediaSource::new().map_err(failed)?;
        // (The same call as for a Blob: one import for both.)
        let url =
            web_sys::Url::create_object_url_with_blob(source.unchecked_ref()).map_err(failed)?;
        let media = Rc::new(RefCell::new(Media {
            video: video.clone(),
            buffer: None,
            pending: Vec::new(),
            seek_to: Some((self.at.max(playing.start) - playing.origin) as f64 / 1000.0),
            play: !paused,
            url: url.clone(),
        }));
        let weak = Rc::downgrade(&media);
        let on_update = Closure::<dyn FnMut()>::new(move || {
            if let Some(media) = weak.upgrade() {
                media.borrow_mut().flush();
            }
        });
        let weak = Rc::downgrade(&media);
        let opened = source.clone();
        let mime = playing.mime.clone();
        let update = on_update.as_ref().clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            let Some(media) = weak.upgrade() else { return };
            if let Ok(buffer) = opened.add_source_buffer(&mime) {
                buffer.set_onupdateend(Some(update.unchecked_ref()));
                let mut m = media.borrow_mut();
                m.buffer = Some(buffer);
                m.flush();
            }
        });
        source.set_onsourceopen(Some(on_open.as_ref().unchecked_ref()));
        video.set_src(&url);
        self.origin = Some(playing.origin);
        self.media = Some(media);
        self._callbacks = vec![on_update, on_open];
        Ok(())
    }

    /// The stream's next bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        let Some(media) = &self.media else {
            return Ok(());
        };
        let mut m = media.borrow_mut();
        if m.pending.len() + bytes.len() > MAX_PENDING {
            return Err("This browser stopped taking the recording's video.");
        }
        m.pending.extend_from_slice(bytes);
        m.flush();
        Ok(())
    }

    /// The buffer's ranges, in seconds of media time.
    fn ranges(&self) -> Vec<(f64, f64)> {
        let buffered = self.media.as_ref().and_then(|m| {
            let m = m.borrow();
            m.buffer.as_ref().and_then(|b| b.buffered().ok())
        });
        ranges_of(buffered)
    }

    /// The wall-clock time of the picture shown.
    pub fn shown(&self, video: &HtmlVideoElement) -> Option<UnixMillis> {
        let origin = self.origin?;
        let seeking = self.media.as_ref()?.borrow().seek_to;
        let t = seeking.unwrap_or_else(|| video.current_time());
        Some(origin + (t * 1000.0) as i64)
    }

    /// Puts the picture at `at` if it is buffered already; `false` if the camera must send it.
    pub fn seek_within(&self, video: &HtmlVideoElement, at: UnixMillis) -> bool {
        let Some(origin) = self.origin else {
            return false;
        };
        let t = (at - origin) as f64 / 1000.0;
        let inside = self.ranges().iter().any(|&(s, e)| s <= t && t < e);
        if inside {
            video.set_current_time(t);
        }
        inside
    }

    /// Called as the picture moves: jumps a gap, forgets what is long past, and says whether
    /// to ask the camera for more (the picture came near what was asked).
    pub fn tick(&mut self, video: &HtmlVideoElement, spans: &[Span], speed: f64) -> Tick {
        let (Some(media), Some(shown)) = (self.media.clone(), self.shown(video)) else {
            return Tick::Fine;
        };
        // Until the picture is put where it was asked for, there is nothing to decide.
        if media.borrow().seek_to.is_some() {
            return Tick::Fine;
        }
        let ranges = self.ranges();
        let t = video.current_time();
        if let Some(next) = gap_jump(&ranges, t) {
            video.set_current_time(next);
        } else if self.ended && ranges.last().is_some_and(|&(_, end)| t >= end - AT_END_S) {
            return Tick::Done;
        }
        if let (Some(&(first, _)), Some(buffer)) = (ranges.first(), &media.borrow().buffer)
            && let Some(before) = trim_before(first, t)
            && !buffer.updating()
        {
            let _ = buffer.remove(0.0, before);
        }
        let ahead = |ms: i64| until_after(spans, shown, (ms as f64 * speed) as i64);
        if self.ended || ahead(AHEAD_LOW_MS) <= self.requested {
            return Tick::Fine;
        }
        self.requested = ahead(AHEAD_HIGH_MS);
        Tick::More(self.requested)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        if let Some(media) = &self.media {
            let _ = web_sys::Url::revoke_object_url(&media.borrow().url);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_jumps_a_gap_only_at_its_edge() {
        let ranges = [(0.0, 10.0), (70.0, 90.0)];
        assert_eq!(gap_jump(&ranges, 5.0), None, "inside a range");
        assert_eq!(gap_jump(&ranges, 9.8), Some(70.0), "at the end of one");
        assert_eq!(gap_jump(&ranges, 30.0), Some(70.0), "in the gap");
        assert_eq!(gap_jump(&ranges, 89.9), None, "at the end of the last");
        assert_eq!(gap_jump(&[], 0.0), None, "nothing buffered yet");
    }

    #[test]
    fn asking_ahead_steps_over_gaps() {
        let spans = [
            Span {
                start: 0,
                end: 10_000,
            },
            Span {
                start: 70_000,
                end: 90_000,
            },
        ];
        assert_eq!(until_after(&spans, 2_000, 5_000), 7_000);
        assert_eq!(
            until_after(&spans, 2_000, 20_000),
            82_000,
            "8 s before the gap, 12 s after it"
        );
        assert_eq!(until_after(&spans, 30_000, 5_000), 75_000, "from a gap");
        assert_eq!(
            until_after(&spans, 85_000, 30_000),
            115_000,
            "past the last span the camera records on"
        );
        assert_eq!(until_after(&[], 1_000, 30_000), 31_000);
    }

    #[test]
    fn what_is_long_past_is_forgotten() {
        assert_eq!(trim_before(0.0, 60.0), None);
        assert_eq!(trim_before(0.0, 80.0), Some(20.0));
        assert_eq!(trim_before(100.0, 170.0), None);
    }
}
