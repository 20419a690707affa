//! The camera's sound in the web app, in a real browser against the real server and the
//! simulated camera with `--audio` (a 1 kHz beep of 100 ms at the start of every second of the
//! clock in its picture). The tile plays it muted, with an unmute button and a volume; an
//! `AnalyserNode` on the received audio track hears the beep once a second, before the unmute
//! (the track arriving while the element is muted) and after it; the beep's output time against
//! the time the frame showing the clock's new second is displayed is the A/V sync figure; the
//! choice is remembered for the camera. A camera without sound says so.

use crate::common::System;
use crate::common::browser::{Browser, Kind, one_at_a_time, site_root};
use serde_json::{Value, json};
use std::time::Duration;

/// How close the beep must be to the picture's second in `kind`, ms. In Chromium, issue 36's
/// aim: 80 ms. Firefox here plays into its stand-in sound device (the test machines have none),
/// whose clock moves in 10 ms steps and which reports no output latency, and its jitter buffer
/// grows on a loaded machine (50 ms rising to 166 ms within 8 s on a cold CI run, with builds
/// beside the tests): its figure is printed, and held only to a bound that catches sound and
/// picture coming apart (a lost pairing is a second out).
fn sync_bound_ms(kind: Kind) -> f64 {
    match kind {
        Kind::Firefox => 250.0,
        _ => 80.0,
    }
}

/// Installed in the page: listens to the first tile's audio track and watches its picture's
/// clock, into `window.__mumuSound`, until the next install.
///
/// - Sound: an `AnalyserNode` on the track, read every 10 ms (its last 2048 samples, about
///   43 ms, so reads overlap); each 5 ms block's 1 kHz amplitude by Goertzel. A beep starts at a
///   loud block that follows a quiet one in the same read, at least 300 ms after the last loud
///   block. Its time is the block's audio-clock time turned into the page's clock by
///   `getOutputTimestamp()`: when it comes out of the speaker.
/// - Picture: `requestVideoFrameCallback` draws each frame's top-left corner (a quarter of the
///   width, a seventh of the height: where the clock is) and counts the pixels whose luma moved
///   by more than 48 since the last frame; over 2 per mille is the clock's second changing (as
///   the probe's `sync.rs` reads it). Its time is the frame's `expectedDisplayTime`.
const LISTEN: &str = r#"
const old = window.__mumuSound; if (old) old.stop();
const v = document.querySelector('.tile video');
const track = v.srcObject && v.srcObject.getAudioTracks()[0];
if (!track) return 'no audio track';
const ctx = new AudioContext();
ctx.resume();
const source = ctx.createMediaStreamSource(new MediaStream([track]));
const analyser = ctx.createAnalyser();
analyser.fftSize = 2048;
source.connect(analyser);
const rate = ctx.sampleRate, block = Math.round(rate / 200), data = new Float32Array(2048);
const k = 2 * Math.cos(2 * Math.PI * 1000 / rate);
const tone = (from) => {
  let s1 = 0, s2 = 0;
  for (let i = 0; i < block; i++) { const s0 = data[from + i] + k * s1 - s2; s2 = s1; s1 = s0; }
  return 2 * Math.sqrt(Math.max(s1 * s1 + s2 * s2 - k * s1 * s2, 0)) / block;
};
const LOUD = 0.06;
const w = window.__mumuSound = { beeps: [], changes: [], frames: 0, reads: 0, loudest: 0,
  noise: 0, lastLoud: -10, state: ctx.state, rate };
const read = setInterval(() => {
  const now = ctx.currentTime;
  const stamp = ctx.getOutputTimestamp();
  analyser.getFloatTimeDomainData(data);
  w.reads++; w.state = ctx.state;
  w.latencyMs = ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) * 1000;
  let quietBefore = false;
  for (let from = data.length % block; from + block <= data.length; from += block) {
    const at = now - (data.length - from) / rate;
    const a = tone(from);
    w.loudest = Math.max(w.loudest, a);
    if (a >= LOUD) {
      if (quietBefore && at - w.lastLoud > 0.3) {
        // Without an output timestamp (no output device), when it was rendered.
        w.beeps.push(stamp.performanceTime > 0
          ? stamp.performanceTime + (at - stamp.contextTime) * 1000
          : performance.now() - (now - at) * 1000);
        w.stamped = stamp.performanceTime > 0;
      }
      w.lastLoud = Math.max(w.lastLoud, at);
      quietBefore = false;
    } else {
      quietBefore = true;
    }
  }
}, 10);
const canvas = document.createElement('canvas');
const draw = canvas.getContext('2d', { willReadFrequently: true });
let previous = null, lastChange = -1e9, stopped = false;
const frame = (now, meta) => {
  if (stopped) return;
  const cw = Math.floor(v.videoWidth / 4), ch = Math.floor(v.videoHeight / 7);
  if (cw > 0 && ch > 0) {
    canvas.width = cw; canvas.height = ch;
    draw.drawImage(v, 0, 0, cw, ch, 0, 0, cw, ch);
    const px = draw.getImageData(0, 0, cw, ch).data;
    const luma = new Uint8Array(cw * ch);
    for (let i = 0; i < luma.length; i++) {
      luma[i] = (px[4 * i] * 77 + px[4 * i + 1] * 150 + px[4 * i + 2] * 29) >> 8;
    }
    if (previous && previous.length === luma.length) {
      let moved = 0;
      for (let i = 0; i < luma.length; i++) if (Math.abs(luma[i] - previous[i]) > 48) moved++;
      const perMille = moved * 1000 / luma.length;
      const shown = meta.expectedDisplayTime || now;
      if (perMille > 2 && shown - lastChange > 500) { w.changes.push(shown); lastChange = shown; }
      else w.noise = Math.max(w.noise, perMille);
    }
    previous = luma;
    w.frames++;
  }
  v.requestVideoFrameCallback(frame);
};
v.requestVideoFrameCallback(frame);
w.stop = () => { stopped = true; clearInterval(read); ctx.close(); };
return true;
"#;

/// What one listening heard and saw.
#[derive(Debug)]
struct Heard {
    /// Beeps, ms of the page's clock, when output.
    beeps: Vec<f64>,
    /// The picture's second changes, ms of the page's clock, when displayed.
    changes: Vec<f64>,
    /// The rest, as the page reported it (reads, frames, loudest, noise, the context's state).
    raw: Value,
}

impl Heard {
    fn beep_interval_ms(&self) -> Option<f64> {
        median(self.beeps.windows(2).map(|w| w[1] - w[0]).collect())
    }

    /// Each beep minus the second change nearest it (within 400 ms), ms: positive when the
    /// sound comes late.
    fn offsets_ms(&self) -> Vec<f64> {
        self.beeps
            .iter()
            .filter_map(|beep| {
                self.changes
                    .iter()
                    .map(|change| beep - change)
                    .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                    .filter(|offset| offset.abs() <= 400.0)
            })
            .collect()
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Listens to the first tile for `seconds`.
async fn listen(browser: &Browser, seconds: u64) -> Heard {
    let installed = browser.js(LISTEN, vec![]).await;
    assert_eq!(installed, json!(true), "the listener installed");
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let raw = browser
        .js(
            "const w = window.__mumuSound; \
             return { beeps: w.beeps, changes: w.changes, frames: w.frames, reads: w.reads, \
               loudest: w.loudest, noise: w.noise, state: w.state, rate: w.rate, stamped: w.stamped, \
               latencyMs: w.latencyMs }",
            vec![],
        )
        .await;
    let times = |name: &str| -> Vec<f64> {
        raw[name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect()
    };
    Heard {
        beeps: times("beeps"),
        changes: times("changes"),
        raw,
    }
}

/// The beep heard once a second for `seconds`, each in step with the picture's second.
fn assert_in_step(kind: Kind, what: &str, heard: &Heard, seconds: u64) {
    let bound = sync_bound_ms(kind);
    let offsets = heard.offsets_ms();
    let p50 = median(offsets.clone());
    let worst = offsets
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()));
    eprintln!(
        "{} {what}: {} beeps, one every {:?} ms; {} second changes; A/V offset (beep − picture) \
         p50 {p50:?} ms, worst {worst:?} ms, all {offsets:?}; page: {}",
        kind.name(),
        heard.beeps.len(),
        heard.beep_interval_ms(),
        heard.changes.len(),
        heard.raw
    );
    let at_least = seconds as usize - 2;
    assert!(
        heard.beeps.len() >= at_least,
        "a beep each second {what}: {heard:?}"
    );
    let interval = heard.beep_interval_ms().unwrap_or(f64::NAN);
    assert!(
        (interval - 1000.0).abs() <= 50.0,
        "once a second {what}: {heard:?}"
    );
    assert!(
        heard.changes.len() >= at_least,
        "the picture's clock seen {what}: {heard:?}"
    );
    assert!(
        offsets.len() >= at_least - 1,
        "beeps paired {what}: {heard:?}"
    );
    assert!(
        p50.is_some_and(|p| p.abs() < bound),
        "the beep within {bound} ms of the picture's second {what}: p50 {p50:?}, {offsets:?}"
    );
    let within = offsets.iter().filter(|o| o.abs() < bound).count();
    assert!(
        within * 4 >= offsets.len() * 3,
        "three beeps in four within {bound} ms {what}: {offsets:?}"
    );
}

/// The first tile's sound control (`data-sound`) and its video's `muted`, `volume`, `paused`.
async fn sound_state(browser: &Browser) -> Value {
    browser
        .js(
            "const t = document.querySelector('.tile'); const v = t.querySelector('video'); \
             const s = t.querySelector('[data-sound]'); \
             return { sound: s && s.dataset.sound, muted: v.muted, volume: v.volume, \
               paused: v.paused, time: v.currentTime, \
               used: navigator.userActivation ? navigator.userActivation.hasBeenActive : null }",
            vec![],
        )
        .await
}

/// Waits for the first tile live with its sound control saying `sound` (any, when empty).
async fn wait_for_sound(browser: &Browser, what: &str, sound: &str) {
    let sound = if sound.is_empty() {
        String::new()
    } else {
        format!("={sound}")
    };
    browser
        .wait_js(
            what,
            Duration::from_secs(20),
            &format!(
                "const t = document.querySelector('.tile'); \
                 return t && t.dataset.phase === 'connected' \
                   && t.querySelector('[data-sound{sound}]') !== null"
            ),
        )
        .await;
}

async fn hears_the_camera(kind: Kind) {
    let _alone = one_at_a_time().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let system = System::start_full(
        &["--audio", "--test-pattern", "smpte75"],
        &env,
        async |_| {},
    )
    .await;
    let browser = Browser::logged_in_as_owner_in(kind, &system.base).await;
    browser.find("li.device[data-online=true]").await;
    browser.watch_from_dashboard().await;

    // Muted at first, with the button and the volume.
    wait_for_sound(&browser, "the tile's sound, muted", "muted").await;
    let state = sound_state(&browser).await;
    assert_eq!(state["muted"], json!(true), "{state}");
    browser.find(".tile .sound input.volume").await;
    browser.screenshot("sound-muted").await;
    let heard = listen(&browser, 8).await;
    assert_in_step(kind, "while muted", &heard, 8);

    // Unmute: the element plays the sound, and the picture goes on.
    browser.click(".tile .sound button.mute").await;
    wait_for_sound(&browser, "the tile's sound on after the click", "on").await;
    let state = sound_state(&browser).await;
    assert_eq!(
        (&state["muted"], &state["paused"]),
        (&json!(false), &json!(false)),
        "{state}"
    );
    let heard = listen(&browser, 8).await;
    assert_in_step(kind, "after unmuting", &heard, 8);
    let later = sound_state(&browser).await;
    assert!(
        later["time"].as_f64() > state["time"].as_f64() && later["paused"] == json!(false),
        "the video still plays: {state} then {later}"
    );
    browser.screenshot("sound-on").await;

    // The volume, then the camera watched again: the choice comes back with it.
    browser
        .js(
            "const r = document.querySelector('.tile input.volume'); r.value = '0.3'; \
             r.dispatchEvent(new Event('input', { bubbles: true })); return true",
            vec![],
        )
        .await;
    browser
        .wait_js(
            "the volume at 0.3",
            Duration::from_secs(5),
            "return Math.abs(document.querySelector('.tile video').volume - 0.3) < 0.01",
        )
        .await;
    browser.watch_from_dashboard().await;
    wait_for_sound(&browser, "the tile again", "").await;
    eprintln!("watched again: {}", sound_state(&browser).await);
    wait_for_sound(&browser, "the sound on again, remembered", "on").await;
    let state = sound_state(&browser).await;
    assert_eq!(state["muted"], json!(false), "{state}");
    assert!(
        (state["volume"].as_f64().unwrap_or_default() - 0.3).abs() < 0.01,
        "{state}"
    );

    // Mute: remembered too.
    browser.click(".tile .sound button.mute").await;
    wait_for_sound(&browser, "muted again", "muted").await;
    let kept = browser
        .js(
            "return Object.keys(localStorage).filter(k => k.startsWith('mumu.sound.')) \
               .map(k => localStorage.getItem(k))",
            vec![],
        )
        .await;
    assert_eq!(kept, json!(["off 0.3"]));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_camera_is_heard_in_step_with_its_picture_in_chromium() {
    hears_the_camera(Kind::Chromium).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_camera_is_heard_in_step_with_its_picture_in_firefox() {
    hears_the_camera(Kind::Firefox).await;
}

/// A camera without sound says so on its tile, with no button that would do nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_camera_without_sound_says_so() {
    let _alone = one_at_a_time().await;
    let site = site_root();
    let env = [("LEPTOS_SITE_ROOT", site.to_str().unwrap())];
    let system = System::start_full(&[], &env, async |_| {}).await;
    let browser = Browser::logged_in_as_owner(&system.base).await;
    browser.find("li.device[data-online=true]").await;
    browser.watch_from_dashboard().await;
    wait_for_sound(&browser, "the tile saying it has no sound", "none").await;
    let said = browser
        .find(".tile .sound.none")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(said, "No sound");
    let buttons = browser
        .js(
            "return document.querySelectorAll('.tile .sound button, .tile input.volume').length",
            vec![],
        )
        .await;
    assert_eq!(buttons, json!(0));
    browser.close().await;
}
