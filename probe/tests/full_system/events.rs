//! Motion events between viewer and camera, peer to peer: the simulator's object crosses every
//! 5 s; a viewer lists the events and fetches their thumbnails over the session's `history`
//! data channel, and the server's own I/O shows no thumbnail passed through it; the owner sets
//! a zone and a privacy mask over the channel, reads them back, and the mask is black in the
//! live picture decoded afterwards; a `viewer` share may not touch the settings; bad input is
//! refused clearly and the channel goes on.

use crate::common::{PASSWORD, System};
use crate::recording::{io_bytes, refused_for_permission, share_with_guest, watch_with_history};
use mumu_probe::history::{HistoryChannel, HistoryError, jpeg_size};
use mumu_probe::watch::{WatchOptions, watch};
use mumu_shared::events::{MotionSettings, MotionZone, Point, PrivacyMask, rectangle};
use mumu_shared::history::{ListEvents, RefusalCode};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::sync::mpsc;

/// The agent's picture in these tests: 640x480 still bars with the clock, an object crossing
/// every 5 s.
const AGENT: &[&str] = &["--simulate-motion-every", "5", "--test-pattern", "smpte75"];

/// Thumbnails are the analysed picture: 320 px wide, the camera's shape.
const THUMBNAIL: (u16, u16) = (320, 240);

/// Decodes `jpeg` with GStreamer's `jpegdec` to grey pixels; their count, or what it said.
fn decoded_jpeg_pixels(jpeg: &[u8], dir: &Path) -> Result<usize, String> {
    let (input, output) = (dir.join("thumbnail.jpg"), dir.join("thumbnail.grey"));
    std::fs::write(&input, jpeg).map_err(|e| e.to_string())?;
    let out = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", input.display()))
        .args([
            "!",
            "jpegdec",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=GRAY8",
        ])
        .args(["!", "filesink"])
        .arg(format!("location={}", output.display()))
        .output()
        .map_err(|e| format!("gst-launch-1.0: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    std::fs::metadata(&output)
        .map(|m| m.len() as usize)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_lists_events_and_fetches_thumbnails_peer_to_peer_and_the_server_carries_none() {
    let system = System::start_with(AGENT).await;
    share_with_guest(&system, false).await;
    // Three crossings.
    tokio::time::sleep(Duration::from_secs(16)).await;

    let (watching, mut history) = watch_with_history(&system, "guest", 60).await;
    let listed = history.list_events(ListEvents::default()).await.unwrap();
    assert!(listed.detecting, "{listed:?}");
    assert!(
        listed.events.len() >= 2 && !listed.truncated,
        "a crossing every 5 s for 16 s: {listed:?}\n{}",
        system.agent_log()
    );
    assert!(
        listed.events.windows(2).all(|w| w[0].start > w[1].start),
        "newest first: {listed:?}"
    );
    assert!(listed.events.iter().all(|e| e.thumbnail), "{listed:?}");

    // Paging back: one at a time, each before the last.
    let one = ListEvents {
        limit: Some(1),
        ..ListEvents::default()
    };
    let newest = history.list_events(one.clone()).await.unwrap();
    assert!(newest.truncated, "more than one: {newest:?}");
    let next = history
        .list_events(ListEvents {
            before: Some(newest.events[0].start),
            ..one
        })
        .await
        .unwrap();
    assert!(next.events[0].start < newest.events[0].start, "{next:?}");

    // A thumbnail: a JPEG of the analysed picture's size that a decoder opens.
    let event = listed.events[0].clone();
    let (thumbnail, jpeg) = history.thumbnail(1, event.start).await.unwrap();
    assert_eq!(thumbnail.mime, "image/jpeg");
    assert_eq!(jpeg_size(&jpeg), Some(THUMBNAIL), "{} bytes", jpeg.len());
    let pixels = decoded_jpeg_pixels(&jpeg, system.dir.path())
        .unwrap_or_else(|e| panic!("the thumbnail does not decode: {e}"));
    assert_eq!(pixels, 320 * 240, "one grey byte a pixel");

    // Many thumbnails, with the server's I/O counted around them.
    let server_pid = system.server.as_ref().unwrap().0.id();
    let io_before = io_bytes(server_pid);
    let (mut fetched, mut count) = (0, 0);
    for (i, event) in listed.events.iter().cycle().enumerate().take(1_000) {
        let (_, bytes) = history.thumbnail(10 + i as u32, event.start).await.unwrap();
        fetched += bytes.len();
        count += 1;
        if fetched > 1_000_000 {
            break;
        }
    }
    let io = io_bytes(server_pid) - io_before;
    eprintln!("{count} thumbnails, {fetched} bytes; the server's I/O meanwhile: {io} bytes");
    assert!(
        fetched > 1_000_000,
        "the thumbnails went to the viewer: {fetched} bytes"
    );
    assert!(
        io < 100_000 && io * 5 < fetched as u64,
        "the server read and wrote {io} bytes while {fetched} bytes of thumbnails went to the viewer: it carried none of them"
    );

    // What is not there is refused, by name; the channel goes on.
    match history.thumbnail(100, 1_000).await {
        Err(HistoryError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::NoEvent, "{r:?}");
            assert!(r.message.contains("1970-01-01T00:00:01Z"), "{r:?}");
        }
        other => panic!("a thumbnail of no event is refused: {other:?}"),
    }
    match history
        .list_events(ListEvents {
            limit: Some(10_000),
            ..ListEvents::default()
        })
        .await
    {
        Err(HistoryError::Refused(r)) => {
            assert_eq!(r.code, RefusalCode::BadMessage, "{r:?}");
            assert!(r.message.contains("`limit`"), "names the field: {r:?}");
        }
        other => panic!("too many events at once are refused: {other:?}"),
    }

    // A `viewer` share sees events, never the settings.
    refused_for_permission(history.motion_settings().await, "get_motion_settings");
    refused_for_permission(
        history.set_motion_settings(MotionSettings::default()).await,
        "set_motion_settings",
    );
    assert!(
        !history
            .list_events(ListEvents::default())
            .await
            .unwrap()
            .events
            .is_empty()
    );
    watching.abort();
}

/// Asks for `settings` and expects a refusal of `code` whose message has `names`.
async fn refused_settings(
    history: &mut HistoryChannel,
    settings: MotionSettings,
    code: RefusalCode,
    names: &str,
) {
    match history.set_motion_settings(settings).await {
        Err(HistoryError::Refused(r)) => {
            assert_eq!(r.code, code, "{r:?}");
            assert!(r.message.contains(names), "names {names:?}: {r:?}");
        }
        other => panic!("refused ({names}): {other:?}"),
    }
}

/// A watch as the owner for `seconds`, with the shown session's H.264 stream kept.
async fn live_video(system: &System, seconds: u64) -> Vec<u8> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut options = WatchOptions::new(
        &system.base,
        "owner",
        PASSWORD,
        Duration::from_secs(seconds),
    );
    options.video = Some(tx);
    let summary = watch(&options).await.expect("the owner watches");
    assert!(summary.first_frame_verified, "{summary:?}");
    let mut stream = Vec::new();
    while let Ok(bytes) = rx.try_recv() {
        stream.extend_from_slice(&bytes);
    }
    stream
}

/// Decodes an H.264 stream with GStreamer's `avdec_h264` to grey 640x480 frames.
fn decoded_frames(h264: &[u8], dir: &Path) -> Vec<Vec<u8>> {
    let (input, output) = (dir.join("live.h264"), dir.join("live.grey"));
    std::fs::write(&input, h264).unwrap();
    let out = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", input.display()))
        .args(["!", "h264parse", "!", "avdec_h264", "!", "videoconvert"])
        .args(["!", "video/x-raw,format=GRAY8,width=640,height=480"])
        .args(["!", "filesink"])
        .arg(format!("location={}", output.display()))
        .output()
        .expect("gst-launch-1.0 runs");
    assert!(
        out.status.success(),
        "the live stream decodes: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grey = std::fs::read(&output).unwrap();
    grey.chunks_exact(640 * 480).map(<[u8]>::to_vec).collect()
}

/// The mean level of the pixels of `frame` (640x480 grey) in the rectangle, in percent of the
/// picture.
fn mean_level(frame: &[u8], (left, top, right, bottom): (usize, usize, usize, usize)) -> f64 {
    let (x0, x1) = (left * 640 / 100, right * 640 / 100);
    let (y0, y1) = (top * 480 / 100, bottom * 480 / 100);
    let mut sum = 0u64;
    for y in y0..y1 {
        sum += frame[y * 640 + x0..y * 640 + x1]
            .iter()
            .map(|&p| u64::from(p))
            .sum::<u64>();
    }
    sum as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_sets_a_zone_and_a_mask_over_the_channel_and_the_mask_is_black_live() {
    let system = System::start_with(AGENT).await;
    let (watching, mut history) = watch_with_history(&system, "owner", 90).await;
    let before = history.motion_settings().await.unwrap();
    assert_eq!(before.settings, MotionSettings::default(), "{before:?}");
    assert!(
        before.detecting,
        "the simulator's motion turns detection on"
    );

    // The band the object crosses is the zone; the bars' top left is masked.
    let settings = MotionSettings {
        zones: vec![MotionZone {
            name: "path".into(),
            points: rectangle(0, 3500, 10_000, 7500),
        }],
        masks: vec![PrivacyMask {
            points: rectangle(0, 0, 4000, 5000),
        }],
        ..MotionSettings::default()
    };
    let applied = history.set_motion_settings(settings.clone()).await.unwrap();
    assert_eq!(applied.settings, settings);
    assert_eq!(history.motion_settings().await.unwrap().settings, settings);
    let kept = std::fs::read_to_string(system.dir.path().join("agent/events/motion.json"))
        .expect("the camera keeps its settings");
    assert!(kept.contains("\"path\""), "{kept}");

    // Bad input: refused by name, nothing changes, the channel goes on.
    let mut outside = settings.clone();
    outside.zones[0].points[2] = Point::new(12_000, 7500);
    refused_settings(
        &mut history,
        outside,
        RefusalCode::InvalidSettings,
        "zone \"path\": point 2 (12000, 7500) is outside the picture",
    )
    .await;
    let mut seventeen = settings.clone();
    seventeen.masks[0].points = (0..17)
        .map(|i| Point::new(i * 500, (i % 2) * 900))
        .collect();
    refused_settings(
        &mut history,
        seventeen,
        RefusalCode::InvalidSettings,
        "mask 0: 17 points (a shape has 3 to 16)",
    )
    .await;
    history
        .send_text(r#"{"type":"format_disk","payload":{},"request_id":"x"}"#)
        .await
        .unwrap();
    let refused = history.next_text(Duration::from_secs(5)).await.unwrap();
    let text = format!("{refused:?}");
    assert!(
        text.contains("BadMessage") && text.contains("format_disk"),
        "an unknown type is named: {text}"
    );
    history
        .send_text(r#"{"type":"set_motion_settings","payload":{"settings":{"zones":"all"}}}"#)
        .await
        .unwrap();
    let refused = format!(
        "{:?}",
        history.next_text(Duration::from_secs(5)).await.unwrap()
    );
    assert!(
        refused.contains("BadMessage") && refused.contains("`settings`"),
        "a malformed body names the field: {refused}"
    );
    // 10 MB of zones, and just over the camera's 256 KiB. webrtc-rs sends no message past the
    // camera's SCTP max-message-size; one it sends, the camera refuses by its size.
    let zones = |count| {
        let zone = r#"{"name":"z","points":[{"x":1,"y":1},{"x":9,"y":1},{"x":9,"y":9}]}"#;
        format!(
            r#"{{"type":"set_motion_settings","payload":{{"settings":{{"zones":[{}]}}}}}}"#,
            vec![zone; count].join(",")
        )
    };
    for (what, text) in [("10 MB", zones(160_000)), ("257 KiB", zones(4_000))] {
        assert!(text.len() > 257 * 1024, "{what}: {}", text.len());
        match history.send_text(&text).await {
            Err(e) => eprintln!("the {what} message was refused by the sender: {e}"),
            Ok(()) => {
                let refused = format!("{:?}", history.next_text(Duration::from_secs(20)).await);
                assert!(
                    refused.contains("BadMessage") && refused.contains("at most 262144 bytes"),
                    "the camera refuses {what} by its size: {refused}"
                );
                eprintln!("the {what} message was refused by the camera");
            }
        }
    }
    assert_eq!(
        history.motion_settings().await.unwrap().settings,
        settings,
        "nothing refused changed the settings, and the channel still answers"
    );

    // The mask is black in the live picture; the bars beside it are not.
    let frames = decoded_frames(&live_video(&system, 3).await, system.dir.path());
    assert!(frames.len() >= 30, "{} frames decoded", frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let masked = mean_level(frame, (2, 2, 38, 48));
        let beside = mean_level(frame, (45, 5, 55, 45));
        assert!(
            masked <= 20.0,
            "frame {i}: the masked bars are {masked:.0}, not black"
        );
        assert!(
            beside >= 80.0,
            "frame {i}: the bars beside the mask are {beside:.0}"
        );
    }

    // Events from now on name the zone.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let listed = history.list_events(ListEvents::default()).await.unwrap();
    let newest = listed.events.first().expect("events after the change");
    assert_eq!(newest.zones, ["path"], "{listed:?}");
    watching.abort();
}
