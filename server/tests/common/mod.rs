//! Test support: start the real server on a free port against a fresh database, and drive it
//! the way the agent and the web app do: over HTTP and WebSocket, with the shared types.
//!
//! Every flow runs on both stacks: `embedded` (SQLite file + in-process presence, the default)
//! and `scaled` (PostgreSQL + Redis). `MUMU_TEST_POSTGRES_URL` and `MUMU_TEST_REDIS_URL` point
//! at the servers (default: the local ones); `MUMU_TEST_STACKS=embedded` runs only the first.

#![allow(dead_code)]

pub mod postgres;
pub mod push_service;
pub mod receiver;

use futures_util::{SinkExt, StreamExt};
use mumu_server::Server;
use mumu_server::clock::{Clock, ManualClock};
use mumu_server::config::Config;
use mumu_server::secrets::Secret;
use mumu_server::state::SharedState;
use mumu_shared::api::{
    AuthResponse, EnrollRequest, EnrollResponse, HouseholdRole, InvitationRequest, NewInvitation,
    PairRequest, RegisterRequest,
};
use mumu_shared::signaling::{
    DeviceHello, DeviceToServer, ServerToDevice, ServerToViewer, ViewerHello, ViewerToServer,
};
use mumu_shared::{DeviceId, Envelope, Message, PROTOCOL_VERSION, decode, encode};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Which backends a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// SQLite + in-process presence.
    Embedded,
    /// PostgreSQL + Redis.
    Scaled,
}

/// Runs each test body once per stack.
#[macro_export]
macro_rules! stack_tests {
    ($(async fn $name:ident($stack:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($stack: $crate::common::Stack) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite_and_in_process_presence() {
                    run($crate::common::Stack::Embedded).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres_and_redis() {
                    if $crate::common::stack_enabled($crate::common::Stack::Scaled) {
                        run($crate::common::Stack::Scaled).await
                    }
                }
            }
        )*
    };
}

/// Whether a stack should run (`MUMU_TEST_STACKS`, default both).
pub fn stack_enabled(stack: Stack) -> bool {
    let wanted = std::env::var("MUMU_TEST_STACKS").unwrap_or_else(|_| "embedded,scaled".into());
    let name = match stack {
        Stack::Embedded => "embedded",
        Stack::Scaled => "scaled",
    };
    wanted.split(',').any(|s| s.trim() == name)
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub ws_base: String,
    pub state: SharedState,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    /// The token of the household's first account (its admin), once registered: later
    /// accounts are made through invitations it makes, as people join a household. Shared by
    /// the servers of one deployment.
    admin: Arc<std::sync::Mutex<Option<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid_simple())
}

fn uuid_simple() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..12)
        .map(|_| (b'a' + rng.random_range(0..26)) as char)
        .collect()
}

impl TestServer {
    /// Starts a server on `stack` with default settings.
    pub async fn start(stack: Stack) -> Self {
        Self::start_with(stack, |_| {}).await
    }

    /// Starts a second server of the same deployment as `other`: its database, its Redis and
    /// prefix, its secrets (several servers behind one address).
    pub async fn start_beside(other: &TestServer) -> Self {
        let mut config = other.state.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let mut server = Self::start_config(config).await;
        server.admin = other.admin.clone();
        server
    }

    /// Starts a server on `stack`, letting the test adjust the configuration first.
    pub async fn start_with(stack: Stack, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::defaults();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.storage.database_url = None;
        config.storage.redis_url = None;
        config.auth.jwt_secret = None;
        config.turn.turn_secret = None;
        config.turn.turn_urls = vec!["turn:127.0.0.1:3478?transport=udp".into()];
        config.turn.stun_urls = vec![];
        if stack == Stack::Scaled {
            config.storage.database_url = Some(
                postgres::fresh_postgres_schema(
                    "t",
                    "the scaled stack (MUMU_TEST_STACKS=embedded skips it)",
                )
                .await,
            );
            config.storage.redis_url = Some(
                std::env::var("MUMU_TEST_REDIS_URL")
                    .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            );
            config.storage.redis_prefix = unique("mumutest");
            // Several servers share Redis: the secrets must be set, not generated.
            config.auth.jwt_secret = Some(Secret::new(unique("jwt-secret-for-tests")));
            config.turn.turn_secret = Some(Secret::new(unique("turn-secret-for-tests")));
        }
        tweak(&mut config);
        Self::start_config(config).await
    }

    async fn start_config(mut config: Config) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        config.storage.data_dir = dir.path().to_owned();
        let clock = ManualClock::new();
        let server = Server::bind(config, clock.clone())
            .await
            .expect("server starts");
        let addr = server.local_addr();
        let state = server.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
            state,
            clock,
            http: reqwest::Client::builder().build().unwrap(),
            admin: Arc::default(),
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON, returns status and body as JSON.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl serde::Serialize,
    ) -> (u16, serde_json::Value) {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_json(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        into_json(req.send().await.expect("request sent")).await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: &impl serde::Serialize,
    ) -> (u16, serde_json::Value) {
        into_json(
            self.http
                .patch(self.url(path))
                .bearer_auth(token)
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        into_json(
            self.http
                .delete(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Registers `name` (password "correct horse battery") and returns the login: the first
    /// account of the server as its admin, any later one with an invitation the admin makes.
    pub async fn register(&self, name: &str) -> AuthResponse {
        let body = self.register_body(name).await;
        let (status, json) = self.post("/api/auth/register", None, &body).await;
        assert_eq!(status, 201, "register {name}: {json}");
        let login: AuthResponse = serde_json::from_value(json).unwrap();
        let mut admin = self.admin.lock().unwrap();
        if admin.is_none() {
            assert_eq!(
                login.user.role,
                HouseholdRole::Admin,
                "the first account is the admin"
            );
            *admin = Some(login.access_token.clone());
        }
        login
    }

    /// What registering `name` sends: with an invitation from the admin once there is one.
    pub async fn register_body(&self, name: &str) -> RegisterRequest {
        let admin = self.admin.lock().unwrap().clone();
        let invitation = match admin {
            Some(token) => Some(self.invite(&token).await.code),
            None => None,
        };
        RegisterRequest {
            username: name.into(),
            email: format!("{name}@example.com"),
            password: "correct horse battery".into(),
            invitation,
        }
    }

    /// Records the token of a first account a test registered by hand, so that later
    /// accounts are invited by it.
    pub fn set_admin(&self, token: &str) {
        *self.admin.lock().unwrap() = Some(token.to_owned());
    }

    /// The admin's token, once the first account exists.
    pub fn admin_token(&self) -> Option<String> {
        self.admin.lock().unwrap().clone()
    }

    /// An invitation made by the user with `token` (an admin).
    pub async fn invite(&self, token: &str) -> NewInvitation {
        let (status, json) = self
            .post(
                "/api/invitations",
                Some(token),
                &InvitationRequest::default(),
            )
            .await;
        assert_eq!(status, 201, "invite: {json}");
        serde_json::from_value(json).unwrap()
    }

    /// Enrols a new device, as a fresh agent does.
    pub async fn enroll(&self) -> EnrollResponse {
        let body = EnrollRequest {
            name: Some("Porch".into()),
            agent_version: "test".into(),
        };
        let (status, json) = self.post("/api/devices/enroll", None, &body).await;
        assert_eq!(status, 201, "enroll: {json}");
        serde_json::from_value(json).unwrap()
    }

    /// Claims a device for the user with `token` by its code.
    pub async fn pair(&self, token: &str, code: &str) -> (u16, serde_json::Value) {
        self.post(
            "/api/devices/pair",
            Some(token),
            &PairRequest {
                pairing_code: code.into(),
                name: None,
            },
        )
        .await
    }

    /// A user with one paired device: (login, enrolment).
    pub async fn user_with_device(&self, name: &str) -> (AuthResponse, EnrollResponse) {
        let user = self.register(name).await;
        let device = self.enroll().await;
        let (status, json) = self.pair(&user.access_token, &device.pairing_code).await;
        assert_eq!(status, 201, "pair: {json}");
        (user, device)
    }

    /// A user with one paired device, shared with a second user: (owner, enrolment, guest).
    pub async fn user_with_shared_device(
        &self,
        owner: &str,
        guest: &str,
    ) -> (AuthResponse, EnrollResponse, AuthResponse) {
        let (owner_login, device) = self.user_with_device(owner).await;
        let guest_login = self.register(guest).await;
        let shares = format!("/api/devices/{}/shares", device.device_id);
        let body = serde_json::json!({ "username": guest });
        let (status, json) = self
            .post(&shares, Some(&owner_login.access_token), &body)
            .await;
        assert_eq!(status, 201, "share: {json}");
        (owner_login, device, guest_login)
    }

    /// A device socket that has said hello and read its `hello_ack`.
    pub async fn device_online(
        &self,
        device: &EnrollResponse,
    ) -> Socket<DeviceToServer, ServerToDevice> {
        let mut socket = self.device_socket().await;
        socket
            .send(DeviceToServer::Hello(hello(
                &device.device_id,
                &device.device_secret,
            )))
            .await;
        let ack = socket.recv().await;
        assert!(
            matches!(ack.message, ServerToDevice::HelloAck(_)),
            "expected hello_ack, got {ack:?}"
        );
        socket
    }

    pub async fn device_socket(&self) -> Socket<DeviceToServer, ServerToDevice> {
        Socket::connect(&format!("{}/ws/device", self.ws_base), None).await
    }

    /// A viewer socket authenticated by the token in its hello, after its `hello_ack`.
    pub async fn viewer_online(
        &self,
        token: &str,
    ) -> (
        Socket<ViewerToServer, ServerToViewer>,
        mumu_shared::signaling::ViewerHelloAck,
    ) {
        let mut socket = self.viewer_socket(None).await;
        socket
            .send(ViewerToServer::Hello(ViewerHello {
                protocol: PROTOCOL_VERSION,
                token: Some(token.into()),
            }))
            .await;
        let ack = socket.recv().await;
        match ack.message {
            ServerToViewer::HelloAck(ack) => (socket, ack),
            other => panic!("expected hello_ack, got {other:?}"),
        }
    }

    pub async fn viewer_socket(
        &self,
        bearer: Option<&str>,
    ) -> Socket<ViewerToServer, ServerToViewer> {
        Socket::connect(&format!("{}/ws/viewer", self.ws_base), bearer).await
    }

    /// Waits until the server has recorded a session's end, and returns its reason.
    pub async fn recorded_end(&self, session: &mumu_shared::SessionId) -> String {
        for _ in 0..100 {
            if let Some(reason) = self.state.sessions.end_reason(session).await.unwrap() {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the end of session {session} was never recorded");
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn hello(device_id: &DeviceId, secret: &str) -> DeviceHello {
    DeviceHello {
        protocol: PROTOCOL_VERSION,
        device_id: device_id.clone(),
        device_secret: secret.into(),
        agent_version: Some("test".into()),
    }
}

async fn into_json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// A viewer's socket.
pub type Viewer = Socket<ViewerToServer, ServerToViewer>;
/// A device's socket.
pub type Device = Socket<DeviceToServer, ServerToDevice>;

/// The viewer asks to watch; returns the session as both ends saw it.
pub async fn watch(
    viewer: &mut Viewer,
    device: &mut Device,
    device_id: &mumu_shared::DeviceId,
) -> (
    mumu_shared::signaling::WatchReady,
    mumu_shared::signaling::DeviceWatchRequest,
) {
    viewer
        .send_with_id(
            ViewerToServer::WatchRequest(mumu_shared::signaling::ViewerWatchRequest::new(
                device_id.clone(),
            )),
            "w-1",
        )
        .await;
    let ready = viewer
        .recv_matching(|m| matches!(m, ServerToViewer::WatchReady(_) | ServerToViewer::Error(_)))
        .await;
    assert_eq!(
        ready.request_id.as_deref(),
        Some("w-1"),
        "watch_ready answers the request"
    );
    let ready = match ready.message {
        ServerToViewer::WatchReady(r) => r,
        other => panic!("expected watch_ready, got {other:?}"),
    };
    let request = match device
        .recv_matching(|m| matches!(m, ServerToDevice::WatchRequest(_)))
        .await
        .message
    {
        ServerToDevice::WatchRequest(r) => r,
        _ => unreachable!(),
    };
    assert_eq!(ready.session_id, request.session_id);
    (ready, request)
}

/// One signaling socket, typed by what it sends (`S`) and receives (`R`).
pub struct Socket<S, R> {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    _m: std::marker::PhantomData<(S, R)>,
}

impl<S: Message, R: Message + std::fmt::Debug> Socket<S, R> {
    pub async fn connect(url: &str, bearer: Option<&str>) -> Self {
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket opens");
        Self {
            ws,
            _m: std::marker::PhantomData,
        }
    }

    pub async fn send(&mut self, message: S) {
        self.send_envelope(Envelope::new(message, 0)).await;
    }

    pub async fn send_with_id(&mut self, message: S, request_id: &str) {
        self.send_envelope(Envelope::new(message, 0).reply_to(Some(request_id.into())))
            .await;
    }

    pub async fn send_envelope(&mut self, envelope: Envelope<S>) {
        self.ws
            .send(Ws::Text(encode(&envelope).into()))
            .await
            .expect("socket send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws
            .send(Ws::Text(text.to_owned().into()))
            .await
            .expect("socket send");
    }

    /// Sends raw text, ignoring a socket the server already closed.
    pub async fn try_send_raw(&mut self, text: &str) {
        let _ = self.ws.send(Ws::Text(text.to_owned().into())).await;
    }

    /// A message if one is already there (within 10 ms).
    pub async fn try_recv(&mut self) -> Option<Envelope<R>> {
        match tokio::time::timeout(Duration::from_millis(10), self.ws.next()).await {
            Ok(Some(Ok(Ws::Text(text)))) => {
                Some(decode::<R>(&text).expect("server sends valid messages"))
            }
            _ => None,
        }
    }

    /// The next message (5 s at most).
    pub async fn recv(&mut self) -> Envelope<R> {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("socket still open")
                .expect("socket read");
            match frame {
                Ws::Text(text) => {
                    return decode::<R>(&text)
                        .unwrap_or_else(|e| panic!("server sent {text}: {e}"));
                }
                Ws::Close(frame) => panic!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next message matching `pred`, skipping others (presence updates, say).
    pub async fn recv_matching(&mut self, mut pred: impl FnMut(&R) -> bool) -> Envelope<R> {
        loop {
            let envelope = self.recv().await;
            if pred(&envelope.message) {
                return envelope;
            }
        }
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("closed within 10 s")
            {
                None | Some(Err(_)) => return None,
                Some(Ok(Ws::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Asserts nothing arrives for `ms` milliseconds.
    pub async fn silent_for(&mut self, ms: u64) {
        if let Ok(Some(Ok(Ws::Text(text)))) =
            tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await
        {
            panic!("expected silence, got {text}");
        }
    }

    /// Closes the socket from this side.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Drops the TCP connection without a close handshake.
    pub fn drop_abruptly(self) {
        drop(self);
    }
}
