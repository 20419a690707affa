//! The routing state machine: which sockets are open, which device each device socket is, which
//! user each viewer socket belongs to, and which sessions join a viewer socket to a device
//! socket. It does no I/O: every call updates the maps and queues messages on the sockets'
//! outboxes, so it is tested through channels, without sockets or a database.
//!
//! **Invariant**: a session is in `sessions` exactly while both of its sockets are attached;
//! every way a session ends (either side leaving, a socket dropping, a device replaced or
//! removed, shutdown) goes through `finish`, which tells the other side why.

use super::route::{OPEN_TIMEOUT_MS, Post, RemoteOpen, Routed, ServerId};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::presence::{DeviceNews, Notice, ViewerNews};
use mumu_shared::signaling::{
    DeviceWatchRequest, EndReason, ServerToDevice, ServerToViewer, WatchEnded, WatchReady,
};
use mumu_shared::{
    DeviceId, Envelope, ErrorBody, ErrorCode, Message, SessionId, UnixMillis, UserId,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// A socket's number on this server.
pub type ConnId = u64;

/// What a socket task is asked to do.
#[derive(Debug)]
pub enum Out<M> {
    /// Send this message. Shared: a notice for many viewers is one allocation however many
    /// queues hold it (and a queue slot stays pointer-sized).
    Send(Arc<Envelope<M>>),
    /// Send this error, then close. Boxed, so that every queue slot stays two words: each
    /// socket's queue allocates its slots up front, and idle sockets are most of them.
    Close(Box<ErrorBody>),
    /// Reload what the socket caches about its device (who may watch it).
    Refresh,
}

impl<M> Out<M> {
    /// Send this message.
    pub fn send(envelope: Envelope<M>) -> Self {
        Self::Send(Arc::new(envelope))
    }

    /// Send this error, then close.
    pub fn close(body: ErrorBody) -> Self {
        Self::Close(Box::new(body))
    }
}

/// The sending end of a socket task's queue. A queue that fills up means its socket is not
/// reading (or not being read fast enough): it is told to close through `overflow` rather
/// than silently losing messages.
#[derive(Debug)]
pub struct Outbox<M> {
    tx: mpsc::Sender<Out<M>>,
    overflow: Arc<Notify>,
}

impl<M> Clone for Outbox<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            overflow: self.overflow.clone(),
        }
    }
}

/// The receiving end, held by the socket task.
#[derive(Debug)]
pub struct Inbox<M> {
    /// What to do next.
    pub rx: mpsc::Receiver<Out<M>>,
    /// Signalled when the queue overflowed: the socket closes as a slow consumer.
    pub overflow: Arc<Notify>,
}

/// A socket task's queue, holding at most `capacity` messages.
pub fn outbox<M>(capacity: usize) -> (Outbox<M>, Inbox<M>) {
    let (tx, rx) = mpsc::channel(capacity);
    let overflow = Arc::new(Notify::new());
    (
        Outbox {
            tx,
            overflow: overflow.clone(),
        },
        Inbox { rx, overflow },
    )
}

/// A session that ended, for the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Which.
    pub session_id: SessionId,
    /// Why.
    pub reason: EndReason,
}

/// What the hub reports for the record, in the order it happened: every session it opens and
/// every session it ends, whoever caused it. One recorder consumes them
/// ([`super::sessions::Sessions::record`]), so no caller has a record to forget.
#[derive(Debug)]
pub enum Record {
    /// A session opened.
    Started {
        /// Which.
        session_id: SessionId,
        /// Of what.
        device_id: DeviceId,
        /// For whom.
        user_id: UserId,
        /// When.
        at: UnixMillis,
    },
    /// A session ended.
    Ended {
        /// Which, and why.
        ended: Ended,
        /// When.
        at: UnixMillis,
    },
    /// Everything before this is written: answer on the channel.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// How many records may wait for the database before the hub starts dropping (and logging)
/// them: bounded like every queue, and far above what a healthy database lets pile up.
pub const RECORDS_CAPACITY: usize = 16 * 1024;

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
    /// The most sessions the device may serve, counting this one.
    pub max_sessions: usize,
    /// The viewer's session this one replaces (credentials near expiry): it must be this
    /// socket's, of the same device, and lets the device go one place over `max_sessions`.
    pub renews: Option<SessionId>,
}

struct DeviceConn {
    device_id: DeviceId,
    outbox: Outbox<ServerToDevice>,
    sessions: HashSet<SessionId>,
}

struct ViewerConn {
    user_id: UserId,
    /// The login (auth session) the socket authenticated with: logging out closes it.
    login: String,
    outbox: Outbox<ServerToViewer>,
    sessions: HashSet<SessionId>,
}

/// Where one end of a session is: a socket of this server, or another server (which holds
/// the other half of the session).
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Here(ConnId),
    There(ServerId),
}

struct Session {
    device_id: DeviceId,
    device: End,
    viewer: End,
}

/// A watch this server asked the device's server to open, waiting for its answer.
struct PendingOpen {
    viewer_conn: ConnId,
    user_id: UserId,
    device_server: ServerId,
    to_viewer: WatchReady,
    request_id: Option<String>,
    deadline: UnixMillis,
}

#[derive(Default)]
struct State {
    next_conn: ConnId,
    devices: HashMap<ConnId, DeviceConn>,
    device_index: HashMap<DeviceId, ConnId>,
    viewers: HashMap<ConnId, ViewerConn>,
    viewers_by_user: HashMap<UserId, HashSet<ConnId>>,
    sessions: HashMap<SessionId, Session>,
    pending: HashMap<SessionId, PendingOpen>,
}

impl State {
    /// The session, if the socket asking is the end `is_mine` accepts.
    fn session_of(&self, id: &SessionId, is_mine: impl Fn(&Session) -> bool) -> Result<&Session> {
        self.sessions
            .get(id)
            .filter(|s| is_mine(s))
            .ok_or_else(|| no_session(id))
    }

    /// The socket of a device attached here.
    fn device_conn(&self, device_id: &DeviceId) -> Result<ConnId> {
        self.device_index.get(device_id).copied().ok_or_else(|| {
            Error::client(
                ErrorCode::DeviceOffline,
                format!("device {device_id} is not connected right now"),
            )
        })
    }

    fn viewer_attached(&self, conn: ConnId) -> Result<()> {
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

/// The routing state of one server.
pub struct Hub {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    records: mpsc::Sender<Record>,
    /// What the halves of sessions held here tell the servers holding the other halves.
    routes: mpsc::Sender<Post>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

/// Queues a message (counted as sent when the socket writes it). A full queue means the
/// socket is not keeping up: it is told to close (its own task then detaches it), so a peer
/// that stops reading costs at most one full queue. A closed queue means the socket is gone.
fn push<M: Message>(outbox: &Outbox<M>, out: Out<M>) {
    match outbox.tx.try_send(out) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!("a socket's send queue is full; closing it as a slow consumer");
            outbox.overflow.notify_one();
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

impl Hub {
    /// An empty hub, reporting sessions to `records` and sending what other servers must hear
    /// to `routes`.
    pub fn new(
        metrics: Arc<Metrics>,
        records: mpsc::Sender<Record>,
        routes: mpsc::Sender<Post>,
    ) -> Self {
        Self {
            state: Mutex::new(State::default()),
            metrics,
            records,
            routes,
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

    fn post(&self, to: &ServerId, routed: Routed) {
        let post = Post {
            to: to.clone(),
            routed,
        };
        if let Err(e) = self.routes.try_send(post) {
            tracing::error!(error = %e, "routing to another server fell behind; a message is lost");
        }
    }

    fn record(&self, record: Record) {
        if let Err(e) = self.records.try_send(record) {
            tracing::error!(error = %e, "the session record fell behind; a record is lost");
        }
    }

    /// Waits until every record reported so far is written (at shutdown).
    pub async fn flush_records(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.records.send(Record::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("hub lock")
    }

    /// Attaches a device's socket. A socket already attached for the same device is closed
    /// with `replaced` and its sessions end.
    pub fn attach_device(
        &self,
        device_id: &DeviceId,
        outbox: Outbox<ServerToDevice>,
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
                push(&conn.outbox, Out::close(body));
            }
            ended = self.detach_locked(&mut state, old, now);
        }
        state.next_conn += 1;
        let id = state.next_conn;
        state.devices.insert(
            id,
            DeviceConn {
                device_id: device_id.clone(),
                outbox,
                sessions: HashSet::new(),
            },
        );
        state.device_index.insert(device_id.clone(), id);
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
        state.next_conn += 1;
        let id = state.next_conn;
        state.viewers.insert(
            id,
            ViewerConn {
                user_id: user_id.clone(),
                login: login.to_owned(),
                outbox,
                sessions: HashSet::new(),
            },
        );
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
        let (sessions, reason) = if let Some(device) = state.devices.remove(&conn) {
            if state.device_index.get(&device.device_id) == Some(&conn) {
                state.device_index.remove(&device.device_id);
            }
            (device.sessions, EndReason::DeviceDisconnected)
        } else if let Some(viewer) = state.viewers.remove(&conn) {
            // Answers that come for it later find nobody waiting and end what they opened.
            state.pending.retain(|_, p| p.viewer_conn != conn);
            if let Some(set) = state.viewers_by_user.get_mut(&viewer.user_id) {
                set.remove(&conn);
                if set.is_empty() {
                    state.viewers_by_user.remove(&viewer.user_id);
                }
            }
            (viewer.sessions, EndReason::ViewerDisconnected)
        } else {
            return Vec::new();
        };
        sessions
            .into_iter()
            .filter_map(|s| self.finish(state, &s, reason, None, now, None))
            .collect()
    }

    /// Whether a device has a socket on this server.
    pub fn device_attached(&self, device_id: &DeviceId) -> bool {
        self.lock().device_index.contains_key(device_id)
    }

    /// Opens a session between the asking viewer socket and the device's socket: the device
    /// gets `watch_request`, the viewer `watch_ready` (answering its `request_id`).
    pub fn open(&self, request: OpenRequest, now: UnixMillis) -> Result<()> {
        let OpenRequest {
            viewer_conn,
            user_id,
            to_device,
            to_viewer,
            request_id,
            max_sessions,
            renews,
        } = request;
        let mut state = self.lock();
        let session_id = to_device.session_id.clone();
        let device_id = to_viewer.device_id.clone();
        let device_conn = state.device_conn(&device_id)?;
        state.viewer_attached(viewer_conn)?;
        let viewer = End::Here(viewer_conn);
        self.admit(
            &mut state,
            device_conn,
            &viewer,
            max_sessions,
            renews.as_ref(),
            to_device,
            now,
        )?;
        let conn = state.viewers.get_mut(&viewer_conn).expect("checked above");
        conn.sessions.insert(session_id.clone());
        let ready = Envelope::new(ServerToViewer::WatchReady(to_viewer), now).reply_to(request_id);
        push(&conn.outbox, Out::send(ready));
        state.sessions.insert(
            session_id.clone(),
            Session {
                device_id: device_id.clone(),
                device: End::Here(device_conn),
                viewer,
            },
        );
        self.started(session_id, device_id, user_id, now);
        Ok(())
    }

    /// The device end of a new session: a renewal must replace a session of the same viewer
    /// and device, and the device must have a place; then it gets `watch_request`.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        state: &mut State,
        device_conn: ConnId,
        viewer: &End,
        max_sessions: usize,
        renews: Option<&SessionId>,
        to_device: DeviceWatchRequest,
        now: UnixMillis,
    ) -> Result<()> {
        let device_id = state.devices[&device_conn].device_id.clone();
        let mut max_sessions = max_sessions;
        if let Some(old) = renews {
            state.session_of(old, |s| &s.viewer == viewer && s.device_id == device_id)?;
            // Old and new overlap until the new one plays: one place over, never more.
            max_sessions += 1;
        }
        let device = state
            .devices
            .get_mut(&device_conn)
            .expect("indexed device is attached");
        if device.sessions.len() >= max_sessions {
            return Err(Error::client(
                ErrorCode::MaxSessions,
                format!(
                    "device {device_id} already serves {} viewers, the most it takes for you right now",
                    device.sessions.len()
                ),
            ));
        }
        device.sessions.insert(to_device.session_id.clone());
        push(
            &device.outbox,
            Out::send(Envelope::new(ServerToDevice::WatchRequest(to_device), now)),
        );
        Ok(())
    }

    /// Counts and records a session whose viewer is here (the viewer's server keeps the record
    /// of a session that spans two).
    fn started(
        &self,
        session_id: SessionId,
        device_id: DeviceId,
        user_id: UserId,
        now: UnixMillis,
    ) {
        self.metrics.sessions_active.fetch_add(1, Relaxed);
        self.metrics.sessions_started.fetch_add(1, Relaxed);
        self.record(Record::Started {
            session_id,
            device_id,
            user_id,
            at: now,
        });
    }

    /// Asks `device_server`, which holds the device, to open a session with the asking viewer
    /// socket. The viewer's `watch_ready` (or error) follows when that server answers.
    pub fn open_remote(
        &self,
        request: OpenRequest,
        device_server: &ServerId,
        now: UnixMillis,
    ) -> Result<()> {
        let OpenRequest {
            viewer_conn,
            user_id,
            to_device,
            to_viewer,
            request_id,
            max_sessions,
            renews,
        } = request;
        let mut state = self.lock();
        state.viewer_attached(viewer_conn)?;
        let device_id = to_viewer.device_id.clone();
        if let Some(old) = &renews {
            state.session_of(old, |s| {
                s.viewer == End::Here(viewer_conn) && s.device_id == device_id
            })?;
        }
        let session_id = to_device.session_id.clone();
        state.pending.insert(
            session_id,
            PendingOpen {
                viewer_conn,
                user_id,
                device_server: device_server.clone(),
                to_viewer,
                request_id,
                deadline: now + OPEN_TIMEOUT_MS,
            },
        );
        let open = RemoteOpen {
            device_id,
            to_device,
            max_sessions,
            renews,
        };
        self.post(device_server, Routed::Open(open));
        Ok(())
    }

    /// Takes what server `from` routed here about a session between the two.
    pub fn receive(&self, from: &ServerId, routed: Routed, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        let there = End::There(from.clone());
        let other_end = |s: &Session| s.device == there || s.viewer == there;
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
            Routed::ToDevice {
                session_id,
                message,
            } => {
                if let Ok(Session {
                    device: End::Here(conn),
                    viewer: End::There(server),
                    ..
                }) = state.session_of(&session_id, |_| true)
                    && server == from
                {
                    self.relay(&state.devices[conn].outbox, message, now);
                }
            }
            Routed::ToViewer {
                session_id,
                message,
            } => {
                if let Ok(Session {
                    viewer: End::Here(conn),
                    device: End::There(server),
                    ..
                }) = state.session_of(&session_id, |_| true)
                    && server == from
                {
                    self.relay(&state.viewers[conn].outbox, message, now);
                }
            }
            Routed::Ended {
                session_id,
                reason,
                message,
            } => {
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
        self.admit(
            state,
            device_conn,
            &viewer,
            open.max_sessions,
            open.renews.as_ref(),
            open.to_device,
            now,
        )?;
        state.sessions.insert(
            session_id,
            Session {
                device_id: open.device_id,
                device: End::Here(device_conn),
                viewer,
            },
        );
        self.metrics.sessions_active.fetch_add(1, Relaxed);
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
        let Some(pending) = waiting.filter(|p| state.viewers.contains_key(&p.viewer_conn)) else {
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
        let viewer = state
            .viewers
            .get_mut(&pending.viewer_conn)
            .expect("checked above");
        let answer = match refused {
            Some(body) => ServerToViewer::Error(body),
            None => {
                viewer.sessions.insert(session_id.clone());
                let device_id = pending.to_viewer.device_id.clone();
                state.sessions.insert(
                    session_id.clone(),
                    Session {
                        device_id: device_id.clone(),
                        device: End::There(from.clone()),
                        viewer: End::Here(pending.viewer_conn),
                    },
                );
                self.started(session_id, device_id, pending.user_id, now);
                ServerToViewer::WatchReady(pending.to_viewer)
            }
        };
        let viewer = &state.viewers[&pending.viewer_conn];
        push(
            &viewer.outbox,
            Out::send(Envelope::new(answer, now).reply_to(pending.request_id)),
        );
    }

    /// Opens still unanswered past their deadline fail: the viewer is told to try again.
    pub fn expire_pending(&self, now: UnixMillis) {
        let mut state = self.lock();
        let late: Vec<SessionId> = state
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for session_id in late {
            self.refuse_pending(
                &mut state,
                &session_id,
                "the server holding the camera did not answer in time; try again",
                now,
            );
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
        if let Some(viewer) = state.viewers.get(&pending.viewer_conn) {
            let error = ServerToViewer::Error(ErrorBody::new(ErrorCode::Unavailable, why));
            push(
                &viewer.outbox,
                Out::send(Envelope::new(error, now).reply_to(pending.request_id)),
            );
        }
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
        let waiting: Vec<SessionId> = state
            .pending
            .iter()
            .filter(|(_, p)| &p.device_server == server)
            .map(|(id, _)| id.clone())
            .collect();
        for session_id in waiting {
            self.refuse_pending(
                &mut state,
                &session_id,
                "the server holding the camera went away; try again",
                now,
            );
        }
        let there = End::There(server.clone());
        let gone: Vec<(SessionId, EndReason)> = state
            .sessions
            .iter()
            .filter_map(|(id, s)| {
                if s.device == there {
                    Some((id.clone(), EndReason::DeviceDisconnected))
                } else if s.viewer == there {
                    Some((id.clone(), EndReason::ViewerDisconnected))
                } else {
                    None
                }
            })
            .collect();
        gone.iter()
            .filter_map(|(id, reason)| {
                self.finish(&mut state, id, *reason, None, now, Some(server))
            })
            .collect()
    }

    /// Passes a viewer's answer or candidate to the device of a session the viewer is in.
    pub fn to_device(
        &self,
        viewer_conn: ConnId,
        session_id: &SessionId,
        message: ServerToDevice,
        now: UnixMillis,
    ) -> Result<()> {
        let state = self.lock();
        let session = state.session_of(session_id, |s| s.viewer == End::Here(viewer_conn))?;
        match &session.device {
            End::Here(conn) => self.relay(&state.devices[conn].outbox, message, now),
            End::There(server) => self.post(
                server,
                Routed::ToDevice {
                    session_id: session_id.clone(),
                    message,
                },
            ),
        }
        Ok(())
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
        let session = state.session_of(session_id, |s| s.device == End::Here(device_conn))?;
        match &session.viewer {
            End::Here(conn) => self.relay(&state.viewers[conn].outbox, message, now),
            End::There(server) => self.post(
                server,
                Routed::ToViewer {
                    session_id: session_id.clone(),
                    message,
                },
            ),
        }
        Ok(())
    }

    fn relay<M: Message>(&self, outbox: &Outbox<M>, message: M, now: UnixMillis) {
        push(outbox, Out::send(Envelope::new(message, now)));
        self.metrics.messages_relayed.fetch_add(1, Relaxed);
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
    fn finish(
        &self,
        state: &mut State,
        session_id: &SessionId,
        reason: EndReason,
        message: Option<String>,
        now: UnixMillis,
        routed_from: Option<&ServerId>,
    ) -> Option<Ended> {
        let session = state.sessions.remove(session_id)?;
        self.metrics.sessions_active.fetch_sub(1, Relaxed);
        let notice = WatchEnded {
            session_id: session_id.clone(),
            reason,
            message,
        };
        let device_caused = matches!(
            reason,
            EndReason::DeviceEnded
                | EndReason::DeviceDisconnected
                | EndReason::MaxViewers
                | EndReason::Failed
        );
        let viewer_caused = matches!(
            reason,
            EndReason::ViewerLeft | EndReason::ViewerDisconnected
        );
        let tell_server = |server: &ServerId| {
            if routed_from != Some(server) {
                let ended = Routed::Ended {
                    session_id: session_id.clone(),
                    reason,
                    message: notice.message.clone(),
                };
                self.post(server, ended);
            }
        };
        match &session.device {
            End::Here(conn) => {
                if let Some(device) = state.devices.get_mut(conn) {
                    device.sessions.remove(session_id);
                    if !device_caused {
                        let ended = ServerToDevice::WatchEnded(notice.clone());
                        push(&device.outbox, Out::send(Envelope::new(ended, now)));
                    }
                }
            }
            End::There(server) => tell_server(server),
        }
        match &session.viewer {
            End::Here(conn) => {
                if let Some(viewer) = state.viewers.get_mut(conn) {
                    viewer.sessions.remove(session_id);
                    if !viewer_caused {
                        let ended = ServerToViewer::WatchEnded(notice);
                        push(&viewer.outbox, Out::send(Envelope::new(ended, now)));
                    }
                }
            }
            End::There(server) => tell_server(server),
        }
        let ended = Ended {
            session_id: session_id.clone(),
            reason,
        };
        if matches!(session.viewer, End::Here(_)) {
            self.record(Record::Ended {
                ended: ended.clone(),
                at: now,
            });
        }
        Some(ended)
    }

    /// Delivers a notice from the bus to the sockets it concerns on this server.
    pub fn deliver(&self, notice: &Notice, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        match notice {
            Notice::Viewers { users, news } => {
                let conns: Vec<ConnId> = users
                    .iter()
                    .flat_map(|u| state.viewers_by_user.get(u).into_iter().flatten().copied())
                    .collect();
                let message = match news {
                    ViewerNews::Presence(p) => ServerToViewer::DevicePresence(p.clone()),
                    ViewerNews::Removed(d) => {
                        ServerToViewer::DeviceRemoved(mumu_shared::signaling::DeviceRemoved {
                            device_id: d.clone(),
                        })
                    }
                    ViewerNews::LoggedOut(logins) => {
                        let body = ErrorBody::new(
                            ErrorCode::Unauthorized,
                            "this login has ended (logged out); log in again",
                        );
                        for conn in &conns {
                            if let Some(viewer) = state.viewers.get(conn)
                                && logins.covers(&viewer.login)
                            {
                                push(&viewer.outbox, Out::close(body.clone()));
                            }
                        }
                        return Vec::new();
                    }
                };
                let envelope = Arc::new(Envelope::new(message, now));
                for conn in &conns {
                    if let Some(viewer) = state.viewers.get(conn) {
                        push(&viewer.outbox, Out::Send(envelope.clone()));
                    }
                }
                // Access withdrawn: their sessions on that device end too.
                let ViewerNews::Removed(device_id) = news else {
                    return Vec::new();
                };
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
                    .filter_map(|s| {
                        self.finish(&mut state, s, EndReason::DeviceRemoved, None, now, None)
                    })
                    .collect()
            }
            Notice::Device {
                device_id,
                news: DeviceNews::Attached { server },
            } => self.device_moved(&mut state, device_id, server, now),
            Notice::Device { device_id, news } => {
                let Some(conn) = state.device_index.get(device_id).copied() else {
                    return Vec::new();
                };
                let outbox = state.devices[&conn].outbox.clone();
                match news {
                    DeviceNews::Paired(paired) => {
                        push(
                            &outbox,
                            Out::send(Envelope::new(ServerToDevice::Paired(paired.clone()), now)),
                        );
                        push(&outbox, Out::Refresh);
                        Vec::new()
                    }
                    DeviceNews::AccessChanged => {
                        push(&outbox, Out::Refresh);
                        Vec::new()
                    }
                    DeviceNews::Attached { .. } => Vec::new(),
                    DeviceNews::Removed => {
                        let sessions: Vec<SessionId> =
                            state.devices[&conn].sessions.iter().cloned().collect();
                        let ended = sessions
                            .iter()
                            .filter_map(|s| {
                                self.finish(
                                    &mut state,
                                    s,
                                    EndReason::DeviceRemoved,
                                    None,
                                    now,
                                    None,
                                )
                            })
                            .collect();
                        let body = ErrorBody::new(
                            ErrorCode::DeviceRemoved,
                            "the owner removed this device; enrol again to pair it",
                        );
                        push(&outbox, Out::close(body));
                        ended
                    }
                }
            }
        }
    }

    /// `device_id` connected again, to `server`. A device's sessions never outlive its socket,
    /// so halves here whose device end is on another server are over: they end now with
    /// `device_disconnected` (and opens still waiting on another server fail), rather than when
    /// that server is found dead or its socket times out.
    fn device_moved(
        &self,
        state: &mut State,
        device_id: &DeviceId,
        server: &ServerId,
        now: UnixMillis,
    ) -> Vec<Ended> {
        let elsewhere = |end: &End| matches!(end, End::There(s) if s != server);
        let waiting: Vec<SessionId> = state
            .pending
            .iter()
            .filter(|(_, p)| &p.device_server != server && p.to_viewer.device_id == *device_id)
            .map(|(id, _)| id.clone())
            .collect();
        for session_id in waiting {
            self.refuse_pending(
                state,
                &session_id,
                "the camera reconnected to another server; try again",
                now,
            );
        }
        let stale: Vec<SessionId> = state
            .sessions
            .iter()
            .filter(|(_, s)| &s.device_id == device_id && elsewhere(&s.device))
            .map(|(id, _)| id.clone())
            .collect();
        stale
            .iter()
            .filter_map(|id| self.finish(state, id, EndReason::DeviceDisconnected, None, now, None))
            .collect()
    }

    /// Ends every session with `server_shutdown` and asks every socket to close.
    pub fn shutdown(&self, now: UnixMillis) -> Vec<Ended> {
        let mut state = self.lock();
        let waiting: Vec<SessionId> = state.pending.keys().cloned().collect();
        for session_id in waiting {
            self.refuse_pending(&mut state, &session_id, "the server is shutting down", now);
        }
        let sessions: Vec<SessionId> = state.sessions.keys().cloned().collect();
        let ended = sessions
            .iter()
            .filter_map(|s| self.finish(&mut state, s, EndReason::ServerShutdown, None, now, None))
            .collect();
        let body = ErrorBody::new(
            ErrorCode::Unavailable,
            "the server is shutting down; reconnect shortly",
        );
        for device in state.devices.values() {
            push(&device.outbox, Out::close(body.clone()));
        }
        for viewer in state.viewers.values() {
            push(&viewer.outbox, Out::close(body.clone()));
        }
        ended
    }
}

fn no_session(session_id: &SessionId) -> Error {
    Error::client(
        ErrorCode::SessionNotFound,
        format!("no session {session_id} on this socket"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::Logins;
    use mumu_shared::signaling::{
        DevicePresence, IceTransportPolicy, Paired, SessionIce, SessionSdp,
    };

    const NOW: UnixMillis = 1_000;

    fn hub() -> Hub {
        hub_recording().0
    }

    fn hub_recording() -> (Hub, mpsc::Receiver<Record>) {
        let (hub, records, _) = hub_routing();
        (hub, records)
    }

    /// A hub, what it records and what it routes to other servers.
    fn hub_routing() -> (Hub, mpsc::Receiver<Record>, mpsc::Receiver<Post>) {
        let (records_tx, records) = mpsc::channel(64);
        let (routes_tx, routes) = mpsc::channel(64);
        let hub = Hub::new(Arc::new(Metrics::default()), records_tx, routes_tx);
        (hub, records, routes)
    }

    /// Two servers' hubs, "a" and "b", and what each routes to the other.
    struct Pair {
        a: Hub,
        b: Hub,
        a_out: mpsc::Receiver<Post>,
        b_out: mpsc::Receiver<Post>,
        a_records: mpsc::Receiver<Record>,
        b_records: mpsc::Receiver<Record>,
    }

    impl Pair {
        fn new() -> Self {
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
        fn watching_across() -> (
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
        fn carry(&mut self) {
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

    fn request(viewer: ConnId, device: &str, session: &str, max: usize) -> OpenRequest {
        OpenRequest {
            viewer_conn: viewer,
            user_id: "alice".into(),
            to_device: DeviceWatchRequest {
                session_id: session.into(),
                viewer: "alice".into(),
                ice_servers: vec![],
                ice_transport_policy: IceTransportPolicy::All,
            },
            to_viewer: WatchReady {
                session_id: session.into(),
                device_id: device.into(),
                ice_servers: vec![],
                ice_transport_policy: IceTransportPolicy::All,
                ice_credentials_ttl_ms: None,
            },
            request_id: Some("r1".into()),
            max_sessions: max,
            renews: None,
        }
    }

    fn device(hub: &Hub, id: &str) -> (ConnId, mpsc::Receiver<Out<ServerToDevice>>) {
        let (tx, inbox) = outbox(16);
        let (conn, ended) = hub.attach_device(&DeviceId::from(id), tx, NOW);
        assert!(ended.is_empty());
        (conn, inbox.rx)
    }

    fn viewer_as(
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

    fn viewer(hub: &Hub, user: &str) -> (ConnId, mpsc::Receiver<Out<ServerToViewer>>) {
        viewer_as(hub, user, &format!("login-of-{user}"))
    }

    fn open(hub: &Hub, viewer: ConnId, device: &str, session: &str, max: usize) -> Result<()> {
        renew(hub, viewer, device, session, max, None)
    }

    fn renew(
        hub: &Hub,
        viewer: ConnId,
        device: &str,
        session: &str,
        max: usize,
        renews: Option<&str>,
    ) -> Result<()> {
        let to_device = DeviceWatchRequest {
            session_id: session.into(),
            viewer: "alice".into(),
            ice_servers: vec![],
            ice_transport_policy: IceTransportPolicy::All,
        };
        let to_viewer = WatchReady {
            session_id: session.into(),
            device_id: device.into(),
            ice_servers: vec![],
            ice_transport_policy: IceTransportPolicy::All,
            ice_credentials_ttl_ms: None,
        };
        let request = OpenRequest {
            viewer_conn: viewer,
            user_id: "alice".into(),
            to_device,
            to_viewer,
            request_id: Some("r1".into()),
            max_sessions: max,
            renews: renews.map(SessionId::from),
        };
        hub.open(request, NOW)
    }

    fn next<M>(rx: &mut mpsc::Receiver<Out<M>>) -> Out<M> {
        rx.try_recv().expect("a queued message")
    }

    fn sent<M: Clone>(rx: &mut mpsc::Receiver<Out<M>>) -> M {
        match next(rx) {
            Out::Send(envelope) => envelope.message.clone(),
            Out::Close(body) => panic!("expected a message, got close: {body}"),
            Out::Refresh => panic!("expected a message, got refresh"),
        }
    }

    fn code<T: std::fmt::Debug>(result: Result<T>) -> ErrorCode {
        result.expect_err("an error").code()
    }

    #[test]
    fn opening_a_session_asks_the_device_and_answers_the_viewer() {
        let hub = hub();
        let (_, mut cam) = device(&hub, "d1");
        let (v, mut view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        assert!(
            matches!(sent(&mut cam), ServerToDevice::WatchRequest(r) if r.session_id.as_str() == "s1")
        );
        match next(&mut view) {
            Out::Send(envelope) => {
                assert_eq!(envelope.request_id.as_deref(), Some("r1"));
                assert!(matches!(envelope.message, ServerToViewer::WatchReady(_)));
            }
            _ => panic!("expected watch_ready"),
        }
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
            Ended {
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
        let (_, ended) = hub.attach_device(&"d1".into(), tx, NOW);
        assert_eq!(ended.len(), 1);
        assert!(matches!(next(&mut old), Out::Close(b) if b.code == ErrorCode::Replaced));
        assert!(matches!(sent(&mut view), ServerToViewer::WatchEnded(_)));
        assert!(hub.device_attached(&"d1".into()));
    }

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
    fn every_start_and_end_is_reported_in_order_whoever_caused_it() {
        let (hub, mut records) = hub_recording();
        let (c, _cam) = device(&hub, "d1");
        let (v, _view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        open(&hub, v, "d1", "s2", 4).unwrap();
        assert!(
            open(&hub, v, "nobody", "s3", 4).is_err(),
            "a refused watch records nothing"
        );
        hub.end(v, &"s1".into(), EndReason::ViewerLeft, None, NOW)
            .unwrap();
        hub.detach(c, NOW);
        let mut seen = Vec::new();
        while let Ok(record) = records.try_recv() {
            seen.push(match record {
                Record::Started { session_id, .. } => format!("start {session_id}"),
                Record::Ended { ended, .. } => {
                    format!("end {} {}", ended.session_id, ended.reason.as_str())
                }
                Record::Flush(_) => "flush".into(),
            });
        }
        assert_eq!(
            seen,
            [
                "start s1",
                "start s2",
                "end s1 viewer_left",
                "end s2 device_disconnected"
            ]
        );
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
        assert!(
            matches!(sent(&mut cam), ServerToDevice::WatchRequest(r) if r.session_id.as_str() == "s1")
        );
        match next(&mut view) {
            Out::Send(envelope) => {
                assert_eq!(envelope.request_id.as_deref(), Some("r1"));
                assert!(matches!(envelope.message, ServerToViewer::WatchReady(_)));
            }
            _ => panic!("expected watch_ready"),
        }
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
