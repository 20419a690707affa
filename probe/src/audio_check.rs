//! What the probe counts and hears of the sound: Opus packets, decoded samples, the 1 kHz
//! energy of each 100 ms window, and the simulator's beeps (1 kHz, 100 ms, once a second) with
//! the moment each one arrived.
//!
//! The 1 kHz amplitude is measured by the Goertzel algorithm over 5 ms blocks (five whole
//! periods at 48 kHz, so the tone falls on the bin): a beep starts at the first loud block after
//! at least 200 ms of quiet. Its arrival is when the packet that carries its first sample came,
//! plus that sample's place in the packet (a player that played packets as they came would
//! sound it then).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Samples per second of the decoded sound.
pub const RATE: u64 = 48_000;
/// The pitch listened for.
pub const TONE_HZ: f64 = 1000.0;
/// 5 ms: the block the tone is measured over.
const BLOCK: usize = 240;
/// 100 ms windows of blocks.
const BLOCKS_PER_WINDOW: usize = 20;
/// A block with at least this 1 kHz amplitude (of 32767) is loud: the simulator's beep is at
/// half scale, about 16,000.
pub const LOUD: f64 = 2_000.0;
/// Quiet blocks before a loud one starts a new beep (200 ms).
const QUIET_BEFORE_BEEP: usize = 40;
/// Packets whose arrival is remembered to place a beep.
const ARRIVALS_KEPT: usize = 512;
/// Beeps and windows kept for the summary (ten minutes' worth of windows).
const KEPT: usize = 6_000;

/// One beep heard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beep {
    /// RTP time (48 kHz, from the stream's first packet) of its first loud block.
    pub rtp_time: u64,
    /// When it arrived, if the packet that carried it is still remembered.
    pub arrival: Option<Instant>,
    /// How long it stayed loud (0 until it ends).
    pub length: Duration,
}

/// Counts for one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioCounts {
    /// RTP packets.
    pub packets: u64,
    /// Their payload bytes (Opus).
    pub bytes: u64,
    /// Decoded samples.
    pub samples: u64,
    /// 100 ms windows decoded, and of them those with 1 kHz energy.
    pub windows: u64,
    /// Windows whose mean 1 kHz amplitude was loud.
    pub tone_windows: u64,
}

/// The checker: feed it packets and decoded samples, read its counts.
#[derive(Debug, Default)]
pub struct AudioCheck {
    /// Counts since the last [`AudioCheck::take_interval`].
    pub interval: AudioCounts,
    /// Counts over the whole watch.
    pub total: AudioCounts,
    /// Packets missing from the sequence.
    pub lost: u64,
    last_seq: Option<u16>,
    /// When the first packet came.
    pub first_packet: Option<Instant>,
    arrivals: VecDeque<(u64, Instant)>,
    /// Decoded samples not yet in a whole block, and the RTP time of the first.
    pending: Vec<i16>,
    pending_start: Option<u64>,
    window_sum: f64,
    window_blocks: usize,
    /// The mean 1 kHz amplitude of each 100 ms window, in order.
    pub windows: Vec<f32>,
    quiet_blocks: usize,
    /// The beeps heard, in order.
    pub beeps: Vec<Beep>,
    /// Decoder errors (it could not be made).
    pub decoder_error: Option<String>,
}

impl AudioCheck {
    /// Nothing heard yet.
    pub fn new() -> Self {
        Self {
            // A beep at the very start counts.
            quiet_blocks: QUIET_BEFORE_BEEP,
            ..Self::default()
        }
    }

    /// One RTP packet of `bytes` payload bytes arrived at `now`, whose sound starts at RTP
    /// time `rtp_time`.
    pub fn packet(&mut self, now: Instant, seq: u16, rtp_time: u64, bytes: usize) {
        self.first_packet.get_or_insert(now);
        for counts in [&mut self.interval, &mut self.total] {
            counts.packets += 1;
            counts.bytes += bytes as u64;
        }
        if let Some(last) = self.last_seq {
            let step = seq.wrapping_sub(last);
            if step != 0 && step < 0x8000 {
                self.lost += u64::from(step - 1);
            }
        }
        self.last_seq = Some(seq);
        if self.arrivals.len() == ARRIVALS_KEPT {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((rtp_time, now));
    }

    /// When the sound at `rtp_time` arrived: its packet's arrival plus its place in the packet.
    pub fn arrival_of(&self, rtp_time: u64) -> Option<Instant> {
        let (start, at) = self
            .arrivals
            .iter()
            .filter(|(start, _)| *start <= rtp_time)
            .max_by_key(|(start, _)| *start)?;
        let into = rtp_time - start;
        // A packet holds 20 ms; anything further is a packet not remembered.
        (into < RATE / 10).then(|| *at + Duration::from_micros(into * 1_000_000 / RATE))
    }

    /// Decoded 16-bit samples (little-endian bytes) starting at `rtp_time`.
    pub fn decoded(&mut self, rtp_time: u64, bytes: &[u8]) {
        let samples = bytes
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]));
        let count = (bytes.len() / 2) as u64;
        for counts in [&mut self.interval, &mut self.total] {
            counts.samples += count;
        }
        if self.pending_start.is_none() {
            self.pending_start = Some(rtp_time);
        }
        self.pending.extend(samples);
        let whole = self.pending.len() / BLOCK * BLOCK;
        let blocks: Vec<i16> = self.pending.drain(..whole).collect();
        for block in blocks.chunks_exact(BLOCK) {
            let start = self.pending_start.unwrap_or(rtp_time);
            self.block(start, block);
            self.pending_start = Some(start + BLOCK as u64);
        }
    }

    fn block(&mut self, start: u64, block: &[i16]) {
        let amplitude = tone_amplitude(block, TONE_HZ, RATE as f64);
        let loud = amplitude >= LOUD;
        if loud {
            if self.quiet_blocks >= QUIET_BEFORE_BEEP && self.beeps.len() < KEPT {
                let arrival = self.arrival_of(start);
                self.beeps.push(Beep {
                    rtp_time: start,
                    arrival,
                    length: Duration::ZERO,
                });
            }
            self.quiet_blocks = 0;
        } else {
            if self.quiet_blocks == 0
                && let Some(beep) = self.beeps.last_mut()
                && beep.length.is_zero()
            {
                beep.length = Duration::from_micros((start - beep.rtp_time) * 1_000_000 / RATE);
            }
            self.quiet_blocks += 1;
        }
        self.window_sum += amplitude;
        self.window_blocks += 1;
        if self.window_blocks == BLOCKS_PER_WINDOW {
            let mean = self.window_sum / BLOCKS_PER_WINDOW as f64;
            for counts in [&mut self.interval, &mut self.total] {
                counts.windows += 1;
                counts.tone_windows += u64::from(mean >= LOUD / 2.0);
            }
            if self.windows.len() < KEPT {
                self.windows.push(mean as f32);
            }
            self.window_sum = 0.0;
            self.window_blocks = 0;
        }
    }

    /// The counts since the last call, resetting them.
    pub fn take_interval(&mut self) -> AudioCounts {
        std::mem::take(&mut self.interval)
    }

    /// The median time from one beep to the next, in milliseconds of the stream.
    pub fn beep_interval_ms(&self) -> Option<f64> {
        median(
            self.beeps
                .windows(2)
                .map(|w| (w[1].rtp_time - w[0].rtp_time) as f64 * 1000.0 / RATE as f64)
                .collect(),
        )
    }

    /// The median length of a beep, in milliseconds.
    pub fn beep_length_ms(&self) -> Option<f64> {
        median(
            self.beeps
                .iter()
                .filter(|b| !b.length.is_zero())
                .map(|b| b.length.as_secs_f64() * 1000.0)
                .collect(),
        )
    }
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// The amplitude of the `hz` component of `samples` at `rate` (Goertzel).
pub fn tone_amplitude(samples: &[i16], hz: f64, rate: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / rate).cos();
    let (mut previous, mut before) = (0.0f64, 0.0f64);
    for &sample in samples {
        let next = f64::from(sample) + coefficient * previous - before;
        before = previous;
        previous = next;
    }
    let power = previous * previous + before * before - coefficient * previous * before;
    2.0 * power.max(0.0).sqrt() / samples.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, amplitude: f64, samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / RATE as f64).sin())
                    as i16
            })
            .collect()
    }

    fn bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn goertzel_hears_1_khz_and_not_440_hz() {
        let loud = tone_amplitude(&tone(1000.0, 16_000.0, BLOCK), 1000.0, 48_000.0);
        assert!((loud - 16_000.0).abs() < 200.0, "{loud}");
        let other = tone_amplitude(&tone(440.0, 16_000.0, BLOCK), 1000.0, 48_000.0);
        assert!(other < LOUD, "{other}");
    }

    #[test]
    fn beeps_of_100_ms_once_a_second_are_found_with_their_arrival() {
        let start = Instant::now();
        let mut check = AudioCheck::new();
        // Three seconds, a beep in the first 100 ms of each, in 20 ms packets.
        let mut second = tone(1000.0, 16_000.0, 4_800);
        second.extend(std::iter::repeat_n(0, 48_000 - 4_800));
        let sound: Vec<i16> = second.repeat(3);
        for (i, packet) in sound.chunks(960).enumerate() {
            let rtp_time = i as u64 * 960;
            check.packet(
                start + Duration::from_millis(i as u64 * 20),
                i as u16,
                rtp_time,
                80,
            );
            check.decoded(rtp_time, &bytes(packet));
        }
        assert_eq!(check.beeps.len(), 3, "{:?}", check.beeps);
        assert_eq!(check.beep_interval_ms(), Some(1000.0));
        assert_eq!(check.beep_length_ms(), Some(100.0));
        assert_eq!(check.beeps[1].arrival, Some(start + Duration::from_secs(1)));
        assert_eq!(check.total.windows, 30);
        assert_eq!(check.total.tone_windows, 3);
        assert_eq!(check.total.samples, 144_000);
    }

    #[test]
    fn a_gap_in_the_sequence_counts_as_lost() {
        let mut check = AudioCheck::new();
        let now = Instant::now();
        for seq in [65534u16, 65535, 2] {
            check.packet(now, seq, 0, 80);
        }
        assert_eq!(check.lost, 2);
        assert_eq!(check.total.packets, 3);
        assert_eq!(check.total.bytes, 240);
    }
}
