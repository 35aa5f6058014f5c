//! `GET pods/<name>/log`: `PodLogOptions` from the query, validated as kube-apiserver does,
//! then the container's log as a chunked `text/plain` stream. With `follow` the response
//! stays open until the container ends or the client goes (dropping the body drops the node
//! agent's stream).

use axum::body::Body;
use axum::response::Response;
use futures_util::StreamExt;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

use super::{Call, Query};
use crate::StatusError;
use crate::kubelet::{ByteStream, LogRequest};

/// `PodLogOptions` as the query gives them, before the container is resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LogOptions {
    pub(super) container: Option<String>,
    pub(super) follow: bool,
    pub(super) previous: bool,
    pub(super) timestamps: bool,
    pub(super) tail_lines: Option<i64>,
    pub(super) since_seconds: Option<i64>,
    pub(super) since_time: Option<jiff::Timestamp>,
    pub(super) limit_bytes: Option<i64>,
}

impl LogOptions {
    /// Reads the options; a 400 for a value of the wrong type.
    pub(super) fn parse(query: &Query) -> Result<Self, StatusError> {
        let since_time = query
            .get("sinceTime")
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<jiff::Timestamp>().map_err(|_| {
                    StatusError::bad_request(format!(
                        "invalid value {v:?} for query parameter sinceTime: it must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"
                    ))
                })
            })
            .transpose()?;
        Ok(Self {
            container: query.get("container").map(str::to_owned),
            follow: query.flag("follow"),
            previous: query.flag("previous"),
            timestamps: query.flag("timestamps"),
            tail_lines: query.int("tailLines")?,
            since_seconds: query.int("sinceSeconds")?,
            since_time,
            limit_bytes: query.int("limitBytes")?,
        })
    }

    /// Upstream's `ValidatePodLogOptions`: a 422 `Invalid` on kind `PodLogOptions` naming
    /// every bad field.
    pub(super) fn validate(&self, pod: &str) -> Result<(), StatusError> {
        let mut causes = Vec::new();
        let invalid = |field: &str, value: i64, why: &str| StatusCause {
            reason: Some("FieldValueInvalid".to_owned()),
            message: Some(format!("Invalid value: {value}: {why}")),
            field: Some(field.to_owned()),
        };
        if let Some(tail) = self.tail_lines.filter(|t| *t < 0) {
            causes.push(invalid(
                "tailLines",
                tail,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(limit) = self.limit_bytes.filter(|l| *l < 1) {
            causes.push(invalid("limitBytes", limit, "must be greater than 0"));
        }
        match (self.since_seconds, self.since_time) {
            (Some(_), Some(_)) => causes.push(StatusCause {
                reason: Some("FieldValueForbidden".to_owned()),
                message: Some(
                    "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                        .to_owned(),
                ),
                field: Some(String::new()),
            }),
            (Some(seconds), None) if seconds < 1 => {
                causes.push(invalid("sinceSeconds", seconds, "must be greater than 0"));
            }
            _ => {}
        }
        if causes.is_empty() {
            return Ok(());
        }
        // field.Error's text is "<field>: <body>", the field empty or not.
        let listed: Vec<String> = causes
            .iter()
            .map(|c| {
                format!(
                    "{}: {}",
                    c.field.as_deref().unwrap_or_default(),
                    c.message.as_deref().unwrap_or_default()
                )
            })
            .collect();
        let summary = match listed.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        Err(StatusError {
            code: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "Invalid",
            message: format!("PodLogOptions \"{pod}\" is invalid: {summary}"),
            details: Some(Box::new(StatusDetails {
                group: Some(String::new()),
                kind: Some("PodLogOptions".to_owned()),
                name: Some(pod.to_owned()).filter(|n| !n.is_empty()),
                causes: Some(causes),
                ..StatusDetails::default()
            })),
        })
    }

    /// What the node agent is asked for, `container` resolved.
    pub(super) fn request(&self, container: String, now: jiff::Timestamp) -> LogRequest {
        let since = self.since_time.or_else(|| {
            self.since_seconds
                .and_then(|s| now.checked_sub(jiff::SignedDuration::from_secs(s)).ok())
        });
        LogRequest {
            container,
            follow: self.follow,
            previous: self.previous,
            timestamps: self.timestamps,
            tail_lines: self.tail_lines,
            since,
            limit_bytes: self.limit_bytes,
        }
    }
}

pub(super) async fn serve(call: &Call, pod: Pod, query: &Query) -> Result<Response, StatusError> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let options = LogOptions::parse(query)?;
    options.validate(&name)?;
    let container = super::container(&pod, options.container.as_deref())?;
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    // Upstream streams nothing for a pod on no node yet.
    if !scheduled {
        return Ok(text(Body::empty()));
    }
    let kubelet = super::kubelet(call, &pod, "get logs for")?;
    let request = options.request(container, jiff::Timestamp::now());
    let stream = kubelet.logs(pod, request).await?;
    let stream = match options.limit_bytes {
        Some(limit) => limited(stream, u64::try_from(limit).unwrap_or(0)),
        None => stream,
    };
    Ok(text(Body::from_stream(stream)))
}

fn text(body: Body) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// `stream` cut after `limit` bytes (`limitBytes`).
fn limited(stream: ByteStream, limit: u64) -> ByteStream {
    let mut left = limit;
    Box::pin(
        stream
            .take_while(move |_| {
                let more = left > 0;
                async move { more }
            })
            .map(move |chunk| {
                chunk.map(|bytes| {
                    let keep = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    left -= keep as u64;
                    bytes.slice(..keep)
                })
            })
            .filter(|chunk| {
                let empty = matches!(chunk, Ok(b) if b.is_empty());
                async move { !empty }
            }),
    )
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::stream;

    use super::*;

    fn options(query: &str) -> Result<LogOptions, StatusError> {
        LogOptions::parse(&Query::parse(Some(query))?)
    }

    #[test]
    fn options_read_as_kubectl_sends_them() {
        let read = options(
            "container=app&follow=true&previous=false&timestamps=true&tailLines=10&sinceSeconds=60&limitBytes=100",
        )
        .unwrap();
        assert_eq!(
            read,
            LogOptions {
                container: Some("app".to_owned()),
                follow: true,
                previous: false,
                timestamps: true,
                tail_lines: Some(10),
                since_seconds: Some(60),
                since_time: None,
                limit_bytes: Some(100),
            }
        );
        let now: jiff::Timestamp = "2026-11-28T12:00:00Z".parse().unwrap();
        let request = read.request("app".to_owned(), now);
        assert_eq!(request.since, Some("2026-11-28T11:59:00Z".parse().unwrap()));
        assert!(read.validate("web").is_ok());
        let at = options("sinceTime=2026-11-28T10:00:00Z").unwrap();
        assert_eq!(at.since_time, Some("2026-11-28T10:00:00Z".parse().unwrap()));
    }

    #[test]
    fn badly_typed_values_are_400() {
        assert_eq!(options("tailLines=x").unwrap_err().code, 400);
        assert_eq!(options("sinceTime=yesterday").unwrap_err().code, 400);
    }

    #[test]
    fn invalid_options_are_422_on_pod_log_options() {
        let error = options("tailLines=-1&limitBytes=0&sinceSeconds=0")
            .unwrap()
            .validate("web")
            .unwrap_err();
        insta::assert_json_snapshot!(error.to_status(), @r#"
        {
          "apiVersion": "v1",
          "kind": "Status",
          "code": 422,
          "details": {
            "causes": [
              {
                "field": "tailLines",
                "message": "Invalid value: -1: must be greater than or equal to 0",
                "reason": "FieldValueInvalid"
              },
              {
                "field": "limitBytes",
                "message": "Invalid value: 0: must be greater than 0",
                "reason": "FieldValueInvalid"
              },
              {
                "field": "sinceSeconds",
                "message": "Invalid value: 0: must be greater than 0",
                "reason": "FieldValueInvalid"
              }
            ],
            "group": "",
            "kind": "PodLogOptions",
            "name": "web"
          },
          "message": "PodLogOptions \"web\" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0, sinceSeconds: Invalid value: 0: must be greater than 0]",
          "metadata": {},
          "reason": "Invalid",
          "status": "Failure"
        }
        "#);
        let error = options("sinceSeconds=10&sinceTime=2026-11-28T10:00:00Z")
            .unwrap()
            .validate("web")
            .unwrap_err();
        assert_eq!(
            error.message,
            "PodLogOptions \"web\" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_stream() {
        let chunks: ByteStream = Box::pin(stream::iter(
            ["hello ", "world\n", "more\n"].map(|s| Ok(Bytes::from(s))),
        ));
        let cut: Vec<Bytes> = limited(chunks, 8)
            .map(|c| c.unwrap())
            .collect::<Vec<_>>()
            .await;
        assert_eq!(cut, [Bytes::from("hello "), Bytes::from("wo")]);
    }
}
