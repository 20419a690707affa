//! Sessions whose two ends sit on different servers. The viewer's server and the device's
//! server each hold one half of such a session in their hub; what one half must tell the
//! other travels as a [`Routed`] message, addressed to that server alone (with Redis: its own
//! pub/sub channel). The device's server owns the device's limits (its viewer count); the
//! viewer's server records the session.
//!
//! This file is what travels and its timings; [`super::router`] is the task that carries it.

use super::admission::Admission;
use mumu_shared::signaling::{DeviceWatchRequest, EndReason, ServerToDevice, ServerToViewer};
use mumu_shared::{DeviceId, ErrorBody, SessionId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A server's id: unique per process, across every server of a deployment.
pub type ServerId = String;

/// What one server's hub tells another's about a session between them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Routed {
    /// From the viewer's server: open a session with a device the addressee holds.
    Open(RemoteOpen),
    /// From the device's server: the answer to `Open` (`refused` says why not).
    Opened {
        /// Which session.
        session_id: SessionId,
        /// Why it was not opened, for the viewer.
        refused: Option<ErrorBody>,
    },
    /// For the device end of a session.
    ToDevice {
        /// Which session.
        session_id: SessionId,
        /// The message, as the device gets it.
        message: ServerToDevice,
    },
    /// For the viewer end of a session.
    ToViewer {
        /// Which session.
        session_id: SessionId,
        /// The message, as the viewer gets it.
        message: ServerToViewer,
    },
    /// The session ended on the sender's side; the addressee tells its end, as the sender's
    /// hub would have.
    Ended {
        /// Which session.
        session_id: SessionId,
        /// Why.
        reason: EndReason,
        /// The device's words, when it ended the session.
        message: Option<String>,
    },
}

/// A session the viewer's server asks the device's server to open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteOpen {
    /// The device watched.
    pub device_id: DeviceId,
    /// What the device is sent (the session id and the device's ICE servers within).
    pub to_device: DeviceWatchRequest,
    /// Whether the device takes the watch (on the wire: `max_sessions`, a number).
    #[serde(rename = "max_sessions")]
    pub admission: Admission,
    /// The viewer's session this one replaces (see `OpenRequest::renews`).
    pub renews: Option<SessionId>,
}

/// A routed message on its way: to whom, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    /// The server it is for.
    pub to: ServerId,
    /// What.
    pub routed: Routed,
}

/// A routed message as it travels between servers: who sent it, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Letter {
    /// The sending server.
    pub from: ServerId,
    /// What.
    pub routed: Routed,
}

/// How many routed messages may wait to be published before the hub drops (and logs) them.
pub const ROUTES_CAPACITY: usize = 16 * 1024;

/// How long a viewer waits for the device's server to answer an `Open`.
pub const OPEN_TIMEOUT_MS: i64 = 5_000;

/// How often a server says it is alive.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);
/// How long a server's word that it is alive lasts: one that says nothing for this long is
/// taken for dead (killed, or cut off from Redis).
pub const BEAT_TTL: Duration = Duration::from_secs(6);

#[cfg(test)]
mod tests {
    use super::*;
    use mumu_shared::api::AccessRole;
    use mumu_shared::signaling::IceTransportPolicy;

    #[test]
    fn an_open_says_max_sessions_as_a_bare_number_as_servers_of_every_version_read_it() {
        let open = Routed::Open(RemoteOpen {
            device_id: "d1".into(),
            to_device: DeviceWatchRequest {
                session_id: "s1".into(),
                viewer: "alice".into(),
                ice_servers: vec![],
                ice_transport_policy: IceTransportPolicy::All,
                grants: mumu_shared::signaling::Grants::default(),
            },
            admission: Admission::for_role(AccessRole::Viewer, 4),
            renews: None,
        });
        let json = serde_json::to_value(&open).unwrap();
        assert_eq!(json["kind"], "open");
        assert_eq!(json["max_sessions"], 3);
        assert_eq!(serde_json::from_value::<Routed>(json).unwrap(), open);
    }
}
