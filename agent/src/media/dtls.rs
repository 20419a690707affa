//! The agent's DTLS certificate: one ECDSA P-256 key and self-signed certificate per process,
//! handed to every viewer's webrtcbin.
//!
//! Left alone, GStreamer 1.22's DTLS elements generate an RSA 2048 certificate. That is slow to
//! make (the first viewer after every start waited for it) and it limits the handshake to
//! ECDHE-RSA suites, which some WebRTC stacks do not offer: a stock aiortc viewer, offering only
//! ECDHE-ECDSA, failed with "Fatal SSL error". An ECDSA certificate serves every browser, aiortc
//! and webrtc-rs alike, and needs no RSA key generation.
//!
//! The certificate lives only in memory: a viewer checks it against the fingerprint in the
//! offer, which the signaling channel carries, so nothing is gained by keeping it on disk.

use super::MediaError;
use gstreamer as gst;
use gstreamer::prelude::*;
use std::sync::OnceLock;

/// The agent's certificate: made on first use, then the same for the life of the process.
#[derive(Debug)]
pub struct AgentCertificate {
    /// The certificate and its private key, both PEM, in one string (what `dtlssrtpdec`'s
    /// `pem` property takes).
    pub pem: String,
    /// Its SHA-256 fingerprint as an SDP `a=fingerprint` shows it: upper-case hex pairs
    /// joined by colons.
    pub fingerprint: String,
}

/// The agent's certificate.
pub fn certificate() -> &'static AgentCertificate {
    static CERTIFICATE: OnceLock<AgentCertificate> = OnceLock::new();
    CERTIFICATE.get_or_init(|| {
        let key = rcgen::KeyPair::generate().expect("ring generates an ECDSA P-256 key");
        let params = rcgen::CertificateParams::new(vec!["mumu-agent".to_owned()])
            .expect("a plain DNS name is a valid subject alternative name");
        let cert = params
            .self_signed(&key)
            .expect("a fresh key signs its own certificate");
        let digest =
            gst::glib::compute_checksum_for_data(gst::glib::ChecksumType::Sha256, cert.der())
                .expect("SHA-256 is built into GLib");
        let hex = digest.to_uppercase();
        let fingerprint = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).into_owned())
            .collect::<Vec<_>>()
            .join(":");
        AgentCertificate {
            pem: format!("{}{}", cert.pem(), key.serialize_pem()),
            fingerprint,
        }
    })
}

/// Makes `webrtcbin` use [`certificate`] for its DTLS. webrtcbin creates its DTLS elements
/// while it makes the offer, just before it reads their certificate for the offer's
/// fingerprint; they are given ours the moment they are added.
pub fn use_agent_certificate(webrtcbin: &gst::Element) {
    let Some(bin) = webrtcbin.downcast_ref::<gst::Bin>() else {
        return;
    };
    bin.connect_deep_element_added(|_, _, element| {
        let is_dtls_decoder = element
            .factory()
            .is_some_and(|factory| factory.name() == "dtlssrtpdec");
        if is_dtls_decoder {
            element.set_property("pem", &certificate().pem);
        }
    });
}

/// Puts the agent's own fingerprint in every media section of an offer. webrtcbin 1.22 derives
/// the fingerprint from every base64 line of the PEM its DTLS element holds, which for a
/// certificate given to it includes the private key: the fingerprint it writes is wrong, and a
/// viewer that checks it (every browser) would refuse the handshake.
pub fn correct_fingerprint(sdp: &mut gstreamer_sdp::SDPMessageRef) -> Result<(), MediaError> {
    let value = format!("sha-256 {}", certificate().fingerprint);
    for index in 0..sdp.medias_len() {
        let Some(media) = sdp.media_mut(index) else {
            continue;
        };
        let attribute = gstreamer_sdp::SDPAttribute::new("fingerprint", Some(&value));
        match media.attributes().position(|a| a.key() == "fingerprint") {
            Some(at) => media
                .replace_attribute(at as u32, attribute)
                .map_err(|e| MediaError::Gst(format!("the offer's fingerprint: {e}")))?,
            None => media.add_attribute("fingerprint", Some(&value)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_ecdsa_p256_and_made_once() {
        let certificate = certificate();
        let pem = &certificate.pem;
        assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(pem.contains("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert!(
            std::ptr::eq(certificate, super::certificate()),
            "one per process"
        );
        let key_pem = &pem[pem.find("-----BEGIN PRIVATE KEY-----").unwrap()..];
        let key = rcgen::KeyPair::from_pem(key_pem).expect("the key parses back");
        assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        let fingerprint = &certificate.fingerprint;
        assert_eq!(fingerprint.split(':').count(), 32, "{fingerprint}");
        assert!(fingerprint.split(':').all(|pair| {
            pair.len() == 2
                && pair
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        }));
    }
}
