//! The viewer's signaling socket (`/ws/viewer`), typed with the shared messages and
//! authenticated by a Bearer header on the upgrade.

use futures_util::{SinkExt, StreamExt};
use mumu_shared::signaling::{ServerToViewer, ViewerToServer};
use mumu_shared::{Envelope, decode, encode};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message as Frame};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The socket failed or closed.
#[derive(Debug, Error)]
pub enum SocketError {
    /// Reading, writing or connecting failed.
    #[error("socket: {0}")]
    Io(#[from] tungstenite::Error),
    /// The server closed the socket.
    #[error("the server closed the socket")]
    Closed,
}

/// An open `/ws/viewer` socket.
pub struct ViewerSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl ViewerSocket {
    /// Opens `url` with `token` as Bearer.
    pub async fn connect(url: &str, token: &str) -> Result<Self, SocketError> {
        let mut request = url.into_client_request()?;
        let header = format!("Bearer {token}").parse().map_err(|_| {
            tungstenite::Error::Url(tungstenite::error::UrlError::UnableToConnect(
                "the token is not a valid header value".into(),
            ))
        })?;
        request.headers_mut().insert("authorization", header);
        // No Nagle, as a browser's WebSocket: small signaling messages go out at once.
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
        Ok(Self { ws })
    }

    /// Sends a message, optionally as a request with an id.
    pub async fn send(
        &mut self,
        message: ViewerToServer,
        request_id: Option<&str>,
    ) -> Result<(), SocketError> {
        let envelope =
            Envelope::new(message, crate::now_ms()).reply_to(request_id.map(str::to_owned));
        self.ws.send(Frame::Text(encode(&envelope).into())).await?;
        Ok(())
    }

    /// Sends one text frame as it is, whatever it holds: for tests of how the server takes
    /// messages that are not the protocol.
    pub async fn send_text(&mut self, text: &str) -> Result<(), SocketError> {
        self.ws.send(Frame::Text(text.into())).await?;
        Ok(())
    }

    /// The next message. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Envelope<ServerToViewer>, SocketError> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Frame::Close(_))) => return Err(SocketError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Frame::Text(text))) => match decode::<ServerToViewer>(&text) {
                    Ok(envelope) => return Ok(envelope),
                    Err(e) => tracing::warn!(error = %e, "undecodable message; skipped"),
                },
                Some(Ok(_)) => {}
            }
        }
    }

    /// Closes the socket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
