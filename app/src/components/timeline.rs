//! A recording camera's history under its live picture: the timeline (recorded spans, gaps,
//! the live edge at the right), the player's buttons, and export. The channel work is
//! [`crate::watch::history`]; the pure arithmetic of the timeline is here and tested.

use crate::components::show::Show;
use crate::format;
use crate::watch::history::{
    Access, ExportState, History, HistoryUi, access_sentence, export_range,
};
use crate::watch::machine::Phase;
use crate::watch::session::WatchView;
use leptos::html;
use leptos::prelude::*;
use mumu_shared::UnixMillis;
use mumu_shared::history::Span;
use send_wrapper::SendWrapper;
use std::time::Duration;

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

/// The browser's clock text for `ms`, in its own time zone.
fn local_clock(ms: UnixMillis) -> String {
    let offset = js_sys::Date::new(&(ms as f64).into()).get_timezone_offset();
    format::clock(ms, -(offset as i64))
}

/// The history of the camera watched through `watch`: playing into `video`, with `live` the
/// live picture beside it.
#[component]
pub fn Timeline(
    watch: WatchView,
    ui: RwSignal<HistoryUi>,
    video: NodeRef<html::Video>,
    live: NodeRef<html::Video>,
) -> impl IntoView {
    // In the browser only, once mounted (see `CameraTile`'s session).
    let client = StoredValue::new(None::<SendWrapper<History>>);
    let with = move |f: &dyn Fn(&History)| {
        client.with_value(|c| {
            if let Some(c) = c.as_deref() {
                f(c);
            }
        })
    };
    let now = RwSignal::new(0_i64);
    let zoom = RwSignal::new(ZOOMS.len() - 1);
    let drag = RwSignal::new(None::<UnixMillis>);
    let selecting = RwSignal::new(false);
    let marks = RwSignal::new((None::<UnixMillis>, None::<UnixMillis>));
    let export_error = RwSignal::new(None::<String>);
    let asked = StoredValue::new(0_i64);
    let timeline_ref = NodeRef::<html::Div>::new();
    let ticker = StoredValue::new(None::<IntervalHandle>);
    // What is recorded: asked for from a day back, or from the window's start if earlier.
    let list = move || {
        let n = now.get_untracked();
        let oldest = ui.with_untracked(|u| u.oldest);
        with(&|c| c.list(n - width(zoom.get_untracked(), n, oldest).max(DAY)));
    };

    Effect::new(move |_| {
        let channel = watch.history.get();
        if client.with_value(Option::is_none) {
            let (Some(v), Some(l)) = (video.get(), live.get()) else {
                return;
            };
            now.set(js_sys::Date::now() as i64);
            client.set_value(Some(SendWrapper::new(History::new(ui, v, l))));
            // The clock moves the live edge every second; the list is refreshed every 30.
            let ticks = StoredValue::new(0_u32);
            let handle = set_interval_with_handle(
                move || {
                    now.set(js_sys::Date::now() as i64);
                    ticks.update_value(|t| *t += 1);
                    if ticks.get_value().is_multiple_of(30) {
                        list();
                    }
                },
                Duration::from_secs(1),
            );
            ticker.set_value(handle.ok());
        }
        with(&|c| c.attach(channel.as_deref().cloned()));
    });
    // A connected camera that opened no `history` channel does not record.
    Effect::new(move |_| {
        let waiting = watch.phase.get() == Phase::Connected && watch.history.with(Option::is_none);
        if waiting {
            set_timeout(
                move || {
                    if watch.history.with_untracked(Option::is_none)
                        && ui.with_untracked(|u| u.access == Access::Unknown)
                    {
                        ui.update(|u| u.access = Access::NotRecording);
                    }
                },
                Duration::from_secs(4),
            );
        }
    });
    on_cleanup(move || {
        if let Some(ticker) = ticker.try_get_value().flatten() {
            ticker.clear();
        }
        client.try_update_value(|c| {
            if let Some(c) = c.take() {
                c.close();
            }
        });
    });

    let range = Memo::new(move |_| {
        let n = now.get();
        let (at, oldest) = ui.with(|u| (u.at, u.oldest));
        window(n, at, width(zoom.get(), n, oldest))
    });
    let spans = Memo::new(move |_| {
        let (range, n) = (range.get(), now.get());
        ui.with(|u| bars(&u.spans, u.recording, n, range))
    });
    let shown = move || ui.with(|u| u.at).unwrap_or_else(|| now.get());
    let is_live = move || ui.with(|u| u.at.is_none());

    let seek = move |t: UnixMillis| {
        asked.set_value(t);
        if t >= now.get_untracked() - LIVE_WITHIN_MS {
            with(&|c| c.live());
        } else {
            with(&|c| c.play_at(t));
        }
    };
    let time_of = move |event: &web_sys::MouseEvent| {
        let rect = timeline_ref.get_untracked()?.get_bounding_client_rect();
        let f = (f64::from(event.client_x()) - rect.left()) / rect.width().max(1.0);
        Some(time_at(range.get_untracked(), f))
    };
    let press = move |event: web_sys::MouseEvent| {
        let Some(t) = time_of(&event) else { return };
        // Shift-drag chooses an export's range; a plain click or drag, the time to show.
        if event.shift_key() {
            selecting.set(true);
            marks.set((Some(t), Some(t)));
        } else {
            drag.set(Some(t));
        }
    };
    let slide = move |event: web_sys::MouseEvent| {
        let Some(t) = time_of(&event).filter(|_| event.buttons() & 1 == 1) else {
            return;
        };
        if selecting.get_untracked() {
            marks.update(|m| m.1 = Some(t));
        } else if drag.get_untracked().is_some() {
            drag.set(Some(t));
        }
    };
    let release = move |_| {
        selecting.set(false);
        if let Some(t) = drag.get_untracked() {
            drag.set(None);
            seek(t);
        }
    };
    let start_export = move |_| {
        let (Some(a), Some(b)) = marks.get_untracked() else {
            return export_error.set(Some("Mark where the export starts and ends.".into()));
        };
        match export_range(a, b) {
            Ok((from, to)) => {
                export_error.set(None);
                with(&|c| c.export(from, to));
            }
            Err(why) => export_error.set(Some(why)),
        }
    };
    let export_state = move || {
        ui.with(|u| match &u.export {
            ExportState::Idle => "idle",
            ExportState::Running { .. } => "running",
            ExportState::Done(_) => "done",
            ExportState::Failed { .. } => "failed",
        })
    };
    let export_status = move || {
        export_error.get().unwrap_or_else(|| {
            ui.with(|u| match &u.export {
                ExportState::Idle => String::new(),
                ExportState::Running { total: 0, .. } => "Starting the export…".into(),
                ExportState::Running { received, total } => format!(
                    "Exporting: {} of {}",
                    format::bytes(*received),
                    format::bytes(*total)
                ),
                ExportState::Done(name) => format!("Downloaded {name}."),
                ExportState::Failed { received, why } => format!(
                    "The export failed after {}: {why}",
                    format::bytes(*received)
                ),
            })
        })
    };
    let progress = move || {
        ui.with(|u| match u.export {
            ExportState::Running { received, total } if total > 0 => {
                Some(format::fixed(received as f64 / total as f64, 3))
            }
            _ => None,
        })
    };
    let sentence = move || {
        ui.with(|u| {
            access_sentence(u.access)
                .map(str::to_owned)
                .or_else(|| u.message.clone())
        })
    };
    let nearest = move || ui.with(|u| u.nearest);
    let marked = move |i: usize| {
        move || {
            let m = marks.get();
            [m.0, m.1][i].map(local_clock).unwrap_or_else(|| "—".into())
        }
    };

    view! {
        <section class="history" data-access=move || ui.with(|u| match u.access {
            Access::Unknown => "unknown",
            Access::Records => "records",
            Access::NotRecording => "not-recording",
            Access::NotPermitted => "not-permitted",
        })>
            <Show when=move || sentence().is_some()>
                <p class="history-message" role="status">
                    {sentence}
                    {move || nearest().map(|span| view! {
                        " "
                        <button type="button" class="nearest" on:click=move |_| seek(nearest_time(span, asked.get_value()))>
                            {format!("Play the nearest recording, from {}", local_clock(span.start))}
                        </button>
                    })}
                </p>
            </Show>
            <Show when=move || ui.with(|u| u.access == Access::Records)>
                <div
                    class="timeline"
                    node_ref=timeline_ref
                    data-from=move || range.get().0
                    data-to=move || range.get().1
                    title="Click or drag to see that time; shift-drag to choose what to export"
                    on:mousedown=press
                    on:mousemove=slide
                    on:mouseup=release
                    on:mouseleave=release
                >
                    {move || spans.get().into_iter().map(|(left, width)| view! {
                        <div class="span" style:left=percent(left) style:width=percent(width)></div>
                    }).collect_view()}
                    {move || match marks.get() {
                        (Some(a), Some(b)) => {
                            let (l, r) = (fraction(range.get(), a.min(b)), fraction(range.get(), a.max(b)));
                            Some(view! { <div class="selection" style:left=percent(l * 100.0) style:width=percent((r - l) * 100.0)></div> })
                        }
                        _ => None,
                    }}
                    <div class="playhead" style:left=move || percent(fraction(range.get(), drag.get().unwrap_or_else(shown)) * 100.0)></div>
                </div>
                <div class="timeline-labels">
                    <span class="timeline-from">{move || local_clock(range.get().0)}</span>
                    <span class="timeline-to">{move || if range.get().1 >= now.get() - LIVE_WITHIN_MS { "Now".to_owned() } else { local_clock(range.get().1) }}</span>
                </div>
                <div class="history-controls">
                    <button type="button" class="back" on:click=move |_| seek(shown() - 2 * MINUTE)>"−2 min"</button>
                    <button type="button" class="live" aria-pressed=move || is_live().to_string() on:click=move |_| with(&|c| c.live())>"Live"</button>
                    <button type="button" class="play" on:click=move |_| with(&|c| c.toggle_pause())>
                        {move || if ui.with(|u| u.paused) { "Play" } else { "Pause" }}
                    </button>
                    <button type="button" class="step" disabled=is_live on:click=move |_| with(&|c| c.step())>"Next frame"</button>
                    <select class="speed" aria-label="Speed" on:change=move |ev| {
                        let speed = event_target_value(&ev).parse::<u8>().unwrap_or(1);
                        with(&|c| c.set_speed(f64::from(speed)));
                    }>
                        <option value="1">"1×"</option>
                        <option value="2">"2×"</option>
                        <option value="4">"4×"</option>
                        <option value="8">"8×"</option>
                    </select>
                    <button type="button" class="zoom-in" aria-label="Zoom in" disabled=move || zoom.get() == 0
                        on:click=move |_| zoom.update(|z| *z = z.saturating_sub(1))>"+"</button>
                    <button type="button" class="zoom-out" aria-label="Zoom out" disabled=move || zoom.get() == ZOOMS.len()
                        on:click=move |_| { zoom.update(|z| *z = (*z + 1).min(ZOOMS.len())); list(); }>"−"</button>
                    <span class="playback-time" data-ms=move || shown().to_string() data-live=move || is_live().to_string()>
                        {move || local_clock(shown())}
                    </span>
                </div>
                <div class="export" data-state=export_state>
                    <button type="button" class="mark-start" on:click=move |_| marks.update(|m| m.0 = Some(shown()))>"Mark start"</button>
                    <button type="button" class="mark-end" on:click=move |_| marks.update(|m| m.1 = Some(shown()))>"Mark end"</button>
                    <span class="export-range">{marked(0)}" – "{marked(1)}</span>
                    <button type="button" class="export-start" disabled=move || export_state() == "running" on:click=start_export>"Export"</button>
                    <Show when=move || progress().is_some()>
                        <progress class="export-progress" max="1" value=progress></progress>
                    </Show>
                    <span class="export-status" role="status">{export_status}</span>
                    <Show when=move || export_state() == "failed">
                        <button type="button" class="export-resume" on:click=move |_| with(&|c| c.resume_export())>"Resume"</button>
                    </Show>
                </div>
            </Show>
        </section>
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
