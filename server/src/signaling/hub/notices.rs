//! The notice bus's news (a device's presence, a pairing, a removal, a logout, a share's new
//! grants, a camera that moved to another server), delivered to the sockets it concerns on this server.
//!
//! **Invariant**: a notice reaches every socket it names here, as one shared message however
//! many queues hold it; news that takes access away also ends the sessions that access held.

use super::outbox::Out;
use super::records::Ended;
use super::{ConnId, Hub, State};
use crate::presence::{DeviceNews, Notice, ViewerNews};
use mumu_shared::signaling::{DeviceRemoved, EndReason, ServerToDevice, ServerToViewer};
use mumu_shared::{DeviceId, Envelope, ErrorBody, ErrorCode, SessionId, UnixMillis, UserId};
use std::sync::Arc;

impl Hub {
    /// Delivers a notice from the bus to the sockets it concerns on this server.
    pub fn deliver(&self, notice: &Notice, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        match notice {
            Notice::Viewers { users, news } => self.tell_viewers(&mut state, users, news, now),
            Notice::Device {
                device_id,
                news: DeviceNews::Attached { server },
            } => self.device_moved(&mut state, device_id, server, now),
            Notice::Device { device_id, news } => {
                self.tell_device(&mut state, device_id, news, now)
            }
        }
    }

    fn tell_viewers(
        &self,
        state: &mut State,
        users: &[UserId],
        news: &ViewerNews,
        now: UnixMillis,
    ) -> Vec<Ended> {
        let conns: Vec<ConnId> = users
            .iter()
            .flat_map(|u| state.viewers_by_user.get(u).into_iter().flatten().copied())
            .collect();
        let message = match news {
            ViewerNews::Presence(p) => ServerToViewer::DevicePresence(p.clone()),
            ViewerNews::Removed(d) => ServerToViewer::DeviceRemoved(DeviceRemoved {
                device_id: d.clone(),
            }),
            ViewerNews::LoggedOut(logins) => {
                let body = ErrorBody::new(
                    ErrorCode::Unauthorized,
                    "this login has ended (logged out); log in again",
                );
                for conn in &conns {
                    if let Some(viewer) = state.viewers.get(conn)
                        && logins.covers(&viewer.who.login)
                    {
                        viewer.outbox.push(Out::close(body.clone()));
                    }
                }
                return Vec::new();
            }
            ViewerNews::Grants { device_id, grants } => {
                self.regrant(state, &conns, device_id, *grants, now);
                return Vec::new();
            }
        };
        let envelope = Arc::new(Envelope::new(message, now));
        for conn in &conns {
            if let Some(viewer) = state.viewers.get(conn) {
                viewer.outbox.push(Out::Send(envelope.clone()));
            }
        }
        match news {
            ViewerNews::Removed(device_id) => self.revoke(state, &conns, device_id, now),
            _ => Vec::new(),
        }
    }

    /// Access to `device_id` withdrawn from the viewer sockets `conns`: their sessions on that
    /// device end.
    fn revoke(
        &self,
        state: &mut State,
        conns: &[ConnId],
        device_id: &DeviceId,
        now: UnixMillis,
    ) -> Vec<Ended> {
        let revoked: Vec<SessionId> = conns
            .iter()
            .filter_map(|c| state.viewers.get(c))
            .flat_map(|v| v.sessions.iter())
            .filter(|s| {
                state
                    .sessions
                    .get(*s)
                    .is_some_and(|s| &s.device_id == device_id)
            })
            .cloned()
            .collect();
        revoked
            .iter()
            .filter_map(|s| self.finish(state, s, EndReason::DeviceRemoved, None, now, None))
            .collect()
    }

    fn tell_device(
        &self,
        state: &mut State,
        device_id: &DeviceId,
        news: &DeviceNews,
        now: UnixMillis,
    ) -> Vec<Ended> {
        let Some(conn) = state.device_index.get(device_id).copied() else {
            return Vec::new();
        };
        let outbox = state.devices[&conn].outbox.clone();
        match news {
            DeviceNews::Paired(paired) => {
                if state.awaiting_pairing.remove(&conn) {
                    let paired = ServerToDevice::Paired(paired.clone());
                    outbox.push(Out::send(Envelope::new(paired, now)));
                }
                outbox.push(Out::Refresh);
                Vec::new()
            }
            DeviceNews::AccessChanged => {
                outbox.push(Out::Refresh);
                Vec::new()
            }
            DeviceNews::Attached { .. } => Vec::new(),
            DeviceNews::Removed => {
                let sessions: Vec<SessionId> =
                    state.devices[&conn].sessions.iter().cloned().collect();
                let ended = sessions
                    .iter()
                    .filter_map(|s| {
                        self.finish(state, s, EndReason::DeviceRemoved, None, now, None)
                    })
                    .collect();
                let body = ErrorBody::new(
                    ErrorCode::DeviceRemoved,
                    "the owner removed this device; enrol again to pair it",
                );
                outbox.push(Out::close(body));
                ended
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::presence::{DeviceNews, Logins, Notice, ViewerNews};
    use crate::signaling::hub::{Out, outbox};
    use mumu_shared::ErrorCode;
    use mumu_shared::signaling::{
        DevicePresence, EndReason, Paired, ServerToDevice, ServerToViewer,
    };

    #[test]
    fn notices_reach_the_users_viewers_and_the_device() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (_, mut alice1) = viewer(&hub, "alice");
        let (_, mut alice2) = viewer(&hub, "alice");
        let (_, mut bob) = viewer(&hub, "bob");
        let presence = DevicePresence {
            device_id: "d1".into(),
            name: "Porch".into(),
            online: true,
            last_seen: Some(NOW),
            status: None,
        };
        hub.deliver(
            &Notice::Viewers {
                users: vec!["alice".into()],
                news: ViewerNews::Presence(presence),
            },
            NOW,
        );
        for view in [&mut alice1, &mut alice2] {
            assert!(matches!(sent(view), ServerToViewer::DevicePresence(_)));
        }
        assert!(bob.try_recv().is_err());
        let paired = Paired {
            owner: "alice".into(),
            name: "Porch".into(),
        };
        hub.deliver(
            &Notice::Device {
                device_id: "d1".into(),
                news: DeviceNews::Paired(paired),
            },
            NOW,
        );
        assert!(matches!(sent(&mut cam), ServerToDevice::Paired(_)));
        assert!(matches!(next(&mut cam), Out::Refresh));
    }

    #[test]
    fn a_device_already_paired_at_hello_is_not_told_again() {
        let hub = hub();
        let (tx, mut cam) = outbox(16);
        hub.attach_device(&"d1".into(), tx, true, NOW);
        let paired = Paired {
            owner: "alice".into(),
            name: "Porch".into(),
        };
        let notice = Notice::Device {
            device_id: "d1".into(),
            news: DeviceNews::Paired(paired),
        };
        hub.deliver(&notice, NOW);
        assert!(matches!(next(&mut cam.rx), Out::Refresh), "only a refresh");
        assert!(cam.rx.try_recv().is_err());
    }

    #[test]
    fn a_full_queue_asks_its_socket_to_close_instead_of_dropping_in_silence() {
        let hub = hub();
        let (tx, inbox) = outbox(2);
        hub.attach_viewer(&"u1".into(), "l1", tx, 8).unwrap();
        let presence = DevicePresence {
            device_id: "d1".into(),
            name: "Porch".into(),
            online: true,
            last_seen: Some(NOW),
            status: None,
        };
        let notice = Notice::Viewers {
            users: vec!["u1".into()],
            news: ViewerNews::Presence(presence),
        };
        hub.deliver(&notice, NOW);
        hub.deliver(&notice, NOW);
        use futures_util::FutureExt;
        assert!(
            inbox.overflow.notified().now_or_never().is_none(),
            "not overflowed while there is room"
        );
        hub.deliver(&notice, NOW);
        assert!(
            inbox.overflow.notified().now_or_never().is_some(),
            "the third notice overflowed"
        );
    }

    #[test]
    fn logging_out_closes_the_sockets_of_that_login_only() {
        let hub = hub();
        let (_, mut phone) = viewer_as(&hub, "alice", "phone");
        let (_, mut laptop) = viewer_as(&hub, "alice", "laptop");
        let (_, mut tablet) = viewer_as(&hub, "alice", "tablet");
        let logout = |logins: Logins| Notice::Viewers {
            users: vec!["alice".into()],
            news: ViewerNews::LoggedOut(logins),
        };
        hub.deliver(&logout(Logins::One("phone".into())), NOW);
        assert!(matches!(next(&mut phone), Out::Close(b) if b.code == ErrorCode::Unauthorized));
        assert!(laptop.try_recv().is_err() && tablet.try_recv().is_err());
        hub.deliver(&logout(Logins::AllBut("laptop".into())), NOW);
        assert!(matches!(next(&mut tablet), Out::Close(_)));
        assert!(laptop.try_recv().is_err());
        hub.deliver(&logout(Logins::All), NOW);
        assert!(matches!(next(&mut laptop), Out::Close(_)));
    }

    #[test]
    fn removing_a_device_ends_its_sessions_and_closes_it() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        let _ = (next(&mut cam), next(&mut view));
        let ended = hub.deliver(
            &Notice::Device {
                device_id: "d1".into(),
                news: DeviceNews::Removed,
            },
            NOW,
        );
        assert_eq!(ended[0].reason, EndReason::DeviceRemoved);
        assert!(matches!(sent(&mut cam), ServerToDevice::WatchEnded(_)));
        assert!(matches!(next(&mut cam), Out::Close(b) if b.code == ErrorCode::DeviceRemoved));
        assert!(
            matches!(sent(&mut view), ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceRemoved)
        );
    }
}
