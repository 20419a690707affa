//! The sockets attached here: which device each device socket is, which user (and login) each
//! viewer socket belongs to.
//!
//! **Invariant**: a device has at most one socket here (a second one replaces the first, with
//! `replaced`), a user at most `max_per_user` viewer sockets, and a socket that goes ends every
//! session it was an end of, on the other side.

use super::outbox::{Out, Outbox};
use super::records::Ended;
use super::side::{Addressee, Conn, Side, ViewerId};
use super::{ConnId, Hub, State};
use crate::error::{Error, Result};
use mumu_shared::signaling::{ServerToDevice, ServerToViewer};
use mumu_shared::{DeviceId, ErrorBody, ErrorCode, UnixMillis, UserId};
use std::collections::HashSet;

impl State {
    /// Gives a new socket its number.
    fn add<M: Addressee>(&mut self, who: M::Who, outbox: Outbox<M>) -> ConnId {
        self.next_conn += 1;
        let id = self.next_conn;
        let conn = Conn {
            who,
            outbox,
            sessions: HashSet::new(),
        };
        M::conns_mut(self).insert(id, conn);
        id
    }

    /// The socket of a device attached here.
    pub(super) fn device_conn(&self, device_id: &DeviceId) -> Result<ConnId> {
        self.device_index.get(device_id).copied().ok_or_else(|| {
            Error::client(
                ErrorCode::DeviceOffline,
                format!("device {device_id} is not connected right now"),
            )
        })
    }

    pub(super) fn viewer_attached(&self, conn: ConnId) -> Result<()> {
        if self.viewers.contains_key(&conn) {
            Ok(())
        } else {
            Err(Error::client(
                ErrorCode::HelloRequired,
                "this socket is not attached",
            ))
        }
    }
}

impl Hub {
    /// Attaches a device's socket, `paired` as its `hello_ack` says. A socket already attached
    /// for the same device is closed with `replaced` and its sessions end.
    pub fn attach_device(
        &self,
        device_id: &DeviceId,
        outbox: Outbox<ServerToDevice>,
        paired: bool,
        now: UnixMillis,
    ) -> (ConnId, Vec<Ended>) {
        let mut state = self.lock();
        let mut ended = Vec::new();
        if let Some(old) = state.device_index.get(device_id).copied() {
            if let Some(conn) = state.devices.get(&old) {
                let body = ErrorBody::new(
                    ErrorCode::Replaced,
                    "this device connected again; this older connection is closed",
                );
                conn.outbox.push(Out::close(body));
            }
            ended = self.detach_locked(&mut state, old, now);
        }
        let id = state.add(device_id.clone(), outbox);
        state.device_index.insert(device_id.clone(), id);
        if !paired {
            state.awaiting_pairing.insert(id);
        }
        (id, ended)
    }

    /// Attaches a viewer's socket, authenticated by `login`, unless the user already has
    /// `max_per_user` sockets on this server.
    pub fn attach_viewer(
        &self,
        user_id: &UserId,
        login: &str,
        outbox: Outbox<ServerToViewer>,
        max_per_user: usize,
    ) -> Result<ConnId> {
        let mut state = self.lock();
        let open = state.viewers_by_user.get(user_id).map_or(0, HashSet::len);
        if open >= max_per_user {
            return Err(Error::client(
                ErrorCode::RateLimited,
                format!(
                    "you already have {open} viewer connections open, the most allowed; close a tab or window"
                ),
            ));
        }
        let who = ViewerId {
            user_id: user_id.clone(),
            login: login.to_owned(),
        };
        let id = state.add(who, outbox);
        state
            .viewers_by_user
            .entry(user_id.clone())
            .or_default()
            .insert(id);
        Ok(id)
    }

    /// Detaches a socket that closed; its sessions end on the other side.
    pub fn detach(&self, conn: ConnId, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        self.detach_locked(&mut state, conn, now)
    }

    fn detach_locked(&self, state: &mut State, conn: ConnId, now: UnixMillis) -> Vec<Ended> {
        let (sessions, side) = if let Some(device) = state.devices.remove(&conn) {
            state.awaiting_pairing.remove(&conn);
            if state.device_index.get(&device.who) == Some(&conn) {
                state.device_index.remove(&device.who);
            }
            (device.sessions, Side::Device)
        } else if let Some(viewer) = state.viewers.remove(&conn) {
            // Answers that come for it later find nobody waiting and end what they opened.
            state.pending.retain(|_, p| p.seat.viewer_conn != conn);
            let user_id = &viewer.who.user_id;
            if let Some(set) = state.viewers_by_user.get_mut(user_id) {
                set.remove(&conn);
                if set.is_empty() {
                    state.viewers_by_user.remove(user_id);
                }
            }
            (viewer.sessions, Side::Viewer)
        } else {
            return Vec::new();
        };
        sessions
            .into_iter()
            .filter_map(|s| self.finish(state, &s, side.disconnected(), None, now, None))
            .collect()
    }

    /// Whether a device has a socket on this server.
    pub fn device_attached(&self, device_id: &DeviceId) -> bool {
        self.lock().device_index.contains_key(device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::signaling::hub::{Out, outbox};
    use mumu_shared::ErrorCode;
    use mumu_shared::signaling::{EndReason, ServerToViewer};

    #[test]
    fn a_dropped_socket_ends_its_sessions_on_the_other_side() {
        let hub = hub();
        let (c, mut cam) = device(&hub, "d1");
        let (v1, mut view1) = viewer(&hub, "u1");
        let (v2, mut view2) = viewer(&hub, "u1");
        open(&hub, v1, "d1", "s1", 4).unwrap();
        open(&hub, v2, "d1", "s2", 4).unwrap();
        while cam.try_recv().is_ok() {}
        let _ = (next(&mut view1), next(&mut view2));
        let ended = hub.detach(c, NOW);
        assert_eq!(ended.len(), 2);
        for view in [&mut view1, &mut view2] {
            assert!(
                matches!(sent(view), ServerToViewer::WatchEnded(e) if e.reason == EndReason::DeviceDisconnected)
            );
        }
        assert!(!hub.device_attached(&"d1".into()));
        assert!(hub.detach(c, NOW).is_empty(), "detaching twice is harmless");
    }

    #[test]
    fn a_device_connecting_again_replaces_the_old_socket() {
        let hub = hub();
        let (_, mut old) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        let _ = (next(&mut old), next(&mut view));
        let (tx, _new) = outbox(16);
        let (_, ended) = hub.attach_device(&"d1".into(), tx, false, NOW);
        assert_eq!(ended.len(), 1);
        assert!(matches!(next(&mut old), Out::Close(b) if b.code == ErrorCode::Replaced));
        assert!(matches!(sent(&mut view), ServerToViewer::WatchEnded(_)));
        assert!(hub.device_attached(&"d1".into()));
    }

    #[test]
    fn a_user_has_a_bounded_number_of_sockets() {
        let hub = hub();
        let mut held = Vec::new();
        for _ in 0..3 {
            let (tx, inbox) = outbox(4);
            hub.attach_viewer(&"u1".into(), "l1", tx, 3).unwrap();
            held.push(inbox);
        }
        let (tx, _inbox) = outbox(4);
        let refused = hub.attach_viewer(&"u1".into(), "l1", tx.clone(), 3);
        assert_eq!(code(refused), ErrorCode::RateLimited);
        assert!(hub.attach_viewer(&"u2".into(), "l2", tx, 3).is_ok());
    }
}
