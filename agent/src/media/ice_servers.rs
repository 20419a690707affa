//! ICE for a viewer's webrtcbin: the server's ICE servers (browser `RTCIceServer` shape) as
//! webrtcbin wants them, and the tuning of its libnice agent.
//!
//! webrtcbin takes one `stun-server` URI (`stun://host:port`) and TURN servers as URIs with the
//! credentials inside (`turn://user:password@host:port?transport=udp`). The coturn REST-API
//! credentials the server mints contain `:` `/` `+` `=`, which would break that URI: they are
//! percent-encoded.

use gstreamer as gst;
use gstreamer::prelude::*;
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

/// libnice's pause between connectivity checks (RFC 8445 allows Ta down to 5 ms; a camera
/// checks a handful of pairs, so the extra packets are nothing).
const ICE_PACING_MS: u32 = 5;

/// Sets up webrtcbin's libnice agent before it gathers:
/// - no UPnP. IGD discovery holds gathering open (200 ms, or seconds with a router that
///   answers), and with it on, a Chromium viewer that left right after its first frame crashed
///   the agent in webrtcbin 1.22's "gathering done" handler (libgstwebrtcnice, every time in
///   the web benchmark's runs). Browsers do not use UPnP either: STUN and TURN reach through
///   NATs.
/// - connectivity checks paced at [`ICE_PACING_MS`] instead of 20 ms. libnice checks one pair
///   per tick and nominates with one more check, so with a few candidates on each side its
///   20 ms made ICE take ~60 ms of the ~150 ms to the first frame on loopback; at 5 ms, ~16.
///
/// Returns false when this GStreamer does not expose the agent (`ice-agent` came in 1.22).
pub fn tune(webrtcbin: &gst::Element) -> bool {
    let Some(agent) = nice_agent(webrtcbin) else {
        return false;
    };
    if agent.find_property("upnp").is_some() {
        agent.set_property("upnp", false);
    }
    if agent.find_property("stun-pacing-timer").is_some() {
        agent.set_property("stun-pacing-timer", ICE_PACING_MS);
    }
    true
}

/// How long libnice's check timer runs on, once the peer connection is up, with no check
/// left to make (libnice: 5 s).
const IDLE_AFTER_CONNECTED_MS: u32 = 100;

/// Lets libnice's check timer stop soon after the peer connection is up. With no check left,
/// libnice keeps ticking every Ta for its `idle-timeout` (5 s), a grace before declaring
/// unconnected components failed; a connected one has no use for it. At a 5 ms Ta that was a
/// thousand wake-ups per joining viewer, and 16 viewers joining kept a core busy for those 5
/// s. A candidate arriving later starts the timer again. Returns false when libnice does not
/// have the setting.
pub fn quiet_after_connected(webrtcbin: &gst::Element) -> bool {
    match nice_agent(webrtcbin) {
        Some(agent) if agent.find_property("idle-timeout").is_some() => {
            agent.set_property("idle-timeout", IDLE_AFTER_CONNECTED_MS);
            true
        }
        _ => false,
    }
}

/// webrtcbin's libnice `NiceAgent`, where this GStreamer exposes it.
fn nice_agent(webrtcbin: &gst::Element) -> Option<gst::glib::Object> {
    webrtcbin.find_property("ice-agent")?;
    let ice = webrtcbin.property::<gst::glib::Object>("ice-agent");
    ice.find_property("agent")?;
    Some(ice.property::<gst::glib::Object>("agent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libnice_is_tuned_before_it_gathers() {
        gst::init().unwrap();
        let webrtcbin = gst::ElementFactory::make("webrtcbin").build().unwrap();
        assert!(tune(&webrtcbin), "webrtcbin exposes its NiceAgent");
        let agent = webrtcbin
            .property::<gst::glib::Object>("ice-agent")
            .property::<gst::glib::Object>("agent");
        assert!(!agent.property::<bool>("upnp"));
        assert_eq!(agent.property::<u32>("stun-pacing-timer"), ICE_PACING_MS);
        assert!(
            agent.property::<u32>("idle-timeout") > IDLE_AFTER_CONNECTED_MS,
            "the grace for unconnected components stays until the connection is up"
        );
        assert!(quiet_after_connected(&webrtcbin));
        assert_eq!(
            agent.property::<u32>("idle-timeout"),
            IDLE_AFTER_CONNECTED_MS
        );
    }

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
