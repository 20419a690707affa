//! The camera's sound through the whole system: the real agent with `--audio` on its still
//! test picture, the real server, the probe decoding the Opus (and the picture, to line the
//! beep up with the clock).

use crate::common::{self, System};
use mumu_probe::watch::{Summary, WatchOptions, watch};
use std::time::Duration;

/// A/V sync bound for the test: generous against the 80 ms on a loaded machine (the
/// figure itself is printed by `mumu-probe --sync` and the agent benchmark's sound part).
const SYNC_BOUND_MS: f64 = 150.0;

async fn watch_with(
    system: &System,
    seconds: f64,
    adjust: impl FnOnce(&mut WatchOptions),
) -> Summary {
    let mut options = WatchOptions::new(
        &system.base,
        "owner",
        common::PASSWORD,
        Duration::from_secs_f64(seconds),
    );
    adjust(&mut options);
    watch(&options).await.unwrap_or_else(|e| {
        panic!(
            "the watch failed: {e}\n--- agent log ---\n{}",
            system.agent_log()
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sound_the_probe_decodes_a_1_khz_beep_each_second_in_step_with_the_clock() {
    let system = System::start_with(&["--audio", "--test-pattern", "smpte75"]).await;
    let summary = watch_with(&system, 6.0, |o| o.sync = true).await;
    assert!(summary.fps >= 25.0, "the picture as before: {summary:?}");
    let audio = summary.audio.clone().expect("sound arrived");
    eprintln!("{audio:#?}");
    assert_eq!(audio.decoder_error, None);
    // 50 Opus packets (20 ms) a second.
    assert!(audio.packets >= 250, "{audio:?}");
    assert!(audio.samples >= 5 * 48_000, "decoded: {audio:?}");
    assert!(audio.beeps >= 5, "a beep each second: {audio:?}");
    let interval = audio.beep_interval_ms.expect("beeps");
    assert!(
        (interval - 1000.0).abs() <= 25.0,
        "once a second: {audio:?}"
    );
    let length = audio.beep_length_ms.expect("beeps that ended");
    assert!((80.0..=130.0).contains(&length), "100 ms each: {audio:?}");
    // Each beep covers one or two of the 100 ms windows, the rest of the second is quiet.
    assert!(
        audio.tone_windows >= audio.beeps as u64
            && audio.tone_windows <= 2 * audio.beeps as u64 + 2,
        "{audio:?}"
    );
    let sync = audio.sync.expect("the picture was decoded");
    assert!(
        sync.second_changes >= 5,
        "the clock's seconds seen: {sync:?}"
    );
    assert!(sync.pairs >= 4, "beeps paired with seconds: {sync:?}");
    let worst = sync.offset_max_ms.expect("pairs");
    assert!(
        worst.abs() < SYNC_BOUND_MS,
        "beep against the picture's second: {sync:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sound_no_audio_arrives() {
    let system = System::start().await;
    let summary = system.watch_ok(2.0).await;
    assert!(summary.audio.is_none(), "{summary:?}");
    assert!(
        system.agent_log().contains("audio=none"),
        "the agent says it has no sound: {}",
        system.agent_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_whose_answer_refuses_the_sound_still_gets_the_picture() {
    let system = System::start_with(&["--audio"]).await;
    let summary = watch_with(&system, 4.0, |o| o.refuse_audio = true).await;
    assert!(summary.first_frame_verified, "{summary:?}");
    assert!(summary.fps >= 25.0, "the picture at full rate: {summary:?}");
    assert_eq!(summary.large_gaps, 0, "{summary:?}");
    assert!(
        summary.audio.as_ref().is_none_or(|a| a.packets == 0),
        "no sound sent: {summary:?}"
    );
    assert!(
        system.agent_log().contains("declined the sound"),
        "{}",
        system.agent_log()
    );
    // The camera goes on serving sound to the next viewer who takes it.
    let next = watch_with(&system, 2.0, |_| {}).await;
    assert!(
        next.audio.as_ref().is_some_and(|a| a.beeps >= 1),
        "{next:?}"
    );
}
