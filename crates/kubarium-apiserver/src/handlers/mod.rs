//! Resource requests: routing by method and target to get, list, watch, create, update,
//! patch and delete, over the store.
//!
//! Every handler works on JSON (`serde_json::Value`) and leaves kind-specific behaviour to the
//! registry's [`crate::registry::Rules`]. Reads serve stored bytes as they are when the client
//! wants plain JSON, so large lists cost little more than the database read.

mod binding;
mod eviction;
mod members;
mod portforward;
mod read;
mod reviews;
mod status;
mod streams;
mod subresources;
mod watch;
mod write;

pub(crate) mod patch;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::request::{Output, Params, Target};
use crate::{ApiServer, StatusError};

/// The largest request body accepted, as kube-apiserver's limit.
pub(crate) const MAX_BODY: usize = 3 * 1024 * 1024;

pub(crate) fn routes() -> Router<ApiServer> {
    Router::new()
        .route("/api/v1/{*rest}", any(core))
        .route("/apis/{group}/{version}/{*rest}", any(grouped))
}

async fn core(
    State(server): State<ApiServer>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    handle(server, "", "v1", &rest, query.as_deref(), request).await
}

async fn grouped(
    State(server): State<ApiServer>,
    Path((group, version, rest)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    handle(server, &group, &version, &rest, query.as_deref(), request).await
}

/// One resource request in flight.
pub(crate) struct Call {
    pub(crate) server: ApiServer,
    pub(crate) target: Target,
    pub(crate) params: Params,
    pub(crate) output: Output,
    pub(crate) headers: HeaderMap,
    /// Warnings for the `Warning` response header.
    pub(crate) warnings: Vec<String>,
    /// A server-side apply, which keeps its own field ownership.
    pub(crate) applying: bool,
    /// Who is asking.
    pub(crate) user: crate::UserInfo,
    /// The raw query, for the parameters [`Params`] does not name (the streaming
    /// subresources' repeated `command`, `ports`, …).
    pub(crate) query: Option<String>,
    /// The connection's upgrade, for the streaming subresources (WebSocket, SPDY).
    pub(crate) upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Call {
    /// The field manager this request writes as.
    pub(crate) fn manager(&self) -> String {
        let user_agent = self
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        crate::managed::manager_name(self.params.field_manager.as_deref(), user_agent)
    }
}

pub(crate) use read::parse as read_parse;
pub(crate) use subresources::selector_string;
pub(crate) use write::render;
pub(crate) use write::{
    check_type as write_check_type, create_object as write_create_object,
    decode_value as write_decode_value, replace as write_replace,
};

async fn handle(
    server: ApiServer,
    group: &str,
    version: &str,
    path: &str,
    query: Option<&str>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let result = async {
        let target = Target::parse(group, version, path)?;
        let params = Params::parse(query)?;
        let output = Output::negotiate(&parts.headers)?;
        // The authentication layer always sets the caller; without one nothing is served.
        let user = parts
            .extensions
            .get::<crate::UserInfo>()
            .cloned()
            .ok_or_else(StatusError::unauthorized)?;
        let mut call = Call {
            server,
            target,
            params,
            output,
            headers: parts.headers,
            warnings: Vec::new(),
            applying: false,
            user,
            query: query.map(str::to_owned),
            upgrade,
        };
        let method = parts.method;
        // `dispatch`'s future holds every handler's state, kilobytes of it: boxed, it is
        // allocated once in place rather than copied each time the request's future moves
        // (into the router's, into a task's cell); those copies were 1 % of the control
        // plane's time at its busiest.
        if !mutating(&method, &call.target) {
            return Box::pin(dispatch(&mut call, &method, body))
                .await
                .map(|response| with_warnings(response, &call.warnings));
        }
        let (call, result) = crate::priority::write(async move {
            let result = Box::pin(dispatch(&mut call, &method, body)).await;
            (call, result)
        })
        .await?;
        result.map(|response| with_warnings(response, &call.warnings))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Whether a request changes objects (and so runs behind reads, see [`crate::priority`]);
/// streams stay with their connection.
fn mutating(method: &Method, target: &Target) -> bool {
    let streaming = matches!(
        target.subresource.as_deref(),
        Some("exec" | "attach" | "portforward" | "proxy" | "log")
    );
    !streaming
        && matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
}

async fn dispatch(call: &mut Call, method: &Method, body: Body) -> Result<Response, StatusError> {
    let verb_allowed = |verb: &str| call.target.resource.verbs.contains(&verb);
    let not_allowed = || StatusError::method_not_allowed(method);
    match (
        method,
        call.target.name.is_some(),
        call.target.subresource.clone(),
    ) {
        (&Method::GET, true, None) => read::get(call).await,
        (&Method::GET, false, None) => {
            if call.target.watch_prefix || crate::request::flag(&call.params.watch) {
                watch::watch(call).await
            } else {
                read::list(call).await
            }
        }
        (&Method::POST, false, None) if verb_allowed("create") => {
            let body = read_body(body).await?;
            if call.target.resource.stored {
                write::create(call, &body).await
            } else {
                reviews::create(call, &body)
            }
        }
        (&Method::PUT, true, None) if verb_allowed("update") => {
            let body = read_body(body).await?;
            write::update(call, &body).await
        }
        (&Method::PATCH, true, None) if verb_allowed("patch") => {
            let body = read_body(body).await?;
            patch::patch(call, &body).await
        }
        (&Method::DELETE, true, None) if verb_allowed("delete") => {
            let body = read_body(body).await?;
            write::delete(call, &body).await
        }
        (&Method::DELETE, false, None) if verb_allowed("deletecollection") => {
            let body = read_body(body).await?;
            write::delete_collection(call, &body).await
        }
        (_, true, Some(sub)) => {
            let body = read_body(body).await?;
            subresources::handle(call, method, &sub, &body).await
        }
        _ => Err(not_allowed()),
    }
}

async fn read_body(body: Body) -> Result<Bytes, StatusError> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| StatusError::too_large(MAX_BODY))
}

/// The request body as a JSON object, read as JSON or YAML per its `Content-Type`.
pub(crate) fn parse_object(headers: &HeaderMap, body: &[u8]) -> Result<Value, StatusError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let value: Value = match mime {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            StatusError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        })?,
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(body).map_err(|e| {
            StatusError::bad_request(format!("the protobuf body could not be decoded: {e}"))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let text = std::str::from_utf8(body)
                .map_err(|_| StatusError::bad_request("the YAML body is not UTF-8"))?;
            serde_saphyr::from_str(text)
                .map_err(|e| StatusError::bad_request(format!("yaml parse error: {e}")))?
        }
        other => {
            return Err(StatusError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
            )));
        }
    };
    if !value.is_object() {
        return Err(StatusError::bad_request(
            "the request body must be an object",
        ));
    }
    Ok(value)
}

/// A JSON response with a body already encoded.
pub(crate) fn json(code: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (code, body.into()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The `Status` a create that makes no object of its own answers with (a binding, an
/// eviction): `201 Success`.
pub(crate) fn created_status() -> Response {
    json(
        StatusCode::CREATED,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}).to_string(),
    )
}

fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        // RFC 7234 warn-text is a quoted string.
        let text = format!(
            "299 - \"{}\"",
            warning.replace('\\', "\\\\").replace('"', "\\\"")
        );
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

/// Maps a store error about `name` to the `Status` upstream returns.
pub(crate) fn store_error(call: &Call, name: &str, error: kubarium_store::Error) -> StatusError {
    use kubarium_store::Error;
    let resource = call.target.resource;
    match error {
        Error::NotFound { .. } => StatusError::not_found(resource, name),
        Error::AlreadyExists { .. } => StatusError::already_exists(resource, name),
        Error::Conflict { .. } => StatusError::conflict(resource, name, StatusError::MODIFIED),
        Error::Compacted {
            requested,
            compacted,
        } => StatusError::expired(format!(
            "The resourceVersion for the provided list is too old (requested {requested}, the oldest kept is {compacted}); list again without one"
        )),
        Error::FutureRevision { requested, current } => StatusError::too_large_resource_version(
            format!("Too large resource version: {requested}, current resource version: {current}"),
        ),
        Error::Closed => StatusError::service_unavailable(
            "the API server is shutting down and takes no more writes; try again once the cluster is running",
        ),
        other => {
            tracing::error!(error = %other, "store failure");
            StatusError::internal(format!("the store failed: {other}"))
        }
    }
}

/// Every stored object of `resource`, in all namespaces, at the latest revision (from the
/// store's memory): what an admission plugin or an allocator reads of other objects.
pub(crate) fn stored_objects(
    call: &Call,
    resource: &crate::registry::Resource,
) -> Result<Vec<kubarium_store::Object>, StatusError> {
    let page = call
        .server
        .store()
        .list(&resource.prefix(None), &Default::default())
        .map_err(|e| store_error(call, "", e))?;
    Ok(page.items)
}
