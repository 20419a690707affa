//! A recording camera's history under its live picture: the timeline (recorded spans, gaps,
//! the live edge at the right), the player's buttons, and export, drawn by [`Panel`]. The
//! channel work is [`crate::watch::history`]; the pure arithmetic of the timeline is here and
//! tested.

use crate::format;
use crate::watch::history::{Access, ExportState, HistoryUi, access_sentence};
use mumu_shared::UnixMillis;
use mumu_shared::history::Span;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The widths the timeline zooms through, narrowest first; one step past the last shows the
/// whole history.
const ZOOMS: [i64; 5] = [5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY];

/// A time this close to now is live.
const LIVE_WITHIN_MS: i64 = 3_000;

/// The width of zoom step `zoom`: the whole history (at least a day) past the last.
pub fn width(zoom: usize, now: UnixMillis, oldest: Option<UnixMillis>) -> i64 {
    ZOOMS
        .get(zoom)
        .copied()
        .unwrap_or_else(|| oldest.map_or(DAY, |o| (now - o).max(DAY)))
}

/// The range shown: ending now while live; else holding the picture's time `at` in its second
/// quarter, moving by quarters rather than on every frame, and never past now.
pub fn window(now: UnixMillis, at: Option<UnixMillis>, width: i64) -> (UnixMillis, UnixMillis) {
    let end = at.map_or(now, |at| {
        let q = (width / 4).max(1);
        ((at.div_euclid(q) + 3) * q).min(now)
    });
    (end - width, end)
}

/// Where `t` is across the range, from 0 to 1.
pub fn fraction((start, end): (UnixMillis, UnixMillis), t: UnixMillis) -> f64 {
    ((t - start) as f64 / (end - start).max(1) as f64).clamp(0.0, 1.0)
}

/// The time at `fraction` (0 to 1) across the range.
pub fn time_at((start, end): (UnixMillis, UnixMillis), fraction: f64) -> UnixMillis {
    start + ((end - start) as f64 * fraction.clamp(0.0, 1.0)) as i64
}

/// The spans in the range as bars, (left, width) in percent; a span ending in the last
/// 90 s reaches now while the camera records (the list is refreshed only every 30 s). A
/// sliver is drawn wide enough to see.
pub fn bars(
    spans: &[Span],
    recording: bool,
    now: UnixMillis,
    range: (UnixMillis, UnixMillis),
) -> Vec<(f64, f64)> {
    spans
        .iter()
        .filter_map(|span| {
            let end = if recording && span.end > now - 90_000 {
                now
            } else {
                span.end
            };
            let (left, right) = (fraction(range, span.start), fraction(range, end));
            (span.end > range.0 && span.start < range.1)
                .then(|| (left * 100.0, ((right - left) * 100.0).max(0.2)))
        })
        .collect()
}

/// The motion events in the range as marks, left in percent.
pub fn event_marks(starts: &[UnixMillis], range: (UnixMillis, UnixMillis)) -> Vec<f64> {
    starts
        .iter()
        .filter(|&&t| range.0 <= t && t <= range.1)
        .map(|&t| fraction(range, t) * 100.0)
        .collect()
}

/// Where to play when nothing is recorded at `asked`: the nearest span's start if it comes
/// later, else its last 10 s.
pub fn nearest_time(span: Span, asked: UnixMillis) -> UnixMillis {
    if span.start >= asked {
        span.start
    } else {
        (span.end - 10_000).max(span.start)
    }
}

fn percent(value: f64) -> String {
    format!("{}%", format::fixed(value, 3))
}

/// The browser's clock text for `ms`, in its own time zone ("2026-12-07 16:32:05"): the ISO
/// form of the time shifted by the zone's offset, from the browser rather than the WASM.
pub fn local_clock(ms: UnixMillis) -> String {
    let ms = ms as f64;
    let offset = js_sys::Date::new(&ms.into()).get_timezone_offset();
    let iso = String::from(js_sys::Date::new(&(ms - offset * 60_000.0).into()).to_iso_string());
    iso.get(..19).unwrap_or_default().replace('T', " ")
}

/// The panel's markup, made in the browser once it runs: written once and then changed in
/// place by [`Panel::draw`], rather than as a Leptos view (each reactive attribute of which
/// costs the WASM its own rendering code: the app's size has a budget).
const PANEL: &str = r#"<p class="history-message" role="status" hidden><span class="history-sentence"></span> <button type="button" class="nearest" hidden></button></p><div class="history-records" hidden><div class="timeline" title="Click or drag to see that time"><div class="spans"></div><div class="selection" hidden></div><div class="event-marks"></div><div class="playhead"></div></div><div class="timeline-labels"><span class="timeline-from"></span><span class="timeline-to"></span></div><div class="history-controls"><button type="button" class="back">−2 min</button><button type="button" class="live" aria-pressed="true">Live</button><button type="button" class="play">Pause</button><button type="button" class="step">Next frame</button><select class="speed" aria-label="Speed"><option value="1">1×</option><option value="2">2×</option><option value="4">4×</option><option value="8">8×</option></select><button type="button" class="zoom-in" aria-label="Zoom in">+</button><button type="button" class="zoom-out" aria-label="Zoom out">−</button><span class="playback-time"></span></div><div class="export" data-state="idle"><button type="button" class="mark-start">Mark start</button><button type="button" class="mark-end">Mark end</button><span class="export-range"></span><button type="button" class="export-start">Export</button><span class="export-status" role="status"></span><button type="button" class="export-resume" hidden>Resume</button></div></div>"#;

/// What the timeline shows besides the history itself: the clock, the zoom, a drag under way,
/// the export's marks.
#[derive(Default)]
pub struct Marks {
    /// Now, by the browser's clock (moved every second).
    pub now: UnixMillis,
    pub zoom: usize,
    /// The time under the pointer while dragging on the timeline.
    pub drag: Option<UnixMillis>,
    /// The export's start and end as marked (in either order).
    pub export: (Option<UnixMillis>, Option<UnixMillis>),
    /// Why the marked range cannot be exported.
    pub export_error: Option<String>,
    /// The time last asked for (to offer the nearest recording to it).
    pub asked: UnixMillis,
}

/// The panel's elements, found once.
pub struct Panel {
    root: web_sys::Element,
    tile: Option<web_sys::Element>,
    parts: Vec<web_sys::Element>,
    /// The bars drawn last (left and width, %), so that they are drawn again only when they
    /// change.
    drawn_bars: Vec<(f64, f64)>,
    /// The motion events' marks drawn last (left, %).
    drawn_events: Vec<f64>,
    pub marks: Marks,
}

/// The panel's parts, by class, in the order `Panel::parts` holds them.
const PARTS: [&str; 18] = [
    ".history-message",
    ".history-sentence",
    ".nearest",
    ".history-records",
    ".timeline",
    ".spans",
    ".selection",
    ".playhead",
    ".timeline-from",
    ".timeline-to",
    ".live",
    ".play",
    ".step",
    ".playback-time",
    ".export",
    ".export-range",
    ".export-status",
    ".event-marks",
];

/// Places `element` at `left` % (and `width` %) through the CSSOM (`element.style.left = …`):
/// the page's Content-Security-Policy refuses inline `style` attributes, not the CSSOM.
fn set_position(element: &web_sys::Element, left: f64, width: Option<f64>) {
    let Ok(style) = js_sys::Reflect::get(element, &"style".into()) else {
        return;
    };
    let _ = js_sys::Reflect::set(&style, &"left".into(), &percent(left).into());
    if let Some(width) = width {
        let _ = js_sys::Reflect::set(&style, &"width".into(), &percent(width).into());
    }
}

fn show(element: &web_sys::Element, shown: bool) {
    let _ = if shown {
        element.remove_attribute("hidden")
    } else {
        element.set_attribute("hidden", "")
    };
}

impl Panel {
    /// Writes the panel into `root` (the history's `<section>`).
    pub fn new(root: web_sys::Element) -> Option<Self> {
        root.set_inner_html(PANEL);
        let parts = PARTS
            .iter()
            .map(|class| root.query_selector(class).ok().flatten())
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            tile: root.closest(".tile").ok().flatten(),
            root,
            parts,
            drawn_bars: Vec::new(),
            drawn_events: Vec::new(),
            marks: Marks {
                now: js_sys::Date::now() as i64,
                zoom: ZOOMS.len() - 1,
                ..Marks::default()
            },
        })
    }

    /// One step narrower (`-1`) or wider (`1`), up to the whole history.
    pub fn zoom(&mut self, by: isize) {
        self.marks.zoom = self.marks.zoom.saturating_add_signed(by).min(ZOOMS.len());
    }

    /// The timeline element (for the pointer's events).
    pub fn timeline(&self) -> &web_sys::Element {
        &self.parts[4]
    }

    /// The root (for clicks and changes).
    pub fn root(&self) -> &web_sys::Element {
        &self.root
    }

    /// The range shown now.
    pub fn range(&self, ui: &HistoryUi) -> (UnixMillis, UnixMillis) {
        let m = &self.marks;
        window(m.now, ui.at, width(m.zoom, m.now, ui.oldest))
    }

    /// The time under the pointer of `event`, on the timeline.
    pub fn time_of(&self, ui: &HistoryUi, event: &web_sys::MouseEvent) -> UnixMillis {
        // Its parts let the pointer through (style/main.css): the offset is the timeline's.
        let width = self.timeline().client_width().max(1);
        let f = f64::from(event.offset_x()) / f64::from(width);
        time_at(self.range(ui), f)
    }

    /// The time of the picture shown: the recording's, or now.
    pub fn shown(&self, ui: &HistoryUi) -> UnixMillis {
        ui.at.unwrap_or(self.marks.now)
    }

    /// Whether a time asked for is live.
    pub fn is_live(&self, t: UnixMillis) -> bool {
        t >= self.marks.now - LIVE_WITHIN_MS
    }

    /// How far back the list is asked for: a day, or the window's start if earlier.
    pub fn list_from(&self, ui: &HistoryUi) -> UnixMillis {
        let m = &self.marks;
        m.now - width(m.zoom, m.now, ui.oldest).max(DAY)
    }

    /// Shows `ui`.
    pub fn draw(&mut self, ui: &HistoryUi) {
        let p = &self.parts;
        let set = |i: usize, text: &str| p[i].set_text_content(Some(text));
        let attr = |i: usize, name: &str, value: &str| {
            let _ = p[i].set_attribute(name, value);
        };
        let access = match ui.access {
            Access::Unknown => "unknown",
            Access::Records => "records",
            Access::NotRecording => "not-recording",
            Access::NotPermitted => "not-permitted",
        };
        let _ = self.root.set_attribute("data-access", access);
        let live = ui.at.is_none();
        if let Some(tile) = &self.tile {
            let _ = tile.set_attribute("data-mode", if live { "live" } else { "playback" });
        }
        let sentence = access_sentence(ui.access)
            .map(str::to_owned)
            .or_else(|| ui.message.clone());
        show(&p[0], sentence.is_some());
        set(1, sentence.as_deref().unwrap_or_default());
        show(&p[2], ui.nearest.is_some());
        if let Some(span) = ui.nearest {
            set(
                2,
                &format!(
                    "Play the nearest recording, from {}",
                    local_clock(span.start)
                ),
            );
        }
        show(&p[3], ui.access == Access::Records);
        let m = &self.marks;
        let range = self.range(ui);
        let bars = bars(&ui.spans, ui.recording, m.now, range);
        if bars != self.drawn_bars {
            p[5].set_inner_html("");
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                for &(l, w) in &bars {
                    if let Ok(bar) = document.create_element("div") {
                        let _ = bar.set_attribute("class", "span");
                        set_position(&bar, l, Some(w));
                        let _ = p[5].append_child(&bar);
                    }
                }
            }
            self.drawn_bars = bars;
        }
        let marks = event_marks(&ui.events, range);
        if marks != self.drawn_events {
            p[17].set_inner_html("");
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                for &left in &marks {
                    if let Ok(mark) = document.create_element("div") {
                        let _ = mark.set_attribute("class", "event-mark");
                        set_position(&mark, left, None);
                        let _ = p[17].append_child(&mark);
                    }
                }
            }
            self.drawn_events = marks;
        }
        let m = &self.marks;
        let _ = p[4].set_attribute("data-from", &range.0.to_string());
        attr(4, "data-to", &range.1.to_string());
        match m.export {
            (Some(a), Some(b)) => {
                let (l, r) = (fraction(range, a.min(b)), fraction(range, a.max(b)));
                set_position(&p[6], l * 100.0, Some((r - l) * 100.0));
                show(&p[6], true);
            }
            _ => show(&p[6], false),
        }
        let shown = ui.at.unwrap_or(m.now);
        let head = fraction(range, m.drag.unwrap_or(shown)) * 100.0;
        set_position(&p[7], head, None);
        set(8, &local_clock(range.0));
        if self.is_live(range.1) {
            set(9, "Now");
        } else {
            set(9, &local_clock(range.1));
        }
        attr(10, "aria-pressed", if live { "true" } else { "false" });
        set(11, if ui.paused { "Play" } else { "Pause" });
        if live {
            attr(12, "disabled", "");
        } else {
            let _ = p[12].remove_attribute("disabled");
        }
        set(13, &local_clock(shown));
        attr(13, "data-ms", &shown.to_string());
        attr(13, "data-live", if live { "true" } else { "false" });
        let (state, status) = match &ui.export {
            ExportState::Idle => ("idle", String::new()),
            ExportState::Running { total: 0, .. } => ("running", "Starting the export…".into()),
            ExportState::Running { received, total } => (
                "running",
                format!(
                    "Exporting: {} of {}",
                    format::bytes(*received),
                    format::bytes(*total)
                ),
            ),
            ExportState::Done(name) => ("done", format!("Downloaded {name}.")),
            ExportState::Failed { received, why } => (
                "failed",
                format!(
                    "The export failed after {}: {why}",
                    format::bytes(*received)
                ),
            ),
        };
        attr(14, "data-state", state);
        let mark = |t: Option<UnixMillis>| t.map(local_clock).unwrap_or_else(|| "—".into());
        set(15, &format!("{} – {}", mark(m.export.0), mark(m.export.1)));
        set(16, m.export_error.as_deref().unwrap_or(&status));
        if let Ok(Some(resume)) = self.root.query_selector(".export-resume") {
            show(&resume, state == "failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_224_400_000;

    #[test]
    fn time_and_position_map_both_ways() {
        let range = (NOW - DAY, NOW);
        assert_eq!(fraction(range, NOW - 12 * HOUR), 0.5);
        assert_eq!(time_at(range, 0.5), NOW - 12 * HOUR);
        assert_eq!(time_at(range, 1.0), NOW, "the right edge is now");
        assert_eq!(fraction(range, NOW - 2 * DAY), 0.0, "clamped");
        assert_eq!(time_at(range, 1.3), NOW, "clamped");
        for t in [NOW - DAY, NOW - 2 * MINUTE, NOW - 1] {
            assert!((time_at(range, fraction(range, t)) - t).abs() <= 1);
        }
    }

    #[test]
    fn the_window_follows_live_and_holds_the_picture() {
        assert_eq!(window(NOW, None, HOUR), (NOW - HOUR, NOW));
        let at = NOW - 3 * HOUR;
        let (start, end) = window(NOW, Some(at), HOUR);
        assert_eq!(end - start, HOUR);
        assert!(
            start + HOUR / 4 <= at && at < start + HOUR / 2,
            "in its second quarter"
        );
        assert_eq!(
            window(NOW, Some(at + MINUTE), HOUR),
            (start, end),
            "a minute on, it stays put"
        );
        assert_eq!(
            window(NOW, Some(NOW - MINUTE), HOUR).1,
            NOW,
            "never past now"
        );
        assert_eq!(width(0, NOW, None), 5 * MINUTE);
        assert_eq!(
            width(ZOOMS.len(), NOW, Some(NOW - 9 * DAY)),
            9 * DAY,
            "the whole history"
        );
        assert_eq!(
            width(ZOOMS.len(), NOW, Some(NOW - HOUR)),
            DAY,
            "at least a day"
        );
    }

    #[test]
    fn spans_are_clipped_to_the_window() {
        let range = (NOW - 4 * HOUR, NOW);
        let spans = [
            Span {
                start: NOW - 6 * HOUR,
                end: NOW - 3 * HOUR,
            },
            Span {
                start: NOW - 2 * HOUR,
                end: NOW - HOUR,
            },
            Span {
                start: NOW - 30 * MINUTE,
                end: NOW - MINUTE,
            },
        ];
        let drawn = bars(&spans, false, NOW, range);
        assert_eq!(drawn[..2], [(0.0, 25.0), (50.0, 25.0)]);
        assert_eq!(drawn[2].0, 87.5);
        assert!(
            (drawn[2].1 - 25.0 * 29.0 / 60.0).abs() < 1e-9,
            "29 of the last 60 min"
        );
        let recording = bars(&spans, true, NOW, range);
        assert_eq!(
            recording[2],
            (87.5, 12.5),
            "the newest reaches now while recording"
        );
        let before = [Span {
            start: NOW - 9 * HOUR,
            end: NOW - 5 * HOUR,
        }];
        assert!(
            bars(&before, true, NOW, range).is_empty(),
            "outside the window"
        );
        let sliver = [Span {
            start: NOW - HOUR,
            end: NOW - HOUR + 100,
        }];
        assert_eq!(
            bars(&sliver, false, NOW, range)[0].1,
            0.2,
            "a sliver stays visible"
        );
    }

    #[test]
    fn events_in_the_window_are_marked() {
        let range = (NOW - HOUR, NOW);
        let starts = [
            NOW - 2 * HOUR,
            NOW - 45 * MINUTE,
            NOW - 15 * MINUTE,
            NOW + MINUTE,
        ];
        assert_eq!(event_marks(&starts, range), [25.0, 75.0]);
    }

    #[test]
    fn the_nearest_recording_is_offered_at_its_near_end() {
        let span = Span {
            start: 1_000_000,
            end: 2_000_000,
        };
        assert_eq!(
            nearest_time(span, 500_000),
            1_000_000,
            "later: from its start"
        );
        assert_eq!(
            nearest_time(span, 3_000_000),
            1_990_000,
            "earlier: its last 10 s"
        );
    }
}
