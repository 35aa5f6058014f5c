//! Kubarium's Kubernetes API server.
//!
//! [`router`] builds an [`axum::Router`] that speaks the Kubernetes REST API over a
//! [`kubarium_store::Store`]. The same router serves remote clients over TLS ([`serve`]) and
//! in-process clients as a plain tower `Service` (a `kube::Client` built on it never opens a
//! socket), so both take one code path.
//!
//! Every route sits behind [`auth`]: a request without a valid credential gets a 401
//! `Status`, whatever it asks for. Errors a client can cause become Kubernetes `Status`
//! objects ([`StatusError`]), never a panic or a bare 500.

mod apply;
pub mod auth;
mod bootstrap;
mod discovery;
mod handlers;
mod health;
mod kinds;
pub mod kubelet;
mod managed;
mod object;
mod openapi;
mod priority;
mod protobuf;
pub mod registry;
mod request;
mod schema;
mod selector;
pub mod serve;
mod spdy;
mod status;
mod strategic;
mod tokens;
mod validation;
mod version;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use kubarium_store::Store;

pub use auth::{Authenticator, UserInfo};
pub use kinds::ServiceRange;
pub use serve::{ServeError, ServingTls, TlsIdentity, serve};
pub use status::StatusError;
pub use version::{KUBERNETES_MINOR, build_info};

/// How the API server is set up.
pub struct Config {
    /// Who may call it.
    pub authenticator: Authenticator,
    /// Where objects live.
    pub store: Store,
    /// Where service cluster IPs come from.
    pub service_range: ServiceRange,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// The `tolerationSeconds` of the `node.kubernetes.io/not-ready` and
    /// `node.kubernetes.io/unreachable` NoExecute tolerations the DefaultTolerationSeconds
    /// admission plugin gives a pod created without them: how long its pods stay on a node
    /// that stopped reporting. kube-apiserver's default is [`DEFAULT_TOLERATION_SECONDS`].
    pub default_toleration_seconds: i64,
    /// The ServiceAccount admission plugin (`kinds::serviceaccount`): a new pod's service
    /// account must exist, and its containers get its token. kube-apiserver runs it; it is
    /// left out where nothing makes the `default` accounts (an API server tested alone), as
    /// upstream's integration tests disable it.
    pub service_account_admission: bool,
}

/// kube-apiserver's `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// What the API server needs to answer requests; cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

struct Inner {
    authenticator: Authenticator,
    store: Store,
    service_range: ServiceRange,
    bookmark_interval: Duration,
    default_toleration_seconds: i64,
    service_account_admission: bool,
    version: k8s_openapi::apimachinery::pkg::version::Info,
    shutting_down: AtomicBool,
    shutdown: tokio::sync::watch::Sender<bool>,
    allocation: Arc<tokio::sync::Mutex<()>>,
    kubelet: std::sync::OnceLock<Arc<dyn kubelet::Kubelet>>,
}

impl ApiServer {
    /// An API server over `config.store`.
    pub fn new(config: Config) -> Self {
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                authenticator: config.authenticator,
                store: config.store,
                service_range: config.service_range,
                bookmark_interval: config.bookmark_interval,
                default_toleration_seconds: config.default_toleration_seconds,
                service_account_admission: config.service_account_admission,
                version: build_info(),
                shutting_down: AtomicBool::new(false),
                shutdown,
                allocation: Arc::new(tokio::sync::Mutex::new(())),
                kubelet: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Creates what a new cluster starts with (the `default`, `kube-system`, `kube-public`
    /// and `kube-node-lease` namespaces, the `kubernetes` service), leaving what exists.
    pub async fn bootstrap(&self) -> Result<(), StatusError> {
        bootstrap::run(self).await
    }

    /// Drops the kept history up to the latest revision, as the background compaction does
    /// with older history: watches and lists from before now get 410 Gone. For failure
    /// drills and tests; returns the compacted revision.
    pub async fn compact_history(&self) -> Result<i64, StatusError> {
        let store = self.store();
        store
            .compact_to(store.revision())
            .await
            .map_err(|e| StatusError::internal(e.to_string()))
    }

    /// Marks the server as shutting down: `/readyz` fails from now on, and open watches end
    /// (their clients re-watch elsewhere or after the restart).
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.shutdown.send_replace(true);
    }

    /// Ends the shutdown: closes the store, so no write still in flight (from a stopped
    /// component's leftover task, or an in-process client kept elsewhere) reaches the
    /// database after this returns. Later writes answer 503.
    pub async fn finish_shutdown(&self) {
        self.inner.store.close().await;
    }

    /// Connects the node agents that serve pods' `log`, `exec`, `attach` and `portforward`;
    /// before this (and after a second call, which is ignored) those answer as before.
    pub fn connect_kubelet(&self, kubelet: Arc<dyn kubelet::Kubelet>) {
        let _ = self.inner.kubelet.set(kubelet);
    }

    /// The node agents, once connected.
    pub(crate) fn kubelet(&self) -> Option<&Arc<dyn kubelet::Kubelet>> {
        self.inner.kubelet.get()
    }

    fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    pub(crate) fn store(&self) -> Store {
        self.inner.store.clone()
    }

    pub(crate) fn service_range(&self) -> ServiceRange {
        self.inner.service_range
    }

    pub(crate) fn bookmark_interval(&self) -> Duration {
        self.inner.bookmark_interval
    }

    pub(crate) fn default_toleration_seconds(&self) -> i64 {
        self.inner.default_toleration_seconds
    }

    pub(crate) fn service_account_admission(&self) -> bool {
        self.inner.service_account_admission
    }

    pub(crate) fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    pub(crate) fn signer(&self) -> Option<&tokens::Signer> {
        self.inner.authenticator.signer()
    }

    pub(crate) async fn allocation_lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        Arc::clone(&self.inner.allocation).lock_owned().await
    }
}

/// The API server's routes, all behind authentication.
pub fn router(server: ApiServer) -> Router {
    Router::new()
        .route("/version", get(version::get_version))
        .merge(health::routes())
        .merge(discovery::routes())
        .merge(openapi::routes())
        .merge(handlers::routes())
        .fallback(status::not_found)
        .method_not_allowed_fallback(status::method_not_allowed)
        // `layer`, not `route_layer`: the fallback must demand a credential too, or an
        // anonymous client could probe which paths exist.
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            auth::authenticate,
        ))
        .with_state(server)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Requests against the router without a socket, as axum's testing example does.

    use axum::body::Body;
    use http::{Request, Response};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    pub(crate) const TOKEN: &str = "test-token-0123456789";

    /// A server over a fresh store in a temporary directory (kept alive by the server).
    pub(crate) fn server() -> ApiServer {
        server_with_toleration_seconds(DEFAULT_TOLERATION_SECONDS)
    }

    /// As [`server`], giving new pods `seconds` of toleration for failed nodes.
    pub(crate) fn server_with_toleration_seconds(seconds: i64) -> ApiServer {
        server_with(seconds, false)
    }

    /// As [`server`], with the ServiceAccount admission plugin.
    pub(crate) fn server_admitting_service_accounts() -> ApiServer {
        server_with(DEFAULT_TOLERATION_SECONDS, true)
    }

    fn server_with(seconds: i64, service_account_admission: bool) -> ApiServer {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db"), Default::default()).unwrap();
        // The directory lives as long as the test process; its files are small.
        std::mem::forget(dir);
        ApiServer::new(Config {
            authenticator: Authenticator::new().with_token(TOKEN, UserInfo::admin()),
            store,
            service_range: ServiceRange::new(std::net::Ipv4Addr::new(10, 96, 0, 0), 16),
            bookmark_interval: Duration::from_secs(60),
            default_toleration_seconds: seconds,
            service_account_admission,
        })
    }

    /// Creates namespace `name`.
    pub(crate) async fn namespace(server: &ApiServer, name: &str) {
        let body = serde_json::json!({"metadata": {"name": name}});
        let (code, answer) = call(server, "POST", "/api/v1/namespaces", body).await;
        assert_eq!(code, 201, "{answer}");
    }

    pub(crate) async fn get(server: &ApiServer, uri: &str) -> (Response<()>, String) {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        send(server, request).await
    }

    /// Sends `body` to `uri` with `method` (as a merge patch for `PATCH`, no body when it is
    /// null), asking for `accept` if given: the status code and the JSON answer (null when
    /// the answer is not JSON).
    pub(crate) async fn call_accepting(
        server: &ApiServer,
        method: &str,
        uri: &str,
        body: serde_json::Value,
        accept: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", content_type);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let body = if body.is_null() {
            Body::empty()
        } else {
            Body::from(body.to_string())
        };
        let (response, text) = send(server, request.body(body).unwrap()).await;
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// [`call_accepting`] with no `accept`.
    pub(crate) async fn call(
        server: &ApiServer,
        method: &str,
        uri: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        call_accepting(server, method, uri, body, None).await
    }

    pub(crate) async fn send(server: &ApiServer, request: Request<Body>) -> (Response<()>, String) {
        let response = router(server.clone()).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        (
            Response::from_parts(parts, ()),
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }
}
