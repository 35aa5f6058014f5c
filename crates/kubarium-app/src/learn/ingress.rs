//! GETs through the local cluster's ingress controller, as a browser asking for
//! `http://blue.localhost/api` would: to 127.0.0.1 at the controller's HTTP port, with the
//! Ingress rule's host in `Host`. The port is the configured one, or, when it was left to
//! the controller (0), the one the controller publishes in the Ingresses' status.
//!
//! The request is plain HTTP/1.1 written here (a GET and its answer are small; no client
//! library is needed for one request on one connection).

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kubarium_controllers::objects::Objects;
use kube::api::ListParams;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::ipc::learn::HttpAnswer;
use crate::{Error, LocalCluster, Result};

/// The most of a body kept.
pub(crate) const CAP: usize = 64 * 1024;
/// How long the whole request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most header bytes read before the answer is called malformed.
const HEADER_CAP: usize = 16 * 1024;

/// The local ingress controller's HTTP port: the configured one, else the one its
/// Ingresses' status shows.
pub(super) async fn ingress_port(local: &LocalCluster) -> Result<u16> {
    let configured = local.configured_ingress_http_port();
    if configured != 0 {
        return Ok(configured);
    }
    let ingresses = Objects::<Ingress>::all(local.client().await?)
        .list(&ListParams::default())
        .await?;
    port_from_status(&ingresses.items).ok_or_else(|| {
        Error::Local(
            "The local ingress controller has no port yet: it is given one when it starts serving the first Ingress. Create an Ingress, wait until its ADDRESS shows, and try again.".to_owned(),
        )
    })
}

/// The HTTP port in the first Ingress status that has one. The controller publishes its
/// HTTP port first, then HTTPS (kubarium-node's ingress unit), on every Ingress it serves.
pub(crate) fn port_from_status(ingresses: &[Ingress]) -> Option<u16> {
    ingresses
        .iter()
        .filter_map(|ingress| {
            ingress
                .status
                .as_ref()?
                .load_balancer
                .as_ref()?
                .ingress
                .as_ref()
        })
        .flatten()
        .filter_map(|entry| entry.ports.as_ref()?.first())
        .filter(|port| port.error.is_none())
        .find_map(|port| u16::try_from(port.port).ok().filter(|p| *p != 0))
}

/// The address to open `host` through the controller at `port` in a browser.
pub(super) fn url(host: &str, port: u16) -> Result<String> {
    check_host(host)?;
    Ok(if port == 80 {
        format!("http://{host}/")
    } else {
        format!("http://{host}:{port}/")
    })
}

/// GETs `path` from 127.0.0.1:`port` with `Host: host`; any HTTP status is an answer.
pub(super) async fn get(port: u16, host: &str, path: &str) -> Result<HttpAnswer> {
    check_host(host)?;
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Local(format!(
            "The path {path:?} cannot be requested: it must start with / and have no spaces (encode them as %20)."
        )));
    }
    let address = format!("127.0.0.1:{port}");
    match tokio::time::timeout(TIMEOUT, exchange(&address, host, path)).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(reason)) => Err(Error::Local(format!(
            "Nothing answered http://{host}{path} through the local ingress controller at {address}: {reason}. Check that the cluster runs and that an Ingress serves {host} (its ADDRESS shows once the controller serves it), then try again."
        ))),
        Err(_) => Err(Error::Local(format!(
            "http://{host}{path} did not answer within {} s through the local ingress controller at {address}. Check that the Service behind the Ingress has ready pods, then try again.",
            TIMEOUT.as_secs()
        ))),
    }
}

/// An Ingress host as a Host header and URL can carry it.
fn check_host(host: &str) -> Result<()> {
    let fine = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if fine {
        Ok(())
    } else {
        Err(Error::Local(format!(
            "{host:?} is not a host name an Ingress rule can have; use letters, digits, dots and dashes, such as blue.localhost."
        )))
    }
}

/// One request on a new connection, read until the answer is whole.
async fn exchange(
    address: &str,
    host: &str,
    path: &str,
) -> std::result::Result<HttpAnswer, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kubarium\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("the request could not be sent ({e})"))?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("the answer broke off ({e})"))?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(answer) = answer(&buf, n == 0)? {
            return Ok(answer);
        }
    }
}

/// The answer in `buf` once it is whole (or at its end, `eof`); `None` while more is due.
pub(crate) fn answer(buf: &[u8], eof: bool) -> std::result::Result<Option<HttpAnswer>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if eof {
            return Err(if buf.is_empty() {
                "the connection closed without an answer".to_owned()
            } else {
                "the answer ended inside its headers".to_owned()
            });
        }
        if buf.len() > HEADER_CAP {
            return Err("the answer's headers are too long".to_owned());
        }
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| {
            let mut parts = line.split(' ');
            parts.next().filter(|v| v.starts_with("HTTP/"))?;
            parts.next()?.parse::<u16>().ok()
        })
        .ok_or_else(|| "the answer is not HTTP".to_owned())?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let raw = &buf[head_end + 4..];
    let (mut body, whole) = if status / 100 == 1 || status == 204 || status == 304 {
        (Vec::new(), true)
    } else if chunked {
        dechunk(raw)
    } else if let Some(length) = length {
        (raw[..raw.len().min(length)].to_vec(), raw.len() >= length)
    } else {
        (raw.to_vec(), false)
    };
    if !(whole || eof || body.len() >= CAP) {
        return Ok(None);
    }
    body.truncate(CAP);
    Ok(Some(HttpAnswer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }))
}

/// Decodes a chunked body as far as it has arrived; true once its last chunk has.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let line = String::from_utf8_lossy(&raw[..line_end]);
        let size = line.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            // Not chunked after all: keep what came.
            return (body, true);
        };
        if size == 0 {
            return (body, true);
        }
        let data = &raw[line_end + 2..];
        let available = data.len().min(size);
        body.extend_from_slice(&data[..available]);
        if data.len() < size + 2 {
            return (body, false);
        }
        raw = &data[size + 2..];
    }
}

#[cfg(test)]
#[path = "ingress_tests.rs"]
mod tests;
