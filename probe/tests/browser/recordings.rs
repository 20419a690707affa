//! A recording camera in the web app, as its owner uses it: open the camera, click a minute
//! back on the timeline and see that picture, play it at 4×, go back to Live, and export twenty
//! seconds as an MP4 file that opens. In Chromium and Firefox, one after the other, on one
//! camera that has been recording for over a minute (the wait runs before the browsers take
//! their turn, beside the other browser tests).

use crate::common::System;
use crate::common::browser::{Browser, Kind, one_at_a_time, site_root};
use serde_json::Value;
use std::time::Duration;

fn now() -> i64 {
    mumu_probe::now_ms()
}

/// Waits for the recorded picture at about `at` (within 1.5 s) to be playing.
pub(crate) async fn recorded_picture_at(browser: &Browser, at: i64, what: &str) {
    browser
        .wait_js(
            what,
            Duration::from_secs(15),
            &format!(
                "const v = document.querySelector('video.playback'); \
                 const p = document.querySelector('.playback-time'); \
                 return v && v.videoWidth > 0 && v.readyState >= 2 && p.dataset.live !== 'true' \
                   && Math.abs(Number(p.dataset.ms) - {at}) < 1500"
            ),
        )
        .await;
}

async fn plays_back_and_exports(browser: &Browser) {
    browser.open_recordings().await;
    browser
        .wait_js(
            "the live picture beside the timeline",
            Duration::from_secs(20),
            "const v = document.querySelector('.tile video'); return v && v.videoWidth > 0",
        )
        .await;

    // A minute back: one click, and the picture of that time plays.
    let minute_ago = now() - 60_000;
    browser.click_timeline_at(minute_ago).await;
    recorded_picture_at(browser, minute_ago, "the picture of a minute ago").await;
    browser.screenshot("recording-a-minute-ago").await;

    // 4×: the picture's clock runs four times as fast as the wall clock (at least 3× here).
    browser
        .js(
            "const s = document.querySelector('select.speed'); s.value = '4'; \
             s.dispatchEvent(new Event('change', { bubbles: true })); return true",
            vec![],
        )
        .await;
    let (before, _) = browser.shown_time().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after, live) = browser.shown_time().await;
    assert!(!live, "still the recording");
    assert!(
        after - before >= 9_000,
        "at 4× three seconds show at least nine: {before} → {after}"
    );

    // Back to Live: one click.
    browser.click("button.live").await;
    browser
        .wait_js(
            "live again",
            Duration::from_secs(5),
            "return document.querySelector('.playback-time').dataset.live === 'true'",
        )
        .await;

    // Export twenty seconds: mark where it starts and ends on the timeline, then Export.
    let start = now() - 50_000;
    browser.click_timeline_at(start).await;
    recorded_picture_at(browser, start, "the export's start shown").await;
    browser.click("button.mark-start").await;
    let end = start + 20_000;
    browser.click_timeline_at(end).await;
    recorded_picture_at(browser, end, "the export's end shown").await;
    browser.click("button.mark-end").await;
    browser.click("button.export-start").await;
    browser
        .wait_js(
            "the export done",
            Duration::from_secs(30),
            "return document.querySelector('.export').dataset.state === 'done'",
        )
        .await;
    let (name, bytes) = browser.downloaded().await;
    assert!(name.ends_with(".mp4"), "{name}");
    let path = std::env::temp_dir().join(format!("mumu-export-{}-{name}", browser.kind.name()));
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("gst-discoverer-1.0")
        .arg(&path)
        .output()
        .expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let duration = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .unwrap_or_else(|| panic!("the export opens: {text}"));
    let seconds: f64 = duration
        .rsplit(':')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    assert!(
        (19.5..=23.0).contains(&seconds),
        "twenty seconds exported (from the keyframe before the start): {duration}"
    );
    let _ = std::fs::remove_file(&path);
    // The exported file also opens in the browser's own <video> (from a blob: URL, as the
    // app's download is; its Content-Security-Policy allows no data: media).
    let played: Value = browser
        .js(
            "const raw = atob(arguments[0]); const bytes = new Uint8Array(raw.length); \
             for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i); \
             const v = document.createElement('video'); v.muted = true; \
             v.src = URL.createObjectURL(new Blob([bytes], { type: 'video/mp4' })); \
             document.body.appendChild(v); return new Promise(done => { \
               v.onloadedmetadata = () => done(v.duration); v.onerror = () => done(-1); \
               setTimeout(() => done(-2), 10000); })",
            vec![Value::String(base64_of(&bytes))],
        )
        .await;
    let in_browser = played.as_f64().unwrap_or(-3.0);
    assert!(
        (19.0..=23.5).contains(&in_browser),
        "the browser's <video> opens the export: duration {in_browser}"
    );
    // No Content-Security-Policy violation and no panic on the way.
    super::assert_console_clean(browser, false).await;
}

fn base64_of(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_plays_a_minute_back_at_4x_and_exports_in_chromium_and_firefox() {
    let site = site_root();
    let scratch = tempfile::tempdir().unwrap();
    let recordings = scratch.path().join("recordings").display().to_string();
    let system = System::start_full(
        &[
            "--record-dir",
            &recordings,
            "--record-segment-secs",
            "15",
            "--record-max-gb",
            "1",
        ],
        &[("LEPTOS_SITE_ROOT", site.to_str().unwrap())],
        async |_| {},
    )
    .await;
    let started = now();
    // A minute and more of recording, before taking the browsers' turn (the other browser
    // tests run meanwhile).
    let recorded = Duration::from_millis(u64::try_from(now() - started).unwrap_or_default());
    tokio::time::sleep(Duration::from_secs(70).saturating_sub(recorded)).await;
    let _alone = one_at_a_time().await;
    for kind in [Kind::Chromium, Kind::Firefox] {
        let browser = Browser::logged_in_as_owner_in(kind, &system.base).await;
        plays_back_and_exports(&browser).await;
        browser.close().await;
    }
}
