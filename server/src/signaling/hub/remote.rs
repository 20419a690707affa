//! The half of a session whose other end is on another server. The viewer's server asks the
//! device's server to open (`open_remote`), waits for its answer (`PendingOpen`, until
//! `OPEN_TIMEOUT_MS`), and from then on each half tells the other what its end sends, as
//! [`Routed`] messages that `signaling::router` carries.
//!
//! **Invariant**: a half takes routed news only from the server holding its other end, and ends
//! when that server is gone, or when its camera connects to a third one. The device's server
//! holds the count its [`crate::signaling::admission::Admission`] is asked with; the viewer's
//! server keeps the record.

use super::lifecycle::{DeviceEnd, Seat};
use super::outbox::Out;
use super::records::Ended;
use super::side::Side;
use super::{End, Hub, OpenRequest, Session, State};
use crate::error::Result;
use crate::signaling::route::{OPEN_TIMEOUT_MS, Post, RemoteOpen, Routed, ServerId};
use mumu_shared::signaling::{EndReason, ServerToViewer};
use mumu_shared::{DeviceId, Envelope, ErrorBody, ErrorCode, SessionId, UnixMillis};
use std::collections::HashSet;

/// A watch this server asked the device's server to open, waiting for its answer.
pub(super) struct PendingOpen {
    pub seat: Seat,
    pub device_server: ServerId,
    pub deadline: UnixMillis,
}

impl Hub {
    /// Asks `device_server`, which holds the device, to open a session with the asking viewer
    /// socket. The viewer's `watch_ready` (or error) follows when that server answers.
    pub fn open_remote(
        &self,
        request: OpenRequest,
        device_server: &ServerId,
        now: UnixMillis,
    ) -> Result<()> {
        let (device, seat) = request.split();
        let mut state = self.lock();
        state.viewer_attached(seat.viewer_conn)?;
        let device_id = seat.to_viewer.device_id.clone();
        let viewer = End::Here(seat.viewer_conn);
        state.renewable(device.renews.as_ref(), &viewer, &device_id)?;
        let pending = PendingOpen {
            seat,
            device_server: device_server.clone(),
            deadline: now + OPEN_TIMEOUT_MS,
        };
        state
            .pending
            .insert(device.to_device.session_id.clone(), pending);
        let open = RemoteOpen {
            device_id,
            to_device: device.to_device,
            admission: device.admission,
            renews: device.renews,
        };
        self.post(device_server, Routed::Open(open));
        Ok(())
    }

    /// Takes what server `from` routed here about a session between the two.
    pub fn receive(&self, from: &ServerId, routed: Routed, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        let there = End::There(from.clone());
        match routed {
            Routed::Open(open) => {
                let session_id = open.to_device.session_id.clone();
                let opened = self.open_for(&mut state, from, open, now);
                let refused = opened.err().map(|e| e.to_body());
                self.post(
                    from,
                    Routed::Opened {
                        session_id,
                        refused,
                    },
                );
            }
            Routed::Opened {
                session_id,
                refused,
            } => self.opened(&mut state, from, session_id, refused, now),
            // Refused (no such session with `from`) is for a socket to hear, not a server.
            Routed::ToDevice {
                session_id,
                message,
            } => {
                let _ = self.pass(&state, &session_id, &there, message, now);
            }
            Routed::ToViewer {
                session_id,
                message,
            } => {
                let _ = self.pass(&state, &session_id, &there, message, now);
            }
            Routed::Ended {
                session_id,
                reason,
                message,
            } => {
                let other_end = |s: &Session| s.device == there || s.viewer == there;
                if state.session_of(&session_id, other_end).is_ok() {
                    return self
                        .finish(&mut state, &session_id, reason, message, now, Some(from))
                        .into_iter()
                        .collect();
                }
            }
        }
        Vec::new()
    }

    /// The device's server opens its half of a session for a viewer on `from`.
    fn open_for(
        &self,
        state: &mut State,
        from: &ServerId,
        open: RemoteOpen,
        now: UnixMillis,
    ) -> Result<()> {
        let session_id = open.to_device.session_id.clone();
        let device_conn = state.device_conn(&open.device_id)?;
        let viewer = End::There(from.clone());
        let end = DeviceEnd {
            to_device: open.to_device,
            admission: open.admission,
            renews: open.renews,
        };
        self.take_device_end(state, device_conn, &viewer, end, now)?;
        let session = Session {
            device_id: open.device_id,
            device: End::Here(device_conn),
            viewer,
        };
        state.sessions.insert(session_id, session);
        self.started_for_another_server();
        Ok(())
    }

    /// The device's server answered an open: the viewer gets `watch_ready` or the error.
    fn opened(
        &self,
        state: &mut State,
        from: &ServerId,
        session_id: SessionId,
        refused: Option<ErrorBody>,
        now: UnixMillis,
    ) {
        let waiting = state
            .pending
            .remove(&session_id)
            .filter(|p| &p.device_server == from);
        let Some(pending) = waiting.filter(|p| state.viewers.contains_key(&p.seat.viewer_conn))
        else {
            // Nobody waits any more (the viewer left, or gave up): the device's half goes.
            if refused.is_none() {
                let ended = Routed::Ended {
                    session_id,
                    reason: EndReason::ViewerLeft,
                    message: None,
                };
                self.post(from, ended);
            }
            return;
        };
        match refused {
            None => self.seat_viewer(state, pending.seat, End::There(from.clone()), now),
            Some(body) => {
                let seat = pending.seat;
                let error = Envelope::new(ServerToViewer::Error(body), now);
                state.viewers[&seat.viewer_conn]
                    .outbox
                    .push(Out::send(error.reply_to(seat.request_id)));
            }
        }
    }

    /// Opens still unanswered past their deadline fail: the viewer is told to try again.
    pub fn expire_pending(&self, now: UnixMillis) {
        let mut state = self.lock();
        self.refuse_every_pending(
            &mut state,
            |p| p.deadline <= now,
            "the server holding the camera did not answer in time; try again",
            now,
        );
    }

    /// Could not reach `server` with an open: its viewer is told now, not at the deadline.
    pub fn route_failed(&self, post: &Post, now: UnixMillis) {
        if let Routed::Open(open) = &post.routed {
            let mut state = self.lock();
            self.refuse_pending(
                &mut state,
                &open.to_device.session_id,
                "the server holding the camera cannot be reached right now; try again",
                now,
            );
        }
    }

    /// Refuses every open still waiting that `which` picks, telling its viewer `why`.
    pub(super) fn refuse_every_pending(
        &self,
        state: &mut State,
        which: impl Fn(&PendingOpen) -> bool,
        why: &str,
        now: UnixMillis,
    ) {
        let waiting: Vec<SessionId> = (state.pending.iter())
            .filter(|(_, p)| which(p))
            .map(|(id, _)| id.clone())
            .collect();
        for session_id in waiting {
            self.refuse_pending(state, &session_id, why, now);
        }
    }

    fn refuse_pending(
        &self,
        state: &mut State,
        session_id: &SessionId,
        why: &str,
        now: UnixMillis,
    ) {
        let Some(pending) = state.pending.remove(session_id) else {
            return;
        };
        let seat = pending.seat;
        if let Some(viewer) = state.viewers.get(&seat.viewer_conn) {
            let error = ServerToViewer::Error(ErrorBody::new(ErrorCode::Unavailable, why));
            let error = Envelope::new(error, now).reply_to(seat.request_id);
            viewer.outbox.push(Out::send(error));
        }
    }

    /// The servers holding the other halves of sessions here (and of opens waiting).
    pub fn peer_servers(&self) -> HashSet<ServerId> {
        let state = self.lock();
        let ends = state.sessions.values().flat_map(|s| [&s.device, &s.viewer]);
        ends.filter_map(|end| match end {
            End::There(server) => Some(server.clone()),
            End::Here(_) => None,
        })
        .chain(state.pending.values().map(|p| p.device_server.clone()))
        .collect()
    }

    /// `server` is gone (it stopped answering): its halves of sessions with this server end
    /// here, as if its socket had dropped: `device_disconnected` for a viewer here (the camera
    /// comes back through another server), `viewer_disconnected` for a device here.
    pub fn server_gone(&self, server: &ServerId, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        self.refuse_every_pending(
            &mut state,
            |p| &p.device_server == server,
            "the server holding the camera went away; try again",
            now,
        );
        let there = End::There(server.clone());
        let gone: Vec<(SessionId, EndReason)> = (state.sessions.iter())
            .filter_map(|(id, s)| {
                let side = [Side::Device, Side::Viewer]
                    .into_iter()
                    .find(|side| s.end(*side) == &there)?;
                Some((id.clone(), side.disconnected()))
            })
            .collect();
        gone.iter()
            .filter_map(|(id, reason)| {
                self.finish(&mut state, id, *reason, None, now, Some(server))
            })
            .collect()
    }

    /// `device_id` connected again, to `server`. A device's sessions never outlive its socket,
    /// so halves here whose device end is on another server are over: they end now with
    /// `device_disconnected` (and opens still waiting on another server fail), rather than when
    /// that server is found dead or its socket times out.
    pub(super) fn device_moved(
        &self,
        state: &mut State,
        device_id: &DeviceId,
        server: &ServerId,
        now: UnixMillis,
    ) -> Vec<Ended> {
        self.refuse_every_pending(
            state,
            |p| &p.device_server != server && p.seat.to_viewer.device_id == *device_id,
            "the camera reconnected to another server; try again",
            now,
        );
        let elsewhere = |end: &End| matches!(end, End::There(s) if s != server);
        let stale: Vec<SessionId> = (state.sessions.iter())
            .filter(|(_, s)| &s.device_id == device_id && elsewhere(&s.device))
            .map(|(id, _)| id.clone())
            .collect();
        stale
            .iter()
            .filter_map(|id| self.finish(state, id, EndReason::DeviceDisconnected, None, now, None))
            .collect()
    }

    /// Queues `routed` for the router to carry to `to`.
    pub(super) fn post(&self, to: &ServerId, routed: Routed) {
        let post = Post {
            to: to.clone(),
            routed,
        };
        if let Err(e) = self.routes.try_send(post) {
            tracing::error!(error = %e, "routing to another server fell behind; a message is lost");
        }
    }

    /// Waits (at most `limit`) until every routed message queued so far has been taken by
    /// the router (at shutdown).
    pub async fn routes_sent(&self, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.routes.capacity() < self.routes.max_capacity() && start.elapsed() < limit {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::presence::{DeviceNews, Notice};
    use crate::signaling::hub::Record;
    use crate::signaling::route::{OPEN_TIMEOUT_MS, Routed};
    use mumu_shared::ErrorCode;
    use mumu_shared::signaling::{EndReason, ServerToDevice, ServerToViewer, SessionSdp};

    #[test]
    fn a_session_across_two_servers_signals_and_ends_like_one_on_a_single_server() {
        let mut pair = Pair::new();
        let (d, mut cam) = device(&pair.b, "d1");
        let (v, mut view) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v, "d1", "s1", 4), &"b".to_owned(), NOW)
            .unwrap();
        assert!(
            view.try_recv().is_err(),
            "no answer before the device's server gives one"
        );
        pair.carry();
        assert_watch_opened(&mut cam, &mut view);
        // Offer and candidates one way, answer and candidates the other.
        let sdp = |s: &str| SessionSdp {
            session_id: "s1".into(),
            sdp: s.into(),
        };
        pair.b
            .to_viewer(
                d,
                &"s1".into(),
                ServerToViewer::SignalOffer(sdp("offer")),
                NOW,
            )
            .unwrap();
        pair.a
            .to_device(
                v,
                &"s1".into(),
                ServerToDevice::SignalAnswer(sdp("answer")),
                NOW,
            )
            .unwrap();
        pair.carry();
        assert!(matches!(sent(&mut view), ServerToViewer::SignalOffer(o) if o.sdp == "offer"));
        assert!(matches!(sent(&mut cam), ServerToDevice::SignalAnswer(a) if a.sdp == "answer"));
        // The device ends it: the viewer hears why, the device hears nothing back.
        pair.b
            .end(
                d,
                &"s1".into(),
                EndReason::DeviceEnded,
                Some("bye".into()),
                NOW,
            )
            .unwrap();
        pair.carry();
        assert!(matches!(
            sent(&mut view),
            ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceEnded && e.message.as_deref() == Some("bye")
        ));
        assert!(cam.try_recv().is_err());
        // Recorded once, by the viewer's server.
        assert!(matches!(
            pair.a_records.try_recv(),
            Ok(Record::Started { .. })
        ));
        assert!(matches!(
            pair.a_records.try_recv(),
            Ok(Record::Ended { .. })
        ));
        assert!(pair.b_records.try_recv().is_err());
        assert!(pair.a.peer_servers().is_empty() && pair.b.peer_servers().is_empty());
    }

    #[test]
    fn the_viewer_limit_holds_for_viewers_on_every_server() {
        let mut pair = Pair::new();
        let (_d, _cam) = device(&pair.b, "d1");
        let (local, _lrx) = viewer(&pair.b, "bob");
        open(&pair.b, local, "d1", "s1", 2).unwrap();
        let (v, mut view) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v, "d1", "s2", 2), &"b".to_owned(), NOW)
            .unwrap();
        pair.carry();
        assert!(matches!(sent(&mut view), ServerToViewer::WatchReady(_)));
        pair.a
            .open_remote(request(v, "d1", "s3", 2), &"b".to_owned(), NOW)
            .unwrap();
        pair.carry();
        assert!(matches!(
            sent(&mut view),
            ServerToViewer::Error(e) if e.code == ErrorCode::MaxSessions
        ));
        assert_eq!(
            code(open(&pair.b, local, "d1", "s4", 2)),
            ErrorCode::MaxSessions
        );
    }

    #[test]
    fn a_server_that_dies_takes_its_halves_of_sessions_with_it() {
        let (mut pair, _cam, mut view) = Pair::watching_across();
        // The device's server is gone: the viewer waits for the camera to come back.
        let ended = pair.a.server_gone(&"b".to_owned(), NOW);
        assert_eq!(ended.len(), 1);
        assert!(matches!(
            sent(&mut view),
            ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceDisconnected
        ));
        assert!(
            pair.a_out.try_recv().is_err(),
            "nothing is routed to a dead server"
        );
        // The other way round: a dead viewer's server ends the device's half.
        let (pair, mut cam, _view) = Pair::watching_across();
        pair.b.server_gone(&"a".to_owned(), NOW);
        assert!(matches!(
            sent(&mut cam),
            ServerToDevice::WatchEnded(e) if e.reason == EndReason::ViewerDisconnected
        ));
    }

    #[test]
    fn a_camera_reconnecting_to_a_third_server_ends_its_sessions_through_the_old_one_at_once() {
        let (mut pair, mut cam, mut view) = Pair::watching_across();
        let moved = |server: &str| Notice::Device {
            device_id: "d1".into(),
            news: DeviceNews::Attached {
                server: server.into(),
            },
        };
        // News that it is on "b", where the session's device end is, changes nothing.
        assert!(pair.a.deliver(&moved("b"), NOW).is_empty());
        // Now on "c": the session through "b" is over, without waiting for "b" to be judged.
        let ended = pair.a.deliver(&moved("c"), NOW);
        assert_eq!(ended.len(), 1);
        assert!(matches!(
            sent(&mut view),
            ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceDisconnected
        ));
        // "b", if it still lives, ends its half too (the camera's old socket, gone with the
        // camera's sessions, is not told).
        pair.carry();
        assert!(cam.try_recv().is_err());
        assert!(pair.a.peer_servers().is_empty() && pair.b.peer_servers().is_empty());
    }

    #[test]
    fn an_open_that_is_never_answered_fails_and_a_late_answer_is_undone() {
        let mut pair = Pair::new();
        let (_d, _cam) = device(&pair.b, "d1");
        let (v, mut view) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v, "d1", "s1", 4), &"b".to_owned(), NOW)
            .unwrap();
        pair.a.expire_pending(NOW + OPEN_TIMEOUT_MS);
        assert!(matches!(
            sent(&mut view),
            ServerToViewer::Error(e) if e.code == ErrorCode::Unavailable
        ));
        // The device's server answers after all: its half is ended at once.
        pair.carry();
        assert!(
            pair.b.peer_servers().is_empty(),
            "the late session was undone"
        );
        assert!(view.try_recv().is_err());
    }

    #[test]
    fn routed_signals_are_taken_only_from_the_server_holding_the_other_end() {
        let mut pair = Pair::new();
        let (_d, mut cam) = device(&pair.b, "d1");
        let (v, _view) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v, "d1", "s1", 4), &"b".to_owned(), NOW)
            .unwrap();
        pair.carry();
        sent(&mut cam);
        let forged = Routed::ToDevice {
            session_id: "s1".into(),
            message: ServerToDevice::SignalAnswer(SessionSdp {
                session_id: "s1".into(),
                sdp: "forged".into(),
            }),
        };
        pair.b.receive(&"c".to_owned(), forged.clone(), NOW);
        assert!(
            cam.try_recv().is_err(),
            "a third server cannot speak for the viewer"
        );
        let ended = Routed::Ended {
            session_id: "s1".into(),
            reason: EndReason::ViewerLeft,
            message: None,
        };
        assert!(pair.b.receive(&"c".to_owned(), ended, NOW).is_empty());
        pair.b.receive(&"a".to_owned(), forged, NOW);
        assert!(matches!(sent(&mut cam), ServerToDevice::SignalAnswer(_)));
    }
}
