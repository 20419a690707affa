//! Offers, answers and ICE candidates, passed between the two ends of a session: to a socket
//! here, or to the server holding the other end.
//!
//! **Invariant**: a signal passes only between the two ends of its session; from anyone else it
//! is `session_not_found`, whoever sends it. A server passes on only what its own sockets sent:
//! what another server routed here reaches a socket here, or nothing.

use super::outbox::Out;
use super::side::Addressee;
use super::{ConnId, End, Hub, State};
use crate::error::Result;
use mumu_shared::signaling::{ServerToDevice, ServerToViewer};
use mumu_shared::{Envelope, SessionId, UnixMillis};
use std::sync::atomic::Ordering::Relaxed;

impl Hub {
    /// Passes a viewer's answer or candidate to the device of a session the viewer is in.
    pub fn to_device(
        &self,
        viewer_conn: ConnId,
        session_id: &SessionId,
        message: ServerToDevice,
        now: UnixMillis,
    ) -> Result<()> {
        let state = self.lock();
        self.pass(&state, session_id, &End::Here(viewer_conn), message, now)
    }

    /// Passes a device's offer or candidate to the viewer of a session the device serves.
    pub fn to_viewer(
        &self,
        device_conn: ConnId,
        session_id: &SessionId,
        message: ServerToViewer,
        now: UnixMillis,
    ) -> Result<()> {
        let state = self.lock();
        self.pass(&state, session_id, &End::Here(device_conn), message, now)
    }

    /// Passes `message` to the `M` end of a session whose other end is `sender`.
    pub(super) fn pass<M: Addressee>(
        &self,
        state: &State,
        session_id: &SessionId,
        sender: &End,
        message: M,
        now: UnixMillis,
    ) -> Result<()> {
        let session = state.session_of(session_id, |s| s.end(M::SIDE.other()) == sender)?;
        match session.end(M::SIDE) {
            End::Here(conn) => {
                let socket = &M::conns(state)[conn];
                socket.outbox.push(Out::send(Envelope::new(message, now)));
                self.metrics.messages_relayed.fetch_add(1, Relaxed);
            }
            End::There(server) if matches!(sender, End::Here(_)) => {
                self.post(server, M::routed(session_id.clone(), message));
            }
            End::There(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use mumu_shared::ErrorCode;
    use mumu_shared::signaling::{ServerToDevice, ServerToViewer, SessionIce, SessionSdp};

    #[test]
    fn signals_pass_only_between_the_two_ends_of_a_session() {
        let hub = hub();
        let (c, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        let (stranger, _) = viewer(&hub, "u2");
        let (other_cam, _) = device(&hub, "d2");
        open(&hub, v, "d1", "s1", 4).unwrap();
        let (_, _) = (next(&mut cam), next(&mut view));
        let sdp = SessionSdp {
            session_id: "s1".into(),
            sdp: "v=0".into(),
        };
        hub.to_viewer(
            c,
            &"s1".into(),
            ServerToViewer::SignalOffer(sdp.clone()),
            NOW,
        )
        .unwrap();
        assert!(matches!(sent(&mut view), ServerToViewer::SignalOffer(_)));
        hub.to_device(
            v,
            &"s1".into(),
            ServerToDevice::SignalAnswer(sdp.clone()),
            NOW,
        )
        .unwrap();
        assert!(matches!(sent(&mut cam), ServerToDevice::SignalAnswer(_)));
        let ice = SessionIce {
            session_id: "s1".into(),
            candidate: None,
        };
        let foreign = hub.to_device(
            stranger,
            &"s1".into(),
            ServerToDevice::SignalIce(ice.clone()),
            NOW,
        );
        assert_eq!(code(foreign), ErrorCode::SessionNotFound);
        let foreign = hub.to_viewer(other_cam, &"s1".into(), ServerToViewer::SignalIce(ice), NOW);
        assert_eq!(code(foreign), ErrorCode::SessionNotFound);
        assert!(
            cam.try_recv().is_err() && view.try_recv().is_err(),
            "nothing leaked"
        );
    }
}
