//! Sending: a bounded queue of notifications, one task that finds each one's subscriptions,
//! and at most [`CONCURRENCY`] requests to push services at a time. Each request carries the
//! payload encrypted for that browser (RFC 8291, aes128gcm) and a VAPID token for the
//! endpoint's origin; a push service's 404 or 410 deletes the subscription, a 429 or 5xx (or
//! no answer) is tried again twice, after 1 and 4 seconds or what `Retry-After` asks (up to
//! 30 s); anything else is logged and given up.

use super::subscriptions::{Subscriptions, Target};
use super::vapid::VapidKeys;
use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::outbound::Guard;
use mumu_shared::{DeviceId, UserId};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Notifications waiting for their subscriptions to be looked up; more are refused.
pub const QUEUE_CAPACITY: usize = 256;
/// Requests to push services in flight at once.
pub const CONCURRENCY: usize = 16;
/// Attempts after the first for a 429, a 5xx or no answer.
const RETRIES: u32 = 2;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// An event is news now: push services may wake a phone for it (RFC 8030 §5.3).
const URGENCY: &str = "high";

/// Who of the people that may be notified of a camera are.
#[derive(Clone, Debug)]
pub enum Recipients {
    /// Everyone whose browser asked to be notified of the camera.
    Everyone,
    /// Only these people (those the notification policy chose).
    Only(Vec<UserId>),
}

/// What became of one notification's pushes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Accepted by the push service.
    pub delivered: u32,
    /// Subscriptions the push service said are gone (404/410), now deleted.
    pub removed: u32,
    /// Given up (refused, or failing after the retries).
    pub failed: u32,
}

/// Why a notification was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No VAPID key is configured.
    #[error("push notifications are off: MUMU_VAPID_PRIVATE_KEY is not set")]
    Disabled,
    /// The payload would not fit a push message.
    #[error("the notification is {0} bytes; at most {max} fit in a push message", max = mumu_shared::push::MAX_PAYLOAD_BYTES)]
    TooLarge(usize),
    /// [`QUEUE_CAPACITY`] notifications are waiting already.
    #[error("the push queue is full; the notification was dropped")]
    QueueFull,
    /// The sender's task has ended (the server is stopping).
    #[error("the push sender has stopped")]
    Stopped,
}

/// What one push came to.
enum Outcome {
    Delivered,
    Removed,
    Failed,
}

/// One notification to send.
pub(super) struct Job {
    pub device: DeviceId,
    pub recipients: Recipients,
    pub payload: Arc<Vec<u8>>,
    pub reply: Option<oneshot::Sender<Delivery>>,
}

/// What sending needs.
pub(super) struct Context {
    pub keys: Arc<VapidKeys>,
    pub subscriptions: Subscriptions,
    pub guard: Guard,
    pub client: reqwest::Client,
    pub clock: SharedClock,
    pub ttl_secs: u64,
    pub metrics: Arc<Metrics>,
}

/// The queue's sending end; its task ends when this is dropped.
#[derive(Debug)]
pub(super) struct Sender {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts the task that sends what is queued.
    pub fn spawn(context: Context) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(Arc::new(context), jobs));
        Self { queue }
    }

    /// Queues a job, or says why not.
    pub fn queue(&self, job: Job) -> Result<(), SendError> {
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => SendError::Stopped,
        })
    }
}

async fn run(context: Arc<Context>, mut jobs: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(job) = jobs.recv().await {
        let only = match &job.recipients {
            Recipients::Everyone => None,
            Recipients::Only(users) => Some(users.as_slice()),
        };
        let targets = match context.subscriptions.targets(&job.device, only).await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(device_id = %job.device, error = %e, "finding push subscriptions failed");
                Vec::new()
            }
        };
        let mut pushes = tokio::task::JoinSet::new();
        for target in targets {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let context = context.clone();
            let payload = job.payload.clone();
            pushes.spawn(async move {
                let outcome = context.push(&target, &payload).await;
                drop(slot);
                outcome
            });
        }
        // Counted apart, so the next notification need not wait for this one's retries.
        let metrics = context.metrics.clone();
        tokio::spawn(async move {
            let mut delivery = Delivery::default();
            while let Some(outcome) = pushes.join_next().await {
                match outcome {
                    Ok(Outcome::Delivered) => delivery.delivered += 1,
                    Ok(Outcome::Removed) => delivery.removed += 1,
                    Ok(Outcome::Failed) | Err(_) => delivery.failed += 1,
                }
            }
            metrics
                .push_delivered
                .fetch_add(u64::from(delivery.delivered), Relaxed);
            metrics
                .push_removed
                .fetch_add(u64::from(delivery.removed), Relaxed);
            metrics
                .push_failed
                .fetch_add(u64::from(delivery.failed), Relaxed);
            if let Some(reply) = job.reply {
                let _ = reply.send(delivery);
            }
        });
    }
}

impl Context {
    /// One push to one browser, retried as the module says.
    async fn push(&self, target: &Target, payload: &[u8]) -> Outcome {
        // Checked again: the allowed hosts may have changed since the browser subscribed.
        let url = match self.guard.check_url(&target.endpoint) {
            Ok(url) => url,
            Err(why) => {
                tracing::warn!(subscription = %target.id, %why, "push endpoint refused");
                return Outcome::Failed;
            }
        };
        let auth = web_push_native::Auth::from(target.auth);
        let body = match web_push_native::encrypt(payload.to_vec(), &target.p256dh, &auth) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(subscription = %target.id, error = %e, "encrypting a push failed");
                return Outcome::Failed;
            }
        };
        let mut attempt = 0;
        loop {
            let authorization = match self.keys.authorization(&url, self.clock.now_ms()) {
                Ok(header) => header,
                Err(e) => {
                    tracing::error!(error = %e, "signing a VAPID token failed");
                    return Outcome::Failed;
                }
            };
            let sent = self
                .client
                .post(url.clone())
                .header("TTL", self.ttl_secs)
                .header("Urgency", URGENCY)
                .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::AUTHORIZATION, authorization)
                .body(body.clone())
                .send()
                .await;
            let wait = match sent {
                Ok(response) if response.status().is_success() => return Outcome::Delivered,
                Ok(response) if matches!(response.status().as_u16(), 404 | 410) => {
                    tracing::info!(subscription = %target.id, status = %response.status(), "push subscription gone; deleting it");
                    if let Err(e) = self.subscriptions.forget(&target.id).await {
                        tracing::warn!(subscription = %target.id, error = %e, "deleting a gone subscription failed");
                    }
                    return Outcome::Removed;
                }
                Ok(response)
                    if response.status().as_u16() == 429 || response.status().is_server_error() =>
                {
                    retry_after(&response)
                }
                Ok(response) => {
                    let status = response.status();
                    let said = first_bytes(response).await;
                    tracing::warn!(subscription = %target.id, %status, %said, "push service refused the push");
                    return Outcome::Failed;
                }
                Err(e) => {
                    tracing::info!(subscription = %target.id, error = %e, "push service did not answer");
                    None
                }
            };
            attempt += 1;
            if attempt > RETRIES {
                tracing::warn!(subscription = %target.id, "push given up after {RETRIES} retries");
                return Outcome::Failed;
            }
            let backoff = Duration::from_secs(if attempt == 1 { 1 } else { 4 });
            tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_RETRY_AFTER)).await;
        }
    }
}

/// A `Retry-After` in seconds (push services do not send dates).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
        .map(Duration::from_secs)
}

/// The start of a refusal's body, for the log: a push service says there why (a wrong VAPID
/// key, a payload too large); the rest is not read.
async fn first_bytes(mut response: reqwest::Response) -> String {
    match response.chunk().await {
        Ok(Some(chunk)) => String::from_utf8_lossy(&chunk[..chunk.len().min(300)]).into_owned(),
        _ => String::new(),
    }
}
