//! Which backend a request goes to, as the Ingress spec matches rules. Pure: built from a
//! [`Config`], asked with a host and a path.
//!
//! - Hosts: an exact rule beats a wildcard (`*.example.com` matches exactly one more label:
//!   `a.example.com`, not `example.com` nor `a.b.example.com`), which beats `*`. When none of
//!   an exact host's paths match, the wildcard's and then `*`'s rules are tried, then the
//!   default backend.
//! - Paths: an `Exact` match beats every `Prefix` match; among prefixes the longest wins
//!   (the first in the file on a tie). `Prefix` matches whole path elements: `/foo` matches
//!   `/foo`, `/foo/` and `/foo/bar`, not `/foobar`; a trailing `/` in the rule is ignored,
//!   except for `/` itself, which matches everything. `ImplementationSpecific` is `Prefix`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::config::{Backend, Config, HostRule, PathKind};

/// Values keyed by host rule, looked up in the spec's precedence.
#[derive(Debug)]
pub(crate) struct HostMap<T> {
    exact: HashMap<String, T>,
    /// Keyed by suffix, `.example.com`.
    wildcard: HashMap<String, T>,
    any: Option<T>,
}

impl<T> Default for HostMap<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            any: None,
        }
    }
}

impl<T> HostMap<T> {
    /// The entry for `rule`, made with `make` if missing.
    pub(crate) fn entry(&mut self, rule: &HostRule, make: impl FnOnce() -> T) -> &mut T {
        match rule {
            HostRule::Any => self.any.get_or_insert_with(make),
            HostRule::Exact(host) => self.exact.entry(host.clone()).or_insert_with(make),
            HostRule::Wildcard(suffix) => self.wildcard.entry(suffix.clone()).or_insert_with(make),
        }
    }

    /// The entries that apply to `host` (lower-case, no port), most specific first.
    pub(crate) fn candidates<'a>(&'a self, host: &str) -> impl Iterator<Item = &'a T> + 'a {
        let exact = self.exact.get(host);
        // One label, then the suffix: `a.example.com` → `.example.com`.
        let wildcard = host
            .find('.')
            .filter(|&dot| dot > 0)
            .and_then(|dot| self.wildcard.get(&host[dot..]));
        exact.into_iter().chain(wildcard).chain(self.any.as_ref())
    }
}

/// A backend with its round-robin position, shared by every request routed to it.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) backend: Backend,
    next: AtomicUsize,
}

impl Target {
    fn new(backend: Backend) -> Arc<Self> {
        Arc::new(Self {
            backend,
            next: AtomicUsize::new(0),
        })
    }

    /// The endpoints in the order to try them: round robin over requests, each once.
    pub(crate) fn endpoints_in_turn(&self) -> Vec<std::net::SocketAddr> {
        let endpoints = &self.backend.endpoints;
        if endpoints.is_empty() {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len();
        endpoints[start..]
            .iter()
            .chain(&endpoints[..start])
            .copied()
            .collect()
    }
}

#[derive(Debug)]
struct PathRule {
    exact: bool,
    /// For prefixes: the rule's path without its trailing `/` (empty for `/`).
    path: String,
    target: Arc<Target>,
}

impl PathRule {
    fn matches(&self, path: &str) -> bool {
        if self.exact {
            return path == self.path;
        }
        match path.strip_prefix(self.path.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}

/// The routing table of one configuration.
#[derive(Debug, Default)]
pub(crate) struct Table {
    hosts: HostMap<Vec<PathRule>>,
    default: Option<Arc<Target>>,
}

impl Table {
    pub(crate) fn new(config: &Config) -> Self {
        let mut table = Table {
            default: config.default.clone().map(Target::new),
            ..Table::default()
        };
        for route in &config.routes {
            let exact = route.kind == PathKind::Exact;
            let path = if exact {
                route.path.clone()
            } else {
                route.path.trim_end_matches('/').to_owned()
            };
            table.hosts.entry(&route.host, Vec::new).push(PathRule {
                exact,
                path,
                target: Target::new(route.backend.clone()),
            });
        }
        table
    }

    /// The backend for a request to `host` (any case, port ignored) and `path` (no query),
    /// or `None` when no rule matches and there is no default backend.
    pub(crate) fn route(&self, host: &str, path: &str) -> Option<Arc<Target>> {
        let host = host_without_port(host).to_ascii_lowercase();
        let host = host.trim_end_matches('.');
        for rules in self.hosts.candidates(host) {
            if let Some(rule) = rules.iter().find(|rule| rule.exact && rule.matches(path)) {
                return Some(Arc::clone(&rule.target));
            }
            let mut best: Option<&PathRule> = None;
            for rule in rules
                .iter()
                .filter(|rule| !rule.exact && rule.matches(path))
            {
                if best.is_none_or(|best| rule.path.len() > best.path.len()) {
                    best = Some(rule);
                }
            }
            if let Some(rule) = best {
                return Some(Arc::clone(&rule.target));
            }
        }
        self.default.clone()
    }
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
pub(crate) fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Routes a request and names the Ingress (backend) it went to, or `-`.
    #[track_caller]
    fn route(config: &str, host: &str, path: &str) -> String {
        let config = Config::parse(config).unwrap();
        Table::new(&config)
            .route(host, path)
            .map_or_else(|| "-".to_owned(), |t| t.backend.ingress.clone())
    }

    #[test]
    fn exact_host_beats_wildcard_beats_any() {
        let config = "route *.example.com Prefix / ns/wild ->
route web.example.com Prefix / ns/web ->
route * Prefix / ns/any ->";
        assert_eq!(route(config, "web.example.com", "/"), "ns/web");
        assert_eq!(route(config, "WEB.Example.com:8443", "/x"), "ns/web");
        assert_eq!(route(config, "shop.example.com", "/"), "ns/wild");
        // A wildcard stands for exactly one label.
        assert_eq!(route(config, "example.com", "/"), "ns/any");
        assert_eq!(route(config, "a.b.example.com", "/"), "ns/any");
        assert_eq!(route(config, ".example.com", "/"), "ns/any");
        assert_eq!(route(config, "other.test", "/"), "ns/any");
        assert_eq!(route(config, "", "/"), "ns/any");
    }

    #[test]
    fn a_host_without_a_matching_path_falls_through_to_broader_hosts() {
        let config = "route web.example.com Prefix /api ns/api ->
route *.example.com Exact /healthz ns/health ->
route * Prefix /static ns/static ->
default ns/default ->";
        assert_eq!(route(config, "web.example.com", "/api/v1"), "ns/api");
        assert_eq!(route(config, "web.example.com", "/healthz"), "ns/health");
        assert_eq!(
            route(config, "web.example.com", "/static/a.css"),
            "ns/static"
        );
        assert_eq!(route(config, "web.example.com", "/other"), "ns/default");
        assert_eq!(route(config, "x.test", "/api"), "ns/default");
    }

    #[test]
    fn nothing_matches_without_a_default() {
        let config = "route web.example.com Prefix /api ns/api ->";
        assert_eq!(route(config, "web.example.com", "/"), "-");
        assert_eq!(route(config, "other", "/api"), "-");
        assert_eq!(route("", "any", "/"), "-");
        assert_eq!(route("default ns/d ->", "any", "/"), "ns/d");
    }

    #[test]
    fn exact_beats_prefix_and_matches_only_itself() {
        let config = "route * Prefix /foo ns/prefix ->
route * Exact /foo ns/exact ->";
        assert_eq!(route(config, "h", "/foo"), "ns/exact");
        assert_eq!(route(config, "h", "/foo/"), "ns/prefix");
        assert_eq!(route(config, "h", "/foo/bar"), "ns/prefix");
        let config = "route * Exact /foo/ ns/exact ->";
        assert_eq!(route(config, "h", "/foo/"), "ns/exact");
        assert_eq!(route(config, "h", "/foo"), "-");
    }

    #[test]
    fn prefixes_match_whole_path_elements() {
        let config = "route * Prefix /foo ns/foo ->";
        for path in ["/foo", "/foo/", "/foo/bar", "/foo/bar/"] {
            assert_eq!(route(config, "h", path), "ns/foo", "{path}");
        }
        for path in ["/foobar", "/fo", "/", "/bar/foo"] {
            assert_eq!(route(config, "h", path), "-", "{path}");
        }
        // The rule's trailing slash is ignored for matching.
        let config = "route * Prefix /foo/ ns/foo ->";
        assert_eq!(route(config, "h", "/foo"), "ns/foo");
        assert_eq!(route(config, "h", "/foo/x"), "ns/foo");
        assert_eq!(route(config, "h", "/foox"), "-");
        // `/` matches everything.
        assert_eq!(route("route * Prefix / ns/root ->", "h", "/"), "ns/root");
        assert_eq!(route("route * Prefix / ns/root ->", "h", "/a/b"), "ns/root");
    }

    #[test]
    fn the_longest_prefix_wins_and_the_first_on_a_tie() {
        let config = "route * Prefix / ns/root ->
route * Prefix /aaa ns/aaa ->
route * Prefix /aaa/bbb ns/bbb ->
route * Prefix /aaa/bbb/ ns/bbb-again ->";
        assert_eq!(route(config, "h", "/aaa/bbb/ccc"), "ns/bbb");
        assert_eq!(route(config, "h", "/aaa/bbb"), "ns/bbb");
        assert_eq!(route(config, "h", "/aaa/bbbxyz"), "ns/aaa");
        assert_eq!(route(config, "h", "/aaa"), "ns/aaa");
        assert_eq!(route(config, "h", "/zzz"), "ns/root");
    }

    #[test]
    fn implementation_specific_is_prefix() {
        let config = "route * ImplementationSpecific /docs ns/docs ->";
        assert_eq!(route(config, "h", "/docs/intro"), "ns/docs");
        assert_eq!(route(config, "h", "/docsx"), "-");
    }

    #[test]
    fn ports_are_stripped_from_hosts() {
        assert_eq!(host_without_port("a.test:8080"), "a.test");
        assert_eq!(host_without_port("a.test"), "a.test");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
    }

    #[test]
    fn endpoints_rotate_per_request() {
        let config = Config::parse("default ns/d -> 10.0.0.1:80 10.0.0.2:80 10.0.0.3:80").unwrap();
        let table = Table::new(&config);
        let target = table.route("h", "/").unwrap();
        let firsts: Vec<String> = (0..4)
            .map(|_| target.endpoints_in_turn()[0].to_string())
            .collect();
        assert_eq!(
            firsts,
            ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.1:80"]
        );
        assert_eq!(target.endpoints_in_turn().len(), 3);
    }
}
