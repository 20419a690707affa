//! The several-servers benchmark: three `mumu-server` processes on PostgreSQL and Redis behind
//! Debian's nginx (`tests/common/cluster.rs` starts them, with the config in `docker/nginx/`),
//! a camera connected through nginx. It prints:
//!
//! 1. kill -9 of the server holding the camera, mid-watch, N times (the killed server started
//!    again after each): time from the kill to the camera online again on a dashboard held by
//!    a third server, to the viewer (on the second server) being told its watch ended, and to
//!    the first decoded frame of the watch it starts again; each kill and the p50;
//! 2. viewer sockets opened through nginx's one address: how many each server holds, each
//!    server's RSS before and after, and nginx's.
//!
//! `cargo bench -p mumu-probe --bench several_servers`, with nginx and redis-server installed
//! and PostgreSQL running (`scripts/test` sees to all three). `MUMU_BENCH_KILLS` (default 5) and
//! `MUMU_BENCH_SOCKETS` (default 3000) set the sizes. Under `cargo test --all-targets` it makes
//! a small smoke run with debug builds; its figures mean nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::{build_release_binaries, env_u64, percentile};
use common::cluster::{Cluster, SERVERS, rss_mib};
use mumu_probe::viewer_socket::ViewerSocket;
use mumu_shared::PROTOCOL_VERSION;
use mumu_shared::signaling::{ServerToViewer, ViewerHello, ViewerToServer};
use std::time::Duration;

/// Lets this process hold as many sockets as its hard limit allows.
fn raise_fd_limit() {
    let _ = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .map(|max| {
            rustix::process::setrlimit(
                rustix::process::Resource::Nofile,
                rustix::process::Rlimit {
                    current: Some(max),
                    maximum: Some(max),
                },
            )
        });
}

/// A viewer socket through `base`, past hello.
async fn viewer(base: &str, token: &str) -> ViewerSocket {
    let url = format!("{}/ws/viewer", base.replacen("http", "ws", 1));
    let mut socket = ViewerSocket::connect(&url, token)
        .await
        .expect("a viewer socket");
    let hello = ViewerToServer::Hello(ViewerHello {
        protocol: PROTOCOL_VERSION,
        token: None,
    });
    socket.send(hello, None).await.unwrap();
    match socket.recv().await.unwrap().message {
        ServerToViewer::HelloAck(_) => socket,
        other => panic!("expected hello_ack, got {other:?}"),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    if !smoke {
        build_release_binaries();
    }
    let kills = if smoke {
        1
    } else {
        env_u64("MUMU_BENCH_KILLS", 5)
    } as usize;
    let sockets = if smoke {
        30
    } else {
        env_u64("MUMU_BENCH_SOCKETS", 3000)
    } as usize;
    raise_fd_limit();
    println!(
        "MuMu several-servers benchmark ({} builds, {SERVERS} servers behind nginx, PostgreSQL, Redis){}",
        if smoke { "debug" } else { "release" },
        if smoke {
            " -- smoke run under cargo test: figures meaningless"
        } else {
            ""
        }
    );
    let mut cluster = Cluster::start(&[
        ("MUMU_WATCHES_PER_MIN", "10000"),
        ("MUMU_MAX_SOCKETS_PER_USER", "100000"),
        ("MUMU_MAX_CONNECTIONS", "100000"),
        ("RUST_LOG", "warn"),
    ])
    .await;
    let owner = cluster.register_owner().await;
    let _camera = cluster.camera(&owner, "front", &cluster.base).await;

    println!("\n## kill -9 of the camera's server, mid-watch ({kills} kills)");
    println!("| kill | camera online again | watch ended | video back |");
    println!("| --- | --- | --- | --- |");
    let (mut online, mut ended, mut video) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=kills {
        let kill = cluster.kill_mid_watch().await;
        println!(
            "| {n} (server {}) | {:.0} ms | {:.0} ms ({}) | {:.0} ms |",
            kill.killed,
            kill.online_ms,
            kill.ended_ms,
            kill.ended.as_deref().unwrap_or("not ended"),
            kill.video_ms
        );
        online.push(kill.online_ms);
        ended.push(kill.ended_ms);
        video.push(kill.video_ms);
        cluster.restart(kill.killed).await;
    }
    for v in [&mut online, &mut ended, &mut video] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "| p50 | {:.0} ms | {:.0} ms | {:.0} ms |",
        percentile(&online, 50.0),
        percentile(&ended, 50.0),
        percentile(&video, 50.0)
    );

    println!("\n## {sockets} viewer sockets through nginx's one address");
    let before: Vec<f64> = (0..SERVERS).map(|i| rss_mib(cluster.pid(i))).collect();
    let token = owner.access_token.clone();
    let mut open = Vec::with_capacity(sockets);
    for _ in 0..sockets {
        open.push(viewer(&cluster.base, &token).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("| server | viewer sockets | device sockets | RSS before | RSS with the sockets |");
    println!("| --- | --- | --- | --- | --- |");
    for (i, rss_before) in before.iter().enumerate() {
        println!(
            "| {i} | {} | {} | {rss_before:.1} MiB | {:.1} MiB |",
            cluster.metric(i, "mumu_sockets{kind=\"viewer\"}").await,
            cluster.device_sockets(i).await,
            rss_mib(cluster.pid(i))
        );
    }
    println!("nginx: {:.1} MiB", cluster.nginx_rss_mib());
    drop(open);
}
