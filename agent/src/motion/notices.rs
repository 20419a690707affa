//! What the server is told of events (`motion_event`: start, end, zones, score; never a
//! picture), waiting for the signaling connection. The detector's thread puts a notice in and
//! never waits: the queue is bounded ([`CAPACITY`]), the oldest notice goes when it is full,
//! and an event's end takes the place of its start when that was not sent yet (it says more).
//! The connection sends them as they come, and what is left after a reconnect.

use mumu_shared::signaling::MotionEvent;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// The most notices kept while the server is out of reach.
pub const CAPACITY: usize = 64;

/// The notices not yet sent.
#[derive(Debug, Default)]
pub struct MotionNotices {
    queue: Mutex<VecDeque<MotionEvent>>,
    ready: Notify,
    dropped: AtomicU64,
}

impl MotionNotices {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a notice (an event's start or end) without waiting.
    pub fn push(&self, notice: MotionEvent) {
        {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(waiting) = queue.iter_mut().find(|n| n.start == notice.start) {
                *waiting = notice;
            } else {
                if queue.len() >= CAPACITY {
                    queue.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                queue.push_back(notice);
            }
        }
        self.ready.notify_one();
    }

    /// The oldest notice not yet sent.
    pub fn front(&self) -> Option<MotionEvent> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .front()
            .cloned()
    }

    /// Forgets `sent`, the front notice, once it is sent (unless it changed meanwhile: then the
    /// newer one is still to send).
    pub fn sent(&self, sent: &MotionEvent) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.front() == Some(sent) {
            queue.pop_front();
        }
    }

    /// Notices waiting.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Notices dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Returns when a notice has been queued since the last wait returned (at once if one was).
    pub async fn queued(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(start: i64, end: Option<i64>) -> MotionEvent {
        MotionEvent {
            start,
            end,
            zones: vec![],
            peak_score: 100,
        }
    }

    #[test]
    fn the_oldest_go_first_when_the_server_is_away_too_long() {
        let notices = MotionNotices::new();
        for start in 0..(CAPACITY as i64 + 10) {
            notices.push(notice(start, None));
        }
        assert_eq!(notices.len(), CAPACITY);
        assert_eq!(notices.dropped(), 10);
        assert_eq!(notices.front(), Some(notice(10, None)));
    }

    #[test]
    fn an_end_replaces_its_unsent_start_and_a_changed_front_is_kept() {
        let notices = MotionNotices::new();
        notices.push(notice(1, None));
        notices.push(notice(2, None));
        let front = notices.front().unwrap();
        notices.push(notice(1, Some(5)));
        assert_eq!(notices.len(), 2);
        // The start was being sent as its end arrived: the end is still to send.
        notices.sent(&front);
        assert_eq!(notices.front(), Some(notice(1, Some(5))));
        notices.sent(&notice(1, Some(5)));
        assert_eq!(notices.front(), Some(notice(2, None)));
    }

    #[tokio::test]
    async fn a_notice_queued_before_anyone_waits_still_wakes_the_sender() {
        let notices = MotionNotices::new();
        notices.push(notice(1, None));
        tokio::time::timeout(std::time::Duration::from_secs(1), notices.queued())
            .await
            .expect("woken by the notice queued earlier");
    }
}
