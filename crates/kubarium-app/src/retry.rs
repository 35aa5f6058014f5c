//! The app's network clients resend a request as client-go does, not as kube-rs does.
//!
//! kube-rs's default stack (`Config::default_retry`, on unless turned off) resends every 429,
//! 503 and 504 up to 15 times, backing off exponentially from 5 ms with up to twice as much
//! again at random: between 164 s and 8 minutes before the caller hears anything. Some of
//! those answers are for the caller: an eviction that a PodDisruptionBudget refuses is a 429
//! (retryAfterSeconds 0, so without `Retry-After`), which kubectl drain reports at once and
//! tries again itself 5 s later; the app's drain does the same, and behind kube-rs's retries
//! it stalled for minutes instead.
//!
//! client-go resends a 429 or 5xx only when the server says when: a `Retry-After` of whole
//! seconds (its `checkWait`), honoured, up to 10 times. That is kept rather than no retry at
//! all, because those answers do mean "the same request, later": API Priority and Fairness
//! throttling (429, `Retry-After: 1`), an eviction whose budget the server has not processed
//! yet (429, 10 s), a budget update lost to conflicts (504, 10 s); kubectl never shows them.
//! So every client the app builds from a kubeconfig turns kube-rs's layer off and gets
//! [`ServerAsked`]. (The local cluster's in-process client has no retry layer at all.)
//!
//! Those clients also send client-go's form of user agent, `kubarium/<version> (…)`, which
//! kube-rs leaves out: the server records the app's writes under field manager `kubarium`
//! (and audit logs name it), as the embedded cluster's client does.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use kube::client::{Body, ClientBuilder, DynBody};
use tower::buffer::BufferLayer;
use tower::layer::util::Identity;
use tower::retry::{Policy, RetryLayer};
use tower::util::BoxService;
use tower::{BoxError, Layer, Service, ServiceBuilder};

/// client-go's `maxRetries` for a request.
const MAX_RETRIES: u32 = 10;

/// Requests queued for the retrying service (as many as kube's own buffer takes).
const QUEUE: usize = 1024;

/// kube-rs's stack as `ClientBuilder::try_from` builds it.
type Stack = BoxService<Request<Body>, Response<Box<DynBody>>, BoxError>;

/// A client for `config` whose requests are resent only when the server asks (see the
/// module's doc).
pub(crate) fn client(config: kube::Config) -> kube::Result<kube::Client> {
    client_with(config, &Identity::new())
}

/// As [`client`], with `layer` around kube-rs's stack, inside the retries.
pub(crate) fn client_with<L>(mut config: kube::Config, layer: &L) -> kube::Result<kube::Client>
where
    L: Layer<Stack>,
    L::Service: Service<Request<Body>, Response = Response<Box<DynBody>>, Error = BoxError>
        + Send
        + 'static,
    <L::Service as Service<Request<Body>>>::Future: Send + 'static,
{
    config.default_retry = false;
    // kube-rs sends no user agent; the server would record the app's writes as manager
    // "unknown".
    kubarium_cluster::name_client(&mut config, "kubarium");
    // The retry layer clones the service for each attempt: kube-rs's stack is boxed, not
    // `Clone`, so a buffer (a handle to one worker) stands in front of it.
    let retrying = ServiceBuilder::new()
        .layer(RetryLayer::new(ServerAsked::default()))
        .layer(BufferLayer::new(QUEUE))
        .into_inner();
    Ok(ClientBuilder::try_from(config)?
        .with_layer(layer)
        .with_layer(&retrying)
        .build())
}

/// client-go's retry policy: a 429 or 5xx with a `Retry-After` is sent again after that
/// many seconds, up to [`MAX_RETRIES`] times; anything else is the caller's answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerAsked {
    retries: u32,
}

impl<B> Policy<Request<Body>, Response<B>, BoxError> for ServerAsked {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let wait = server_asked_wait(result.as_ref().ok()?)?;
        if self.retries >= MAX_RETRIES {
            return None;
        }
        self.retries += 1;
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        // A streamed body cannot be sent twice; such a request is never resent.
        let mut clone = Request::new(request.body().try_clone()?);
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

/// How long the server asked to wait before the same request, as client-go's `checkWait`:
/// only a 429 or 5xx asks, and only with `Retry-After` in whole seconds (a negative one is
/// no wait).
fn server_asked_wait<B>(response: &Response<B>) -> Option<Duration> {
    let status = response.status();
    if status != StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
        return None;
    }
    let seconds: i64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.max(0).unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Result<Response<()>, BoxError> {
        let mut response = Response::builder().status(status);
        if let Some(value) = retry_after {
            response = response.header(RETRY_AFTER, value);
        }
        Ok(response.body(()).unwrap())
    }

    /// Whether `policy` sends the request again after `answer`.
    fn resends(policy: &mut ServerAsked, mut answer: Result<Response<()>, BoxError>) -> bool {
        let mut request = Request::new(Body::from(b"{}".to_vec()));
        policy.retry(&mut request, &mut answer).is_some()
    }

    #[tokio::test]
    async fn only_a_429_or_5xx_with_retry_after_is_sent_again() {
        let mut policy = ServerAsked::default();
        // A disruption budget's refusal: retryAfterSeconds 0, no header.
        assert!(!resends(&mut policy, answer(429, None)));
        assert!(!resends(&mut policy, answer(503, None)));
        assert!(!resends(&mut policy, answer(504, None)));
        assert!(!resends(&mut policy, answer(409, Some("1"))));
        assert!(!resends(&mut policy, answer(200, Some("1"))));
        assert!(!resends(&mut policy, answer(429, Some("soon"))));
        assert!(!resends(&mut policy, Err("connection reset".into())));
        assert!(resends(&mut policy, answer(429, Some("1"))));
        assert!(resends(&mut policy, answer(500, Some("0"))));
        assert!(resends(&mut policy, answer(504, Some(" 10 "))));
    }

    #[test]
    fn the_wait_is_the_servers() {
        let wait = |status, value| server_asked_wait(&answer(status, Some(value)).unwrap());
        assert_eq!(wait(429, "10"), Some(Duration::from_secs(10)));
        assert_eq!(wait(503, "-3"), Some(Duration::ZERO));
        assert_eq!(wait(429, "Wed, 21 Oct 2026 07:28:00 GMT"), None);
    }

    #[tokio::test]
    async fn a_request_is_sent_again_ten_times_at_most() {
        let mut policy = ServerAsked::default();
        for _ in 0..MAX_RETRIES {
            assert!(resends(&mut policy, answer(429, Some("1"))));
        }
        assert!(!resends(&mut policy, answer(429, Some("1"))));
    }

    /// A server on 127.0.0.1 that answers its first request with 429 and `retry_after`, the
    /// next ones with `/version`; returns its URL and how many requests it got.
    async fn throttling(
        retry_after: Option<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let served = std::sync::Arc::new(AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&served);
        let answer = move || {
            let first = count.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                let mut response = Response::builder().header("content-type", "application/json");
                if first {
                    response = response.status(429);
                    if let Some(value) = retry_after {
                        response = response.header(RETRY_AFTER, value);
                    }
                    let status = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down","reason":"TooManyRequests","code":429}"#;
                    return response.body(axum::body::Body::from(status)).unwrap();
                }
                response.body(axum::body::Body::from(VERSION)).unwrap()
            }
        };
        (serve(axum::Router::new().fallback(answer)).await, served)
    }

    /// What the test servers answer to `/version`.
    const VERSION: &str = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":""}"#;

    /// Serves `router` on a free port of 127.0.0.1; returns its URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn the_client_resends_only_what_the_server_asks_for() {
        use std::sync::atomic::Ordering;
        let (url, served) = throttling(Some("0")).await;
        let resending = client(kube::Config::new(url.parse().unwrap())).unwrap();
        let version = resending.apiserver_version().await.unwrap();
        assert_eq!(version.git_version, "v1.33.0");
        assert_eq!(served.load(Ordering::SeqCst), 2);

        let (url, served) = throttling(None).await;
        let resending = client(kube::Config::new(url.parse().unwrap())).unwrap();
        let Err(kube::Error::Api(status)) = resending.apiserver_version().await else {
            panic!("a 429 without Retry-After was not the caller's answer");
        };
        assert_eq!(status.code, 429);
        assert_eq!(served.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_client_names_itself_kubarium() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let agent = std::sync::Arc::clone(&seen);
        let answer = move |request: Request<axum::body::Body>| {
            *agent.lock().unwrap() = request.headers().get(http::header::USER_AGENT).cloned();
            async move {
                Response::builder()
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(VERSION))
                    .unwrap()
            }
        };
        let url = serve(axum::Router::new().fallback(answer)).await;

        let remote = client(kube::Config::new(url.parse().unwrap())).unwrap();
        remote.apiserver_version().await.unwrap();
        let agent = seen.lock().unwrap().clone().unwrap();
        let agent = agent.to_str().unwrap();
        assert!(agent.starts_with("kubarium/v1."), "{agent}");
    }

    #[test]
    fn a_request_is_cloned_whole() {
        let mut policy = ServerAsked::default();
        let request = Request::post("/api/v1/namespaces/default/pods/web/eviction")
            .header("content-type", "application/json")
            .body(Body::from(b"{}".to_vec()))
            .unwrap();
        let clone =
            Policy::<_, Response<()>, BoxError>::clone_request(&mut policy, &request).unwrap();
        assert_eq!(clone.method(), request.method());
        assert_eq!(clone.uri(), request.uri());
        assert_eq!(clone.headers(), request.headers());
    }
}
