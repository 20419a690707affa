//! A push service for tests: RFC 8030's receiving side on loopback, as strict as the real
//! ones where it matters. For each push it checks the VAPID token (RFC 8292: an ES256 JWT
//! whose signature verifies with the key the deployment configured, for this service's origin,
//! not expired nor good for more than 24 hours, with a contact) and the headers, decrypts the
//! payload (RFC 8291, aes128gcm) with the private key of the browser it made for the
//! subscription, and records it. A test can have an endpoint answer 410 (gone) or a series of
//! statuses (429, 500) first. Refused pushes are recorded with the reason, so a test can tell a
//! wrong key from a lost message.
//!
//! Used by `server/tests/push.rs`; a probe test can include it with `#[path]` (it needs axum,
//! jsonwebtoken, p256 and web-push-native, all the server's dependencies).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mumu_shared::push::{PushKeys, PushSubscriptionRequest};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A push that arrived, decrypted.
#[derive(Clone, Debug)]
pub struct Received {
    /// The endpoint it was sent to.
    pub endpoint: String,
    /// The payload as the service worker would read it.
    pub payload: serde_json::Value,
    /// The `TTL` header.
    pub ttl: u64,
    /// The `Urgency` header.
    pub urgency: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

/// The browser side of one subscription: what only the browser knows.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

struct Shared {
    origin: String,
    vapid_public: Vec<u8>,
    browsers: Mutex<HashMap<String, Browser>>,
    /// Statuses an endpoint answers next, before the normal 201; `gone` ones answer 410.
    scripted: Mutex<HashMap<String, VecDeque<u16>>>,
    gone: Mutex<Vec<String>>,
    received: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
    attempts: Mutex<HashMap<String, u32>>,
    arrived: tokio::sync::Notify,
}

/// The running service.
pub struct PushService {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PushService {
    /// Starts on a free loopback port, accepting pushes signed by the VAPID key whose public
    /// half is `vapid_public_key` (base64url).
    pub async fn start(vapid_public_key: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            origin,
            vapid_public: URL_SAFE_NO_PAD.decode(vapid_public_key).unwrap(),
            browsers: Mutex::default(),
            scripted: Mutex::default(),
            gone: Mutex::default(),
            received: Mutex::default(),
            refused: Mutex::default(),
            attempts: Mutex::default(),
            arrived: tokio::sync::Notify::new(),
        });
        let app = axum::Router::new()
            .route("/push/{id}", axum::routing::post(receive))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// A new browser subscription on this service, as `PushSubscription.toJSON()` gives it:
    /// the keys are made here, and the private half stays here to decrypt with.
    pub fn subscription(
        &self,
        devices: Option<Vec<mumu_shared::DeviceId>>,
    ) -> PushSubscriptionRequest {
        let mut seed = [0u8; 32];
        let mut auth = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut auth);
        let secret = p256::SecretKey::from_slice(&seed).expect("32 random bytes are a key");
        let p256dh = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false));
        let id = uuid::Uuid::new_v4().to_string();
        self.shared
            .browsers
            .lock()
            .unwrap()
            .insert(id.clone(), Browser { secret, auth });
        PushSubscriptionRequest {
            endpoint: format!("{}/push/{id}", self.shared.origin),
            keys: PushKeys {
                p256dh,
                auth: URL_SAFE_NO_PAD.encode(auth),
            },
            devices,
        }
    }

    /// From now on `endpoint` answers 410 Gone, as for a browser that unsubscribed.
    pub fn gone(&self, endpoint: &str) {
        self.shared.gone.lock().unwrap().push(id_of(endpoint));
    }

    /// `endpoint` answers these statuses to its next pushes, then accepts them again.
    pub fn answer(&self, endpoint: &str, statuses: &[u16]) {
        self.shared
            .scripted
            .lock()
            .unwrap()
            .insert(id_of(endpoint), statuses.iter().copied().collect());
    }

    /// Every push accepted so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The pushes accepted for `endpoint`.
    pub fn received_by(&self, endpoint: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.endpoint == endpoint)
            .collect()
    }

    /// Why pushes were refused (bad token, bad headers, undecryptable body).
    pub fn refused(&self) -> Vec<String> {
        self.shared.refused.lock().unwrap().clone()
    }

    /// How many requests reached `endpoint`, whatever was answered.
    pub fn attempts(&self, endpoint: &str) -> u32 {
        self.shared
            .attempts
            .lock()
            .unwrap()
            .get(&id_of(endpoint))
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `n` pushes in all have been accepted (10 s at most), and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.shared.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{n} pushes expected, {} arrived; refused: {:?}",
                got.len(),
                self.refused()
            );
            let _ = tokio::time::timeout(left, arrived).await;
        }
    }
}

fn id_of(endpoint: &str) -> String {
    endpoint.rsplit('/').next().unwrap_or_default().to_owned()
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    *shared
        .attempts
        .lock()
        .unwrap()
        .entry(id.clone())
        .or_default() += 1;
    let endpoint = format!("{}/push/{id}", shared.origin);
    let Some((secret, auth)) = shared
        .browsers
        .lock()
        .unwrap()
        .get(&id)
        .map(|b| (b.secret.clone(), b.auth))
    else {
        return (StatusCode::NOT_FOUND, "no such subscription").into_response();
    };
    if shared.gone.lock().unwrap().contains(&id) {
        return (StatusCode::GONE, "subscription expired or unsubscribed").into_response();
    }
    if let Some(status) = shared
        .scripted
        .lock()
        .unwrap()
        .get_mut(&id)
        .and_then(VecDeque::pop_front)
    {
        let mut response = (StatusCode::from_u16(status).unwrap(), "scripted").into_response();
        if status == 429 {
            response
                .headers_mut()
                .insert("retry-after", "0".parse().unwrap());
        }
        return response;
    }
    match check(&shared, &headers, &body, &secret, &auth) {
        Ok((payload, ttl, urgency)) => {
            shared.received.lock().unwrap().push(Received {
                endpoint,
                payload,
                ttl,
                urgency,
                at: Instant::now(),
            });
            shared.arrived.notify_waiters();
            (
                StatusCode::CREATED,
                [(
                    "location",
                    format!("{}/message/{}", shared.origin, uuid::Uuid::new_v4()),
                )],
            )
                .into_response()
        }
        Err((status, why)) => {
            shared.refused.lock().unwrap().push(why.clone());
            (status, why).into_response()
        }
    }
}

type Checked = (serde_json::Value, u64, Option<String>);

/// What a push service checks before it accepts a push.
fn check(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    secret: &p256::SecretKey,
    auth: &[u8; 16],
) -> Result<Checked, (StatusCode, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let unauthorized = |why: String| (StatusCode::UNAUTHORIZED, why);
    // Authorization: vapid t=<jwt>, k=<public key>
    let vapid = header("authorization")
        .and_then(|v| v.strip_prefix("vapid "))
        .ok_or_else(|| unauthorized("no `Authorization: vapid` header".into()))?;
    let mut token = None;
    let mut key = None;
    for part in vapid.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => token = Some(v.trim()),
            Some(("k", v)) => key = Some(v.trim()),
            _ => {}
        }
    }
    let (Some(token), Some(key)) = (token, key) else {
        return Err(unauthorized(format!(
            "vapid header without t= and k=: {vapid}"
        )));
    };
    let key = URL_SAFE_NO_PAD
        .decode(key)
        .map_err(|_| unauthorized("k= is not base64url".into()))?;
    if key != shared.vapid_public {
        return Err((
            StatusCode::FORBIDDEN,
            "k= is not the key the subscription was made with".into(),
        ));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[shared.origin.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.leeway = 0;
    let decoding = jsonwebtoken::DecodingKey::from_ec_der(&shared.vapid_public);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
        .map_err(|e| unauthorized(format!("VAPID token refused: {e}")))?
        .claims;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = claims["exp"].as_i64().unwrap_or_default();
    if exp > now + 24 * 3600 {
        return Err(unauthorized(format!(
            "VAPID token good for {} s, more than 24 hours",
            exp - now
        )));
    }
    let sub = claims["sub"].as_str().unwrap_or_default();
    if !(sub.starts_with("mailto:") || sub.starts_with("https://")) {
        return Err(unauthorized(format!(
            "sub {sub:?} is not mailto: or https:"
        )));
    }
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    let ttl: u64 = header("ttl")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad("no TTL header".into()))?;
    if header("content-encoding") != Some("aes128gcm") {
        return Err(bad("Content-Encoding is not aes128gcm".into()));
    }
    if body.len() > 4096 {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} bytes: more than 4096", body.len()),
        ));
    }
    let auth = web_push_native::Auth::from(*auth);
    let plain = web_push_native::decrypt(body.to_vec(), secret, &auth)
        .map_err(|e| bad(format!("the payload does not decrypt: {e}")))?;
    let payload =
        serde_json::from_slice(&plain).map_err(|e| bad(format!("the payload is not JSON: {e}")))?;
    Ok((payload, ttl, header("urgency").map(str::to_owned)))
}
