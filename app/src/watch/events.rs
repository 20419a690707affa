//! A camera's motion events under its watch page's timeline: the list comes from the server
//! (metadata only: when, which zones, how much moved), each event's thumbnail from the camera
//! itself over the watch session's `history` data channel (`get_thumbnail`), never through the
//! server; "camera offline" when it cannot be asked. "Play" shows the recording from
//! [`PRE_ROLL_MS`] before the event, and the events are marks on the timeline. The owner (or an
//! admin) opens the zones and masks editor ([`super::zones`]) from here.
//!
//! Drawn by hand into the page, like the timeline's panel ([`crate::components::timeline`]);
//! the channel belongs to [`super::history::History`], which hands this panel the messages that
//! are its own: those of its streams (ids from [`FIRST_STREAM`] up) and the answers to requests
//! sent with [`SETTINGS_REQUEST`] as their `request_id`.

use super::zones::{Action, ZoneEditor};
use crate::components::timeline::local_clock;
use crate::format;
use mumu_shared::api::Event as MotionEvent;
use mumu_shared::events::MotionSettings;
use mumu_shared::history::{
    GetMotionSettings, GetThumbnail, MAX_THUMBNAIL_BYTES, Refusal, RefusalCode, SetMotionSettings,
    StopStream, StreamEndReason, StreamEnded, StreamId, Thumbnail, ViewerToDevice,
};
use mumu_shared::{DeviceId, UnixMillis};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{Element, HtmlVideoElement};

/// How far before an event "Play" starts, in ms (the camera reports no pre-roll of its own).
pub const PRE_ROLL_MS: i64 = 5_000;

/// The events fetched from the server at a time ("Show older" fetches as many again).
pub const PAGE: u16 = 10;

/// The panel's streams (thumbnails) are numbered from here; the recordings' count up from 1.
pub const FIRST_STREAM: StreamId = 0x8000_0000;

/// The `request_id` of the motion settings' requests: their answers are the editor's.
pub const SETTINGS_REQUEST: &str = "motion";

/// The list is fetched again this often, in seconds.
const REFRESH_SECS: u32 = 15;

const MARKUP: &str = r#"<h3>Motion events</h3><p class="events-status muted" role="status"></p><ol class="event-list"></ol><div class="events-more"><button type="button" class="events-older" hidden>Show older</button> <button type="button" class="zones-open" hidden>Zones and privacy masks</button></div><div class="zone-editor" hidden></div>"#;

/// Sends a message on the channel (with a `request_id`); `false` if it is down.
pub type SendHook = Box<dyn Fn(ViewerToDevice, Option<&str>) -> bool>;

/// What the panel calls on the page's history.
pub struct Hooks {
    /// Sends a message on the channel.
    pub send: SendHook,
    /// Shows the recording at a time.
    pub play: Box<dyn Fn(UnixMillis)>,
    /// The events' start times, for the timeline's marks.
    pub marks: Box<dyn Fn(Vec<UnixMillis>)>,
    /// Whether the server says the camera is online now.
    pub online: Box<dyn Fn() -> bool>,
}

/// An event's picture, once asked for.
enum Picture {
    /// A `blob:` URL of the JPEG.
    Shown(String),
    /// The camera has none for it (deleted, or it could not make one).
    None,
    /// The camera did not have it yet (the event had just ended): asked again after this time.
    Later(UnixMillis),
}

/// A thumbnail refused this soon after its event ended is asked for again: the camera keeps an
/// event (and serves its thumbnail) once it has ended, a moment after the server hears of it.
const RETRY_WITHIN_MS: i64 = 60_000;

/// How long to wait before asking again.
const RETRY_AFTER_MS: i64 = 3_000;

fn now() -> UnixMillis {
    js_sys::Date::now() as UnixMillis
}

/// A thumbnail on its way.
struct Fetch {
    stream: StreamId,
    start: UnixMillis,
    parts: js_sys::Array,
    received: u64,
    total: u64,
}

struct State {
    device_id: DeviceId,
    root: Element,
    list: Element,
    live: HtmlVideoElement,
    hooks: Hooks,
    events: Vec<MotionEvent>,
    /// Whether the server may have older events than those listed.
    older: bool,
    /// The event the page was opened for (`?at=`).
    chosen: Option<UnixMillis>,
    pictures: Vec<(UnixMillis, Picture)>,
    fetch: Option<Fetch>,
    next_stream: StreamId,
    channel_open: bool,
    /// The camera answered `get_motion_settings`: this viewer may configure it.
    configure: bool,
    /// Waiting for the settings to open the editor with.
    opening_editor: bool,
    /// Why the list could not be fetched.
    error: Option<String>,
    loaded: bool,
    /// The thumbnails' bytes received in this page (shown as `data-thumbnail-bytes`).
    thumbnail_bytes: u64,
    seconds: u32,
    editor: ZoneEditor,
    listeners: Option<Listeners>,
}

/// The events panel of one watch page.
#[derive(Clone)]
pub struct EventsPanel(Rc<RefCell<State>>);

/// The panel's DOM listeners (one closure for the section, one for the editor's canvas), which
/// hold the panel weakly.
struct Listeners {
    on_click: Closure<dyn FnMut(web_sys::Event)>,
    on_canvas: Closure<dyn FnMut(web_sys::Event)>,
}

const SECTION_EVENTS: [&str; 2] = ["click", "change"];
/// Pointer events rather than mouse events: a finger drags a rectangle too.
const CANVAS_EVENTS: [&str; 4] = ["pointerdown", "pointermove", "pointerup", "pointerleave"];

fn listen(
    target: &web_sys::EventTarget,
    events: &[&str],
    callback: &Closure<dyn FnMut(web_sys::Event)>,
    add: bool,
) {
    for event in events {
        let f = callback.as_ref().unchecked_ref();
        let _ = if add {
            target.add_event_listener_with_callback(event, f)
        } else {
            target.remove_event_listener_with_callback(event, f)
        };
    }
}

/// "2.6 % of the picture" for a score in ten-thousandths.
pub fn score_text(score: u16) -> String {
    format!(
        "{} % of the picture",
        format::fixed(f64::from(score) / 100.0, 1)
    )
}

/// "Front door, Gate", or what no zone means.
pub fn zones_text(zones: &[String]) -> String {
    if zones.is_empty() {
        "anywhere in the picture".into()
    } else {
        zones.join(", ")
    }
}

/// How long an event lasted, if it is over.
pub fn length_text(event: &MotionEvent) -> String {
    match event.end {
        Some(end) => format::duration(((end - event.start).max(0) / 1000) as u64),
        None => "under way".into(),
    }
}

/// The list after a refresh: the newest page as the server has it now, then the older events
/// already listed.
pub fn merged(newest: Vec<MotionEvent>, listed: &[MotionEvent]) -> Vec<MotionEvent> {
    let Some(oldest_new) = newest.last().map(|e| e.start) else {
        return Vec::new();
    };
    let mut events = newest;
    events.extend(listed.iter().filter(|e| e.start < oldest_new).cloned());
    events
}

impl EventsPanel {
    /// Writes the panel at the end of `root` (the history's panel).
    pub fn new(
        root: &Element,
        device_id: DeviceId,
        live: HtmlVideoElement,
        chosen: Option<UnixMillis>,
        hooks: Hooks,
    ) -> Option<Self> {
        let document = web_sys::window()?.document()?;
        let section = document.create_element("section").ok()?;
        let _ = section.set_attribute("class", "events");
        let _ = section.set_attribute("aria-label", "Motion events");
        section.set_inner_html(MARKUP);
        root.append_child(&section).ok()?;
        let list = section.query_selector(".event-list").ok()??;
        let editor = ZoneEditor::new(section.query_selector(".zone-editor").ok()??)?;
        let state = Rc::new(RefCell::new(State {
            device_id,
            root: section,
            list,
            live,
            hooks,
            events: Vec::new(),
            older: false,
            chosen,
            pictures: Vec::new(),
            fetch: None,
            next_stream: FIRST_STREAM,
            channel_open: false,
            configure: false,
            opening_editor: false,
            error: None,
            loaded: false,
            thumbnail_bytes: 0,
            seconds: 0,
            editor,
            listeners: None,
        }));
        let weak = Rc::downgrade(&state);
        let on_click = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(state) = weak.upgrade() {
                EventsPanel(state).on_click(&event);
            }
        });
        let weak = Rc::downgrade(&state);
        let on_canvas = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(state) = weak.upgrade() {
                EventsPanel(state).on_editor(&event);
            }
        });
        {
            let mut s = state.borrow_mut();
            listen(&s.root, &SECTION_EVENTS, &on_click, true);
            listen(s.editor.canvas(), &CANVAS_EVENTS, &on_canvas, true);
            s.listeners = Some(Listeners {
                on_click,
                on_canvas,
            });
        }
        let panel = Self(state);
        panel.draw();
        panel.refresh();
        Some(panel)
    }

    /// Lets go of the page (it is leaving): the thumbnails' URLs and the listeners.
    pub fn close(&self) {
        let mut s = self.0.borrow_mut();
        for (_, picture) in s.pictures.drain(..) {
            if let Picture::Shown(url) = picture {
                let _ = web_sys::Url::revoke_object_url(&url);
            }
        }
        if let Some(l) = s.listeners.take() {
            listen(&s.root, &SECTION_EVENTS, &l.on_click, false);
            listen(s.editor.canvas(), &CANVAS_EVENTS, &l.on_canvas, false);
        }
        s.root.remove();
    }

    /// The channel opened (`true`) or closed: thumbnails and settings can be asked for, or not.
    pub fn channel(&self, open: bool) {
        {
            let mut s = self.0.borrow_mut();
            s.channel_open = open;
            // A thumbnail under way went with the old channel: asked for again on the next.
            s.fetch = None;
        }
        if open {
            self.send(
                ViewerToDevice::GetMotionSettings(GetMotionSettings {}),
                Some(SETTINGS_REQUEST),
            );
            self.pump();
        }
        self.draw();
    }

    /// Every second (the history's clock): the list is fetched again now and then, and a
    /// thumbnail refused for being busy is asked for again.
    pub fn second(&self) {
        let refresh = {
            let mut s = self.0.borrow_mut();
            s.seconds = s.seconds.wrapping_add(1);
            s.seconds.is_multiple_of(REFRESH_SECS)
        };
        if refresh {
            self.refresh();
        }
        self.pump();
    }

    fn send(&self, message: ViewerToDevice, request: Option<&str>) -> bool {
        // Not borrowed while the history sends: it may say the channel is down.
        let send = {
            let s = self.0.borrow();
            s.channel_open
        };
        send && {
            let s = self.0.borrow();
            (s.hooks.send)(message, request)
        }
    }

    /// Fetches the newest page from the server.
    fn refresh(&self) {
        self.fetch_page(None);
    }

    fn fetch_page(&self, before: Option<UnixMillis>) {
        let weak = Rc::downgrade(&self.0);
        let device_id = self.0.borrow().device_id.clone();
        leptos::task::spawn_local(async move {
            let result = crate::api::device_events(device_id.as_str(), PAGE, before).await;
            let Some(state) = weak.upgrade() else { return };
            EventsPanel(state).listed(result, before.is_some());
        });
    }

    fn listed(&self, result: Result<Vec<MotionEvent>, crate::api::ApiError>, older: bool) {
        {
            let mut s = self.0.borrow_mut();
            s.loaded = true;
            match result {
                Ok(page) => {
                    s.error = None;
                    let full = page.len() == usize::from(PAGE);
                    if older {
                        s.events.extend(page);
                        s.older = full;
                    } else {
                        // Only the first refresh says whether there is more: later ones keep
                        // what "Show older" found.
                        if s.events.is_empty() {
                            s.older = full;
                        }
                        s.events = merged(page, &s.events);
                    }
                    let kept: Vec<UnixMillis> = s.events.iter().map(|e| e.start).collect();
                    s.pictures.retain(|(start, picture)| {
                        let keep = kept.contains(start);
                        if let (false, Picture::Shown(url)) = (keep, picture) {
                            let _ = web_sys::Url::revoke_object_url(url);
                        }
                        keep
                    });
                }
                Err(e) => s.error = Some(format!("The events could not be fetched: {e}.")),
            }
        }
        let marks = self.0.borrow().events.iter().map(|e| e.start).collect();
        (self.0.borrow().hooks.marks)(marks);
        self.draw();
        self.pump();
    }

    /// Asks the camera for the next thumbnail not fetched yet, one at a time (a session runs
    /// two streams at most, and a playback may be one of them).
    fn pump(&self) {
        let request = {
            let mut s = self.0.borrow_mut();
            if !s.channel_open || s.fetch.is_some() {
                return;
            }
            // An event under way has no thumbnail to give yet.
            let now = now();
            let due = |start: &UnixMillis| match s.pictures.iter().find(|(t, _)| t == start) {
                None => true,
                Some((_, Picture::Later(after))) => now >= *after,
                Some(_) => false,
            };
            let Some(start) = s
                .events
                .iter()
                .filter(|e| e.end.is_some())
                .map(|e| e.start)
                .find(due)
            else {
                return;
            };
            let stream = s.next_stream;
            s.next_stream = s.next_stream.wrapping_add(1).max(FIRST_STREAM);
            s.fetch = Some(Fetch {
                stream,
                start,
                parts: js_sys::Array::new(),
                received: 0,
                total: 0,
            });
            GetThumbnail { stream, start }
        };
        if !self.send(ViewerToDevice::GetThumbnail(request), None) {
            self.0.borrow_mut().fetch = None;
        }
    }

    /// `thumbnail`: the JPEG's size.
    pub fn thumbnail(&self, thumbnail: Thumbnail) {
        let too_big = {
            let mut s = self.0.borrow_mut();
            let Some(fetch) = s.fetch.as_mut().filter(|f| f.stream == thumbnail.stream) else {
                return;
            };
            fetch.total = thumbnail.bytes;
            thumbnail.bytes > MAX_THUMBNAIL_BYTES
        };
        if too_big {
            self.give_up(thumbnail.stream);
        }
    }

    /// A binary message of one of the panel's streams.
    pub fn chunk(&self, stream: StreamId, bytes: &[u8]) {
        let too_big = {
            let mut s = self.0.borrow_mut();
            let Some(fetch) = s.fetch.as_mut().filter(|f| f.stream == stream) else {
                return;
            };
            fetch.parts.push(&js_sys::Uint8Array::from(bytes));
            fetch.received += bytes.len() as u64;
            fetch.received > MAX_THUMBNAIL_BYTES.min(fetch.total.max(1))
        };
        if too_big {
            self.give_up(stream);
        }
    }

    /// A thumbnail larger than it said (or than any may be): stopped, and shown as none.
    fn give_up(&self, stream: StreamId) {
        self.send(ViewerToDevice::Stop(StopStream { stream }), None);
        self.finish(stream, None);
    }

    /// `stream_ended` of one of the panel's streams.
    pub fn ended(&self, ended: StreamEnded) {
        let url = {
            let s = self.0.borrow();
            let Some(fetch) = s.fetch.as_ref().filter(|f| f.stream == ended.stream) else {
                return;
            };
            let whole = ended.reason == StreamEndReason::Complete
                && fetch.received == fetch.total
                && fetch.total > 0;
            // No type given: the browser knows a JPEG by its bytes (and web-sys's options
            // type would cost the WASM more).
            whole
                .then(|| web_sys::Blob::new_with_u8_array_sequence(&fetch.parts).ok())
                .flatten()
                .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob).ok())
        };
        self.finish(ended.stream, url);
    }

    fn finish(&self, stream: StreamId, url: Option<String>) {
        {
            let mut s = self.0.borrow_mut();
            let Some(fetch) = s.fetch.take_if(|f| f.stream == stream) else {
                return;
            };
            if url.is_some() {
                s.thumbnail_bytes += fetch.received;
            }
            let ended = (s.events.iter())
                .find(|e| e.start == fetch.start)
                .and_then(|e| e.end);
            let picture = match url {
                Some(url) => Picture::Shown(url),
                None if ended.is_none_or(|end| now() - end < RETRY_WITHIN_MS) => {
                    Picture::Later(now() + RETRY_AFTER_MS)
                }
                None => Picture::None,
            };
            s.pictures.retain(|(t, _)| *t != fetch.start);
            s.pictures.push((fetch.start, picture));
        }
        self.draw();
        self.pump();
    }

    /// A refusal of the panel's: a thumbnail's (its stream) or the settings' (their request).
    pub fn refused(&self, refusal: Refusal) {
        if let Some(stream) = refusal.stream {
            if refusal.code == RefusalCode::Busy {
                // A playback and an export hold both streams: asked again in a second.
                let _ = self.0.borrow_mut().fetch.take_if(|f| f.stream == stream);
            } else {
                self.finish(stream, None);
            }
            return;
        }
        let sentence = super::history::sentence_case(&refusal.message);
        {
            let mut s = self.0.borrow_mut();
            match refusal.code {
                RefusalCode::NotPermitted => s.configure = false,
                RefusalCode::NoMotion => {
                    s.configure = false;
                    s.editor.refused(&sentence);
                }
                _ => s.editor.refused(&sentence),
            }
            s.opening_editor = false;
        }
        self.draw();
    }

    /// `motion_settings`: the settings in force (this viewer may configure the camera).
    pub fn settings(&self, settings: MotionSettings) {
        {
            let mut s = self.0.borrow_mut();
            s.configure = true;
            if std::mem::take(&mut s.opening_editor) {
                let live = s.live.clone();
                s.editor.open(&live, settings);
            } else {
                s.editor.stored(settings);
            }
        }
        self.draw();
    }

    fn on_click(&self, event: &web_sys::Event) {
        let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if target.closest(".zone-editor").ok().flatten().is_some() {
            return self.on_editor(event);
        }
        if event.type_() != "click" {
            return;
        }
        let Some(button) = target.closest("button").ok().flatten() else {
            return;
        };
        match button.get_attribute("class").unwrap_or_default().as_str() {
            "event-play" => {
                let start = button
                    .get_attribute("data-start")
                    .and_then(|s| s.parse::<UnixMillis>().ok());
                if let Some(start) = start {
                    (self.0.borrow().hooks.play)(start - PRE_ROLL_MS);
                }
            }
            "events-older" => {
                let oldest = self.0.borrow().events.last().map(|e| e.start);
                if let Some(oldest) = oldest {
                    self.fetch_page(Some(oldest));
                }
            }
            "zones-open" => {
                self.0.borrow_mut().opening_editor = true;
                let asked = self.send(
                    ViewerToDevice::GetMotionSettings(GetMotionSettings {}),
                    Some(SETTINGS_REQUEST),
                );
                if !asked {
                    self.0.borrow_mut().opening_editor = false;
                }
            }
            _ => {}
        }
    }

    fn on_editor(&self, event: &web_sys::Event) {
        let action = self.0.borrow_mut().editor.on_event(event);
        match action {
            Some(Action::Save(settings)) => {
                let sent = self.send(
                    ViewerToDevice::SetMotionSettings(SetMotionSettings { settings }),
                    Some(SETTINGS_REQUEST),
                );
                if !sent {
                    self.0.borrow_mut().editor.refused(
                        "the connection to the camera is down; try again once it is back.",
                    );
                }
            }
            Some(Action::Closed) => self.draw(),
            None => {}
        }
    }

    /// Shows the list and what stands around it.
    fn draw(&self) {
        let s = self.0.borrow();
        let online = s.channel_open || (s.hooks.online)();
        let status = match (&s.error, s.loaded, s.events.is_empty()) {
            (Some(error), _, _) => error.clone(),
            (None, false, _) => "Loading the events…".into(),
            (None, true, true) => "No motion events yet.".into(),
            (None, true, false) if !online => {
                "The camera is offline: its events are listed, their pictures come from the \
                 camera when it is back."
                    .into()
            }
            _ => String::new(),
        };
        if let Ok(Some(p)) = s.root.query_selector(".events-status") {
            p.set_text_content(Some(&status));
        }
        let _ = s
            .root
            .set_attribute("data-loaded", if s.loaded { "true" } else { "false" });
        let _ = s
            .root
            .set_attribute("data-thumbnail-bytes", &s.thumbnail_bytes.to_string());
        let _ = s
            .root
            .set_attribute("data-camera", if online { "online" } else { "offline" });
        let toggle = |class: &str, shown: bool| {
            if let Ok(Some(e)) = s.root.query_selector(class) {
                let _ = if shown {
                    e.remove_attribute("hidden")
                } else {
                    e.set_attribute("hidden", "")
                };
            }
        };
        toggle(".events-older", s.older);
        toggle(
            ".zones-open",
            s.configure && s.channel_open && !s.editor.is_open,
        );
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        s.list.set_inner_html("");
        for event in &s.events {
            if let Some(item) = item(&document, event, &s, online) {
                let _ = s.list.append_child(&item);
            }
        }
    }
}

/// One event's row: its picture (or why there is none), when, where, how much, and Play.
fn item(
    document: &web_sys::Document,
    event: &MotionEvent,
    s: &State,
    online: bool,
) -> Option<Element> {
    let li = document.create_element("li").ok()?;
    let _ = li.set_attribute("class", "event");
    let _ = li.set_attribute("data-start", &event.start.to_string());
    if s.chosen == Some(event.start) {
        let _ = li.set_attribute("aria-current", "true");
    }
    let picture = document.create_element("div").ok()?;
    let _ = picture.set_attribute("class", "event-picture");
    let shown = s.pictures.iter().find(|(t, _)| *t == event.start);
    let fetching = s.fetch.as_ref().is_some_and(|f| f.start == event.start);
    match shown.map(|(_, p)| p) {
        Some(Picture::Shown(url)) => {
            let img = document.create_element("img").ok()?;
            let _ = img.set_attribute("src", url);
            let _ = img.set_attribute(
                "alt",
                &format!("The camera's picture at {}", local_clock(event.start)),
            );
            let _ = picture.append_child(&img);
        }
        other => {
            let (class, text) = match other {
                Some(Picture::None) => ("no-picture", "No picture"),
                _ if !online => ("camera-offline", "camera offline"),
                _ if event.end.is_none() => ("under-way", "Under way…"),
                _ if fetching => ("loading", "Loading…"),
                _ => ("waiting", "Waiting for the camera…"),
            };
            let _ = picture.set_attribute("data-state", class);
            picture.set_text_content(Some(text));
        }
    }
    let _ = li.append_child(&picture);
    let facts = document.create_element("div").ok()?;
    let _ = facts.set_attribute("class", "event-facts");
    let time = document.create_element("time").ok()?;
    time.set_text_content(Some(&local_clock(event.start)));
    let _ = facts.append_child(&time);
    for (class, text) in [
        (
            "event-zones",
            format!("Where: {}", zones_text(&event.zones)),
        ),
        (
            "event-score",
            format!("Moved: {}", score_text(event.peak_score)),
        ),
        ("event-length", format!("Lasted: {}", length_text(event))),
    ] {
        let span = document.create_element("span").ok()?;
        let _ = span.set_attribute("class", class);
        span.set_text_content(Some(&text));
        let _ = facts.append_child(&span);
    }
    let _ = li.append_child(&facts);
    let play = document.create_element("button").ok()?;
    let _ = play.set_attribute("type", "button");
    let _ = play.set_attribute("class", "event-play");
    let _ = play.set_attribute("data-start", &event.start.to_string());
    play.set_text_content(Some("Play"));
    let _ = play.set_attribute(
        "title",
        &format!("Play the recording from {} s before", PRE_ROLL_MS / 1000),
    );
    let _ = li.append_child(&play);
    Some(li)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(start: UnixMillis) -> MotionEvent {
        MotionEvent {
            device_id: DeviceId::from("cam"),
            device_name: "Porch".into(),
            start,
            end: Some(start + 3_500),
            zones: vec![],
            peak_score: 260,
        }
    }

    #[test]
    fn an_event_reads_as_words() {
        assert_eq!(score_text(260), "2.6 % of the picture");
        assert_eq!(zones_text(&[]), "anywhere in the picture");
        assert_eq!(zones_text(&["Door".into(), "Gate".into()]), "Door, Gate");
        assert_eq!(length_text(&event(0)), "3 s");
        let under_way = MotionEvent {
            end: None,
            ..event(0)
        };
        assert_eq!(length_text(&under_way), "under way");
    }

    #[test]
    fn a_refresh_puts_the_newest_page_over_the_older_events_listed() {
        let listed: Vec<_> = [50, 40, 30, 20, 10].map(event).into();
        let starts = |events: &[MotionEvent]| events.iter().map(|e| e.start).collect::<Vec<_>>();
        assert_eq!(
            starts(&merged([70, 60, 50].map(event).into(), &listed)),
            [70, 60, 50, 40, 30, 20, 10]
        );
        assert!(merged(vec![], &listed).is_empty(), "nothing kept any more");
    }
}
