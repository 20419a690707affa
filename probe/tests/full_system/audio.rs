//! The camera's sound through the whole system: the real agent with `--audio` on its still
//! test picture, the real server, the probe decoding the Opus (and the picture, to line the
//! beep up with the clock); the server's own I/O shows none of the sound passed through it; a
//! viewer refusing the sound, or asking for it in a codec the camera lacks, gets the picture.

use crate::common::{self, System};
use crate::recording::io_bytes;
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
    // (A beep cut by the watch's start may count without a loud window.)
    assert!(
        audio.tone_windows + 1 >= audio.beeps as u64
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

/// The UDP sockets `pid` holds: RTP travels over UDP, so a process without one relays none.
fn udp_sockets(pid: u32) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/<pid>/fd")
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    ["udp", "udp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok())
        .flat_map(|text| {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
            text.lines()
                .skip(1)
                .filter_map(|line| line.split_whitespace().nth(9).map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

/// No sound passes through the server: in the steady middle of a watch (the signaling done),
/// its own reads and writes (`/proc/<pid>/io`: sockets, its log, its database) stay far below
/// the Opus the viewer received meanwhile, and it holds no UDP socket, which RTP would need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_carries_none_of_the_sound() {
    let system = System::start_with(&["--audio", "--test-pattern", "smpte75"]).await;
    let server = system.server.as_ref().unwrap().0.id();
    let (from, to) = (Duration::from_secs(5), Duration::from_secs(15));
    let sampling = async {
        tokio::time::sleep(from).await;
        let before = io_bytes(server);
        tokio::time::sleep(to - from).await;
        io_bytes(server) - before
    };
    let (summary, io) = tokio::join!(watch_with(&system, 18.0, |_| {}), sampling);
    let audio = summary.audio.clone().expect("sound arrived");
    // The beep repeats each second, so the sound's bytes come at an even rate.
    let window = (to - from).as_secs_f64();
    let heard = audio.bytes as f64 * window / summary.seconds.max(window);
    eprintln!(
        "{window} s in the middle of a {:.1} s watch: about {heard:.0} bytes of Opus payload reached the viewer ({} bytes, {} packets in all); the server read and wrote {io} bytes",
        summary.seconds, audio.bytes, audio.packets
    );
    assert!(
        audio.packets as f64 >= 45.0 * summary.seconds,
        "50 packets a second reached the viewer: {audio:?}"
    );
    assert!(
        (io as f64) * 4.0 < heard,
        "the server read and wrote {io} bytes while about {heard:.0} bytes of sound went to the viewer: it carried none of them"
    );
    assert_eq!(udp_sockets(server), 0, "the server holds no UDP socket");
}

/// An answer asking for the sound in a codec the camera does not send (PCMU) is taken as a
/// refusal of the sound, said so in the camera's log: the picture goes on at full rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_asking_for_a_codec_the_camera_lacks_gets_the_picture_alone() {
    let system = System::start_with(&["--audio"]).await;
    let summary = watch_with(&system, 4.0, |o| o.answer_pcmu = true).await;
    assert!(summary.first_frame_verified, "{summary:?}");
    assert!(summary.fps >= 25.0, "the picture at full rate: {summary:?}");
    assert_eq!(summary.large_gaps, 0, "{summary:?}");
    assert!(
        summary.audio.as_ref().is_none_or(|a| a.packets == 0),
        "no sound sent: {summary:?}"
    );
    let log = system.agent_log();
    assert!(
        log.contains("asks for the sound as PCMU/8000, which this camera does not send")
            && log.contains("declined the sound"),
        "{log}"
    );
}
