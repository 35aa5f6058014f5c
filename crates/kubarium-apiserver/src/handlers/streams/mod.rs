//! The streaming subresources of pods: `log` (a chunked text stream), `exec` and `attach`
//! (the WebSocket channel protocols kubectl 1.30+ and client-go speak, and SPDY/3.1 for
//! older kubectl). The
//! server does the wire protocols; the bytes come from the node agents through the
//! [`crate::kubelet::Kubelet`] the cluster connects.
//!
//! What is checked here is what kube-apiserver checks before it proxies to a kubelet
//! (`pkg/registry/core/pod/strategy.go`): the options, the container (defaulted when the pod
//! has one, else named with the choices), and that the pod is on a node.

mod channel;
mod exec;
mod log;
mod spdy;

use std::sync::Arc;

use axum::response::Response;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

use super::Call;
use crate::StatusError;
use crate::kubelet::Kubelet;

pub(crate) async fn handle(call: &mut Call, sub: &str) -> Result<Response, StatusError> {
    let name = call.target.name.clone().unwrap_or_default();
    let stored = super::read::parse(&super::write::load(call, &name)?)?;
    let pod = Pod::deserialize(&stored).map_err(|e| {
        StatusError::internal(format!("the stored pod {name} could not be read: {e}"))
    })?;
    let query = Query::parse(call.query.as_deref())?;
    match sub {
        "log" => log::serve(call, pod, &query).await,
        "exec" | "attach" => exec::serve(call, pod, &query, sub == "attach").await,
        _ => Err(StatusError::path_not_found()),
    }
}

/// The pod's node agent: a 400 when the pod is on no node (as upstream), a 503 while no
/// agents are connected.
fn kubelet(call: &Call, pod: &Pod, sub: &str) -> Result<Arc<dyn Kubelet>, StatusError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default();
    if node.is_empty() {
        return Err(StatusError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    call.server.kubelet().cloned().ok_or_else(|| {
        StatusError::service_unavailable(format!(
            "cannot {sub} pod {name}: no node agent serves node {node:?}; node agents connect when the cluster runs nodes"
        ))
    })
}

/// The container a request is about: the one named (which must be in the pod), else the
/// pod's only container; with several, a 400 naming the choices, as upstream.
fn container(pod: &Pod, requested: Option<&str>) -> Result<String, StatusError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let names = |containers: &[k8s_openapi::api::core::v1::Container]| {
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let init = spec.init_containers.unwrap_or_default();
    match requested.filter(|c| !c.is_empty()) {
        Some(requested) => {
            let ephemeral = spec.ephemeral_containers.unwrap_or_default();
            let known = spec.containers.iter().any(|c| c.name == requested)
                || init.iter().any(|c| c.name == requested)
                || ephemeral.iter().any(|c| c.name == requested);
            if known {
                Ok(requested.to_owned())
            } else {
                Err(StatusError::bad_request(format!(
                    "container {requested} is not valid for pod {name}"
                )))
            }
        }
        None => match spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(StatusError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names(many)
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        names(&init)
                    ));
                }
                Err(StatusError::bad_request(message))
            }
        },
    }
}

/// A request's query parameters in order, repeated ones kept (`command=sh&command=-c`).
#[derive(Debug, Default)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Result<Self, StatusError> {
        serde_urlencoded::from_str(query.unwrap_or_default())
            .map(Query)
            .map_err(|e| StatusError::bad_request(format!("invalid query parameters: {e}")))
    }

    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as upstream's query conversion reads one: absent, `0` and `false` are
    /// false, anything else (`1`, `true`, an empty `?follow`) is true.
    fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    /// An integer parameter; a 400 when it is not one.
    fn int(&self, key: &str) -> Result<Option<i64>, StatusError> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    StatusError::bad_request(format!(
                        "invalid value {v:?} for query parameter {key}: it must be an integer"
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(containers: &[&str], init: &[&str]) -> Pod {
        let list = |names: &[&str]| {
            names
                .iter()
                .map(|n| json!({"name": n, "image": "busybox"}))
                .collect::<Vec<_>>()
        };
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": list(containers), "initContainers": list(init)},
        }))
        .unwrap()
    }

    #[test]
    fn the_only_container_is_the_default() {
        assert_eq!(container(&pod(&["app"], &["setup"]), None).unwrap(), "app");
        assert_eq!(container(&pod(&["app"], &[]), Some("")).unwrap(), "app");
    }

    #[test]
    fn several_containers_need_a_choice_named_as_upstream() {
        let error = container(&pod(&["app", "sidecar"], &[]), None).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(
            error.message,
            "a container name must be specified for pod web, choose one of: [app sidecar]"
        );
        let error = container(&pod(&["app", "sidecar"], &["setup"]), None).unwrap_err();
        assert_eq!(
            error.message,
            "a container name must be specified for pod web, choose one of: [app sidecar] or one of the init containers: [setup]"
        );
    }

    #[test]
    fn a_named_container_must_be_in_the_pod() {
        let pod = pod(&["app", "sidecar"], &["setup"]);
        assert_eq!(container(&pod, Some("setup")).unwrap(), "setup");
        let error = container(&pod, Some("db")).unwrap_err();
        assert_eq!(error.code, 400);
        assert_eq!(error.message, "container db is not valid for pod web");
    }

    #[test]
    fn query_flags_and_repeats_read_as_upstream() {
        let query = Query::parse(Some(
            "command=sh&command=-c&command=echo%20hi&stdin=1&tty=false&follow",
        ))
        .unwrap();
        assert_eq!(query.all("command"), ["sh", "-c", "echo hi"]);
        assert!(query.flag("stdin"));
        assert!(query.flag("follow"));
        assert!(!query.flag("tty"));
        assert!(!query.flag("stdout"));
        let error = Query::parse(Some("tailLines=ten"))
            .unwrap()
            .int("tailLines")
            .unwrap_err();
        assert_eq!(error.code, 400);
    }
}

#[cfg(test)]
mod router_tests {
    //! The subresources through the router, with a node agent that answers from memory.

    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use bytes::Bytes;
    use http::Request;
    use serde_json::{Value, json};

    use crate::kubelet::{
        BoxFuture, ByteStream, Duplex, ExecRequest, Kubelet, LogRequest, Session,
    };
    use crate::testing::{self, TOKEN};
    use crate::{ApiServer, StatusError};

    #[derive(Default)]
    struct FakeKubelet {
        logs: Mutex<Vec<LogRequest>>,
    }

    impl Kubelet for FakeKubelet {
        fn logs(
            &self,
            _: k8s_openapi::api::core::v1::Pod,
            request: LogRequest,
        ) -> BoxFuture<'_, Result<ByteStream, StatusError>> {
            self.logs.lock().unwrap().push(request);
            Box::pin(async {
                let lines = ["one\n", "two\n"].map(|l| Ok(Bytes::from(l)));
                Ok(Box::pin(futures_util::stream::iter(lines)) as ByteStream)
            })
        }

        fn exec(
            &self,
            _: k8s_openapi::api::core::v1::Pod,
            _: ExecRequest,
        ) -> BoxFuture<'_, Result<Session, StatusError>> {
            Box::pin(async { Err(StatusError::bad_request("no processes here")) })
        }

        fn port_forward(
            &self,
            _: k8s_openapi::api::core::v1::Pod,
            _: u16,
        ) -> BoxFuture<'_, Result<Box<dyn Duplex>, StatusError>> {
            Box::pin(async { Err(StatusError::service_unavailable("no")) })
        }
    }

    async fn server_with_pod(containers: &[&str], node: Option<&str>) -> ApiServer {
        let server = testing::server();
        server.bootstrap().await.unwrap();
        let containers: Vec<Value> = containers
            .iter()
            .map(|n| json!({"name": n, "image": "busybox"}))
            .collect();
        let pod = json!({
            "metadata": {"name": "web"},
            "spec": {"containers": containers, "nodeName": node},
        });
        let request = Request::post("/api/v1/namespaces/default/pods")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(Body::from(pod.to_string()))
            .unwrap();
        let (response, body) = testing::send(&server, request).await;
        assert_eq!(response.status(), 201, "{body}");
        server
    }

    async fn get(server: &ApiServer, path: &str) -> (u16, String, String) {
        let (response, body) = testing::get(server, path).await;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status().as_u16(), content_type, body)
    }

    #[tokio::test]
    async fn without_node_agents_the_streams_answer_503() {
        let server = server_with_pod(&["app"], Some("n1")).await;
        let (code, _, body) = get(&server, "/api/v1/namespaces/default/pods/web/log").await;
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("no node agent serves node"), "{body}");
    }

    #[tokio::test]
    async fn logs_stream_as_text_from_the_default_container() {
        let server = server_with_pod(&["app"], Some("n1")).await;
        let kubelet = Arc::new(FakeKubelet::default());
        server.connect_kubelet(kubelet.clone());
        let (code, content_type, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/log?tailLines=2&timestamps=true",
        )
        .await;
        assert_eq!((code, content_type.as_str()), (200, "text/plain"), "{body}");
        assert_eq!(body, "one\ntwo\n");
        let asked = kubelet.logs.lock().unwrap().clone();
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].container, "app");
        assert_eq!(asked[0].tail_lines, Some(2));
        assert!(asked[0].timestamps && !asked[0].follow);

        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/log?limitBytes=5",
        )
        .await;
        assert_eq!((code, body.as_str()), (200, "one\nt"));
        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/log?tailLines=-1",
        )
        .await;
        assert_eq!(code, 422, "{body}");
        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/log?container=db",
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body.contains("container db is not valid for pod web"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn an_unscheduled_pod_has_an_empty_log_and_no_exec() {
        let server = server_with_pod(&["app"], None).await;
        server.connect_kubelet(Arc::new(FakeKubelet::default()));
        let (code, _, body) = get(&server, "/api/v1/namespaces/default/pods/web/log").await;
        assert_eq!((code, body.as_str()), (200, ""));
        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=1",
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(
            body.contains("pod web does not have a host assigned"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn exec_needs_a_websocket_upgrade_and_a_container_choice() {
        let server = server_with_pod(&["app", "sidecar"], Some("n1")).await;
        server.connect_kubelet(Arc::new(FakeKubelet::default()));
        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=1",
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("choose one of: [app sidecar]"), "{body}");
        let (code, _, body) = get(
            &server,
            "/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=1&container=app",
        )
        .await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("Upgrade request required"), "{body}");
    }
}
