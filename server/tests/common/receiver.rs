//! A webhook receiver, as a Home Assistant or a person's script would be: a small HTTP server on
//! loopback that records every request (path, headers, body, arrival time) and answers 200,
//! after a delay when asked to be slow.

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Delivery {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Whether the signature is HMAC-SHA256 of `<timestamp>.<body>` with `secret`, checked
    /// here independently of the server's code, as a receiver would.
    pub fn signed_with(&self, secret: &str) -> bool {
        let Some(hex) = self.header("x-mumu-signature").strip_prefix("sha256=") else {
            return false;
        };
        let Ok(given) = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(self.header("x-mumu-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        mac.verify_slice(&given).is_ok()
    }
}

/// A running receiver.
pub struct Receiver {
    pub addr: SocketAddr,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// A receiver that answers at once.
    pub async fn start() -> Self {
        Self::slow(Duration::ZERO).await
    }

    /// A receiver that records each request at once but answers only after `delay`.
    pub async fn slow(delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, deliveries) = mpsc::unbounded_channel();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Delivery {
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                    at: Instant::now(),
                });
                tokio::time::sleep(delay).await;
                "ok"
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            deliveries,
            task,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request (within 5 s).
    pub async fn next(&mut self) -> Delivery {
        tokio::time::timeout(Duration::from_secs(5), self.deliveries.recv())
            .await
            .expect("a webhook within 5 s")
            .expect("the receiver runs")
    }

    /// The next request within `ms`, if any.
    pub async fn within(&mut self, ms: u64) -> Option<Delivery> {
        tokio::time::timeout(Duration::from_millis(ms), self.deliveries.recv())
            .await
            .ok()
            .flatten()
    }

    /// Asserts that no request arrives for `ms`.
    pub async fn silent_for(&mut self, ms: u64) {
        if let Some(d) = self.within(ms).await {
            panic!(
                "expected no webhook, got {} {}",
                d.path,
                String::from_utf8_lossy(&d.body)
            );
        }
    }
}
