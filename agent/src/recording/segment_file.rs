//! Reading a segment file back: its init segment, its fragments one at a time (never more than
//! one `moof` in memory), and the scan that finds where a file cut short by a crash must be
//! truncated.

use super::mp4::{self, BoxHeader, Sample, TIMESCALE};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

/// The largest init segment or `moof` the store reads (its own are a few kilobytes: a
/// minute-long fragment at 60 frames/s has a 43 KB `moof`).
const MAX_HEADER_BOX: u64 = 4 << 20;

/// Media ticks as microseconds.
pub(crate) fn ticks_to_us(ticks: u64) -> i64 {
    i64::try_from(u128::from(ticks) * 1_000_000 / u128::from(TIMESCALE)).unwrap_or(i64::MAX)
}

/// Microseconds as media ticks (rounded to the nearest; negative is 0).
pub(crate) fn us_to_ticks(us: i64) -> u64 {
    u64::try_from((i128::from(us.max(0)) * i128::from(TIMESCALE) + 500_000) / 1_000_000)
        .unwrap_or(u64::MAX)
}

/// One whole fragment of a segment file.
#[derive(Clone, Debug)]
pub(crate) struct Fragment {
    /// Where the `moof` starts.
    pub moof_offset: u64,
    /// Where the samples start (the `mdat`'s payload).
    pub data_offset: u64,
    /// Where the fragment ends (the end of its `mdat`).
    pub end: u64,
    /// Capture time of its first sample, Unix µs (from the `prft`).
    pub wall_us: i64,
    /// Media time of its first sample in the file.
    pub decode_time: u64,
    /// Its samples, in decode order.
    pub samples: Vec<Sample>,
}

impl Fragment {
    /// Its length in media ticks.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }

    /// Capture time of the end of its last sample, Unix µs.
    pub fn end_us(&self) -> i64 {
        self.wall_us + ticks_to_us(self.duration())
    }

    /// Whether a decoder can start at it.
    pub fn starts_with_keyframe(&self) -> bool {
        self.samples.first().is_some_and(|s| s.sync)
    }
}

/// What is at an offset of a segment file.
#[derive(Debug)]
pub(crate) enum Read {
    /// A whole fragment.
    Whole(Fragment),
    /// The end of the file, or a fragment not yet (or never) whole.
    Incomplete,
    /// Something that is not a fragment of this store.
    Damaged(String),
}

fn header_at(file: &File, offset: u64, limit: u64) -> io::Result<Option<BoxHeader>> {
    let n = usize::try_from(limit.saturating_sub(offset).min(16)).unwrap_or(16);
    if n < 8 {
        return Ok(None);
    }
    let mut buf = [0u8; 16];
    file.read_exact_at(&mut buf[..n], offset)?;
    Ok(mp4::box_header(&buf[..n]))
}

fn body_at(file: &File, offset: u64, header: BoxHeader) -> io::Result<Vec<u8>> {
    let mut body = vec![0; usize::try_from(header.size - header.header_len).unwrap_or(0)];
    file.read_exact_at(&mut body, offset + header.header_len)?;
    Ok(body)
}

/// The init segment (`ftyp` + `moov`) at the start of a file whose first `limit` bytes are
/// readable; `Ok(None)` if it is not whole.
pub(crate) fn read_init(file: &File, limit: u64) -> io::Result<Result<Vec<u8>, String>> {
    let Some(ftyp) = header_at(file, 0, limit)? else {
        return Ok(Err("no whole ftyp".into()));
    };
    if &ftyp.kind != b"ftyp" || ftyp.size > 1024 {
        return Ok(Err("not an MP4 file written by this store (no ftyp)".into()));
    }
    let Some(moov) = header_at(file, ftyp.size, limit)? else {
        return Ok(Err("no whole moov".into()));
    };
    let end = ftyp.size + moov.size;
    if &moov.kind != b"moov" || moov.size > MAX_HEADER_BOX || end > limit {
        return Ok(Err("no whole moov".into()));
    }
    let mut init = vec![0; usize::try_from(end).unwrap_or(0)];
    file.read_exact_at(&mut init, 0)?;
    Ok(Ok(init))
}

/// The fragment (`prft` + `moof` + `mdat`) at `offset`, if it is whole within `limit`.
pub(crate) fn read_fragment(file: &File, offset: u64, limit: u64) -> io::Result<Read> {
    let Some(prft) = header_at(file, offset, limit)? else {
        return Ok(Read::Incomplete);
    };
    if &prft.kind != b"prft" || prft.size > 64 {
        return Ok(Read::Damaged(format!("expected prft at byte {offset}")));
    }
    let moof_offset = offset + prft.size;
    let Some(moof) = header_at(file, moof_offset, limit)? else {
        return Ok(Read::Incomplete);
    };
    if &moof.kind != b"moof" || moof.size > MAX_HEADER_BOX {
        return Ok(Read::Damaged(format!(
            "expected moof at byte {moof_offset}"
        )));
    }
    let mdat_offset = moof_offset + moof.size;
    let Some(mdat) = header_at(file, mdat_offset, limit)? else {
        return Ok(Read::Incomplete);
    };
    if &mdat.kind != b"mdat" {
        return Ok(Read::Damaged(format!(
            "expected mdat at byte {mdat_offset}"
        )));
    }
    let end = mdat_offset + mdat.size;
    if end > limit {
        return Ok(Read::Incomplete);
    }
    let Some((wall_us, media_time)) = mp4::parse_prft(&body_at(file, offset, prft)?) else {
        return Ok(Read::Damaged(format!("bad prft at byte {offset}")));
    };
    let Some(info) = mp4::parse_moof(&body_at(file, moof_offset, moof)?) else {
        return Ok(Read::Damaged(format!("bad moof at byte {moof_offset}")));
    };
    let data_offset = moof_offset + info.data_offset;
    let data_len: u64 = info.samples.iter().map(|s| u64::from(s.size)).sum();
    if data_offset != mdat_offset + mdat.header_len
        || data_offset + data_len > end
        || info.samples.is_empty()
    {
        return Ok(Read::Damaged(format!(
            "moof at byte {moof_offset} does not match its mdat"
        )));
    }
    // The brief's rule: a sample's wall clock is the prft's plus its decode time since the
    // prft's media time; the store writes the prft for the first sample, so this is exact.
    let since =
        i64::try_from(info.decode_time).unwrap_or(0) - i64::try_from(media_time).unwrap_or(0);
    let wall_us = wall_us + since.signum() * ticks_to_us(since.unsigned_abs());
    Ok(Read::Whole(Fragment {
        moof_offset,
        data_offset,
        end,
        wall_us,
        decode_time: info.decode_time,
        samples: info.samples,
    }))
}

/// A segment file read from end to end.
#[derive(Debug)]
pub(crate) struct Scan {
    /// The init segment.
    pub init: Vec<u8>,
    /// Its whole fragments.
    pub fragments: Vec<Fragment>,
    /// The end of the last whole fragment (the length to truncate a damaged file to).
    pub good_end: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub problem: Option<String>,
}

/// Reads the first `limit` bytes of a segment file; `Err` with a reason if it has no init
/// segment (not a segment, or cut short before its first fragment).
pub(crate) fn scan(file: &File, limit: u64) -> io::Result<Result<Scan, String>> {
    let init = match read_init(file, limit)? {
        Ok(init) => init,
        Err(why) => return Ok(Err(why)),
    };
    let mut scan = Scan {
        good_end: init.len() as u64,
        init,
        fragments: Vec::new(),
        problem: None,
    };
    loop {
        match read_fragment(file, scan.good_end, limit)? {
            Read::Whole(fragment) => {
                scan.good_end = fragment.end;
                scan.fragments.push(fragment);
            }
            Read::Incomplete => {
                if scan.good_end < limit {
                    scan.problem = Some(format!("a fragment cut short at byte {}", scan.good_end));
                }
                break;
            }
            Read::Damaged(why) => {
                scan.problem = Some(why);
                break;
            }
        }
    }
    Ok(Ok(scan))
}
