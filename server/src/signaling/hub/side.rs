//! The two sides of a session, device and viewer, as one piece where they are the same: a
//! socket of either side has an outbox and the sessions it is in; a session has an end on
//! each side; a message for one side reaches a socket here or travels to the other server.
//! Where the sides differ (a device socket is replaced by the device's next one, a user's
//! viewer sockets are counted and closed by logout) the registry and the notices keep them
//! apart.
//!
//! The message type a side's sockets are sent names the side: [`Addressee`] is implemented by
//! `ServerToDevice` and `ServerToViewer`, so one generic function serves both.
//!
//! **Invariant**: a side is never told of an end it caused ([`Side::caused`]).

use super::outbox::Outbox;
use super::{ConnId, State};
use crate::signaling::route::Routed;
use mumu_shared::signaling::{EndReason, ServerToDevice, ServerToViewer, WatchEnded};
use mumu_shared::{DeviceId, Message, SessionId, UserId};
use std::collections::{HashMap, HashSet};

/// One end of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Device,
    Viewer,
}

impl Side {
    /// The end across.
    pub fn other(self) -> Self {
        match self {
            Self::Device => Self::Viewer,
            Self::Viewer => Self::Device,
        }
    }

    /// Why a session ends when this side's socket (or the server holding it) goes away.
    pub fn disconnected(self) -> EndReason {
        match self {
            Self::Device => EndReason::DeviceDisconnected,
            Self::Viewer => EndReason::ViewerDisconnected,
        }
    }

    /// Whether an end for `reason` comes from this side (which then needs no telling).
    pub fn caused(self, reason: EndReason) -> bool {
        match self {
            Self::Device => matches!(
                reason,
                EndReason::DeviceEnded
                    | EndReason::DeviceDisconnected
                    | EndReason::MaxViewers
                    | EndReason::Failed
            ),
            Self::Viewer => matches!(
                reason,
                EndReason::ViewerLeft | EndReason::ViewerDisconnected
            ),
        }
    }
}

/// A socket of one side, attached here.
pub(super) struct Conn<M: Addressee> {
    /// Which device, or which viewer.
    pub who: M::Who,
    pub outbox: Outbox<M>,
    /// The sessions it is an end of.
    pub sessions: HashSet<SessionId>,
}

/// Who a viewer socket is.
pub(super) struct ViewerId {
    pub user_id: UserId,
    /// The login (auth session) the socket authenticated with: logging out closes it.
    pub login: String,
}

/// What one side's sockets are sent; the type stands for the side.
pub(super) trait Addressee: Message + Sized {
    /// The side.
    const SIDE: Side;
    /// Who a socket of this side is.
    type Who;

    /// This side's sockets.
    fn conns(state: &State) -> &HashMap<ConnId, Conn<Self>>;

    /// This side's sockets, to change.
    fn conns_mut(state: &mut State) -> &mut HashMap<ConnId, Conn<Self>>;

    /// The message, routed to the server holding this end of `session_id`.
    fn routed(session_id: SessionId, message: Self) -> Routed;

    /// The news that a session ended.
    fn watch_ended(ended: WatchEnded) -> Self;
}

impl Addressee for ServerToDevice {
    const SIDE: Side = Side::Device;
    type Who = DeviceId;

    fn conns(state: &State) -> &HashMap<ConnId, Conn<Self>> {
        &state.devices
    }

    fn conns_mut(state: &mut State) -> &mut HashMap<ConnId, Conn<Self>> {
        &mut state.devices
    }

    fn routed(session_id: SessionId, message: Self) -> Routed {
        Routed::ToDevice {
            session_id,
            message,
        }
    }

    fn watch_ended(ended: WatchEnded) -> Self {
        Self::WatchEnded(ended)
    }
}

impl Addressee for ServerToViewer {
    const SIDE: Side = Side::Viewer;
    type Who = ViewerId;

    fn conns(state: &State) -> &HashMap<ConnId, Conn<Self>> {
        &state.viewers
    }

    fn conns_mut(state: &mut State) -> &mut HashMap<ConnId, Conn<Self>> {
        &mut state.viewers
    }

    fn routed(session_id: SessionId, message: Self) -> Routed {
        Routed::ToViewer {
            session_id,
            message,
        }
    }

    fn watch_ended(ended: WatchEnded) -> Self {
        Self::WatchEnded(ended)
    }
}
