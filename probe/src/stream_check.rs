//! What the probe counts and verifies about the video it receives: packets, bytes, frames and
//! keyframes per second; lost and reordered packets; and whether the first frame it counts was
//! decodable (SPS, PPS and an IDR before it).

use crate::h264::{AccessUnit, AccessUnits, nal_types};
use std::time::{Duration, Instant};

/// A hole in the sequence numbers at least this large is reported as a large gap.
pub const LARGE_GAP: u16 = 50;

/// Counts for one interval (a second, or the whole run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// RTP packets received.
    pub packets: u64,
    /// RTP payload bytes received.
    pub bytes: u64,
    /// Complete, decodable access units.
    pub frames: u64,
    /// Of those, keyframes (IDR).
    pub keyframes: u64,
}

/// The checker: feed it packets, read its counts.
#[derive(Debug)]
pub struct StreamCheck {
    units: AccessUnits,
    last_seq: Option<u16>,
    seen_sps: bool,
    seen_pps: bool,
    decodable: bool,
    /// Counts since the last [`StreamCheck::take_interval`].
    pub interval: Counts,
    /// Counts over the whole run.
    pub total: Counts,
    /// Packets missing from the sequence.
    pub lost: u64,
    /// Holes of [`LARGE_GAP`] packets or more.
    pub large_gaps: u64,
    /// Packets that arrived after a later one.
    pub reordered: u64,
    /// Payloads that could not be read.
    pub bad_payloads: u64,
    /// Complete access units dropped because no keyframe (with SPS and PPS) had come yet.
    pub frames_before_keyframe: u64,
    /// When the first packet arrived.
    pub first_packet: Option<Instant>,
    /// When the first decodable frame was complete.
    pub first_frame: Option<Instant>,
    /// What the first counted frame carried (it must have been an IDR with SPS and PPS known).
    pub first_frame_unit: Option<AccessUnit>,
    /// When the latest decodable frame was complete.
    pub last_frame: Option<Instant>,
    /// The longest wait between two decodable frames: a stall shows here even when the
    /// average frame rate recovers.
    pub max_frame_gap: Duration,
}

impl Default for StreamCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamCheck {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self {
            units: AccessUnits::default(),
            last_seq: None,
            seen_sps: false,
            seen_pps: false,
            decodable: false,
            interval: Counts::default(),
            total: Counts::default(),
            lost: 0,
            large_gaps: 0,
            reordered: 0,
            bad_payloads: 0,
            frames_before_keyframe: 0,
            first_packet: None,
            first_frame: None,
            first_frame_unit: None,
            last_frame: None,
            max_frame_gap: Duration::ZERO,
        }
    }

    /// The video now comes from `other` (a renewed session, checked on its own until its first
    /// decodable frame): its sequence numbers and decoder state carry on here, while the totals
    /// and frame timing go on, so a stall at the switch shows in
    /// [`StreamCheck::max_frame_gap`].
    pub fn switch_to(&mut self, other: StreamCheck) {
        self.units = other.units;
        self.last_seq = other.last_seq;
        self.seen_sps = other.seen_sps;
        self.seen_pps = other.seen_pps;
        self.decodable = other.decodable;
    }

    /// Takes in one RTP packet, received at `now`.
    pub fn packet(&mut self, now: Instant, seq: u16, timestamp: u32, marker: bool, payload: &[u8]) {
        self.first_packet.get_or_insert(now);
        self.sequence(seq);
        let bytes = payload.len() as u64;
        for counts in [&mut self.interval, &mut self.total] {
            counts.packets += 1;
            counts.bytes += bytes;
        }
        let types = match nal_types(payload) {
            Ok(types) => types,
            Err(e) => {
                self.bad_payloads += 1;
                tracing::debug!(error = %e, "unreadable payload");
                vec![]
            }
        };
        for unit in self.units.push(timestamp, marker, &types, payload.len()) {
            self.access_unit(now, unit);
        }
    }

    fn sequence(&mut self, seq: u16) {
        if let Some(last) = self.last_seq {
            let step = seq.wrapping_sub(last);
            if step == 0 || step >= 0x8000 {
                self.reordered += 1;
                return;
            }
            let missing = step - 1;
            if missing > 0 {
                self.lost += u64::from(missing);
                if missing >= LARGE_GAP {
                    self.large_gaps += 1;
                }
            }
        }
        self.last_seq = Some(seq);
    }

    fn access_unit(&mut self, now: Instant, unit: AccessUnit) {
        self.seen_sps |= unit.has_sps;
        self.seen_pps |= unit.has_pps;
        // Parameter sets on their own (rtph264pay sends them ahead of a keyframe) are no frame.
        if !unit.has_slice {
            return;
        }
        if !self.decodable {
            if unit.has_idr && self.seen_sps && self.seen_pps {
                self.decodable = true;
                if self.first_frame.is_none() {
                    self.first_frame = Some(now);
                    self.first_frame_unit = Some(unit.clone());
                }
            } else {
                self.frames_before_keyframe += 1;
                return;
            }
        }
        for counts in [&mut self.interval, &mut self.total] {
            counts.frames += 1;
            counts.keyframes += u64::from(unit.has_idr);
        }
        if let Some(last) = self.last_frame {
            self.max_frame_gap = self.max_frame_gap.max(now.saturating_duration_since(last));
        }
        self.last_frame = Some(now);
    }

    /// The counts since the last call, resetting them.
    pub fn take_interval(&mut self) -> Counts {
        std::mem::take(&mut self.interval)
    }

    /// Frames per second over the time since the first frame.
    pub fn fps_since_first_frame(&self, now: Instant) -> f64 {
        match self.first_frame {
            Some(first) => {
                let elapsed = now
                    .saturating_duration_since(first)
                    .max(Duration::from_millis(1));
                self.total.frames as f64 / elapsed.as_secs_f64()
            }
            None => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::{NAL_IDR, NAL_PPS, NAL_SPS};

    fn single(nal: u8) -> Vec<u8> {
        vec![0x60 | nal, 0, 0, 0]
    }

    #[test]
    fn frames_count_only_from_an_idr_with_sps_and_pps_on() {
        let now = Instant::now();
        let mut check = StreamCheck::new();
        check.packet(now, 1, 0, true, &single(1)); // P frame before any keyframe
        check.packet(now, 2, 3000, false, &single(NAL_SPS));
        check.packet(now, 3, 3000, false, &single(NAL_PPS));
        check.packet(now, 4, 3000, true, &single(NAL_IDR));
        check.packet(now, 5, 6000, true, &single(1));
        assert_eq!(check.frames_before_keyframe, 1);
        assert_eq!(check.total.frames, 2);
        assert_eq!(check.total.keyframes, 1);
        assert_eq!(check.total.packets, 5);
        let first = check.first_frame_unit.unwrap();
        assert!(first.has_sps && first.has_pps && first.has_idr);
    }

    #[test]
    fn parameter_sets_in_a_unit_of_their_own_are_no_frame() {
        let now = Instant::now();
        let mut check = StreamCheck::new();
        check.packet(now, 1, 3000, true, &single(NAL_SPS));
        check.packet(now, 2, 3001, true, &single(NAL_PPS));
        check.packet(now, 3, 3002, true, &single(NAL_IDR));
        assert_eq!(check.frames_before_keyframe, 0);
        assert_eq!(check.total.frames, 1);
        assert_eq!(check.total.keyframes, 1);
    }

    #[test]
    fn the_longest_wait_between_decodable_frames_is_kept() {
        let start = Instant::now();
        let mut check = StreamCheck::new();
        check.packet(start, 1, 0, false, &single(NAL_SPS));
        check.packet(start, 2, 0, false, &single(NAL_PPS));
        check.packet(start, 3, 0, true, &single(NAL_IDR));
        let at = |ms| start + Duration::from_millis(ms);
        check.packet(at(33), 4, 3000, true, &single(1));
        check.packet(at(433), 5, 6000, true, &single(1));
        check.packet(at(466), 6, 9000, true, &single(1));
        assert_eq!(check.max_frame_gap, Duration::from_millis(400));
    }

    #[test]
    fn an_idr_without_parameter_sets_is_not_decodable() {
        let now = Instant::now();
        let mut check = StreamCheck::new();
        check.packet(now, 1, 0, true, &single(NAL_IDR));
        assert_eq!(check.total.frames, 0);
        assert!(check.first_frame.is_none());
    }

    #[test]
    fn holes_and_reordering_in_sequence_numbers_are_counted_across_the_wrap() {
        let now = Instant::now();
        let mut check = StreamCheck::new();
        for seq in [65534u16, 65535, 2, 1, 60] {
            check.packet(now, seq, 0, false, &single(1));
        }
        // 0 and 1 missing after 65535 (then 1 arrives late), 3..=59 missing before 60.
        assert_eq!(check.lost, 2 + 57);
        assert_eq!(check.reordered, 1);
        assert_eq!(check.large_gaps, 1);
    }
}
