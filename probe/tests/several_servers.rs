//! Several servers behind one address, as a deployment runs them (see `common::cluster`): three
//! `mumu-server` processes on PostgreSQL and a Redis of the test's own, behind Debian's nginx
//! with the config shipped in `docker/nginx/`. The camera connects through nginx; viewers reach
//! chosen servers through nginx too. Needs nginx and redis-server (scripts/test installs them)
//! and the machine's PostgreSQL.

mod common;

use common::browser::Browser;
use common::cluster::{Cluster, SERVERS, watch_at};
use common::push::push_service::PushService;
use common::push::{server_env as push_env, vapid_keys};
use common::{PASSWORD, pair, pairing_code, start_named_agent, wait_until};
use mumu_probe::watch::open_socket;
use mumu_shared::signaling::{Heartbeat, ServerToViewer, ViewerToServer, ViewerWatchRequest};
use mumu_shared::{DeviceId, ErrorCode};
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The servers other than `one`.
fn others(one: usize) -> Vec<usize> {
    (0..SERVERS).filter(|i| *i != one).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_on_one_server_is_watched_from_the_other_two_through_nginx() {
    let cluster = Cluster::start(&[]).await;
    let owner = cluster.register_owner().await;
    let _camera = cluster.camera(&owner, "front", &cluster.base).await;
    let holder = cluster.holder().await;
    let [a, b] = others(holder)[..] else {
        unreachable!()
    };

    // Each of nginx's pinned ports leads to its server alone.
    let (socket, ack) = open_socket(cluster.pinned(a), "owner", PASSWORD)
        .await
        .unwrap();
    assert!(ack.devices.iter().any(|d| d.online), "{ack:?}");
    for i in 0..SERVERS {
        let viewers = cluster.metric(i, "mumu_sockets{kind=\"viewer\"}").await;
        assert_eq!(viewers, f64::from(i == a), "viewer sockets on server {i}");
    }
    socket.close().await;

    // Two viewers, each on a server that does not hold the camera, at once.
    let (one, two) = tokio::join!(
        watch_at(cluster.pinned(a).to_owned(), 4.0),
        watch_at(cluster.pinned(b).to_owned(), 4.0)
    );
    for summary in [one.unwrap(), two.unwrap()] {
        assert!(summary.first_frame_verified, "{summary:?}");
        assert!(summary.fps >= 25.0, "{summary:?}");
        assert_eq!(summary.large_gaps, 0, "{summary:?}");
        assert_eq!(summary.ended_early, None, "{summary:?}");
    }

    // What a browser relies on passes through nginx: the session cookie, and the Origin check
    // on the viewer socket's upgrade (the site's own origin in, any other out).
    let login = reqwest::Client::new()
        .post(format!("{}/api/auth/login", cluster.base))
        .json(&serde_json::json!({ "username": "owner", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mumu_session="))
        .and_then(|v| v.split(';').next())
        .expect("the login sets the session cookie through nginx")
        .to_owned();
    let upgrade = |origin: &str| {
        let url = format!("{}/ws/viewer", cluster.pinned(b).replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let own_origin = cluster.pinned(b).to_owned();
    let (_ws, response) = upgrade(&own_origin)
        .await
        .expect("the site's own page opens the viewer socket with its cookie");
    assert_eq!(response.status(), 101);
    match upgrade("http://evil.example").await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign page's upgrade is refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_watch_loses_no_camera_and_leaves_no_ghost() {
    let mut cluster = Cluster::start(&[]).await;
    let owner = cluster.register_owner().await;
    let _front = cluster.camera(&owner, "front", &cluster.base).await;
    let holder = cluster.holder().await;
    // A second camera that knows only the server about to die (not nginx's address): it
    // cannot come back, so it must go offline on every dashboard.
    let _porch = cluster
        .camera(&owner, "porch", &cluster.direct(holder))
        .await;

    let kill = cluster.kill_mid_watch().await;
    eprintln!(
        "kill -9 of server {}: camera online again after {:.0} ms, watch ended after {:.0} ms ({:?}), video back after {:.0} ms",
        kill.killed, kill.online_ms, kill.ended_ms, kill.ended, kill.video_ms
    );
    assert_eq!(kill.killed, holder);
    let heartbeat_ms = 20_000.0;
    assert!(
        kill.online_ms < 2.0 * heartbeat_ms,
        "online again within two heartbeats: {kill:?}"
    );
    assert!(
        kill.ended
            .as_deref()
            .is_some_and(|why| why.contains("device_disconnected")),
        "the viewer is told the camera disconnected: {kill:?}"
    );
    assert!(kill.video_ms < 2.0 * heartbeat_ms, "{kill:?}");

    // The camera that cannot come back goes offline on every dashboard, and nothing that is
    // offline stays "online" anywhere.
    wait_until(
        "the stranded camera offline on the dashboard",
        Duration::from_secs(30),
        || {
            kill.heard
                .lock()
                .unwrap()
                .iter()
                .any(|(_, name, online)| name == "porch" && !online)
                .then_some(())
        },
    )
    .await;
    for i in cluster.running() {
        let devices: Vec<mumu_shared::api::Device> = reqwest::Client::new()
            .get(format!("{}/api/devices", cluster.pinned(i)))
            .bearer_auth(&owner.access_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for device in devices {
            assert_eq!(
                device.is_online,
                device.name == "front",
                "server {i}: {device:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_web_app_watches_across_servers_and_comes_back_by_itself_after_a_kill() {
    let site = common::browser::site_root();
    let cluster_env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let mut cluster = Cluster::start(&cluster_env).await;
    compressed_once_through_nginx(&cluster.base, &site).await;
    let owner = cluster.register_owner().await;
    let _camera = cluster.camera(&owner, "front", &cluster.base).await;
    let holder = cluster.holder().await;
    let viewer_at = others(holder)[0];
    // Chromium at a server that does not hold the camera, through nginx: cookie login, the
    // app, its socket and the watch all pass through it.
    let browser = Browser::logged_in_as_owner(cluster.pinned(viewer_at)).await;
    let first_frame_ms = browser.watch_from_dashboard().await;
    eprintln!("Chromium, across servers: first frame {first_frame_ms:.0} ms after the click");
    browser.assert_frames_rise(1).await;

    browser.record_phases().await;
    let killed = std::time::Instant::now();
    cluster.kill(holder);
    let phases = browser
        .live_again(
            "after the camera's server was killed",
            Duration::from_secs(40),
        )
        .await;
    eprintln!(
        "Chromium: video back {:.1} s after kill -9 of the camera's server (phases {phases})",
        killed.elapsed().as_secs_f64()
    );
    browser.assert_frames_rise(1).await;
    browser.close().await;
}

/// Through the shipped nginx config: a page (which the servers send as it is) arrives gzipped
/// by nginx, and the app's precompressed files arrive exactly as built, never compressed twice.
async fn compressed_once_through_nginx(base: &str, site: &std::path::Path) {
    let http = reqwest::Client::new();
    let get = |path: String, encodings: &'static str| {
        let request = http.get(format!("{base}{path}"));
        async move {
            let response = request
                .header("accept-encoding", encodings)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let encoding = response.headers().get("content-encoding").cloned();
            let encoding = encoding
                .map(|e| e.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (encoding, response.bytes().await.unwrap().to_vec())
        }
    };
    let (encoding, page) = get("/login".into(), "gzip").await;
    assert_eq!(encoding, "gzip", "nginx compresses the page");
    assert!(page.starts_with(&[0x1f, 0x8b]), "one gzip stream");

    // A release build names its files in hash.txt; a development build has no compressed copies.
    let Ok(hashes) = std::fs::read_to_string(site.join("hash.txt")) else {
        return;
    };
    let wasm = hashes
        .lines()
        .find_map(|l| l.strip_prefix("wasm: "))
        .unwrap();
    let file = format!("/pkg/mumu.{wasm}.wasm");
    for (offered, sent, copy) in [("br, gzip", "br", ".br"), ("gzip", "gzip", ".gz")] {
        let (encoding, body) = get(file.clone(), offered).await;
        let built = std::fs::read(site.join(format!("{}{copy}", &file[1..]))).unwrap();
        assert_eq!(encoding, sent, "{file} for {offered}");
        assert!(
            body == built,
            "{file} arrives as built in {sent}, compressed once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_watch_stops_no_watch_and_every_server_recovers_by_itself() {
    // Heartbeats every 3 s: the camera's presence is claimed again soon after Redis is back.
    let mut cluster = Cluster::start(&[("MUMU_HEARTBEAT_SECS", "3")]).await;
    let owner = cluster.register_owner().await;
    let _camera = cluster.camera(&owner, "front", &cluster.base).await;
    let holder = cluster.holder().await;
    let [across, third] = others(holder)[..] else {
        unreachable!()
    };
    // One watch on the camera's own server, one across servers; and two open dashboards.
    let local = tokio::spawn(watch_at(cluster.pinned(holder).to_owned(), 10.0));
    let remote = tokio::spawn(watch_at(cluster.pinned(across).to_owned(), 10.0));
    let (mut beside, ack) = open_socket(cluster.pinned(holder), "owner", PASSWORD)
        .await
        .unwrap();
    let device_id: DeviceId = ack.devices[0].device_id.clone();
    let (mut afar, _) = open_socket(cluster.pinned(third), "owner", PASSWORD)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    cluster.kill_redis();
    // Every server says it is not ready, and why.
    let checks = futures_util::future::join_all((0..SERVERS).map(|i| cluster.readyz(i))).await;
    for (i, (status, body)) in checks.iter().enumerate() {
        assert_eq!(*status, 503, "server {i}: {body}");
        assert!(
            body.contains("presence (redis)") && body.contains("unavailable"),
            "{body}"
        );
    }
    // A new watch on the camera's own server starts; one across servers is refused, clearly.
    let request = ViewerToServer::WatchRequest(ViewerWatchRequest::new(device_id.clone()));
    let ready = ask(&mut beside, request.clone(), "local").await;
    assert!(
        matches!(ready, ServerToViewer::WatchReady(_)),
        "a watch on the camera's own server starts without Redis: {ready:?}"
    );
    match ask(&mut afar, request, "across").await {
        ServerToViewer::Error(e) => {
            assert_eq!(e.code, ErrorCode::Unavailable, "{e}");
            assert!(e.message.contains("cannot reach the others"), "{e}");
        }
        other => panic!("a watch across servers without Redis is refused: {other:?}"),
    }
    cluster.start_redis().await;

    // Both watches played on through the outage.
    for (what, watch) in [("local", local), ("across servers", remote)] {
        let summary = watch.await.unwrap().expect(what);
        assert_eq!(summary.ended_early, None, "{what}: {summary:?}");
        assert!(summary.fps >= 25.0, "{what}: {summary:?}");
        assert_eq!(summary.large_gaps, 0, "{what}: {summary:?}");
    }
    // Every server is ready again, none restarted, and watches across servers work again.
    for i in 0..SERVERS {
        wait_ready(&cluster, i).await;
    }
    let summary = wait_for_watch(cluster.pinned(third).to_owned()).await;
    assert!(summary.first_frame_verified, "{summary:?}");
    assert!(
        cluster
            .server_log(holder)
            .contains("presence restored: Redis had lost the device's entry"),
        "the camera's heartbeats put its presence back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_guesses_spread_over_three_servers_hit_the_limit_of_one() {
    // Five guesses a minute per user, fifteen per address across accounts.
    let cluster = Cluster::start(&[("MUMU_PAIR_ATTEMPTS_PER_MIN", "5")]).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    // The first account is the household's admin; it invites the others.
    let mut admin: Option<String> = None;
    for user in 0..4 {
        let invitation = match &admin {
            Some(token) => Some(
                mumu_probe::rest::invite(&cluster.base, token)
                    .await
                    .unwrap()
                    .code,
            ),
            None => None,
        };
        let auth = mumu_probe::rest::register_invited(
            &cluster.base,
            &format!("guesser{user}"),
            &format!("guesser{user}@example.com"),
            PASSWORD,
            invitation.as_deref(),
        )
        .await
        .unwrap();
        admin.get_or_insert_with(|| auth.access_token.clone());
        let mut mine = Vec::new();
        for guess in 0..10 {
            // Round the servers, each guess claiming to come from a new address: nginx
            // appends the address it saw, and that is the one the servers count.
            let server = cluster.pinned((user + guess) % SERVERS);
            let response = http
                .post(format!("{server}/api/devices/pair"))
                .bearer_auth(&auth.access_token)
                .header(
                    "x-forwarded-for",
                    format!("203.0.113.{}", user * 10 + guess),
                )
                .json(&serde_json::json!({ "pairing_code": "ABCD-EFGH" }))
                .send()
                .await
                .unwrap();
            mine.push(response.status().as_u16());
        }
        statuses.push(mine);
    }
    let count = |user: usize, status: u16| statuses[user].iter().filter(|s| **s == status).count();
    for user in 0..3 {
        assert_eq!(count(user, 400), 5, "user {user}: {statuses:?}");
        assert_eq!(count(user, 429), 5, "user {user}: {statuses:?}");
    }
    assert_eq!(
        count(3, 429),
        10,
        "the address's fifteen are spent, on every server, whatever it claims: {statuses:?}"
    );
}

/// Sends a request `id` on a viewer socket (after a heartbeat: the socket sat silent
/// meanwhile) and returns the reply.
async fn ask(
    socket: &mut mumu_probe::viewer_socket::ViewerSocket,
    request: ViewerToServer,
    id: &str,
) -> ServerToViewer {
    socket
        .send(ViewerToServer::Heartbeat(Heartbeat {}), None)
        .await
        .unwrap();
    socket.send(request, Some(id)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let envelope = socket.recv().await.expect("the socket stays open");
            if envelope.request_id.as_deref() == Some(id) {
                return envelope.message;
            }
        }
    })
    .await
    .expect("a reply within 10 s")
}

async fn wait_ready(cluster: &Cluster, i: usize) {
    for _ in 0..150 {
        if cluster.readyz(i).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "server {i} ready again within 15 s: {:?}",
        cluster.readyz(i).await
    );
}

/// A watch at `base` that succeeds within 20 s of tries.
async fn wait_for_watch(base: String) -> mumu_probe::watch::Summary {
    let mut last = None;
    for _ in 0..10 {
        match watch_at(base.clone(), 1.0).await {
            Ok(summary) => return summary,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    panic!("a watch across servers works again: {last:?}");
}

/// Web Push with three servers: the camera's events reach the server that holds its socket,
/// which alone decides and sends; the browser subscribed through another server, and its
/// "Notify me" went through a third. Every event the camera reports arrives at the local push
/// service exactly once (decrypted there with the browser's key), with the camera and its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_motion_event_is_pushed_once_whichever_server_holds_the_camera() {
    let (private, public) = vapid_keys();
    let push = PushService::start(&public).await;
    let env = push_env(&private);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start(&env).await;
    let owner = cluster.register_owner().await;
    let motion: Vec<String> = ["--test-pattern", "smpte75", "--simulate-motion-every", "5"]
        .map(String::from)
        .into();
    let _camera = start_named_agent(cluster.dir.path(), "porch", &cluster.base, &motion);
    let code = pairing_code(&cluster.dir.path().join("porch")).await;
    pair(&cluster.base, &owner.access_token, &code, "Porch").await;
    let holder = cluster.holder().await;
    let [a, b] = others(holder)[..] else {
        unreachable!()
    };
    let http = reqwest::Client::new();
    let devices: serde_json::Value = http
        .get(format!("{}/api/devices", cluster.base))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device = devices[0]["id"].as_str().unwrap().to_owned();
    // Every event notifies (the default cooldown would let one a minute through).
    let call = async |method: reqwest::Method, base: &str, path: &str, body: serde_json::Value| {
        let response = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&owner.access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{path}: {status} {}",
            response.text().await.unwrap()
        );
    };
    let no_cooldown = serde_json::json!({"cooldown_secs": 0});
    call(
        reqwest::Method::PATCH,
        cluster.pinned(a),
        &format!("/api/devices/{device}/notifications"),
        no_cooldown,
    )
    .await;
    let subscription = push.subscription(None);
    call(
        reqwest::Method::POST,
        cluster.pinned(a),
        "/api/push/subscriptions",
        serde_json::to_value(&subscription).unwrap(),
    )
    .await;
    call(
        reqwest::Method::PUT,
        cluster.pinned(b),
        &format!("/api/devices/{device}/notify"),
        serde_json::Value::Null,
    )
    .await;

    // One event every 5 s (a crossing every 3 s would make one long event).
    for n in 1..=3 {
        push.wait_for(n).await;
    }
    // Time for a duplicate to arrive, if any server were to send one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pushed = push.received_by(&subscription.endpoint);
    assert!(pushed.len() >= 3, "{pushed:?}");
    let starts: Vec<i64> = pushed
        .iter()
        .map(|p| p.payload["start"].as_i64().unwrap())
        .collect();
    let mut once = starts.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), starts.len(), "one push per event: {starts:?}");
    for p in &pushed {
        assert_eq!(p.payload["device_id"], device.as_str(), "{:?}", p.payload);
        assert_eq!(p.payload["device_name"], "Porch");
        let start = p.payload["start"].as_i64().unwrap();
        assert_eq!(p.payload["url"], format!("/watch?d={device}&at={start}"));
    }
    // Every event the servers stored between the first push and the last was pushed.
    let events: serde_json::Value = http
        .get(format!("{}/api/devices/{device}/events", cluster.base))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (first, last) = (once[0], *once.last().unwrap());
    let stored: Vec<i64> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["start"].as_i64().unwrap())
        .filter(|s| (first..=last).contains(s))
        .collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(stored_sorted, once, "each stored event pushed once");
    // The server holding the camera sent them; the other two sent none.
    let delivered = "mumu_pushes_total{result=\"delivered\"}";
    let mut sent = Vec::new();
    for i in 0..SERVERS {
        sent.push(cluster.metric(i, delivered).await);
    }
    assert_eq!(
        sent[a] + sent[b],
        0.0,
        "only the camera's server pushes: {sent:?}"
    );
    assert!(sent[holder] >= pushed.len() as f64, "{sent:?}");
    eprintln!(
        "{} events, {} pushes, sent by server {holder} alone: {sent:?}",
        stored.len(),
        pushed.len()
    );
}
