//! What the unit tests of every job share: hubs, sockets, requests, and what the sockets
//! were sent.

use super::*;
use crate::signaling::admission::Admission;
use mumu_shared::UnixMillis;
use mumu_shared::api::AccessRole;
use mumu_shared::signaling::{DeviceWatchRequest, IceTransportPolicy, WatchReady};

pub const NOW: UnixMillis = 1_000;

pub fn hub() -> Hub {
    hub_recording().0
}

pub fn hub_recording() -> (Hub, mpsc::Receiver<Record>) {
    let (hub, records, _) = hub_routing();
    (hub, records)
}

/// A hub, what it records and what it routes to other servers.
pub fn hub_routing() -> (Hub, mpsc::Receiver<Record>, mpsc::Receiver<Post>) {
    let (records_tx, records) = mpsc::channel(64);
    let (routes_tx, routes) = mpsc::channel(64);
    let hub = Hub::new(Arc::new(Metrics::default()), records_tx, routes_tx);
    (hub, records, routes)
}

/// A watch of `device` by `viewer` (user "alice"), admitted while the device serves fewer
/// than `max` sessions.
pub fn request(viewer: ConnId, device: &str, session: &str, max: usize) -> OpenRequest {
    OpenRequest {
        viewer_conn: viewer,
        user_id: "alice".into(),
        to_device: DeviceWatchRequest {
            session_id: session.into(),
            viewer: "alice".into(),
            ice_servers: vec![],
            ice_transport_policy: IceTransportPolicy::All,
            grants: mumu_shared::signaling::Grants::default(),
        },
        to_viewer: WatchReady {
            session_id: session.into(),
            device_id: device.into(),
            ice_servers: vec![],
            ice_transport_policy: IceTransportPolicy::All,
            ice_credentials_ttl_ms: None,
        },
        request_id: Some("r1".into()),
        admission: Admission::for_role(AccessRole::Owner, max),
        renews: None,
    }
}

pub fn device(hub: &Hub, id: &str) -> (ConnId, mpsc::Receiver<Out<ServerToDevice>>) {
    let (tx, inbox) = outbox(16);
    let (conn, ended) = hub.attach_device(&DeviceId::from(id), tx, false, NOW);
    assert!(ended.is_empty());
    (conn, inbox.rx)
}

pub fn viewer_as(
    hub: &Hub,
    user: &str,
    login: &str,
) -> (ConnId, mpsc::Receiver<Out<ServerToViewer>>) {
    let (tx, inbox) = outbox(16);
    let conn = hub
        .attach_viewer(&UserId::from(user), login, tx, 8)
        .unwrap();
    (conn, inbox.rx)
}

pub fn viewer(hub: &Hub, user: &str) -> (ConnId, mpsc::Receiver<Out<ServerToViewer>>) {
    viewer_as(hub, user, &format!("login-of-{user}"))
}

pub fn open(hub: &Hub, viewer: ConnId, device: &str, session: &str, max: usize) -> Result<()> {
    renew(hub, viewer, device, session, max, None)
}

pub fn renew(
    hub: &Hub,
    viewer: ConnId,
    device: &str,
    session: &str,
    max: usize,
    renews: Option<&str>,
) -> Result<()> {
    let request = OpenRequest {
        renews: renews.map(SessionId::from),
        ..request(viewer, device, session, max)
    };
    hub.open(request, NOW)
}

pub fn next<M>(rx: &mut mpsc::Receiver<Out<M>>) -> Out<M> {
    rx.try_recv().expect("a queued message")
}

pub fn sent<M: Clone>(rx: &mut mpsc::Receiver<Out<M>>) -> M {
    match next(rx) {
        Out::Send(envelope) => envelope.message.clone(),
        Out::Close(body) => panic!("expected a message, got close: {body}"),
        Out::Refresh => panic!("expected a message, got refresh"),
    }
}

/// The device was asked for session `s1` and the viewer told its watch is ready (`r1`).
pub fn assert_watch_opened(
    cam: &mut mpsc::Receiver<Out<ServerToDevice>>,
    view: &mut mpsc::Receiver<Out<ServerToViewer>>,
) {
    assert!(matches!(sent(cam), ServerToDevice::WatchRequest(r) if r.session_id.as_str() == "s1"));
    match next(view) {
        Out::Send(envelope) => {
            assert_eq!(envelope.request_id.as_deref(), Some("r1"));
            assert!(matches!(envelope.message, ServerToViewer::WatchReady(_)));
        }
        _ => panic!("expected watch_ready"),
    }
}

pub fn code<T: std::fmt::Debug>(result: Result<T>) -> ErrorCode {
    result.expect_err("an error").code()
}

/// Two servers' hubs, "a" and "b", and what each routes to the other.
pub struct Pair {
    pub a: Hub,
    pub b: Hub,
    pub a_out: mpsc::Receiver<Post>,
    pub b_out: mpsc::Receiver<Post>,
    pub a_records: mpsc::Receiver<Record>,
    pub b_records: mpsc::Receiver<Record>,
}

impl Pair {
    pub fn new() -> Self {
        let (a, a_records, a_out) = hub_routing();
        let (b, b_records, b_out) = hub_routing();
        Self {
            a,
            b,
            a_out,
            b_out,
            a_records,
            b_records,
        }
    }

    /// Alice on server "a" watches camera "d1" on server "b" (session "s1"); both ends have
    /// had their first message (watch request, watch ready).
    pub fn watching_across() -> (
        Self,
        mpsc::Receiver<Out<ServerToDevice>>,
        mpsc::Receiver<Out<ServerToViewer>>,
    ) {
        let mut pair = Self::new();
        let (_d, mut cam) = device(&pair.b, "d1");
        let (v, mut view) = viewer(&pair.a, "alice");
        pair.a
            .open_remote(request(v, "d1", "s1", 4), &"b".to_owned(), NOW)
            .unwrap();
        pair.carry();
        sent(&mut cam);
        sent(&mut view);
        (pair, cam, view)
    }

    /// Delivers everything routed so far, both ways, until nothing is left.
    pub fn carry(&mut self) {
        loop {
            let mut moved = false;
            while let Ok(post) = self.a_out.try_recv() {
                assert_eq!(post.to, "b");
                self.b.receive(&"a".to_owned(), post.routed, NOW);
                moved = true;
            }
            while let Ok(post) = self.b_out.try_recv() {
                assert_eq!(post.to, "a");
                self.a.receive(&"b".to_owned(), post.routed, NOW);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }
}
