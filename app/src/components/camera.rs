//! One camera being watched: the live video, where the connection stands, the figures from
//! `getStats()`, and the buttons (fullscreen, snapshot, stats, end, watch again).

use crate::components::notify_me::NotifyMe;
use crate::components::show::{Show, ShowElse};
use crate::components::sound::SoundControls;
use crate::format;
use crate::signaling::Signaling;
use crate::watch::history::History;
use crate::watch::machine::Phase;
use crate::watch::session::{WatchSession, WatchView};
use leptos::html;
use leptos::prelude::*;
use mumu_shared::DeviceId;
use send_wrapper::SendWrapper;
use std::sync::atomic::{AtomicU32, Ordering};
use wasm_bindgen::JsCast;

/// When the person clicked "Watch", in `performance.now()` milliseconds: the time to the first
/// frame counts from there. Set by the dashboard, read by the tiles it leads to.
#[derive(Clone, Copy)]
pub struct WatchClick(pub RwSignal<Option<f64>>);

/// Milliseconds since the page's time origin.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or_default()
}

fn next_tag() -> String {
    static WATCHES: AtomicU32 = AtomicU32::new(0);
    format!("w{}", WATCHES.fetch_add(1, Ordering::Relaxed) + 1)
}

/// The phase as a word for styling and tests, and as a sentence for people.
fn describe(phase: &Phase) -> (&'static str, String) {
    match phase {
        Phase::Idle => ("idle", "Starting…".into()),
        Phase::Connecting => ("connecting", "Connecting to the camera…".into()),
        Phase::Connected => ("connected", "Live".into()),
        Phase::Reconnecting { attempt, why } => (
            "reconnecting",
            format!("Reconnecting (try {attempt}): {why}"),
        ),
        Phase::WaitingForCamera => (
            "waiting",
            "The camera is offline; watching resumes when it is back.".into(),
        ),
        Phase::Paused => (
            "paused",
            "Paused while this page is hidden; it resumes when you come back.".into(),
        ),
        Phase::Ended { why } => ("ended", format!("Ended: {why}")),
    }
}

/// A tile watching `device_id`; with `history`, the camera's recordings under it (when it
/// records and this viewer may see them) and its motion events; `at`, an event's start, is
/// played from a little before it.
#[component]
pub fn CameraTile(
    device_id: DeviceId,
    #[prop(optional)] history: bool,
    #[prop(optional_no_strip)] at: Option<mumu_shared::UnixMillis>,
) -> impl IntoView {
    let signaling = Signaling::get();
    let view_state = WatchView::new();
    // In the browser only (`None` on the server, where a page's values may be dropped on
    // another thread than made them: see `Signaling`'s `inner`).
    let session = StoredValue::new(None::<SendWrapper<WatchSession>>);
    let started_at = StoredValue::new(0.0_f64);
    let first_frame_ms = RwSignal::new(None::<f64>);
    let show_stats = RwSignal::new(false);
    let video_ref = NodeRef::<html::Video>::new();
    let history_ref = NodeRef::<html::Div>::new();
    let tile_ref = NodeRef::<html::Article>::new();
    let clicked = use_context::<WatchClick>();

    let start = {
        let device_id = device_id.clone();
        move || {
            let since = clicked
                .and_then(|c| c.0.get_untracked())
                .filter(|t| now_ms() - t < 10_000.0)
                .unwrap_or_else(now_ms);
            if let Some(c) = clicked {
                c.0.set(None);
            }
            started_at.set_value(since);
            first_frame_ms.set(None);
            let recordings = history
                .then(|| {
                    History::new(
                        history_ref.get_untracked()?.into(),
                        video_ref.get_untracked()?,
                        device_id.clone(),
                        at,
                    )
                })
                .flatten();
            let new = WatchSession::start(device_id.clone(), next_tag(), view_state, recordings);
            session.update_value(|s| {
                if let Some(old) = s.replace(SendWrapper::new(new)) {
                    old.stop();
                }
            });
        }
    };
    // In the browser only (effects do not run on the server): start once mounted.
    let start_once = start.clone();
    Effect::new(move |started: Option<()>| {
        if started.is_none() {
            start_once();
        }
    });
    on_cleanup(move || {
        session.try_update_value(|s| {
            if let Some(s) = s.take() {
                s.stop();
            }
        });
    });

    // The stream goes to the <video> when it arrives (and away when the peer closes).
    Effect::new(move |_| {
        let stream = view_state.stream.get();
        if let Some(video) = video_ref.get() {
            video.set_src_object(stream.as_deref());
        }
    });

    let name = {
        let device_id = device_id.clone();
        move || {
            signaling
                .device(&device_id)
                .map(|d| d.name)
                .unwrap_or_else(|| "Camera".into())
        }
    };
    let phase = move || describe(&view_state.phase.get());
    let ended = move || matches!(view_state.phase.get(), Phase::Ended { .. });
    let on_frame = move |_| {
        if first_frame_ms.get_untracked().is_none() {
            first_frame_ms.set(Some(now_ms() - started_at.get_value()));
        }
    };
    let fullscreen = move |_| {
        if let (Some(tile), Some(video)) = (tile_ref.get(), video_ref.get()) {
            enter_fullscreen(&tile, &video);
        }
    };
    let snapshot = {
        let name = name.clone();
        move |_| {
            if let Some(video) = video_ref.get() {
                save_snapshot(&video, &name());
            }
        }
    };
    let end = move |_| {
        session.update_value(|s| {
            if let Some(s) = s.as_ref() {
                s.stop();
            }
        });
    };
    let again = move |_| start();
    let stats_id = format!("stats-{}", device_id.as_str());
    let panel_id = stats_id.clone();
    let sound_of = device_id.clone();
    let notify_id = device_id.clone();

    view! {
        <article
            class="tile"
            node_ref=tile_ref
            data-device=device_id.as_str().to_string()
            data-phase=move || phase().0
            data-first-frame-ms=move || first_frame_ms.get().map(|ms| format::fixed(ms, 0))
            data-frames-decoded=move || view_state.stats.get().map(|s| s.frames_decoded.to_string())
        >
            <header class="tile-head">
                <h2>{name.clone()}</h2>
                <Show when=move || phase().0 == "connected">
                    <span
                        class="path"
                        data-path=move || view_state.stats.get().and_then(|s| s.path)
                        title="How the video reaches you: straight from the camera, or through the relay (TURN) server"
                    >{move || view_state.stats.get().and_then(|s| s.path)}</span>
                </Show>
                <span class=move || format!("badge {}", phase().0)>{move || match phase().0 {
                    "connected" => "Live",
                    "ended" => "Ended",
                    "waiting" => "Offline",
                    "paused" => "Paused",
                    "reconnecting" => "Reconnecting",
                    _ => "Connecting",
                }}</span>
            </header>
            <div class="screen">
                // Safari's rules: plays inline on an iPhone, muted and by itself. `muted` is
                // set as a property too: the attribute mutes only a parsed element, and a tile
                // opened in the app is made by script.
                <video
                    node_ref=video_ref
                    autoplay=true
                    muted=true
                    prop:muted=true
                    playsinline=true
                    on:loadeddata=on_frame
                    aria-label=move || format!("Live video from {}", name())
                ></video>

                <Show when=move || phase().0 != "connected">
                    <p class="overlay" role="status" aria-live="polite">{move || phase().1}</p>
                </Show>
            </div>
            <div class="controls">
                <ShowElse
                    when=ended
                    fallback=move || view! {
                        <SoundControls device_id=sound_of.clone() video=video_ref stream=view_state.stream/>
                        <button type="button" on:click=fullscreen>"Fullscreen"</button>
                        <button type="button" on:click=snapshot.clone() disabled=move || view_state.stream.with(Option::is_none)>"Snapshot"</button>
                        <button
                            type="button"
                            aria-expanded=move || show_stats.get().to_string()
                            aria-controls=stats_id.clone()
                            on:click=move |_| show_stats.update(|s| *s = !*s)
                        >"Stats"</button>
                        <button type="button" class="danger" on:click=end>"End"</button>
                    }
                >
                    <button type="button" class="primary" on:click=again.clone()>"Watch again"</button>
                </ShowElse>
            </div>
            <NotifyMe device_id=notify_id/>
            <Show when=move || show_stats.get()>
                <StatsPanel id=panel_id.clone() view_state first_frame_ms video_ref/>
            </Show>
            // The history's panel is the browser's to draw (components/timeline.rs).
            <div class="history" node_ref=history_ref></div>
        </article>
    }
}

#[component]
fn StatsPanel(
    id: String,
    view_state: WatchView,
    first_frame_ms: RwSignal<Option<f64>>,
    video_ref: NodeRef<html::Video>,
) -> impl IntoView {
    let row = |label: &'static str, value: Box<dyn Fn() -> String + Send + Sync>| {
        view! { <dt>{label}</dt><dd>{value}</dd> }
    };
    let stat = move |f: fn(&crate::watch::stats::Stats) -> Option<String>| {
        move || {
            view_state
                .stats
                .with(|s| s.as_ref().and_then(f))
                .unwrap_or_else(|| "—".into())
        }
    };
    view! {
        <dl class="stats" id=id>
            {row("Resolution", Box::new(move || resolution(view_state, video_ref)))}
            {row("Frame rate", Box::new(stat(|s| s.fps.map(|f| format!("{} fps", format::fixed(f, 0))))))}
            {row("Bitrate", Box::new(stat(|s| s.bitrate_bps.map(format::bitrate))))}
            {row("Round trip", Box::new(stat(|s| s.rtt_ms.map(|r| format!("{} ms", format::fixed(r, 1))))))}
            {row("Path", Box::new(stat(|s| s.candidate.clone())))}
            {row("Jitter", Box::new(stat(|s| s.jitter_ms.map(|j| format!("{} ms", format::fixed(j, 1))))))}
            {row("Packets lost", Box::new(stat(|s| Some(format!("{} ({} %)", s.packets_lost, format::fixed(s.loss_percent, 2))))))}
            {row("First frame", Box::new(move || first_frame_ms.get().map(|ms| format!("{} ms", format::fixed(ms, 0))).unwrap_or_else(|| "—".into())))}
        </dl>
    }
}

/// The size of the frames arriving: from getStats, or, in Safari, whose statistics do not give
/// it, from the video element.
fn resolution(view_state: WatchView, video_ref: NodeRef<html::Video>) -> String {
    view_state
        .stats
        .with(|s| s.as_ref().and_then(|s| s.resolution))
        .or_else(|| {
            let video = video_ref.get_untracked()?;
            let size = (video.video_width(), video.video_height());
            (size.0 > 0).then_some(size)
        })
        .map(|(w, h)| format!("{w}×{h}"))
        .unwrap_or_else(|| "—".into())
}

/// The tile fills the screen; Safari on an iPhone, which cannot do that for an element, plays
/// the video full screen in its own player instead.
fn enter_fullscreen(tile: &web_sys::HtmlElement, video: &web_sys::HtmlVideoElement) {
    let method = |target: &wasm_bindgen::JsValue, name: &str| {
        js_sys::Reflect::get(target, &name.into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    };
    if method(tile, "requestFullscreen").is_some() {
        let _ = tile.request_fullscreen();
    } else if let Some(enter) = method(video, "webkitEnterFullscreen") {
        let _ = enter.call0(video);
    }
}

/// Saves the video's current frame as a PNG download.
fn save_snapshot(video: &web_sys::HtmlVideoElement, name: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let (width, height) = (video.video_width(), video.video_height());
    if width == 0 || height == 0 {
        return;
    }
    let Some(canvas) = document
        .create_element("canvas")
        .ok()
        .and_then(|c| c.dyn_into::<web_sys::HtmlCanvasElement>().ok())
    else {
        return;
    };
    canvas.set_width(width);
    canvas.set_height(height);
    let Some(context) = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into::<web_sys::CanvasRenderingContext2d>().ok())
    else {
        return;
    };
    if context
        .draw_image_with_html_video_element(video, 0.0, 0.0)
        .is_err()
    {
        return;
    }
    let Ok(url) = canvas.to_data_url_with_type("image/png") else {
        return;
    };
    let stamp = js_sys::Date::new_0()
        .to_iso_string()
        .as_string()
        .unwrap_or_default()
        .replace([':', '.'], "-");
    let safe: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    download(&url, &format!("{safe}-{stamp}.png"));
}

/// Saves what `url` holds as a file named `name` (a snapshot, an export); `false` if the
/// browser would not.
pub fn download(url: &str, name: &str) -> bool {
    let Some(link) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    else {
        return false;
    };
    link.set_href(url);
    link.set_download(name);
    link.click();
    true
}
