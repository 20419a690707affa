//! Posting notifications to webhooks, off the request path: [`WebhookSender::deliver`] only
//! queues (a bounded queue; a full one drops with a warning), one task reads the recipients'
//! webhooks and starts a delivery per webhook, at most `MUMU_WEBHOOK_CONCURRENCY` at once, so a
//! slow receiver holds one place and never another account's delivery. Each attempt has a
//! deadline; a timeout, a refused connection, a 5xx or a 429 is retried with a doubling delay,
//! up to `MUMU_WEBHOOK_ATTEMPTS`; a private address is refused and never retried.

use super::address::{AddressError, check_url};
use super::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use crate::clock::SharedClock;
use crate::config::EventSettings;
use crate::db::Db;
use crate::notify::{Deliver, EventNotification};
use crate::outbound::{Guard, refusal_of};
use mumu_shared::UserId;
use mumu_shared::api::WebhookEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// Notifications waiting for the dispatcher.
pub const QUEUE: usize = 1024;

/// What became of deliveries, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Answered 2xx.
    pub delivered: AtomicU64,
    /// Given up: attempts spent, or an answer that retrying cannot change.
    pub failed: AtomicU64,
    /// Refused: the host is, or resolved to, an address webhooks may not reach.
    pub refused: AtomicU64,
    /// Dropped: the queue was full.
    pub dropped: AtomicU64,
}

impl WebhookStats {
    /// The figures in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP mumu_webhook_deliveries_total Webhook deliveries, by what became of them.\n\
             # TYPE mumu_webhook_deliveries_total counter\n",
        );
        for (result, count) in [
            ("delivered", &self.delivered),
            ("failed", &self.failed),
            ("refused", &self.refused),
            ("dropped", &self.dropped),
        ] {
            out.push_str(&format!(
                "mumu_webhook_deliveries_total{{result=\"{result}\"}} {}\n",
                count.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

struct Job {
    notification: Arc<EventNotification>,
    users: Vec<UserId>,
}

/// One webhook to post to.
struct Target {
    user: String,
    url: String,
    secret: String,
}

/// How deliveries are made.
#[derive(Clone, Debug)]
struct Policy {
    attempts: u32,
    first_retry: Duration,
    guard: Guard,
}

/// Delivers notifications to the recipients' webhooks.
#[derive(Debug)]
pub struct WebhookSender {
    jobs: mpsc::Sender<Job>,
    stats: Arc<WebhookStats>,
}

impl WebhookSender {
    /// Starts the dispatcher on the current runtime.
    pub fn spawn(db: Db, clock: SharedClock, settings: &EventSettings) -> anyhow::Result<Self> {
        let guard = Guard::new(&settings.webhook_allowed_hosts);
        let timeout = Duration::from_millis(settings.webhook_timeout_ms);
        let client = guard
            .client_builder(timeout)
            .user_agent(concat!("mumu-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let policy = Policy {
            attempts: settings.webhook_attempts.max(1),
            first_retry: Duration::from_millis(settings.webhook_retry_ms),
            guard,
        };
        let stats = Arc::new(WebhookStats::default());
        let (jobs, queue) = mpsc::channel(QUEUE);
        let places = Arc::new(Semaphore::new(settings.webhook_concurrency.max(1) as usize));
        tokio::spawn(dispatch(
            queue,
            db,
            clock,
            client,
            policy,
            places,
            stats.clone(),
        ));
        Ok(Self { jobs, stats })
    }

    /// What became of deliveries so far.
    pub fn stats(&self) -> &WebhookStats {
        &self.stats
    }
}

impl Deliver for WebhookSender {
    fn deliver(&self, notification: &Arc<EventNotification>, users: &[UserId]) {
        let job = Job {
            notification: notification.clone(),
            users: users.to_vec(),
        };
        if self.jobs.try_send(job).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(device_id = %notification.device_id, "webhook queue full: a notification was dropped");
        }
    }
}

async fn dispatch(
    mut queue: mpsc::Receiver<Job>,
    db: Db,
    clock: SharedClock,
    client: reqwest::Client,
    policy: Policy,
    places: Arc<Semaphore>,
    stats: Arc<WebhookStats>,
) {
    while let Some(job) = queue.recv().await {
        let targets = match targets(&db, &job.users).await {
            Ok(targets) => targets,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the recipients' webhooks");
                continue;
            }
        };
        if targets.is_empty() {
            continue;
        }
        let n = &job.notification;
        let body = WebhookEvent {
            kind: "motion".into(),
            camera_id: n.device_id.clone(),
            camera_name: n.device_name.clone(),
            start: n.start,
            end: n.end,
            zones: n.zones.clone(),
            peak_score: n.peak_score,
        };
        let body: Arc<[u8]> = match serde_json::to_vec(&body) {
            Ok(bytes) => bytes.into(),
            Err(e) => {
                tracing::error!(error = %e, "could not encode a webhook body");
                continue;
            }
        };
        for target in targets {
            let Ok(place) = places.clone().acquire_owned().await else {
                return;
            };
            let (client, policy, stats, body) =
                (client.clone(), policy.clone(), stats.clone(), body.clone());
            let timestamp = clock.now_ms().div_euclid(1000);
            tokio::spawn(async move {
                let outcome = post(&client, &policy, &target, &body, timestamp).await;
                let counter = match outcome {
                    Outcome::Delivered => &stats.delivered,
                    Outcome::Failed => &stats.failed,
                    Outcome::Refused => &stats.refused,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                drop(place);
            });
        }
    }
}

/// The webhooks of `users` (those who set one).
async fn targets(db: &Db, users: &[UserId]) -> crate::error::Result<Vec<Target>> {
    if users.is_empty() {
        return Ok(vec![]);
    }
    let placeholders: Vec<String> = (1..=users.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT user_id, url, secret FROM webhooks WHERE user_id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql));
    for user in users {
        query = query.bind(user.as_str());
    }
    Ok(query
        .fetch_all(&db.pool)
        .await?
        .into_iter()
        .map(|(user, url, secret)| Target { user, url, secret })
        .collect())
}

enum Outcome {
    Delivered,
    Failed,
    Refused,
}

/// Posts `body` to one webhook, with retries.
async fn post(
    client: &reqwest::Client,
    policy: &Policy,
    target: &Target,
    body: &Arc<[u8]>,
    timestamp: i64,
) -> Outcome {
    // Checked again: the operator's list may have changed since the URL was set.
    let url = match check_url(&target.url, &policy.guard) {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(user_id = %target.user, error = %e, "webhook refused");
            return Outcome::Refused;
        }
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    let sig = signature(&target.secret, timestamp, body);
    let mut delay = policy.first_retry;
    for attempt in 1..=policy.attempts {
        let sent = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, &sig)
            .header("x-mumu-event", "motion")
            .body(body.to_vec())
            .send()
            .await;
        let retry = match sent {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(user_id = %target.user, %host, attempt, "webhook delivered");
                return Outcome::Delivered;
            }
            Ok(response) => {
                let status = response.status();
                let retry = status.is_server_error() || status.as_u16() == 429;
                tracing::warn!(user_id = %target.user, %host, attempt, %status, retry, "webhook answered with an error");
                retry
            }
            Err(e) => {
                if let Some(refusal) = address_error(&e) {
                    tracing::warn!(user_id = %target.user, %host, error = %refusal, "webhook refused at delivery");
                    return Outcome::Refused;
                }
                tracing::warn!(user_id = %target.user, %host, attempt, timeout = e.is_timeout(), error = %e, "webhook delivery failed");
                true
            }
        };
        if !retry || attempt == policy.attempts {
            break;
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2);
    }
    Outcome::Failed
}

/// The address refusal behind a failed request, if that is why it failed (the resolver said
/// so, deep in the connection's error chain).
fn address_error(e: &reqwest::Error) -> Option<AddressError> {
    refusal_of(e).map(AddressError::from)
}
