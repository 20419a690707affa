//! A socket's outbox: the bounded queue through which the hub (and the socket's own replies)
//! reach its socket task.
//!
//! **Invariant**: nothing is dropped in silence. A queue that fills up means its socket is not
//! reading (or not fast enough): it is told to close as a slow consumer, so a peer that stops
//! reading costs at most one full queue (tested in `notices.rs`, where a bus's notices fill one).

use mumu_shared::{Envelope, ErrorBody};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// What a socket task is asked to do.
#[derive(Debug)]
pub enum Out<M> {
    /// Send this message. Shared: a notice for many viewers is one allocation however many
    /// queues hold it (and a queue slot stays pointer-sized).
    Send(Arc<Envelope<M>>),
    /// Send this error, then close. Boxed, so that every queue slot stays two words: each
    /// socket's queue allocates its slots up front, and idle sockets are most of them.
    Close(Box<ErrorBody>),
    /// Reload what the socket caches about its device (who may watch it).
    Refresh,
}

impl<M> Out<M> {
    /// Send this message.
    pub fn send(envelope: Envelope<M>) -> Self {
        Self::Send(Arc::new(envelope))
    }

    /// Send this error, then close.
    pub fn close(body: ErrorBody) -> Self {
        Self::Close(Box::new(body))
    }
}

/// The sending end of a socket task's queue.
#[derive(Debug)]
pub struct Outbox<M> {
    tx: mpsc::Sender<Out<M>>,
    overflow: Arc<Notify>,
}

impl<M> Clone for Outbox<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            overflow: self.overflow.clone(),
        }
    }
}

impl<M> Outbox<M> {
    /// Queues `out` (a message is counted as sent when the socket writes it). A full queue
    /// tells the socket to close (its own task then detaches it); a closed one means the
    /// socket is gone.
    pub(super) fn push(&self, out: Out<M>) {
        match self.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!("a socket's send queue is full; closing it as a slow consumer");
                self.overflow.notify_one();
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The receiving end, held by the socket task.
#[derive(Debug)]
pub struct Inbox<M> {
    /// What to do next.
    pub rx: mpsc::Receiver<Out<M>>,
    /// Signalled when the queue overflowed: the socket closes as a slow consumer.
    pub overflow: Arc<Notify>,
}

/// A socket task's queue, holding at most `capacity` messages.
pub fn outbox<M>(capacity: usize) -> (Outbox<M>, Inbox<M>) {
    let (tx, rx) = mpsc::channel(capacity);
    let overflow = Arc::new(Notify::new());
    (
        Outbox {
            tx,
            overflow: overflow.clone(),
        },
        Inbox { rx, overflow },
    )
}
