//! Reading the SDP text a viewer sends: its candidate lines and media sections. Checked here
//! because webrtcbin only logs what it cannot read, and the viewer deserves to be told.

/// The `candidate:` line of a viewer's candidate (an `a=` prefix is tolerated), or what is
/// wrong with it. Checked here because webrtcbin only logs what it cannot read.
pub fn candidate_line(text: &str) -> Result<&str, String> {
    let line = text.trim();
    let line = line.strip_prefix("a=").unwrap_or(line);
    if !line.starts_with("candidate:") {
        return Err(format!("not a `candidate:` line: {:?}", shorten(text)));
    }
    // foundation component transport priority address port "typ" type
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 || fields[6] != "typ" {
        return Err(format!(
            "a candidate needs `foundation component transport priority address port typ type`, got {:?}",
            shorten(text)
        ));
    }
    if fields[1].parse::<u32>().is_err() || fields[3].parse::<u32>().is_err() {
        return Err(format!(
            "component and priority must be numbers in {:?}",
            shorten(text)
        ));
    }
    if fields[5].parse::<u16>().is_err() {
        return Err(format!("bad port {:?} in {:?}", fields[5], shorten(text)));
    }
    Ok(line)
}

/// At most 120 characters of untrusted text, for messages.
pub fn shorten(text: &str) -> String {
    text.chars().take(120).collect()
}

/// The `a=mid:` of each media section, in order.
pub fn mids_of(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned)
        .collect()
}

/// Whether a viewer's answer takes the sound: it has an `m=audio` section with a port (0 is a
/// refusal) that is not `inactive` or `sendonly` (the viewer would not receive).
pub fn takes_audio(answer: &str) -> bool {
    let mut taken = false;
    let mut in_audio = false;
    for line in answer.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            let mut fields = media.split_whitespace();
            in_audio = fields.next() == Some("audio");
            if in_audio {
                taken = fields.next().is_some_and(|port| port != "0");
            }
        } else if in_audio && matches!(line, "a=inactive" | "a=sendonly") {
            taken = false;
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_takes_the_sound_unless_it_refuses_or_silences_it() {
        let answer = |audio: &str| {
            format!(
                "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n{audio}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
            )
        };
        assert!(takes_audio(&answer(
            "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=recvonly\r\n"
        )));
        assert!(!takes_audio(&answer(
            "m=audio 0 UDP/TLS/RTP/SAVPF 97\r\na=recvonly\r\n"
        )));
        assert!(!takes_audio(&answer(
            "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=inactive\r\n"
        )));
        assert!(!takes_audio(&answer("")), "no audio section at all");
    }

    #[test]
    fn only_well_formed_candidate_lines_are_taken() {
        let good = "candidate:1 1 UDP 2015363327 192.0.2.7 47129 typ host";
        assert_eq!(candidate_line(good), Ok(good));
        assert_eq!(candidate_line(&format!("a={good}\r\n")), Ok(good));
        for bad in [
            "",
            "garbage",
            "candidate:1 1 UDP",
            "candidate:1 x UDP 2015363327 192.0.2.7 47129 typ host",
            "candidate:1 1 UDP 2015363327 192.0.2.7 99999 typ host",
            "candidate:1 1 UDP 2015363327 192.0.2.7 47129 type host",
        ] {
            assert!(candidate_line(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn mids_are_read_in_media_section_order() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:video0\r\nm=audio 9 x 0\r\na=mid:audio1\r\n";
        assert_eq!(mids_of(sdp), ["video0", "audio1"]);
    }
}
