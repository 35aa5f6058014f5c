//! `/healthz`, `/livez` and `/readyz`, with kube-apiserver's semantics.
//!
//! Each endpoint runs a list of named checks. Plain text `ok` when all pass; `?verbose` lists
//! every check as `[+]name ok`; `?exclude=name` skips one; `/<endpoint>/<name>` runs one
//! alone. A failing check makes the endpoint answer 500 with the failed check's reason
//! withheld unless verbose, exactly as upstream, so probes and scripts written for a real
//! cluster read ours the same way.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::{ApiServer, StatusError};

/// The three health endpoints upstream serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Healthz,
    Livez,
    Readyz,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
        }
    }

    /// The checks this endpoint runs, in the order they are reported.
    fn checks(self) -> &'static [Check] {
        match self {
            Endpoint::Healthz | Endpoint::Livez => &[Check::Ping],
            Endpoint::Readyz => &[Check::Ping, Check::Shutdown],
        }
    }
}

/// A named health check. Component checks (store, informers) join as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Answers whenever the server can answer at all.
    Ping,
    /// Fails once shutdown has begun, so traffic drains before the listener closes.
    Shutdown,
}

impl Check {
    fn name(self) -> &'static str {
        match self {
            Check::Ping => "ping",
            Check::Shutdown => "shutdown",
        }
    }

    fn run(self, server: &ApiServer) -> Result<(), String> {
        match self {
            Check::Ping => Ok(()),
            Check::Shutdown if server.is_shutting_down() => {
                Err("process is shutting down".to_owned())
            }
            Check::Shutdown => Ok(()),
        }
    }
}

pub(crate) fn routes() -> Router<ApiServer> {
    let mut router = Router::new();
    for endpoint in [Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz] {
        router = router
            .route(
                &format!("/{}", endpoint.name()),
                // Any method, as upstream's handlers answer them.
                any(
                    move |State(server): State<ApiServer>,
                          Query(query): Query<Vec<(String, String)>>| async move {
                        report(&server, endpoint, &query)
                    },
                ),
            )
            .route(
                &format!("/{}/{{check}}", endpoint.name()),
                any(
                    move |State(server): State<ApiServer>, Path(name): Path<String>| async move {
                        single(&server, endpoint, &name)
                    },
                ),
            );
    }
    router
}

/// Parsed `verbose` and `exclude` query parameters.
#[derive(Debug, Default)]
struct Options {
    verbose: bool,
    exclude: BTreeSet<String>,
}

impl Options {
    fn parse(query: &[(String, String)]) -> Self {
        Options {
            // Upstream treats the mere presence of `verbose` as true, whatever its value.
            verbose: query.iter().any(|(key, _)| key == "verbose"),
            exclude: query
                .iter()
                .filter(|(key, _)| key == "exclude")
                .map(|(_, value)| value.clone())
                .collect(),
        }
    }
}

fn report(server: &ApiServer, endpoint: Endpoint, query: &[(String, String)]) -> Response {
    let options = Options::parse(query);
    let mut lines = Vec::new();
    let mut failed = false;
    for check in endpoint.checks() {
        if options.exclude.contains(check.name()) {
            lines.push(format!("[+]{} excluded: ok", check.name()));
            continue;
        }
        match check.run(server) {
            Ok(()) => lines.push(format!("[+]{} ok", check.name())),
            Err(reason) => {
                failed = true;
                tracing::warn!(endpoint = endpoint.name(), check = check.name(), %reason, "health check failed");
                lines.push(format!("[-]{} failed: reason withheld", check.name()));
            }
        }
    }
    let unknown: Vec<String> = options
        .exclude
        .iter()
        .filter(|name| !endpoint.checks().iter().any(|c| c.name() == name.as_str()))
        .map(|name| format!("{name:?}"))
        .collect();
    if !unknown.is_empty() {
        lines.push(format!(
            "warn: some health checks cannot be excluded: no matches for {}",
            unknown.join(",")
        ));
    }
    if failed {
        lines.push(format!("{} check failed", endpoint.name()));
        return text(StatusCode::INTERNAL_SERVER_ERROR, lines.join("\n") + "\n");
    }
    if options.verbose {
        lines.push(format!("{} check passed", endpoint.name()));
        text(StatusCode::OK, lines.join("\n") + "\n")
    } else {
        text(StatusCode::OK, "ok".to_owned())
    }
}

fn single(server: &ApiServer, endpoint: Endpoint, name: &str) -> Response {
    let Some(check) = endpoint.checks().iter().find(|c| c.name() == name) else {
        return StatusError::path_not_found().into_response();
    };
    match check.run(server) {
        Ok(()) => text(StatusCode::OK, "ok".to_owned()),
        Err(reason) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {reason}\n"),
        ),
    }
}

fn text(code: StatusCode, body: String) -> Response {
    let mut response = (code, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use crate::testing;

    #[tokio::test]
    async fn plain_and_verbose() {
        let server = testing::server();
        for endpoint in ["/healthz", "/livez", "/readyz"] {
            let (response, body) = testing::get(&server, endpoint).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(body, "ok");
            assert_eq!(
                response.headers()["content-type"],
                "text/plain; charset=utf-8"
            );
        }
        let (_, body) = testing::get(&server, "/readyz?verbose").await;
        insta::assert_snapshot!(body, @"
        [+]ping ok
        [+]shutdown ok
        readyz check passed
        ");
        let (_, body) =
            testing::get(&server, "/livez?verbose=true&exclude=ping&exclude=nope").await;
        insta::assert_snapshot!(body, @r#"
        [+]ping excluded: ok
        warn: some health checks cannot be excluded: no matches for "nope"
        livez check passed
        "#);
    }

    #[tokio::test]
    async fn single_checks() {
        let server = testing::server();
        let (response, body) = testing::get(&server, "/readyz/shutdown").await;
        assert_eq!((response.status(), body.as_str()), (StatusCode::OK, "ok"));
        let (response, _) = testing::get(&server, "/livez/shutdown").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn readyz_fails_during_shutdown_but_livez_does_not() {
        let server = testing::server();
        server.begin_shutdown();
        let (response, body) = testing::get(&server, "/readyz").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        insta::assert_snapshot!(body, @"
        [+]ping ok
        [-]shutdown failed: reason withheld
        readyz check failed
        ");
        let (response, _) = testing::get(&server, "/livez").await;
        assert_eq!(response.status(), StatusCode::OK);
        let (response, body) = testing::get(&server, "/readyz/shutdown").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, "internal server error: process is shutting down\n");
    }

    #[tokio::test]
    async fn verbose_is_on_whenever_present_and_any_method_is_answered() {
        let server = testing::server();
        let (_, body) = testing::get(&server, "/livez?verbose=false&exclude=b&exclude=a").await;
        insta::assert_snapshot!(body, @r#"
        [+]ping ok
        warn: some health checks cannot be excluded: no matches for "a","b"
        livez check passed
        "#);
        let request = http::Request::post("/healthz")
            .header("authorization", format!("Bearer {}", testing::TOKEN))
            .body(axum::body::Body::empty())
            .unwrap();
        let (response, body) = testing::send(&server, request).await;
        assert_eq!((response.status(), body.as_str()), (StatusCode::OK, "ok"));
    }
}
