//! The life of one watch as a pure state machine: signaling messages, socket and peer events go
//! in, commands for the browser come out. No browser types here, so every path is unit-tested on
//! the host; `watch::session` carries the commands out with RTCPeerConnection and the socket.
//!
//! A watch survives what a person should not have to fix by reloading: a socket that drops, a
//! server restart, a camera that restarts, ICE that fails. Each of those closes the peer and asks
//! for a new session after a backoff. Only what retrying cannot fix ends it: the viewer leaving,
//! the camera removed or full, access denied, or too many failed tries in a row.
//!
//! A page nobody can see (a locked phone, a tab in the background) pauses its watch after
//! `PAUSE_WHEN_HIDDEN_MS`, so the camera stops sending video to it; brought back, the page
//! watches again at once. It also checks its peer then: a phone that slept may hold a connection
//! that died without a word, and a watch that gave up while hidden tries again.

use mumu_shared::ids::{DeviceId, SessionId};
use mumu_shared::signaling::{
    EndReason, IceCandidate, IceServer, IceTransportPolicy, SessionIce, SessionSdp, ViewerEndWatch,
    ViewerToServer, ViewerWatchRequest, WatchEnded, WatchReady,
};
use mumu_shared::{ErrorBody, ErrorCode};

/// Tries in a row without reaching `Connected` before the watch gives up.
pub const MAX_ATTEMPTS: u32 = 6;
/// The first retry waits this long; each further one twice as long, up to `MAX_BACKOFF_MS`.
pub const FIRST_BACKOFF_MS: u32 = 500;
/// The longest wait between two tries.
pub const MAX_BACKOFF_MS: u32 = 8_000;
/// How long a hidden page keeps its watch before pausing it.
pub const PAUSE_WHEN_HIDDEN_MS: u32 = 15_000;
/// The longest wait a browser timer takes (`setTimeout` fires at once past 2^31 - 1 ms).
pub const MAX_TIMER_MS: u32 = i32::MAX as u32;

/// What the person watching sees of the watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet.
    Idle,
    /// Asking the server and the camera for a session, or negotiating the peer connection.
    Connecting,
    /// Video is flowing.
    Connected,
    /// Something broke; a new try follows. `why` says what broke.
    Reconnecting { attempt: u32, why: String },
    /// The camera is offline; the watch starts again when it comes back.
    WaitingForCamera,
    /// The page has been hidden a while; the watch starts again when it is shown.
    Paused,
    /// Over for good, with the reason to show.
    Ended { why: String },
}

/// Which of a watch's two peer connections a command or an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The one whose video is shown.
    Main,
    /// One made beside it to renew a relayed session before its TURN credentials expire; it
    /// takes over at its first decoded frame, so the picture never stops.
    Next,
}

/// What happened, as the watch learns of it.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The person asked to watch.
    Start,
    /// The signaling socket is (again) open and authenticated.
    SocketOpen,
    /// The signaling socket closed; the server ends our sessions when that happens.
    SocketLost,
    /// The server's answer to our `watch_request`.
    Ready {
        request_id: String,
        ready: WatchReady,
    },
    /// The server refused a request of ours.
    Refused {
        request_id: String,
        error: ErrorBody,
    },
    /// The camera's SDP offer.
    Offer(SessionSdp),
    /// One of the camera's ICE candidates (`None` inside: end of candidates).
    RemoteIce(SessionIce),
    /// The session ended on the other side.
    Ended(WatchEnded),
    /// A peer connection made its SDP answer.
    LocalAnswer(Slot, String),
    /// A peer connection found an ICE candidate (`None`: gathering complete).
    LocalIce(Slot, Option<IceCandidate>),
    /// A peer connection reached `connected`.
    PeerConnected(Slot),
    /// A peer connection failed (ICE or DTLS), or the browser could not apply the offer.
    PeerFailed(Slot, String),
    /// Negotiation of a peer connection took too long.
    Timeout(Slot),
    /// The backoff after a failure is over.
    RetryDue,
    /// The camera came online (presence).
    CameraOnline,
    /// Time to renew the session's TURN credentials; `relayed` says whether its video comes
    /// through the relay (a direct path does not need them).
    RenewalDue { relayed: bool },
    /// The renewing peer connection decoded its first frame.
    NextPlaying,
    /// This browser cannot play the camera's video, for this reason.
    Unplayable(String),
    /// The page was hidden (another tab, a locked phone).
    Hidden,
    /// The page has stayed hidden since `PauseAfter` was asked for.
    PauseDue,
    /// The page is shown again; `peer_alive` says whether the shown peer connection is still
    /// up (not disconnected, failed or closed).
    Shown { peer_alive: bool },
    /// The person stopped watching.
    Stop,
}

/// What the browser must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Send this message, with this `request_id` when it is a request.
    Send(ViewerToServer, Option<String>),
    /// Create a fresh peer connection in `slot` with these ICE settings.
    OpenPeer {
        slot: Slot,
        ice_servers: Vec<IceServer>,
        policy: IceTransportPolicy,
    },
    /// Apply the camera's offer and make an answer (reported back as `LocalAnswer`).
    Answer(Slot, String),
    /// Add one of the camera's candidates (`None`: end of candidates).
    AddIce(Slot, Option<IceCandidate>),
    /// Close the peer connection in this slot (and, for `Main`, drop its video).
    ClosePeer(Slot),
    /// Feed `RetryDue` back in after this many milliseconds.
    RetryAfter(u32),
    /// Feed `Timeout(slot)` back in after this many milliseconds, unless connected by then.
    ArmTimeout(Slot, u32),
    /// Feed `RenewalDue` back in after this many milliseconds.
    RenewAfter(u32),
    /// Feed `NextPlaying` back in once the `Next` peer has decoded a frame.
    AwaitFirstFrame,
    /// The `Next` peer and its video take the place of `Main`'s, which is closed.
    Promote,
    /// Feed `PauseDue` back in after this many milliseconds, unless cancelled.
    PauseAfter(u32),
    /// Forget the pending `PauseAfter`.
    CancelPause,
}

/// How long negotiation may take before the watch counts it as failed.
pub const NEGOTIATION_TIMEOUT_MS: u32 = 10_000;

/// One session with the camera, from its request to its end.
#[derive(Debug, Default)]
struct Leg {
    pending_request: Option<String>,
    session: Option<SessionId>,
    offer_applied: bool,
    /// The camera's candidates that came before its offer was applied.
    early_ice: Vec<Option<IceCandidate>>,
    /// How long the session's TURN credentials last, from `watch_ready`.
    credentials_ttl_ms: Option<u64>,
}

/// One watch of one camera.
#[derive(Debug)]
pub struct Watch {
    device_id: DeviceId,
    /// Unique among the watches sharing a socket; request ids are built from it.
    tag: String,
    phase: Phase,
    /// Requests sent so far (makes each request id unique).
    requests: u32,
    /// Failed tries since the last `Connected`.
    failures: u32,
    /// The session whose video is shown.
    main: Leg,
    /// The session renewing it, while one is being made.
    next: Option<Leg>,
    /// The socket is up (requests can go out).
    socket_open: bool,
    /// The page is hidden.
    hidden: bool,
    /// It ended by giving up after `MAX_ATTEMPTS`: showing the page again retries.
    gave_up: bool,
}

impl Watch {
    /// A watch of `device_id`; `tag` must differ between watches on one socket.
    pub fn new(device_id: DeviceId, tag: impl Into<String>) -> Self {
        Self {
            device_id,
            tag: tag.into(),
            phase: Phase::Idle,
            requests: 0,
            failures: 0,
            main: Leg::default(),
            next: None,
            socket_open: false,
            hidden: false,
            gave_up: false,
        }
    }

    /// Where the watch stands.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The camera watched.
    pub fn device_id(&self) -> &DeviceId {
        &self.device_id
    }

    /// The session whose video is shown, once the server made one.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.main.session.as_ref()
    }

    /// Whether `request_id` is a request this watch waits on.
    pub fn owns_request(&self, request_id: &str) -> bool {
        self.slot_of_request(request_id).is_some()
    }

    /// Whether a message about `session` is for this watch.
    pub fn owns_session(&self, session: &SessionId) -> bool {
        self.slot_of_session(session).is_some()
    }

    /// The slot of the session `session`, when it is one of this watch's.
    pub fn slot_of_session(&self, session: &SessionId) -> Option<Slot> {
        self.slot_where(|leg| leg.session.as_ref() == Some(session))
    }

    fn slot_of_request(&self, request_id: &str) -> Option<Slot> {
        self.slot_where(|leg| leg.pending_request.as_deref() == Some(request_id))
    }

    fn slot_where(&self, matches: impl Fn(&Leg) -> bool) -> Option<Slot> {
        if matches(&self.main) {
            Some(Slot::Main)
        } else {
            self.next
                .as_ref()
                .filter(|l| matches(l))
                .map(|_| Slot::Next)
        }
    }

    fn leg(&mut self, slot: Slot) -> Option<&mut Leg> {
        match slot {
            Slot::Main => Some(&mut self.main),
            Slot::Next => self.next.as_mut(),
        }
    }

    /// Takes one input; returns what to do, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let retries_when_shown = self.gave_up && matches!(input, Input::Shown { .. });
        if matches!(self.phase, Phase::Ended { .. }) && !retries_when_shown {
            return Vec::new();
        }
        match input {
            Input::Start => match self.phase {
                Phase::Idle => {
                    self.phase = Phase::Connecting;
                    self.request()
                }
                _ => Vec::new(),
            },
            Input::SocketOpen => {
                self.socket_open = true;
                match self.phase {
                    Phase::Connecting
                        if self.main.pending_request.is_none() && self.main.session.is_none() =>
                    {
                        self.request()
                    }
                    // The socket's own backoff already waited: try again at once.
                    Phase::Reconnecting { .. } => {
                        self.phase = Phase::Connecting;
                        self.request()
                    }
                    _ => Vec::new(),
                }
            }
            Input::SocketLost => {
                self.socket_open = false;
                match self.phase {
                    Phase::Connecting | Phase::Connected | Phase::Reconnecting { .. } => {
                        let mut out = self.drop_sessions(false);
                        self.phase = Phase::Reconnecting {
                            attempt: self.failures + 1,
                            why: "lost the connection to the server".into(),
                        };
                        // No timer: the socket reconnects on its own and `SocketOpen` retries.
                        out.retain(|c| !matches!(c, Command::RetryAfter(_)));
                        out
                    }
                    _ => Vec::new(),
                }
            }
            Input::Ready { request_id, ready } => {
                let Some(slot) = self.slot_of_request(&request_id) else {
                    return Vec::new();
                };
                if ready.device_id != self.device_id {
                    return Vec::new();
                }
                if let Some(leg) = self.leg(slot) {
                    *leg = Leg {
                        session: Some(ready.session_id),
                        credentials_ttl_ms: ready.ice_credentials_ttl_ms,
                        ..Leg::default()
                    };
                }
                vec![
                    Command::OpenPeer {
                        slot,
                        ice_servers: ready.ice_servers,
                        policy: ready.ice_transport_policy,
                    },
                    Command::ArmTimeout(slot, NEGOTIATION_TIMEOUT_MS),
                ]
            }
            Input::Refused { request_id, error } => match self.slot_of_request(&request_id) {
                Some(Slot::Main) => {
                    self.main.pending_request = None;
                    self.refused(error)
                }
                Some(Slot::Next) => self.renewal_failed(false),
                None => Vec::new(),
            },
            Input::Offer(offer) => {
                let Some(slot) = self.slot_of_session(&offer.session_id) else {
                    return Vec::new();
                };
                let Some(leg) = self.leg(slot).filter(|leg| !leg.offer_applied) else {
                    return Vec::new();
                };
                leg.offer_applied = true;
                let mut out = vec![Command::Answer(slot, offer.sdp)];
                out.extend(
                    leg.early_ice
                        .drain(..)
                        .map(|candidate| Command::AddIce(slot, candidate)),
                );
                out
            }
            Input::RemoteIce(ice) => {
                let Some(slot) = self.slot_of_session(&ice.session_id) else {
                    return Vec::new();
                };
                let Some(leg) = self.leg(slot) else {
                    return Vec::new();
                };
                if leg.offer_applied {
                    vec![Command::AddIce(slot, ice.candidate)]
                } else {
                    leg.early_ice.push(ice.candidate);
                    Vec::new()
                }
            }
            Input::LocalAnswer(slot, sdp) => match self.leg(slot).and_then(|l| l.session.clone()) {
                Some(session_id) => vec![Command::Send(
                    ViewerToServer::SignalAnswer(SessionSdp { session_id, sdp }),
                    None,
                )],
                None => Vec::new(),
            },
            Input::LocalIce(slot, candidate) => {
                match self.leg(slot).and_then(|l| l.session.clone()) {
                    Some(session_id) => vec![Command::Send(
                        ViewerToServer::SignalIce(SessionIce {
                            session_id,
                            candidate,
                        }),
                        None,
                    )],
                    None => Vec::new(),
                }
            }
            Input::PeerConnected(Slot::Main) => {
                if self.main.session.is_none() || self.phase != Phase::Connecting {
                    return Vec::new();
                }
                self.phase = Phase::Connected;
                self.failures = 0;
                self.renew_later(3, 4)
            }
            Input::PeerConnected(Slot::Next) => match &self.next {
                Some(leg) if leg.session.is_some() => vec![Command::AwaitFirstFrame],
                _ => Vec::new(),
            },
            Input::PeerFailed(Slot::Main, why) => {
                if self.main.session.is_none() {
                    return Vec::new();
                }
                self.fail(why, true)
            }
            Input::Timeout(Slot::Main) => {
                if self.phase != Phase::Connecting || self.main.session.is_none() {
                    return Vec::new();
                }
                self.fail("the connection to the camera took too long".into(), true)
            }
            Input::PeerFailed(Slot::Next, _) | Input::Timeout(Slot::Next) => match &self.next {
                Some(leg) if leg.session.is_some() => self.renewal_failed(true),
                _ => Vec::new(),
            },
            Input::Ended(ended) => match self.slot_of_session(&ended.session_id) {
                Some(Slot::Main) => {
                    self.main.session = None;
                    self.ended(ended.reason, ended.message)
                }
                Some(Slot::Next) => self.renewal_failed(false),
                None => Vec::new(),
            },
            Input::RetryDue => match self.phase {
                Phase::Reconnecting { .. } if self.socket_open => {
                    self.phase = Phase::Connecting;
                    self.request()
                }
                _ => Vec::new(),
            },
            Input::CameraOnline => match self.phase {
                Phase::WaitingForCamera => {
                    self.phase = Phase::Connecting;
                    self.request()
                }
                _ => Vec::new(),
            },
            Input::RenewalDue { relayed } => self.renew(relayed),
            Input::NextPlaying => self.promote(),
            Input::Unplayable(why) => {
                let out = self.drop_sessions(true);
                self.phase = Phase::Ended { why };
                out
            }
            Input::Hidden => {
                self.hidden = true;
                match self.phase {
                    Phase::Idle | Phase::Paused | Phase::Ended { .. } => Vec::new(),
                    _ => vec![Command::PauseAfter(PAUSE_WHEN_HIDDEN_MS)],
                }
            }
            Input::PauseDue => match self.phase {
                Phase::Connecting
                | Phase::Connected
                | Phase::Reconnecting { .. }
                | Phase::WaitingForCamera
                    if self.hidden =>
                {
                    let out = self.drop_sessions(true);
                    self.phase = Phase::Paused;
                    out
                }
                _ => Vec::new(),
            },
            Input::Shown { peer_alive } => self.shown(peer_alive),
            Input::Stop => {
                let out = self.drop_sessions(true);
                self.phase = Phase::Ended {
                    why: "you stopped watching".into(),
                };
                out
            }
        }
    }

    /// The page is shown again: a paused watch, one that gave up while hidden, or one whose
    /// peer died unseen starts again at once; one waiting out a backoff stops waiting.
    fn shown(&mut self, peer_alive: bool) -> Vec<Command> {
        self.hidden = false;
        let mut out = vec![Command::CancelPause];
        let again = match self.phase {
            Phase::Paused | Phase::Ended { .. } => true,
            Phase::Connected if !peer_alive => {
                out.extend(self.drop_sessions(true));
                true
            }
            Phase::Reconnecting { .. } => self.socket_open,
            _ => false,
        };
        if again {
            self.gave_up = false;
            self.failures = 0;
            self.phase = Phase::Connecting;
            out.extend(self.request());
        }
        out
    }

    fn next_request_id(&mut self) -> String {
        self.requests += 1;
        format!("{}-{}", self.tag, self.requests)
    }

    /// Sends a new `watch_request` when the socket is up (otherwise `SocketOpen` will).
    fn request(&mut self) -> Vec<Command> {
        if !self.socket_open {
            return Vec::new();
        }
        let request_id = self.next_request_id();
        self.main.pending_request = Some(request_id.clone());
        vec![Command::Send(
            ViewerToServer::WatchRequest(ViewerWatchRequest::new(self.device_id.clone())),
            Some(request_id),
        )]
    }

    /// Asks for `RenewalDue` after `num/den` of the main session's credential lifetime (none
    /// when its credentials do not expire).
    fn renew_later(&self, num: u64, den: u64) -> Vec<Command> {
        self.main
            .credentials_ttl_ms
            .map(|ttl| {
                let wait = (ttl.saturating_mul(num) / den).min(u64::from(MAX_TIMER_MS));
                Command::RenewAfter(wait as u32)
            })
            .into_iter()
            .collect()
    }

    /// A relayed session asks for a new one beside it (`renews`), with fresh credentials.
    fn renew(&mut self, relayed: bool) -> Vec<Command> {
        let Some(current) = self.main.session.clone() else {
            return Vec::new();
        };
        if !relayed || self.phase != Phase::Connected || self.next.is_some() || !self.socket_open {
            return Vec::new();
        }
        let request_id = self.next_request_id();
        self.next = Some(Leg {
            pending_request: Some(request_id.clone()),
            ..Leg::default()
        });
        let mut request = ViewerWatchRequest::new(self.device_id.clone());
        request.renews = Some(current);
        vec![Command::Send(
            ViewerToServer::WatchRequest(request),
            Some(request_id),
        )]
    }

    /// The renewing session plays: it becomes the main one, and the old one ends.
    fn promote(&mut self) -> Vec<Command> {
        if self.phase != Phase::Connected || self.next.as_ref().is_none_or(|l| l.session.is_none())
        {
            return Vec::new();
        }
        let Some(next) = self.next.take() else {
            return Vec::new();
        };
        let old = std::mem::replace(&mut self.main, next);
        let mut out = Vec::new();
        if let Some(session_id) = old.session
            && self.socket_open
        {
            out.push(Command::Send(
                ViewerToServer::EndWatch(ViewerEndWatch { session_id }),
                None,
            ));
        }
        out.push(Command::Promote);
        out.extend(self.renew_later(3, 4));
        out
    }

    /// The renewal did not come to play: the main session goes on, and one more try follows
    /// before its credentials run out (at 7/8 of their lifetime).
    fn renewal_failed(&mut self, tell: bool) -> Vec<Command> {
        let mut out = Vec::new();
        if let Some(session_id) = self.next.take().and_then(|l| l.session)
            && tell
            && self.socket_open
        {
            out.push(Command::Send(
                ViewerToServer::EndWatch(ViewerEndWatch { session_id }),
                None,
            ));
        }
        out.push(Command::ClosePeer(Slot::Next));
        out.extend(self.renew_later(1, 8));
        out
    }

    /// Forgets both sessions: tells the server when `tell` and one is open, closes the peers.
    fn drop_sessions(&mut self, tell: bool) -> Vec<Command> {
        let mut out = Vec::new();
        let renewing = self.next.take();
        let had_next = renewing.is_some();
        let main = std::mem::take(&mut self.main);
        for session_id in [main.session, renewing.and_then(|l| l.session)]
            .into_iter()
            .flatten()
        {
            if tell && self.socket_open {
                out.push(Command::Send(
                    ViewerToServer::EndWatch(ViewerEndWatch { session_id }),
                    None,
                ));
            }
        }
        if had_next {
            out.push(Command::ClosePeer(Slot::Next));
        }
        out.push(Command::ClosePeer(Slot::Main));
        out
    }

    /// A try failed for `why`: back off and try again, or give up after too many.
    fn fail(&mut self, why: String, tell: bool) -> Vec<Command> {
        let mut out = self.drop_sessions(tell);
        self.failures += 1;
        if self.failures >= MAX_ATTEMPTS {
            self.gave_up = true;
            self.phase = Phase::Ended {
                why: format!("gave up after {} tries: {why}", self.failures),
            };
            return out;
        }
        self.phase = Phase::Reconnecting {
            attempt: self.failures + 1,
            why,
        };
        out.push(Command::RetryAfter(backoff_ms(self.failures)));
        out
    }

    fn ended(&mut self, reason: EndReason, message: Option<String>) -> Vec<Command> {
        let detail = message.map(|m| format!(" ({m})")).unwrap_or_default();
        let why = format!("{}{detail}", describe_end(reason));
        match reason {
            EndReason::ViewerLeft | EndReason::DeviceRemoved | EndReason::MaxViewers => {
                let out = self.drop_sessions(false);
                self.phase = Phase::Ended { why };
                out
            }
            // The camera went away: wait for it rather than hammering the server.
            EndReason::DeviceDisconnected => {
                let out = self.drop_sessions(false);
                self.phase = Phase::WaitingForCamera;
                out
            }
            EndReason::ViewerDisconnected
            | EndReason::DeviceEnded
            | EndReason::Failed
            | EndReason::ServerShutdown
            | EndReason::Other => self.fail(why, false),
        }
    }

    fn refused(&mut self, error: ErrorBody) -> Vec<Command> {
        match error.code {
            ErrorCode::DeviceOffline => {
                self.phase = Phase::WaitingForCamera;
                vec![Command::ClosePeer(Slot::Main)]
            }
            ErrorCode::RateLimited | ErrorCode::Internal | ErrorCode::Unavailable => {
                self.fail(error.message, false)
            }
            _ => {
                self.phase = Phase::Ended { why: error.message };
                vec![Command::ClosePeer(Slot::Main)]
            }
        }
    }
}

/// The wait before try number `failures + 1`, before jitter (the shared backoff rule).
pub fn backoff_ms(failures: u32) -> u32 {
    let ms = |ms: u32| std::time::Duration::from_millis(u64::from(ms));
    let wait = mumu_shared::backoff::ceiling(ms(FIRST_BACKOFF_MS), ms(MAX_BACKOFF_MS), failures);
    wait.as_millis() as u32
}

/// An end reason in words.
pub fn describe_end(reason: EndReason) -> &'static str {
    match reason {
        EndReason::ViewerLeft => "you stopped watching",
        EndReason::ViewerDisconnected => "this browser lost its connection",
        EndReason::DeviceEnded => "the camera ended the stream",
        EndReason::DeviceDisconnected => "the camera went offline",
        EndReason::MaxViewers => "the camera has as many viewers as it allows",
        EndReason::Failed => "the camera could not stream",
        EndReason::DeviceRemoved => "the camera was removed, or your access to it was withdrawn",
        EndReason::ServerShutdown => "the server restarted",
        EndReason::Other => "the session ended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionId {
        SessionId::from("s1")
    }

    fn ready(request_id: &str) -> Input {
        Input::Ready {
            request_id: request_id.into(),
            ready: WatchReady {
                session_id: session(),
                device_id: DeviceId::from("cam"),
                ice_servers: vec![],
                ice_transport_policy: IceTransportPolicy::All,
                ice_credentials_ttl_ms: None,
            },
        }
    }

    fn ended(reason: EndReason) -> Input {
        Input::Ended(WatchEnded {
            session_id: session(),
            reason,
            message: None,
        })
    }

    /// A watch that has negotiated up to `Connected` on request `w-1`.
    fn connected() -> Watch {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(ready("w-1"));
        w.handle(Input::Offer(SessionSdp {
            session_id: session(),
            sdp: "v=0".into(),
        }));
        w.handle(Input::PeerConnected(Slot::Main));
        assert_eq!(w.phase(), &Phase::Connected);
        w
    }

    fn request_ids(commands: &[Command]) -> Vec<String> {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::Send(ViewerToServer::WatchRequest(_), id) => id.clone(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn start_waits_for_the_socket_then_requests() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        assert!(w.handle(Input::Start).is_empty());
        assert_eq!(w.phase(), &Phase::Connecting);
        let out = w.handle(Input::SocketOpen);
        assert_eq!(request_ids(&out), ["w-1"]);
        assert!(w.owns_request("w-1"));
    }

    #[test]
    fn the_happy_path_answers_and_trickles_both_ways() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        assert_eq!(request_ids(&w.handle(Input::Start)), ["w-1"]);
        let out = w.handle(ready("w-1"));
        assert!(matches!(out[0], Command::OpenPeer { .. }));
        assert_eq!(
            out[1],
            Command::ArmTimeout(Slot::Main, NEGOTIATION_TIMEOUT_MS)
        );

        let out = w.handle(Input::Offer(SessionSdp {
            session_id: session(),
            sdp: "offer".into(),
        }));
        assert_eq!(out, [Command::Answer(Slot::Main, "offer".into())]);
        let out = w.handle(Input::LocalAnswer(Slot::Main, "answer".into()));
        assert_eq!(
            out,
            [Command::Send(
                ViewerToServer::SignalAnswer(SessionSdp {
                    session_id: session(),
                    sdp: "answer".into()
                }),
                None
            )]
        );
        let cand = IceCandidate {
            candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host".into(),
            sdp_mid: Some("video0".into()),
            sdp_m_line_index: Some(0),
        };
        let out = w.handle(Input::LocalIce(Slot::Main, Some(cand.clone())));
        assert!(
            matches!(&out[0], Command::Send(ViewerToServer::SignalIce(i), None) if i.candidate.as_ref() == Some(&cand))
        );
        let out = w.handle(Input::RemoteIce(SessionIce {
            session_id: session(),
            candidate: Some(cand.clone()),
        }));
        assert_eq!(out, [Command::AddIce(Slot::Main, Some(cand))]);
        w.handle(Input::PeerConnected(Slot::Main));
        assert_eq!(w.phase(), &Phase::Connected);
    }

    #[test]
    fn candidates_before_the_offer_are_held_until_it_is_applied() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(ready("w-1"));
        let early = |n: &str| SessionIce {
            session_id: session(),
            candidate: Some(IceCandidate {
                candidate: n.into(),
                sdp_mid: None,
                sdp_m_line_index: Some(0),
            }),
        };
        assert!(w.handle(Input::RemoteIce(early("a"))).is_empty());
        assert!(w.handle(Input::RemoteIce(early("b"))).is_empty());
        let out = w.handle(Input::Offer(SessionSdp {
            session_id: session(),
            sdp: "offer".into(),
        }));
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], Command::Answer(Slot::Main, "offer".into()));
        assert!(matches!(&out[1], Command::AddIce(Slot::Main, Some(c)) if c.candidate == "a"));
        assert!(matches!(&out[2], Command::AddIce(Slot::Main, Some(c)) if c.candidate == "b"));
    }

    #[test]
    fn messages_of_other_sessions_and_requests_are_ignored() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        assert!(w.handle(ready("other-1")).is_empty());
        w.handle(ready("w-1"));
        let stranger = SessionId::from("s9");
        assert!(
            w.handle(Input::Offer(SessionSdp {
                session_id: stranger.clone(),
                sdp: "x".into()
            }))
            .is_empty()
        );
        assert!(
            w.handle(Input::Ended(WatchEnded {
                session_id: stranger,
                reason: EndReason::DeviceEnded,
                message: None
            }))
            .is_empty()
        );
        assert_eq!(w.phase(), &Phase::Connecting);
    }

    #[test]
    fn a_second_offer_for_the_same_session_is_not_applied_twice() {
        let mut w = connected();
        let out = w.handle(Input::Offer(SessionSdp {
            session_id: session(),
            sdp: "again".into(),
        }));
        assert!(out.is_empty());
    }

    #[test]
    fn peer_failure_ends_the_session_and_retries_with_backoff() {
        let mut w = connected();
        let out = w.handle(Input::PeerFailed(Slot::Main, "ICE failed".into()));
        assert!(
            matches!(&out[0], Command::Send(ViewerToServer::EndWatch(e), None) if e.session_id == session())
        );
        assert!(out.contains(&Command::ClosePeer(Slot::Main)));
        assert!(out.contains(&Command::RetryAfter(FIRST_BACKOFF_MS)));
        assert!(matches!(w.phase(), Phase::Reconnecting { attempt: 2, .. }));
        assert_eq!(request_ids(&w.handle(Input::RetryDue)), ["w-2"]);
        assert_eq!(w.phase(), &Phase::Connecting);
    }

    #[test]
    fn repeated_failures_back_off_longer_then_give_up() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        let mut waits = Vec::new();
        for n in 1..=MAX_ATTEMPTS {
            w.handle(Input::Ready {
                request_id: format!("w-{n}"),
                ready: WatchReady {
                    session_id: session(),
                    device_id: DeviceId::from("cam"),
                    ice_servers: vec![],
                    ice_transport_policy: IceTransportPolicy::Relay,
                    ice_credentials_ttl_ms: None,
                },
            });
            let out = w.handle(Input::Timeout(Slot::Main));
            waits.extend(out.iter().filter_map(|c| match c {
                Command::RetryAfter(ms) => Some(*ms),
                _ => None,
            }));
            w.handle(Input::RetryDue);
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000]);
        assert!(
            matches!(w.phase(), Phase::Ended { why } if why.starts_with("gave up after 6 tries"))
        );
        assert!(
            w.handle(Input::Start).is_empty(),
            "an ended watch stays ended"
        );
    }

    #[test]
    fn connecting_again_resets_the_failure_count() {
        let mut w = connected();
        w.handle(Input::PeerFailed(Slot::Main, "ICE failed".into()));
        w.handle(Input::RetryDue);
        w.handle(ready("w-2"));
        w.handle(Input::PeerConnected(Slot::Main));
        let out = w.handle(Input::PeerFailed(Slot::Main, "ICE failed".into()));
        assert!(out.contains(&Command::RetryAfter(FIRST_BACKOFF_MS)));
    }

    #[test]
    fn a_lost_socket_closes_the_peer_and_retries_when_it_is_back() {
        let mut w = connected();
        let out = w.handle(Input::SocketLost);
        assert_eq!(
            out,
            [Command::ClosePeer(Slot::Main)],
            "nothing can be sent on a closed socket"
        );
        assert!(matches!(w.phase(), Phase::Reconnecting { .. }));
        assert!(
            w.handle(Input::RetryDue).is_empty(),
            "no request while the socket is down"
        );
        assert_eq!(request_ids(&w.handle(Input::SocketOpen)), ["w-2"]);
    }

    #[test]
    fn a_server_restart_retries() {
        let mut w = connected();
        let out = w.handle(ended(EndReason::ServerShutdown));
        assert!(out.contains(&Command::ClosePeer(Slot::Main)));
        assert!(
            !out.iter().any(|c| matches!(c, Command::Send(..))),
            "the session is already over"
        );
        assert!(
            matches!(w.phase(), Phase::Reconnecting { why, .. } if why.contains("server restarted"))
        );
    }

    #[test]
    fn an_offline_camera_is_waited_for_then_watched_again() {
        let mut w = connected();
        w.handle(ended(EndReason::DeviceDisconnected));
        assert_eq!(w.phase(), &Phase::WaitingForCamera);
        assert_eq!(request_ids(&w.handle(Input::CameraOnline)), ["w-2"]);

        let out = w.handle(Input::Refused {
            request_id: "w-2".into(),
            error: ErrorBody::new(ErrorCode::DeviceOffline, "the camera is offline"),
        });
        assert_eq!(out, [Command::ClosePeer(Slot::Main)]);
        assert_eq!(w.phase(), &Phase::WaitingForCamera);
    }

    #[test]
    fn final_reasons_end_the_watch() {
        for (reason, words) in [
            (EndReason::MaxViewers, "as many viewers"),
            (EndReason::DeviceRemoved, "removed"),
        ] {
            let mut w = connected();
            w.handle(ended(reason));
            assert!(matches!(w.phase(), Phase::Ended { why } if why.contains(words)));
        }
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(Input::Refused {
            request_id: "w-1".into(),
            error: ErrorBody::new(ErrorCode::Forbidden, "not your camera"),
        });
        assert_eq!(
            w.phase(),
            &Phase::Ended {
                why: "not your camera".into()
            }
        );
    }

    #[test]
    fn stop_tells_the_server_and_closes() {
        let mut w = connected();
        let out = w.handle(Input::Stop);
        assert!(matches!(
            &out[0],
            Command::Send(ViewerToServer::EndWatch(_), None)
        ));
        assert_eq!(out[1], Command::ClosePeer(Slot::Main));
        assert!(matches!(w.phase(), Phase::Ended { .. }));
        assert!(w.handle(ended(EndReason::ViewerLeft)).is_empty());
    }

    /// A watch connected on session `s1`, whose credentials last `ttl_ms`.
    fn connected_with_credentials_for(ttl_ms: u64) -> Watch {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(ready_for("w-1", "s1", Some(ttl_ms)));
        let out = w.handle(Input::PeerConnected(Slot::Main));
        assert_eq!(out, [Command::RenewAfter((ttl_ms * 3 / 4) as u32)]);
        w
    }

    fn ready_for(request_id: &str, session: &str, ttl_ms: Option<u64>) -> Input {
        Input::Ready {
            request_id: request_id.into(),
            ready: WatchReady {
                session_id: SessionId::from(session),
                device_id: DeviceId::from("cam"),
                ice_servers: vec![],
                ice_transport_policy: IceTransportPolicy::Relay,
                ice_credentials_ttl_ms: ttl_ms,
            },
        }
    }

    fn end_watch(session: &str) -> Command {
        Command::Send(
            ViewerToServer::EndWatch(ViewerEndWatch {
                session_id: SessionId::from(session),
            }),
            None,
        )
    }

    /// A watch on `s1` renewing into `s2`, the new peer open and not yet connected.
    fn renewing() -> Watch {
        let mut w = connected_with_credentials_for(10_000);
        let out = w.handle(Input::RenewalDue { relayed: true });
        assert_eq!(request_ids(&out), ["w-2"]);
        assert!(matches!(
            &out[0],
            Command::Send(ViewerToServer::WatchRequest(r), _) if r.renews == Some(SessionId::from("s1"))
        ));
        let out = w.handle(ready_for("w-2", "s2", Some(10_000)));
        assert!(matches!(
            out[0],
            Command::OpenPeer {
                slot: Slot::Next,
                ..
            }
        ));
        assert_eq!(
            out[1],
            Command::ArmTimeout(Slot::Next, NEGOTIATION_TIMEOUT_MS)
        );
        w
    }

    #[test]
    fn a_direct_path_or_credentials_that_never_expire_need_no_renewal() {
        let mut w = connected_with_credentials_for(10_000);
        assert!(w.handle(Input::RenewalDue { relayed: false }).is_empty());
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(ready_for("w-1", "s1", None));
        assert_eq!(
            w.handle(Input::PeerConnected(Slot::Main)),
            [],
            "no credential lifetime, no renewal timer"
        );
    }

    #[test]
    fn a_lifetime_longer_than_a_browser_timer_is_clamped() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        w.handle(Input::Start);
        w.handle(ready_for("w-1", "s1", Some(90 * 24 * 3600 * 1000)));
        let out = w.handle(Input::PeerConnected(Slot::Main));
        assert_eq!(out, [Command::RenewAfter(MAX_TIMER_MS)]);
    }

    #[test]
    fn a_relayed_session_is_renewed_beside_the_old_one_which_ends_once_the_new_one_plays() {
        let mut w = renewing();
        let out = w.handle(Input::Offer(SessionSdp {
            session_id: SessionId::from("s2"),
            sdp: "offer 2".into(),
        }));
        assert_eq!(out, [Command::Answer(Slot::Next, "offer 2".into())]);
        let out = w.handle(Input::LocalAnswer(Slot::Next, "answer 2".into()));
        assert!(matches!(
            &out[0],
            Command::Send(ViewerToServer::SignalAnswer(a), None) if a.session_id == SessionId::from("s2")
        ));
        assert_eq!(
            w.handle(Input::PeerConnected(Slot::Next)),
            [Command::AwaitFirstFrame]
        );
        assert_eq!(w.phase(), &Phase::Connected, "the old video still plays");
        assert_eq!(w.session_id(), Some(&SessionId::from("s1")));

        let out = w.handle(Input::NextPlaying);
        assert_eq!(
            out,
            [
                end_watch("s1"),
                Command::Promote,
                Command::RenewAfter(7_500)
            ]
        );
        assert_eq!(w.session_id(), Some(&SessionId::from("s2")));
        assert_eq!(w.phase(), &Phase::Connected);
        // The old session's end, echoed by the server, is no longer ours.
        assert!(
            w.handle(Input::Ended(WatchEnded {
                session_id: SessionId::from("s1"),
                reason: EndReason::ViewerLeft,
                message: None,
            }))
            .is_empty()
        );
        // The next renewal renews the new session.
        let out = w.handle(Input::RenewalDue { relayed: true });
        assert!(matches!(
            &out[0],
            Command::Send(ViewerToServer::WatchRequest(r), _) if r.renews == Some(SessionId::from("s2"))
        ));
    }

    #[test]
    fn a_renewal_that_fails_leaves_the_watch_playing_and_is_tried_again() {
        let mut w = renewing();
        let out = w.handle(Input::PeerFailed(Slot::Next, "ICE failed".into()));
        assert_eq!(
            out,
            [
                end_watch("s2"),
                Command::ClosePeer(Slot::Next),
                Command::RenewAfter(1_250)
            ]
        );
        assert_eq!(w.phase(), &Phase::Connected);
        assert_eq!(w.session_id(), Some(&SessionId::from("s1")));

        // Refused by the server (say, over the viewer limit): nothing to end.
        let out = w.handle(Input::RenewalDue { relayed: true });
        assert_eq!(request_ids(&out), ["w-3"]);
        let out = w.handle(Input::Refused {
            request_id: "w-3".into(),
            error: ErrorBody::new(ErrorCode::SessionNotFound, "no such session"),
        });
        assert_eq!(
            out,
            [Command::ClosePeer(Slot::Next), Command::RenewAfter(1_250)]
        );
        assert_eq!(w.phase(), &Phase::Connected);
    }

    #[test]
    fn a_renewal_that_takes_too_long_or_is_ended_by_the_camera_is_dropped() {
        let mut w = renewing();
        let out = w.handle(Input::Timeout(Slot::Next));
        assert_eq!(out[0], end_watch("s2"));
        let mut w = renewing();
        let out = w.handle(Input::Ended(WatchEnded {
            session_id: SessionId::from("s2"),
            reason: EndReason::Failed,
            message: None,
        }));
        assert_eq!(
            out,
            [Command::ClosePeer(Slot::Next), Command::RenewAfter(1_250)]
        );
        assert_eq!(w.phase(), &Phase::Connected);
    }

    #[test]
    fn the_main_session_failing_mid_renewal_ends_both() {
        let mut w = renewing();
        let out = w.handle(Input::PeerFailed(Slot::Main, "ICE failed".into()));
        assert_eq!(
            out,
            [
                end_watch("s1"),
                end_watch("s2"),
                Command::ClosePeer(Slot::Next),
                Command::ClosePeer(Slot::Main),
                Command::RetryAfter(FIRST_BACKOFF_MS)
            ]
        );
        assert!(matches!(w.phase(), Phase::Reconnecting { .. }));
        assert!(
            w.handle(Input::NextPlaying).is_empty(),
            "a late frame of the dropped peer changes nothing"
        );
    }

    #[test]
    fn a_timeout_after_connecting_is_ignored() {
        let mut w = connected();
        assert!(w.handle(Input::Timeout(Slot::Main)).is_empty());
        assert_eq!(w.phase(), &Phase::Connected);
    }

    #[test]
    fn a_page_hidden_long_enough_pauses_and_lets_the_camera_go() {
        let mut w = connected();
        assert_eq!(
            w.handle(Input::Hidden),
            [Command::PauseAfter(PAUSE_WHEN_HIDDEN_MS)]
        );
        assert_eq!(
            w.phase(),
            &Phase::Connected,
            "a glance away changes nothing"
        );
        let out = w.handle(Input::PauseDue);
        assert_eq!(out, [end_watch("s1"), Command::ClosePeer(Slot::Main)]);
        assert_eq!(w.phase(), &Phase::Paused);
        assert!(
            w.handle(Input::CameraOnline).is_empty() && w.handle(Input::RetryDue).is_empty(),
            "nothing wakes a paused watch but the page being shown"
        );
        let out = w.handle(Input::Shown { peer_alive: false });
        assert_eq!(out[0], Command::CancelPause);
        assert_eq!(request_ids(&out), ["w-2"]);
        assert_eq!(w.phase(), &Phase::Connecting);
    }

    #[test]
    fn a_page_shown_again_in_time_keeps_a_live_watch() {
        let mut w = connected();
        w.handle(Input::Hidden);
        assert_eq!(
            w.handle(Input::Shown { peer_alive: true }),
            [Command::CancelPause]
        );
        assert_eq!(w.phase(), &Phase::Connected);
        assert!(
            w.handle(Input::PauseDue).is_empty(),
            "a pause that comes due after the page is back is stale"
        );
        assert_eq!(w.phase(), &Phase::Connected);
    }

    #[test]
    fn a_peer_that_died_unseen_is_replaced_when_the_page_is_shown() {
        let mut w = connected();
        w.handle(Input::Hidden);
        let out = w.handle(Input::Shown { peer_alive: false });
        assert_eq!(
            out[..3],
            [
                Command::CancelPause,
                end_watch("s1"),
                Command::ClosePeer(Slot::Main)
            ]
        );
        assert_eq!(request_ids(&out), ["w-2"], "at once, with no backoff");
        assert_eq!(w.phase(), &Phase::Connecting);
    }

    #[test]
    fn showing_the_page_cuts_a_backoff_short_and_revives_a_watch_that_gave_up() {
        let mut w = connected();
        w.handle(Input::PeerFailed(Slot::Main, "ICE failed".into()));
        assert!(matches!(w.phase(), Phase::Reconnecting { .. }));
        let out = w.handle(Input::Shown { peer_alive: false });
        assert_eq!(request_ids(&out), ["w-2"]);

        for n in 2..=MAX_ATTEMPTS + 1 {
            w.handle(ready(&format!("w-{n}")));
            w.handle(Input::Timeout(Slot::Main));
            w.handle(Input::RetryDue);
        }
        assert!(matches!(w.phase(), Phase::Ended { why } if why.starts_with("gave up")));
        let out = w.handle(Input::Shown { peer_alive: false });
        assert_eq!(
            request_ids(&out).len(),
            1,
            "a watch that gave up tries again"
        );
        assert_eq!(w.phase(), &Phase::Connecting);

        let mut stopped = connected();
        stopped.handle(Input::Stop);
        assert!(
            stopped
                .handle(Input::Shown { peer_alive: false })
                .is_empty(),
            "a watch the person ended stays ended"
        );
    }

    #[test]
    fn a_browser_that_cannot_play_the_video_ends_the_watch_saying_why() {
        let mut w = Watch::new(DeviceId::from("cam"), "w");
        w.handle(Input::SocketOpen);
        let out = w.handle(Input::Unplayable("no H.264".into()));
        assert!(
            !out.iter().any(|c| matches!(c, Command::Send(..))),
            "{out:?}"
        );
        assert_eq!(
            w.phase(),
            &Phase::Ended {
                why: "no H.264".into()
            }
        );
        assert!(
            w.handle(Input::Start).is_empty(),
            "nothing is asked of the camera"
        );
    }
}
