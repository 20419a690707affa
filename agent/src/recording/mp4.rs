//! The few ISO BMFF (MP4) boxes a fragmented H.264 file needs, written and read back: the init
//! segment (`ftyp` + `moov`), and per fragment `prft` (the wall clock of its first sample) +
//! `moof` + `mdat`. One video track, id 1, timescale [`TIMESCALE`].

use super::h264::SpsInfo;

/// Ticks per second of every media time the store writes.
pub(crate) const TIMESCALE: u32 = 90_000;

/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// `sample_depends_on = 2`: a sync sample.
const SYNC_FLAGS: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample`.
const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// The SPS and PPS a segment's sample entry is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StreamParams {
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
    pub info: SpsInfo,
}

/// One sample of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
}

/// Appends a box of type `kind` whose body `body` writes.
fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box (version and flags first).
fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |out| {
        out.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
        body(out);
    });
}

fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn u32be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn u64be(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The init segment, lasting `duration` ticks (0: not known yet). The duration is in `mvhd`,
/// `tkhd`, `mdhd` and `mehd`, so players show the length without reading every fragment; a
/// segment's is set when it ends ([`set_init_duration`]).
pub(crate) fn init_segment(params: &StreamParams, duration: u64) -> Vec<u8> {
    let dur = duration;
    let dur32 = u32::try_from(dur).unwrap_or(u32::MAX);
    let (width, height) = (params.info.width, params.info.height);
    let mut out = Vec::with_capacity(1024);
    boxed(&mut out, b"ftyp", |o| {
        o.extend_from_slice(b"iso6");
        u32be(o, 0);
        for brand in [b"iso6", b"isom", b"iso2", b"avc1", b"mp41"] {
            o.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32be(o, 0); // creation_time
            u32be(o, 0); // modification_time
            u32be(o, TIMESCALE);
            u32be(o, dur32);
            u32be(o, 0x0001_0000); // rate 1.0
            u16be(o, 0x0100); // volume 1.0
            o.extend_from_slice(&[0; 10]);
            MATRIX.iter().for_each(|&m| u32be(o, m));
            o.extend_from_slice(&[0; 24]); // pre_defined
            u32be(o, 2); // next_track_ID
        });
        boxed(o, b"trak", |o| {
            full(o, b"tkhd", 0, 3, |o| {
                u32be(o, 0);
                u32be(o, 0);
                u32be(o, 1); // track_ID
                u32be(o, 0);
                u32be(o, dur32);
                o.extend_from_slice(&[0; 8]);
                u16be(o, 0); // layer
                u16be(o, 0); // alternate_group
                u16be(o, 0); // volume
                u16be(o, 0);
                MATRIX.iter().for_each(|&m| u32be(o, m));
                u32be(o, width << 16);
                u32be(o, height << 16);
            });
            boxed(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    u32be(o, 0);
                    u32be(o, 0);
                    u32be(o, TIMESCALE);
                    u32be(o, dur32);
                    u16be(o, 0x55c4); // "und"
                    u16be(o, 0);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32be(o, 0);
                    o.extend_from_slice(b"vide");
                    o.extend_from_slice(&[0; 12]);
                    o.extend_from_slice(b"MuMu video\0");
                });
                boxed(o, b"minf", |o| {
                    full(o, b"vmhd", 0, 1, |o| o.extend_from_slice(&[0; 8]));
                    boxed(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32be(o, 1);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    boxed(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32be(o, 1);
                            sample_entry(o, params);
                        });
                        full(o, b"stts", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsc", 0, 0, |o| u32be(o, 0));
                        full(o, b"stsz", 0, 0, |o| u64be(o, 0));
                        full(o, b"stco", 0, 0, |o| u32be(o, 0));
                    });
                });
            });
        });
        boxed(o, b"mvex", |o| {
            full(o, b"mehd", 1, 0, |o| u64be(o, duration));
            full(o, b"trex", 0, 0, |o| {
                u32be(o, 1); // track_ID
                u32be(o, 1); // default_sample_description_index
                u32be(o, 0);
                u32be(o, 0);
                u32be(o, 0);
            });
        });
    });
    out
}

fn sample_entry(o: &mut Vec<u8>, params: &StreamParams) {
    let info = &params.info;
    boxed(o, b"avc1", |o| {
        o.extend_from_slice(&[0; 6]);
        u16be(o, 1); // data_reference_index
        o.extend_from_slice(&[0; 16]);
        u16be(o, u16::try_from(info.width).unwrap_or(u16::MAX));
        u16be(o, u16::try_from(info.height).unwrap_or(u16::MAX));
        u32be(o, 0x0048_0000);
        u32be(o, 0x0048_0000);
        u32be(o, 0);
        u16be(o, 1); // frame_count
        o.extend_from_slice(&[0; 32]); // compressorname
        u16be(o, 0x0018);
        u16be(o, 0xffff);
        boxed(o, b"avcC", |o| {
            o.extend_from_slice(&[1, info.profile, info.compatibility, info.level, 0xff, 0xe1]);
            u16be(o, u16::try_from(params.sps.len()).unwrap_or(u16::MAX));
            o.extend_from_slice(&params.sps);
            o.push(1);
            u16be(o, u16::try_from(params.pps.len()).unwrap_or(u16::MAX));
            o.extend_from_slice(&params.pps);
            if let Some((chroma, luma, chroma_depth)) = info.high {
                o.extend_from_slice(&[0xfc | chroma, 0xf8 | luma, 0xf8 | chroma_depth, 0]);
            }
        });
    });
}

/// Unix microseconds as a 64-bit NTP timestamp.
pub(crate) fn ntp_from_unix_us(us: i64) -> u64 {
    let secs = us.div_euclid(1_000_000) + NTP_UNIX_OFFSET;
    let frac = u64::try_from(us.rem_euclid(1_000_000)).unwrap_or(0);
    (u64::try_from(secs).unwrap_or(0) << 32) | ((frac << 32) / 1_000_000)
}

/// A 64-bit NTP timestamp as Unix microseconds (exact for what [`ntp_from_unix_us`] wrote).
pub(crate) fn unix_us_from_ntp(ntp: u64) -> i64 {
    let secs = i64::try_from(ntp >> 32).unwrap_or(0) - NTP_UNIX_OFFSET;
    let frac = i64::try_from(((ntp & 0xffff_ffff) * 1_000_000 + (1 << 31)) >> 32).unwrap_or(0);
    secs * 1_000_000 + frac
}

/// A `prft` box: the fragment's first sample (at media time `media_time`) was captured at
/// `wall_us`.
pub(crate) fn prft(wall_us: i64, media_time: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    // flags 24: the time is the capture time of the sample.
    full(&mut out, b"prft", 1, 24, |o| {
        u32be(o, 1);
        u64be(o, ntp_from_unix_us(wall_us));
        u64be(o, media_time);
    });
    out
}

/// A `moof` box for `samples` starting at media time `decode_time`, whose data follows in an
/// `mdat` right after it.
pub(crate) fn moof(sequence: u32, decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    let mut out = Vec::with_capacity(120 + 12 * samples.len());
    let mut offset_at = 0;
    boxed(&mut out, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32be(o, sequence));
        boxed(o, b"traf", |o| {
            full(o, b"tfhd", 0, 0x02_0000, |o| u32be(o, 1)); // default-base-is-moof
            full(o, b"tfdt", 1, 0, |o| u64be(o, decode_time));
            full(o, b"trun", 0, 0x0701, |o| {
                u32be(o, u32::try_from(samples.len()).unwrap_or(u32::MAX));
                offset_at = o.len();
                u32be(o, 0);
                for s in samples {
                    u32be(o, s.duration);
                    u32be(o, s.size);
                    u32be(o, if s.sync { SYNC_FLAGS } else { NON_SYNC_FLAGS });
                }
            });
        });
    });
    let data_offset = u32::try_from(out.len() + 8).unwrap_or(u32::MAX);
    out[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    out
}

/// An `mdat` header for `len` bytes of payload.
pub(crate) fn mdat_header(len: u64) -> Vec<u8> {
    match u32::try_from(len + 8) {
        Ok(size) => {
            let mut out = size.to_be_bytes().to_vec();
            out.extend_from_slice(b"mdat");
            out
        }
        Err(_) => {
            let mut out = 1u32.to_be_bytes().to_vec();
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&(len + 16).to_be_bytes());
            out
        }
    }
}

/// A box header: its type, where its body starts (relative to the header) and its whole size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BoxHeader {
    pub kind: [u8; 4],
    pub header_len: u64,
    pub size: u64,
}

/// Parses a box header from up to 16 bytes; `None` if it is incomplete or nonsense.
pub(crate) fn box_header(bytes: &[u8]) -> Option<BoxHeader> {
    let size = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let (size, header_len) = match size {
        1 => (u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?), 16),
        // Size 0 ("to the end of the file") is never written by the store: treat as damage.
        0 => return None,
        s => (u64::from(s), 8),
    };
    (size >= header_len).then_some(BoxHeader {
        kind,
        header_len,
        size,
    })
}

/// Iterates over the boxes in `bytes` (a box body): `(type, body)`.
fn children(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let header = box_header(rest)?;
        let size = usize::try_from(header.size).ok()?;
        let body = rest.get(usize::try_from(header.header_len).ok()?..size)?;
        rest = &rest[size..];
        Some((header.kind, body))
    })
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// What a `prft` body says: `(wall clock in Unix µs, media time)`.
pub(crate) fn parse_prft(body: &[u8]) -> Option<(i64, u64)> {
    let version = *body.first()?;
    let ntp = be64(body, 8)?;
    let media = if version == 1 {
        be64(body, 16)?
    } else {
        u64::from(be32(body, 16)?)
    };
    Some((unix_us_from_ntp(ntp), media))
}

/// What a `moof` says about its one track.
#[derive(Clone, Debug, Default)]
pub(crate) struct MoofInfo {
    pub decode_time: u64,
    pub samples: Vec<Sample>,
    /// Where the `trun`'s data offset points, from the start of the `moof`.
    pub data_offset: u64,
}

/// Parses a `moof` body (tfdt, trun with per-sample duration, size and flags).
pub(crate) fn parse_moof(body: &[u8]) -> Option<MoofInfo> {
    let (_, traf) = children(body).find(|(k, _)| k == b"traf")?;
    let mut info = MoofInfo::default();
    let mut found_trun = false;
    for (kind, b) in children(traf) {
        match &kind {
            b"tfdt" => {
                info.decode_time = if b.first() == Some(&1) {
                    be64(b, 4)?
                } else {
                    u64::from(be32(b, 4)?)
                };
            }
            b"trun" => {
                let flags = be32(b, 0)? & 0x00ff_ffff;
                let count = usize::try_from(be32(b, 4)?).ok()?;
                let mut at = 8;
                if flags & 0x1 != 0 {
                    info.data_offset = u64::from(be32(b, at)?);
                    at += 4;
                }
                if flags & 0x4 != 0 {
                    at += 4;
                }
                let per_sample = [0x100, 0x200, 0x400, 0x800]
                    .iter()
                    .filter(|&&f| flags & f != 0)
                    .count()
                    * 4;
                if count.checked_mul(per_sample)? > b.len() {
                    return None;
                }
                info.samples.reserve(count);
                for _ in 0..count {
                    let mut field = |flag: u32| -> Option<Option<u32>> {
                        if flags & flag == 0 {
                            return Some(None);
                        }
                        let v = be32(b, at)?;
                        at += 4;
                        Some(Some(v))
                    };
                    let duration = field(0x100)?.unwrap_or(0);
                    let size = field(0x200)?.unwrap_or(0);
                    let sample_flags = field(0x400)?.unwrap_or(NON_SYNC_FLAGS);
                    field(0x800)?;
                    info.samples.push(Sample {
                        duration,
                        size,
                        sync: sample_flags & 0x0001_0000 == 0,
                    });
                }
                found_trun = true;
            }
            _ => {}
        }
    }
    found_trun.then_some(info)
}

/// Overwrites the `tfdt` of a `moof` (whole box, header included) in place.
pub(crate) fn set_decode_time(moof: &mut [u8], decode_time: u64) -> bool {
    let Some(traf_at) = find_child(moof, 8, b"traf") else {
        return false;
    };
    let Some(tfdt_at) = find_child(moof, traf_at + 8, b"tfdt") else {
        return false;
    };
    match moof.get(tfdt_at + 8) {
        Some(1) => moof[tfdt_at + 12..tfdt_at + 20].copy_from_slice(&decode_time.to_be_bytes()),
        Some(0) => {
            let Ok(t) = u32::try_from(decode_time) else {
                return false;
            };
            moof[tfdt_at + 12..tfdt_at + 16].copy_from_slice(&t.to_be_bytes());
        }
        _ => return false,
    }
    true
}

/// The offset of the first box of type `kind` among the sibling boxes starting at `from` (pass
/// a parent's offset + 8 to search its children).
fn find_child(bytes: &[u8], from: usize, kind: &[u8; 4]) -> Option<usize> {
    let mut at = from;
    while at < bytes.len() {
        let header = box_header(bytes.get(at..)?)?;
        if &header.kind == kind {
            return Some(at);
        }
        at += usize::try_from(header.size).ok()?;
    }
    None
}

/// Sets the duration of an init segment written by [`init_segment`], in place; false if it is
/// not one.
pub(crate) fn set_init_duration(init: &mut [u8], duration: u64) -> bool {
    let Some(moov) = find_child(init, 0, b"moov") else {
        return false;
    };
    let child = |parent: usize, kind: &[u8; 4]| find_child(init, parent + 8, kind);
    let (Some(mvhd), Some(trak), Some(mvex)) = (
        child(moov, b"mvhd"),
        child(moov, b"trak"),
        child(moov, b"mvex"),
    ) else {
        return false;
    };
    let (Some(tkhd), Some(mdia), Some(mehd)) = (
        child(trak, b"tkhd"),
        child(trak, b"mdia"),
        child(mvex, b"mehd"),
    ) else {
        return false;
    };
    let Some(mdhd) = child(mdia, b"mdhd") else {
        return false;
    };
    // Version 0 boxes (32-bit durations) but mehd (version 1).
    if [mvhd, tkhd, mdhd]
        .iter()
        .any(|&at| init.get(at + 8) != Some(&0))
        || init.get(mehd + 8) != Some(&1)
    {
        return false;
    }
    let short = u32::try_from(duration).unwrap_or(u32::MAX).to_be_bytes();
    for at in [mvhd + 24, tkhd + 28, mdhd + 24] {
        init[at..at + 4].copy_from_slice(&short);
    }
    init[mehd + 12..mehd + 20].copy_from_slice(&duration.to_be_bytes());
    true
}

/// The duration of an init segment written by [`init_segment`] (its `mehd`).
pub(crate) fn init_duration(init: &[u8]) -> Option<u64> {
    let moov = find_child(init, 0, b"moov")?;
    let mvex = find_child(init, moov + 8, b"mvex")?;
    let mehd = find_child(init, mvex + 8, b"mehd")?;
    be64(init, mehd + 12)
}

/// The `avcC` of an init segment, as stream parameters.
pub(crate) fn parse_init(init: &[u8]) -> Option<StreamParams> {
    let at = init.windows(4).position(|w| w == b"avcC")?;
    let body = init.get(at + 4..)?;
    let sps_len = usize::from(u16::from_be_bytes(body.get(6..8)?.try_into().ok()?));
    let sps = body.get(8..8 + sps_len)?.to_vec();
    let pps_at = 8 + sps_len + 1;
    let pps_len = usize::from(u16::from_be_bytes(
        body.get(pps_at..pps_at + 2)?.try_into().ok()?,
    ));
    let pps = body.get(pps_at + 2..pps_at + 2 + pps_len)?.to_vec();
    let info = super::h264::parse_sps(&sps)?;
    Some(StreamParams { sps, pps, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_time_round_trips_to_the_microsecond() {
        for us in [0, 1, 999_999, 1_796_660_184_123_456, 1_796_660_184_999_999] {
            assert_eq!(unix_us_from_ntp(ntp_from_unix_us(us)), us);
        }
    }

    #[test]
    fn a_moof_parses_back_and_its_data_offset_points_past_the_mdat_header() {
        let samples = [
            Sample {
                duration: 3000,
                size: 100,
                sync: true,
            },
            Sample {
                duration: 3003,
                size: 50,
                sync: false,
            },
        ];
        let mut m = moof(7, 123_456_789_012, &samples);
        let header = box_header(&m).expect("header");
        let info = parse_moof(&m[8..]).expect("parses");
        assert_eq!(info.decode_time, 123_456_789_012);
        assert_eq!(info.samples, samples);
        assert_eq!(info.data_offset, header.size + 8);
        assert!(set_decode_time(&mut m, 42));
        assert_eq!(parse_moof(&m[8..]).expect("parses").decode_time, 42);
    }
}
