//! `mumu-probe`: a headless MuMu viewer on webrtc-rs. It logs in, watches a device through the
//! real server, answers the device's offer, and proves the H.264 arrives: packets, bytes,
//! frames and keyframes per second, the selected candidate pair, and the time to the first
//! frame a decoder could show (SPS, PPS and an IDR before it).
//!
//! With sound from the camera it decodes the Opus and listens for the simulator's beep; asked
//! to, it decodes the picture too and measures A/V sync against the simulator's clock.
//!
//! Code map: [`watch`] runs one watch over [`rest`], [`viewer_socket`] and [`peer`];
//! [`stream_check`] and [`h264`] judge the packets; [`decode`] decodes with GStreamer,
//! [`audio_check`] listens to the sound and [`sync`] lines it up with the picture; [`history`]
//! talks to a recording camera over its `history` data channel.

pub mod audio_check;
pub mod decode;
pub mod h264;
pub mod history;
pub mod peer;
pub mod rest;
pub mod stream_check;
pub mod sync;
pub mod viewer_socket;
pub mod watch;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> mumu_shared::UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
