//! What `getStats()` says about a watch, boiled down for the stats panel: resolution, frame
//! rate, bitrate, round-trip time, the candidate type in use, jitter and loss.

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

/// The raw numbers of one `getStats()` call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// When it was taken (ms, the stats' own clock).
    pub at_ms: f64,
    pub bytes_received: f64,
    pub frames_decoded: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<f64>,
    pub packets_lost: i64,
    pub packets_received: i64,
    pub jitter_s: Option<f64>,
    pub rtt_s: Option<f64>,
    /// The local candidate type of the selected pair (host, srflx, prflx, relay).
    pub candidate: Option<String>,
    /// The remote candidate type of the selected pair.
    pub remote_candidate: Option<String>,
    /// How this browser's packets leave it: the local candidate's `relayProtocol` when it is
    /// a relay (to the TURN server), its `protocol` otherwise.
    pub transport: Option<String>,
}

/// The panel's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub resolution: Option<(u32, u32)>,
    pub fps: Option<f64>,
    pub bitrate_bps: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub candidate: Option<String>,
    pub jitter_ms: Option<f64>,
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub frames_decoded: u64,
    /// The badge on the tile: `direct · UDP`, `relayed · TCP`...
    pub path: Option<String>,
}

impl Sample {
    /// Whether the selected pair goes through a TURN relay at either end.
    pub fn relayed(&self) -> bool {
        self.candidate.as_deref() == Some("relay")
            || self.remote_candidate.as_deref() == Some("relay")
    }
}

/// Direct or relayed (either end on a TURN relay), and over what this browser sends.
pub fn path(sample: &Sample) -> Option<String> {
    sample.candidate.as_ref()?;
    let way = if sample.relayed() {
        "relayed"
    } else {
        "direct"
    };
    Some(match &sample.transport {
        Some(transport) => format!("{way} · {}", transport.to_ascii_uppercase()),
        None => way.to_owned(),
    })
}

/// The figures from this sample, with rates against the previous one.
pub fn summarize(previous: Option<&Sample>, now: &Sample) -> Stats {
    let rate = |f: fn(&Sample) -> f64| {
        previous.and_then(|p| {
            let dt = (now.at_ms - p.at_ms) / 1000.0;
            (dt > 0.0).then(|| (f(now) - f(p)) / dt)
        })
    };
    let candidate = match (&now.candidate, &now.remote_candidate) {
        (Some(local), Some(remote)) if local != remote => Some(format!("{local} → {remote}")),
        (Some(local), _) => Some(local.clone()),
        (None, remote) => remote.clone(),
    };
    let total = now.packets_received + now.packets_lost.max(0);
    Stats {
        resolution: now.width.zip(now.height),
        fps: now.fps.or_else(|| rate(|s| s.frames_decoded)),
        bitrate_bps: rate(|s| s.bytes_received).map(|b| b * 8.0),
        rtt_ms: now.rtt_s.map(|s| s * 1000.0),
        candidate,
        jitter_ms: now.jitter_s.map(|s| s * 1000.0),
        packets_lost: now.packets_lost,
        loss_percent: if total > 0 {
            now.packets_lost.max(0) as f64 * 100.0 / total as f64
        } else {
            0.0
        },
        frames_decoded: now.frames_decoded as u64,
        path: path(now),
    }
}

fn field(stat: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(stat, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn number(stat: &JsValue, name: &str) -> Option<f64> {
    field(stat, name)?.as_f64()
}

fn text(stat: &JsValue, name: &str) -> Option<String> {
    field(stat, name)?.as_string()
}

/// Takes a sample of `pc`'s statistics.
pub async fn sample(pc: &RtcPeerConnection) -> Option<Sample> {
    let report = JsFuture::from(pc.get_stats()).await.ok()?;
    let mut stats = Vec::new();
    for entry in js_sys::try_iter(&report).ok()??.flatten() {
        let pair = js_sys::Array::from(&entry);
        stats.push(pair.get(1));
    }
    let by_id = |id: &str| stats.iter().find(|s| text(s, "id").as_deref() == Some(id));
    let mut sample = Sample::default();
    let mut selected_pair = None;
    for stat in &stats {
        match text(stat, "type").as_deref() {
            Some("inbound-rtp") if text(stat, "kind").as_deref() == Some("video") => {
                sample.at_ms = number(stat, "timestamp").unwrap_or_default();
                sample.bytes_received = number(stat, "bytesReceived").unwrap_or_default();
                sample.frames_decoded = number(stat, "framesDecoded").unwrap_or_default();
                sample.width = number(stat, "frameWidth").map(|v| v as u32);
                sample.height = number(stat, "frameHeight").map(|v| v as u32);
                sample.fps = number(stat, "framesPerSecond");
                sample.packets_lost = number(stat, "packetsLost").unwrap_or_default() as i64;
                sample.packets_received =
                    number(stat, "packetsReceived").unwrap_or_default() as i64;
                sample.jitter_s = number(stat, "jitter");
            }
            Some("transport") => {
                if let Some(id) = text(stat, "selectedCandidatePairId") {
                    selected_pair = by_id(&id).cloned();
                }
            }
            Some("candidate-pair")
                if selected_pair.is_none()
                    && text(stat, "state").as_deref() == Some("succeeded")
                    && field(stat, "nominated").and_then(|v| v.as_bool()) == Some(true) =>
            {
                selected_pair = Some(stat.clone());
            }
            _ => {}
        }
    }
    if let Some(pair) = selected_pair {
        sample.rtt_s = number(&pair, "currentRoundTripTime");
        let kind = |key: &str| {
            text(&pair, key)
                .and_then(|id| by_id(&id).cloned())
                .and_then(|c| text(&c, "candidateType"))
        };
        sample.candidate = kind("localCandidateId");
        sample.remote_candidate = kind("remoteCandidateId");
        let local = text(&pair, "localCandidateId").and_then(|id| by_id(&id).cloned());
        sample.transport = local.and_then(|c| {
            let relay_protocol = (text(&c, "candidateType").as_deref() == Some("relay"))
                .then(|| text(&c, "relayProtocol"))
                .flatten();
            relay_protocol.or_else(|| text(&c, "protocol"))
        });
    }
    Some(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: f64, bytes: f64, frames: f64) -> Sample {
        Sample {
            at_ms,
            bytes_received: bytes,
            frames_decoded: frames,
            width: Some(1280),
            height: Some(720),
            packets_received: 990,
            packets_lost: 10,
            jitter_s: Some(0.004),
            rtt_s: Some(0.0012),
            candidate: Some("host".into()),
            remote_candidate: Some("host".into()),
            ..Sample::default()
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let first = sample(1000.0, 100_000.0, 30.0);
        let second = sample(2000.0, 350_000.0, 60.0);
        let stats = summarize(Some(&first), &second);
        assert_eq!(stats.bitrate_bps, Some(2_000_000.0));
        assert_eq!(
            stats.fps,
            Some(30.0),
            "no framesPerSecond: counted from frames decoded"
        );
        assert_eq!(stats.resolution, Some((1280, 720)));
        assert_eq!(stats.rtt_ms, Some(1.2));
        assert_eq!(stats.jitter_ms, Some(4.0));
        assert_eq!(stats.candidate.as_deref(), Some("host"));
        assert!((stats.loss_percent - 1.0).abs() < 1e-9);
    }

    #[test]
    fn the_first_sample_has_no_rates_yet() {
        let stats = summarize(None, &sample(1000.0, 5.0, 1.0));
        assert_eq!(stats.bitrate_bps, None);
        assert_eq!(stats.frames_decoded, 1);
    }

    #[test]
    fn the_badge_says_direct_or_relayed_and_how() {
        let mut s = sample(0.0, 0.0, 0.0);
        s.transport = Some("udp".into());
        assert_eq!(path(&s).as_deref(), Some("direct · UDP"));
        s.candidate = Some("relay".into());
        s.transport = Some("tcp".into());
        assert_eq!(path(&s).as_deref(), Some("relayed · TCP"));
        // The camera's relay counts too: the media goes through coturn either way.
        s.candidate = Some("srflx".into());
        s.remote_candidate = Some("relay".into());
        s.transport = Some("udp".into());
        assert_eq!(path(&s).as_deref(), Some("relayed · UDP"));
        s.candidate = None;
        assert_eq!(path(&s), None, "no selected pair yet");
    }

    #[test]
    fn a_relayed_pair_shows_both_ends() {
        let mut s = sample(0.0, 0.0, 0.0);
        s.candidate = Some("relay".into());
        s.remote_candidate = Some("host".into());
        assert_eq!(
            summarize(None, &s).candidate.as_deref(),
            Some("relay → host")
        );
    }
}
