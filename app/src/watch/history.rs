//! The viewer's side of a watch session's `history` data channel (`mumu_shared::history`):
//! listing what the camera recorded, playing it (through [`super::playback`]) and exporting
//! it. Pages see only [`HistoryUi`], one signal; they act through [`History`]'s methods.

use super::playback::{AHEAD_HIGH_MS, Playback, Tick, until_after};
use crate::format;
use leptos::prelude::*;
use mumu_shared::history::{
    DeviceToViewer, Export, ListRecordings, MAX_EXPORT_MS, More, Play, RefusalCode, Span,
    StopStream, StreamEndReason, StreamId, ViewerToDevice, split_chunk,
};
use mumu_shared::{Envelope, UnixMillis};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{HtmlVideoElement, MessageEvent, RtcDataChannel, RtcDataChannelState};

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

/// An export's bytes, kept in the browser's memory as a Blob grows (`parts`: Blobs and
/// Uint8Arrays) until the last one.
struct ExportJob {
    stream: StreamId,
    from: UnixMillis,
    to: UnixMillis,
    parts: js_sys::Array,
    /// Bytes in `parts` not yet folded into a Blob.
    loose: u64,
    received: u64,
    total: u64,
    file_name: String,
    running: bool,
}

/// Loose bytes folded into one Blob (which the browser may keep on disk) at a time.
const FOLD_BYTES: u64 = 16 * 1024 * 1024;

struct Client {
    ui: RwSignal<HistoryUi>,
    /// The `<video class="playback">` and the live one.
    video: HtmlVideoElement,
    live: HtmlVideoElement,
    channel: Option<RtcDataChannel>,
    channel_callbacks: Vec<Closure<dyn FnMut(JsValue)>>,
    next_stream: StreamId,
    speed: f64,
    playback: Option<Playback>,
    export: Option<ExportJob>,
    /// How far back `list` asks.
    list_from: UnixMillis,
    _video_callbacks: Vec<Closure<dyn FnMut()>>,
}

/// One watch's history: what the page calls.
#[derive(Clone)]
pub struct History(Rc<RefCell<Client>>);

fn now() -> UnixMillis {
    js_sys::Date::now() as UnixMillis
}

impl History {
    /// A history shown through `ui`, playing into `video` beside the `live` one.
    pub fn new(ui: RwSignal<HistoryUi>, video: HtmlVideoElement, live: HtmlVideoElement) -> Self {
        let client = Rc::new(RefCell::new(Client {
            ui,
            video: video.clone(),
            live,
            channel: None,
            channel_callbacks: Vec::new(),
            next_stream: 1,
            speed: 1.0,
            playback: None,
            export: None,
            list_from: now() - 24 * 3_600_000,
            _video_callbacks: Vec::new(),
        }));
        // The picture moving (or stalling at a gap) drives the playback.
        let weak = Rc::downgrade(&client);
        let on_time = Closure::<dyn FnMut()>::new(move || {
            if let Some(client) = weak.upgrade() {
                History(client).tick();
            }
        });
        for event in ["timeupdate", "waiting"] {
            let _ = video.add_event_listener_with_callback(event, on_time.as_ref().unchecked_ref());
        }
        client.borrow_mut()._video_callbacks.push(on_time);
        Self(client)
    }

    /// Uses the shown peer's channel (`None`: no channel now). A playback goes on from the
    /// picture shown and an export from its last byte, on the new channel.
    pub fn attach(&self, channel: Option<RtcDataChannel>) {
        let resume_at = {
            let mut c = self.0.borrow_mut();
            if let Some(old) = c.channel.take() {
                old.set_onmessage(None);
                old.set_onopen(None);
                old.set_onclose(None);
            }
            c.channel_callbacks.clear();
            let Some(channel) = channel else { return };
            channel.set_binary_type(web_sys::RtcDataChannelType::Arraybuffer);
            let weak = Rc::downgrade(&self.0);
            let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                if let (Some(client), Ok(event)) = (weak.upgrade(), event.dyn_into()) {
                    History(client).receive(&event);
                }
            });
            let weak = Rc::downgrade(&self.0);
            let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| {
                if let Some(client) = weak.upgrade() {
                    History(client).opened();
                }
            });
            let weak = Rc::downgrade(&self.0);
            let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
                if let Some(client) = weak.upgrade() {
                    History(client).closed();
                }
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            c.channel_callbacks = vec![on_message, on_open, on_close];
            let open = channel.ready_state() == RtcDataChannelState::Open;
            c.channel = Some(channel);
            if !open {
                return;
            }
            c.playback
                .as_ref()
                .map(|p| p.shown(&c.video).unwrap_or(p.at))
        };
        self.opened();
        if let Some(at) = resume_at {
            self.play_at(at);
        }
    }

    /// Stops what runs and lets go of the channel (the page is leaving).
    pub fn close(&self) {
        let streams: Vec<StreamId> = {
            let c = self.0.borrow();
            c.playback
                .iter()
                .map(|p| p.stream)
                .chain(c.export.iter().filter(|e| e.running).map(|e| e.stream))
                .collect()
        };
        for stream in streams {
            self.send(ViewerToDevice::Stop(StopStream { stream }));
        }
        self.attach(None);
        let mut c = self.0.borrow_mut();
        c.playback = None;
        c.export = None;
    }

    fn send(&self, message: ViewerToDevice) -> bool {
        let c = self.0.borrow();
        let sent = c.channel.as_ref().is_some_and(|channel| {
            channel
                .send_with_str(&mumu_shared::encode(&Envelope::new(message, now())))
                .is_ok()
        });
        if !sent {
            drop(c);
            self.say("The connection to the camera is down; try again once it is back.");
        }
        sent
    }

    fn say(&self, sentence: &str) {
        self.0
            .borrow()
            .ui
            .update(|u| u.message = Some(sentence.to_owned()));
    }

    fn new_stream(&self) -> StreamId {
        let mut c = self.0.borrow_mut();
        c.next_stream = c.next_stream.wrapping_add(1);
        c.next_stream
    }

    fn opened(&self) {
        let from = self.0.borrow().list_from;
        self.list(from);
        let running = self.0.borrow().export.as_ref().is_some_and(|e| e.running);
        if running {
            self.resume_export();
        }
    }

    /// The channel closed under us: an export breaks off; a playback plays what it has.
    fn closed(&self) {
        let mut c = self.0.borrow_mut();
        c.channel = None;
        if let Some(p) = c.playback.as_mut() {
            p.ended = true;
        }
        if let Some(job) = c.export.as_mut().filter(|e| e.running) {
            job.running = false;
            let state = ExportState::Failed {
                received: job.received,
                why: "The connection to the camera closed during the export.".into(),
            };
            c.ui.update(|u| u.export = state);
        }
    }

    /// Asks what is recorded from `from` to now (the timeline asks again every ~30 s).
    pub fn list(&self, from: UnixMillis) {
        self.0.borrow_mut().list_from = from;
        if self.0.borrow().channel.is_some() {
            self.send(ViewerToDevice::List(ListRecordings {
                from,
                to: now() + 60_000,
            }));
        }
    }

    fn receive(&self, event: &MessageEvent) {
        let data = event.data();
        if let Some(text) = data.as_string() {
            match mumu_shared::decode::<DeviceToViewer>(&text) {
                Ok(envelope) => self.handle(envelope.message),
                Err(error) => leptos::logging::warn!("history channel: {error}"),
            }
            return;
        }
        let bytes = js_sys::Uint8Array::new(&data).to_vec();
        let Some((stream, bytes)) = split_chunk(&bytes) else {
            return;
        };
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
        job.parts.push(&js_sys::Uint8Array::from(bytes));
        job.received += bytes.len() as u64;
        job.loose += bytes.len() as u64;
        if job.loose >= FOLD_BYTES
            && let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence(&job.parts)
        {
            job.parts = js_sys::Array::of1(&blob);
            job.loose = 0;
        }
        let (received, total) = (job.received, job.total);
        let ui = c.ui;
        drop(c);
        // The progress shown moves by at least 1 % (or 256 KB) at a time.
        let step = (total / 100).max(256 * 1024);
        if received >= total && total > 0 {
            self.finish_export();
        } else if received / step != (received - bytes.len() as u64) / step {
            ui.update(|u| u.export = ExportState::Running { received, total });
        }
    }

    fn handle(&self, message: DeviceToViewer) {
        let ui = self.0.borrow().ui;
        match message {
            DeviceToViewer::Recordings(r) => ui.update(|u| {
                u.access = if r.spans.is_empty() && !r.recording && r.oldest.is_none() {
                    Access::NotRecording
                } else {
                    Access::Records
                };
                u.spans = r.spans;
                u.oldest = r.oldest;
                u.recording = r.recording;
            }),
            DeviceToViewer::Playing(playing) => {
                let result = {
                    let mut c = self.0.borrow_mut();
                    let (video, paused) = (c.video.clone(), ui.with_untracked(|u| u.paused));
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
                let mut c = self.0.borrow_mut();
                if let Some(job) = c.export.as_mut().filter(|j| j.stream == e.stream) {
                    job.total = e.bytes;
                    job.file_name = e.file_name;
                    let state = ExportState::Running {
                        received: job.received,
                        total: job.total,
                    };
                    drop(c);
                    ui.update(|u| u.export = state);
                }
            }
            DeviceToViewer::StreamEnded(ended) => {
                let (playback, export) = self.which(ended.stream);
                let why = match ended.reason {
                    StreamEndReason::Complete | StreamEndReason::Stopped => None,
                    StreamEndReason::LiveEdge => None,
                    StreamEndReason::Revoked => {
                        ui.update(|u| u.access = Access::NotPermitted);
                        Some("The owner has withdrawn your permission to see recordings.")
                    }
                    _ => Some(
                        "The camera could not read that recording (it may have been deleted to make room).",
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
            DeviceToViewer::Refused(refusal) => {
                let (playback, export) = refusal.stream.map_or((false, false), |s| self.which(s));
                let sentence = match refusal.code {
                    RefusalCode::NotPermitted => {
                        ui.update(|u| u.access = Access::NotPermitted);
                        None
                    }
                    RefusalCode::NotRecording => {
                        ui.update(|u| u.access = Access::NotRecording);
                        None
                    }
                    RefusalCode::NoRecording => Some(match refusal.nearest {
                        Some(_) => "Nothing is recorded at the time you chose; the nearest recording is offered below.".to_owned(),
                        None => "Nothing is recorded at the time you chose.".to_owned(),
                    }),
                    _ => Some(sentence_case(&refusal.message)),
                };
                if playback {
                    self.0.borrow_mut().playback = None;
                    self.live();
                }
                if export {
                    self.fail_export(sentence.as_deref().unwrap_or("Refused."));
                } else if let Some(sentence) = sentence {
                    ui.update(|u| {
                        u.message = Some(sentence);
                        u.nearest = refusal.nearest;
                    });
                }
            }
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

    /// Shows the recording at `at` (wall clock): within what is buffered if it is, else from
    /// the camera.
    pub fn play_at(&self, at: UnixMillis) {
        let ui = self.0.borrow().ui;
        ui.update(|u| {
            u.message = None;
            u.nearest = None;
        });
        let old = {
            let c = self.0.borrow();
            match &c.playback {
                Some(p) if p.seek_within(&c.video, at) => {
                    ui.update(|u| u.at = Some(at));
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
            let speed = c.speed;
            ui.with_untracked(|u| until_after(&u.spans, at, (AHEAD_HIGH_MS as f64 * speed) as i64))
        };
        if self.send(ViewerToDevice::Play(Play { stream, at, until })) {
            let mut c = self.0.borrow_mut();
            c.playback = Some(Playback::new(stream, at, until));
            c.live.pause().ok();
            ui.update(|u| u.at = Some(at));
        }
    }

    /// Back to the live picture.
    pub fn live(&self) {
        let mut c = self.0.borrow_mut();
        if let Some(p) = c.playback.take().filter(|p| !p.ended) {
            drop(c);
            self.send(ViewerToDevice::Stop(StopStream { stream: p.stream }));
            c = self.0.borrow_mut();
        }
        let _ = c.video.pause();
        let _ = c.video.remove_attribute("src");
        c.video.load();
        let _ = c.live.play();
        c.ui.update(|u| {
            u.at = None;
            u.paused = false;
        });
    }

    /// The picture shown, recorded or live.
    fn shown_video(&self) -> HtmlVideoElement {
        let c = self.0.borrow();
        if c.playback.is_some() {
            c.video.clone()
        } else {
            c.live.clone()
        }
    }

    /// Pauses or plays whichever picture is shown.
    pub fn toggle_pause(&self) {
        let video = self.shown_video();
        let paused = !video.paused();
        if paused {
            let _ = video.pause();
        } else {
            let _ = video.play();
        }
        self.0.borrow().ui.update(|u| u.paused = paused);
    }

    /// Pauses the recording and moves it one frame (1/30 s) on.
    pub fn step(&self) {
        let c = self.0.borrow();
        if c.playback.is_none() {
            return;
        }
        let _ = c.video.pause();
        c.video
            .set_current_time(c.video.current_time() + 1.0 / 30.0);
        c.ui.update(|u| u.paused = true);
    }

    /// Plays recordings at `speed` (1, 2, 4, 8).
    pub fn set_speed(&self, speed: f64) {
        let mut c = self.0.borrow_mut();
        c.speed = speed;
        // The default rate outlives a new source; the rate is the current one's.
        c.video.set_default_playback_rate(speed);
        c.video.set_playback_rate(speed);
    }

    /// The picture moved: the playback jumps gaps, forgets the past and asks for more; the
    /// clock follows.
    fn tick(&self) {
        let (tick, shown, paused, ui) = {
            let mut c = self.0.borrow_mut();
            let (ui, speed, video) = (c.ui, c.speed, c.video.clone());
            let Some(p) = c.playback.as_mut() else { return };
            let tick = ui.with_untracked(|u| p.tick(&video, &u.spans, speed));
            (tick, p.shown(&video), video.paused(), ui)
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
        ui.update(|u| {
            u.at = shown.or(u.at);
            u.paused = paused;
        });
    }

    /// Exports `from`..`to` (checked by [`export_range`]).
    pub fn export(&self, from: UnixMillis, to: UnixMillis) {
        let ui = self.0.borrow().ui;
        if let Some(job) = self.0.borrow().export.as_ref().filter(|e| e.running) {
            let stream = job.stream;
            self.send(ViewerToDevice::Stop(StopStream { stream }));
        }
        self.0.borrow_mut().export = Some(ExportJob {
            stream: 0,
            from,
            to,
            parts: js_sys::Array::new(),
            loose: 0,
            received: 0,
            total: 0,
            file_name: String::new(),
            running: false,
        });
        ui.update(|u| {
            u.export = ExportState::Running {
                received: 0,
                total: 0,
            }
        });
        self.resume_export();
    }

    /// Asks for the export's bytes from the last one received (the camera makes the same file
    /// byte for byte).
    pub fn resume_export(&self) {
        let stream = self.new_stream();
        let request = {
            let mut c = self.0.borrow_mut();
            let Some(job) = c.export.as_mut() else { return };
            job.stream = stream;
            job.running = true;
            Export {
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
        let mut c = self.0.borrow_mut();
        let Some(job) = c.export.as_mut() else { return };
        job.running = false;
        let state = ExportState::Failed {
            received: job.received,
            why: why.to_owned(),
        };
        c.ui.update(|u| u.export = state);
    }

    /// The last byte came: the file is downloaded.
    fn finish_export(&self) {
        let Some(job) = self.0.borrow_mut().export.take() else {
            return;
        };
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("video/mp4");
        let url = web_sys::Blob::new_with_u8_array_sequence_and_options(&job.parts, &options)
            .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob));
        let link = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("a").ok())
            .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
        let state = match (url, link) {
            (Ok(url), Some(link)) => {
                link.set_href(&url);
                link.set_download(&job.file_name);
                link.click();
                // The download has its own copy once it started.
                set_timeout(
                    move || {
                        let _ = web_sys::Url::revoke_object_url(&url);
                    },
                    std::time::Duration::from_secs(60),
                );
                ExportState::Done(job.file_name)
            }
            _ => ExportState::Failed {
                received: 0,
                why: "This browser could not make the file.".into(),
            },
        };
        self.0.borrow().ui.update(|u| u.export = state);
    }
}

/// The camera's sentence with a capital letter and a full stop.
fn sentence_case(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
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
