//! The web app in real browsers: Debian's headless Chromium (through chromedriver) and Firefox
//! ESR (through geckodriver), each against the real `mumu-server` on SQLite and a simulated
//! `mumu-agent`, doing what a newcomer does. It
//! registers, logs out, opens the link in the camera's QR code (`/pair?code=…`), logs in on the
//! way, types a wrong code and is told so, pairs, sees the camera come online on the dashboard,
//! renames it, watches it (takes a PNG snapshot, reads the stats, and keeps watching through a
//! server restart, which the watch survives on its own), pairs a second camera and watches
//! both in a grid, sees them go offline when their agents stop, and removes them, all without
//! a reload; then changes the password and logs out everywhere. On the way, a crafted
//! `?next=` link fails to bounce it to another site, and the rules Safari on an iPhone needs
//! (an inline, muted, autoplaying `<video>`; H.264 constrained baseline, packetization-mode 1)
//! are checked on the real page and the real offer. Then the main flow again on two phones'
//! screens, in Chromium's mobile emulation: the layout fits, the page can be installed, and a
//! watch pauses while the page is hidden and comes back when it is shown. And Safari's engine,
//! WebKitGTK as Debian builds it (without WebRTC): registers, logs in, pairs, sees the live
//! dashboard, and says it cannot play live video rather than showing a black tile. Screenshots
//! are kept in `target/test-artifacts/browser/<browser>/`. The console must hold no Content-Security-Policy
//! violation and no error.

mod common;
#[path = "browser/events.rs"]
mod events;
#[path = "browser/push.rs"]
mod push;
#[path = "browser/recordings.rs"]
mod recordings;
#[path = "browser/sharing.rs"]
mod sharing;
#[path = "browser/sound.rs"]
mod sound;

use common::System;
use common::browser::{Browser, Kind, one_at_a_time, site_root};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "a long enough password";

/// Fills in the pair form and submits it: what the page then says, as success or refusal.
async fn submit_pairing(browser: &Browser, code: &str, name: &str) -> Result<String, String> {
    browser.fill("#code", code).await;
    browser.fill("#name", name).await;
    browser.click("button[type=submit]").await;
    let said = browser
        .find("[data-test=pair-ok], [data-test=pair-error]")
        .await;
    let text = said.text().await.unwrap();
    match said.attr("data-test").await.unwrap().as_deref() {
        Some("pair-ok") => Ok(text),
        _ => Err(text),
    }
}

/// Waits until the app has taken the server's page over (its form's button is enabled only
/// then), as a person waits for a page to respond.
async fn app_live(browser: &Browser, page: &str) {
    browser
        .wait_js(
            &format!("the app live on the {page} page (its button enabled)"),
            Duration::from_secs(20),
            "const b = document.querySelector('button[type=submit]'); return b && !b.disabled",
        )
        .await;
}

/// Registers `newcomer` from the register page: the app lands on the (empty) dashboard,
/// logged in.
async fn register_newcomer(browser: &Browser, base: &str) {
    browser.goto(&format!("{base}/register")).await;
    app_live(browser, "register").await;
    browser.screenshot("register").await;
    browser.fill("#username", "newcomer").await;
    browser.fill("#email", "newcomer@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_js(
            "the dashboard after registering",
            Duration::from_secs(10),
            "return location.pathname === '/' && document.querySelector('.username')?.innerText === 'newcomer'",
        )
        .await;
}

async fn log_out(browser: &Browser) {
    browser.click("nav button.link").await;
    browser
        .wait_js(
            "the login page after logging out",
            Duration::from_secs(10),
            "return location.pathname === '/login'",
        )
        .await;
}

/// Opens the camera's QR link logged out: it asks for a login first and comes back to the pair
/// page with the code typed in.
async fn follow_the_pairing_link(browser: &Browser, base: &str, code: &str) {
    browser.goto(&format!("{base}/pair?code={code}")).await;
    browser
        .wait_js(
            "the pair link sends a visitor to log in",
            Duration::from_secs(10),
            "return location.pathname === '/login' && location.search.includes('next=')",
        )
        .await;
    app_live(browser, "login").await;
    browser.screenshot("login").await;
    browser.log_in("newcomer", PASSWORD).await;
    browser
        .wait_js(
            "back on the pair page with the code typed in",
            Duration::from_secs(10),
            "return location.pathname === '/pair' && document.querySelector('#code')?.value",
        )
        .await;
    browser.screenshot("pair").await;
}

/// Clicks Watch on the online camera in a browser that cannot play it: the tile ends saying
/// why and what to do (every one of `words`), instead of staying black.
async fn tile_says_it_cannot_play(browser: &Browser, words: &[&str]) {
    browser
        .click("li.device[data-online=true] a.button.primary")
        .await;
    let said = browser
        .wait_js(
            "the tile saying why it cannot play",
            Duration::from_secs(10),
            "const t = document.querySelector('.tile'); \
             return t?.dataset.phase === 'ended' ? t.innerText : null",
        )
        .await;
    let said = said.as_str().unwrap_or_default();
    assert!(words.iter().all(|w| said.contains(w)), "{said}");
    browser.screenshot("cannot-play").await;
}

/// Whether the site under test splits the rarely used pages off (a release build: its
/// hash.txt lists their chunks).
fn split_site() -> bool {
    std::fs::read_to_string(site_root().join("hash.txt")).is_ok_and(|t| t.contains("lazy:"))
}

/// The split-off pages whose chunk this document has fetched (`watch` for
/// `/pkg/split_watch.<hash>.wasm`), in the order fetched.
async fn chunks_fetched(browser: &Browser) -> Vec<String> {
    let names = browser
        .js(
            "return performance.getEntriesByType('resource') \
               .map(e => new URL(e.name).pathname) \
               .filter(p => p.startsWith('/pkg/split_')) \
               .map(p => p.slice('/pkg/split_'.length).split('.')[0])",
            vec![],
        )
        .await;
    serde_json::from_value(names).unwrap()
}

/// Opens the watch page by its address, as a bookmark or a shared link does: the server renders
/// it, and the app hydrates it once the page's chunk is here (only that page's). The video plays
/// and the page answers clicks. Then the dashboard by its address fetches no chunk at all.
async fn a_split_page_opens_by_its_address(browser: &Browser, base: &str) {
    let href = browser
        .js(
            "return document.querySelector('li.device[data-online=true] a.button.primary').getAttribute('href')",
            vec![],
        )
        .await;
    browser
        .goto(&format!("{base}{}", href.as_str().unwrap()))
        .await;
    browser
        .wait_js(
            "the video playing on the watch page opened by its address",
            Duration::from_secs(20),
            "const v = document.querySelector('.tile video'); \
             return v && v.videoWidth > 0 && v.currentTime > 0",
        )
        .await;
    // Hydrated: the stats button opens the panel, which only the app can do.
    browser.click(".tile button[aria-expanded]").await;
    browser.find(".tile .stats").await;
    if split_site() {
        assert_eq!(chunks_fetched(browser).await, ["watch"]);
    }
    browser.goto(&format!("{base}/")).await;
    browser.find("li.device[data-online=true]").await;
    if split_site() {
        assert_eq!(
            chunks_fetched(browser).await,
            Vec::<String>::new(),
            "the dashboard's first load fetches no chunk"
        );
    }
}

/// No Content-Security-Policy violation and no panic in the console; with `strict`, no error of
/// any kind either.
async fn assert_console_clean(browser: &Browser, strict: bool) {
    let console = browser.console().await;
    let bad: Vec<_> = console
        .iter()
        .filter(|l| {
            (strict && l.level == "SEVERE")
                || l.message.contains("Content Security Policy")
                || l.message.contains("panicked")
        })
        .collect();
    assert!(bad.is_empty(), "the browser's console holds: {bad:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_pairs_watches_and_manages_cameras_in_chromium() {
    let _alone = one_at_a_time().await;
    a_newcomer_pairs_watches_and_manages_cameras(Kind::Chromium).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_pairs_watches_and_manages_cameras_in_firefox() {
    let _alone = one_at_a_time().await;
    a_newcomer_pairs_watches_and_manages_cameras(Kind::Firefox).await;
}

/// The worst report from Firefox users of camera apps is a black tile: their Firefox has no
/// H.264 (its OpenH264 plugin turned off, or not downloaded yet). MuMu says so, and how to fix
/// it, before asking the camera for anything.
#[tokio::test(flavor = "multi_thread")]
async fn firefox_without_its_h264_plugin_says_why_it_cannot_play() {
    let _alone = one_at_a_time().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let system = System::start_full(&[], &env, async |_| {}).await;
    let browser = Browser::logged_in_as_owner_in(Kind::FirefoxWithoutOpenH264, &system.base).await;
    browser
        .wait_js(
            "the camera online on the dashboard",
            Duration::from_secs(15),
            "return document.querySelector('li.device[data-online=true]')",
        )
        .await;
    tile_says_it_cannot_play(&browser, &["cannot decode H.264", "OpenH264"]).await;
    browser.close().await;
}

/// Safari's engine, as far as it can be run here: Debian's WebKitGTK (MiniBrowser, through
/// WebKitWebDriver, on an Xvfb screen) renders the server's page, hydrates it, registers, logs
/// in through the camera's QR link, pairs the camera and sees it online on the live dashboard.
/// Debian builds WebKitGTK without WebRTC, so the tile says that this browser cannot play live
/// video, and what to do, instead of staying black. Skipped where WebKitWebDriver, Xvfb or
/// MiniBrowser is missing, unless `MUMU_WEBKIT=required` (which `scripts/lib.sh`'s
/// `ensure_webkit` sets).
#[tokio::test(flavor = "multi_thread")]
async fn webkit_registers_pairs_and_says_it_cannot_play_live_video() {
    if let Some(why) = common::browser::webkit_missing() {
        assert!(
            std::env::var("MUMU_WEBKIT").as_deref() != Ok("required"),
            "MUMU_WEBKIT=required, but {why}"
        );
        eprintln!("skipped: WebKitGTK cannot run here: {why}");
        return;
    }
    let _alone = one_at_a_time().await;
    let site = site_root();
    let site = site.to_str().unwrap();
    let (system, code) =
        System::start_unpaired(&[], &[("LEPTOS_SITE_ROOT", site)], async |_| {}).await;
    let base = system.base.clone();
    let browser = Browser::start_as(Kind::WebKit).await;
    let engine = browser.js("return navigator.userAgent", vec![]).await;
    eprintln!("webkit: {engine}");

    // The server's page renders and the app takes it over; register, log out, then the
    // camera's QR link.
    register_newcomer(&browser, &base).await;
    if split_site() {
        // Opened by its address, the register page hydrated with its own chunk alone.
        assert_eq!(chunks_fetched(&browser).await, ["register"]);
    }
    log_out(&browser).await;
    follow_the_pairing_link(&browser, &base, &code).await;
    let ok = submit_pairing(&browser, &code, "Porch")
        .await
        .expect("the camera's code pairs");
    assert!(ok.contains("Porch"), "{ok}");

    // The live dashboard (presence over the app's WebSocket) shows the camera online.
    browser.click("nav a[href='/']").await;
    browser
        .wait_js(
            "the camera online on the dashboard",
            Duration::from_secs(15),
            "return document.querySelector('li.device[data-online=true]') \
               && document.querySelector('[data-socket=live]')",
        )
        .await;
    browser.screenshot("dashboard").await;

    // Watch: no WebRTC here, so the tile says so, and what to do, rather than staying black;
    // the camera is asked for nothing.
    tile_says_it_cannot_play(&browser, &["cannot play live video", "WebRTC"]).await;
    browser.assert_videos_play_inline().await;
    assert_console_clean(&browser, true).await;
    browser.close().await;
}

async fn a_newcomer_pairs_watches_and_manages_cameras(kind: Kind) {
    let site = site_root();
    let site = site.to_str().unwrap();
    let (mut system, code) =
        System::start_unpaired(&[], &[("LEPTOS_SITE_ROOT", site)], async |_| {}).await;
    let base = system.base.clone();
    let browser = Browser::start_as(kind).await;

    register_newcomer(&browser, &base).await;

    // Log out; a crafted link that means to bounce a visitor to another site after logging in
    // (a tab the browser's URL parser drops makes `/<tab>/host` read as `//host`) stays here.
    log_out(&browser).await;
    browser
        .goto(&format!("{base}/login?next=/%09/attacker.example/"))
        .await;
    browser.log_in("newcomer", PASSWORD).await;
    let own_host = base.trim_start_matches("http://").to_owned();
    browser
        .wait_js(
            "the dashboard on this site, not the attacker's",
            Duration::from_secs(10),
            &format!(
                "return location.host === '{own_host}' && location.pathname === '/' \
                 && document.querySelector('.username')?.innerText === 'newcomer'"
            ),
        )
        .await;

    // The QR code's link asks for a login first and comes back with the code.
    log_out(&browser).await;
    follow_the_pairing_link(&browser, &base, &code).await;
    let typed = browser.find("#code").await.prop("value").await.unwrap();
    assert_eq!(typed.as_deref(), Some(code.as_str()));

    // A wrong code first: the page says what is wrong and what to do.
    let refused = submit_pairing(&browser, "ABCD-EFGH", "")
        .await
        .expect_err("a wrong code is refused");
    assert!(refused.contains("Check the code"), "{refused}");
    // Chromium logs the 4xx it got; that one line is expected.
    for line in browser.take_console().await {
        assert!(
            line.message.contains("status of 4"),
            "only the refused pairing in the console: {line:?}"
        );
    }

    // Pair.
    let ok = submit_pairing(&browser, &code, "Porch")
        .await
        .expect("the camera's code pairs");
    assert!(ok.contains("Porch"), "{ok}");

    // The dashboard shows the camera online, with its status.
    browser.click("nav a[href='/']").await;
    browser
        .wait_js(
            "the camera online on the dashboard",
            Duration::from_secs(15),
            "return document.querySelector('li.device[data-online=true]')",
        )
        .await;
    browser.screenshot("dashboard").await;

    // Rename it in place.
    browser.click("li.device button:not(.danger)").await;
    browser.fill("li.device form input", "Front door").await;
    browser.click("li.device form button[type=submit]").await;
    browser
        .wait_js(
            "the new name on the card",
            Duration::from_secs(10),
            "return document.querySelector('li.device h2')?.innerText === 'Front door'",
        )
        .await;

    // A page whose code is split off, opened by its address.
    a_split_page_opens_by_its_address(&browser, &base).await;

    // Watch: the video plays at the camera's size and keeps decoding; its code arrives when the
    // page opens in the app.
    browser.record_peers().await;
    browser.click("li.device a.button.primary").await;
    browser
        .wait_js(
            "the video playing",
            Duration::from_secs(20),
            "const v = document.querySelector('.tile video'); \
             return v && v.videoWidth > 0 && v.currentTime > 0",
        )
        .await;
    let width = browser
        .js(
            "return document.querySelector('.tile video').videoWidth",
            vec![],
        )
        .await;
    assert!(width.as_u64().unwrap() >= 640, "videoWidth {width}");
    if split_site() {
        assert_eq!(chunks_fetched(&browser).await, ["watch"]);
    }
    browser.assert_frames_rise(1).await;
    browser.assert_safari_rules().await;
    let tile = browser.find(".tile").await;
    assert_eq!(
        tile.attr("data-phase").await.unwrap().as_deref(),
        Some("connected")
    );
    let first_frame_ms: f64 = tile
        .attr("data-first-frame-ms")
        .await
        .unwrap()
        .expect("the first frame's time is shown")
        .parse()
        .unwrap();
    // A snapshot of the current frame downloads as a PNG of the camera's size.
    browser.click_button("Snapshot").await;
    let (name, png) = browser.downloaded().await;
    assert!(
        name.starts_with("Front-door-") && name.ends_with(".png"),
        "{name}"
    );
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((size(16), size(20)), (640, 480), "{name}'s size (IHDR)");
    // The stats panel says what getStats says.
    browser.click(".tile button[aria-expanded]").await;
    let stats = browser.find(".tile .stats").await.text().await.unwrap();
    assert!(stats.contains("640×480"), "{stats}");
    assert!(stats.contains("host"), "candidate type in {stats}");
    browser
        .js(
            "document.querySelector('.tile .stats').scrollIntoView({ block: 'end' })",
            vec![],
        )
        .await;
    browser.screenshot("watch").await;

    // The server restarts mid-watch: the socket reconnects and the watch starts again by
    // itself (the server ends a viewer's sessions with its socket).
    browser.record_phases().await;
    assert_console_clean(&browser, true).await;
    system.restart_server().await;
    let phases = browser
        .live_again("after the server restarted", Duration::from_secs(30))
        .await;
    eprintln!("phases through the server restart: {phases}");
    browser.assert_frames_rise(1).await;

    // A second camera, paired the same way; both watched at once, in a grid.
    let (garden, garden_code) = system.start_another_agent("garden").await;
    browser.click("nav a[href='/pair']").await;
    submit_pairing(&browser, &garden_code, "Garden")
        .await
        .expect("the second camera's code pairs");
    browser.click("nav a[href='/']").await;
    both_cameras_online(&browser).await;
    browser.click_text("a", "Watch all online").await;
    browser.assert_frames_rise(2).await;
    browser.screenshot("watch-grid").await;
    garden.terminate();

    // Back on the dashboard (in the app, no reload), the agents stop: the cards go offline.
    browser.js("window.mumuNoReload = true", vec![]).await;
    browser.click("nav a[href='/']").await;
    browser.find("li.device[data-online=true]").await;
    system.stop_agent();
    browser
        .wait_js(
            "both cameras marked offline",
            Duration::from_secs(15),
            "return document.querySelectorAll('li.device[data-online=false]').length === 2",
        )
        .await;
    assert_eq!(
        browser
            .js("return window.mumuNoReload === true", vec![])
            .await,
        json!(true),
        "the page was not reloaded"
    );
    assert_eq!(
        browser
            .js(
                "return document.querySelector(\"nav .links a[href='/']\").getAttribute('aria-current')",
                vec![]
            )
            .await,
        json!("page"),
        "the nav marks the page shown"
    );
    browser.screenshot("dashboard-offline").await;
    // Back and forward move between the app's pages without loading them.
    browser.js("history.back()", vec![]).await;
    browser
        .wait_js(
            "back on the watch page, in the app",
            Duration::from_secs(10),
            "return location.pathname === '/watch' && window.mumuNoReload === true \
             && document.querySelectorAll('.tile').length === 2",
        )
        .await;
    browser.js("history.forward()", vec![]).await;
    browser
        .wait_js(
            "forward to the dashboard, in the app",
            Duration::from_secs(10),
            "return location.pathname === '/' && window.mumuNoReload === true \
             && document.querySelectorAll('li.device').length === 2",
        )
        .await;

    // Remove them (after the confirmation the browser asks for): the cards go, and the empty
    // dashboard says what to do.
    for left in [1, 0] {
        browser.click("li.device button.danger").await;
        browser
            .client
            .accept_alert()
            .await
            .expect("a confirmation dialog");
        browser
            .wait_js(
                "a card gone",
                Duration::from_secs(10),
                &format!("return document.querySelectorAll('li.device').length === {left}"),
            )
            .await;
    }
    assert!(browser.page_text().await.contains("pair it with the code"));

    // The account page: a wrong current password is refused; a right one changes it, and this
    // browser stays logged in, its live socket open, while every other login ends.
    browser.click("nav a.username").await;
    browser.fill("#current-password", "not the password").await;
    browser
        .fill("#new-password", "an even longer passphrase")
        .await;
    browser.click("button[type=submit]").await;
    let refused = browser
        .find("[data-test=form-error]")
        .await
        .text()
        .await
        .unwrap();
    assert!(refused.contains("current password is wrong"), "{refused}");
    browser.fill("#current-password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    let changed = browser
        .find("[data-test=form-ok]")
        .await
        .text()
        .await
        .unwrap();
    assert!(changed.contains("Password changed"), "{changed}");
    browser
        .wait_js(
            "the live socket still open",
            Duration::from_secs(15),
            "return document.querySelector('[data-socket=live]')",
        )
        .await;
    browser.screenshot("account").await;
    browser.click("[data-test=logout-everywhere]").await;
    browser
        .wait_js(
            "logged out everywhere",
            Duration::from_secs(10),
            "return location.pathname === '/login'",
        )
        .await;
    browser
        .log_in("newcomer", "an even longer passphrase")
        .await;
    browser
        .wait_js(
            "logged in with the new password",
            Duration::from_secs(10),
            "return document.querySelector('.username')?.innerText === 'newcomer'",
        )
        .await;

    // The restart left failed socket attempts in the console; nothing else may be there.
    assert_console_clean(&browser, false).await;
    browser.close().await;
    eprintln!("{}: click to first frame: {first_frame_ms} ms", kind.name());
}

/// Phones people hold: an iPhone 15 and a small Android phone, upright, in CSS pixels.
const PHONES: [(u32, u32); 2] = [(390, 844), (360, 740)];

#[tokio::test(flavor = "multi_thread")]
async fn on_a_phone_the_app_fits_installs_and_a_watch_follows_the_page_being_seen() {
    let _alone = one_at_a_time().await;
    let site = site_root();
    let site = site.to_str().unwrap();
    let system = System::start_full(&[], &[("LEPTOS_SITE_ROOT", site)], async |_| {}).await;
    let (_second, second_code) = system.start_another_agent("garden").await;
    let base = system.base.clone();
    for (n, (width, height)) in PHONES.into_iter().enumerate() {
        let browser = Browser::start_as(Kind::Phone { width, height }).await;
        browser.goto(&format!("{base}/login")).await;
        let viewport = browser
            .js("return [window.innerWidth, window.innerHeight]", vec![])
            .await;
        assert_eq!(viewport, json!([width, height]), "the emulated screen");
        assert_installable(&browser, &base).await;
        browser.log_in("owner", common::PASSWORD).await;
        browser
            .wait_js(
                "the dashboard, logged in",
                Duration::from_secs(10),
                "return document.querySelector('li.device[data-online=true]')",
            )
            .await;

        // The pair form: the code field opens the right keyboard. The second camera is paired
        // from the first phone.
        browser.click("nav a[href='/pair']").await;
        let code_field = browser.find("#code").await;
        for (attribute, value) in [
            ("inputmode", "text"),
            ("autocomplete", "one-time-code"),
            ("autocapitalize", "characters"),
            ("autocorrect", "off"),
            ("spellcheck", "false"),
        ] {
            assert_eq!(
                code_field.attr(attribute).await.unwrap().as_deref(),
                Some(value),
                "the code field's {attribute}"
            );
        }
        assert_fits_a_finger(&browser, "the pair page").await;
        browser.screenshot("pair").await;
        if n == 0 {
            submit_pairing(&browser, &second_code, "Garden")
                .await
                .expect("the second camera pairs from a phone");
        }

        // The dashboard: the cards stack in one column.
        browser.click("nav a[href='/']").await;
        both_cameras_online(&browser).await;
        assert_eq!(columns(&browser, "li.device").await, 1, "the cards stack");
        assert_fits_a_finger(&browser, "the dashboard").await;
        browser.screenshot("dashboard").await;

        // Watch both: the tiles stack, the video plays.
        browser.record_peers().await;
        browser.click_text("a", "Watch all online").await;
        browser.assert_frames_rise(2).await;
        browser.assert_safari_rules().await;
        assert_eq!(columns(&browser, ".tile").await, 1, "the tiles stack");
        assert_fits_a_finger(&browser, "the watch page").await;
        browser.screenshot("watch").await;

        // Turned sideways: still no sideways scrolling, and the first video is whole on the
        // screen.
        browser.rotate(height, width).await;
        let whole = browser
            .js(
                "return document.querySelector('.tile video').getBoundingClientRect().height \
                   <= window.innerHeight",
                vec![],
            )
            .await;
        assert_eq!(whole, json!(true), "a video taller than the turned screen");
        assert_fits_a_finger(&browser, "the watch page held sideways").await;
        browser.screenshot("watch-landscape").await;
        browser.rotate(width, height).await;

        // Fullscreen: the tile fills the screen, and leaves it again.
        browser.click_button("Fullscreen").await;
        browser
            .wait_js(
                "the tile full screen",
                Duration::from_secs(5),
                "return document.fullscreenElement?.classList.contains('tile')",
            )
            .await;
        let fills = browser
            .js(
                "const r = document.querySelector('.tile:fullscreen video').getBoundingClientRect(); \
                 return r.width >= window.innerWidth - 1",
                vec![],
            )
            .await;
        assert_eq!(fills, json!(true), "the video fills the screen's width");
        browser.screenshot("fullscreen").await;
        browser.js("return document.exitFullscreen()", vec![]).await;

        if n == 0 {
            a_watch_follows_the_page_being_seen(&browser).await;
        }
        assert_console_clean(&browser, true).await;
        browser.close().await;
    }
}

/// Waits for the dashboard to show both cameras online.
async fn both_cameras_online(browser: &Browser) {
    browser
        .wait_js(
            "both cameras online",
            Duration::from_secs(15),
            "return document.querySelectorAll('li.device[data-online=true]').length === 2",
        )
        .await;
}

/// How many columns the elements `css` stand in (their distinct left edges).
async fn columns(browser: &Browser, css: &str) -> u64 {
    browser
        .js(
            "return new Set([...document.querySelectorAll(arguments[0])] \
               .map(e => Math.round(e.getBoundingClientRect().left))).size",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .expect("a count")
}

/// Nothing scrolls sideways, and every button, link and field a finger can reach is at least
/// 44 CSS pixels tall.
async fn assert_fits_a_finger(browser: &Browser, page: &str) {
    let report = browser
        .js(
            "const small = [...document.querySelectorAll('button, a.button, input, nav a')] \
               .filter(e => e.offsetParent !== null) \
               .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()]) \
               .filter(([, r]) => r.right > 0 && r.height < 43.5) \
               .map(([html, r]) => `${Math.round(r.height)} px: ${html}`); \
             return { small, scroll: document.documentElement.scrollWidth, \
                      width: window.innerWidth }",
            vec![],
        )
        .await;
    assert_eq!(report["small"], json!([]), "{page}: smaller than a finger");
    assert!(
        report["scroll"].as_u64() <= report["width"].as_u64(),
        "{page} scrolls sideways: {report}"
    );
}

/// The page names a manifest, an icon for iOS's home screen and a theme colour; the manifest
/// opens the dashboard without the browser's frame, and every icon it names is an image of the
/// size it says.
async fn assert_installable(browser: &Browser, base: &str) {
    let head = browser
        .js(
            "const at = s => document.querySelector(s); \
             return [at('link[rel=manifest]')?.href, at('link[rel=apple-touch-icon]')?.href, \
                     at('meta[name=theme-color]')?.content]",
            vec![],
        )
        .await;
    let [manifest_url, touch_icon, theme] = [0, 1, 2].map(|i| head[i].as_str().map(str::to_owned));
    assert!(theme.is_some(), "a theme colour: {head}");
    let http = reqwest::Client::new();
    let manifest = http
        .get(manifest_url.unwrap_or_else(|| panic!("a manifest link: {head}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.headers()["content-type"],
        "application/manifest+json",
        "the manifest's content type"
    );
    let manifest: serde_json::Value = manifest.json().await.expect("the manifest is JSON");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["display_override"][0], "fullscreen");
    let mut icons: Vec<(String, Option<u32>)> = manifest["icons"]
        .as_array()
        .expect("icons")
        .iter()
        .map(|icon| {
            let size = icon["sizes"]
                .as_str()
                .and_then(|s| s.split_once('x'))
                .and_then(|(w, _)| w.parse().ok());
            (format!("{base}{}", icon["src"].as_str().unwrap()), size)
        })
        .collect();
    assert!(
        icons.iter().any(|(_, size)| *size == Some(512)),
        "a 512 px icon: {icons:?}"
    );
    icons.push((touch_icon.expect("an apple-touch-icon"), Some(180)));
    for (url, size) in icons {
        let response = http.get(&url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let bytes = response.bytes().await.unwrap();
        if let Some(size) = size {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{url} is a PNG");
            let side = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
            assert_eq!((side(16), side(20)), (size, size), "{url}'s size");
        }
    }
}

/// Hidden for a moment while its connection dies unseen (a phone asleep hears no events), the
/// page watches again as soon as it is shown; hidden longer, it lets the cameras go, and
/// watches again when shown.
async fn a_watch_follows_the_page_being_seen(browser: &Browser) {
    browser.record_phases().await;
    browser.set_hidden(true).await;
    browser
        .js("window.mumuPeers.forEach(p => p.close())", vec![])
        .await;
    browser.set_hidden(false).await;
    let phases = browser
        .live_again(
            "after its connection died while hidden",
            Duration::from_secs(15),
        )
        .await;
    eprintln!("phases after the connection died unseen: {phases}");
    browser.assert_frames_rise(2).await;

    browser.set_hidden(true).await;
    let paused = browser
        .wait_js(
            "every watch paused while hidden",
            Duration::from_secs(25),
            "const t = [...document.querySelectorAll('.tile')]; \
             return t.every(x => x.dataset.phase === 'paused') ? t.length : null",
        )
        .await;
    assert_eq!(paused, json!(2));
    browser.screenshot("paused").await;
    browser.set_hidden(false).await;
    browser.assert_frames_rise(2).await;
}
