//! Port-forward end to end in process: the router served over a loopback socket with
//! upgrades, a client that upgrades to SPDY/3.1 and opens error and data streams as
//! kubectl does, and a node agent whose port 7 echoes and whose port 81 refuses.

use std::sync::Arc;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::Request;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::kubelet::{BoxFuture, ByteStream, Duplex, ExecRequest, Kubelet, LogRequest, Session};
use crate::spdy::frame::{Decoder, Encoder, Frame, Headers};
use crate::testing::{self, TOKEN};
use crate::{ApiServer, StatusError};

const REFUSED: &str =
    "error forwarding port 81 to pod abc, uid : dial tcp4 10.0.0.7:81: connect: connection refused";

struct EchoKubelet;

impl Kubelet for EchoKubelet {
    fn logs(&self, _: Pod, _: LogRequest) -> BoxFuture<'_, Result<ByteStream, StatusError>> {
        Box::pin(async { Err(StatusError::bad_request("no logs")) })
    }

    fn exec(&self, _: Pod, _: ExecRequest) -> BoxFuture<'_, Result<Session, StatusError>> {
        Box::pin(async { Err(StatusError::bad_request("no exec")) })
    }

    fn port_forward(
        &self,
        _: Pod,
        port: u16,
    ) -> BoxFuture<'_, Result<Box<dyn Duplex>, StatusError>> {
        Box::pin(async move {
            if port != 7 {
                return Err(StatusError::internal(REFUSED));
            }
            let (ours, mut theirs) = tokio::io::duplex(1 << 16);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    match theirs.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if theirs.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = theirs.shutdown().await;
            });
            Ok(Box::new(ours) as Box<dyn Duplex>)
        })
    }
}

/// A server with pod `web` on node n1 and the echoing agent, listening on loopback.
async fn serve() -> (ApiServer, u16) {
    let server = testing::server();
    server.bootstrap().await.unwrap();
    let pod = json!({
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "busybox"}], "nodeName": "n1"},
    });
    let request = Request::post("/api/v1/namespaces/default/pods")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(pod.to_string()))
        .unwrap();
    let (response, body) = testing::send(&server, request).await;
    assert_eq!(response.status(), 201, "{body}");
    server.connect_kubelet(Arc::new(EchoKubelet));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = crate::router(server.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    (server, port)
}

/// Sends the upgrade request; the status line and the connection.
async fn upgrade(port: u16, protocol: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /api/v1/namespaces/default/pods/web/portforward HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read the response head byte by byte, so no SPDY byte is consumed with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    (head.lines().next().unwrap_or_default().to_owned(), stream)
}

struct Client {
    stream: TcpStream,
    encoder: Encoder,
    decoder: Decoder,
    buf: BytesMut,
}

impl Client {
    async fn send(&mut self, frame: Frame) {
        let mut out = BytesMut::new();
        self.encoder.encode(&frame, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            if self.stream.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    /// Opens the error and data streams of request `id` to `port`, as kubectl does.
    async fn open_pair(&mut self, first: u32, id: u32, port: u16) {
        for (stream_id, stream_type) in [(first, "error"), (first + 2, "data")] {
            self.send(Frame::SynStream {
                stream_id,
                associated: 0,
                priority: 0,
                fin: false,
                unidirectional: false,
                headers: Headers(vec![
                    ("streamtype".into(), stream_type.into()),
                    ("port".into(), port.to_string()),
                    ("requestid".into(), id.to_string()),
                ]),
            })
            .await;
        }
        // kubectl closes its half of the error stream at once.
        self.send(Frame::Data {
            stream_id: first,
            fin: true,
            data: Bytes::new(),
        })
        .await;
    }

    /// Everything sent on `stream_id` until its FIN.
    async fn read_stream(&mut self, stream_id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match self.next().await {
                Some(Frame::Data {
                    stream_id: id,
                    fin,
                    data,
                }) if id == stream_id => {
                    out.extend_from_slice(&data);
                    if fin {
                        return out;
                    }
                }
                Some(_) => {}
                None => panic!("the connection ended before stream {stream_id} did"),
            }
        }
    }
}

#[tokio::test]
async fn a_forwarded_connection_echoes_and_a_refused_one_reports_on_its_error_stream() {
    let (_server, port) = serve().await;
    let (status, stream) = upgrade(port, "portforward.k8s.io").await;
    assert!(status.contains("101"), "{status}");
    let mut client = Client {
        stream,
        encoder: Encoder::new().unwrap(),
        decoder: Decoder::new(),
        buf: BytesMut::new(),
    };

    client.open_pair(1, 0, 7).await;
    client
        .send(Frame::Data {
            stream_id: 3,
            fin: true,
            data: Bytes::from_static(b"through the pod\n"),
        })
        .await;
    assert_eq!(client.read_stream(3).await, b"through the pod\n");
    assert_eq!(client.read_stream(1).await, b"", "no error");

    client.open_pair(5, 1, 81).await;
    assert_eq!(client.read_stream(5).await, REFUSED.as_bytes());
}

#[tokio::test]
async fn upgrades_need_the_port_forward_protocol() {
    let (_server, port) = serve().await;
    let (status, _) = upgrade(port, "v4.channel.k8s.io").await;
    assert!(status.contains("403"), "{status}");

    let request = Request::post("/api/v1/namespaces/default/pods/web/portforward")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (server, _) = serve().await;
    let (response, body) = testing::send(&server, request).await;
    assert_eq!(response.status(), 400, "{body}");
    assert!(body.contains("Upgrade request required"), "{body}");
}
