//! Push notifications in Chromium, as a person on the household's network meets them: the real
//! server behind the shipped nginx with https, its certificate from `scripts/lan-cert` (a CA of
//! the test's own, which Chromium trusts by its key as a phone trusts an installed CA), at a
//! name that is not localhost; a camera whose simulator crosses its picture every 5 s.
//!
//! - Over plain http at that name the page is no secure context: "Notify me" says
//!   notifications need https.
//! - Over https, with the permission granted (CDP `Browser.grantPermissions`), "Notify me"
//!   registers the service worker and asks Chromium's push service to subscribe. That service
//!   is Google's (FCM): with no internet, as here, `pushManager.subscribe` never settles
//!   (measured: still pending after 400 s), and the app says so after 20 s.
//! - So the browser's push service is then replaced, in the page, by the test's own (an RFC 8030
//!   service on loopback, `server/tests/common/push_service.rs`): `subscribe` gives its
//!   endpoint and keys. The rest is real: the app posts the subscription and turns "Notify me"
//!   on, the camera's next event is pushed by the server (VAPID-signed, encrypted for the
//!   subscription's key), the push service decrypts it as the browser would, and the test hands
//!   the payload to the service worker (CDP `ServiceWorker.deliverPushMessage`), which shows
//!   the notification: its title and click target are read back with
//!   `registration.getNotifications()`, and its click target is opened by the worker's own
//!   `openEvent`, the function its `notificationclick` runs. Event start to notification shown
//!   is printed. Logging out ends the subscription: no more pushes.

use crate::common::System;
use crate::common::browser::{Browser, Kind, one_at_a_time, site_root};
use crate::common::push::push_service::PushService;
use crate::common::push::{server_env, vapid_keys};
use crate::common::shipped_nginx::{ShippedNginx, lan_cert, spki_sha256};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const HOST: &str = "mumu.test";

/// A DevTools connection to the browser itself (chromedriver's commands go to the page only,
/// and give no events): commands on targets' sessions, and the events that arrived meanwhile.
struct DevTools {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
    events: Vec<Value>,
}

impl DevTools {
    async fn connect(browser: &Browser) -> Self {
        let address = browser
            .client
            .capabilities()
            .and_then(|c| c.get("goog:chromeOptions"))
            .and_then(|o| o["debuggerAddress"].as_str())
            .expect("chromedriver says where Chromium's DevTools listen")
            .to_owned();
        let version: Value = reqwest::get(format!("http://{address}/json/version"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = version["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self {
            socket,
            next: 0,
            events: Vec::new(),
        }
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer in 30 s"))
                .expect("DevTools open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == id {
                assert!(value["error"].is_null(), "{method}: {value}");
                return value["result"].clone();
            }
            self.events.push(value);
        }
    }

    /// A session on the first target of `kind` whose URL starts with `url`.
    async fn attach(&mut self, kind: &str, url: &str) -> String {
        let targets = self.send(None, "Target.getTargets", json!({})).await;
        let target = targets["targetInfos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == kind && t["url"].as_str().unwrap_or("").starts_with(url))
            .unwrap_or_else(|| panic!("a {kind} target at {url}: {targets}"))
            .clone();
        let attached = self
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        attached["sessionId"].as_str().unwrap().to_owned()
    }

    /// The id of the service worker registration for `scope`, from the ServiceWorker domain's
    /// events.
    async fn registration(&mut self, page: &str, scope: &str) -> String {
        self.send(Some(page), "ServiceWorker.enable", json!({}))
            .await;
        for _ in 0..50 {
            let found = self.events.iter().find_map(|e| {
                (e["method"] == "ServiceWorker.workerRegistrationUpdated")
                    .then(|| e["params"]["registrations"].as_array())
                    .flatten()?
                    .iter()
                    .find(|r| r["scopeURL"] == scope && r["isDeleted"] == false)
                    .map(|r| r["registrationId"].as_str().unwrap().to_owned())
            });
            if let Some(id) = found {
                return id;
            }
            // Events arrive with the answers to commands: ask something harmless.
            self.send(None, "Browser.getVersion", json!({})).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "no service worker registration for {scope}: {:?}",
            self.events
        );
    }
}

/// The `PushManager` of the page, answering with the local push service's subscription (what
/// Chromium's own would give, had it reached Google): `toJSON` as the browser's.
fn local_push_manager(endpoint: &str, p256dh: &str, auth: &str, vapid: &str) -> String {
    format!(
        r#"(() => {{
  const key = Uint8Array.from(atob('{vapid}'.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
  const made = {{
    endpoint: '{endpoint}',
    expirationTime: null,
    options: {{ userVisibleOnly: true, applicationServerKey: key.buffer }},
    toJSON() {{ return {{ endpoint: this.endpoint, expirationTime: null, keys: {{ p256dh: '{p256dh}', auth: '{auth}' }} }}; }},
    async unsubscribe() {{ localStorage.setItem('test-unsubscribed', 'yes'); localStorage.removeItem('test-subscribed'); return true; }},
  }};
  PushManager.prototype.subscribe = async function () {{ localStorage.setItem('test-subscribed', 'yes'); return made; }};
  PushManager.prototype.getSubscription = async function () {{ return localStorage.getItem('test-subscribed') ? made : null; }};
}})();"#
    )
}

/// Logs in as the owner on the page open, and waits for the dashboard.
async fn log_in(browser: &Browser) {
    browser.log_in("owner", crate::common::PASSWORD).await;
    browser
        .wait_js(
            "logged in",
            Duration::from_secs(20),
            "return location.pathname === '/' && !!document.querySelector('.topbar .username')",
        )
        .await;
}

/// Waits until "Notify me" is in `state` and says `said`; returns what it says.
async fn notify_state(browser: &Browser, state: &str, said: &str, limit: Duration) -> String {
    browser
        .wait_js(
            &format!("Notify me {state}, saying {said:?}"),
            limit,
            &format!(
                "const n = document.querySelector('.notify-me'); \
                 return n && n.dataset.notify === '{state}' && n.innerText.includes({said:?}) \
                   ? n.innerText : null"
            ),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_me_over_https_and_a_camera_event_becomes_a_notification_that_opens_it() {
    let site = site_root();
    let _one = one_at_a_time().await;
    let (private, public) = vapid_keys();
    let push = PushService::start(&public).await;
    let mut env = server_env(&private);
    env.push(("LEPTOS_SITE_ROOT", site.display().to_string()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let system = System::start_full(
        &["--test-pattern", "smpte75", "--simulate-motion-every", "5"],
        &env,
        async |_| {},
    )
    .await;
    let owner = mumu_probe::rest::login(&system.base, "owner", crate::common::PASSWORD)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let devices: Value = http
        .get(format!("{}/api/devices", system.base))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device = devices[0]["id"].as_str().unwrap().to_owned();
    let patched = http
        .patch(format!(
            "{}/api/devices/{device}/notifications",
            system.base
        ))
        .bearer_auth(&owner.access_token)
        .json(&json!({"cooldown_secs": 0}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());

    let certs = system.dir.path().join("certs");
    lan_cert(&certs, &[HOST]);
    let nginx =
        ShippedNginx::start(&system.dir.path().join("nginx"), system.port, Some(&certs)).await;
    let base = format!("https://{HOST}:{}", nginx.https.unwrap());
    let plain = format!("http://{HOST}:{}", nginx.http);

    // The service worker as the server serves it: script, never kept stale.
    let sw = reqwest::get(format!("http://127.0.0.1:{}/sw.js", nginx.http))
        .await
        .unwrap();
    assert_eq!(sw.status(), 200);
    let header = |name: &str| {
        sw.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert!(
        header("content-type").contains("javascript"),
        "{:?}",
        sw.headers()
    );
    assert_eq!(header("cache-control"), "no-cache");

    let flags = [
        format!("--host-resolver-rules=MAP {HOST} 127.0.0.1"),
        format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_sha256(&certs.join("ca.crt"))
        ),
    ];
    let browser = Browser::start_with_flags(Kind::Chromium, &flags).await;
    let watch = format!("/watch?d={device}");

    // Plain http at a LAN name: no secure context, and the tile says what to do.
    browser.goto(&format!("{plain}/login")).await;
    log_in(&browser).await;
    browser.goto(&format!("{plain}{watch}")).await;
    notify_state(
        &browser,
        "unavailable",
        "Notifications need https: see docs/events.md",
        Duration::from_secs(20),
    )
    .await;
    browser.screenshot("push-needs-https").await;

    // https, the permission granted: Chromium's own push service cannot be reached.
    browser
        .cdp(
            "Browser.grantPermissions",
            json!({"origin": base, "permissions": ["notifications"]}),
        )
        .await;
    // The login's cookie (not `Secure`: no https public URL is set) serves both schemes of
    // the host.
    browser.goto(&format!("{base}{watch}")).await;
    notify_state(&browser, "off", "Notify me", Duration::from_secs(20)).await;
    browser.click(".notify-me button").await;
    notify_state(
        &browser,
        "off",
        "push service did not answer within 20 s",
        Duration::from_secs(40),
    )
    .await;
    let worker = browser
        .js(
            "return navigator.serviceWorker.getRegistration().then(r => \
               r && r.active ? [r.scope, r.active.scriptURL] : null)",
            vec![],
        )
        .await;
    assert_eq!(worker, json!([format!("{base}/"), format!("{base}/sw.js")]));
    browser.screenshot("push-service-unreachable").await;

    // The test's push service in the place of Google's.
    let subscription = push.subscription(None);
    let script = local_push_manager(
        &subscription.endpoint,
        &subscription.keys.p256dh,
        &subscription.keys.auth,
        &public,
    );
    browser
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": script}),
        )
        .await;
    browser.goto(&format!("{base}{watch}")).await;
    notify_state(&browser, "off", "Notify me", Duration::from_secs(20)).await;
    browser.click(".notify-me button").await;
    notify_state(&browser, "on", "Notifying", Duration::from_secs(20)).await;
    // Reloaded, the page finds it on (this browser's subscription holds the camera).
    browser.goto(&format!("{base}{watch}")).await;
    notify_state(&browser, "on", "Notifying", Duration::from_secs(20)).await;

    // The camera's next event, pushed by the server and decrypted by the push service.
    let before = push.received_by(&subscription.endpoint).len();
    let received = push.wait_for(before + 1).await;
    let pushed = received
        .iter()
        .filter(|r| r.endpoint == subscription.endpoint)
        .nth(before)
        .unwrap()
        .clone();
    let start = pushed.payload["start"].as_i64().unwrap();
    assert_eq!(pushed.payload["device_id"], device.as_str());

    let mut devtools = DevTools::connect(&browser).await;
    let page = devtools.attach("page", &base).await;
    let registration = devtools.registration(&page, &format!("{base}/")).await;
    let delivering = Instant::now();
    devtools
        .send(
            Some(&page),
            "ServiceWorker.deliverPushMessage",
            json!({"origin": base, "registrationId": registration, "data": pushed.payload.to_string()}),
        )
        .await;
    let shown = browser
        .wait_js(
            "the notification shown",
            Duration::from_secs(10),
            "return navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => \
               ns.length ? ns.map(n => ({title: n.title, body: n.body, url: n.data && n.data.url, \
                                         tag: n.tag})) : null)",
        )
        .await;
    let shown_at = mumu_probe::now_ms();
    let delivered_to_shown = delivering.elapsed();
    let url = format!("{base}/watch?d={device}&at={start}");
    assert_eq!(shown[0]["title"], "Motion: Simulator", "{shown}");
    assert!(
        shown[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Simulator saw motion at "),
        "{shown}"
    );
    assert_eq!(shown[0]["url"], url.as_str(), "{shown}");
    let pushed_at = shown_at - pushed.at.elapsed().as_millis() as i64;
    eprintln!(
        "event start -> push decrypted at the push service: {} ms; delivered to the service \
         worker -> notification seen: {} ms; event start -> notification seen: {} ms",
        pushed_at - start,
        delivered_to_shown.as_millis(),
        shown_at - start
    );

    // Its click target: the worker's own openEvent takes the open window there.
    let worker = devtools
        .attach("service_worker", &format!("{base}/sw.js"))
        .await;
    devtools
        .send(
            Some(&worker),
            "Runtime.evaluate",
            json!({"expression": format!("self.mumu.openEvent({:?}).then(() => 'opened')", shown[0]["url"].as_str().unwrap()), "awaitPromise": true}),
        )
        .await;
    let opened = browser
        .wait_js(
            "the event's page open",
            Duration::from_secs(10),
            "return location.pathname + location.search",
        )
        .await;
    assert_eq!(opened, json!(format!("/watch?d={device}&at={start}")));
    browser.screenshot("push-notification-opened").await;

    // Off and on again, as the server sees it.
    let cameras = "return fetch('/api/push/subscriptions').then(r => r.json()).then(s => s.flatMap(x => x.devices))";
    assert_eq!(browser.js(cameras, vec![]).await, json!([device]));
    notify_state(&browser, "on", "Notifying", Duration::from_secs(20)).await;
    browser.click(".notify-me button").await;
    notify_state(&browser, "off", "Notify me", Duration::from_secs(20)).await;
    assert_eq!(browser.js(cameras, vec![]).await, json!([]));
    browser.click(".notify-me button").await;
    notify_state(&browser, "on", "Notifying", Duration::from_secs(20)).await;
    assert_eq!(browser.js(cameras, vec![]).await, json!([device]));

    // Logging out ends the subscription here and at the server: no more pushes.
    browser.click_button("Log out").await;
    browser
        .wait_js(
            "the browser's subscription left",
            Duration::from_secs(10),
            "return localStorage.getItem('test-unsubscribed') === 'yes'",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_logout = push.received_by(&subscription.endpoint).len();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        push.received_by(&subscription.endpoint).len(),
        after_logout,
        "no push after logout"
    );
    let errors: Vec<_> = browser
        .console()
        .await
        .into_iter()
        .filter(|l| l.level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    browser.close().await;
}
