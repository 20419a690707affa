//! The envelope every signaling message travels in, and decoding that says what was wrong.
//!
//! On the wire a message is one JSON object: `{ "type", "payload", "request_id"?, "ts" }`.
//! `type` picks the variant of the direction's enum, `payload` carries its fields,
//! `request_id` (chosen by the sender of a request) is echoed on the reply, and `ts` is the
//! sender's clock in Unix milliseconds.

use crate::UnixMillis;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use thiserror::Error;

/// One direction's set of messages (an enum tagged by `type`).
pub trait Message: Serialize + DeserializeOwned {
    /// Every `type` this direction knows, in declaration order.
    const TYPES: &'static [&'static str];
    /// The `type` of this message.
    fn kind(&self) -> &'static str;
}

/// A message with its envelope fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<M> {
    /// The message: serialized as `type` and `payload`.
    #[serde(flatten)]
    pub message: M,
    /// Set by the sender of a request; the reply to it carries the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The sender's clock when it sent this, Unix milliseconds (0 when the sender had none).
    #[serde(default)]
    pub ts: UnixMillis,
}

impl<M> Envelope<M> {
    /// A message stamped with `ts`.
    pub fn new(message: M, ts: UnixMillis) -> Self {
        Self {
            message,
            request_id: None,
            ts,
        }
    }

    /// The same message, answering the request that carried `request_id`.
    pub fn reply_to(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
}

/// Why a text could not be decoded as a message. The `Display` text names what was wrong and is
/// meant to be sent back to the peer.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The text is not JSON at all.
    #[error("message is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object with a string `type`.
    #[error("message must be a JSON object with a string \"type\": {0}")]
    NoType(String),
    /// A `type` this direction does not have.
    #[error("unknown message type \"{found}\"; expected one of: {expected}")]
    UnknownType {
        /// The `type` received.
        found: String,
        /// The types this direction knows, comma separated.
        expected: String,
    },
    /// A known `type` whose payload or envelope fields are malformed.
    #[error("bad \"{kind}\" message: {detail}")]
    BadPayload {
        /// The `type` received.
        kind: String,
        /// What serde found wrong (names the field).
        detail: String,
    },
}

/// Decodes one message of direction `M`. A missing `payload` is read as `{}`, so messages
/// without fields (a `heartbeat`) may omit it.
pub fn decode<M: Message>(text: &str) -> Result<Envelope<M>, ProtocolError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| ProtocolError::NoType("got a non-object".into()))?;
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => return Err(ProtocolError::NoType("\"type\" is not a string".into())),
        None => return Err(ProtocolError::NoType("\"type\" is missing".into())),
    };
    if !M::TYPES.contains(&kind.as_str()) {
        return Err(ProtocolError::UnknownType {
            found: kind,
            expected: M::TYPES.join(", "),
        });
    }
    object
        .entry("payload")
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    Envelope::<M>::deserialize(&value).map_err(|e| {
        let detail = e.to_string();
        let detail = match culprit::<M>(&value, &detail) {
            Some(field) => format!("field `{field}`: {detail}"),
            None => detail,
        };
        ProtocolError::BadPayload { kind, detail }
    })
}

/// serde's message names a missing field but not one of the wrong type. This finds the envelope
/// or payload field that made `value` fail to decode with `detail`: the first one whose absence
/// changes the outcome.
fn culprit<M: Message>(value: &serde_json::Value, detail: &str) -> Option<String> {
    use serde_json::{Map, Value};
    /// Each probe decodes a copy of the message; no message has nearly this many fields.
    const MAX_PROBES: usize = 16;
    fn without(fields: &Map<String, Value>, key: &str) -> Map<String, Value> {
        fields
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
    let fails_alike = |probe: Map<String, Value>| {
        Envelope::<M>::deserialize(&Value::Object(probe)).is_err_and(|e| e.to_string() == detail)
    };

    let top = value.as_object()?;
    let payload = top.get("payload").and_then(Value::as_object);
    if detail.starts_with("missing field") || top.len() + payload.map_or(0, Map::len) > MAX_PROBES {
        return None;
    }
    for key in top
        .keys()
        .filter(|k| !matches!(k.as_str(), "type" | "payload"))
    {
        if !fails_alike(without(top, key)) {
            return Some(key.clone());
        }
    }
    for key in payload?.keys() {
        let mut probe = without(top, "payload");
        probe.insert("payload".into(), Value::Object(without(payload?, key)));
        if !fails_alike(probe) {
            return Some(key.clone());
        }
    }
    None
}

/// Encodes a message with its envelope as JSON text.
pub fn encode<M: Message>(envelope: &Envelope<M>) -> String {
    // Serializing these plain types cannot fail: every map key is a string.
    serde_json::to_string(envelope).expect("signaling messages always serialize")
}
