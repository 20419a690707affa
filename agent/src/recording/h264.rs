//! H.264 as the store needs it: Annex B access units split into NAL units, turned into MP4
//! samples (4-byte lengths), and the few SPS fields the MP4 sample entry and the MIME type need.

/// NAL unit types the store treats specially.
const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// One access unit as an MP4 sample, with the parameter sets it carried.
#[derive(Debug, Default)]
pub(crate) struct AccessUnit {
    /// The NAL units with 4-byte big-endian lengths (AVCC), access unit delimiters dropped.
    pub sample: Vec<u8>,
    /// The first SPS of the access unit, if any.
    pub sps: Option<Vec<u8>>,
    /// The first PPS of the access unit, if any.
    pub pps: Option<Vec<u8>>,
    /// Whether it holds an IDR slice.
    pub idr: bool,
}

/// Splits an Annex B access unit (3- or 4-byte start codes) into its NAL units.
fn nal_units(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &(_, body)) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(data.len(), |&(code, _)| code);
        // Trailing zeros belong to the next start code (a 4-byte one) or are padding.
        while end > body && data[end - 1] == 0 {
            end -= 1;
        }
        if end > body {
            units.push(&data[body..end]);
        }
    }
    units
}

/// Converts an Annex B access unit into an MP4 sample.
pub(crate) fn access_unit(data: &[u8]) -> AccessUnit {
    let mut unit = AccessUnit {
        sample: Vec::with_capacity(data.len() + 16),
        ..AccessUnit::default()
    };
    for nal in nal_units(data) {
        let kind = nal[0] & 0x1f;
        match kind {
            NAL_AUD => continue,
            NAL_SPS if unit.sps.is_none() => unit.sps = Some(nal.to_vec()),
            NAL_PPS if unit.pps.is_none() => unit.pps = Some(nal.to_vec()),
            NAL_IDR => unit.idr = true,
            _ => {}
        }
        let len = u32::try_from(nal.len()).unwrap_or(u32::MAX);
        unit.sample.extend_from_slice(&len.to_be_bytes());
        unit.sample.extend_from_slice(nal);
    }
    unit
}

/// What the MP4 sample entry needs from the SPS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpsInfo {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    pub width: u32,
    pub height: u32,
    /// `Some((chroma_format_idc, bit_depth_luma_minus8, bit_depth_chroma_minus8))` for the
    /// high profiles, whose avcC carries them.
    pub high: Option<(u8, u8, u8)>,
}

impl SpsInfo {
    /// The RFC 6381 codec string, `avc1.PPCCLL`.
    pub fn codec(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }
}

/// Reads bits from an RBSP (emulation prevention bytes removed).
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal: &[u8]) -> Self {
        let mut data = Vec::with_capacity(nal.len());
        let mut zeros = 0;
        for &b in nal {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Self { data, pos: 0 }
    }

    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |acc, _| Some((acc << 1) | self.bit()?))
    }

    /// Unsigned exp-Golomb.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Signed exp-Golomb.
    fn se(&mut self) -> Option<i32> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).ok()
    }
}

/// Parses the SPS NAL unit (header byte included); `None` if it is cut short or malformed.
pub(crate) fn parse_sps(nal: &[u8]) -> Option<SpsInfo> {
    if nal.first()? & 0x1f != NAL_SPS {
        return None;
    }
    let mut r = Bits::new(nal.get(1..)?);
    let profile = u8::try_from(r.bits(8)?).ok()?;
    let compatibility = u8::try_from(r.bits(8)?).ok()?;
    let level = u8::try_from(r.bits(8)?).ok()?;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    let mut separate_planes = false;
    let mut high = None;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            separate_planes = r.bit()? == 1;
        }
        let depth_luma = r.ue()?;
        let depth_chroma = r.ue()?;
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            // seq_scaling_matrix_present_flag: skip the lists.
            for i in 0..(if chroma_format == 3 { 12 } else { 8 }) {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i32, 8i32);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
        high = Some((
            u8::try_from(chroma_format).ok()?,
            u8::try_from(depth_luma).ok()?,
            u8::try_from(depth_chroma).ok()?,
        ));
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()?.min(255) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    let chroma_array_type = if separate_planes { 0 } else { chroma_format };
    let (crop_x, crop_y) = match chroma_array_type {
        0 => (1, 2 - frame_mbs_only),
        1 => (2, 2 * (2 - frame_mbs_only)),
        2 => (2, 2 - frame_mbs_only),
        _ => (1, 2 - frame_mbs_only),
    };
    let width = (width_mbs * 16).checked_sub(crop_x * (left + right))?;
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub(crop_y * (top + bottom))?;
    Some(SpsInfo {
        profile,
        compatibility,
        level,
        width,
        height,
        high,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_unit_loses_its_delimiter_and_gets_lengths() {
        let au = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5,
        ];
        let unit = access_unit(&au);
        assert!(unit.idr);
        assert_eq!(unit.sps.as_deref(), Some(&[0x67, 1, 2][..]));
        assert_eq!(unit.pps.as_deref(), Some(&[0x68, 3][..]));
        assert_eq!(
            unit.sample,
            [
                0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 3, 0x65, 4, 5
            ]
        );
    }

    #[test]
    fn a_1080p_high_profile_sps_gives_its_cropped_size() {
        // x264, High 4.0, 1920x1080 (1088 coded, cropped by 8 lines).
        let sps = [
            0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00,
            0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
        ];
        let info = parse_sps(&sps).expect("parses");
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.codec(), "avc1.640028");
        assert_eq!(info.high, Some((1, 0, 0)));
    }
}
