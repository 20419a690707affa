//! The application state: every service, built once from one [`Config`], shared by the HTTP
//! handlers and the socket tasks.

use crate::auth::Auth;
use crate::auth::token::TokenKeys;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::db::Db;
use crate::devices::Devices;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::notify::Notify;
use crate::notify::webhook::Webhooks;
use crate::notify::webhook::sender::WebhookSender;
use crate::presence::Presence;
use crate::push::Push;
use crate::secrets::configured_or_generated;
use crate::signaling::hub::{Hub, RECORDS_CAPACITY};
use crate::signaling::route::{Post, ROUTES_CAPACITY};
use crate::signaling::router::Router;
use crate::signaling::sessions::Sessions;
use crate::turn::Turn;
use anyhow::Context;
use std::sync::Arc;

/// Every service of one server.
#[derive(Debug)]
pub struct AppState {
    /// The configuration it was built from.
    pub config: Config,
    /// The clock.
    pub clock: SharedClock,
    /// The database.
    pub db: Db,
    /// Accounts.
    pub auth: Auth,
    /// Devices and pairing.
    pub devices: Devices,
    /// Presence and the notice bus.
    pub presence: Arc<Presence>,
    /// Routing between sockets.
    pub hub: Arc<Hub>,
    /// Watch sessions, as recorded.
    pub sessions: Sessions,
    /// TURN credentials.
    pub turn: Turn,
    /// Motion events, as cameras report them.
    pub events: Events,
    /// Who is told of an event, and telling them.
    pub notify: Notify,
    /// The accounts' webhooks.
    pub webhooks: Webhooks,
    /// Posts notifications to webhooks (its figures are read by `/metrics` and tests).
    pub webhook_sender: Arc<WebhookSender>,
    /// Web Push notifications.
    pub push: Arc<Push>,
    /// Figures for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// This server's id (distinguishes its sockets from other servers' in Redis).
    pub server_id: String,
    /// What the hub routes to other servers, until the router takes it.
    routes: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<Post>>>,
}

/// With Redis, several servers may sit behind one address, and every one of them must sign and
/// check the same tokens and TURN credentials: a secret generated into one server's data
/// directory would log people out (and fail every relay) whenever another server answered.
/// So both are required then, with a message that says why.
fn shared_secrets_are_set(config: &Config) -> anyhow::Result<()> {
    let with_redis = config
        .storage
        .redis_url
        .as_deref()
        .is_some_and(|u| !u.is_empty());
    let set = |secret: &Option<crate::secrets::Secret>| {
        secret.as_ref().is_some_and(|s| !s.expose().is_empty())
    };
    let missing: Vec<&str> = [
        ("JWT_SECRET", set(&config.auth.jwt_secret)),
        ("TURN_SECRET", set(&config.turn.turn_secret)),
    ]
    .into_iter()
    .filter_map(|(name, is_set)| (!is_set).then_some(name))
    .collect();
    if with_redis && !missing.is_empty() {
        anyhow::bail!(
            "REDIS_URL is set, so several servers may share this deployment, and all of them must \
             sign and check the same tokens and TURN credentials: set {} explicitly (the same \
             value on every server; `openssl rand -hex 32` makes one). A secret generated into \
             one server's data directory would not be known to the others.",
            missing.join(" and ")
        );
    }
    Ok(())
}

/// The state as handlers hold it.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Connects to the database (applying migrations) and presence, and builds every service.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<SharedState> {
        std::fs::create_dir_all(&config.storage.data_dir).with_context(|| {
            format!(
                "creating the data directory {}",
                config.storage.data_dir.display()
            )
        })?;
        shared_secrets_are_set(&config)?;
        let jwt_secret = configured_or_generated(
            config.auth.jwt_secret.clone(),
            &config.storage.data_dir,
            "jwt_secret",
            "JWT_SECRET",
        )?;
        let turn_secret = configured_or_generated(
            config.turn.turn_secret.clone(),
            &config.storage.data_dir,
            "turn_secret",
            "TURN_SECRET",
        )?;

        let db = Db::connect(
            &config.storage.database_url(),
            config.storage.db_max_connections,
        )
        .await?;
        db.migrate().await?;

        let server_id = uuid::Uuid::new_v4().to_string();
        let presence = Arc::new(
            match config
                .storage
                .redis_url
                .as_deref()
                .filter(|u| !u.is_empty())
            {
                Some(url) => {
                    Presence::redis(
                        url,
                        &config.storage.redis_prefix,
                        config.signaling.heartbeat() * 4,
                        &server_id,
                    )
                    .await?
                }
                None => Presence::local(),
            },
        );
        let metrics = Arc::new(Metrics::default());
        let auth = Auth::new(
            db.clone(),
            clock.clone(),
            presence.clone(),
            TokenKeys::new(&jwt_secret),
            &config.auth,
        );
        let devices = Devices::new(db.clone(), clock.clone(), presence.clone(), &config.devices);
        // The hub reports every session's start and end; the session record writes them.
        let (records_tx, records) = tokio::sync::mpsc::channel(RECORDS_CAPACITY);
        let sessions = Sessions::new(
            db.clone(),
            config.signaling.watches_per_min,
            &presence.bucket_store(),
        );
        sessions.record(records);
        let turn = Turn::new(turn_secret, &config.turn);
        let events = Events::new(
            db.clone(),
            clock.clone(),
            &config.events,
            &presence.bucket_store(),
        );
        let webhook_sender = Arc::new(
            WebhookSender::spawn(db.clone(), clock.clone(), &config.events)
                .context("starting the webhook sender")?,
        );
        let webhooks = Webhooks::new(
            db.clone(),
            clock.clone(),
            crate::outbound::Guard::new(&config.events.webhook_allowed_hosts),
        );
        let push = Arc::new(Push::new(
            db.clone(),
            clock.clone(),
            &config.push,
            metrics.clone(),
        )?);
        // Every way of telling people.
        let notify = Notify::new(
            db.clone(),
            clock.clone(),
            vec![webhook_sender.clone(), push.clone()],
        );
        // What this server's hub tells other servers; carried by the router (with Redis).
        let (routes_tx, routes) = tokio::sync::mpsc::channel(ROUTES_CAPACITY);
        Ok(Arc::new(Self {
            hub: Arc::new(Hub::new(metrics.clone(), records_tx, routes_tx)),
            routes: std::sync::Mutex::new(Some(routes)),
            sessions,
            server_id,
            config,
            clock,
            db,
            auth,
            devices,
            presence,
            turn,
            events,
            notify,
            webhooks,
            webhook_sender,
            push,
            metrics,
        }))
    }

    /// The router of what the hub routes to other servers, when presence is shared (once: it
    /// takes the hub's routes).
    pub fn router(&self) -> Option<Router> {
        self.presence.shared()?;
        let routes = self.routes.lock().ok()?.take()?;
        Some(Router {
            hub: self.hub.clone(),
            presence: self.presence.clone(),
            clock: self.clock.clone(),
            server_id: self.server_id.clone(),
            routes,
        })
    }

    /// Delivers notices from the bus to this server's sockets, until the bus closes.
    pub fn spawn_notice_pump(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        let mut notices = state.presence.subscribe();
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(notice) => {
                        state.hub.deliver(&notice, state.clock.now_ms());
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "notice pump fell behind");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }
}
