//! A viewer's SDP answer and the camera's sound: which codecs its audio section asks for, and
//! the same answer refusing the sound. The camera reads the first and makes the second of an
//! answer whose sound it cannot send; the probe makes the second to play a viewer that refuses.

/// The lines of `sdp`'s first `m=audio` section (its `m=` line first), ends kept.
fn audio_section(sdp: &str) -> Vec<&str> {
    let mut section = Vec::new();
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            if !section.is_empty() {
                break;
            }
            if line.starts_with("m=audio ") {
                section.push(line);
            }
        } else if !section.is_empty() {
            section.push(line);
        }
    }
    section
}

/// The codecs the audio section of `sdp` names, in its `m=` line's order, as its `a=rtpmap:`
/// lines spell them (`OPUS/48000/2`, `PCMU/8000`); a payload type without one is named by its
/// number (`0`). At most `limit` of them, each at most 32 characters: the text is the viewer's.
pub fn audio_codecs(sdp: &str, limit: usize) -> Vec<String> {
    let section = audio_section(sdp);
    let Some(m_line) = section.first() else {
        return Vec::new();
    };
    let rtpmap = |pt: &str| {
        section.iter().find_map(|line| {
            let rest = line.trim_end().strip_prefix("a=rtpmap:")?;
            let (number, name) = rest.split_once(' ')?;
            (number == pt).then(|| name.trim().to_owned())
        })
    };
    // m=audio <port> <proto> <payload types…>
    m_line
        .split_whitespace()
        .skip(3)
        .take(limit)
        .map(|pt| {
            let name = rtpmap(pt).unwrap_or_else(|| pt.to_owned());
            name.chars().take(32).collect()
        })
        .collect()
}

/// `answer` with its sound refused: the audio section's port set to 0 and its mid taken out of
/// the bundle, as an answerer that will not receive it says so (RFC 8843).
pub fn refusing_audio(answer: &str) -> String {
    let audio_mid = audio_section(answer)
        .iter()
        .find_map(|line| line.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned);
    answer
        .split_inclusive('\n')
        .map(|line| {
            if let Some(media) = line.strip_prefix("m=audio ") {
                let rest = media.split_once(' ').map_or("", |(_, rest)| rest);
                format!("m=audio 0 {rest}")
            } else if let (Some(group), Some(mid)) =
                (line.strip_prefix("a=group:BUNDLE "), audio_mid.as_deref())
            {
                let kept: Vec<&str> = group.split_whitespace().filter(|m| *m != mid).collect();
                let end = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
                format!("a=group:BUNDLE {}{end}", kept.join(" "))
            } else {
                line.to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=mid:0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=mid:1\r\na=rtpmap:111 OPUS/48000/2\r\na=recvonly\r\n";

    #[test]
    fn a_refused_sound_has_port_0_and_leaves_the_bundle() {
        let refused = refusing_audio(ANSWER);
        assert!(refused.contains("a=group:BUNDLE 0\r\n"), "{refused}");
        assert!(
            refused.contains("m=audio 0 UDP/TLS/RTP/SAVPF 111 0\r\n"),
            "{refused}"
        );
        assert!(refused.contains("m=video 9 UDP"), "{refused}");
    }

    #[test]
    fn the_audio_codecs_are_named_in_order_and_bounded() {
        assert_eq!(audio_codecs(ANSWER, 8), ["OPUS/48000/2", "0"]);
        assert_eq!(audio_codecs(ANSWER, 1), ["OPUS/48000/2"]);
        assert!(audio_codecs("v=0\r\nm=video 9 X 96\r\n", 8).is_empty());
        let long = format!("m=audio 9 X 8\na=rtpmap:8 {}\n", "A".repeat(100));
        assert_eq!(audio_codecs(&long, 8)[0].len(), 32);
    }
}
