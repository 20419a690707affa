//! The record of sessions, as the hub reports it: every session it opens and every session it
//! ends, in the order it happened, on one bounded channel that one recorder consumes
//! (`signaling::sessions::Sessions::record`), so no caller has a record to forget.
//!
//! **Invariant**: a session spanning two servers is recorded once, by the viewer's server;
//! the device's server only counts it as active.

use super::Hub;
use mumu_shared::signaling::EndReason;
use mumu_shared::{DeviceId, SessionId, UnixMillis, UserId};
use std::sync::atomic::Ordering::Relaxed;

/// A session that ended, for the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Which.
    pub session_id: SessionId,
    /// Why.
    pub reason: EndReason,
}

/// What the hub reports for the record, in the order it happened.
#[derive(Debug)]
pub enum Record {
    /// A session opened.
    Started {
        /// Which.
        session_id: SessionId,
        /// Of what.
        device_id: DeviceId,
        /// For whom.
        user_id: UserId,
        /// When.
        at: UnixMillis,
    },
    /// A session ended.
    Ended {
        /// Which, and why.
        ended: Ended,
        /// When.
        at: UnixMillis,
    },
    /// Everything before this is written: answer on the channel.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// How many records may wait for the database before the hub starts dropping (and logging)
/// them: bounded like every queue, and far above what a healthy database lets pile up.
pub const RECORDS_CAPACITY: usize = 16 * 1024;

impl Hub {
    fn record(&self, record: Record) {
        if let Err(e) = self.records.try_send(record) {
            tracing::error!(error = %e, "the session record fell behind; a record is lost");
        }
    }

    /// Waits until every record reported so far is written (at shutdown).
    pub async fn flush_records(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.records.send(Record::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Counts and records a session whose viewer is here.
    pub(super) fn started(
        &self,
        session_id: SessionId,
        device_id: DeviceId,
        user_id: UserId,
        now: UnixMillis,
    ) {
        self.metrics.sessions_active.fetch_add(1, Relaxed);
        self.metrics.sessions_started.fetch_add(1, Relaxed);
        self.record(Record::Started {
            session_id,
            device_id,
            user_id,
            at: now,
        });
    }

    /// Counts a session whose viewer is on another server (which records it).
    pub(super) fn started_for_another_server(&self) {
        self.metrics.sessions_active.fetch_add(1, Relaxed);
    }

    /// Uncounts an ended session, and records its end if its viewer was here.
    pub(super) fn ended(&self, ended: &Ended, viewer_here: bool, now: UnixMillis) {
        self.metrics.sessions_active.fetch_sub(1, Relaxed);
        if viewer_here {
            self.record(Record::Ended {
                ended: ended.clone(),
                at: now,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn every_start_and_end_is_reported_in_order_whoever_caused_it() {
        let (hub, mut records) = hub_recording();
        let (c, _cam) = device(&hub, "d1");
        let (v, _view) = viewer(&hub, "u1");
        open(&hub, v, "d1", "s1", 4).unwrap();
        open(&hub, v, "d1", "s2", 4).unwrap();
        assert!(
            open(&hub, v, "nobody", "s3", 4).is_err(),
            "a refused watch records nothing"
        );
        hub.end(v, &"s1".into(), EndReason::ViewerLeft, None, NOW)
            .unwrap();
        hub.detach(c, NOW);
        let mut seen = Vec::new();
        while let Ok(record) = records.try_recv() {
            seen.push(match record {
                Record::Started { session_id, .. } => format!("start {session_id}"),
                Record::Ended { ended, .. } => {
                    format!("end {} {}", ended.session_id, ended.reason.as_str())
                }
                Record::Flush(_) => "flush".into(),
            });
        }
        assert_eq!(
            seen,
            [
                "start s1",
                "start s2",
                "end s1 viewer_left",
                "end s2 device_disconnected"
            ]
        );
    }
}
