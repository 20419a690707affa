//! A viewer's data channel, as the rest of the agent sees it: text and binary messages in and
//! out, and how much is waiting to be sent, without GStreamer's types.
//!
//! The channel is made by the viewer's branch (webrtcbin's `create-data-channel`) before its
//! offer, so the offer carries its `m=application` section; ordered and reliable, webrtcbin's
//! defaults. What it hears arrives on GStreamer's threads: a [`ChannelHandler`] must hand it on
//! and return at once.

use super::MediaError;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;
use std::fmt;
use std::sync::{Arc, Weak};

/// What the owner of a channel hears from it, on GStreamer's threads.
pub trait ChannelHandler: Send + Sync {
    /// A text message.
    fn on_text(&self, text: &str);
    /// A binary message.
    fn on_binary(&self, bytes: &[u8]);
    /// The bytes waiting to be sent fell below the low threshold: there is room again.
    fn on_room(&self);
    /// The channel closed (the viewer left, or the peer connection broke).
    fn on_closed(&self);
}

/// Called with the channel as soon as the branch made it (before its offer).
#[derive(Clone)]
pub struct ChannelHook {
    /// The channel's label.
    pub label: String,
    /// Takes the new channel.
    pub made: Arc<dyn Fn(DataChannel) + Send + Sync>,
}

impl fmt::Debug for ChannelHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelHook")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// One data channel of a viewer's peer connection. Cloning shares it.
#[derive(Clone, Debug)]
pub struct DataChannel(gst_webrtc::WebRTCDataChannel);

impl DataChannel {
    /// Makes an ordered, reliable channel called `label` on `webrtcbin` (which must be at
    /// least READY, and not have made its offer yet for the channel to be in it).
    pub fn create(webrtcbin: &gst::Element, label: &str) -> Result<Self, MediaError> {
        let channel = webrtcbin
            .emit_by_name::<Option<gst_webrtc::WebRTCDataChannel>>(
                "create-data-channel",
                &[&label, &None::<gst::Structure>],
            )
            .ok_or_else(|| MediaError::Gst(format!("webrtcbin made no {label:?} data channel")))?;
        Ok(Self(channel))
    }

    /// Tells `handler` what the channel hears from now on; it is told of room once fewer than
    /// `low_threshold` bytes wait to be sent. The channel holds the handler weakly.
    pub fn serve(&self, handler: Weak<dyn ChannelHandler>, low_threshold: u64) {
        self.0.set_buffered_amount_low_threshold(low_threshold);
        let h = handler.clone();
        self.0.connect_on_message_string(move |_, text| {
            if let (Some(handler), Some(text)) = (h.upgrade(), text) {
                handler.on_text(text);
            }
        });
        let h = handler.clone();
        self.0.connect_on_message_data(move |_, bytes| {
            if let (Some(handler), Some(bytes)) = (h.upgrade(), bytes) {
                handler.on_binary(bytes);
            }
        });
        let h = handler.clone();
        self.0.connect_on_buffered_amount_low(move |_| {
            if let Some(handler) = h.upgrade() {
                handler.on_room();
            }
        });
        let h = handler.clone();
        self.0.connect_on_close(move |_| {
            if let Some(handler) = h.upgrade() {
                handler.on_closed();
            }
        });
        self.0.connect_on_error(move |_, error| {
            tracing::debug!(%error, "data channel error");
            if let Some(handler) = handler.upgrade() {
                handler.on_closed();
            }
        });
    }

    /// Whether the channel is open.
    pub fn is_open(&self) -> bool {
        self.0.ready_state() == gst_webrtc::WebRTCDataChannelState::Open
    }

    /// Sends a text message (queued by SCTP; never waits).
    pub fn send_text(&self, text: &str) -> Result<(), MediaError> {
        self.0
            .send_string_full(Some(text))
            .map_err(|e| MediaError::Gst(format!("data channel: {e}")))
    }

    /// Sends a binary message (queued by SCTP; never waits).
    pub fn send_binary(&self, bytes: &[u8]) -> Result<(), MediaError> {
        let bytes = gst::glib::Bytes::from(bytes);
        self.0
            .send_data_full(Some(&bytes))
            .map_err(|e| MediaError::Gst(format!("data channel: {e}")))
    }

    /// Bytes queued and not yet sent.
    pub fn buffered_amount(&self) -> u64 {
        self.0.buffered_amount()
    }

    /// Closes the channel.
    pub fn close(&self) {
        self.0.close();
    }
}
