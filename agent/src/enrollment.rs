//! Getting an identity from the server, and a pairing code for the owner to type.
//!
//! A fresh agent calls `POST /api/devices/enroll` once and keeps what it gets (see
//! [`crate::identity`]); an unpaired agent whose code ran out asks `POST /api/pairing/generate`
//! for a new one, proving itself with its secret.

use mumu_shared::UnixMillis;
use mumu_shared::api::{EnrollRequest, EnrollResponse, PairingCode, RestError};

/// A REST call to the server failed: unreachable, refused (with the server's code and message),
/// or answered with a body the agent cannot read.
pub type EnrollError = RestError<reqwest::Error>;

/// The server's REST API, as the agent uses it.
#[derive(Clone, Debug)]
pub struct ServerApi {
    base: String,
    http: reqwest::Client,
}

impl ServerApi {
    /// The API of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// `POST /api/devices/enroll`: a new identity and a first pairing code.
    pub async fn enroll(&self, name: Option<String>) -> Result<EnrollResponse, EnrollError> {
        const CALL: &str = "enrolment";
        let body = EnrollRequest {
            name,
            agent_version: crate::AGENT_VERSION.to_owned(),
        };
        let response = self
            .http
            .post(format!("{}/api/devices/enroll", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|source| EnrollError::Transport { call: CALL, source })?;
        read(CALL, response).await
    }

    /// `POST /api/pairing/generate`: a fresh code for this unpaired device.
    pub async fn new_pairing_code(&self, secret: &str) -> Result<PairingCode, EnrollError> {
        const CALL: &str = "pairing code";
        let response = self
            .http
            .post(format!("{}/api/pairing/generate", self.base))
            .bearer_auth(secret)
            .send()
            .await
            .map_err(|source| EnrollError::Transport { call: CALL, source })?;
        read(CALL, response).await
    }
}

async fn read<T: serde::de::DeserializeOwned>(
    call: &'static str,
    response: reqwest::Response,
) -> Result<T, EnrollError> {
    let status = response.status().as_u16();
    EnrollError::answer(call, status, response.bytes().await)
}

/// Prints the pairing code where a person will see it: a framed block on stderr (the terminal,
/// or the journal under systemd), with a QR code of the pairing page when stderr is a
/// terminal (a phone's camera opens it; in a journal the blocks would be noise).
pub fn show_pairing_code(code: &str, expires_at: UnixMillis, server: &str) {
    use std::io::IsTerminal;
    let mut block = pairing_block(code, expires_at, server);
    if std::io::stderr().is_terminal()
        && let Some(qr) = qr_code(&pairing_url(server, code))
    {
        block.push_str(&qr);
    }
    eprintln!("{block}");
}

/// The dashboard's pairing page with the code filled in.
pub fn pairing_url(server: &str, code: &str) -> String {
    format!("{}/pair?code={code}", server.trim_end_matches('/'))
}

/// The framed text block.
fn pairing_block(code: &str, expires_at: UnixMillis, server: &str) -> String {
    let minutes = (expires_at - crate::now_ms()).max(0) / 60_000;
    let lines = [
        "MuMu camera: not paired yet".to_owned(),
        String::new(),
        format!("    Pairing code:   {code}"),
        String::new(),
        format!("Type it in the dashboard at {server}"),
        format!("or open {}", pairing_url(server, code)),
        format!("(valid for about {minutes} more minutes; a new one follows if it runs out)"),
    ];
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 4;
    let rule = "=".repeat(width);
    let mut block = format!("\n{rule}\n");
    for line in &lines {
        block.push_str(&format!("  {line}\n"));
    }
    block.push_str(&format!("{rule}\n"));
    block
}

/// `text` as a QR code in Unicode half blocks (two modules per character cell).
fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_shows_the_code_and_where_to_type_it() {
        let block = pairing_block("ABCD-EFGH", crate::now_ms() + 600_000, "http://cams:8080");
        assert!(block.contains("Pairing code:   ABCD-EFGH"), "{block}");
        assert!(block.contains("http://cams:8080"), "{block}");
        assert!(block.contains("about 9 more minutes") || block.contains("about 10 more minutes"));
    }

    #[test]
    fn the_qr_code_opens_the_pairing_page_with_the_code() {
        assert_eq!(
            pairing_url("https://cams.example.org/", "ABCD-EFGH"),
            "https://cams.example.org/pair?code=ABCD-EFGH"
        );
        let qr = qr_code(&pairing_url("https://cams.example.org", "ABCD-EFGH")).unwrap();
        let rows: Vec<&str> = qr.lines().collect();
        assert!(rows.len() >= 10, "a real QR code:\n{qr}");
        assert!(qr.contains('\u{2580}') || qr.contains('\u{2584}') || qr.contains('\u{2588}'));
    }
}
