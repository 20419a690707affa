//! Web Push notifications (RFC 8030, with VAPID, RFC 8292, and encrypted payloads, RFC 8291):
//! the deployment's keys ([`vapid`]), the browsers' subscriptions and the cameras each wants to
//! hear of ([`subscriptions`]), and the sender ([`sender`]). What is pushed is a camera's name
//! and an event's time, never a picture, encrypted for the browser: the push service carries
//! it without reading it. *When* to notify is decided elsewhere; this module is told to.

pub mod sender;
pub mod subscriptions;
pub mod vapid;

use crate::clock::SharedClock;
use crate::config::PushSettings;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::notify::{Deliver, EventNotification};
use crate::outbound::Guard;
use mumu_shared::push::{
    MAX_PAYLOAD_BYTES, NotifyMe, PushKey, PushNotification, PushSubscription,
    PushSubscriptionRequest,
};
use mumu_shared::{DeviceId, ErrorCode, UserId};
use sender::{Delivery, Job, Recipients, SendError, Sender};
use std::sync::Arc;
use std::time::Duration;
use subscriptions::{Subscribed, Subscriptions};
use vapid::VapidKeys;

/// The push service of one server.
#[derive(Debug)]
pub struct Push {
    subscriptions: Subscriptions,
    keys: Option<Arc<VapidKeys>>,
    sender: Option<Sender>,
    metrics: Arc<Metrics>,
}

fn disabled() -> Error {
    Error::client(
        ErrorCode::PushDisabled,
        "push notifications are off on this server: its operator has not set \
         MUMU_VAPID_PRIVATE_KEY (see docs/events.md, \"Push notifications\")",
    )
}

impl Push {
    /// The service; with a VAPID key, its sender is started (within a tokio runtime). A key or
    /// subject that is set but wrong is an error: the server should not start half-configured.
    pub fn new(
        db: Db,
        clock: SharedClock,
        settings: &PushSettings,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let guard = Guard::new(&settings.push_allowed_hosts);
        let subscriptions = Subscriptions::new(db, clock.clone(), guard.clone());
        let keys = VapidKeys::from_settings(settings)?.map(Arc::new);
        let sender = match &keys {
            Some(keys) => Some(Sender::spawn(sender::Context {
                keys: keys.clone(),
                subscriptions: subscriptions.clone(),
                client: guard.client(Duration::from_secs(settings.push_timeout_secs))?,
                guard,
                clock,
                ttl_secs: settings.push_ttl_secs,
                metrics: metrics.clone(),
            })),
            None => {
                tracing::info!("push notifications are off: MUMU_VAPID_PRIVATE_KEY is not set");
                None
            }
        };
        Ok(Self {
            subscriptions,
            keys,
            sender,
            metrics,
        })
    }

    /// Whether push is configured.
    pub fn enabled(&self) -> bool {
        self.keys.is_some()
    }

    /// The deployment's public key, for the browser's `pushManager.subscribe`.
    pub fn public_key(&self) -> Result<PushKey> {
        let keys = self.keys.as_ref().ok_or_else(disabled)?;
        Ok(PushKey {
            public_key: keys.public_key().to_owned(),
        })
    }

    /// Records a browser's subscription for a login (see [`Subscriptions::subscribe`]).
    pub async fn subscribe(
        &self,
        user: &UserId,
        session: &str,
        req: &PushSubscriptionRequest,
    ) -> Result<Subscribed> {
        if !self.enabled() {
            return Err(disabled());
        }
        self.subscriptions.subscribe(user, session, req).await
    }

    /// A login's subscriptions.
    pub async fn subscriptions(&self, session: &str) -> Result<Vec<PushSubscription>> {
        self.subscriptions.of_login(session).await
    }

    /// Deletes one of a login's subscriptions (push on or off: a browser may always leave).
    pub async fn unsubscribe(&self, session: &str, id: &str) -> Result<()> {
        self.subscriptions.unsubscribe(session, id).await
    }

    /// "Notify me" for a camera, on or off, for a login's browser.
    pub async fn set_notify(
        &self,
        user: &UserId,
        session: &str,
        device: &DeviceId,
        on: bool,
    ) -> Result<NotifyMe> {
        if on && !self.enabled() {
            return Err(disabled());
        }
        let subscriptions = self
            .subscriptions
            .set_notify(user, session, device, on)
            .await?;
        Ok(NotifyMe {
            device_id: device.clone(),
            notify: on,
            subscriptions,
        })
    }

    /// Queues a notification of an event on `device` to the browsers of `recipients` that asked
    /// for the camera: returns at once. The error says why it was not queued (push off, too
    /// large, the queue full).
    pub fn notify(
        &self,
        device: &DeviceId,
        recipients: Recipients,
        notification: &PushNotification,
    ) -> Result<(), SendError> {
        self.queue(device, recipients, notification, None)
    }

    /// The same, waiting until every push is done: what became of them.
    pub async fn deliver(
        &self,
        device: &DeviceId,
        recipients: Recipients,
        notification: &PushNotification,
    ) -> Result<Delivery, SendError> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.queue(device, recipients, notification, Some(reply))?;
        done.await.map_err(|_| SendError::Stopped)
    }

    fn queue(
        &self,
        device: &DeviceId,
        recipients: Recipients,
        notification: &PushNotification,
        reply: Option<tokio::sync::oneshot::Sender<Delivery>>,
    ) -> Result<(), SendError> {
        let sender = self.sender.as_ref().ok_or(SendError::Disabled)?;
        let payload = serde_json::to_vec(notification).expect("a notification is plain JSON");
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SendError::TooLarge(payload.len()));
        }
        let queued = sender.queue(Job {
            device: device.clone(),
            recipients,
            payload: Arc::new(payload),
            reply,
        });
        if let Err(SendError::QueueFull) = &queued {
            self.metrics
                .push_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(device_id = %device, "push queue full: a notification was dropped");
        }
        queued
    }
}

/// Web Push is one of the ways the notifications service tells people of an event: to the
/// browsers of the people the policy chose that asked for the camera.
impl Deliver for Push {
    fn deliver(&self, event: &Arc<EventNotification>, users: &[UserId]) {
        if !self.enabled() || users.is_empty() {
            return;
        }
        let notification = PushNotification::event(
            event.device_id.clone(),
            event.device_name.clone(),
            event.start,
        );
        if let Err(e) = self.notify(
            &event.device_id,
            Recipients::Only(users.to_vec()),
            &notification,
        ) {
            tracing::warn!(device_id = %event.device_id, error = %e, "an event's push was not queued");
        }
    }
}
