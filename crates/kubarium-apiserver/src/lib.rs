//! Kubarium's Kubernetes API server.
//!
//! [`router`] builds an [`axum::Router`] that speaks the Kubernetes REST API. The same router
//! serves remote clients over TLS ([`serve`]) and in-process clients as a plain tower
//! `Service` (a `kube::Client` built on it never opens a socket), so both take one code path.
//!
//! Every route sits behind [`auth`]: a request without a valid credential gets a 401
//! `Status`, whatever it asks for. Errors a client can cause become Kubernetes `Status`
//! objects ([`StatusError`]), never a panic or a bare 500.

pub mod auth;
mod health;
pub mod serve;
mod status;
mod version;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::get;

pub use auth::{Authenticator, UserInfo};
pub use serve::{ServeError, TlsIdentity, serve};
pub use status::StatusError;
pub use version::{KUBERNETES_MINOR, build_info};

/// What the API server needs to answer requests; cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

struct Inner {
    authenticator: Authenticator,
    version: k8s_openapi::apimachinery::pkg::version::Info,
    shutting_down: AtomicBool,
}

impl ApiServer {
    /// An API server that accepts the identities `authenticator` knows.
    pub fn new(authenticator: Authenticator) -> Self {
        Self {
            inner: Arc::new(Inner {
                authenticator,
                version: build_info(),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// Marks the server as shutting down: `/readyz` fails from now on, so load balancers and
    /// clients that watch readiness stop sending new work while requests in flight finish.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }
}

/// The API server's routes, all behind authentication.
pub fn router(server: ApiServer) -> Router {
    Router::new()
        .route("/version", get(version::get_version))
        .merge(health::routes())
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

    pub(crate) fn server() -> ApiServer {
        ApiServer::new(Authenticator::new().with_token(TOKEN, UserInfo::admin()))
    }

    pub(crate) async fn get(server: &ApiServer, uri: &str) -> (Response<()>, String) {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        send(server, request).await
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
