//! A camera's motion events in the web app, in Chromium, against the real server and the
//! simulator with an object crossing its picture every 4 s while it records: the watch page
//! lists the events with the thumbnails the camera sent peer to peer (decoded images) while the
//! server's own reads and writes stay far below the thumbnails' bytes; "Play" starts the
//! recording 5 s before an event, and so does the address a notification opens
//! (`/watch?d=…&at=…`); the owner draws a motion zone away from the object's path (no event
//! comes any more), a privacy mask (its pixels turn black in the live video), and a polygon of
//! too many corners (the camera's refusal is shown); with the camera off, each event says
//! "camera offline".

use super::recordings::recorded_picture_at;
use crate::common::browser::{Browser, one_at_a_time, site_root};
use crate::common::proc::Proc;
use crate::common::{PASSWORD, System};
use mumu_shared::api::{Device, Event};
use serde_json::{Value, json};
use std::time::Duration;

fn now() -> i64 {
    mumu_probe::now_ms()
}

/// `GET base + path` with the owner's token: its JSON.
async fn get<T: serde::de::DeserializeOwned>(base: &str, token: &str, path: &str) -> T {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
        .error_for_status()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The events the server keeps of the owner's camera (metadata only), newest first.
async fn server_events(base: &str, token: &str, device: &str) -> Vec<Event> {
    get(
        base,
        token,
        &format!("/api/devices/{device}/events?limit=200"),
    )
    .await
}

/// The owner's camera, as the server has it.
async fn camera(base: &str, token: &str) -> Device {
    let devices: Vec<Device> = get(base, token, "/api/devices").await;
    devices.into_iter().next().expect("the paired camera")
}

/// The live video's mean brightness (0 to 255) in a 5 x 5 square around (`x`, `y`), fractions
/// of the picture, drawn onto a canvas.
async fn live_brightness(browser: &Browser, x: f64, y: f64) -> f64 {
    browser
        .js(
            "const v = document.querySelector('.tile .screen video:not(.playback)'); \
             const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight; \
             const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
             const px = Math.round(arguments[0] * c.width), py = Math.round(arguments[1] * c.height); \
             const d = g.getImageData(px - 2, py - 2, 5, 5).data; let sum = 0; \
             for (let i = 0; i < d.length; i += 4) sum += (d[i] + d[i + 1] + d[i + 2]) / 3; \
             return sum / 25",
            vec![json!(x), json!(y)],
        )
        .await
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// Waits until the events list shows at least `count` events that have ended, each with its
/// thumbnail decoded (an image of non-zero size); returns the thumbnails' bytes the page
/// received.
async fn thumbnails_shown(browser: &Browser, count: usize) -> u64 {
    let got = browser
        .wait_js(
            &format!("{count} events with their thumbnails"),
            Duration::from_secs(30),
            &format!(
                "const items = [...document.querySelectorAll('.event')] \
                   .filter(i => !i.querySelector('[data-state=under-way]')); \
                 const imgs = items.map(i => i.querySelector('.event-picture img')); \
                 if (items.length < {count} || imgs.some(i => !i || !i.complete || i.naturalWidth === 0)) return null; \
                 return Promise.all(imgs.map(i => i.decode().then(() => [i.naturalWidth, i.naturalHeight]))) \
                   .then(sizes => [sizes, Number(document.querySelector('.events').dataset.thumbnailBytes)])"
            ),
        )
        .await;
    let sizes = got[0].as_array().expect("the images' sizes");
    for size in sizes {
        assert_eq!(
            (size[0].as_u64(), size[1].as_u64()),
            (Some(320), Some(240)),
            "each thumbnail decodes as the camera's 320x240 JPEG"
        );
    }
    got[1]
        .as_u64()
        .expect("the page counts the thumbnails' bytes")
}

async fn editor_says(browser: &Browser, what: &str, css: &str, words: &str) {
    browser
        .wait_js(
            what,
            Duration::from_secs(10),
            &format!(
                "const e = document.querySelector('{css}'); \
                 return e && !e.hidden && e.textContent.includes({words:?})"
            ),
        )
        .await;
}

/// Chooses what the editor draws next (the kind: `zone` or `mask`; the shape: `rect` or
/// `polygon`), as a person picks in its menus.
async fn choose(browser: &Browser, select: &str, value: &str) {
    browser
        .js(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; \
             s.dispatchEvent(new Event('change', { bubbles: true })); return true",
            vec![json!(select), json!(value)],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_list_thumbnails_playback_zones_and_masks_in_chromium() {
    let site = site_root();
    let scratch = tempfile::tempdir().unwrap();
    let recordings = scratch.path().join("recordings").display().to_string();
    let system = System::start_full(
        &[
            "--simulate-motion-every",
            "4",
            "--test-pattern",
            "smpte75",
            "--record-dir",
            &recordings,
            "--record-segment-secs",
            "15",
        ],
        &[("LEPTOS_SITE_ROOT", site.to_str().unwrap())],
        async |_| {},
    )
    .await;
    let owner = mumu_probe::rest::login(&system.base, "owner", PASSWORD)
        .await
        .expect("the owner logs in");
    let token = owner.access_token;
    let device = camera(&system.base, &token).await.id.0;
    // Eleven crossings and more: a page of ten events, none under way.
    let mut listed = Vec::new();
    for _ in 0..90 {
        listed = server_events(&system.base, &token, &device).await;
        if listed.len() >= 11 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        listed.len() >= 11,
        "a crossing every 4 s: {listed:?}\n{}",
        system.agent_log()
    );
    let _alone = one_at_a_time().await;
    let browser = Browser::logged_in_as_owner(&system.base).await;

    // The watch page lists the events with their pictures. Once, so that a release build's
    // chunk for the page is here; then again, counting the server's I/O: the thumbnails come
    // from the camera, and the server reads and writes a small part of their bytes.
    browser
        .click("li.device[data-online=true] a.button.primary")
        .await;
    thumbnails_shown(&browser, 10).await;
    browser.click("nav a[href='/']").await;
    browser.find("li.device[data-online=true]").await;
    let server = Proc(system.server.as_ref().unwrap().0.id());
    // Its SQLite threads read and write the database's files (the events arriving every 4 s
    // are most of it), never a socket: the rest of the server is what would carry a picture.
    const DATABASE: &str = "sqlx-sqlite";
    let (io_before, net_before) = (server.io_bytes(), server.io_bytes_except_threads(DATABASE));
    browser
        .click("li.device[data-online=true] a.button.primary")
        .await;
    let thumbnail_bytes = thumbnails_shown(&browser, 10).await;
    let io = server.io_bytes() - io_before;
    let net = server.io_bytes_except_threads(DATABASE) - net_before;
    eprintln!(
        "events page: {thumbnail_bytes} bytes of thumbnails received; the server's I/O meanwhile: \
         {io} bytes, {net} of them outside its database threads"
    );
    assert!(
        thumbnail_bytes >= 10 * 2_000,
        "ten thumbnails: {thumbnail_bytes} bytes"
    );
    assert!(
        net * 5 < thumbnail_bytes,
        "the server read and wrote {net} bytes (besides its database) while the page received \
         {thumbnail_bytes} bytes of thumbnails"
    );
    browser.screenshot("events").await;

    // Events are marks on the timeline, and "Play" starts 5 s before one (an event old enough
    // to be in a closed recording, and late enough to have 5 s recorded before it).
    browser
        .wait_js(
            "the events marked on the timeline",
            Duration::from_secs(20),
            "return document.querySelectorAll('.timeline .event-mark').length >= 10",
        )
        .await;
    // Two events with 5 s recorded before them, over (their thumbnails made) for a few seconds.
    browser.zoom_timeline_within(10 * 60_000).await;
    let since = browser.recorded_since().await;
    let mut playable = Vec::new();
    for _ in 0..60 {
        let listed = server_events(&system.base, &token, &device).await;
        playable = (listed.iter())
            .filter(|e| e.start - 5_000 > since + 1_000)
            .filter(|e| e.end.is_some_and(|end| end < now() - 3_000))
            .map(|e| e.start)
            .collect::<Vec<_>>();
        if playable.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        playable.len() >= 2,
        "two events recorded from 5 s before (recorded since {since})"
    );
    let played = playable[0];
    browser
        .wait_js(
            "the newest events listed",
            Duration::from_secs(20),
            &format!("return document.querySelector(\"li.event[data-start='{played}'] button\")"),
        )
        .await;
    browser
        .click(&format!(
            "li.event[data-start='{played}'] button.event-play"
        ))
        .await;
    recorded_picture_at(
        &browser,
        played - 5_000,
        "the recording 5 s before the event",
    )
    .await;

    // The address a notification opens plays its event the same way.
    let opened = playable[1];
    browser
        .goto(&format!("{}/watch?d={device}&at={opened}", system.base))
        .await;
    recorded_picture_at(&browser, opened - 5_000, "the notification's event playing").await;
    browser
        .find(&format!(
            "li.event[data-start='{opened}'][aria-current=true]"
        ))
        .await;
    browser.screenshot("event-playback").await;
    browser.click("button.live").await;

    // A motion zone across the top, away from the object's path (a little below the middle).
    browser
        .wait_js(
            "the zones button (the camera answered the owner's settings request)",
            Duration::from_secs(15),
            "const b = document.querySelector('button.zones-open'); return b && !b.hidden",
        )
        .await;
    browser.click("button.zones-open").await;
    browser.find(".zone-editor:not([hidden]) canvas").await;
    browser.fill(".zone-name", "Sky").await;
    browser
        .pointer_on(".editor-canvas", &[(0.02, 0.03), (0.5, 0.1), (0.98, 0.22)])
        .await;
    browser.click("button.save-settings").await;
    editor_says(
        &browser,
        "the zone stored",
        ".editor-status",
        "Saved: the camera keeps 1 motion zone and 0 privacy masks.",
    )
    .await;
    let zone_saved = now();

    // A privacy mask over the top left: black in the live video from then on, and only there.
    let (inside, outside) = ((0.22, 0.25), (0.65, 0.25));
    let before = live_brightness(&browser, inside.0, inside.1).await;
    assert!(before > 60.0, "a bright bar before the mask: {before}");
    choose(&browser, "select.draw-kind", "mask").await;
    browser
        .pointer_on(".editor-canvas", &[(0.05, 0.1), (0.2, 0.2), (0.4, 0.4)])
        .await;
    browser.click("button.save-settings").await;
    editor_says(
        &browser,
        "the mask stored",
        ".editor-status",
        "Saved: the camera keeps 1 motion zone and 1 privacy mask.",
    )
    .await;
    let mut masked = f64::NAN;
    for _ in 0..50 {
        masked = live_brightness(&browser, inside.0, inside.1).await;
        if masked < 30.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        masked < 30.0,
        "black under the mask in the live video: {masked}"
    );
    let beside = live_brightness(&browser, outside.0, outside.1).await;
    assert!(beside > 60.0, "the picture beside the mask: {beside}");
    browser.screenshot("zone-and-mask").await;

    // A polygon of 17 corners: the camera refuses it, and the page says the camera's words.
    choose(&browser, "select.draw-kind", "zone").await;
    choose(&browser, "select.draw-shape", "polygon").await;
    browser.fill(".zone-name", "Too many").await;
    for i in 0..17 {
        let angle = f64::from(i) * std::f64::consts::TAU / 17.0;
        let point = (0.7 + 0.2 * angle.cos(), 0.7 + 0.2 * angle.sin());
        browser.pointer_on(".editor-canvas", &[point]).await;
    }
    let pending: Value = browser
        .js(
            "return document.querySelector('.editor-canvas').dataset.pendingPoints",
            vec![],
        )
        .await;
    assert_eq!(pending, json!("17"), "each click a corner");
    browser.click("button.finish-polygon").await;
    browser.click("button.save-settings").await;
    editor_says(
        &browser,
        "the camera's refusal",
        ".editor-error",
        "Zone \"Too many\": 17 points (a shape has 3 to 16).",
    )
    .await;
    browser.screenshot("zone-refused").await;

    // Three crossings since the zone was stored: none of them in it.
    let quiet_until = zone_saved + 13_000;
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(quiet_until - now()).unwrap_or_default(),
    ))
    .await;
    let after = server_events(&system.base, &token, &device).await;
    let new: Vec<_> = after
        .iter()
        .filter(|e| e.start > zone_saved + 1_000)
        .collect();
    assert!(
        new.is_empty(),
        "no event outside the zone after it was stored: {new:?}"
    );

    // The camera off: the list comes from the server, and each event says why it has no picture.
    let mut system = system;
    system.stop_agent();
    for _ in 0..150 {
        if !camera(&system.base, &token).await.is_online {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .goto(&format!("{}/watch?d={device}", system.base))
        .await;
    let offline = browser
        .wait_js(
            "each event saying the camera is offline",
            Duration::from_secs(20),
            "const items = document.querySelectorAll('.event'); \
             const off = [...document.querySelectorAll('.event-picture[data-state=camera-offline]')]; \
             return items.length >= 10 && off.length === items.length \
               && off.every(e => e.textContent === 'camera offline') && off.length",
        )
        .await;
    assert!(offline.as_u64() >= Some(10), "{offline}");
    browser.screenshot("events-camera-offline").await;
    super::assert_console_clean(&browser, false).await;
    browser.close().await;
}
