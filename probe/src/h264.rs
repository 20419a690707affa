//! Just enough H.264-over-RTP (RFC 6184) to tell what arrives: which NAL unit types each packet
//! carries, and where one access unit (one frame) ends and the next begins.
//!
//! The probe does not decode pictures; it checks that a decoder *could*: a parameter set (SPS,
//! PPS) and an IDR slice before the first frame it counts, and no large holes after. For a test
//! that looks at the pictures, [`annex_b`] turns the payloads back into a byte stream any
//! decoder reads (the tests decode it with GStreamer's).

use thiserror::Error;

/// NAL unit type of a coded slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// NAL unit type of a coded slice of an IDR picture (a keyframe).
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

/// A payload the probe cannot read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PayloadError {
    /// Nothing in it.
    #[error("empty RTP payload")]
    Empty,
    /// An aggregation or fragmentation unit cut short.
    #[error("truncated {0} payload")]
    Truncated(&'static str),
    /// STAP-B, MTAP or FU-B: only used in interleaved mode, which MuMu does not negotiate.
    #[error("NAL unit type {0} is not used in packetization-mode 1")]
    Unsupported(u8),
}

/// The NAL unit types that start in one RTP payload (an FU-A continuation starts none).
pub fn nal_types(payload: &[u8]) -> Result<Vec<u8>, PayloadError> {
    let first = *payload.first().ok_or(PayloadError::Empty)?;
    match first & 0x1f {
        1..=23 => Ok(vec![first & 0x1f]),
        NAL_STAP_A => {
            let mut types = Vec::new();
            let mut rest = &payload[1..];
            while !rest.is_empty() {
                if rest.len() < 2 {
                    return Err(PayloadError::Truncated("STAP-A"));
                }
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let nal = rest
                    .get(2..2 + size)
                    .filter(|n| !n.is_empty())
                    .ok_or(PayloadError::Truncated("STAP-A"))?;
                types.push(nal[0] & 0x1f);
                rest = &rest[2 + size..];
            }
            Ok(types)
        }
        NAL_FU_A => {
            let header = *payload.get(1).ok_or(PayloadError::Truncated("FU-A"))?;
            let start = header & 0x80 != 0;
            Ok(if start { vec![header & 0x1f] } else { vec![] })
        }
        other => Err(PayloadError::Unsupported(other)),
    }
}

/// The H.264 byte stream (Annex B: each NAL unit after a start code) that one RTP payload
/// carries, appended to `out`; an FU-A's continuations add their bytes to the NAL unit its
/// first fragment began (packets must come in order, as on a loopback). `sliced` says whether
/// the access unit (the frame) has had a slice already; SPS and PPS units after one are left
/// out: a sender that repeats them before every slice of a keyframe (`rtph264pay
/// config-interval=-1` with x264's sliced threads) would otherwise cut the frame in two for a
/// decoder of the byte stream, which has no RTP timestamps to tell. The caller sets `sliced`
/// to false at each new RTP timestamp.
pub fn annex_b(payload: &[u8], sliced: &mut bool, out: &mut Vec<u8>) -> Result<(), PayloadError> {
    const START: [u8; 4] = [0, 0, 0, 1];
    let mut put = |nal: &[u8], out: &mut Vec<u8>| match nal[0] & 0x1f {
        NAL_SPS | NAL_PPS if *sliced => {}
        kind => {
            *sliced |= matches!(kind, NAL_SLICE | NAL_IDR);
            out.extend_from_slice(&START);
            out.extend_from_slice(nal);
        }
    };
    let first = *payload.first().ok_or(PayloadError::Empty)?;
    match first & 0x1f {
        1..=23 => put(payload, out),
        NAL_STAP_A => {
            let mut rest = &payload[1..];
            while !rest.is_empty() {
                let size = usize::from(u16::from_be_bytes([
                    rest[0],
                    *rest.get(1).ok_or(PayloadError::Truncated("STAP-A"))?,
                ]));
                let nal = rest
                    .get(2..2 + size)
                    .filter(|n| !n.is_empty())
                    .ok_or(PayloadError::Truncated("STAP-A"))?;
                put(nal, out);
                rest = &rest[2 + size..];
            }
        }
        NAL_FU_A => {
            let header = *payload.get(1).ok_or(PayloadError::Truncated("FU-A"))?;
            if header & 0x80 != 0 {
                *sliced |= matches!(header & 0x1f, NAL_SLICE | NAL_IDR);
                out.extend_from_slice(&START);
                out.push((first & 0xe0) | (header & 0x1f));
            }
            out.extend_from_slice(&payload[2..]);
        }
        other => return Err(PayloadError::Unsupported(other)),
    }
    Ok(())
}

/// One complete access unit: everything with one RTP timestamp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessUnit {
    /// Its RTP timestamp (90 kHz).
    pub timestamp: u32,
    /// It carries a sequence parameter set.
    pub has_sps: bool,
    /// It carries a picture parameter set.
    pub has_pps: bool,
    /// It carries an IDR slice: a keyframe.
    pub has_idr: bool,
    /// It carries a slice of a picture (IDR or not): it is a frame, not only parameter sets.
    pub has_slice: bool,
    /// RTP packets in it.
    pub packets: u32,
    /// Payload bytes in it.
    pub bytes: usize,
}

impl AccessUnit {
    fn add(&mut self, types: &[u8], bytes: usize) {
        self.packets += 1;
        self.bytes += bytes;
        for &t in types {
            match t {
                NAL_SPS => self.has_sps = true,
                NAL_PPS => self.has_pps = true,
                NAL_IDR => {
                    self.has_idr = true;
                    self.has_slice = true;
                }
                NAL_SLICE => self.has_slice = true,
                _ => {}
            }
        }
    }
}

/// Groups RTP packets into access units. An access unit ends at a packet with the marker bit
/// (the sender's word that the frame is complete) or, if that packet was lost, when a packet of
/// a later timestamp arrives.
#[derive(Debug, Default)]
pub struct AccessUnits {
    current: Option<AccessUnit>,
}

impl AccessUnits {
    /// Adds one packet; returns the access units it completed (at most two: the one a new
    /// timestamp cut off, and this one if its marker is set).
    pub fn push(
        &mut self,
        timestamp: u32,
        marker: bool,
        types: &[u8],
        bytes: usize,
    ) -> Vec<AccessUnit> {
        let mut done = Vec::new();
        if let Some(current) = self.current.take_if(|c| c.timestamp != timestamp) {
            done.push(current);
        }
        let current = self.current.get_or_insert_with(|| AccessUnit {
            timestamp,
            ..AccessUnit::default()
        });
        current.add(types, bytes);
        if marker {
            done.extend(self.current.take());
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_nal_packet_names_its_type() {
        assert_eq!(nal_types(&[0x65, 1, 2, 3]).unwrap(), [NAL_IDR]);
        assert_eq!(nal_types(&[0x41, 9]).unwrap(), [1]);
    }

    #[test]
    fn a_stap_a_names_every_nal_it_aggregates() {
        // SPS (2 bytes), PPS (1 byte), IDR (3 bytes).
        let payload = [0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68, 0, 3, 0x65, 0xaa, 0xbb];
        assert_eq!(nal_types(&payload).unwrap(), [NAL_SPS, NAL_PPS, NAL_IDR]);
    }

    #[test]
    fn a_truncated_stap_a_is_an_error() {
        assert_eq!(
            nal_types(&[0x78, 0, 5, 0x67]),
            Err(PayloadError::Truncated("STAP-A"))
        );
    }

    #[test]
    fn only_the_first_fragment_of_an_fu_a_starts_a_nal() {
        assert_eq!(nal_types(&[0x7c, 0x85, 1]).unwrap(), [NAL_IDR]);
        assert!(nal_types(&[0x7c, 0x05, 1]).unwrap().is_empty());
        assert!(nal_types(&[0x7c, 0x45, 1]).unwrap().is_empty());
    }

    #[test]
    fn interleaved_mode_units_are_refused() {
        assert_eq!(nal_types(&[0x79, 0]), Err(PayloadError::Unsupported(25)));
        assert_eq!(nal_types(&[]), Err(PayloadError::Empty));
    }

    #[test]
    fn payloads_become_an_annex_b_stream() {
        let mut out = Vec::new();
        // A STAP-A of SPS and PPS, then an IDR in two FU-A fragments.
        let mut sliced = false;
        annex_b(&[0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68], &mut sliced, &mut out).unwrap();
        assert!(!sliced);
        annex_b(&[0x7c, 0x85, 0xaa], &mut sliced, &mut out).unwrap();
        annex_b(&[0x7c, 0x45, 0xbb], &mut sliced, &mut out).unwrap();
        assert!(sliced);
        // Parameter sets repeated after a slice of the frame are left out.
        annex_b(&[0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68], &mut sliced, &mut out).unwrap();
        let mut next_frame = false;
        annex_b(&[0x41, 9], &mut next_frame, &mut out).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0, 0, 0, 1,
                0x41, 9
            ]
        );
        assert_eq!(
            annex_b(&[0x78, 0, 5, 0x67], &mut false, &mut out),
            Err(PayloadError::Truncated("STAP-A"))
        );
    }

    #[test]
    fn the_marker_bit_ends_an_access_unit() {
        let mut units = AccessUnits::default();
        assert!(units.push(100, false, &[NAL_SPS, NAL_PPS], 20).is_empty());
        let done = units.push(100, true, &[NAL_IDR], 1000);
        assert_eq!(
            done,
            [AccessUnit {
                timestamp: 100,
                has_sps: true,
                has_pps: true,
                has_idr: true,
                has_slice: true,
                packets: 2,
                bytes: 1020
            }]
        );
    }

    #[test]
    fn a_new_timestamp_ends_an_access_unit_whose_marker_was_lost() {
        let mut units = AccessUnits::default();
        units.push(100, false, &[1], 10);
        let done = units.push(3100, true, &[1], 10);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].timestamp, 100);
        assert_eq!(done[1].timestamp, 3100);
    }
}
