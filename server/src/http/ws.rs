//! The WebSocket upgrades: `/ws/device` and `/ws/viewer`.

use super::extract::token_of;
use crate::signaling::device::DevicePeer;
use crate::signaling::hub::Out;
use crate::signaling::socket::{ErrorMessage, Peer};
use crate::signaling::viewer::ViewerPeer;
use crate::signaling::{OUTBOX_CAPACITY, limits, socket};
use crate::state::SharedState;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use mumu_shared::MAX_MESSAGE_BYTES;
use tokio::sync::mpsc;

/// Frames larger than this end the socket at the transport; between `MAX_MESSAGE_BYTES` and this
/// the socket stays open and the message is refused with `message_too_large`.
const TRANSPORT_LIMIT: usize = 4 * MAX_MESSAGE_BYTES;

fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    // Small buffers: an idle socket should cost kilobytes, not the 128 KiB default.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(TRANSPORT_LIMIT)
        .max_frame_size(TRANSPORT_LIMIT)
}

/// A camera agent's signaling socket.
pub async fn device(State(state): State<SharedState>, ws: WebSocketUpgrade) -> Response {
    serve(configure(ws), state, DevicePeer::new)
}

/// A viewer's signaling socket. Credentials in a cookie or header are checked here; a socket
/// without them may still authenticate with the token in its `hello`.
pub async fn viewer(
    State(state): State<SharedState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A cookie is sent by the browser whatever page opens the socket: only our own pages may.
    if super::origin::uses_cookie(&headers)
        && let Some(origin) =
            super::origin::foreign_origin(&headers, state.config.public_url.as_deref())
    {
        return super::origin::refusal(&origin).into_response();
    }
    let user = match token_of(&headers) {
        Some(token) => state.auth.authenticate(&token).await.ok(),
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
    make: impl FnOnce(SharedState, mpsc::Sender<Out<P::Out>>) -> P + Send + 'static,
) -> Response
where
    P: Peer + 'static,
    P::Out: ErrorMessage,
{
    ws.on_upgrade(move |socket| async move {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let peer = make(state.clone(), tx);
        let (limits, metrics, clock) = (limits(&state), state.metrics.clone(), state.clock.clone());
        socket::run(socket, peer, rx, limits, metrics, clock).await;
    })
}
