//! Getting an identity from the server, and a pairing code for the owner to type.
//!
//! A fresh agent calls `POST /api/devices/enroll` once and keeps what it gets (see
//! [`crate::identity`]); an unpaired agent whose code ran out asks `POST /api/pairing/generate`
//! for a new one, proving itself with its secret.

use mumu_shared::api::{EnrollRequest, EnrollResponse, PairingCode};
use mumu_shared::{ErrorResponse, UnixMillis};
use thiserror::Error;

/// A REST call to the server failed.
#[derive(Debug, Error)]
pub enum EnrollError {
    /// The server could not be reached, or its answer could not be read.
    #[error("{call}: {source}")]
    Transport {
        /// Which call.
        call: &'static str,
        /// What failed.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{call} refused ({status}): {message}")]
    Refused {
        /// Which call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The server's error code, when it sent one.
        code: Option<mumu_shared::ErrorCode>,
        /// Its message.
        message: String,
    },
}

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
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|source| EnrollError::Transport { call, source });
    }
    let text = response.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorResponse>(&text) {
        Ok(body) => (Some(body.error.code), body.error.message),
        Err(_) => (None, text),
    };
    Err(EnrollError::Refused {
        call,
        status: status.as_u16(),
        code,
        message,
    })
}

/// Prints the pairing code where a person will see it: a framed block on stderr (the terminal,
/// or the journal under systemd).
pub fn show_pairing_code(code: &str, expires_at: UnixMillis, server: &str) {
    let minutes = (expires_at - crate::now_ms()).max(0) / 60_000;
    let lines = [
        "MuMu camera: not paired yet".to_owned(),
        String::new(),
        format!("    Pairing code:   {code}"),
        String::new(),
        format!("Type it in the dashboard at {server}"),
        format!("(valid for about {minutes} more minutes)"),
    ];
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 4;
    let rule = "=".repeat(width);
    let mut block = format!("\n{rule}\n");
    for line in &lines {
        block.push_str(&format!("  {line}\n"));
    }
    block.push_str(&format!("{rule}\n"));
    eprintln!("{block}");
}
