//! Interoperability: a stock aiortc viewer (PyPI's aiortc 1.16 as shipped, which offers only
//! ECDHE-ECDSA cipher suites in its DTLS handshake) watches the real agent through the real
//! server, and decodes its H.264. The signaling is done here with the probe's library; the
//! Python side (`tests/aiortc/viewer.py`) is only the peer connection.
//!
//! Needs `MUMU_AIORTC_PYTHON`, a Python with aiortc (scripts/lib.sh's `ensure_aiortc` makes the
//! venv from `tests/aiortc/requirements.txt`). Without it the test says so and passes, unless
//! `MUMU_AIORTC=required`, which `scripts/test` sets.

mod common;

use common::{PASSWORD, System};
use mumu_probe::watch::open_socket;
use mumu_shared::signaling::{
    ServerToViewer, SessionIce, SessionSdp, ViewerToServer, ViewerWatchRequest,
};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Frames the viewer must decode.
const FRAMES: u32 = 30;

fn aiortc_python() -> Option<String> {
    match std::env::var("MUMU_AIORTC_PYTHON") {
        Ok(python) => Some(python),
        Err(_) if std::env::var("MUMU_AIORTC").as_deref() == Ok("required") => {
            panic!(
                "MUMU_AIORTC=required but MUMU_AIORTC_PYTHON is not set (scripts/lib.sh: ensure_aiortc)"
            )
        }
        Err(_) => {
            eprintln!("skipped: MUMU_AIORTC_PYTHON is not set (scripts/lib.sh: ensure_aiortc)");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_aiortc_viewer_watches_the_agent_first_time_after_it_starts() {
    let Some(python) = aiortc_python() else {
        return;
    };
    let system = System::start().await;
    let (mut socket, ack) = open_socket(&system.base, "owner", PASSWORD)
        .await
        .expect("the owner's viewer socket opens");
    let mut device = ack
        .devices
        .iter()
        .find(|d| d.online)
        .map(|d| d.device_id.clone());
    while device.is_none() {
        if let ServerToViewer::DevicePresence(presence) = socket.recv().await.unwrap().message
            && presence.online
        {
            device = Some(presence.device_id);
        }
    }

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aiortc/viewer.py");
    let viewer = Command::new(&python)
        .arg(script)
        .arg(FRAMES.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} did not start: {e}"));
    let mut viewer = common::Running(viewer);
    let mut to_viewer = viewer.0.stdin.take().unwrap();
    // Its lines, read on a thread of their own; the channel closes when it exits.
    let (said_tx, mut from_viewer) = tokio::sync::mpsc::unbounded_channel();
    let stdout = BufReader::new(viewer.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if said_tx.send(line).is_err() {
                break;
            }
        }
    });

    let requested = Instant::now();
    socket
        .send(
            ViewerToServer::WatchRequest(ViewerWatchRequest::new(device.unwrap())),
            Some("aiortc"),
        )
        .await
        .unwrap();
    let mut session = None;
    let mut offer_ms = None;
    let mut first_frame = None;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            tokio::select! {
                envelope = socket.recv() => {
                    let line = match envelope.expect("the socket stays open").message {
                        ServerToViewer::WatchReady(ready) => {
                            session = Some(ready.session_id);
                            continue;
                        }
                        ServerToViewer::SignalOffer(SessionSdp { sdp, .. }) => {
                            offer_ms = Some(requested.elapsed().as_secs_f64() * 1e3);
                            json!({ "offer": sdp })
                        }
                        ServerToViewer::SignalIce(SessionIce { candidate, .. }) => json!({
                            "candidate": candidate.map(|c| json!({
                                "candidate": c.candidate,
                                "sdpMid": c.sdp_mid,
                                "sdpMLineIndex": c.sdp_m_line_index,
                            }))
                        }),
                        ServerToViewer::WatchEnded(ended) => {
                            return Err(format!("the watch ended: {ended:?}"));
                        }
                        ServerToViewer::Error(e) => return Err(format!("refused: {e}")),
                        _ => continue,
                    };
                    writeln!(to_viewer, "{line}").expect("the aiortc viewer reads");
                }
                line = from_viewer.recv() => {
                    let Some(line) = line else {
                        return Err("the aiortc viewer exited without a word".to_owned());
                    };
                    let said: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON from the viewer ({e}): {line}"));
                    if let Some(sdp) = said["answer"].as_str() {
                        let session_id = session.clone().expect("watch_ready came before the offer");
                        socket
                            .send(ViewerToServer::SignalAnswer(SessionSdp { session_id, sdp: sdp.to_owned() }), None)
                            .await
                            .unwrap();
                    } else if said.get("first_frame_ms").is_some() {
                        first_frame = Some((requested.elapsed().as_secs_f64() * 1e3, said));
                    } else if said.get("frames").is_some() {
                        return Ok(said);
                    } else if let Some(error) = said["error"].as_str() {
                        return Err(format!("aiortc: {error}"));
                    }
                }
            }
        }
    })
    .await;
    let done = match outcome {
        Ok(Ok(done)) => done,
        Ok(Err(why)) => panic!("{why}\n--- agent log ---\n{}", system.agent_log()),
        Err(_) => panic!(
            "no {FRAMES} frames in 30 s\n--- agent log ---\n{}",
            system.agent_log()
        ),
    };
    let (first_frame_ms, first) = first_frame.expect("the first frame was reported");
    assert_eq!(first["width"], 640, "{first}");
    assert_eq!(first["height"], 480, "{first}");
    assert_eq!(done["frames"], FRAMES, "{done}");
    println!(
        "aiortc 1.16 viewer, the agent's first watch: offer {:.0} ms, first decoded frame {first_frame_ms:.0} ms after the watch request; {FRAMES} frames in {:.2} s",
        offer_ms.unwrap_or(f64::NAN),
        done["seconds"].as_f64().unwrap_or(f64::NAN)
    );
}
