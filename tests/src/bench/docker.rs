//! A minimal Docker Engine API client for the benchmarks: JSON over one HTTP/1.1 connection
//! on the engine's Unix socket, the same API the node agents use through bollard, without
//! the CLI's process start-up in the figures.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

/// The engine API version asked for: Debian 12's engine (20.10) speaks 1.41, newer ones too.
const API: &str = "/v1.41";

/// One connection to the engine.
pub struct Engine {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Engine {
    /// Connects to `$DOCKER_HOST` (a `unix://` one) or `/var/run/docker.sock`.
    pub async fn connect() -> anyhow::Result<Self> {
        let socket = match std::env::var("DOCKER_HOST") {
            Ok(host) => host
                .strip_prefix("unix://")
                .map(str::to_owned)
                .with_context(|| format!("DOCKER_HOST={host} is not a unix:// socket"))?,
            Err(_) => "/var/run/docker.sock".to_owned(),
        };
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .with_context(|| format!("no Docker engine answers at {socket}"))?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self { sender })
    }

    /// `method path` with an optional JSON body; the answer's JSON (`Null` when empty).
    /// Fails on any status from 400 up, with the engine's message.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let bytes = match body {
            Some(body) => Bytes::from(serde_json::to_vec(body)?),
            None => Bytes::new(),
        };
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("{API}{path}"))
            .header(http::header::HOST, "docker")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status.as_u16() >= 400 {
            bail!(
                "Docker answered {status} to {method} {path}: {}",
                String::from_utf8_lossy(&body).trim()
            );
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Creates a container from `config` (the API's JSON) named `name`; its id.
    pub async fn create(&mut self, name: &str, config: &Value) -> anyhow::Result<String> {
        let created = self
            .call(
                Method::POST,
                &format!("/containers/create?name={name}"),
                Some(config),
            )
            .await?;
        created["Id"]
            .as_str()
            .map(str::to_owned)
            .context("Docker returned no container id")
    }

    pub async fn start(&mut self, id: &str) -> anyhow::Result<()> {
        self.call(Method::POST, &format!("/containers/{id}/start"), None)
            .await?;
        Ok(())
    }

    /// Ids of the containers (running or not) carrying `label` (`key=value`).
    pub async fn containers_labelled(&mut self, label: &str) -> anyhow::Result<Vec<String>> {
        let filters = serde_json::json!({"label": [label]}).to_string();
        let list = self
            .call(
                Method::GET,
                &format!("/containers/json?all=1&filters={}", urlencode(&filters)),
                None,
            )
            .await?;
        Ok(list
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Removes the containers carrying `label`, running or not.
    pub async fn remove_labelled(&mut self, label: &str) -> anyhow::Result<()> {
        for id in self.containers_labelled(label).await? {
            self.call(
                Method::DELETE,
                &format!("/containers/{id}?force=1&v=1"),
                None,
            )
            .await?;
        }
        Ok(())
    }
}

/// Percent-encodes a query value.
pub fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
