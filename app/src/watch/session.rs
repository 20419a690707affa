//! One watch in the browser: the state machine fed by the socket and the peer connection, and
//! its commands carried out. Pages see only [`WatchView`]'s signals.

use super::history::History;
use super::machine::{Command, Input, Phase, Slot, Watch};
use super::peer::{self, Peer, PeerEvent};
use super::stats::{self, Sample, Stats};
use crate::signaling::{Signaling, SocketEvent};
use crate::visibility::{self, VisibilityListener};
use leptos::prelude::*;
use mumu_shared::DeviceId;
use mumu_shared::signaling::{EndReason, ServerToViewer};
use send_wrapper::SendWrapper;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;
use web_sys::{MediaStream, RtcDataChannel};

/// What a page shows of a watch.
#[derive(Clone, Copy)]
pub struct WatchView {
    /// Where the watch stands.
    pub phase: RwSignal<Phase>,
    /// The latest figures, once connected.
    pub stats: RwSignal<Option<Stats>>,
    /// The camera's video, once it arrives.
    pub stream: RwSignal<Option<SendWrapper<MediaStream>>>,
}

impl WatchView {
    /// Signals for a watch that has not started.
    pub fn new() -> Self {
        Self {
            phase: RwSignal::new(Phase::Idle),
            stats: RwSignal::new(None),
            stream: RwSignal::new(None),
        }
    }
}

impl Default for WatchView {
    fn default() -> Self {
        Self::new()
    }
}

struct Ctl {
    machine: Watch,
    /// The peer whose video is shown, and its negotiation deadline.
    peer: Option<Peer>,
    timeout: Option<TimeoutHandle>,
    /// A peer renewing the session beside it, its deadline, its video (shown once it plays)
    /// and the check for its first decoded frame.
    next: Option<Peer>,
    next_timeout: Option<TimeoutHandle>,
    next_stream: Option<MediaStream>,
    next_history: Option<RtcDataChannel>,
    /// The camera's recordings, when the page shows them: given the shown peer's channel.
    history: Option<History>,
    first_frame_check: Option<IntervalHandle>,
    signaling: Signaling,
    view: WatchView,
    listener: u64,
    previous: Option<Sample>,
    retry: Option<TimeoutHandle>,
    renewal: Option<TimeoutHandle>,
    pause: Option<TimeoutHandle>,
    ticker: Option<IntervalHandle>,
    visibility: Option<VisibilityListener>,
}

impl Ctl {
    fn peer(&self, slot: Slot) -> Option<&Peer> {
        match slot {
            Slot::Main => self.peer.as_ref(),
            Slot::Next => self.next.as_ref(),
        }
    }

    fn timeout(&mut self, slot: Slot) -> &mut Option<TimeoutHandle> {
        match slot {
            Slot::Main => &mut self.timeout,
            Slot::Next => &mut self.next_timeout,
        }
    }
}

/// Puts `new` in the place of a timer, clearing the one it replaces.
fn replace_timeout(place: &mut Option<TimeoutHandle>, new: Option<TimeoutHandle>) {
    if let Some(old) = std::mem::replace(place, new) {
        old.clear();
    }
}

/// A running watch. Dropping it does not stop it: call [`WatchSession::stop`].
pub struct WatchSession {
    ctl: Rc<RefCell<Ctl>>,
}

impl WatchSession {
    /// Starts watching `device_id`; `tag` must be unique among this tab's watches. `history`
    /// shows the camera's recordings, over the shown peer's `history` channel.
    pub fn start(
        device_id: DeviceId,
        tag: String,
        view: WatchView,
        history: Option<History>,
    ) -> Self {
        let signaling = Signaling::get();
        let ctl = Rc::new(RefCell::new(Ctl {
            machine: Watch::new(device_id, tag),
            peer: None,
            timeout: None,
            next: None,
            next_timeout: None,
            next_stream: None,
            next_history: None,
            history,
            first_frame_check: None,
            signaling,
            view,
            listener: 0,
            previous: None,
            retry: None,
            renewal: None,
            pause: None,
            ticker: None,
            visibility: None,
        }));
        let weak = Rc::downgrade(&ctl);
        let listener = signaling.listen(move |event| {
            let Some(ctl) = weak.upgrade() else { return };
            // The borrow must end before `feed` borrows again.
            let input = {
                let c = ctl.borrow();
                input_of(&c.machine, event).map(|input| explain_failure(&c, input))
            };
            if let Some(input) = input {
                feed(&ctl, input);
            }
        });
        let weak = Rc::downgrade(&ctl);
        let ticker = set_interval_with_handle(
            move || {
                if let Some(ctl) = weak.upgrade() {
                    refresh_stats(&ctl);
                }
            },
            Duration::from_secs(1),
        )
        .ok();
        let weak = Rc::downgrade(&ctl);
        let visibility = VisibilityListener::new(move |hidden| {
            if let Some(ctl) = weak.upgrade() {
                let input = if hidden {
                    Input::Hidden
                } else {
                    let peer_alive = ctl.borrow().peer.as_ref().is_none_or(Peer::is_alive);
                    Input::Shown { peer_alive }
                };
                feed(&ctl, input);
            }
        });
        {
            let mut c = ctl.borrow_mut();
            c.listener = listener;
            c.ticker = ticker;
            c.visibility = visibility;
        }
        if signaling.is_open() {
            feed(&ctl, Input::SocketOpen);
        }
        if let Some(why) = peer::cannot_play() {
            feed(&ctl, Input::Unplayable(why.into()));
        }
        feed(&ctl, Input::Start);
        if visibility::is_hidden() {
            feed(&ctl, Input::Hidden);
        }
        Self { ctl }
    }

    /// Stops watching: tells the server, closes the peer, forgets the timers.
    pub fn stop(&self) {
        let history = self.ctl.borrow_mut().history.take();
        if let Some(history) = history {
            history.close();
        }
        feed(&self.ctl, Input::Stop);
        let mut c = self.ctl.borrow_mut();
        c.signaling.unlisten(c.listener);
        c.visibility = None;
        for timer in [
            c.timeout.take(),
            c.retry.take(),
            c.renewal.take(),
            c.pause.take(),
        ]
        .into_iter()
        .flatten()
        {
            timer.clear();
        }
        for ticker in [c.ticker.take(), c.first_frame_check.take()]
            .into_iter()
            .flatten()
        {
            ticker.clear();
        }
    }
}

/// The machine's input for a socket event, when the event concerns this watch.
fn input_of(machine: &Watch, event: &SocketEvent) -> Option<Input> {
    let envelope = match event {
        SocketEvent::Open => return Some(Input::SocketOpen),
        SocketEvent::Lost => return Some(Input::SocketLost),
        SocketEvent::Message(envelope) => envelope,
    };
    let request_id = envelope.request_id.clone();
    Some(match &envelope.message {
        ServerToViewer::WatchReady(ready) => Input::Ready {
            request_id: request_id?,
            ready: ready.clone(),
        },
        ServerToViewer::Error(error) => Input::Refused {
            request_id: request_id?,
            error: error.clone(),
        },
        ServerToViewer::SignalOffer(offer) => Input::Offer(offer.clone()),
        ServerToViewer::SignalIce(ice) => Input::RemoteIce(ice.clone()),
        ServerToViewer::WatchEnded(ended) => Input::Ended(ended.clone()),
        ServerToViewer::DevicePresence(p) if p.online && &p.device_id == machine.device_id() => {
            Input::CameraOnline
        }
        _ => return None,
    })
}

/// A camera that gave up on ICE before we connected ends the session as `failed`; our own peer
/// knows better why (what became of the relay), so that is what the person is told.
fn explain_failure(c: &Ctl, input: Input) -> Input {
    match &input {
        Input::Ended(ended)
            if ended.reason == EndReason::Failed
                && c.machine.slot_of_session(&ended.session_id) == Some(Slot::Main) =>
        {
            match c.peer.as_ref().and_then(Peer::stuck_reason) {
                Some(why) => Input::PeerFailed(Slot::Main, why.into()),
                None => input,
            }
        }
        _ => input,
    }
}

/// Feeds one input to the machine and carries out what it says.
fn feed(ctl: &Rc<RefCell<Ctl>>, input: Input) {
    let (commands, phase, view) = {
        let mut c = ctl.borrow_mut();
        let commands = c.machine.handle(input);
        (commands, c.machine.phase().clone(), c.view)
    };
    if view.phase.get_untracked() != phase {
        view.phase.set(phase);
    }
    for command in commands {
        execute(ctl, command);
    }
}

fn execute(ctl: &Rc<RefCell<Ctl>>, command: Command) {
    match command {
        Command::Send(message, request_id) => {
            let signaling = ctl.borrow().signaling;
            // Not sent means the socket is down; the machine hears `Lost` and retries.
            signaling.send(message, request_id);
        }
        Command::OpenPeer {
            slot,
            ice_servers,
            policy,
        } => {
            close_peer(ctl, slot);
            let weak = Rc::downgrade(ctl);
            match Peer::open(&ice_servers, policy, move |event| {
                on_peer(&weak, slot, event)
            }) {
                Ok(peer) => {
                    let mut c = ctl.borrow_mut();
                    match slot {
                        Slot::Main => c.peer = Some(peer),
                        Slot::Next => c.next = Some(peer),
                    }
                }
                Err(why) => feed(
                    ctl,
                    Input::PeerFailed(slot, format!("no peer connection: {why}")),
                ),
            }
        }
        Command::Answer(slot, offer) => {
            let Some(pc) = ctl.borrow().peer(slot).map(Peer::connection) else {
                return;
            };
            let weak = Rc::downgrade(ctl);
            leptos::task::spawn_local(async move {
                let result = peer::answer(pc, offer).await;
                if let Some(ctl) = weak.upgrade() {
                    feed(
                        &ctl,
                        match result {
                            Ok(answer) => Input::LocalAnswer(slot, answer),
                            Err(why) => Input::PeerFailed(slot, why),
                        },
                    );
                }
            });
        }
        Command::AddIce(slot, Some(candidate)) => {
            if let Some(peer) = ctl.borrow().peer(slot) {
                peer.add_ice(&candidate);
            }
        }
        Command::AddIce(_, None) => {}
        Command::ClosePeer(slot) => close_peer(ctl, slot),
        Command::RetryAfter(ms) => {
            // Jitter, so that many tabs do not come back in step.
            let ceiling = Duration::from_millis(u64::from(ms));
            let wait = mumu_shared::backoff::jittered(ceiling, js_sys::Math::random());
            let handle = after(ctl, wait, Input::RetryDue);
            replace_timeout(&mut ctl.borrow_mut().retry, handle);
        }
        Command::ArmTimeout(slot, ms) => {
            // Past the deadline, a main peer that has the camera's offer and still no path
            // says why (what became of the relay); otherwise it is a plain timeout.
            let weak = Rc::downgrade(ctl);
            let handle = set_timeout_with_handle(
                move || {
                    let Some(ctl) = weak.upgrade() else { return };
                    let stuck = match slot {
                        Slot::Main => ctl.borrow().peer.as_ref().and_then(Peer::stuck_reason),
                        Slot::Next => None,
                    };
                    feed(
                        &ctl,
                        stuck.map_or(Input::Timeout(slot), |why| {
                            Input::PeerFailed(slot, why.into())
                        }),
                    );
                },
                Duration::from_millis(u64::from(ms)),
            )
            .ok();
            replace_timeout(ctl.borrow_mut().timeout(slot), handle);
        }
        Command::RenewAfter(ms) => {
            // When due, the shown peer's selected pair says whether the relay carries it.
            let weak = Rc::downgrade(ctl);
            let handle = set_timeout_with_handle(
                move || {
                    let Some(ctl) = weak.upgrade() else { return };
                    let Some(pc) = ctl.borrow().peer.as_ref().map(Peer::connection) else {
                        return;
                    };
                    leptos::task::spawn_local(async move {
                        let relayed = stats::sample(&pc).await.is_some_and(|s| s.relayed());
                        if let Some(ctl) = weak.upgrade() {
                            feed(&ctl, Input::RenewalDue { relayed });
                        }
                    });
                },
                Duration::from_millis(u64::from(ms)),
            )
            .ok();
            replace_timeout(&mut ctl.borrow_mut().renewal, handle);
        }
        Command::AwaitFirstFrame => {
            let weak = Rc::downgrade(ctl);
            let check =
                set_interval_with_handle(move || check_first_frame(&weak), FIRST_FRAME_CHECK_EVERY)
                    .ok();
            if let Some(old) = std::mem::replace(&mut ctl.borrow_mut().first_frame_check, check) {
                old.clear();
            }
        }
        Command::Promote => promote(ctl),
        Command::PauseAfter(ms) => {
            let handle = after(ctl, Duration::from_millis(u64::from(ms)), Input::PauseDue);
            replace_timeout(&mut ctl.borrow_mut().pause, handle);
        }
        Command::CancelPause => replace_timeout(&mut ctl.borrow_mut().pause, None),
    }
}

/// How often a renewing peer is asked whether it decoded a frame yet (about two frames at 30
/// fps: the switch waits at most that long after the new session plays).
const FIRST_FRAME_CHECK_EVERY: Duration = Duration::from_millis(50);

/// Feeds `NextPlaying` once the renewing peer has decoded a frame (its deadline, armed when it
/// opened, bounds the wait).
fn check_first_frame(weak: &Weak<RefCell<Ctl>>) {
    let Some(ctl) = weak.upgrade() else { return };
    let Some(pc) = ctl.borrow().next.as_ref().map(Peer::connection) else {
        return;
    };
    let weak = weak.clone();
    leptos::task::spawn_local(async move {
        let decoded = stats::sample(&pc)
            .await
            .is_some_and(|s| s.frames_decoded > 0.0);
        let Some(ctl) = weak.upgrade() else { return };
        if !decoded {
            return;
        }
        // Only once: the check stops at the first answer that says yes.
        let check = ctl.borrow_mut().first_frame_check.take();
        if let Some(check) = check {
            check.clear();
            feed(&ctl, Input::NextPlaying);
        }
    });
}

/// The renewing peer takes the main peer's place; its video replaces the old one in one step.
fn promote(ctl: &Rc<RefCell<Ctl>>) {
    let (old, stream, view) = {
        let mut c = ctl.borrow_mut();
        let Some(next) = c.next.take() else { return };
        for timer in [c.next_timeout.take(), c.timeout.take()]
            .into_iter()
            .flatten()
        {
            timer.clear();
        }
        if let Some(check) = c.first_frame_check.take() {
            check.clear();
        }
        c.previous = None;
        let stream = c.next_stream.take();
        let history = c.history.clone().zip(c.next_history.take());
        (c.peer.replace(next), (stream, history), c.view)
    };
    let (stream, history) = stream;
    if let Some(stream) = stream {
        view.stream.set(Some(SendWrapper::new(stream)));
    }
    // The old peer's channel closes with it: the history goes on over the new one.
    if let Some((history, channel)) = history {
        history.attach(Some(channel));
    }
    if let Some(old) = old {
        old.close();
    }
}

/// Feeds `input` after `wait`, if the watch still exists then.
fn after(ctl: &Rc<RefCell<Ctl>>, wait: Duration, input: Input) -> Option<TimeoutHandle> {
    let weak = Rc::downgrade(ctl);
    set_timeout_with_handle(
        move || {
            if let Some(ctl) = weak.upgrade() {
                feed(&ctl, input);
            }
        },
        wait,
    )
    .ok()
}

fn on_peer(weak: &Weak<RefCell<Ctl>>, slot: Slot, event: PeerEvent) {
    let Some(ctl) = weak.upgrade() else { return };
    match event {
        PeerEvent::Ice(candidate) => feed(&ctl, Input::LocalIce(slot, candidate)),
        PeerEvent::Track(stream) => match slot {
            Slot::Main => {
                let view = ctl.borrow().view;
                view.stream.set(Some(SendWrapper::new(stream)));
            }
            Slot::Next => ctl.borrow_mut().next_stream = Some(stream),
        },
        PeerEvent::History(channel) => {
            // A renewing peer's channel waits for it to be shown (or came after it was).
            let history = {
                let mut c = ctl.borrow_mut();
                if slot == Slot::Next && c.next.is_some() {
                    c.next_history = Some(channel);
                    return;
                }
                c.history.clone()
            };
            if let Some(history) = history {
                history.attach(Some(channel));
            }
        }
        PeerEvent::Connected => {
            // A camera that records opens its channel as the connection comes up.
            let history = ctl.borrow().history.clone();
            if let (Slot::Main, Some(history)) = (slot, history) {
                history.expect_channel();
            }
            // A renewing peer keeps its deadline until it shows a frame.
            if slot == Slot::Main
                && let Some(timer) = ctl.borrow_mut().timeout.take()
            {
                timer.clear();
            }
            feed(&ctl, Input::PeerConnected(slot));
        }
        PeerEvent::Failed(why) => feed(&ctl, Input::PeerFailed(slot, why)),
    }
}

fn close_peer(ctl: &Rc<RefCell<Ctl>>, slot: Slot) {
    let (peer, view) = {
        let mut c = ctl.borrow_mut();
        if let Some(timer) = c.timeout(slot).take() {
            timer.clear();
        }
        let peer = match slot {
            Slot::Main => {
                c.previous = None;
                c.peer.take()
            }
            Slot::Next => {
                c.next_stream = None;
                c.next_history = None;
                if let Some(check) = c.first_frame_check.take() {
                    check.clear();
                }
                c.next.take()
            }
        };
        (peer, c.view)
    };
    if let Some(peer) = peer {
        peer.close();
        if slot == Slot::Main {
            view.stream.set(None);
            view.stats.set(None);
            if let Some(history) = ctl.borrow().history.clone() {
                history.attach(None);
            }
        }
    }
}

fn refresh_stats(ctl: &Rc<RefCell<Ctl>>) {
    let Some(pc) = ctl.borrow().peer.as_ref().map(Peer::connection) else {
        return;
    };
    let weak = Rc::downgrade(ctl);
    leptos::task::spawn_local(async move {
        let Some(sample) = stats::sample(&pc).await else {
            return;
        };
        let Some(ctl) = weak.upgrade() else { return };
        let mut c = ctl.borrow_mut();
        if c.peer.is_none() {
            return;
        }
        let figures = stats::summarize(c.previous.as_ref(), &sample);
        c.previous = Some(sample);
        c.view.stats.set(Some(figures));
    });
}
