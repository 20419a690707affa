//! Event → webhook latency on loopback: a camera's `motion_event` sent on its socket, to the
//! signed webhook received by a small HTTP server in this process, through the real server
//! (stored, decided by the notification policy, queued, posted). Prints p50 / p99 / max.
//!
//! `cargo run -p mumu-server --example event_latency [EVENTS]` (default 50). `MUMU_BENCH_STACK=
//! scaled` runs it on PostgreSQL and Redis (`MUMU_TEST_POSTGRES_URL`, `MUMU_TEST_REDIS_URL`).

#[path = "../tests/common/mod.rs"]
mod common;

use common::receiver::Receiver;
use common::{Stack, TestServer};
use mumu_shared::signaling::{DeviceToServer, MotionEvent};
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let stack = match std::env::var("MUMU_BENCH_STACK").as_deref() {
        Ok("scaled") => Stack::Scaled,
        _ => Stack::Embedded,
    };
    let server = TestServer::start_with(stack, |c| {
        c.events.webhook_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await;
    let (owner, device) = server.user_with_device("alice").await;
    let mut hooks = Receiver::start().await;
    let status = server
        .http
        .put(server.url("/api/webhook"))
        .bearer_auth(&owner.access_token)
        .json(&serde_json::json!({"url": hooks.url("/hook")}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "webhook set: {status}");
    let cooldown = format!("/api/devices/{}/notifications", device.device_id);
    let (status, _) = server
        .patch(
            &cooldown,
            &owner.access_token,
            &serde_json::json!({"cooldown_secs": 0}),
        )
        .await;
    assert_eq!(status, 200);
    let mut camera = server.device_online(&device).await;

    let mut latencies: Vec<Duration> = Vec::with_capacity(events);
    for _ in 0..events {
        server.clock.advance_ms(1_000);
        let sent = Instant::now();
        camera
            .send(DeviceToServer::MotionEvent(MotionEvent {
                start: server.now(),
                end: None,
                zones: vec!["door".into()],
                peak_score: 300,
            }))
            .await;
        let delivery = hooks.next().await;
        latencies.push(delivery.at - sent);
        // Events a little apart, as a camera makes them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "event -> webhook on loopback ({stack:?} stack, {events} events): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}
