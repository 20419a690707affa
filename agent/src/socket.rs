//! The device's signaling socket, typed: it sends [`DeviceToServer`] and yields
//! [`ServerToDevice`], each in its envelope.
//!
//! A message this build cannot decode is logged and skipped rather than killing the socket: the
//! protocol lets a newer server add message types.

use futures_util::{SinkExt, StreamExt};
use mumu_shared::signaling::{DeviceToServer, ServerToDevice};
use mumu_shared::{Envelope, decode, encode};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message as Frame};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The socket failed or closed.
#[derive(Debug, Error)]
pub enum SocketError {
    /// The connection could not be opened.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        source: tungstenite::Error,
    },
    /// Reading or writing failed.
    #[error("socket: {0}")]
    Io(#[from] tungstenite::Error),
    /// The server closed the socket.
    #[error("the server closed the socket{}", .0.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed(Option<String>),
}

/// An open `/ws/device` socket.
pub struct DeviceSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl DeviceSocket {
    /// Opens the socket at `url` (`ws://host:port/ws/device`).
    pub async fn connect(url: &str) -> Result<Self, SocketError> {
        // No Nagle: signaling is small messages in bursts (an offer, then candidates), and
        // Nagle held each burst's tail for the server's delayed ACK (~30 ms a watch on loopback).
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|source| SocketError::Connect {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self { ws })
    }

    /// Sends one message, stamped with the current time.
    pub async fn send(&mut self, message: DeviceToServer) -> Result<(), SocketError> {
        let text = encode(&Envelope::new(message, crate::now_ms()));
        self.ws.send(Frame::Text(text.into())).await?;
        Ok(())
    }

    /// The next message from the server. Cancel-safe (for `select!`).
    pub async fn recv(&mut self) -> Result<Envelope<ServerToDevice>, SocketError> {
        loop {
            match self.ws.next().await {
                None => return Err(SocketError::Closed(None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Frame::Text(text))) => match decode::<ServerToDevice>(&text) {
                    Ok(envelope) => return Ok(envelope),
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable message from the server; skipped")
                    }
                },
                Some(Ok(Frame::Close(frame))) => {
                    return Err(SocketError::Closed(
                        frame.map(|f| format!("{} {}", u16::from(f.code), f.reason)),
                    ));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Closes the socket politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP server that answers a TLS ClientHello with plain text: the connection must fail
    /// in the TLS handshake, which proves `wss://` is spoken (not refused as unsupported).
    #[tokio::test]
    async fn a_wss_url_is_spoken_with_tls() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut hello = [0u8; 5];
            tcp.read_exact(&mut hello).await.unwrap();
            let _ = tcp.write_all(b"HTTP/1.1 400 not TLS\r\n\r\n").await;
            hello
        });
        let error = DeviceSocket::connect(&format!("wss://127.0.0.1:{port}/ws/device"))
            .await
            .err()
            .expect("no TLS server there");
        let hello = server.await.unwrap();
        assert_eq!(
            hello[0], 0x16,
            "a TLS handshake record arrived first: {error}"
        );
        assert!(!error.to_string().contains("not compiled"), "{error}");
    }
}
