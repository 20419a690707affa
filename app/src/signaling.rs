//! The viewer socket (`/ws/viewer`): one per tab while someone is logged in. It keeps the list of
//! the user's cameras live (presence pushed by the server, no reload), carries the watches'
//! signaling, and reconnects with backoff and jitter when the server goes away.
//!
//! The browser parts exist only in the browser; on the server the handle is inert (effects never
//! run there), so pages render the same on both sides.

use crate::auth::Auth;
use leptos::prelude::*;
use mumu_shared::signaling::{
    DevicePresence, Heartbeat, ServerToViewer, ViewerHello, ViewerToServer,
};
use mumu_shared::{DeviceId, Envelope, ErrorCode, PROTOCOL_VERSION};
use send_wrapper::SendWrapper;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// The first reconnect waits about this long; each further one twice as long, up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(15);

/// Where the socket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketStatus {
    /// Nobody is logged in.
    Off,
    /// Opening, or waiting for `hello_ack`.
    Connecting,
    /// Authenticated; presence is live.
    Open,
    /// Lost; the next try is due in about this many seconds.
    Reconnecting { in_s: u32 },
}

/// What listeners (the watches) hear.
#[derive(Debug)]
pub enum SocketEvent<'a> {
    /// The socket is open and authenticated (again).
    Open,
    /// The socket closed; the server has ended this socket's sessions.
    Lost,
    /// A message from the server.
    Message(&'a Envelope<ServerToViewer>),
}

type Listener = Rc<dyn Fn(&SocketEvent)>;

/// The browser-side state: the socket, its callbacks (kept alive with it) and the listeners.
#[derive(Default)]
struct Inner {
    ws: Option<WebSocket>,
    callbacks: Vec<Box<dyn std::any::Any>>,
    listeners: Vec<(u64, Listener)>,
    next_listener: u64,
    failures: u32,
    wanted: bool,
    retry: Option<TimeoutHandle>,
    heartbeat: Option<IntervalHandle>,
    /// Reconnects at once when the page is shown again (made on the first `connect`).
    wake_when_shown: Option<crate::visibility::VisibilityListener>,
}

/// The app's socket: presence for the dashboard, signaling for the watches.
#[derive(Clone, Copy)]
pub struct Signaling {
    /// Where the socket stands.
    pub status: RwSignal<SocketStatus>,
    /// The cameras this user may watch, by name, with their presence.
    pub devices: RwSignal<Vec<DevicePresence>>,
    /// Whether `devices` has been filled by a `hello_ack` yet.
    pub loaded: RwSignal<bool>,
    auth: Auth,
    /// The browser's side (socket, timers, callbacks), made on first use. `None` on the server,
    /// which never connects: a server drops a page's values on whichever thread finishes its
    /// response, and a `SendWrapper` holding something dropped off its own thread panics.
    inner: StoredValue<Option<SendWrapper<Inner>>>,
}

impl Signaling {
    /// Makes the app's socket handle (closed) and provides it.
    pub fn provide() -> Self {
        let signaling = Self {
            status: RwSignal::new(SocketStatus::Off),
            devices: RwSignal::new(Vec::new()),
            loaded: RwSignal::new(false),
            auth: Auth::get(),
            inner: StoredValue::new(None),
        };
        provide_context(signaling);
        signaling
    }

    /// The app's socket.
    pub fn get() -> Self {
        expect_context()
    }

    /// Reads or changes the browser's side, making it first if need be; `None` once the app
    /// is gone.
    fn update_inner<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        self.inner.try_update_value(|slot| {
            let inner = slot.get_or_insert_with(|| SendWrapper::new(Inner::default()));
            f(inner)
        })
    }

    /// The presence of one camera, if this user may watch it.
    pub fn device(&self, id: &DeviceId) -> Option<DevicePresence> {
        self.devices
            .with(|list| list.iter().find(|d| &d.device_id == id).cloned())
    }

    /// Opens the socket unless it is open or opening.
    pub fn connect(self) {
        let already = self
            .update_inner(|inner| {
                let was = inner.wanted;
                inner.wanted = true;
                if inner.wake_when_shown.is_none() {
                    inner.wake_when_shown =
                        crate::visibility::VisibilityListener::new(move |hidden| {
                            if !hidden {
                                self.wake();
                            }
                        });
                }
                was && inner.ws.is_some()
            })
            .unwrap_or(true);
        if !already {
            self.open();
        }
    }

    /// Reconnects now when the socket is down and waiting out its backoff: someone is looking
    /// at the page again (a phone unlocked, a tab brought back), so the wait ends.
    pub fn wake(self) {
        let due = self
            .update_inner(|inner| {
                let due = inner.wanted && inner.ws.is_none();
                if due {
                    if let Some(t) = inner.retry.take() {
                        t.clear();
                    }
                    inner.failures = 0;
                }
                due
            })
            .unwrap_or(false);
        if due {
            self.open();
        }
    }

    /// Closes the socket and stops reconnecting (logout).
    pub fn disconnect(self) {
        let ws = self.update_inner(|inner| {
            inner.wanted = false;
            inner.failures = 0;
            if let Some(t) = inner.retry.take() {
                t.clear();
            }
            if let Some(h) = inner.heartbeat.take() {
                h.clear();
            }
            inner.callbacks.clear();
            inner.ws.take()
        });
        if let Some(Some(ws)) = ws {
            ws.set_onclose(None);
            let _ = ws.close();
        }
        self.status.set(SocketStatus::Off);
        self.devices.set(Vec::new());
        self.loaded.set(false);
    }

    /// Sends a message; `false` when the socket is not open (the caller's state machine retries
    /// when it hears `Open`).
    pub fn send(&self, message: ViewerToServer, request_id: Option<String>) -> bool {
        let envelope = Envelope {
            message,
            request_id,
            ts: js_sys::Date::now() as i64,
        };
        let text = mumu_shared::encode(&envelope);
        self.update_inner(|inner| match &inner.ws {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => ws.send_with_str(&text).is_ok(),
            _ => false,
        })
        .unwrap_or(false)
    }

    /// Whether the socket is open and authenticated.
    pub fn is_open(&self) -> bool {
        self.status.get_untracked() == SocketStatus::Open
    }

    /// Calls `listener` with every socket event until the returned id is passed to `unlisten`.
    pub fn listen(&self, listener: impl Fn(&SocketEvent) + 'static) -> u64 {
        self.update_inner(|inner| {
            inner.next_listener += 1;
            inner
                .listeners
                .push((inner.next_listener, Rc::new(listener)));
            inner.next_listener
        })
        .unwrap_or(0)
    }

    /// Stops calling a listener.
    pub fn unlisten(&self, id: u64) {
        self.update_inner(|inner| {
            inner.listeners.retain(|(n, _)| *n != id);
        });
    }

    fn emit(&self, event: &SocketEvent) {
        // Copied out first: a listener may send, listen or unlisten.
        let listeners: Vec<Listener> = self
            .update_inner(|inner| inner.listeners.iter().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default();
        for listener in listeners {
            listener(event);
        }
    }

    fn open(self) {
        let Some(url) = socket_url() else { return };
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.schedule_retry();
                return;
            }
        };
        self.status.set(SocketStatus::Connecting);

        let on_open = Closure::<dyn FnMut()>::new(move || {
            // Cookie auth: the browser sent the HttpOnly cookie with the upgrade.
            self.send(
                ViewerToServer::Hello(ViewerHello {
                    protocol: PROTOCOL_VERSION,
                    token: None,
                }),
                None,
            );
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                self.on_text(&text);
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_event: CloseEvent| {
            self.on_close();
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.update_inner(move |inner| {
            inner.ws = Some(ws);
            inner.callbacks = vec![Box::new(on_open), Box::new(on_message), Box::new(on_close)];
        });
    }

    fn on_text(self, text: &str) {
        let envelope = match mumu_shared::decode::<ServerToViewer>(text) {
            Ok(envelope) => envelope,
            Err(error) => {
                leptos::logging::warn!("ignoring a message from the server: {error}");
                return;
            }
        };
        match &envelope.message {
            ServerToViewer::HelloAck(ack) => {
                let mut devices = ack.devices.clone();
                sort_by_name(&mut devices);
                self.devices.set(devices);
                self.loaded.set(true);
                self.status.set(SocketStatus::Open);
                self.start_heartbeat(ack.heartbeat_interval_ms);
                self.update_inner(|inner| inner.failures = 0);
                self.emit(&SocketEvent::Open);
            }
            ServerToViewer::DevicePresence(presence) => {
                self.devices.update(|list| {
                    match list.iter_mut().find(|d| d.device_id == presence.device_id) {
                        Some(known) => *known = presence.clone(),
                        None => list.push(presence.clone()),
                    }
                    sort_by_name(list);
                });
            }
            ServerToViewer::DeviceRemoved(removed) => {
                self.devices
                    .update(|list| list.retain(|d| d.device_id != removed.device_id));
            }
            ServerToViewer::Error(error)
                if envelope.request_id.is_none() && error.code == ErrorCode::Unauthorized =>
            {
                // The login ended (logout elsewhere, expiry): back to the login page.
                self.disconnect();
                self.auth.forget();
                return;
            }
            _ => {}
        }
        self.emit(&SocketEvent::Message(&envelope));
    }

    fn on_close(self) {
        let wanted = self
            .update_inner(|inner| {
                inner.ws = None;
                if let Some(h) = inner.heartbeat.take() {
                    h.clear();
                }
                inner.wanted
            })
            .unwrap_or(false);
        self.emit(&SocketEvent::Lost);
        if wanted {
            self.schedule_retry();
        }
    }

    fn schedule_retry(self) {
        let failures = self
            .update_inner(|inner| {
                inner.failures += 1;
                inner.failures
            })
            .unwrap_or(1);
        let wait = retry_delay(failures, js_sys::Math::random());
        self.status.set(SocketStatus::Reconnecting {
            in_s: wait.as_secs_f32().ceil() as u32,
        });
        let handle = set_timeout_with_handle(
            move || {
                let wanted = self
                    .update_inner(|inner| {
                        inner.retry = None;
                        inner.wanted
                    })
                    .unwrap_or(false);
                if wanted {
                    self.open();
                }
            },
            wait,
        );
        if let Ok(handle) = handle {
            self.update_inner(|inner| inner.retry = Some(handle));
        }
    }

    fn start_heartbeat(self, interval_ms: u64) {
        let interval = Duration::from_millis(interval_ms.clamp(1_000, 120_000));
        let handle = set_interval_with_handle(
            move || {
                self.send(ViewerToServer::Heartbeat(Heartbeat {}), None);
            },
            interval,
        );
        if let Ok(handle) = handle {
            self.update_inner(|inner| {
                if let Some(old) = inner.heartbeat.replace(handle) {
                    old.clear();
                }
            });
        }
    }
}

/// The dashboard's order: by name, as the browser's language sorts words (case and accents
/// second: "attic" < "Basement" < "Étable" < "garage").
fn sort_by_name(devices: &mut [DevicePresence]) {
    let (languages, options) = (js_sys::Array::new(), js_sys::Object::new());
    devices.sort_by(|a, b| {
        js_sys::JsString::from(a.name.as_str())
            .locale_compare(&b.name, &languages, &options)
            .cmp(&0)
    });
}

/// `ws(s)://<this host>/ws/viewer`.
fn socket_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = match location.protocol().ok()?.as_str() {
        "https:" => "wss",
        _ => "ws",
    };
    Some(format!("{scheme}://{}/ws/viewer", location.host().ok()?))
}

/// The wait before reconnect number `failures`: the shared backoff rule from `FIRST_RETRY` up to
/// `MAX_RETRY`, so that a restarted server is not hit by every tab at once.
pub fn retry_delay(failures: u32, random: f64) -> Duration {
    mumu_shared::backoff::retry_delay(FIRST_RETRY, MAX_RETRY, failures, random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_up_to_the_cap_with_jitter() {
        assert_eq!(retry_delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(retry_delay(2, 1.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(3, 0.0), Duration::from_millis(1000));
        assert_eq!(retry_delay(20, 1.0), MAX_RETRY);
        assert_eq!(retry_delay(20, 0.0), MAX_RETRY / 2);
    }
}
