//! A session's life on this server: opened between a viewer socket and a device's end (a
//! socket here, or for a viewer on another server, that server's half: see `remote.rs`),
//! ended by either end, and ended all at once at shutdown.
//!
//! **Invariant**: every way a session ends goes through [`Hub::finish`], which removes it,
//! tells the end that did not cause the end why (on this server or through the other), and
//! reports it for the record. A device takes a session only if [`Admission`] admits it.

use super::outbox::Out;
use super::records::Ended;
use super::side::Addressee;
use super::{ConnId, End, Hub, Session, State};
use crate::error::Result;
use crate::signaling::admission::Admission;
use crate::signaling::route::{Routed, ServerId};
use mumu_shared::signaling::{
    DeviceWatchRequest, EndReason, ServerToDevice, ServerToViewer, WatchEnded, WatchReady,
};
use mumu_shared::{DeviceId, Envelope, ErrorBody, ErrorCode, SessionId, UnixMillis, UserId};

/// A watch the viewer socket `viewer_conn` asks the hub to open.
#[derive(Debug)]
pub struct OpenRequest {
    /// The asking socket.
    pub viewer_conn: ConnId,
    /// Who is asking.
    pub user_id: UserId,
    /// What the device is sent.
    pub to_device: DeviceWatchRequest,
    /// What the viewer is answered.
    pub to_viewer: WatchReady,
    /// The `request_id` of the viewer's `watch_request`, for the answer.
    pub request_id: Option<String>,
    /// Whether the device takes the watch.
    pub admission: Admission,
    /// The viewer's session this one replaces (credentials near expiry): it must be this
    /// socket's, of the same device, and lets the device go one place over the admission.
    pub renews: Option<SessionId>,
}

impl OpenRequest {
    /// The request split into what the device's end needs and where the viewer sits.
    pub(super) fn split(self) -> (DeviceEnd, Seat) {
        let device = DeviceEnd {
            to_device: self.to_device,
            admission: self.admission,
            renews: self.renews,
        };
        let seat = Seat {
            viewer_conn: self.viewer_conn,
            user_id: self.user_id,
            to_viewer: self.to_viewer,
            request_id: self.request_id,
        };
        (device, seat)
    }
}

/// What a device's end of a new session needs: the device's message, and what decides whether
/// it takes the session.
pub(super) struct DeviceEnd {
    pub to_device: DeviceWatchRequest,
    pub admission: Admission,
    pub renews: Option<SessionId>,
}

/// A viewer socket waiting for its session: who, and what it is answered.
pub(super) struct Seat {
    pub viewer_conn: ConnId,
    pub user_id: UserId,
    pub to_viewer: WatchReady,
    pub request_id: Option<String>,
}

impl State {
    /// A renewal replaces a session of the same viewer (`viewer`: its end) and device.
    pub(super) fn renewable(
        &self,
        renews: Option<&SessionId>,
        viewer: &End,
        device_id: &DeviceId,
    ) -> Result<()> {
        if let Some(old) = renews {
            self.session_of(old, |s| &s.viewer == viewer && &s.device_id == device_id)?;
        }
        Ok(())
    }
}

impl Hub {
    /// Opens a session between the asking viewer socket and the device's socket: the device
    /// gets `watch_request`, the viewer `watch_ready` (answering its `request_id`).
    pub fn open(&self, request: OpenRequest, now: UnixMillis) -> Result<()> {
        let (device, seat) = request.split();
        let mut state = self.lock();
        let device_conn = state.device_conn(&seat.to_viewer.device_id)?;
        state.viewer_attached(seat.viewer_conn)?;
        let viewer = End::Here(seat.viewer_conn);
        self.take_device_end(&mut state, device_conn, &viewer, device, now)?;
        self.seat_viewer(&mut state, seat, End::Here(device_conn), now);
        Ok(())
    }

    /// The device end of a new session, for a viewer here or on another server: a renewal
    /// must replace a session of the same viewer and device, and the device must admit it;
    /// then it gets `watch_request`.
    pub(super) fn take_device_end(
        &self,
        state: &mut State,
        device_conn: ConnId,
        viewer: &End,
        end: DeviceEnd,
        now: UnixMillis,
    ) -> Result<()> {
        let device_id = state.devices[&device_conn].who.clone();
        state.renewable(end.renews.as_ref(), viewer, &device_id)?;
        let device = state
            .devices
            .get_mut(&device_conn)
            .expect("indexed device is attached");
        let renewing = end.renews.is_some();
        end.admission
            .admit(&device_id, device.sessions.len(), renewing)?;
        device.sessions.insert(end.to_device.session_id.clone());
        let request = ServerToDevice::WatchRequest(end.to_device);
        device.outbox.push(Out::send(Envelope::new(request, now)));
        Ok(())
    }

    /// The viewer end of a session its device's end took (`device`: a socket here or the
    /// server holding it): the session is in, counted and recorded, and the viewer gets
    /// `watch_ready`.
    pub(super) fn seat_viewer(&self, state: &mut State, seat: Seat, device: End, now: UnixMillis) {
        let session_id = seat.to_viewer.session_id.clone();
        let device_id = seat.to_viewer.device_id.clone();
        let viewer = state
            .viewers
            .get_mut(&seat.viewer_conn)
            .expect("the caller checked the viewer is attached");
        viewer.sessions.insert(session_id.clone());
        let ready = ServerToViewer::WatchReady(seat.to_viewer);
        viewer.outbox.push(Out::send(
            Envelope::new(ready, now).reply_to(seat.request_id),
        ));
        let session = Session {
            device_id: device_id.clone(),
            device,
            viewer: End::Here(seat.viewer_conn),
        };
        state.sessions.insert(session_id.clone(), session);
        self.started(session_id, device_id, seat.user_id, now);
    }

    /// Ends a session at the request of one of its ends; the other end is told why.
    pub fn end(
        &self,
        conn: ConnId,
        session_id: &SessionId,
        reason: EndReason,
        message: Option<String>,
        now: UnixMillis,
    ) -> Result<Ended> {
        let mut state = self.lock();
        let here = End::Here(conn);
        state.session_of(session_id, |s| s.device == here || s.viewer == here)?;
        Ok(self
            .finish(&mut state, session_id, reason, message, now, None)
            .expect("session exists"))
    }

    /// Removes a session and tells whichever end did not cause `reason`; an end on another
    /// server hears of it there (unless the news came from that server: `routed_from`).
    pub(super) fn finish(
        &self,
        state: &mut State,
        session_id: &SessionId,
        reason: EndReason,
        message: Option<String>,
        now: UnixMillis,
        routed_from: Option<&ServerId>,
    ) -> Option<Ended> {
        let session = state.sessions.remove(session_id)?;
        let notice = WatchEnded {
            session_id: session_id.clone(),
            reason,
            message,
        };
        self.tell_end::<ServerToDevice>(state, &session, &notice, now, routed_from);
        self.tell_end::<ServerToViewer>(state, &session, &notice, now, routed_from);
        let ended = Ended {
            session_id: session_id.clone(),
            reason,
        };
        self.ended(&ended, matches!(session.viewer, End::Here(_)), now);
        Some(ended)
    }

    /// One end of a session that is over: a socket here leaves it (and hears why, unless it
    /// caused it); a server holding that end hears of it (unless it told this one).
    fn tell_end<M: Addressee>(
        &self,
        state: &mut State,
        session: &Session,
        notice: &WatchEnded,
        now: UnixMillis,
        routed_from: Option<&ServerId>,
    ) {
        match session.end(M::SIDE) {
            End::Here(conn) => {
                if let Some(socket) = M::conns_mut(state).get_mut(conn) {
                    socket.sessions.remove(&notice.session_id);
                    if !M::SIDE.caused(notice.reason) {
                        let ended = M::watch_ended(notice.clone());
                        socket.outbox.push(Out::send(Envelope::new(ended, now)));
                    }
                }
            }
            End::There(server) if routed_from != Some(server) => {
                let ended = Routed::Ended {
                    session_id: notice.session_id.clone(),
                    reason: notice.reason,
                    message: notice.message.clone(),
                };
                self.post(server, ended);
            }
            End::There(_) => {}
        }
    }

    /// Ends every session with `server_shutdown` and asks every socket to close.
    pub fn shutdown(&self, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        self.refuse_every_pending(&mut state, |_| true, "the server is shutting down", now);
        let sessions: Vec<SessionId> = state.sessions.keys().cloned().collect();
        let ended = sessions
            .iter()
            .filter_map(|s| self.finish(&mut state, s, EndReason::ServerShutdown, None, now, None))
            .collect();
        let body = ErrorBody::new(
            ErrorCode::Unavailable,
            "the server is shutting down; reconnect shortly",
        );
        close_every::<ServerToDevice>(&state, &body);
        close_every::<ServerToViewer>(&state, &body);
        ended
    }
}

/// Asks every socket of one side to close with `body`.
fn close_every<M: Addressee>(state: &State, body: &ErrorBody) {
    for socket in M::conns(state).values() {
        socket.outbox.push(Out::close(body.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::signaling::hub::Out;
    use mumu_shared::ErrorCode;
    use mumu_shared::SessionId;
    use mumu_shared::signaling::{EndReason, ServerToDevice, ServerToViewer};

    #[test]
    fn opening_a_session_asks_the_device_and_answers_the_viewer() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        assert_watch_opened(&mut cam, &mut view);
    }

    #[test]
    fn an_offline_device_or_a_full_one_is_refused() {
        let hub = hub();
        let (v, _view) = viewer(&hub, "u1");
        assert_eq!(
            code(open(&hub, v, "nobody", "s1", 4)),
            ErrorCode::DeviceOffline
        );
        let (_, _cam) = device(&hub, "d1");
        open(&hub, v, "d1", "s1", 1).unwrap();
        assert_eq!(code(open(&hub, v, "d1", "s2", 1)), ErrorCode::MaxSessions);
    }

    #[test]
    fn a_renewal_may_overlap_its_own_session_by_one_place_only() {
        let hub = hub();
        let (_d, _drx) = device(&hub, "d1");
        let (_d2, _d2rx) = device(&hub, "d2");
        let (v, _vrx) = viewer(&hub, "alice");
        let (mallory, _mrx) = viewer(&hub, "mallory");
        open(&hub, v, "d1", "s1", 1).unwrap();
        // Not at the limit without `renews`; with it, one over.
        assert_eq!(code(open(&hub, v, "d1", "s2", 1)), ErrorCode::MaxSessions);
        renew(&hub, v, "d1", "s2", 1, Some("s1")).unwrap();
        // Never two over: renewing s1 again, or s2, finds the device full.
        assert_eq!(
            code(renew(&hub, v, "d1", "s3", 1, Some("s2"))),
            ErrorCode::MaxSessions
        );
        // Only a session of this socket and of this device can be renewed.
        let theirs = code(renew(&hub, mallory, "d1", "s4", 2, Some("s1")));
        assert_eq!(theirs, ErrorCode::SessionNotFound);
        let (other, _orx) = viewer(&hub, "alice");
        assert_eq!(
            code(renew(&hub, other, "d1", "s4", 2, Some("s1"))),
            ErrorCode::SessionNotFound
        );
        assert_eq!(
            code(renew(&hub, v, "d2", "s5", 1, Some("s1"))),
            ErrorCode::SessionNotFound
        );
        // Once the old one ends, the new one holds the one place.
        hub.end(v, &SessionId::from("s1"), EndReason::ViewerLeft, None, NOW)
            .unwrap();
        renew(&hub, v, "d1", "s6", 1, Some("s2")).unwrap();
    }

    #[test]
    fn ending_a_session_tells_the_other_end_only() {
        let hub = hub();
        let (c, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        let (_, _) = (next(&mut cam), next(&mut view));
        let ended = hub
            .end(v, &"s1".into(), EndReason::ViewerLeft, None, NOW)
            .unwrap();
        assert_eq!(
            ended,
            super::Ended {
                session_id: "s1".into(),
                reason: EndReason::ViewerLeft
            }
        );
        assert!(
            matches!(sent(&mut cam), ServerToDevice::WatchEnded(e) if e.reason == EndReason::ViewerLeft)
        );
        assert!(view.try_recv().is_err());
        assert_eq!(
            code(hub.end(c, &"s1".into(), EndReason::DeviceEnded, None, NOW)),
            ErrorCode::SessionNotFound
        );
    }

    #[test]
    fn shutdown_ends_every_session_and_closes_every_socket() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        let _ = (next(&mut cam), next(&mut view));
        assert_eq!(hub.shutdown(NOW).len(), 1);
        assert!(
            matches!(sent(&mut cam), ServerToDevice::WatchEnded(e) if e.reason == EndReason::ServerShutdown)
        );
        assert!(matches!(next(&mut cam), Out::Close(_)));
        assert!(matches!(sent(&mut view), ServerToViewer::WatchEnded(_)));
        assert!(matches!(next(&mut view), Out::Close(_)));
    }
}
