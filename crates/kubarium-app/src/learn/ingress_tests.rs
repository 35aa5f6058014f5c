//! Tests of the ingress GET: answers parsed whole and in pieces, a real exchange with a
//! listener on this machine, the errors, and the port read from an Ingress's status on a
//! hollow cluster.

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::actions::testing::{Hollow, eventually};
use crate::ipc::ErrorCode;
use crate::ipc::learn::HttpAnswer;

fn answered(status: u16, body: &str) -> Option<HttpAnswer> {
    Some(HttpAnswer {
        status,
        body: body.to_owned(),
    })
}

#[test]
fn a_content_length_answer_is_whole_at_its_length() {
    let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
    assert_eq!(answer(full, false).unwrap(), answered(200, "hello"));
    assert_eq!(answer(&full[..full.len() - 2], false).unwrap(), None);
    assert_eq!(answer(b"HTTP/1.1 200 OK\r\nContent-", false).unwrap(), None);
    // Cut short by the server: what came is the answer.
    assert_eq!(
        answer(&full[..full.len() - 2], true).unwrap(),
        answered(200, "hel")
    );
}

#[test]
fn a_chunked_answer_is_decoded_and_whole_at_its_last_chunk() {
    let full = b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n4\r\nnot \r\n6;x=y\r\nready\n\r\n0\r\n\r\n";
    assert_eq!(answer(full, false).unwrap(), answered(503, "not ready\n"));
    assert_eq!(answer(&full[..full.len() - 7], false).unwrap(), None);
}

#[test]
fn an_answer_without_length_ends_with_the_connection() {
    let body = b"HTTP/1.0 404 Not Found\r\n\r\nno route";
    assert_eq!(answer(body, false).unwrap(), None);
    assert_eq!(answer(body, true).unwrap(), answered(404, "no route"));
    assert_eq!(
        answer(b"HTTP/1.1 204 No Content\r\n\r\n", false).unwrap(),
        answered(204, "")
    );
}

#[test]
fn a_long_body_is_capped() {
    let mut full = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", CAP + 10).into_bytes();
    full.extend(std::iter::repeat_n(b'x', CAP + 10));
    let answer = answer(&full, false).unwrap().unwrap();
    assert_eq!(answer.body.len(), CAP);
}

#[test]
fn garbage_and_silence_are_errors() {
    assert!(answer(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err());
    assert!(answer(b"", true).unwrap_err().contains("without an answer"));
    assert!(answer(b"HTTP/1.1 200", true).is_err());
}

#[test]
fn urls_name_the_port_unless_it_is_80() {
    assert_eq!(
        url("blue.localhost", 8080).unwrap(),
        "http://blue.localhost:8080/"
    );
    assert_eq!(url("blue.localhost", 80).unwrap(), "http://blue.localhost/");
    assert!(url("blue.localhost/evil", 80).is_err());
    assert!(url("", 80).is_err());
}

/// The request carries the host and path asked for, and the answer comes back whole.
#[tokio::test]
async fn a_get_reaches_the_port_with_the_host() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, request) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n")
            .await
            .unwrap();
        let _ = seen.send(String::from_utf8(request).unwrap());
        // Left open after the answer: a whole answer must not wait for the close.
        std::future::pending::<()>().await;
        drop(socket);
    });
    let answer = get(port, "blue.localhost", "/api?x=1").await.unwrap();
    assert_eq!(
        answer,
        HttpAnswer {
            status: 200,
            body: "hi\n".to_owned()
        }
    );
    let request = request.await.unwrap();
    assert!(
        request.starts_with("GET /api?x=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("\r\nHost: blue.localhost\r\n"),
        "{request}"
    );
    server.abort();
}

#[tokio::test]
async fn nothing_listening_is_a_clear_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = crate::ipc::AppError::from(get(port, "blue.localhost", "/").await.unwrap_err());
    assert_eq!(error.code, ErrorCode::Local);
    assert!(
        error
            .message
            .contains("Nothing answered http://blue.localhost/"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        error.message
    );
    assert!(get(port, "blue.localhost", "no-slash").await.is_err());
    assert!(get(port, "blue.localhost", "/a b").await.is_err());
}

#[tokio::test]
async fn the_request_line_is_checked_before_anything_is_sent() {
    let error = get(1, "blue.localhost\r\nX: y", "/").await.unwrap_err();
    assert!(error.to_string().contains("not a host name"), "{error}");
}

/// With the port left to the controller (0), it is read from the status the controller
/// gives an Ingress it serves.
#[tokio::test]
async fn the_port_chosen_at_start_is_read_from_the_ingress_status() {
    let hollow = Hollow::start().await;
    let none = ingress_port(&hollow.local).await.unwrap_err();
    assert!(none.to_string().contains("no port yet"), "{none}");
    hollow
        .create::<Ingress>(json!({
            "metadata": {"name": "blue"},
            "spec": {"rules": [{"host": "blue.localhost", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "blue", "port": {"number": 80}}}
            }]}}]},
        }))
        .await;
    let ingresses = Api::<Ingress>::default_namespaced(hollow.client.clone());
    let published = eventually("the Ingress's status", || async {
        let ingress = ingresses.get("blue").await.ok()?;
        let ports = ingress
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .ports
            .clone()?;
        u16::try_from(ports.first()?.port).ok()
    })
    .await;
    assert_ne!(published, 0);
    assert_eq!(ingress_port(&hollow.local).await.unwrap(), published);
    hollow.stop().await;
}

#[test]
fn the_status_port_skips_ingresses_without_one() {
    let unserved: Ingress = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    let served: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "b"},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": [
            {"port": 61000, "protocol": "TCP"}, {"port": 61001, "protocol": "TCP"}
        ]}]}}
    }))
    .unwrap();
    assert_eq!(port_from_status(std::slice::from_ref(&unserved)), None);
    assert_eq!(port_from_status(&[unserved, served]), Some(61000));
}
