//! Motion events, whole: the agent's simulator makes an object cross its picture every few
//! seconds, the detector starts an event, the agent tells the real server (metadata only), and
//! the owner's webhook, a small HTTP server in this test, receives it signed. Measures the time
//! from the event's start to the webhook.

use crate::common::{PASSWORD, System};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A webhook receiver: each request's body and the time it arrived (Unix ms).
async fn receiver() -> (u16, mpsc::UnboundedReceiver<(serde_json::Value, i64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tcp.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    let Some(head_end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length: usize = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if request.len() < head_end + 4 + length {
                        continue;
                    }
                    let at = mumu_probe::now_ms();
                    let body = &request[head_end + 4..head_end + 4 + length];
                    if let Ok(json) = serde_json::from_slice(body) {
                        let _ = tx.send((json, at));
                    }
                    let _ = tcp
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                    return;
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_crossing_reaches_the_owners_webhook_through_the_real_server() {
    let system = System::start_full(
        &["--test-pattern", "smpte75", "--simulate-motion-every", "4"],
        &[("MUMU_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")],
        async |_| {},
    )
    .await;
    let owner = mumu_probe::rest::login(&system.base, "owner", PASSWORD)
        .await
        .expect("the owner logs in");
    let (port, mut hooks) = receiver().await;
    let http = reqwest::Client::new();
    let set = http
        .put(format!("{}/api/webhook", system.base))
        .bearer_auth(&owner.access_token)
        .json(&serde_json::json!({"url": format!("http://127.0.0.1:{port}/hook")}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success(), "{}", set.text().await.unwrap());
    let devices: serde_json::Value = http
        .get(format!("{}/api/devices", system.base))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_id = devices[0]["id"].as_str().unwrap().to_owned();

    let (event, received) = tokio::time::timeout(Duration::from_secs(20), hooks.recv())
        .await
        .expect("a webhook within 20 s of the simulator's crossings")
        .unwrap();
    assert_eq!(event["kind"], "motion");
    assert_eq!(event["camera_id"], device_id.as_str());
    assert_eq!(event["camera_name"], "Simulator");
    assert!(event["end"].is_null(), "told as the event starts: {event}");
    let start = event["start"].as_i64().unwrap();
    let delay = received - start;
    // The start is the capture time of the first of the three moving pictures that start the
    // event (0.6 s at 5 a second), as the camera's frames date it: the delay holds detection,
    // the agent, the server and the webhook.
    eprintln!("motion start -> webhook received: {delay} ms");
    assert!(delay < 2_000, "{delay} ms from the motion's start");

    // The server keeps it, and its end, for the owner.
    let path = format!("{}/api/devices/{device_id}/events", system.base);
    let mut ended = false;
    for _ in 0..50 {
        let events: serde_json::Value = http
            .get(&path)
            .bearer_auth(&owner.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["start"] == start && e["end"].is_i64())
        {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ended, "the event's end reached the server");
}
