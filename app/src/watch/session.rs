//! One watch in the browser: the state machine fed by the socket and the peer connection, and
//! its commands carried out. Pages see only [`WatchView`]'s signals.

use super::machine::{Command, Input, Phase, Watch};
use super::peer::{self, Peer, PeerEvent};
use super::stats::{self, Sample, Stats};
use crate::signaling::{Signaling, SocketEvent};
use leptos::prelude::*;
use mumu_shared::DeviceId;
use mumu_shared::signaling::{EndReason, ServerToViewer};
use send_wrapper::SendWrapper;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::Duration;
use web_sys::MediaStream;

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
    peer: Option<Peer>,
    signaling: Signaling,
    view: WatchView,
    listener: u64,
    previous: Option<Sample>,
    timeout: Option<TimeoutHandle>,
    retry: Option<TimeoutHandle>,
    ticker: Option<IntervalHandle>,
}

/// A running watch. Dropping it does not stop it: call [`WatchSession::stop`].
pub struct WatchSession {
    ctl: Rc<RefCell<Ctl>>,
}

impl WatchSession {
    /// Starts watching `device_id`; `tag` must be unique among this tab's watches.
    pub fn start(device_id: DeviceId, tag: String, view: WatchView) -> Self {
        let signaling = Signaling::get();
        let ctl = Rc::new(RefCell::new(Ctl {
            machine: Watch::new(device_id, tag),
            peer: None,
            signaling,
            view,
            listener: 0,
            previous: None,
            timeout: None,
            retry: None,
            ticker: None,
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
        {
            let mut c = ctl.borrow_mut();
            c.listener = listener;
            c.ticker = ticker;
        }
        if signaling.is_open() {
            feed(&ctl, Input::SocketOpen);
        }
        feed(&ctl, Input::Start);
        Self { ctl }
    }

    /// Stops watching: tells the server, closes the peer, forgets the timers.
    pub fn stop(&self) {
        feed(&self.ctl, Input::Stop);
        let mut c = self.ctl.borrow_mut();
        c.signaling.unlisten(c.listener);
        for timer in [c.timeout.take(), c.retry.take()].into_iter().flatten() {
            timer.clear();
        }
        if let Some(ticker) = c.ticker.take() {
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
            if ended.reason == EndReason::Failed && c.machine.owns_session(&ended.session_id) =>
        {
            match c.peer.as_ref().and_then(Peer::stuck_reason) {
                Some(why) => Input::PeerFailed(why.into()),
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
            ice_servers,
            policy,
        } => {
            close_peer(ctl);
            let weak = Rc::downgrade(ctl);
            match Peer::open(&ice_servers, policy, move |event| on_peer(&weak, event)) {
                Ok(peer) => ctl.borrow_mut().peer = Some(peer),
                Err(why) => feed(ctl, Input::PeerFailed(format!("no peer connection: {why}"))),
            }
        }
        Command::Answer(offer) => {
            let Some(pc) = ctl.borrow().peer.as_ref().map(Peer::connection) else {
                return;
            };
            let weak = Rc::downgrade(ctl);
            leptos::task::spawn_local(async move {
                let result = peer::answer(pc, offer).await;
                if let Some(ctl) = weak.upgrade() {
                    feed(
                        &ctl,
                        match result {
                            Ok(answer) => Input::LocalAnswer(answer),
                            Err(why) => Input::PeerFailed(why),
                        },
                    );
                }
            });
        }
        Command::AddIce(Some(candidate)) => {
            if let Some(peer) = &ctl.borrow().peer {
                peer.add_ice(&candidate);
            }
        }
        Command::AddIce(None) => {}
        Command::ClosePeer => close_peer(ctl),
        Command::RetryAfter(ms) => {
            // Jitter, so that many tabs do not come back in step.
            let ceiling = Duration::from_millis(u64::from(ms));
            let wait = mumu_shared::backoff::jittered(ceiling, js_sys::Math::random());
            let handle = after(ctl, wait, Input::RetryDue);
            if let Some(old) = std::mem::replace(&mut ctl.borrow_mut().retry, handle) {
                old.clear();
            }
        }
        Command::ArmTimeout(ms) => {
            // Past the deadline, a peer that has the camera's offer and still no path says
            // why (what became of the relay); otherwise it is a plain timeout.
            let weak = Rc::downgrade(ctl);
            let handle = set_timeout_with_handle(
                move || {
                    let Some(ctl) = weak.upgrade() else { return };
                    let stuck = ctl.borrow().peer.as_ref().and_then(Peer::stuck_reason);
                    feed(
                        &ctl,
                        stuck.map_or(Input::Timeout, |why| Input::PeerFailed(why.into())),
                    );
                },
                Duration::from_millis(u64::from(ms)),
            )
            .ok();
            if let Some(old) = std::mem::replace(&mut ctl.borrow_mut().timeout, handle) {
                old.clear();
            }
        }
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

fn on_peer(weak: &Weak<RefCell<Ctl>>, event: PeerEvent) {
    let Some(ctl) = weak.upgrade() else { return };
    match event {
        PeerEvent::Ice(candidate) => feed(&ctl, Input::LocalIce(candidate)),
        PeerEvent::Track(stream) => {
            let view = ctl.borrow().view;
            view.stream.set(Some(SendWrapper::new(stream)));
        }
        PeerEvent::Connected => {
            if let Some(timer) = ctl.borrow_mut().timeout.take() {
                timer.clear();
            }
            feed(&ctl, Input::PeerConnected);
        }
        PeerEvent::Failed(why) => feed(&ctl, Input::PeerFailed(why)),
    }
}

fn close_peer(ctl: &Rc<RefCell<Ctl>>) {
    let (peer, view) = {
        let mut c = ctl.borrow_mut();
        c.previous = None;
        if let Some(timer) = c.timeout.take() {
            timer.clear();
        }
        (c.peer.take(), c.view)
    };
    if let Some(peer) = peer {
        peer.close();
        view.stream.set(None);
        view.stats.set(None);
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
