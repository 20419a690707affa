//! Counters and gauges for `/metrics`, in Prometheus's text format. Plain atomics: the hot path
//! (a relayed signaling message) costs one relaxed increment.

use mumu_shared::ErrorCode;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Every figure the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Device sockets open now.
    pub device_sockets: AtomicI64,
    /// Viewer sockets open now.
    pub viewer_sockets: AtomicI64,
    /// Watch sessions open now.
    pub sessions_active: AtomicI64,
    /// Watch sessions started.
    pub sessions_started: AtomicU64,
    /// Signaling messages received.
    pub messages_in: AtomicU64,
    /// Signaling messages sent.
    pub messages_out: AtomicU64,
    /// Signaling messages passed from one peer to the other (offer, answer, ICE).
    pub messages_relayed: AtomicU64,
    /// Pushes a push service accepted.
    pub push_delivered: AtomicU64,
    /// Push subscriptions deleted because their push service said they are gone.
    pub push_removed: AtomicU64,
    /// Pushes given up.
    pub push_failed: AtomicU64,
    /// Notifications dropped because the push queue was full.
    pub push_dropped: AtomicU64,
    /// Errors sent, by code (REST and signaling).
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts an error sent to a client.
    pub fn error(&self, code: ErrorCode) {
        *self
            .errors
            .lock()
            .expect("metrics lock")
            .entry(code.as_str())
            .or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP mumu_sockets Signaling sockets open now.\n# TYPE mumu_sockets gauge"
        );
        let _ = writeln!(
            out,
            "mumu_sockets{{kind=\"device\"}} {}",
            self.device_sockets.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "mumu_sockets{{kind=\"viewer\"}} {}",
            self.viewer_sockets.load(Relaxed)
        );
        gauge(
            &mut out,
            "mumu_sessions_active",
            "Watch sessions open now.",
            self.sessions_active.load(Relaxed),
        );
        counter(
            &mut out,
            "mumu_sessions_started_total",
            "Watch sessions started.",
            self.sessions_started.load(Relaxed),
        );
        counter(
            &mut out,
            "mumu_messages_received_total",
            "Signaling messages received.",
            self.messages_in.load(Relaxed),
        );
        counter(
            &mut out,
            "mumu_messages_sent_total",
            "Signaling messages sent.",
            self.messages_out.load(Relaxed),
        );
        counter(
            &mut out,
            "mumu_messages_relayed_total",
            "Offers, answers and ICE candidates passed between peers.",
            self.messages_relayed.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP mumu_pushes_total Web Push requests, by what became of them.\n# TYPE mumu_pushes_total counter"
        );
        for (result, n) in [
            ("delivered", &self.push_delivered),
            ("removed", &self.push_removed),
            ("failed", &self.push_failed),
            ("dropped", &self.push_dropped),
        ] {
            let _ = writeln!(
                out,
                "mumu_pushes_total{{result=\"{result}\"}} {}",
                n.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP mumu_errors_total Errors sent to clients, by code.\n# TYPE mumu_errors_total counter"
        );
        for (code, n) in self.errors.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "mumu_errors_total{{code=\"{code}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_figure() {
        let m = Metrics::default();
        m.device_sockets.fetch_add(2, Relaxed);
        m.error(ErrorCode::RateLimited);
        let text = m.render();
        assert!(text.contains("mumu_sockets{kind=\"device\"} 2"));
        assert!(text.contains("mumu_errors_total{code=\"rate_limited\"} 1"));
        assert!(text.contains("# TYPE mumu_messages_relayed_total counter"));
    }
}
