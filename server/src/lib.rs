//! MuMu's server: accounts, pairing, presence, TURN credentials and WebRTC signaling. It
//! introduces cameras and browsers to each other and never carries video.
//!
//! `ARCHITECTURE.md` at the top of the repository maps the modules.

pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod devices;
pub mod error;
pub mod events;
pub mod http;
pub mod janitor;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod presence;
pub mod push;
pub mod rate_limit;
pub mod readiness;
pub mod secrets;
pub mod signaling;
pub mod state;
pub mod turn;

use anyhow::Context;
use state::{AppState, SharedState};
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A server bound to its port, ready to serve.
pub struct Server {
    listener: TcpListener,
    state: SharedState,
    site: leptos::config::LeptosOptions,
}

impl Server {
    /// Builds the services from `config` and binds the listen address (port 0: any free port).
    pub async fn bind(config: config::Config, clock: clock::SharedClock) -> anyhow::Result<Self> {
        let listen = config.listen;
        // Leptos renders pages with tasks on the tokio runtime (already set: a second server).
        let _ = any_spawner::Executor::init_tokio();
        let site = http::site::options(&config.site_config)?;
        if !http::site::is_built(&site) {
            tracing::warn!(
                site_root = %site.site_root,
                "the web app is not built: pages render but stay inert (run `scripts/build-site`, or set LEPTOS_SITE_ROOT)"
            );
        }
        if let Some(limit) = http::serve::raise_descriptor_limit()
            && limit < config.http.max_connections as u64 + 64
        {
            tracing::warn!(
                descriptor_limit = limit,
                max_connections = config.http.max_connections,
                "MUMU_MAX_CONNECTIONS is near or above the open-file limit: lower it, or raise LimitNOFILE"
            );
        }
        let state = AppState::build(config, clock).await?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        Ok(Self {
            listener,
            state,
            site,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Its services (tests inspect and drive them).
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// Serves until `shutdown` completes; then ends every session with `server_shutdown` and
    /// closes every socket before returning.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let pump = state.spawn_notice_pump();
        let router = state.router().and_then(|router| {
            // A dead server's cameras go offline on the dashboards of those who may watch them.
            let state = state.clone();
            router.spawn(move |device_id| {
                let state = state.clone();
                async move { signaling::device::announce_offline(&state, &device_id).await }
            })
        });
        let janitor = janitor::spawn(state.clone());
        let app = http::router(state.clone(), self.site);
        let on_shutdown = {
            let state = state.clone();
            async move {
                shutdown.await;
                tracing::info!("shutting down: ending sessions and closing sockets");
                state.hub.shutdown(state.clock.now_ms());
                state.hub.flush_records().await;
                // The other servers hear that the sessions shared with this one ended.
                state
                    .hub
                    .routes_sent(std::time::Duration::from_secs(2))
                    .await;
                if let Some(redis) = state.presence.shared() {
                    let _ = redis.forget(&state.server_id).await;
                }
            }
        };
        let config = &state.config;
        let limits = http::serve::ConnLimits {
            max_connections: config.http.max_connections,
            header_timeout: std::time::Duration::from_secs(
                config.http.http_header_timeout_secs.max(1),
            ),
        };
        http::serve::serve(self.listener, app, limits, on_shutdown).await;
        pump.abort();
        janitor.abort();
        if let Some(router) = router {
            router.abort();
        }
        Ok(())
    }
}
