//! In-process presence: a map under a lock, and a broadcast channel as the bus.

use super::{BUS_CAPACITY, Notice};
use mumu_shared::DeviceId;
use mumu_shared::api::DeviceStatus;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

struct Entry {
    conn: String,
    status: Option<DeviceStatus>,
}

pub struct Local {
    online: Mutex<HashMap<DeviceId, Entry>>,
    bus: broadcast::Sender<Notice>,
}

impl Local {
    pub fn new() -> Self {
        Self {
            online: Mutex::new(HashMap::new()),
            bus: broadcast::channel(BUS_CAPACITY).0,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Entry>> {
        self.online.lock().expect("presence lock")
    }

    pub fn set_online(&self, device: &DeviceId, conn: &str) {
        self.map().insert(
            device.clone(),
            Entry {
                conn: conn.to_owned(),
                status: None,
            },
        );
    }

    pub fn set_status(&self, device: &DeviceId, conn: &str, status: &DeviceStatus) {
        if let Some(entry) = self.map().get_mut(device).filter(|e| e.conn == conn) {
            entry.status = Some(status.clone());
        }
    }

    pub fn set_offline(&self, device: &DeviceId, conn: &str) -> bool {
        let mut map = self.map();
        match map.get(device) {
            Some(entry) if entry.conn != conn => false,
            _ => {
                map.remove(device);
                true
            }
        }
    }

    pub fn lookup(&self, devices: &[DeviceId]) -> HashMap<DeviceId, Option<DeviceStatus>> {
        let map = self.map();
        devices
            .iter()
            .filter_map(|d| map.get(d).map(|e| (d.clone(), e.status.clone())))
            .collect()
    }

    pub fn publish(&self, notice: Notice) {
        // No receiver is not an error: no socket is listening yet.
        let _ = self.bus.send(notice);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.bus.subscribe()
    }
}
