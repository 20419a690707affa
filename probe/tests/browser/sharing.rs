//! The household in the web app, in Chromium, against the real server and a recording
//! simulator: the owner makes an invitation link on the Household page, a second person makes
//! their account with it, the owner shares the camera with them from its Sharing page (by their
//! email), they see it "shared by" the owner and watch it with its recordings; the owner turns
//! the recordings permission off (their playback ends, saying why) and on (the timeline comes
//! back); the owner revokes, after the browser's confirmation, and their live watch ends at once
//! with a sentence that says so; a stranger without an invitation is refused in words.

use crate::common::System;
use crate::common::browser::{Browser, one_at_a_time, site_root};
use std::time::{Duration, Instant};

const PASSWORD: &str = super::PASSWORD;

fn now() -> i64 {
    mumu_probe::now_ms()
}

/// The text of `css`, once it is on the page.
async fn text_of(browser: &Browser, css: &str) -> String {
    browser.find(css).await.text().await.unwrap()
}

/// Registers `username` at `link` (an invitation's), the code filled in by the link.
async fn register_with(browser: &Browser, link: &str, username: &str) {
    browser.goto(link).await;
    super::app_live(browser, "register").await;
    browser.fill("#username", username).await;
    browser
        .fill("#email", &format!("{username}@example.com"))
        .await;
    browser.fill("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser
        .wait_js(
            "the dashboard after registering with the invitation",
            Duration::from_secs(10),
            &format!(
                "return location.pathname === '/' \
                 && document.querySelector('.username')?.innerText === '{username}'"
            ),
        )
        .await;
}

/// Clicks a permission's box on `username`'s row of the sharing page and waits until the
/// server's answer shows in the row.
async fn set_permission(owner: &Browser, username: &str, permission: &str, on: bool) {
    let row = format!("li.share[data-username={username}]");
    owner
        .click(&format!("{row} input[data-permission={permission}]"))
        .await;
    owner
        .wait_js(
            &format!("{permission} {on} on {username}'s row"),
            Duration::from_secs(10),
            &format!(
                "const i = document.querySelector('{row} input[data-permission={permission}]'); \
                 return i && i.checked === {on} && !i.disabled"
            ),
        )
        .await;
}

/// The history panel's access on the watch page (`records`, `not-permitted`, …).
async fn access_becomes(viewer: &Browser, access: &str, what: &str, limit: Duration) {
    viewer
        .wait_js(
            what,
            limit,
            &format!("return document.querySelector('.history')?.dataset.access === '{access}'"),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_invites_shares_limits_and_revokes_in_chromium() {
    let site = site_root();
    let scratch = tempfile::tempdir().unwrap();
    let recordings = scratch.path().join("recordings").display().to_string();
    let system = System::start_full(
        // A cap of its own: the default (90 % of the disk) would delete all but the segment
        // being written on a build machine's fuller disk.
        &[
            "--record-dir",
            &recordings,
            "--record-segment-secs",
            "10",
            "--record-max-gb",
            "1",
        ],
        &[("LEPTOS_SITE_ROOT", site.to_str().unwrap())],
        async |_| {},
    )
    .await;
    let started = now();
    let _alone = one_at_a_time().await;
    let base = system.base.clone();

    // The owner (the household's admin) makes an invitation link on the Household page.
    let owner = Browser::logged_in_as_owner(&base).await;
    owner.find("li.device[data-online=true]").await;
    owner.click("nav a[href='/household']").await;
    owner.click("[data-test=make-invitation]").await;
    let link = owner
        .wait_js(
            "the invitation's link",
            Duration::from_secs(10),
            "return document.querySelector('#invitation-link')?.value",
        )
        .await;
    let link = link.as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{base}/register?invite=")),
        "{link}"
    );
    let open = text_of(&owner, "ul.open-invitations li.invitation").await;
    assert!(
        open.contains("expires in") && open.contains("6 d 23 h"),
        "the open invitation with its expiry (7 days by default): {open}"
    );
    owner.screenshot("household").await;

    // The second person makes their account with it; the link is used up.
    let bob = Browser::start().await;
    register_with(&bob, &link, "bob").await;
    owner.goto(&format!("{base}/household")).await;
    owner
        .wait_js(
            "the used invitation gone from the open ones",
            Duration::from_secs(15),
            "return !!document.querySelector('[data-test=no-open-invitations]')",
        )
        .await;

    // The owner opens the camera's Sharing page from its card. Someone unknown is refused in
    // the server's words; bob, named by his email, is let in with recordings allowed.
    owner.click("nav a[href='/']").await;
    owner.click("li.device [data-test=sharing-link]").await;
    owner.find("#share-with").await;
    owner.fill("#share-with", "nobody").await;
    owner.click("form.invite-share button[type=submit]").await;
    let refused = text_of(&owner, "[data-test=share-error]").await;
    assert_eq!(
        refused, "nobody is registered as \"nobody\" (username or email)",
        "the server's words"
    );
    owner.take_console().await; // the 404 Chromium logs
    owner.fill("#share-with", "bob@example.com").await;
    owner.click("#share-recordings").await;
    owner.click("form.invite-share button[type=submit]").await;
    let ok = text_of(&owner, "[data-test=share-ok]").await;
    assert!(ok.contains("bob can watch it now"), "{ok}");

    // How the camera notifies, on the same page: a 5-minute cooldown and "notify while armed
    // Home", read back from the server itself.
    owner
        .find("[data-test=camera-notifying]:not([hidden])")
        .await;
    owner
        .js(
            "const s = document.querySelector('#cooldown'); s.value = '300'; \
             s.dispatchEvent(new Event('change', { bubbles: true })); return true",
            vec![],
        )
        .await;
    owner.click("#notify-always").await;
    owner
        .wait_js(
            "the server keeping the camera's new cooldown and 'always'",
            Duration::from_secs(10),
            "const n = window.__notifying; \
             if (n && n !== 'asking' && n.cooldown_secs === 300 && n.always === true) return n; \
             if (n !== 'asking') { window.__notifying = 'asking'; \
               const d = new URLSearchParams(location.search).get('d'); \
               fetch('/api/devices/' + encodeURIComponent(d) + '/notifications') \
                 .then(r => r.json()).then(j => window.__notifying = j, () => window.__notifying = null); } \
             return null",
        )
        .await;
    let row = "li.share[data-username=bob]";
    owner.find(row).await;
    let checked = owner
        .js(
            &format!(
                "return [...document.querySelectorAll('{row} input[data-permission]')] \
                 .map(i => i.dataset.permission + '=' + i.checked)"
            ),
            vec![],
        )
        .await;
    assert_eq!(
        checked,
        serde_json::json!(["recordings=true", "notifications=true", "talk=false"])
    );
    // May talk, and admin, then back: each change is the server's (read again on reload).
    set_permission(&owner, "bob", "talk", true).await;
    owner
        .js(
            &format!(
                "const s = document.querySelector('{row} select.role'); s.value = 'admin'; \
                 s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true"
            ),
            vec![],
        )
        .await;
    owner
        .find("li.share[data-username=bob][data-role=admin]")
        .await;
    owner
        .goto(owner.client.current_url().await.unwrap().as_str())
        .await;
    owner
        .find("li.share[data-username=bob][data-role=admin]")
        .await;
    let talk = owner
        .js(
            &format!("return document.querySelector('{row} input[data-permission=talk]').checked"),
            vec![],
        )
        .await;
    assert_eq!(talk, true, "kept by the server");
    owner
        .js(
            &format!(
                "const s = document.querySelector('{row} select.role'); s.value = 'viewer'; \
                 s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true"
            ),
            vec![],
        )
        .await;
    owner
        .find("li.share[data-username=bob][data-role=viewer]")
        .await;
    set_permission(&owner, "bob", "talk", false).await;
    owner.screenshot("sharing").await;

    // Bob sees the camera "shared by owner", and no Sharing link: he is a viewer.
    bob.goto(&format!("{base}/")).await;
    let mark = bob
        .wait_js(
            "the shared-by mark on bob's dashboard",
            Duration::from_secs(15),
            "return document.querySelector('li.device [data-test=shared-by]')?.innerText",
        )
        .await;
    assert_eq!(mark.as_str(), Some("Shared by owner"));
    assert_eq!(
        bob.js(
            "return document.querySelectorAll('[data-test=sharing-link]').length",
            vec![]
        )
        .await,
        0
    );
    bob.screenshot("bob-dashboard").await;

    // He watches, with the recordings: once 25 s are recorded from his first look, a picture
    // from 15 s ago (in a finished 10 s segment) plays.
    // (After the camera's first segment: a list from before it names no codec to check.)
    let recorded = Duration::from_millis(u64::try_from(now() - started).unwrap_or_default());
    tokio::time::sleep(Duration::from_secs(15).saturating_sub(recorded)).await;
    bob.open_recordings().await;
    let opened = now();
    access_becomes(
        &bob,
        "records",
        "bob sees the recordings",
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    let back = now() - 15_000;
    assert!(back > opened, "a time recorded since he opened the camera");
    bob.click_timeline_at(back).await;
    // Where the camera had not written that second yet, it offers the nearest recording: take it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    bob.js(
        "const n = document.querySelector('.history button.nearest'); \
         if (n && !n.hidden) n.click(); return true",
        vec![],
    )
    .await;
    bob.wait_js(
        "the recorded picture playing for bob",
        Duration::from_secs(15),
        "const v = document.querySelector('video.playback'); \
         return v && v.videoWidth > 0 && document.querySelector('.playback-time').dataset.live !== 'true'",
    )
    .await;

    // Recordings off: his playback ends at once, saying why; on again: the timeline is back.
    set_permission(&owner, "bob", "recordings", false).await;
    access_becomes(
        &bob,
        "not-permitted",
        "bob's recordings withdrawn",
        Duration::from_secs(5),
    )
    .await;
    let said = text_of(&bob, ".history-message").await;
    assert!(
        said.contains("may not see this camera's recordings"),
        "{said}"
    );
    bob.screenshot("bob-recordings-withdrawn").await;
    let tile = bob.find(".tile").await;
    assert_eq!(
        tile.attr("data-phase").await.unwrap().as_deref(),
        Some("connected"),
        "live watching goes on"
    );
    set_permission(&owner, "bob", "recordings", true).await;
    access_becomes(
        &bob,
        "records",
        "bob's recordings back",
        Duration::from_secs(12),
    )
    .await;

    // Revoke, after the browser's own question: bob's live watch ends at once, and says why.
    bob.js(
        "document.querySelector('button.live')?.click(); return true",
        vec![],
    )
    .await;
    owner.click(&format!("{row} button.revoke")).await;
    let question = owner.client.get_alert_text().await.unwrap();
    assert!(
        question.contains("with bob") && question.contains("ends at once"),
        "{question}"
    );
    let revoked_at = Instant::now();
    owner.client.accept_alert().await.unwrap();
    let ended = bob
        .wait_js(
            "bob's watch ended by the revocation",
            Duration::from_secs(5),
            "const t = document.querySelector('.tile'); \
             return t?.dataset.phase === 'ended' ? t.innerText : null",
        )
        .await;
    let took = revoked_at.elapsed();
    let ended = ended.as_str().unwrap_or_default();
    assert!(
        ended.contains("your access to it was withdrawn"),
        "a clear sentence: {ended}"
    );
    assert!(took < Duration::from_secs(3), "at once: {took:?}");
    eprintln!("revoke click → bob's watch ended: {took:?}");
    bob.screenshot("bob-revoked").await;
    owner
        .wait_js(
            "bob gone from the sharing page",
            Duration::from_secs(5),
            "return !document.querySelector('li.share[data-username=bob]')",
        )
        .await;
    bob.goto(&format!("{base}/")).await;
    bob.find(".empty").await;

    // A stranger, registration closed: refused, and told how to get in.
    bob.close().await;
    let stranger = Browser::start().await;
    stranger.goto(&format!("{base}/register")).await;
    super::app_live(&stranger, "register").await;
    stranger.fill("#username", "mallory").await;
    stranger.fill("#email", "mallory@example.com").await;
    stranger.fill("#password", PASSWORD).await;
    stranger.click("button[type=submit]").await;
    let refusal = stranger
        .wait_js(
            "the stranger's refusal",
            Duration::from_secs(10),
            // The element is there before its words: wait for them.
            "return document.querySelector('[data-test=form-error]')?.innerText || null",
        )
        .await;
    let refusal = refusal.as_str().unwrap_or_default();
    assert!(
        refusal.contains("made by invitation") && refusal.contains("ask the household's admin"),
        "{refusal}"
    );
    stranger.screenshot("stranger-refused").await;
    stranger.close().await;
    super::assert_console_clean(&owner, false).await;
    owner.close().await;
}
