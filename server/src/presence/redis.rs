//! Redis presence: `{prefix}:online:{device}` holds the socket that owns the device and
//! `{prefix}:status:{device}` its last report, both expiring unless refreshed by heartbeats,
//! so a server that dies takes its devices offline with it. Ownership checks run as Lua
//! scripts, so a late disconnect never erases a newer connection. The bus is one pub/sub
//! channel, `{prefix}:notices`, whose messages every server relays into a local broadcast.

use super::{BUS_CAPACITY, Notice};
use crate::error::Result;
use crate::rate_limit::BucketStore;
use crate::signaling::route::{Letter, ROUTES_CAPACITY, ServerId};
use anyhow::Context;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::Expiration;
use mumu_shared::DeviceId;
use mumu_shared::api::DeviceStatus;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// The channel on which server `server` hears what other servers route to it.
fn mailbox(prefix: &str, server: &str) -> String {
    format!("{prefix}:to:{server}")
}

/// Refreshes both keys if ARGV[1] owns the device (1); claims the device again if nobody
/// does (2: Redis lost the entry, restarted or cut off long enough for the entry to lapse, while
/// the socket stayed); leaves a newer socket's claim alone (0). ARGV[2] is the TTL in ms.
const REFRESH: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
if not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0";

/// Stores the status (ARGV[3]) if ARGV[1] owns the device.
const SET_STATUS: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return 1
end
return 0";

/// Deletes both keys unless another socket owns the device now. An entry that already expired
/// (the socket fell silent as long as the TTL) still counts as this socket's going offline.
const SET_OFFLINE: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0";

/// How long the word that a server was taken for dead waits for it to come back.
const REAPED_WORD_SECS: i64 = 24 * 3600;

/// The longest a Redis command (or a connection attempt) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Deletes ARGV[1]'s claim on a device whose socket sat on a server that died (KEYS[1] the
/// device's entry, KEYS[2] its status), unless another socket holds it now.
const REAP: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0";

pub struct RedisPresence {
    client: Client,
    prefix: String,
    ttl_ms: i64,
    bus: broadcast::Sender<Notice>,
    /// Letters routed to this server, until the router takes them.
    letters: std::sync::Mutex<Option<mpsc::Receiver<Letter>>>,
    // Kept so the subscription lives as long as the presence.
    _subscriber: SubscriberClient,
}

impl RedisPresence {
    pub async fn connect(
        url: &str,
        prefix: &str,
        ttl: Duration,
        server_id: &str,
    ) -> anyhow::Result<Self> {
        let config = Config::from_url(url)
            .with_context(|| format!("REDIS_URL {url:?} is not a Redis URL"))?;
        // A Redis that stops answering must cost a request seconds, not forever: commands time
        // out, a silent connection is closed, and the client reconnects on its own, for good.
        let builder = {
            let mut b = Builder::from_config(config);
            b.with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.unresponsive.max_timeout = Some(COMMAND_TIMEOUT * 2);
                c.unresponsive.interval = Duration::from_millis(500);
            })
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
            b
        };
        let client = builder.build().context("configuring the Redis client")?;
        client
            .init()
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;
        let subscriber = builder
            .build_subscriber_client()
            .context("configuring the Redis subscriber")?;
        subscriber
            .init()
            .await
            .with_context(|| format!("connecting to Redis at {url}"))?;

        let channel = format!("{prefix}:notices");
        let mailbox = mailbox(prefix, server_id);
        let bus = broadcast::channel(BUS_CAPACITY).0;
        let (letters_tx, letters) = mpsc::channel(ROUTES_CAPACITY);
        let mut messages = subscriber.message_rx();
        let relay = bus.clone();
        let routed_here = mailbox.clone();
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        let Ok(text) = message.value.convert::<String>() else {
                            continue;
                        };
                        if *message.channel == *routed_here {
                            match serde_json::from_str::<Letter>(&text) {
                                Ok(letter) => {
                                    if letters_tx.try_send(letter).is_err() {
                                        tracing::error!("routed messages fell behind; one is lost");
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "ignored an unreadable routed message")
                                }
                            }
                            continue;
                        }
                        match serde_json::from_str::<Notice>(&text) {
                            Ok(notice) => {
                                let _ = relay.send(notice);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "ignored an unreadable notice from Redis")
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "fell behind the Redis notice channel");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        subscriber
            .subscribe(vec![channel, mailbox])
            .await
            .context("subscribing to the Redis notice channel")?;
        subscriber.manage_subscriptions();

        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            ttl_ms: ttl.as_millis() as i64,
            bus,
            letters: std::sync::Mutex::new(Some(letters)),
            _subscriber: subscriber,
        })
    }

    fn keys(&self, device: &DeviceId) -> Vec<String> {
        vec![
            format!("{}:online:{device}", self.prefix),
            format!("{}:status:{device}", self.prefix),
        ]
    }

    pub async fn set_online(&self, device: &DeviceId, conn: &str) -> Result<()> {
        let keys = self.keys(device);
        let _: () = self.client.del(keys[1].clone()).await?;
        let _: () = self
            .client
            .set(
                keys[0].clone(),
                conn,
                Some(Expiration::PX(self.ttl_ms)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    pub async fn refresh(&self, device: &DeviceId, conn: &str) -> Result<bool> {
        let outcome: i64 = self
            .client
            .eval(
                REFRESH,
                self.keys(device),
                vec![conn.to_owned(), self.ttl_ms.to_string()],
            )
            .await?;
        Ok(outcome == 2)
    }

    pub async fn set_status(
        &self,
        device: &DeviceId,
        conn: &str,
        status: &DeviceStatus,
    ) -> Result<()> {
        let json = serde_json::to_string(status).map_err(anyhow::Error::from)?;
        let args = vec![conn.to_owned(), self.ttl_ms.to_string(), json];
        let _: i64 = self
            .client
            .eval(SET_STATUS, self.keys(device), args)
            .await?;
        Ok(())
    }

    pub async fn set_offline(&self, device: &DeviceId, conn: &str) -> Result<bool> {
        let removed: i64 = self
            .client
            .eval(SET_OFFLINE, self.keys(device), vec![conn.to_owned()])
            .await?;
        Ok(removed == 1)
    }

    pub async fn lookup(
        &self,
        devices: &[DeviceId],
    ) -> Result<HashMap<DeviceId, Option<DeviceStatus>>> {
        let keys: Vec<String> = devices.iter().flat_map(|d| self.keys(d)).collect();
        let values: Vec<Option<String>> = self.client.mget(keys).await?;
        Ok(devices
            .iter()
            .zip(values.chunks(2))
            .filter(|(_, pair)| pair[0].is_some())
            .map(|(d, pair)| {
                (
                    d.clone(),
                    pair[1]
                        .as_deref()
                        .and_then(|s| serde_json::from_str(s).ok()),
                )
            })
            .collect())
    }

    pub async fn publish(&self, notice: Notice) -> Result<()> {
        let json = serde_json::to_string(&notice).map_err(anyhow::Error::from)?;
        let _: i64 = self
            .client
            .publish(format!("{}:notices", self.prefix), json)
            .await?;
        Ok(())
    }

    /// Buckets for rate limits, shared through this connection.
    pub fn bucket_store(&self) -> BucketStore {
        BucketStore::Redis {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// Letters routed to this server (once: the router takes them).
    pub fn take_letters(&self) -> Option<mpsc::Receiver<Letter>> {
        self.letters.lock().ok()?.take()
    }

    /// Sends a letter to server `to` alone.
    pub async fn send_letter(&self, to: &str, letter: &Letter) -> Result<()> {
        let json = serde_json::to_string(letter).map_err(anyhow::Error::from)?;
        let _: i64 = self.client.publish(mailbox(&self.prefix, to), json).await?;
        Ok(())
    }

    /// The server whose socket holds `device`, if one does.
    pub async fn holder(&self, device: &DeviceId) -> Result<Option<ServerId>> {
        let owner: Option<String> = self.client.get(self.keys(device).swap_remove(0)).await?;
        Ok(owner.and_then(|o| o.split_once('/').map(|(server, _)| server.to_owned())))
    }

    fn server_key(&self, server: &str) -> String {
        format!("{}:server:{server}", self.prefix)
    }

    fn servers_key(&self) -> String {
        format!("{}:servers", self.prefix)
    }

    /// Says this server is alive for `ttl`, and that it is one of the deployment's.
    pub async fn beat(&self, server: &str, ttl: Duration) -> Result<()> {
        let expiry = Some(Expiration::PX(ttl.as_millis() as i64));
        let _: () = self
            .client
            .set(self.server_key(server), "alive", expiry, None, false)
            .await?;
        let _: i64 = self.client.sadd(self.servers_key(), server).await?;
        Ok(())
    }

    /// Forgets this server (it is stopping): nobody waits for it to be declared dead.
    pub async fn forget(&self, server: &str) -> Result<()> {
        let _: i64 = self.client.del(self.server_key(server)).await?;
        let _: i64 = self.client.srem(self.servers_key(), server).await?;
        Ok(())
    }

    /// Every server of the deployment that said it was alive once and was not forgotten.
    pub async fn known_servers(&self) -> Result<Vec<ServerId>> {
        Ok(self.client.smembers(self.servers_key()).await?)
    }

    /// Whether `server` said it was alive within its last beat's lifetime.
    pub async fn is_alive(&self, server: &str) -> Result<bool> {
        let alive: i64 = self.client.exists(self.server_key(server)).await?;
        Ok(alive > 0)
    }

    /// Takes the devices a dead server held offline (those no other socket holds now);
    /// returns them, and forgets the server. Several servers may reap the same one at once:
    /// each device goes offline for exactly one of them.
    pub async fn reap(&self, server: &str) -> Result<Vec<DeviceId>> {
        let pattern = format!("{}:online:*", self.prefix);
        let claim = format!("{server}/");
        let mut reaped = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let (next, keys): (String, Vec<String>) = self
                .client
                .scan_page(cursor.clone(), pattern.clone(), Some(500), None)
                .await?;
            for key in keys {
                let owner: Option<String> = self.client.get(&key).await?;
                let Some(owner) = owner.filter(|o| o.starts_with(&claim)) else {
                    continue;
                };
                let device = DeviceId::from(&key[pattern.len() - 1..]);
                let took: i64 = self
                    .client
                    .eval(REAP, self.keys(&device), vec![owner])
                    .await?;
                if took == 1 {
                    reaped.push(device);
                }
            }
            if next == "0" {
                break;
            }
            cursor = next;
        }
        let _: i64 = self.client.srem(self.servers_key(), server).await?;
        // Word for the server itself, should it only have been cut off and come back.
        let expiry = Some(Expiration::EX(REAPED_WORD_SECS));
        let _: () = (self.client)
            .set(self.reaped_key(server), "1", expiry, None, false)
            .await?;
        Ok(reaped)
    }

    fn reaped_key(&self, server: &str) -> String {
        format!("{}:reaped:{server}", self.prefix)
    }

    /// Whether other servers took `server` for dead (and reaped it) since it last asked.
    pub async fn was_reaped(&self, server: &str) -> Result<bool> {
        let taken: i64 = self.client.del(self.reaped_key(server)).await?;
        Ok(taken > 0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.bus.subscribe()
    }

    pub async fn ping(&self) -> Result<()> {
        let _: String = self.client.ping(None).await?;
        Ok(())
    }
}
