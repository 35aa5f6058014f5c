//! A small W3C WebDriver client: the handful of commands the desktop scenarios use.
//!
//! Written here rather than taken from a WebDriver crate because those pull a second TLS
//! stack into the workspace, and tauri-driver speaks plain HTTP on loopback anyway.

use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// The W3C key under which element references travel.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session.
pub struct Session {
    http: Client<HttpConnector, Full<bytes::Bytes>>,
    base: String,
    id: String,
}

/// A failed WebDriver command: the driver's `error` code and message.
#[derive(Debug)]
pub struct WebDriverError {
    /// e.g. `no such element`.
    pub error: String,
    /// The driver's explanation.
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

impl Session {
    /// Opens a session on the driver at `base` (e.g. `http://127.0.0.1:4444`).
    pub async fn new(base: &str, capabilities: Value) -> Result<Self, WebDriverError> {
        let http = Client::builder(TokioExecutor::new()).build_http();
        let mut session = Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            id: String::new(),
        };
        let body = json!({ "capabilities": { "alwaysMatch": capabilities } });
        let value = session
            .call(http::Method::POST, "/session", Some(body))
            .await?;
        session.id = value["sessionId"].as_str().unwrap_or_default().to_owned();
        Ok(session)
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let uri = format!("{}{path}", self.base);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = http::Request::builder()
            .method(method)
            .uri(&uri)
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(bytes)))
            .expect("a well-formed request");
        let transport = |e: &dyn std::fmt::Display| WebDriverError {
            error: "transport".to_owned(),
            message: format!("{uri}: {e}"),
        };
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| transport(&e))?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(&e))?
            .to_bytes();
        let mut json: Value = serde_json::from_slice(&body).map_err(|e| transport(&e))?;
        let value = json["value"].take();
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(WebDriverError {
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(value),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// The document title.
    pub async fn title(&self) -> Result<String, WebDriverError> {
        Ok(self
            .call(http::Method::GET, &self.path("/title"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first element matching the CSS `selector`, waiting up to `timeout` for it.
    pub async fn find(
        &self,
        selector: &str,
        timeout: Duration,
    ) -> Result<Element<'_>, WebDriverError> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .call(
                    http::Method::POST,
                    &self.path("/element"),
                    Some(json!({"using": "css selector", "value": selector})),
                )
                .await;
            match found {
                Ok(value) => {
                    let id = value[ELEMENT_KEY].as_str().unwrap_or_default().to_owned();
                    return Ok(Element { session: self, id });
                }
                Err(e) if e.error == "no such element" && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let value = self
            .call(http::Method::GET, &self.path("/screenshot"), None)
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| WebDriverError {
                error: "bad screenshot".to_owned(),
                message: e.to_string(),
            })
    }

    /// Every element matching the CSS `selector` now (possibly none).
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element<'_>>, WebDriverError> {
        let value = self
            .call(
                http::Method::POST,
                &self.path("/elements"),
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await?;
        Ok(value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| Element {
                        session: self,
                        id: item[ELEMENT_KEY].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns what
    /// it returns; a returned Promise is awaited.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, WebDriverError> {
        self.call(
            http::Method::POST,
            &self.path("/execute/async"),
            Some(json!({
                "script": format!(
                    "const done = arguments[arguments.length - 1];\
                     Promise.resolve((function() {{ {script} }}).apply(null, Array.prototype.slice.call(arguments, 0, -1)))\
                     .then(done, (e) => done({{ __error: String(e) }}));"
                ),
                "args": args,
            })),
        )
        .await
        .and_then(|value| match value.get("__error") {
            Some(error) => Err(WebDriverError {
                error: "javascript error".to_owned(),
                message: error.to_string(),
            }),
            None => Ok(value),
        })
    }

    /// Types `text` into whatever has focus, as keyboard input (W3C actions). Special keys
    /// use WebDriver's code points, e.g. [`keys::ENTER`]; `modifier` is held throughout.
    pub async fn keys(&self, modifier: Option<&str>, text: &str) -> Result<(), WebDriverError> {
        let mut actions = Vec::new();
        if let Some(modifier) = modifier {
            actions.push(json!({"type": "keyDown", "value": modifier}));
        }
        for ch in text.chars() {
            actions.push(json!({"type": "keyDown", "value": ch.to_string()}));
            actions.push(json!({"type": "keyUp", "value": ch.to_string()}));
        }
        if let Some(modifier) = modifier {
            actions.push(json!({"type": "keyUp", "value": modifier}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.call(http::Method::POST, &self.path("/actions"), Some(body))
            .await?;
        self.call(http::Method::DELETE, &self.path("/actions"), None)
            .await
            .map(drop)
    }

    /// Closes the current window, as a user clicking its close button.
    pub async fn close_window(&self) -> Result<(), WebDriverError> {
        self.call(http::Method::DELETE, &self.path("/window"), None)
            .await
            .map(drop)
    }
}

/// An element of the page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Element<'_> {
    /// Its rendered text.
    pub async fn text(&self) -> Result<String, WebDriverError> {
        let path = self.session.path(&format!("/element/{}/text", self.id));
        Ok(self
            .session
            .call(http::Method::GET, &path, None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// An attribute's value (`data-ready`), if it has one.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>, WebDriverError> {
        let path = self
            .session
            .path(&format!("/element/{}/attribute/{name}", self.id));
        Ok(self
            .session
            .call(http::Method::GET, &path, None)
            .await?
            .as_str()
            .map(str::to_owned))
    }

    /// Clears an input and types `text` into it.
    pub async fn type_text(&self, text: &str) -> Result<(), WebDriverError> {
        let clear = self.session.path(&format!("/element/{}/clear", self.id));
        self.session
            .call(http::Method::POST, &clear, Some(json!({})))
            .await?;
        let value = self.session.path(&format!("/element/{}/value", self.id));
        self.session
            .call(http::Method::POST, &value, Some(json!({ "text": text })))
            .await
            .map(drop)
    }

    /// Clicks it.
    pub async fn click(&self) -> Result<(), WebDriverError> {
        let path = self.session.path(&format!("/element/{}/click", self.id));
        self.session
            .call(http::Method::POST, &path, Some(json!({})))
            .await
            .map(drop)
    }
}

/// WebDriver's code points for keys that are not characters.
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const ARROW_DOWN: &str = "\u{E015}";
    pub const ARROW_UP: &str = "\u{E013}";
    pub const CONTROL: &str = "\u{E009}";
    pub const BACKSPACE: &str = "\u{E003}";
}
