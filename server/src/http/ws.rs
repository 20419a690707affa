//! The WebSocket upgrades: `/ws/device` and `/ws/viewer`.

use super::credential::Resolved;
use crate::signaling::device::DevicePeer;
use crate::signaling::hub::{Outbox, outbox};
use crate::signaling::socket::{ErrorMessage, Peer};
use crate::signaling::viewer::ViewerPeer;
use crate::signaling::{OUTBOX_CAPACITY, limits, socket};
use crate::state::SharedState;
use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::{IntoResponse, Response};
use mumu_shared::MAX_MESSAGE_BYTES;

/// Frames larger than this end the socket at the transport; between `MAX_MESSAGE_BYTES` and this
/// the socket stays open and the message is refused with `message_too_large`.
const TRANSPORT_LIMIT: usize = 4 * MAX_MESSAGE_BYTES;

fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    // Small buffers: an idle socket should cost a few kilobytes, not the 128 KiB default.
    // tungstenite zero-fills the whole read buffer before each read, so all of it is resident
    // in every socket; a larger message makes it grow for as long as it takes to read.
    ws.read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(TRANSPORT_LIMIT)
        .max_frame_size(TRANSPORT_LIMIT)
}

/// A camera agent's signaling socket.
pub async fn device(State(state): State<SharedState>, ws: WebSocketUpgrade) -> Response {
    serve(configure(ws), state, DevicePeer::new)
}

/// A viewer's signaling socket. Credentials in a cookie or header (already resolved, and the
/// cookie's origin checked, by [`super::credential`]) are checked here; a socket without them
/// may still authenticate with the token in its `hello`.
pub async fn viewer(
    State(state): State<SharedState>,
    Extension(resolved): Extension<Resolved>,
    ws: WebSocketUpgrade,
) -> Response {
    let credential = match resolved.for_api() {
        Ok(credential) => credential,
        Err(e) => return super::error::ApiError(e).into_response(),
    };
    let user = match credential {
        Some(c) => state.auth.authenticate(c.token()).await.ok(),
        None => None,
    };
    serve(configure(ws), state, move |state, tx| {
        ViewerPeer::new(state, tx, user)
    })
}

/// Upgrades, then runs the socket with the peer `make` builds around its outbox.
fn serve<P>(
    ws: WebSocketUpgrade,
    state: SharedState,
    make: impl FnOnce(SharedState, Outbox<P::Out>) -> P + Send + 'static,
) -> Response
where
    P: Peer + 'static,
    P::Out: ErrorMessage,
{
    ws.on_upgrade(move |socket| async move {
        let (tx, inbox) = outbox(OUTBOX_CAPACITY);
        let peer = make(state.clone(), tx);
        let (limits, metrics, clock) = (limits(&state), state.metrics.clone(), state.clock.clone());
        socket::run(socket, peer, inbox, limits, metrics, clock).await;
    })
}
