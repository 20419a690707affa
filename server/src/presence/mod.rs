//! Presence and the notice bus, behind one boundary with two implementations: in-process (one
//! server, the default) and Redis (several servers behind one address).
//!
//! Presence answers "which devices are connected, and what did they last report". The bus
//! carries [`Notice`]s that every server delivers to the sockets it holds: a device came online,
//! was paired, renamed or removed. A session between a viewer on one server and a device on
//! another is routed server to server (`signaling::route`), each on its own Redis channel.

mod local;
pub mod redis;

use crate::error::Result;
use crate::rate_limit::BucketStore;
use crate::signaling::route::ServerId;
use mumu_shared::api::DeviceStatus;
use mumu_shared::signaling::{DevicePresence, Grants, Paired};
use mumu_shared::{DeviceId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast;

/// Something every server should tell the sockets it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "to")]
pub enum Notice {
    /// For the viewer sockets of these users.
    Viewers {
        /// Who is told.
        users: Vec<UserId>,
        /// What.
        news: ViewerNews,
    },
    /// For one device's socket.
    Device {
        /// Which device.
        device_id: DeviceId,
        /// What.
        news: DeviceNews,
    },
}

/// News for viewers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerNews {
    /// A device's presence, name or status changed (or it is newly theirs).
    Presence(DevicePresence),
    /// A device is gone from their list.
    Removed(DeviceId),
    /// Logins ended: the sockets they opened are closed.
    LoggedOut(Logins),
    /// What their sessions on a device may do beyond live video changed (the owner edited
    /// their share): the device hears it for each session they hold on it.
    Grants {
        /// Which device.
        device_id: DeviceId,
        /// What they may do from now on.
        grants: Grants,
    },
}

/// Which of a user's logins (auth session ids) a notice is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Logins {
    /// This one.
    One(String),
    /// All but this one (a password change keeps the browser that made it).
    AllBut(String),
    /// Every one.
    All,
}

impl Logins {
    /// Whether `login` is among them.
    pub fn covers(&self, login: &str) -> bool {
        match self {
            Self::One(one) => one == login,
            Self::AllBut(kept) => kept != login,
            Self::All => true,
        }
    }
}

/// News for a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceNews {
    /// A user claimed it.
    Paired(Paired),
    /// Who may watch it changed (shared, unshared, renamed): reload.
    AccessChanged,
    /// Its owner removed it: close the socket, end its sessions.
    Removed,
    /// It connected (again) to `server`: its sessions through any other server are over.
    Attached {
        /// The server holding its socket now.
        server: ServerId,
    },
}

/// Presence and the bus.
pub enum Presence {
    /// In-process.
    Local(local::Local),
    /// Redis, through fred.
    Redis(redis::RedisPresence),
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Presence {
    /// In-process presence.
    pub fn local() -> Self {
        Self::Local(local::Local::new())
    }

    /// Redis presence at `url`; keys and the channel start with `prefix`; an entry lives for
    /// `ttl` unless refreshed (a crashed server's devices go offline by themselves). What
    /// other servers route to `server_id` arrives on its own channel.
    pub async fn redis(
        url: &str,
        prefix: &str,
        ttl: Duration,
        server_id: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self::Redis(
            redis::RedisPresence::connect(url, prefix, ttl, server_id).await?,
        ))
    }

    /// The Redis presence, when several servers may share the deployment.
    pub fn shared(&self) -> Option<&redis::RedisPresence> {
        match self {
            Self::Local(_) => None,
            Self::Redis(p) => Some(p),
        }
    }

    /// The server holding `device`, when another server may (with Redis).
    pub async fn holder(&self, device: &DeviceId) -> Result<Option<ServerId>> {
        match self {
            Self::Local(_) => Ok(None),
            Self::Redis(p) => p.holder(device).await,
        }
    }

    /// `in-process` or `redis`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Local(_) => "in-process",
            Self::Redis(_) => "redis",
        }
    }

    /// Marks a device connected through socket `conn` (unique across servers).
    pub async fn set_online(&self, device: &DeviceId, conn: &str) -> Result<()> {
        match self {
            Self::Local(p) => {
                p.set_online(device, conn);
                Ok(())
            }
            Self::Redis(p) => p.set_online(device, conn).await,
        }
    }

    /// Keeps a device's entry alive (on heartbeat), if `conn` still holds it, and claims it
    /// again if the entry was lost. Returns whether it was lost (its status with it).
    pub async fn refresh(&self, device: &DeviceId, conn: &str) -> Result<bool> {
        match self {
            Self::Local(_) => Ok(false),
            Self::Redis(p) => p.refresh(device, conn).await,
        }
    }

    /// Records a device's latest status, if `conn` still holds it.
    pub async fn set_status(
        &self,
        device: &DeviceId,
        conn: &str,
        status: &DeviceStatus,
    ) -> Result<()> {
        match self {
            Self::Local(p) => {
                p.set_status(device, conn, status);
                Ok(())
            }
            Self::Redis(p) => p.set_status(device, conn, status).await,
        }
    }

    /// Marks a device gone, unless another socket than `conn` holds it now. Returns whether
    /// the device went offline.
    pub async fn set_offline(&self, device: &DeviceId, conn: &str) -> Result<bool> {
        match self {
            Self::Local(p) => Ok(p.set_offline(device, conn)),
            Self::Redis(p) => p.set_offline(device, conn).await,
        }
    }

    /// Of these devices, the ones online, with their last status.
    pub async fn lookup(
        &self,
        devices: &[DeviceId],
    ) -> Result<HashMap<DeviceId, Option<DeviceStatus>>> {
        if devices.is_empty() {
            return Ok(HashMap::new());
        }
        match self {
            Self::Local(p) => Ok(p.lookup(devices)),
            Self::Redis(p) => p.lookup(devices).await,
        }
    }

    /// Sends a notice to every server (this one included).
    pub async fn publish(&self, notice: Notice) -> Result<()> {
        match self {
            Self::Local(p) => {
                p.publish(notice);
                Ok(())
            }
            Self::Redis(p) => p.publish(notice).await,
        }
    }

    /// Notices from every server, in order of arrival.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        match self {
            Self::Local(p) => p.subscribe(),
            Self::Redis(p) => p.subscribe(),
        }
    }

    /// Where rate limits count: in Redis (shared by every server) when presence is there.
    pub fn bucket_store(&self) -> BucketStore {
        match self {
            Self::Local(_) => BucketStore::Local,
            Self::Redis(p) => p.bucket_store(),
        }
    }

    /// Checks that the backend answers.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Self::Local(_) => Ok(()),
            Self::Redis(p) => p.ping().await,
        }
    }
}

/// How many notices a slow consumer may fall behind before it skips some.
const BUS_CAPACITY: usize = 4096;
