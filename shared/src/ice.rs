//! What a viewer says when its peer connection never connected: the probe and the web app give
//! the same diagnosis, in words a person running MuMu can act on.

use crate::signaling::IceServer;

/// Whether `servers` include a relay (a `turn:` or `turns:` URL).
pub fn has_turn(servers: &[IceServer]) -> bool {
    servers
        .iter()
        .flat_map(|s| &s.urls)
        .any(|url| url.starts_with("turn:") || url.starts_with("turns:"))
}

/// What became of the relay for a viewer that could not reach the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    /// No TURN server was handed out.
    NotConfigured,
    /// The TURN server answered 401: it does not accept the credentials.
    Refused,
    /// The TURN server did not answer.
    Unreachable,
    /// No relay address came, and the viewer cannot tell why (webrtc-rs does not say).
    NoAddress,
    /// A relay address came, and still nothing connected.
    Gathered,
}

/// Why the camera could not be reached, given what became of the relay.
pub fn unreachable_reason(relay: Relay) -> &'static str {
    match relay {
        Relay::NotConfigured => {
            "no direct path to the camera worked, and no relay (TURN) server is configured: \
             set TURN_URLS on the server (docs/turn.md)"
        }
        Relay::Refused => {
            "no direct path to the camera worked, and the relay (TURN) server refused our \
             credentials: does the server's TURN_SECRET match coturn's static-auth-secret, and \
             are both clocks right?"
        }
        Relay::Unreachable => {
            "no direct path to the camera worked, and the relay (TURN) server could not be \
             reached: is it running, and does the firewall let its port through?"
        }
        Relay::NoAddress => {
            "no direct path to the camera worked, and the relay (TURN) server gave no relay \
             address: it refused our credentials (does TURN_SECRET match coturn's \
             static-auth-secret?) or could not be reached"
        }
        Relay::Gathered => {
            "no path to the camera worked, not even through the relay (TURN) server: is the \
             camera's network blocking it?"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_turn_urls_count_as_a_relay() {
        let server = |url: &str| IceServer {
            urls: vec![url.into()],
            username: None,
            credential: None,
        };
        assert!(!has_turn(&[server("stun:s:3478")]));
        assert!(has_turn(&[
            server("stun:s"),
            server("turns:t:443?transport=tcp")
        ]));
        assert!(!has_turn(&[]));
    }
}
