//! Notifications of motion events: who is told ([`policy`], one pure decision), what people and
//! admins set ([`settings`]: arming, quiet hours, a camera's cooldown), and how they are told:
//! every [`Deliver`] the server was built with (the webhooks of [`webhook`]; Web Push plugs in
//! the same way). The server that holds the camera's socket, and stored the event's first
//! message, is the one that calls [`Notify::new_event`]: one notification per event, whatever
//! the number of servers.

pub mod policy;
pub mod settings;
pub mod webhook;

use crate::clock::SharedClock;
use crate::db::Db;
use crate::error::Result;
use mumu_shared::{DeviceId, UnixMillis, UserId};
use policy::{Decision, Silence};
use std::sync::Arc;

/// What a notification says: the camera and the event, never a picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNotification {
    /// The camera.
    pub device_id: DeviceId,
    /// Its name.
    pub device_name: String,
    /// When the motion began (the event's identity on its camera).
    pub start: UnixMillis,
    /// When it ended; `None` while under way (notifications go as an event starts).
    pub end: Option<UnixMillis>,
    /// Its zones, by name.
    pub zones: Vec<String>,
    /// Its peak score so far.
    pub peak_score: u16,
}

/// A way of telling people (webhooks, Web Push): "deliver this event notification to these
/// users". Called on the notifying server's task: it must not wait on the network; it queues
/// (bounded) and delivers on its own tasks.
pub trait Deliver: Send + Sync + std::fmt::Debug + 'static {
    /// Delivers `notification` to each of `users` this way, if they set it up.
    fn deliver(&self, notification: &Arc<EventNotification>, users: &[UserId]);
}

/// The notifications service: decides, then hands the notification to every [`Deliver`].
#[derive(Debug)]
pub struct Notify {
    db: Db,
    clock: SharedClock,
    deliverers: Vec<Arc<dyn Deliver>>,
}

impl Notify {
    /// The service, telling people through `deliverers`.
    pub fn new(db: Db, clock: SharedClock, deliverers: Vec<Arc<dyn Deliver>>) -> Self {
        Self {
            db,
            clock,
            deliverers,
        }
    }

    /// A camera's event was just stored for the first time: tells whoever the policy says, and
    /// starts the camera's cooldown. Returns the decision (for logs and tests).
    pub async fn new_event(&self, notification: EventNotification) -> Result<Decision> {
        let now = self.clock.now_ms();
        let context = settings::context(&self.db, &notification.device_id).await?;
        let decision = policy::decide(
            now,
            notification.start,
            context.arming,
            context.camera,
            &context.people,
        );
        let Decision::Notify(users) = &decision else {
            tracing::debug!(device_id = %notification.device_id, start = notification.start, ?decision, "event: nobody notified");
            return Ok(decision);
        };
        // The cooldown is claimed in the row, so two events racing notify once.
        if !settings::claim_cooldown(&self.db, &notification.device_id, now).await? {
            return Ok(Decision::Silent(Silence::Cooldown {
                until: now + context.camera.cooldown_ms,
            }));
        }
        tracing::info!(device_id = %notification.device_id, start = notification.start, users = users.len(), "event: notifying");
        let notification = Arc::new(notification);
        for deliverer in &self.deliverers {
            deliverer.deliver(&notification, users);
        }
        Ok(decision)
    }
}
