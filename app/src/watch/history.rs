//! The viewer's side of a watch session's `history` data channel (`mumu_shared::history`):
//! listing what the camera recorded, playing it (through [`super::playback`]) and exporting
//! it. What it knows is [`HistoryUi`], drawn by [`Panel`] after every change; the person acts
//! through the panel's buttons and the timeline, whose events come here.

use super::events::{EventsPanel, FIRST_STREAM, Hooks, PRE_ROLL_MS, SETTINGS_REQUEST};
use super::playback::{AHEAD_HIGH_MS, Playback, Tick, until_after};
use crate::components::timeline::{Panel, nearest_time};
use crate::format;
use leptos::prelude::{IntervalHandle, set_interval_with_handle, set_timeout};
use mumu_shared::events::{MotionSettings, Point};
use mumu_shared::history::{
    CurrentMotionSettings, DeviceToViewer, Exporting, ListRecordings, MAX_EXPORT_MS, More, Play,
    Playing, Recordings, Refusal, RefusalCode, Span, StopStream, StreamEndReason, StreamEnded,
    StreamId, Thumbnail, ViewerToDevice, split_chunk,
};
use mumu_shared::{DeviceId, UnixMillis};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Event, HtmlVideoElement, MessageEvent, RtcDataChannel};

/// Whether this viewer sees a timeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Not known yet (no channel, or no answer to `list` yet).
    #[default]
    Unknown,
    /// The camera records and this viewer may see it.
    Records,
    /// The camera does not record.
    NotRecording,
    /// The owner has not allowed this viewer to see recordings.
    NotPermitted,
}

/// Where an export stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExportState {
    /// None asked for.
    #[default]
    Idle,
    /// Bytes arriving: so many of so many (0 until `exporting` says).
    Running { received: u64, total: u64 },
    /// Downloaded under this name.
    Done(String),
    /// Broke off after `received` bytes, and why; "Resume" asks for the rest.
    Failed { received: u64, why: String },
}

/// What the page shows of the history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryUi {
    pub access: Access,
    /// The recorded stretches of the range listed last, oldest first.
    pub spans: Vec<Span>,
    /// The oldest recorded time the camera keeps.
    pub oldest: Option<UnixMillis>,
    /// Whether the camera records now.
    pub recording: bool,
    /// The wall-clock time of the recorded picture shown; `None` while live.
    pub at: Option<UnixMillis>,
    pub paused: bool,
    /// A sentence for the person (a refusal, a failure), with the nearest recording when
    /// nothing was recorded where they asked.
    pub message: Option<String>,
    pub nearest: Option<Span>,
    pub export: ExportState,
    /// The motion events' start times, marked on the timeline.
    pub events: Vec<UnixMillis>,
}

/// The sentences of [`Access`], for `.history-message`.
pub fn access_sentence(access: Access) -> Option<&'static str> {
    match access {
        Access::NotRecording => Some("This camera does not record."),
        Access::NotPermitted => Some(
            "You may not see this camera's recordings: its owner has not allowed it on your share.",
        ),
        Access::Unknown | Access::Records => None,
    }
}

/// An export's range from two times chosen in any order: at least a second, at most an hour.
pub fn export_range(a: UnixMillis, b: UnixMillis) -> Result<(UnixMillis, UnixMillis), String> {
    let (from, to) = (a.min(b), a.max(b));
    if to - from < 1000 {
        return Err("Choose where the export starts and where it ends.".into());
    }
    if to - from > MAX_EXPORT_MS {
        return Err(format!(
            "An export can be at most 1 hour long; this one is {}.",
            format::duration(((to - from) / 1000) as u64)
        ));
    }
    Ok((from, to))
}

/// An export under way: its bytes so far (`parts`, Uint8Arrays) become one Blob at the end.
struct ExportJob {
    stream: StreamId,
    from: UnixMillis,
    to: UnixMillis,
    parts: js_sys::Array,
    received: u64,
    total: u64,
    file_name: String,
    running: bool,
}

/// The playback video's events that move the playback on: the picture moving, or stalling at
/// a gap.
const VIDEO_EVENTS: [&str; 2] = ["timeupdate", "waiting"];
/// The channel's events.
const CHANNEL_EVENTS: [&str; 3] = ["message", "open", "close"];
/// The panel's events: its buttons and speed, and the pointer on the timeline.
const PANEL_EVENTS: [&str; 2] = ["click", "change"];
const POINTER_EVENTS: [&str; 4] = ["mousedown", "mousemove", "mouseup", "mouseleave"];

struct Client {
    ui: HistoryUi,
    panel: Panel,
    /// The `<video class="playback">` and the live one.
    video: HtmlVideoElement,
    live: HtmlVideoElement,
    channel: Option<RtcDataChannel>,
    channel_callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
    next_stream: StreamId,
    speed: f64,
    playback: Option<Playback>,
    export: Option<ExportJob>,
    /// Where to go on playing once a new channel opens (the old one's stream went with it).
    resume: Option<UnixMillis>,
    ticker: Option<IntervalHandle>,
    /// Seconds the ticker counted (the list is refreshed every 30).
    seconds: u32,
    /// The video's and the panel's listeners, one closure each.
    on_video: Closure<dyn FnMut()>,
    on_panel: Closure<dyn FnMut(Event)>,
    /// The camera's motion events, under the timeline.
    events: Option<EventsPanel>,
    /// The time the page was opened to show (`?at=`, an event's start): played from a little
    /// before it once the camera says what it recorded.
    pending_at: Option<UnixMillis>,
}

/// One watch's history: what the page calls.
#[derive(Clone)]
pub struct History(Rc<RefCell<Client>>);

fn now() -> UnixMillis {
    js_sys::Date::now() as UnixMillis
}

/// One of the viewer's messages as the channel's JSON envelope (`mumu_shared::encode`'s
/// format, without a `request_id`: nothing here waits on a reply by it). Written by hand, as
/// [`read`] reads: serde's code for these types would cost the app's WASM about 8 KB of its
/// gzip budget; `the_wire_format_is_the_protocols` holds both to `mumu_shared`'s.
pub fn write(message: &ViewerToDevice, ts: UnixMillis) -> String {
    let (kind, payload) = match message {
        ViewerToDevice::List(l) => ("list", format!(r#""from":{},"to":{}"#, l.from, l.to)),
        ViewerToDevice::Play(p) => (
            "play",
            format!(r#""stream":{},"at":{},"until":{}"#, p.stream, p.at, p.until),
        ),
        ViewerToDevice::More(m) => (
            "more",
            format!(r#""stream":{},"until":{}"#, m.stream, m.until),
        ),
        ViewerToDevice::Stop(s) => ("stop", format!(r#""stream":{}"#, s.stream)),
        ViewerToDevice::Export(e) => (
            "export",
            format!(
                r#""stream":{},"from":{},"to":{},"offset":{}"#,
                e.stream, e.from, e.to, e.offset
            ),
        ),
        ViewerToDevice::ListEvents(l) => {
            let fields = [("from", l.from), ("before", l.before)]
                .into_iter()
                .chain([("limit", l.limit.map(i64::from))])
                .filter_map(|(key, value)| Some(format!(r#""{key}":{}"#, value?)))
                .collect::<Vec<_>>();
            ("list_events", fields.join(","))
        }
        ViewerToDevice::GetThumbnail(t) => (
            "get_thumbnail",
            format!(r#""stream":{},"start":{}"#, t.stream, t.start),
        ),
        ViewerToDevice::GetMotionSettings(_) => ("get_motion_settings", String::new()),
        ViewerToDevice::SetMotionSettings(set) => (
            "set_motion_settings",
            format!(r#""settings":{}"#, settings_json(&set.settings)),
        ),
    };
    format!(r#"{{"type":"{kind}","payload":{{{payload}}},"ts":{ts}}}"#)
}

/// [`write`] with a `request_id`, which the camera's answer carries back.
pub fn write_request(message: &ViewerToDevice, ts: UnixMillis, request: &str) -> String {
    let text = write(message, ts);
    let id = serde_json::Value::String(request.to_owned());
    format!(r#"{},"request_id":{id}}}"#, &text[..text.len() - 1])
}

/// Motion settings as JSON, written by hand like [`write`]'s messages.
fn settings_json(settings: &MotionSettings) -> String {
    let shape = |points: &[Point]| {
        let points: Vec<String> = points
            .iter()
            .map(|p| format!(r#"{{"x":{},"y":{}}}"#, p.x, p.y))
            .collect();
        format!(r#""points":[{}]"#, points.join(","))
    };
    let zones: Vec<String> = (settings.zones.iter())
        .map(|z| {
            let name = serde_json::Value::String(z.name.clone());
            format!(r#"{{"name":{name},{}}}"#, shape(&z.points))
        })
        .collect();
    let masks: Vec<String> = (settings.masks.iter())
        .map(|m| format!("{{{}}}", shape(&m.points)))
        .collect();
    format!(
        r#"{{"sensitivity":{},"min_area":{},"zones":[{}],"masks":[{}]}}"#,
        settings.sensitivity,
        settings.min_area,
        zones.join(","),
        masks.join(",")
    )
}

fn span(value: &serde_json::Value) -> Option<Span> {
    Some(Span {
        start: value["start"].as_i64()?,
        end: value["end"].as_i64()?,
    })
}

/// The camera's message in `value` (a JSON envelope), if it is one this build knows and whole.
pub fn read(value: &serde_json::Value) -> Option<DeviceToViewer> {
    let p = &value["payload"];
    let text = |key: &str| p[key].as_str().map(str::to_owned);
    let stream = p["stream"]
        .as_u64()
        .and_then(|s| StreamId::try_from(s).ok());
    Some(match value["type"].as_str()? {
        "recordings" => DeviceToViewer::Recordings(Recordings {
            from: p["from"].as_i64()?,
            to: p["to"].as_i64()?,
            spans: p["spans"].as_array()?.iter().filter_map(span).collect(),
            truncated: p["truncated"].as_bool().unwrap_or_default(),
            oldest: p["oldest"].as_i64(),
            recording: p["recording"].as_bool()?,
        }),
        "playing" => DeviceToViewer::Playing(Playing {
            stream: stream?,
            start: p["start"].as_i64()?,
            origin: p["origin"].as_i64()?,
            mime: text("mime")?,
        }),
        "exporting" => DeviceToViewer::Exporting(Exporting {
            stream: stream?,
            start: p["start"].as_i64()?,
            end: p["end"].as_i64()?,
            bytes: p["bytes"].as_u64()?,
            file_name: text("file_name")?,
        }),
        "stream_ended" => DeviceToViewer::StreamEnded(StreamEnded {
            stream: stream?,
            reason: match p["reason"].as_str()? {
                "complete" => StreamEndReason::Complete,
                "live_edge" => StreamEndReason::LiveEdge,
                "stopped" => StreamEndReason::Stopped,
                "revoked" => StreamEndReason::Revoked,
                "failed" => StreamEndReason::Failed,
                _ => StreamEndReason::Other,
            },
            message: text("message"),
        }),
        "thumbnail" => DeviceToViewer::Thumbnail(Thumbnail {
            stream: stream?,
            start: p["start"].as_i64()?,
            bytes: p["bytes"].as_u64()?,
            mime: text("mime")?,
        }),
        "motion_settings" => DeviceToViewer::MotionSettings(CurrentMotionSettings {
            settings: serde_json::from_value::<MotionSettings>(p["settings"].clone()).ok()?,
            detecting: p["detecting"].as_bool()?,
        }),
        "refused" => DeviceToViewer::Refused(Refusal {
            stream,
            code: match p["code"].as_str()? {
                "bad_message" => RefusalCode::BadMessage,
                "not_permitted" => RefusalCode::NotPermitted,
                "not_recording" => RefusalCode::NotRecording,
                "no_recording" => RefusalCode::NoRecording,
                "bad_range" => RefusalCode::BadRange,
                "busy" => RefusalCode::Busy,
                "failed" => RefusalCode::Failed,
                "invalid_settings" => RefusalCode::InvalidSettings,
                "no_event" => RefusalCode::NoEvent,
                "no_motion" => RefusalCode::NoMotion,
                _ => RefusalCode::Other,
            },
            message: text("message").unwrap_or_default(),
            nearest: span(&p["nearest"]),
        }),
        _ => return None,
    })
}

impl History {
    /// A history drawn into `root`, playing into a `<video class="playback">` it puts over the
    /// `live` one (which stays connected, so that going back to live is instant), with the
    /// camera's motion events under it; `at` (an event's start) is played from a little before
    /// it as soon as the camera says what it recorded.
    pub fn new(
        root: web_sys::Element,
        live: HtmlVideoElement,
        device_id: DeviceId,
        at: Option<UnixMillis>,
    ) -> Option<Self> {
        let panel = Panel::new(root.clone())?;
        let live_for_events = live.clone();
        let video: HtmlVideoElement = web_sys::window()?
            .document()?
            .create_element("video")
            .ok()?
            .unchecked_into();
        let _ = video.set_attribute("class", "playback");
        // As the live one: inline, muted and by itself (on an iPhone too), as attributes and as
        // the `muted` property (the attribute mutes only a parsed element).
        for name in ["playsinline", "autoplay", "muted"] {
            let _ = video.set_attribute(name, "");
        }
        let _ = js_sys::Reflect::set(&video, &"muted".into(), &true.into());
        let _ = video.set_attribute("aria-label", "Recorded video");
        let _ = live.parent_node()?.append_child(&video);
        let client = Rc::new_cyclic(|weak: &std::rc::Weak<RefCell<Client>>| {
            let w = weak.clone();
            let on_video = Closure::<dyn FnMut()>::new(move || {
                if let Some(client) = w.upgrade() {
                    History(client).tick();
                }
            });
            let w = weak.clone();
            let on_panel = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                if let Some(client) = w.upgrade() {
                    History(client).on_panel(&event);
                }
            });
            let w = weak.clone();
            let ticker = set_interval_with_handle(
                move || {
                    if let Some(client) = w.upgrade() {
                        History(client).second();
                    }
                },
                Duration::from_secs(1),
            )
            .ok();
            RefCell::new(Client {
                ui: HistoryUi::default(),
                panel,
                video,
                live,
                channel: None,
                channel_callbacks: Vec::new(),
                next_stream: 0,
                speed: 1.0,
                playback: None,
                export: None,
                resume: None,
                ticker,
                seconds: 0,
                on_video,
                on_panel,
                events: None,
                pending_at: at,
            })
        });
        {
            let c = client.borrow();
            listen(&c.video, &VIDEO_EVENTS, c.on_video.as_ref(), true);
            listen(c.panel.root(), &PANEL_EVENTS, c.on_panel.as_ref(), true);
            listen(
                c.panel.timeline(),
                &POINTER_EVENTS,
                c.on_panel.as_ref(),
                true,
            );
        }
        let history = Self(client);
        let hooks = history.hooks(device_id.clone());
        let events = EventsPanel::new(&root, device_id, live_for_events, at, hooks);
        history.0.borrow_mut().events = events;
        // Said before anyone clicks: the timeline and export still work without it.
        if let Some(why) = super::playback::cannot_play("video/mp4") {
            history.update(|u| u.message = Some(why.into()));
        }
        Some(history)
    }

    /// Changes what is shown, and shows it.
    fn update(&self, f: impl FnOnce(&mut HistoryUi)) {
        let mut c = self.0.borrow_mut();
        let c = &mut *c;
        f(&mut c.ui);
        c.panel.draw(&c.ui);
    }

    /// What the events panel calls here: each holds the history weakly.
    fn hooks(&self, device_id: DeviceId) -> Hooks {
        let signaling = crate::signaling::Signaling::get();
        let weak = Rc::downgrade(&self.0);
        let w = weak.clone();
        let send = move |message: ViewerToDevice, request: Option<&str>| {
            w.upgrade()
                .is_some_and(|c| History(c).send_request(message, request))
        };
        let w = weak.clone();
        let play = move |at| {
            if let Some(c) = w.upgrade() {
                History(c).seek(at);
            }
        };
        let marks = move |starts: Vec<UnixMillis>| {
            if let Some(c) = weak.upgrade() {
                History(c).update(|u| u.events = starts);
            }
        };
        let online = move || {
            leptos::prelude::untrack(|| signaling.device(&device_id).is_some_and(|d| d.online))
        };
        Hooks {
            send: Box::new(send),
            play: Box::new(play),
            marks: Box::new(marks),
            online: Box::new(online),
        }
    }

    /// The events panel, if the page has one (cloned: it is called with nothing borrowed).
    fn events(&self) -> Option<EventsPanel> {
        self.0.borrow().events.clone()
    }

    /// The camera's peer is up: a camera that records has opened its channel or is about to.
    /// One that opened none within a few seconds does not record.
    pub fn expect_channel(&self) {
        let history = self.clone();
        set_timeout(
            move || {
                let none = history.0.borrow().channel.is_none();
                history.update(|u| {
                    if none && u.access == Access::Unknown {
                        u.access = Access::NotRecording;
                    }
                });
            },
            Duration::from_secs(4),
        );
    }

    /// Uses the shown peer's channel (`None`: no channel now). A playback goes on from the
    /// picture shown and an export from its last byte, on the new channel.
    pub fn attach(&self, channel: Option<RtcDataChannel>) {
        {
            let mut c = self.0.borrow_mut();
            if c.channel == channel {
                return;
            }
            // The old channel's stream is gone with it: a new one goes on from the picture.
            if let Some(p) = c.playback.take() {
                c.resume = Some(p.shown(&c.video).unwrap_or(p.at));
            }
            if let (Some(old), Some(callback)) = (c.channel.take(), c.channel_callbacks.pop()) {
                listen(&old, &CHANNEL_EVENTS, callback.as_ref(), false);
            }
            let Some(channel) = channel else {
                drop(c);
                if let Some(events) = self.events() {
                    events.channel(false);
                }
                return;
            };
            // Set and read by name: web-sys's enums for them cost the WASM more.
            let _ = js_sys::Reflect::set(&channel, &"binaryType".into(), &"arraybuffer".into());
            let weak = Rc::downgrade(&self.0);
            let on_event = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let Some(client) = weak.upgrade() else { return };
                let history = History(client);
                let event: Event = event.unchecked_into();
                match event.type_().as_str() {
                    "message" => history.receive(event.unchecked_ref()),
                    "open" => history.opened(),
                    _ => history.closed(),
                }
            });
            listen(&channel, &CHANNEL_EVENTS, on_event.as_ref(), true);
            c.channel_callbacks = vec![on_event];
            let open = js_sys::Reflect::get(&channel, &"readyState".into())
                .ok()
                .and_then(|state| state.as_string())
                .is_some_and(|state| state == "open");
            c.channel = Some(channel);
            if !open {
                return;
            }
        }
        self.opened();
    }

    /// Stops what runs and lets go of the channel, the video and the panel (the page is
    /// leaving).
    pub fn close(&self) {
        self.live();
        let export = self.0.borrow_mut().export.take().filter(|e| e.running);
        if let Some(job) = export {
            self.send(ViewerToDevice::Stop(StopStream { stream: job.stream }));
        }
        self.attach(None);
        if let Some(events) = self.0.borrow_mut().events.take() {
            events.close();
        }
        let mut c = self.0.borrow_mut();
        if let Some(ticker) = c.ticker.take() {
            ticker.clear();
        }
        listen(&c.video, &VIDEO_EVENTS, c.on_video.as_ref(), false);
        listen(c.panel.root(), &PANEL_EVENTS, c.on_panel.as_ref(), false);
        listen(
            c.panel.timeline(),
            &POINTER_EVENTS,
            c.on_panel.as_ref(),
            false,
        );
        // A new watch of the same tile puts its own.
        c.video.remove();
    }

    fn send(&self, message: ViewerToDevice) -> bool {
        self.send_request(message, None)
    }

    /// Sends `message`, with `request` as its `request_id` if given.
    fn send_request(&self, message: ViewerToDevice, request: Option<&str>) -> bool {
        let text = match request {
            Some(request) => write_request(&message, now(), request),
            None => write(&message, now()),
        };
        let sent = self
            .0
            .borrow()
            .channel
            .as_ref()
            .is_some_and(|channel| channel.send_with_str(&text).is_ok());
        if !sent {
            self.say("The connection to the camera is down; try again once it is back.");
        }
        sent
    }

    fn say(&self, sentence: &str) {
        self.update(|u| u.message = Some(sentence.to_owned()));
    }

    fn new_stream(&self) -> StreamId {
        let mut c = self.0.borrow_mut();
        c.next_stream = c.next_stream.wrapping_add(1);
        c.next_stream
    }

    fn opened(&self) {
        self.list();
        if let Some(events) = self.events() {
            events.channel(true);
        }
        let running = self.0.borrow().export.as_ref().is_some_and(|e| e.running);
        if running {
            self.resume_export();
        }
        let resume = self.0.borrow_mut().resume.take();
        if let Some(at) = resume {
            self.play_at(at);
        }
    }

    /// The channel closed under us: an export breaks off; a playback plays what it has.
    fn closed(&self) {
        if let Some(events) = self.events() {
            events.channel(false);
        }
        let mut c = self.0.borrow_mut();
        let c = &mut *c;
        c.channel = None;
        if let Some(p) = c.playback.as_mut() {
            p.ended = true;
        }
        if let Some(job) = c.export.as_mut().filter(|e| e.running) {
            job.running = false;
            c.ui.export = ExportState::Failed {
                received: job.received,
                why: "The connection to the camera closed during the export.".into(),
            };
            c.panel.draw(&c.ui);
        }
    }

    /// Asks what is recorded from a day back (or the timeline's start) to now.
    fn list(&self) {
        let (from, open) = {
            let c = self.0.borrow();
            (c.panel.list_from(&c.ui), c.channel.is_some())
        };
        if open {
            self.send(ViewerToDevice::List(ListRecordings {
                from,
                to: now() + 60_000,
            }));
        }
    }

    /// Every second: the clock and the live edge move; every 30 s the list is refreshed, every
    /// 5 s while recordings are refused, so a permission the owner gives back shows within
    /// seconds (the camera hears it at once; this viewer only by asking).
    fn second(&self) {
        let refresh = {
            let mut c = self.0.borrow_mut();
            c.panel.marks.now = now();
            c.seconds = c.seconds.wrapping_add(1);
            let every = if c.ui.access == Access::NotPermitted {
                5
            } else {
                30
            };
            c.seconds.is_multiple_of(every)
        };
        self.update(|_| {});
        if refresh {
            self.list();
        }
        if let Some(events) = self.events() {
            events.second();
        }
    }

    fn receive(&self, event: &MessageEvent) {
        let data = event.data();
        if let Some(text) = data.as_string() {
            // A message this build does not know (a newer camera's) is left alone.
            let message: Option<serde_json::Value> = serde_json::from_str(&text).ok();
            let Some(message) = message else { return };
            let settings = message["request_id"].as_str() == Some(SETTINGS_REQUEST);
            match (read(&message), self.events()) {
                (Some(DeviceToViewer::Refused(refusal)), Some(events))
                    if settings || refusal.stream.is_some_and(|s| s >= FIRST_STREAM) =>
                {
                    events.refused(refusal)
                }
                (Some(DeviceToViewer::StreamEnded(ended)), Some(events))
                    if ended.stream >= FIRST_STREAM =>
                {
                    events.ended(ended)
                }
                (Some(DeviceToViewer::Thumbnail(thumbnail)), Some(events)) => {
                    events.thumbnail(thumbnail)
                }
                (Some(DeviceToViewer::MotionSettings(current)), Some(events)) => {
                    events.settings(current.settings)
                }
                (Some(message), _) => self.handle(message),
                (None, _) => {}
            }
            return;
        }
        let bytes = js_sys::Uint8Array::new(&data).to_vec();
        let Some((stream, bytes)) = split_chunk(&bytes) else {
            return;
        };
        if stream >= FIRST_STREAM {
            if let Some(events) = self.events() {
                events.chunk(stream, bytes);
            }
            return;
        }
        let mut c = self.0.borrow_mut();
        if let Some(p) = c.playback.as_mut().filter(|p| p.stream == stream) {
            if let Err(why) = p.push(bytes) {
                drop(c);
                self.fail_playback(why);
            }
            return;
        }
        let Some(job) = c
            .export
            .as_mut()
            .filter(|e| e.stream == stream && e.running)
        else {
            return;
        };
        // Kept in the browser's memory, outside the WASM's (which never shrinks).
        job.parts.push(&js_sys::Uint8Array::from(bytes));
        job.received += bytes.len() as u64;
        let (received, total) = (job.received, job.total);
        drop(c);
        // The progress shown moves by at least 1 % (or 256 KB) at a time.
        let step = (total / 100).max(256 * 1024);
        if received >= total && total > 0 {
            self.finish_export();
        } else if received / step != (received - bytes.len() as u64) / step {
            self.update(|u| u.export = ExportState::Running { received, total });
        }
    }

    fn handle(&self, message: DeviceToViewer) {
        match message {
            DeviceToViewer::Recordings(r) => {
                self.update(|u| {
                    u.access = if r.spans.is_empty() && !r.recording && r.oldest.is_none() {
                        Access::NotRecording
                    } else {
                        Access::Records
                    };
                    u.spans = r.spans;
                    u.oldest = r.oldest;
                    u.recording = r.recording;
                });
                // Opened for an event (a notification's link): its recording, from before it.
                let at = {
                    let mut c = self.0.borrow_mut();
                    let records = c.ui.access == Access::Records;
                    c.pending_at.take_if(|_| records)
                };
                if let Some(at) = at {
                    self.seek(at - PRE_ROLL_MS);
                }
            }
            DeviceToViewer::Playing(playing) => {
                let result = {
                    let mut c = self.0.borrow_mut();
                    let (video, paused) = (c.video.clone(), c.ui.paused);
                    match c.playback.as_mut().filter(|p| p.stream == playing.stream) {
                        Some(p) => p.start(&video, &playing, paused),
                        None => return,
                    }
                };
                if let Err(why) = result {
                    self.fail_playback(&why);
                }
            }
            DeviceToViewer::Exporting(e) => {
                let state = {
                    let mut c = self.0.borrow_mut();
                    let Some(job) = c.export.as_mut().filter(|j| j.stream == e.stream) else {
                        return;
                    };
                    job.total = e.bytes;
                    job.file_name = e.file_name;
                    ExportState::Running {
                        received: job.received,
                        total: job.total,
                    }
                };
                self.update(|u| u.export = state);
            }
            DeviceToViewer::StreamEnded(ended) => {
                let (playback, export) = self.which(ended.stream);
                let why = match ended.reason {
                    StreamEndReason::Complete
                    | StreamEndReason::Stopped
                    | StreamEndReason::LiveEdge => None,
                    StreamEndReason::Revoked => {
                        self.update(|u| u.access = Access::NotPermitted);
                        Some("The owner has withdrawn your permission to see recordings.")
                    }
                    _ => Some(
                        "The camera could not read that recording (it may have been deleted to \
                         make room).",
                    ),
                };
                if playback {
                    if let Some(p) = self.0.borrow_mut().playback.as_mut() {
                        p.ended = true;
                    }
                    if let Some(why) = why {
                        self.fail_playback(why);
                    }
                }
                if export {
                    match (ended.reason, why) {
                        (StreamEndReason::Complete, _) => self.finish_export(),
                        (_, Some(why)) => self.fail_export(why),
                        _ => {}
                    }
                }
            }
            DeviceToViewer::Refused(refusal) => self.refused(refusal),
            // The events panel's, handed to it in `receive`; events are listed by the server.
            DeviceToViewer::Events(_)
            | DeviceToViewer::Thumbnail(_)
            | DeviceToViewer::MotionSettings(_) => {}
        }
    }

    fn refused(&self, refusal: Refusal) {
        let (playback, export) = refusal.stream.map_or((false, false), |s| self.which(s));
        let sentence = match refusal.code {
            RefusalCode::NotPermitted => {
                self.update(|u| u.access = Access::NotPermitted);
                None
            }
            RefusalCode::NotRecording => {
                self.update(|u| u.access = Access::NotRecording);
                None
            }
            RefusalCode::NoRecording => Some(
                if refusal.nearest.is_some() {
                    "Nothing is recorded at the time you chose; the nearest recording is offered."
                } else {
                    "Nothing is recorded at the time you chose."
                }
                .to_owned(),
            ),
            _ => Some(sentence_case(&refusal.message)),
        };
        if playback {
            self.0.borrow_mut().playback = None;
            self.live();
        }
        if export {
            self.fail_export(sentence.as_deref().unwrap_or("Refused."));
        } else if let Some(sentence) = sentence {
            self.update(|u| {
                u.message = Some(sentence);
                u.nearest = refusal.nearest;
            });
        }
    }

    /// Whether `stream` is the playback's, the export's.
    fn which(&self, stream: StreamId) -> (bool, bool) {
        let c = self.0.borrow();
        (
            c.playback.as_ref().is_some_and(|p| p.stream == stream),
            c.export.as_ref().is_some_and(|e| e.stream == stream),
        )
    }

    fn fail_playback(&self, why: &str) {
        let stream = self.0.borrow_mut().playback.take().map(|p| p.stream);
        if let Some(stream) = stream {
            self.send(ViewerToDevice::Stop(StopStream { stream }));
        }
        self.live();
        self.say(why);
    }

    /// Shows `at` (wall clock): live if it is now, else the recording, from what is buffered
    /// if it is, else from the camera.
    pub fn seek(&self, at: UnixMillis) {
        let live = {
            let mut c = self.0.borrow_mut();
            c.panel.marks.asked = at;
            c.panel.is_live(at)
        };
        if live {
            self.live();
        } else {
            self.play_at(at);
        }
    }

    fn play_at(&self, at: UnixMillis) {
        let old = {
            let mut c = self.0.borrow_mut();
            c.ui.message = None;
            c.ui.nearest = None;
            match &c.playback {
                Some(p) if p.seek_within(&c.video, at) => {
                    c.ui.at = Some(at);
                    let c = &mut *c;
                    c.panel.draw(&c.ui);
                    return;
                }
                Some(p) => Some(p.stream).filter(|_| !p.ended),
                None => None,
            }
        };
        if let Some(stream) = old {
            self.send(ViewerToDevice::Stop(StopStream { stream }));
        }
        let stream = self.new_stream();
        let until = {
            let c = self.0.borrow();
            until_after(&c.ui.spans, at, (AHEAD_HIGH_MS as f64 * c.speed) as i64)
        };
        if self.send(ViewerToDevice::Play(Play { stream, at, until })) {
            self.0.borrow_mut().playback = Some(Playback::new(stream, at, until));
            self.update(|u| u.at = Some(at));
        }
    }

    /// Back to the live picture.
    pub fn live(&self) {
        let playing = self.0.borrow_mut().playback.take();
        if let Some(p) = playing.filter(|p| !p.ended) {
            self.send(ViewerToDevice::Stop(StopStream { stream: p.stream }));
        }
        {
            let c = self.0.borrow();
            let _ = c.video.pause();
            let _ = c.video.remove_attribute("src");
            c.video.load();
            let _ = c.live.play();
        }
        self.update(|u| {
            u.at = None;
            u.paused = false;
        });
    }

    /// Pauses or plays whichever picture is shown.
    fn toggle_pause(&self) {
        let video = {
            let c = self.0.borrow();
            if c.playback.is_some() {
                c.video.clone()
            } else {
                c.live.clone()
            }
        };
        let paused = !video.paused();
        if paused {
            let _ = video.pause();
        } else {
            let _ = video.play();
        }
        self.update(|u| u.paused = paused);
    }

    /// Pauses the recording and moves it one frame (1/30 s) on.
    fn step(&self) {
        {
            let c = self.0.borrow();
            if c.playback.is_none() {
                return;
            }
            let _ = c.video.pause();
            c.video
                .set_current_time(c.video.current_time() + 1.0 / 30.0);
        }
        self.update(|u| u.paused = true);
    }

    /// Plays recordings at `speed` (1, 2, 4, 8).
    fn set_speed(&self, speed: f64) {
        let mut c = self.0.borrow_mut();
        c.speed = speed;
        // The default rate outlives a new source; the rate is the current one's.
        c.video.set_default_playback_rate(speed);
        c.video.set_playback_rate(speed);
    }

    /// The picture moved: the playback jumps gaps, forgets the past and asks for more; the
    /// clock follows.
    fn tick(&self) {
        let (tick, shown, paused) = {
            let mut c = self.0.borrow_mut();
            let c = &mut *c;
            let Some(p) = c.playback.as_mut() else { return };
            let tick = p.tick(&c.video, &c.ui.spans, c.speed);
            (tick, p.shown(&c.video), c.video.paused())
        };
        match tick {
            Tick::Fine => {}
            Tick::More(until) => {
                let stream = self.0.borrow().playback.as_ref().map(|p| p.stream);
                if let Some(stream) = stream {
                    self.send(ViewerToDevice::More(More { stream, until }));
                }
            }
            // Caught up with the recording: what follows is live.
            Tick::Done => return self.live(),
        }
        self.update(|u| {
            u.at = shown.or(u.at);
            u.paused = paused;
        });
    }

    /// The person did something on the panel: a button, the speed, the pointer on the
    /// timeline.
    fn on_panel(&self, event: &Event) {
        let kind = event.type_();
        if kind.starts_with("mouse") {
            return self.pointer(&kind, event.unchecked_ref());
        }
        let Some(target) = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        // The events panel, inside the same root, handles its own.
        if target.closest(".events").ok().flatten().is_some() {
            return;
        }
        if kind == "change" {
            let speed = event_value(&target).parse::<u8>().unwrap_or(1);
            return self.set_speed(f64::from(speed));
        }
        let Some(button) = target.closest("button").ok().flatten() else {
            return;
        };
        let shown = {
            let c = self.0.borrow();
            c.panel.shown(&c.ui)
        };
        let mark = |end: bool| {
            let mut c = self.0.borrow_mut();
            let c = &mut *c;
            if end {
                c.panel.marks.export.1 = Some(shown);
            } else {
                c.panel.marks.export.0 = Some(shown);
            }
            c.panel.draw(&c.ui);
        };
        let class = button.get_attribute("class").unwrap_or_default();
        match class.as_str() {
            "back" => self.seek(shown - 2 * 60_000),
            "live" => self.live(),
            "play" => self.toggle_pause(),
            "step" => self.step(),
            "zoom-in" | "zoom-out" => {
                let wider = class == "zoom-out";
                self.0.borrow_mut().panel.zoom(if wider { 1 } else { -1 });
                self.update(|_| {});
                if wider {
                    self.list();
                }
            }
            "mark-start" => mark(false),
            "mark-end" => mark(true),
            "export-start" => self.start_export(),
            "export-resume" => self.resume_export(),
            "nearest" => {
                let (nearest, asked) = {
                    let c = self.0.borrow();
                    (c.ui.nearest, c.panel.marks.asked)
                };
                if let Some(span) = nearest {
                    self.seek(nearest_time(span, asked));
                }
            }
            _ => {}
        }
    }

    /// A press, drag or release on the timeline: the release shows that time.
    fn pointer(&self, kind: &str, event: &web_sys::MouseEvent) {
        let release = {
            let mut c = self.0.borrow_mut();
            let c = &mut *c;
            let t = c.panel.time_of(&c.ui, event);
            let m = &mut c.panel.marks;
            let pressed = event.buttons() & 1 == 1;
            match kind {
                "mousedown" => m.drag = Some(t),
                "mousemove" if pressed && m.drag.is_some() => m.drag = Some(t),
                "mousemove" => return,
                _ => {}
            }
            let release = if kind == "mouseup" || kind == "mouseleave" {
                m.drag.take()
            } else {
                None
            };
            c.panel.draw(&c.ui);
            release
        };
        if let Some(t) = release {
            self.seek(t);
        }
    }

    /// Exports the range marked, if it can be.
    fn start_export(&self) {
        let marked = self.0.borrow().panel.marks.export;
        let range = match marked {
            (Some(a), Some(b)) => export_range(a, b),
            _ => Err("Mark where the export starts and where it ends.".into()),
        };
        let (from, to) = match range {
            Ok(range) => range,
            Err(why) => {
                self.0.borrow_mut().panel.marks.export_error = Some(why);
                return self.update(|_| {});
            }
        };
        let running = {
            let mut c = self.0.borrow_mut();
            c.panel.marks.export_error = None;
            c.export.as_ref().filter(|e| e.running).map(|e| e.stream)
        };
        if let Some(stream) = running {
            self.send(ViewerToDevice::Stop(StopStream { stream }));
        }
        self.0.borrow_mut().export = Some(ExportJob {
            stream: 0,
            from,
            to,
            parts: js_sys::Array::new(),
            received: 0,
            total: 0,
            file_name: String::new(),
            running: false,
        });
        self.update(|u| {
            u.export = ExportState::Running {
                received: 0,
                total: 0,
            }
        });
        self.resume_export();
    }

    /// Asks for the export's bytes from the last one received (the camera makes the same file
    /// byte for byte).
    fn resume_export(&self) {
        let stream = self.new_stream();
        let request = {
            let mut c = self.0.borrow_mut();
            let Some(job) = c.export.as_mut() else { return };
            job.stream = stream;
            job.running = true;
            mumu_shared::history::Export {
                stream,
                from: job.from,
                to: job.to,
                offset: job.received,
            }
        };
        if !self.send(ViewerToDevice::Export(request)) {
            self.fail_export("The connection to the camera is down.");
        }
    }

    fn fail_export(&self, why: &str) {
        let received = {
            let mut c = self.0.borrow_mut();
            let Some(job) = c.export.as_mut() else { return };
            job.running = false;
            job.received
        };
        self.update(|u| {
            u.export = ExportState::Failed {
                received,
                why: why.to_owned(),
            }
        });
    }

    /// The last byte came: the file is downloaded.
    fn finish_export(&self) {
        let Some(job) = self.0.borrow_mut().export.take() else {
            return;
        };
        // The file's name says what it is: the Blob needs no type.
        let url = web_sys::Blob::new_with_u8_array_sequence(&job.parts)
            .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob));
        let state = match url {
            Ok(url) if crate::components::camera::download(&url, &job.file_name) => {
                // The download has its own copy once it started.
                set_timeout(
                    move || {
                        let _ = web_sys::Url::revoke_object_url(&url);
                    },
                    Duration::from_secs(60),
                );
                ExportState::Done(job.file_name)
            }
            _ => ExportState::Failed {
                received: 0,
                why: "This browser could not make the file.".into(),
            },
        };
        self.update(|u| u.export = state);
    }
}

/// Adds (or removes) `callback` as the listener of `events` on `target`.
fn listen(target: &web_sys::EventTarget, events: &[&str], callback: &JsValue, add: bool) {
    for event in events {
        let callback = callback.unchecked_ref();
        let _ = if add {
            target.add_event_listener_with_callback(event, callback)
        } else {
            target.remove_event_listener_with_callback(event, callback)
        };
    }
}

/// The value of a form control (the speed's `<select>`).
fn event_value(target: &web_sys::Element) -> String {
    js_sys::Reflect::get(target, &"value".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

/// The camera's sentence with a capital letter and a full stop.
pub(crate) fn sentence_case(text: &str) -> String {
    // ASCII only: the camera writes English, and Unicode's case tables would cost the WASM.
    let mut out = text.to_owned();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_is_a_second_to_an_hour() {
        assert_eq!(
            export_range(1_000, 1_500),
            Err("Choose where the export starts and where it ends.".into())
        );
        assert_eq!(export_range(20_000, 0), Ok((0, 20_000)), "either order");
        assert_eq!(export_range(0, MAX_EXPORT_MS), Ok((0, MAX_EXPORT_MS)));
        assert_eq!(
            export_range(0, MAX_EXPORT_MS + 20 * 60_000),
            Err("An export can be at most 1 hour long; this one is 1 h 20 min.".into())
        );
    }

    fn golden(name: &str) -> String {
        let path = format!(
            "{}/../shared/tests/golden/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_wire_format_is_the_protocols() {
        for name in [
            "list",
            "play",
            "more",
            "stop",
            "export",
            "list_events",
            "get_thumbnail",
            "get_motion_settings",
            "set_motion_settings",
        ] {
            let text = golden(&format!("viewer_to_device.{name}"));
            let sent = mumu_shared::decode::<ViewerToDevice>(&text).unwrap();
            let ours = write(&sent.message, sent.ts);
            let back = mumu_shared::decode::<ViewerToDevice>(&ours).unwrap();
            assert_eq!(
                (back.message, back.ts),
                (sent.message, sent.ts),
                "{name}: {ours}"
            );
        }
        for name in [
            "recordings",
            "playing",
            "exporting",
            "stream_ended",
            "refused",
            "refused.not_permitted",
            "refused.invalid_settings",
            "refused.no_event",
            "thumbnail",
            "motion_settings",
        ] {
            let text = golden(&format!("device_to_viewer.{name}"));
            let theirs = mumu_shared::decode::<DeviceToViewer>(&text)
                .unwrap()
                .message;
            let value = serde_json::from_str(&text).unwrap();
            assert_eq!(read(&value), Some(theirs), "{name}");
        }
        let unknown =
            serde_json::json!({"type": "refused", "payload": {"code": "new", "message": "m"}});
        assert!(matches!(
            read(&unknown),
            Some(DeviceToViewer::Refused(Refusal {
                code: RefusalCode::Other,
                ..
            }))
        ));
        let whole = serde_json::json!({"type": "playing", "payload": {"stream": 1}});
        assert_eq!(
            read(&whole),
            None,
            "a message missing a field is not acted on"
        );
    }

    #[test]
    fn a_request_carries_its_id_back() {
        let text = write_request(
            &ViewerToDevice::GetMotionSettings(Default::default()),
            7,
            SETTINGS_REQUEST,
        );
        let sent = mumu_shared::decode::<ViewerToDevice>(&text).unwrap();
        assert_eq!(sent.request_id.as_deref(), Some(SETTINGS_REQUEST), "{text}");
        assert_eq!(sent.ts, 7);
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(sentence_case("stream 3 is in use"), "Stream 3 is in use.");
        assert_eq!(sentence_case("Done."), "Done.");
        assert_eq!(
            access_sentence(Access::NotRecording),
            Some("This camera does not record.")
        );
        assert_eq!(access_sentence(Access::Records), None);
    }
}
