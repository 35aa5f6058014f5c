//! Arbitrary requests against the API server, for the fuzz target and the checked-in corpus
//! of malformed requests: a sandbox server with a few objects to aim at, and a case format
//! any byte string can be read as.
//!
//! A case is `METHOD PATH\nCONTENT-TYPE\n\nBODY`; missing parts fall back to defaults, so
//! every input is a request.

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use kubarium_apiserver::{ApiServer, Authenticator, Config, ServiceRange, UserInfo};
use kubarium_store::{Store, StoreOptions};
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";

/// An API server over a fresh store, with a namespace, a deployment, a config map and a pod
/// so that reads, patches and deletes find something.
pub struct Sandbox {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db"), StoreOptions::default()).unwrap();
        let server = ApiServer::new(Config {
            authenticator: Authenticator::new()
                .with_token(TOKEN, UserInfo::admin())
                .with_service_account_key(&[7; 32]),
            store,
            service_range: ServiceRange::new(std::net::Ipv4Addr::new(10, 96, 0, 0), 16),
            bookmark_interval: std::time::Duration::from_secs(60),
            default_toleration_seconds: kubarium_apiserver::DEFAULT_TOLERATION_SECONDS,
            // Nothing here makes the namespaces' `default` accounts.
            service_account_admission: false,
        });
        server.bootstrap().await.unwrap();
        let router = kubarium_apiserver::router(server);
        let sandbox = Self { router, _dir: dir };
        for (path, body) in SEEDS {
            let (status, _) = sandbox
                .send(parse_case(
                    format!("POST {path}\napplication/json\n\n{body}").as_bytes(),
                ))
                .await;
            assert_eq!(status, 201, "seed {path}");
        }
        sandbox
    }

    /// Sends a request; returns the status and body.
    pub async fn send(&self, mut request: Request<Body>) -> (u16, String) {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        // Watches stream until their timeout: read what is there now, not to the end.
        let body = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            response.into_body().collect(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
        (status, body)
    }
}

const SEEDS: &[(&str, &str)] = &[
    (
        "/api/v1/namespaces/default/configmaps",
        r#"{"metadata":{"name":"c"},"data":{"a":"b"}}"#,
    ),
    (
        "/apis/apps/v1/namespaces/default/deployments",
        r#"{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"demo"}]}}}}"#,
    ),
    (
        "/api/v1/namespaces/default/pods",
        r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"demo"}]}}"#,
    ),
];

/// Reads any bytes as a request.
pub fn parse_case(bytes: &[u8]) -> Request<Body> {
    let (head, body) = match bytes.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&bytes[..i], &bytes[i + 2..]),
        None => (bytes, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().splitn(2, ' ');
    let method = match request_line.next().unwrap_or_default() {
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        _ => "GET",
    };
    let path = request_line
        .next()
        .unwrap_or("/api/v1/namespaces/default/configmaps/c");
    let uri: http::Uri = path
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/api/v1/namespaces/default/configmaps/c"));
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(content_type) = lines
        .next()
        .filter(|c| http::HeaderValue::from_str(c).is_ok())
    {
        builder = builder.header("content-type", content_type);
    }
    builder
        .body(Body::from(body.to_vec()))
        .unwrap_or_else(|_| Request::new(Body::empty()))
}
