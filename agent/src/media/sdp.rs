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

/// `offer` with an `a=msid:` line in every media section that names its stream only in an
/// `a=ssrc:… msid:` line (as webrtcbin 1.22 writes it). Browsers group tracks into streams by
/// `a=msid:`, and some read no other form: without it, the picture and the sound would reach a
/// page as two streams of one track each. webrtcbin's own description is left as it is (the
/// viewer's answer does not repeat it).
pub fn with_msid_lines(offer: &str) -> String {
    let mut out = String::with_capacity(offer.len() + 160);
    let sections: Vec<&str> = offer.split_inclusive('\n').collect();
    let mut start = 0;
    while start < sections.len() {
        let end = sections[start + 1..]
            .iter()
            .position(|l| l.starts_with("m="))
            .map_or(sections.len(), |i| start + 1 + i);
        let section = &sections[start..end];
        let media = section[0].starts_with("m=");
        let has_msid = section.iter().any(|l| l.starts_with("a=msid:"));
        let from_ssrc = section.iter().find_map(|l| {
            let rest = l.trim_end().strip_prefix("a=ssrc:")?;
            let (_, msid) = rest.split_once(" msid:")?;
            Some(msid.to_owned())
        });
        for line in section {
            out.push_str(line);
            if media
                && !has_msid
                && line.starts_with("a=mid:")
                && let Some(msid) = &from_ssrc
            {
                out.push_str(&format!("a=msid:{msid}\r\n"));
            }
        }
        start = end;
    }
    out
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

/// When an answer takes the sound but in no codec the camera sends (Opus, the only one):
/// the codecs it asked for instead, for the log (at most four, each shortened).
pub fn unsendable_audio(answer: &str) -> Option<String> {
    if !takes_audio(answer) {
        return None;
    }
    let asked = mumu_shared::sdp::audio_codecs(answer, 4);
    let opus = asked
        .iter()
        .any(|codec| codec.to_ascii_uppercase().starts_with("OPUS/"));
    (!opus).then(|| {
        if asked.is_empty() {
            "no codec".into()
        } else {
            asked.join(", ")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_media_section_names_its_stream_in_an_msid_line() {
        let offer = "v=0\r\na=group:BUNDLE video0 audio1\r\nm=video 9 x 96\r\na=ssrc:1 msid:user1@host-2 webrtctransceiver4\r\na=mid:video0\r\nm=audio 0 x 97\r\na=ssrc:2 msid:user1@host-2 webrtctransceiver5\r\na=mid:audio1\r\n";
        let with = with_msid_lines(offer);
        assert!(
            with.contains("a=mid:video0\r\na=msid:user1@host-2 webrtctransceiver4\r\nm=audio"),
            "{with}"
        );
        assert!(
            with.ends_with("a=mid:audio1\r\na=msid:user1@host-2 webrtctransceiver5\r\n"),
            "{with}"
        );
        assert_eq!(with_msid_lines(&with), with, "once only");
        assert!(with.starts_with("v=0\r\na=group:BUNDLE video0 audio1\r\n"));
    }

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
    fn an_answer_asking_for_another_codec_is_told_apart() {
        let audio = |m: &str, maps: &str| {
            format!(
                "v=0\r\nm=video 9 X 96\r\na=rtpmap:96 H264/90000\r\n{m}\r\n{maps}a=recvonly\r\n"
            )
        };
        let opus = audio("m=audio 9 X 97", "a=rtpmap:97 opus/48000/2\r\n");
        assert_eq!(unsendable_audio(&opus), None);
        let pcmu = audio("m=audio 9 X 0", "a=rtpmap:0 PCMU/8000\r\n");
        assert_eq!(unsendable_audio(&pcmu).as_deref(), Some("PCMU/8000"));
        let two = audio("m=audio 9 X 0 8", "");
        assert_eq!(unsendable_audio(&two).as_deref(), Some("0, 8"));
        let none = audio("m=audio 9 X", "");
        assert_eq!(unsendable_audio(&none).as_deref(), Some("no codec"));
        // A refusal is a refusal, not a codec problem.
        let refused = audio("m=audio 0 X 0", "a=rtpmap:0 PCMU/8000\r\n");
        assert_eq!(unsendable_audio(&refused), None);
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
