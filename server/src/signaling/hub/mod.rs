//! The routing state machine of one server: which sockets are open, which device each device
//! socket is, which user each viewer socket belongs to, and which sessions join a viewer to a
//! device. It does no I/O: every call updates the tables below and queues messages on the
//! sockets' outboxes (or, for another server, on the routes), so it is tested through
//! channels, without sockets or a database.
//!
//! One file per job, each readable alone:
//! - `outbox.rs`: a socket's bounded queue; a full one closes its socket as a slow consumer.
//! - `side.rs`: the device and viewer sides, as one piece where they are the same.
//! - `registry.rs`: attaching and detaching sockets.
//! - `lifecycle.rs`: opening a session on this server, ending one, shutdown.
//! - `relay.rs`: offers, answers and candidates between a session's two ends.
//! - `remote.rs`: the half of a session whose other end is on another server.
//! - `notices.rs`: the notice bus's news, delivered to the sockets it concerns.
//! - `grants.rs`: what running sessions may do beyond live video, changed by their share.
//! - `records.rs`: every session's start and end, reported for the record.
//!
//! **Invariant**: a session is in `sessions` exactly while both of its ends are attached (a
//! socket here, or the other server's half); every way a session ends (either side leaving, a
//! socket dropping, a device replaced or removed, another server gone, shutdown) goes through
//! `Hub::finish`, which tells the other end why and reports the end for the record.

mod grants;
mod lifecycle;
mod notices;
mod outbox;
mod records;
mod registry;
mod relay;
mod remote;
mod side;
#[cfg(test)]
mod testing;

pub use lifecycle::OpenRequest;
pub use outbox::{Inbox, Out, Outbox, outbox};
pub use records::{Ended, RECORDS_CAPACITY, Record};

use super::route::{Post, ServerId};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use mumu_shared::signaling::{ServerToDevice, ServerToViewer};
use mumu_shared::{DeviceId, ErrorCode, SessionId, UserId};
use remote::PendingOpen;
use side::{Conn, Side};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A socket's number on this server.
pub type ConnId = u64;

/// Where one end of a session is: a socket of this server, or another server (which holds
/// the other half of the session).
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Here(ConnId),
    There(ServerId),
}

/// A session, as this server holds it.
struct Session {
    device_id: DeviceId,
    device: End,
    viewer: End,
}

impl Session {
    fn end(&self, side: Side) -> &End {
        match side {
            Side::Device => &self.device,
            Side::Viewer => &self.viewer,
        }
    }
}

/// The hub's tables, behind its one lock.
#[derive(Default)]
struct State {
    next_conn: ConnId,
    devices: HashMap<ConnId, Conn<ServerToDevice>>,
    device_index: HashMap<DeviceId, ConnId>,
    /// Device sockets whose `hello_ack` said "not paired": only they are told `paired`. A
    /// pairing notice can arrive after a socket that read the paired row attached, and the
    /// protocol promises an already-paired device no `paired` message.
    awaiting_pairing: HashSet<ConnId>,
    viewers: HashMap<ConnId, Conn<ServerToViewer>>,
    viewers_by_user: HashMap<UserId, HashSet<ConnId>>,
    sessions: HashMap<SessionId, Session>,
    /// Watches asked of another server, waiting for its answer.
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
}

fn no_session(session_id: &SessionId) -> Error {
    Error::client(
        ErrorCode::SessionNotFound,
        format!("no session {session_id} on this socket"),
    )
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("hub lock")
    }
}
