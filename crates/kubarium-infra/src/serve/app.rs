//! What the demo server answers: routing, the pod's identity, the version's colour, and the
//! page and JSON that show them. Pure apart from the readiness marker file, so it is tested
//! without sockets.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::content::Content;
use super::http::{Request, Response};

/// Where a test or lesson creates a file (`kubectl exec … touch /tmp/unready`, in an image
/// with a shell) to make this replica fail its readiness probe. `/unready` and `/ready` do the
/// same over HTTP, for the demo image, which has no shell.
pub(crate) const UNREADY_MARKER: &str = "/tmp/unready";

/// The version shown when `$VERSION` is unset.
const DEFAULT_VERSION: &str = "v1";

/// Who this replica is, from the environment the downward API sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodInfo {
    pub(crate) pod: String,
    pub(crate) namespace: String,
    pub(crate) node: String,
    pub(crate) pod_ip: String,
    pub(crate) hostname: String,
    pub(crate) version: String,
    /// `POD_UID` (the downward API's `metadata.uid`), empty when unset.
    pub(crate) uid: String,
}

impl PodInfo {
    /// From `POD_NAME`, `POD_NAMESPACE`, `NODE_NAME`, `POD_IP`, `POD_UID` and `VERSION`, falling back to
    /// the hostname (which is the pod's name), the service account's namespace file, and the
    /// container's own address.
    pub(crate) fn from_environment() -> Self {
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let namespace = env("POD_NAMESPACE").or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
        });
        let unknown = || "unknown".to_owned();
        Self {
            pod: env("POD_NAME").unwrap_or_else(|| hostname.clone()),
            namespace: namespace.unwrap_or_else(unknown),
            node: env("NODE_NAME").unwrap_or_else(unknown),
            pod_ip: env("POD_IP")
                .or_else(|| crate::sys::own_ipv4().map(|ip| ip.to_string()))
                .unwrap_or_else(unknown),
            hostname,
            version: env("VERSION").unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            uid: env("POD_UID").unwrap_or_default(),
        }
    }
}

/// A named colour from the palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Colour {
    pub(crate) name: &'static str,
    pub(crate) hex: &'static str,
}

const PALETTE: [Colour; 8] = [
    Colour {
        name: "blue",
        hex: "#2563eb",
    },
    Colour {
        name: "green",
        hex: "#16a34a",
    },
    Colour {
        name: "orange",
        hex: "#ea580c",
    },
    Colour {
        name: "purple",
        hex: "#9333ea",
    },
    Colour {
        name: "red",
        hex: "#dc2626",
    },
    Colour {
        name: "teal",
        hex: "#0d9488",
    },
    Colour {
        name: "pink",
        hex: "#db2777",
    },
    Colour {
        name: "yellow",
        hex: "#ca8a04",
    },
];

/// The colour of a version: its leading number picks from the palette in order (v1 blue,
/// v2 green, v3 orange, …, wrapping after eight); a version without one gets a colour from
/// a hash of its text, the same on every replica.
pub(crate) fn colour(version: &str) -> Colour {
    let digits: String = version
        .trim_start_matches(['v', 'V'])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let index = match digits.parse::<u64>() {
        Ok(n) => (n + PALETTE.len() as u64 - 1) % PALETTE.len() as u64,
        // FNV-1a: stable across builds and platforms, unlike std's hasher.
        Err(_) => {
            version.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            }) % PALETTE.len() as u64
        }
    };
    PALETTE[index as usize]
}

/// What the connection should do after the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    Continue,
    /// `/crash`: exit with code 1 once the response is sent.
    Crash,
}

/// The demo application: one per process, shared by every connection.
pub(crate) struct App {
    info: PodInfo,
    colour: Colour,
    /// Pages and API answers served, probes not counted.
    requests: AtomicU64,
    unready_marker: PathBuf,
    /// Set by `/unready`, cleared by `/ready`.
    unready: AtomicBool,
    content: Content,
}

impl App {
    pub(crate) fn new(info: PodInfo, unready_marker: PathBuf, content: Content) -> Self {
        let colour = colour(&info.version);
        Self {
            info,
            colour,
            requests: AtomicU64::new(0),
            unready_marker,
            unready: AtomicBool::new(false),
            content,
        }
    }

    pub(crate) fn info(&self) -> &PodInfo {
        &self.info
    }

    /// The response to `request`, and what to do after sending it.
    pub(crate) fn respond(&self, request: &Request) -> (Response, After) {
        if request.method != "GET" && request.method != "HEAD" {
            let response =
                Response::text(405, format!("{} is not served; use GET", request.method))
                    .with_header("Allow", "GET, HEAD");
            return (response, After::Continue);
        }
        let response = match request.path() {
            "/" => {
                let count = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
                Response::new(200, "text/html; charset=utf-8", self.page(count))
            }
            "/api" => {
                let count = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
                Response::new(200, "application/json", self.json(count))
            }
            "/name" => {
                self.requests.fetch_add(1, Ordering::Relaxed);
                Response::text(200, self.info.pod.clone())
            }
            "/healthz" => Response::text(200, "ok"),
            "/unready" => {
                self.unready.store(true, Ordering::Relaxed);
                Response::text(200, "this replica now fails /readyz; /ready undoes it")
            }
            "/ready" => {
                self.unready.store(false, Ordering::Relaxed);
                Response::text(200, "this replica passes /readyz again")
            }
            "/readyz" => {
                if self.unready.load(Ordering::Relaxed) {
                    Response::text(503, "not ready: /unready was called (call /ready to undo)")
                } else if self.unready_marker.exists() {
                    Response::text(
                        503,
                        format!(
                            "not ready: {} exists (remove it to become ready)",
                            self.unready_marker.display()
                        ),
                    )
                } else {
                    Response::text(200, "ok")
                }
            }
            "/crash" => {
                return (
                    Response::text(200, "crashing: the server exits with code 1"),
                    After::Crash,
                );
            }
            path => Response::text(
                404,
                format!(
                    "{path} not found; try /, /api, /name, /healthz, /readyz, /unready, /ready or /crash"
                ),
            ),
        };
        (response, After::Continue)
    }

    /// `/api`: the page's facts as JSON.
    pub(crate) fn json(&self, requests: u64) -> String {
        let info = &self.info;
        let mut out = String::from("{\n");
        for (key, value) in [
            ("pod", &info.pod),
            ("namespace", &info.namespace),
            ("node", &info.node),
            ("podIP", &info.pod_ip),
            ("hostname", &info.hostname),
            ("version", &info.version),
        ] {
            let _ = writeln!(out, "  \"{key}\": {},", json_string(value));
        }
        let _ = writeln!(
            out,
            "  \"color\": {{\"name\": \"{}\", \"hex\": \"{}\"}},",
            self.colour.name, self.colour.hex
        );
        let _ = writeln!(out, "  \"files\": {},", json_object(&self.content.files()));
        let _ = writeln!(out, "  \"env\": {},", json_object(&self.content.env));
        let data = self
            .content
            .data()
            .map_or_else(|| "null".to_owned(), |line| json_string(&line));
        let _ = writeln!(out, "  \"data\": {data},");
        let _ = writeln!(out, "  \"requests\": {requests}\n}}");
        out
    }

    /// The page's sections for the lesson-provided content: the files (always, so a learner
    /// sees where to mount them), the `DEMO_*` variables and the data marker when there are.
    fn content_sections(&self) -> String {
        let mut out = String::new();
        let files = self.content.files();
        let dir = html(&self.content.files_dir.display().to_string());
        if files.is_empty() {
            let _ = write!(
                out,
                "<h2>Files</h2><p class=\"none\">No files in {dir} (mount a ConfigMap or Secret there, or set DEMO_FILES).</p>"
            );
        } else {
            let _ = write!(out, "<h2>Files in {dir}</h2><dl>");
            for (name, content) in &files {
                let _ = write!(
                    out,
                    "<dt>{}</dt><dd><pre>{}</pre></dd>",
                    html(name),
                    html(content)
                );
            }
            out.push_str("</dl>");
        }
        if !self.content.env.is_empty() {
            out.push_str("<h2>Environment</h2><table>");
            for (name, value) in &self.content.env {
                let _ = write!(
                    out,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    html(name),
                    html(value)
                );
            }
            out.push_str("</table>");
        }
        if let Some(dir) = &self.content.data_dir {
            let line = self
                .content
                .data()
                .unwrap_or_else(|| "(not there)".to_owned());
            let _ = write!(
                out,
                "<h2>Data</h2><p><code>{}</code>: {}</p>",
                html(&dir.join(super::content::CREATED).display().to_string()),
                html(&line)
            );
        }
        out
    }

    /// `/`: a small page in the version's colour, no external assets.
    fn page(&self, requests: u64) -> String {
        let info = &self.info;
        let rows: String = [
            ("Pod", &info.pod),
            ("Namespace", &info.namespace),
            ("Node", &info.node),
            ("Pod IP", &info.pod_ip),
            ("Version", &info.version),
        ]
        .iter()
        .map(|(label, value)| format!("<tr><th>{label}</th><td>{}</td></tr>", html(value)))
        .collect();
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{pod} · {version}</title><style>\
             body{{margin:0;font:16px system-ui,sans-serif;background:#f8fafc;color:#0f172a}}\
             header{{background:{hex};color:#fff;padding:1.5rem 2rem}}\
             h1{{margin:0;font-size:1.6rem}}main{{padding:1.5rem 2rem}}\
             th{{text-align:left;padding:.3rem 1.5rem .3rem 0;color:#475569;font-weight:500}}\
             td,pre,code{{font-family:ui-monospace,monospace}}h2{{font-size:1.1rem;margin:1.5rem 0 .5rem}}\
             dt{{font-weight:600}}dd{{margin:0 0 .8rem}}pre{{margin:.2rem 0;padding:.5rem;background:#e2e8f0;\
             white-space:pre-wrap}}.none{{color:#64748b}}</style></head>\n\
             <body><header><h1>Hello from {pod}</h1><p>Version {version} — {name}</p></header>\
             <main><table>{rows}</table><p>Request {requests} to this replica.</p>{sections}</main>\
             </body></html>\n",
            pod = html(&info.pod),
            version = html(&info.version),
            hex = self.colour.hex,
            name = self.colour.name,
            sections = self.content_sections(),
        )
    }
}

fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"name": "value", …}` on one line, in the pairs' order.
fn json_object(pairs: &[(String, String)]) -> String {
    let fields: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{}: {}", json_string(name), json_string(value)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PodInfo {
        PodInfo {
            pod: "web-7d4b9c-x2x9z".into(),
            namespace: "default".into(),
            node: "kubarium-worker".into(),
            pod_ip: "10.244.1.7".into(),
            hostname: "web-7d4b9c-x2x9z".into(),
            version: "v2".into(),
            uid: "6f1c2a5e-uid".into(),
        }
    }

    /// No files, no `DEMO_*` variables, no data directory.
    fn nothing() -> Content {
        Content {
            files_dir: PathBuf::from("/nonexistent/demo"),
            env: Vec::new(),
            data_dir: None,
        }
    }

    /// A files directory with one file, two variables, a data directory with its marker.
    fn lesson_content(dir: &std::path::Path) -> Content {
        let files = dir.join("files");
        std::fs::create_dir(&files).unwrap();
        std::fs::write(files.join("greeting"), "hello <world>\n").unwrap();
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        let content = Content {
            files_dir: files,
            env: vec![
                ("DEMO_PASSWORD".to_owned(), "s3cret".to_owned()),
                ("DEMO_USER".to_owned(), "admin".to_owned()),
            ],
            data_dir: Some(data),
        };
        content
            .ensure_created("created by web-0 (6f1c2a5e-uid) at 2026-11-29T00:00:00.000Z")
            .unwrap();
        content
    }

    fn get(app: &App, target: &str) -> (Response, After) {
        let request = Request::parse(&format!("GET {target} HTTP/1.1\r\nHost: web\r\n")).unwrap();
        app.respond(&request)
    }

    fn app_with_marker() -> (App, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let app = App::new(
            info(),
            dir.path().join("unready"),
            lesson_content(dir.path()),
        );
        (app, dir)
    }

    #[test]
    fn versions_map_to_colours_in_order() {
        assert_eq!(colour("v1").name, "blue");
        assert_eq!(colour("v2").name, "green");
        assert_eq!(colour("3").name, "orange");
        assert_eq!(colour("v2.1.0").name, "green");
        assert_eq!(colour("V8").name, "yellow");
        assert_eq!(colour("v9").name, "blue");
        assert_eq!(colour("v0").name, "yellow");
    }

    #[test]
    fn other_versions_get_a_stable_colour() {
        assert_eq!(colour("canary"), colour("canary"));
        assert_eq!(colour("canary").name, "green");
        assert_eq!(colour("").name, colour("").name);
    }

    #[test]
    fn routes() {
        let (app, _dir) = app_with_marker();
        let status = |target: &str| get(&app, target).0.status;
        assert_eq!(status("/"), 200);
        assert_eq!(status("/?refresh=1"), 200);
        assert_eq!(status("/api"), 200);
        assert_eq!(status("/healthz"), 200);
        assert_eq!(status("/name"), 200);
        assert_eq!(status("/readyz"), 200);
        assert_eq!(status("/nope"), 404);
        assert_eq!(get(&app, "/crash").1, After::Crash);
        assert_eq!(get(&app, "/").1, After::Continue);
        let post = Request::parse("POST / HTTP/1.1").unwrap();
        let (response, _) = app.respond(&post);
        assert_eq!(response.status, 405);
        assert!(response.extra_headers.iter().any(|(n, _)| *n == "Allow"));
    }

    #[test]
    fn the_marker_file_makes_the_replica_unready() {
        let (app, dir) = app_with_marker();
        std::fs::write(dir.path().join("unready"), "").unwrap();
        let (response, _) = get(&app, "/readyz");
        assert_eq!(response.status, 503);
        assert_eq!(get(&app, "/healthz").0.status, 200);
        std::fs::remove_file(dir.path().join("unready")).unwrap();
        assert_eq!(get(&app, "/readyz").0.status, 200);
    }

    #[test]
    fn unready_and_ready_toggle_the_readiness_probe() {
        let (app, _dir) = app_with_marker();
        assert_eq!(get(&app, "/unready").0.status, 200);
        assert_eq!(get(&app, "/readyz").0.status, 503);
        assert_eq!(get(&app, "/healthz").0.status, 200);
        assert_eq!(get(&app, "/ready").0.status, 200);
        assert_eq!(get(&app, "/readyz").0.status, 200);
    }

    #[test]
    fn pages_and_api_calls_are_counted_probes_are_not() {
        let (app, _dir) = app_with_marker();
        get(&app, "/");
        get(&app, "/healthz");
        get(&app, "/readyz");
        let body = String::from_utf8(get(&app, "/api").0.body).unwrap();
        assert!(body.contains("\"requests\": 2"), "{body}");
    }

    #[test]
    fn api_json() {
        let (app, _dir) = app_with_marker();
        let body = String::from_utf8(get(&app, "/api").0.body).unwrap();
        insta::assert_snapshot!(body);
    }

    #[test]
    fn the_page_shows_the_pod_and_escapes_what_it_shows() {
        let mut info = info();
        info.pod = "<script>".into();
        let app = App::new(info, PathBuf::from("/nonexistent/unready"), nothing());
        let page = String::from_utf8(get(&app, "/").0.body).unwrap();
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("#16a34a"), "v2 is green");
        assert!(page.contains("kubarium-worker") && page.contains("10.244.1.7"));
        assert!(!page.contains("http://") && !page.contains("https://"));
    }

    #[test]
    fn name_answers_with_the_pod_name_alone() {
        let (app, _dir) = app_with_marker();
        let (response, _) = get(&app, "/name");
        assert_eq!(response.body, b"web-7d4b9c-x2x9z\n");
        assert!(response.content_type.starts_with("text/plain"));
    }

    #[test]
    fn the_page_shows_files_environment_and_data_escaped() {
        let (app, _dir) = app_with_marker();
        let page = String::from_utf8(get(&app, "/").0.body).unwrap();
        assert!(
            page.contains("<dt>greeting</dt><dd><pre>hello &lt;world&gt;\n</pre></dd>"),
            "{page}"
        );
        assert!(
            page.contains("<tr><th>DEMO_PASSWORD</th><td>s3cret</td></tr>"),
            "{page}"
        );
        assert!(page.contains("created by web-0 (6f1c2a5e-uid) at 2026-11-29T00:00:00.000Z"));
        let empty = App::new(info(), PathBuf::from("/nonexistent/unready"), nothing());
        let page = String::from_utf8(get(&empty, "/").0.body).unwrap();
        assert!(page.contains("No files in /nonexistent/demo"), "{page}");
        assert!(!page.contains("<h2>Environment") && !page.contains("<h2>Data"));
        let api = String::from_utf8(get(&empty, "/api").0.body).unwrap();
        assert!(
            api.contains("\"files\": {},\n  \"env\": {},\n  \"data\": null,"),
            "{api}"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
