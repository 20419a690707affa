//! The server's ICE servers (browser `RTCIceServer` shape) as webrtcbin wants them.
//!
//! webrtcbin takes one `stun-server` URI (`stun://host:port`) and TURN servers as URIs with the
//! credentials inside (`turn://user:password@host:port?transport=udp`). The coturn REST-API
//! credentials the server mints contain `:` `/` `+` `=`, which would break that URI: they are
//! percent-encoded.

use mumu_shared::signaling::IceServer;

/// ICE servers in webrtcbin's form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebrtcbinIceServers {
    /// For the `stun-server` property (webrtcbin takes only one).
    pub stun: Option<String>,
    /// For the `add-turn-server` signal, each with its credentials.
    pub turn: Vec<String>,
}

/// Converts the servers from a `watch_request`. URLs of a scheme webrtcbin does not know are
/// left out (and logged).
pub fn for_webrtcbin(servers: &[IceServer]) -> WebrtcbinIceServers {
    let mut out = WebrtcbinIceServers::default();
    for server in servers {
        for url in &server.urls {
            let Some((scheme, rest)) = url.split_once(':') else {
                tracing::warn!(%url, "ICE server URL without a scheme; skipped");
                continue;
            };
            let rest = rest.trim_start_matches("//");
            match scheme {
                "stun" | "stuns" => {
                    if out.stun.is_none() {
                        out.stun = Some(format!("{scheme}://{rest}"));
                    }
                }
                "turn" | "turns" => {
                    let user = server.username.as_deref().unwrap_or_default();
                    let password = server.credential.as_deref().unwrap_or_default();
                    out.turn.push(format!(
                        "{scheme}://{}:{}@{rest}",
                        percent_encode(user),
                        percent_encode(password)
                    ));
                }
                _ => tracing::warn!(%url, "ICE server URL of an unknown scheme; skipped"),
            }
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_are_percent_encoded_into_the_uri() {
        let servers = [IceServer {
            urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            username: Some("1767225600:b7e4/d1c2".into()),
            credential: Some("a+b/c==".into()),
        }];
        let converted = for_webrtcbin(&servers);
        assert_eq!(
            converted.turn,
            ["turn://1767225600%3Ab7e4%2Fd1c2:a%2Bb%2Fc%3D%3D@127.0.0.1:3478?transport=udp"]
        );
        assert_eq!(converted.stun, None);
    }

    #[test]
    fn only_the_first_stun_server_is_kept_and_unknown_schemes_are_skipped() {
        let servers = [IceServer {
            urls: vec![
                "stun:stun.example.org:3478".into(),
                "stun:second.example.org".into(),
                "http://nonsense".into(),
                "turns:turn.example.org:5349?transport=tcp".into(),
            ],
            username: Some("u".into()),
            credential: Some("p".into()),
        }];
        let converted = for_webrtcbin(&servers);
        assert_eq!(
            converted.stun.as_deref(),
            Some("stun://stun.example.org:3478")
        );
        assert_eq!(
            converted.turn,
            ["turns://u:p@turn.example.org:5349?transport=tcp"]
        );
    }
}
