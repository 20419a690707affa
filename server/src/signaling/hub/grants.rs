//! What a running session's viewer may do beyond live video ([`Grants`]), changed while it runs:
//! the owner edited the share. The device end of every session the user's viewer sockets here
//! hold on that device hears `session_grants`, on this server or through the one holding the
//! camera; the device enforces it (a playback the viewer may no longer see ends there).
//!
//! **Invariant**: sessions are found through the user's own viewer sockets, so another user's
//! session on the same device is never told; a watch still waiting on the camera's server hears
//! it right after its open, on the same route, so no session opened with the old grants is
//! missed.

use super::outbox::Out;
use super::{ConnId, End, Hub, State};
use crate::signaling::route::Routed;
use mumu_shared::signaling::{Grants, ServerToDevice, SessionGrants};
use mumu_shared::{DeviceId, Envelope, SessionId, UnixMillis, UserId};

impl Hub {
    /// `user`'s sessions on `device_id` may do `grants` from now on (a session being opened
    /// when the share changed, whose request carried what was read before).
    pub fn grants_changed(
        &self,
        user: &UserId,
        device_id: &DeviceId,
        grants: Grants,
        now: UnixMillis,
    ) {
        let state = self.lock();
        let conns: Vec<ConnId> = (state.viewers_by_user.get(user).into_iter().flatten())
            .copied()
            .collect();
        self.regrant(&state, &conns, device_id, grants, now);
    }

    /// Tells the device end of each session of the viewer sockets `conns` on `device_id`.
    pub(super) fn regrant(
        &self,
        state: &State,
        conns: &[ConnId],
        device_id: &DeviceId,
        grants: Grants,
        now: UnixMillis,
    ) {
        let message = |session_id: &SessionId| {
            ServerToDevice::SessionGrants(SessionGrants {
                session_id: session_id.clone(),
                grants,
            })
        };
        let sessions = (conns.iter())
            .filter_map(|c| state.viewers.get(c))
            .flat_map(|v| v.sessions.iter())
            .filter_map(|id| Some((id, state.sessions.get(id)?)))
            .filter(|(_, s)| &s.device_id == device_id);
        for (session_id, session) in sessions {
            match &session.device {
                End::Here(conn) => {
                    if let Some(device) = state.devices.get(conn) {
                        let envelope = Envelope::new(message(session_id), now);
                        device.outbox.push(Out::send(envelope));
                    }
                }
                End::There(server) => {
                    let routed = Routed::ToDevice {
                        session_id: session_id.clone(),
                        message: message(session_id),
                    };
                    self.post(server, routed);
                }
            }
        }
        let waiting = (state.pending.iter()).filter(|(_, p)| {
            conns.contains(&p.seat.viewer_conn) && &p.seat.to_viewer.device_id == device_id
        });
        for (session_id, pending) in waiting {
            let routed = Routed::ToDevice {
                session_id: session_id.clone(),
                message: message(session_id),
            };
            self.post(&pending.device_server, routed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::presence::{Notice, ViewerNews};
    use mumu_shared::signaling::{Grants, ServerToDevice, SessionGrants};

    fn regranted(users: &[&str], device: &str, recordings: bool) -> Notice {
        Notice::Viewers {
            users: users.iter().map(|u| (*u).into()).collect(),
            news: ViewerNews::Grants {
                device_id: device.into(),
                grants: Grants {
                    recordings,
                    ..Grants::default()
                },
            },
        }
    }

    fn grants_for(message: ServerToDevice) -> SessionGrants {
        match message {
            ServerToDevice::SessionGrants(g) => g,
            other => panic!("expected session_grants, got {other:?}"),
        }
    }

    #[test]
    fn the_device_hears_new_grants_for_that_users_sessions_on_it_only() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (_, mut other_cam) = device(&hub, "d2");
        let (bob, mut bob_view) = viewer(&hub, "bob");
        let (bob_phone, _bob_phone_view) = viewer(&hub, "bob");
        let (carol, _carol_view) = viewer(&hub, "carol");
        open(&hub, bob, "d1", "s1", 8).unwrap();
        open(&hub, bob_phone, "d1", "s2", 8).unwrap();
        open(&hub, bob, "d2", "s3", 8).unwrap();
        open(&hub, carol, "d1", "s4", 8).unwrap();
        for _ in 0..3 {
            sent(&mut cam);
        }
        sent(&mut other_cam);
        while bob_view.try_recv().is_ok() {}
        hub.deliver(&regranted(&["bob"], "d1", false), NOW);
        let mut told: Vec<String> = (0..2)
            .map(|_| grants_for(sent(&mut cam)))
            .inspect(|g| assert!(!g.grants.recordings))
            .map(|g| g.session_id.to_string())
            .collect();
        told.sort();
        assert_eq!(
            told,
            ["s1", "s2"],
            "both of bob's sessions on d1, on every socket of his"
        );
        assert!(cam.try_recv().is_err(), "carol's session is not told");
        assert!(
            other_cam.try_recv().is_err(),
            "bob's session on d2 is not told"
        );
        assert!(bob_view.try_recv().is_err(), "the viewer is sent nothing");
    }

    #[test]
    fn grants_reach_a_camera_on_another_server_and_a_watch_still_opening_there() {
        let (mut pair, mut cam, _view) = Pair::watching_across();
        pair.a.deliver(&regranted(&["alice"], "d1", true), NOW);
        pair.carry();
        let told = grants_for(sent(&mut cam));
        assert_eq!(
            (told.session_id.as_str(), told.grants.recordings),
            ("s1", true)
        );
        // A second watch asked of "b" but not yet answered when the share changes.
        let (v2, _view2) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v2, "d1", "s2", 4), &"b".to_owned(), NOW)
            .unwrap();
        pair.a
            .grants_changed(&"alice".into(), &"d1".into(), Grants::default(), NOW);
        pair.carry();
        assert!(
            matches!(sent(&mut cam), ServerToDevice::WatchRequest(r) if r.session_id.as_str() == "s2")
        );
        let told: Vec<SessionGrants> = (0..2).map(|_| grants_for(sent(&mut cam))).collect();
        assert!(told.iter().all(|g| !g.grants.recordings));
        let mut ids: Vec<&str> = told.iter().map(|g| g.session_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["s1", "s2"]);
    }
}
