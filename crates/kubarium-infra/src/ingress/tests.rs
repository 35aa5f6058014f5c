//! The ingress on real sockets on 127.0.0.1: an [`Ingress`] started in-process on port 0,
//! small backend servers in threads, and raw HTTP/1.1 clients (plain and rustls).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::Ingress;
use super::proxy::Scheme;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A test backend: answers every request with a text body naming itself and echoing what
/// the proxy sent. `/chunked…` answers chunked; an `Upgrade` request gets a 101 and then an
/// echo of whatever follows.
fn backend(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(name, stream));
        }
    });
    addr
}

fn answer(name: &str, stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    let head = read_head(&mut reader);
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(head.as_bytes()).unwrap();
    let get = |wanted: &str| {
        request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(wanted))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .unwrap_or_default()
    };
    let path = request.path.unwrap_or("").to_owned();
    if !get("upgrade").is_empty() {
        stream
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
            )
            .unwrap();
        let mut writer = stream;
        let _ = std::io::copy(&mut reader, &mut writer);
        return;
    }
    let body = if get("transfer-encoding").contains("chunked") {
        read_chunked(&mut reader)
    } else {
        let length: usize = get("content-length").parse().unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    };
    let text = format!(
        "backend={name}\npath={path}\nhost={}\nxff={}\nproto={}\nxhost={}\nconnection={}\nbody={body}\n",
        get("host"),
        get("x-forwarded-for"),
        get("x-forwarded-proto"),
        get("x-forwarded-host"),
        get("connection"),
    );
    let response = if path.starts_with("/chunked") {
        let (first, second) = text.split_at(text.len() / 2);
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
            first.len(),
            second.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
    };
    let _ = stream.write_all(response.as_bytes());
}

fn read_head(reader: &mut impl BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            return head;
        }
        head.push_str(&line);
        if line == "\r\n" {
            return head;
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> String {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
        if size == 0 {
            read_head(reader); // trailers
            return String::from_utf8(body).unwrap();
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A response as a client sees it.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: String,
}

impl Response {
    /// A `key=value` line of a test backend's body.
    fn field(&self, key: &str) -> &str {
        self.body
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key} in {}", self.body))
    }
}

fn read_response(reader: &mut impl BufRead) -> Response {
    let head = read_head(reader);
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head.as_bytes()).unwrap();
    let status = response.code.unwrap();
    let get = |wanted: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(wanted))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let body = if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        read_chunked(reader)
    } else if let Some(length) = get("content-length") {
        let mut body = vec![0; length.parse().unwrap()];
        reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    } else {
        let mut body = String::new();
        reader.read_to_string(&mut body).unwrap();
        body
    };
    Response { status, head, body }
}

/// A keep-alive client connection.
struct Client<S: Read + Write> {
    stream: BufReader<S>,
}

impl Client<TcpStream> {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }
}

impl<S: Read + Write> Client<S> {
    fn send(&mut self, raw: &str) -> Response {
        self.stream.get_mut().write_all(raw.as_bytes()).unwrap();
        self.stream.get_mut().flush().unwrap();
        read_response(&mut self.stream)
    }

    fn get(&mut self, host: &str, path: &str) -> Response {
        self.send(&format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"))
    }
}

/// An ingress on 127.0.0.1 with `config` in a temporary file; `{A}` etc. in the text are
/// replaced by the caller.
struct Setup {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ingress: Ingress,
}

impl Setup {
    fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let ingress = Ingress::start(path.clone(), LOCALHOST).unwrap();
        Setup {
            _dir: dir,
            path,
            ingress,
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn http(&self) -> SocketAddr {
        self.ingress.addr(Scheme::Http).expect("an http listener")
    }

    fn reload(&self, config: &str) {
        std::fs::write(&self.path, config).unwrap();
        self.ingress.reload();
    }
}

#[test]
fn requests_are_routed_by_host_and_path_with_forwarded_headers() {
    let (a, b) = (backend("a"), backend("b"));
    let setup = Setup::start(&format!(
        "# kubarium ingress v1
http 0
route a.test Prefix / ns/a -> {a}
route b.test Prefix /api ns/b -> {b}
route * Exact /healthz ns/b -> {b}
"
    ));
    let addr = setup.http();
    let mut client = Client::connect(addr);
    let response = client.get(&format!("a.test:{}", addr.port()), "/x?y=1");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.field("backend"), "a");
    assert_eq!(response.field("path"), "/x?y=1");
    assert_eq!(response.field("host"), format!("a.test:{}", addr.port()));
    assert_eq!(response.field("xhost"), format!("a.test:{}", addr.port()));
    assert_eq!(response.field("xff"), "127.0.0.1");
    assert_eq!(response.field("proto"), "http");
    assert_eq!(response.field("connection"), "close");

    let response =
        client.send("GET /api/v1 HTTP/1.1\r\nHost: B.TEST\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n");
    assert_eq!(response.field("backend"), "b");
    assert_eq!(response.field("xff"), "10.1.2.3, 127.0.0.1");
    assert_eq!(client.get("c.test", "/healthz").field("backend"), "b");

    let response = client.get("b.test", "/apis");
    assert_eq!(response.status, 404);
    assert!(
        response
            .body
            .contains("no Ingress rule matched host \"b.test\" and path \"/apis\""),
        "{}",
        response.body
    );
    assert!(response.body.contains("Kubarium's ingress controller"));
    assert!(response.body.contains("class \"kubarium\""));
    // Our own answers keep the connection too.
    assert_eq!(client.get("a.test", "/").field("backend"), "a");
}

#[test]
fn no_endpoints_is_503_and_refusing_endpoints_are_502() {
    let refused = {
        let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap()
    };
    let setup = Setup::start(&format!(
        "http 0
route * Prefix /empty ns/empty ->
route * Prefix /down ns/down -> {refused}
"
    ));
    let mut client = Client::connect(setup.http());
    let response = client.get("x.test", "/empty");
    assert_eq!(response.status, 503);
    assert!(
        response.body.contains("no ready endpoints for ns/empty"),
        "{}",
        response.body
    );
    let response = client.get("x.test", "/down/1");
    assert_eq!(response.status, 502);
    assert!(response.body.contains("ns/down"), "{}", response.body);
    assert!(response.body.contains(&refused.to_string()));
}

#[test]
fn one_keep_alive_connection_routes_each_request_on_its_own() {
    let (a, b) = (backend("a"), backend("b"));
    let setup = Setup::start(&format!(
        "http 0\nroute a.test Prefix / ns/a -> {a}\nroute b.test Prefix / ns/b -> {b}\n"
    ));
    let mut client = Client::connect(setup.http());
    for _ in 0..2 {
        assert_eq!(client.get("a.test", "/").field("backend"), "a");
        assert_eq!(client.get("b.test", "/").field("backend"), "b");
    }
    // HTTP/1.0 without keep-alive: answered, then closed.
    let response = client.send("GET / HTTP/1.0\r\nHost: a.test\r\n\r\n");
    assert_eq!(response.field("backend"), "a");
    assert!(
        response.head.contains("Connection: close"),
        "{}",
        response.head
    );
    let mut rest = Vec::new();
    assert_eq!(client.stream.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn default_backend_and_round_robin() {
    let (a, b) = (backend("a"), backend("b"));
    let setup = Setup::start(&format!("http 0\ndefault ns/d -> {a} {b}\n"));
    let mut client = Client::connect(setup.http());
    let seen: Vec<String> = (0..4)
        .map(|_| client.get("any.test", "/").field("backend").to_owned())
        .collect();
    assert_eq!(seen, ["a", "b", "a", "b"]);
}

#[test]
fn chunked_bodies_stream_both_ways_and_keep_the_connection() {
    let a = backend("a");
    let setup = Setup::start(&format!("http 0\nroute * Prefix / ns/a -> {a}\n"));
    let mut client = Client::connect(setup.http());
    let response = client.send(
        "POST /chunked HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert!(
        response.head.contains("Transfer-Encoding: chunked"),
        "{}",
        response.head
    );
    assert_eq!(response.field("body"), "hello world");
    assert_eq!(response.field("backend"), "a");
    // A Content-Length body on the same connection.
    let response = client.send("PUT /len HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(response.field("body"), "abc");
    assert_eq!(response.field("path"), "/len");
}

#[test]
fn upgrades_become_tunnels() {
    let a = backend("a");
    let setup = Setup::start(&format!("http 0\nroute * Prefix / ns/a -> {a}\n"));
    let mut client = Client::connect(setup.http());
    client
        .stream
        .get_mut()
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut client.stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("Upgrade: echo"), "{head}");
    client.stream.get_mut().write_all(b"ping\n").unwrap();
    let mut line = String::new();
    client.stream.read_line(&mut line).unwrap();
    assert_eq!(line, "ping\n");
}

#[test]
fn a_reload_switches_routes_under_an_open_keep_alive_connection() {
    let (a, b) = (backend("a"), backend("b"));
    let setup = Setup::start(&format!("http 0\nroute * Prefix / ns/web -> {a}\n"));
    let mut client = Client::connect(setup.http());
    assert_eq!(client.get("x.test", "/").field("backend"), "a");

    setup.reload(&format!("http 0\nroute * Prefix / ns/web -> {b}\n"));
    assert_eq!(client.get("x.test", "/").field("backend"), "b");
    assert_eq!(
        Client::connect(setup.http())
            .get("x.test", "/")
            .field("backend"),
        "b"
    );

    // A file that does not parse leaves the previous configuration in place.
    setup.reload(&format!(
        "http 0\nroute * Prefix / ns/web -> {a}\nbogus line\n"
    ));
    assert_eq!(client.get("x.test", "/").field("backend"), "b");

    // A new port: the new listener serves, and the open connection keeps working.
    setup.reload(&format!(
        "http 0\nhttps 0\nroute * Prefix / ns/web -> {a}\n"
    ));
    assert!(setup.ingress.addr(Scheme::Https).is_some());
    assert_eq!(client.get("x.test", "/").field("backend"), "a");
}

#[test]
fn a_missing_file_is_an_empty_configuration_until_one_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let ingress = Ingress::start(path.clone(), LOCALHOST).unwrap();
    assert!(ingress.addr(Scheme::Http).is_none());
    let a = backend("a");
    std::fs::write(&path, format!("http 0\ndefault ns/a -> {a}\n")).unwrap();
    ingress.reload();
    let addr = ingress.addr(Scheme::Http).unwrap();
    assert_eq!(Client::connect(addr).get("h", "/").field("backend"), "a");
}

/// A CA and leaf certificates, written as the controller writes them (chain, then key).
struct Pki {
    ca: CertificateDer<'static>,
}

impl Pki {
    fn new(dir: &Path, hosts: &[&str]) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        for host in hosts {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec![(*host).to_owned()])
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            std::fs::write(
                dir.join(format!("{}.pem", host.replace('*', "star"))),
                format!("{}{}", cert.pem(), key.serialize_pem()),
            )
            .unwrap();
        }
        Pki {
            ca: ca.der().clone(),
        }
    }

    /// A TLS connection to `addr` sending `sni`, verifying the certificate for that name.
    fn connect(
        &self,
        addr: SocketAddr,
        sni: &str,
    ) -> std::io::Result<Client<StreamOwned<ClientConnection, TcpStream>>> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connection = ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(sni.to_owned()).unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut stream = StreamOwned::new(connection, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Client {
            stream: BufReader::new(stream),
        })
    }
}

#[test]
fn tls_picks_the_certificate_by_sni_and_reloads_swap_them() {
    let a = backend("a");
    let setup = Setup::start("");
    let pki = Pki::new(setup.dir(), &["a.test", "b.test", "*.wild.test"]);
    let dir = setup.dir().display().to_string();
    setup.reload(&format!(
        "https 0
cert a.test {dir}/a.test.pem
cert b.test {dir}/b.test.pem
cert *.wild.test {dir}/star.wild.test.pem
route * Prefix / ns/a -> {a}
"
    ));
    let addr = setup.ingress.addr(Scheme::Https).unwrap();
    // The client verifies the certificate for the name it sent: success means the right one.
    let mut client = pki.connect(addr, "a.test").unwrap();
    let response = client.get("a.test", "/secure");
    assert_eq!(response.field("backend"), "a");
    assert_eq!(response.field("proto"), "https");
    assert!(pki.connect(addr, "b.test").is_ok());
    assert!(pki.connect(addr, "x.wild.test").is_ok());
    // A wildcard stands for one label only.
    assert!(pki.connect(addr, "y.x.wild.test").is_err());
    // No certificate for the name and no `*` one: the handshake fails.
    assert!(pki.connect(addr, "other.test").is_err());

    // After a reload b.test's file serves every name; the open connection is untouched.
    setup.reload(&format!(
        "https 0\ncert * {dir}/b.test.pem\nroute * Prefix / ns/a -> {a}\n"
    ));
    assert!(pki.connect(addr, "a.test").is_err());
    assert!(pki.connect(addr, "b.test").is_ok());
    assert_eq!(client.get("a.test", "/again").field("path"), "/again");

    // An upgrade over TLS becomes a tunnel too.
    let mut client = pki.connect(addr, "b.test").unwrap();
    client
        .stream
        .get_mut()
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: b.test\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .unwrap();
    let head = read_head(&mut client.stream);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for word in ["ping\n", "pong\n"] {
        client.stream.get_mut().write_all(word.as_bytes()).unwrap();
        client.stream.get_mut().flush().unwrap();
        let mut line = String::new();
        client.stream.read_line(&mut line).unwrap();
        assert_eq!(line, word);
    }
}

#[test]
fn responses_stream_before_the_endpoint_finishes() {
    let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
    let endpoint = listener.local_addr().unwrap();
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        read_head(&mut reader);
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            .unwrap();
        wait.recv().unwrap();
        stream.write_all(b"4\r\nlast\r\n0\r\n\r\n").unwrap();
    });
    let setup = Setup::start(&format!("http 0\ndefault ns/stream -> {endpoint}\n"));
    let mut client = Client::connect(setup.http());
    client
        .stream
        .get_mut()
        .write_all(b"GET /events HTTP/1.1\r\nHost: s.test\r\n\r\n")
        .unwrap();
    let head = read_head(&mut client.stream);
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    // The first chunk arrives while the endpoint still holds the rest back.
    let mut first = [0u8; 10];
    client.stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"5\r\nfirst\r\n");
    go_on.send(()).unwrap();
    assert_eq!(read_chunked(&mut client.stream), "last");
}

#[test]
fn large_bodies_expect_continue_and_http_1_0_keep_alive() {
    let a = backend("a");
    let setup = Setup::start(&format!("http 0\nroute * Prefix / ns/a -> {a}\n"));
    let mut client = Client::connect(setup.http());
    let big = "x".repeat(1 << 20);
    let response = client.send(&format!(
        "POST /big HTTP/1.1\r\nHost: a.test\r\nContent-Length: {}\r\n\r\n{big}",
        big.len()
    ));
    assert_eq!(response.field("body").len(), big.len());

    client
        .stream
        .get_mut()
        .write_all(
            b"PUT /c HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        )
        .unwrap();
    let interim = read_head(&mut client.stream);
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    let response = client.send("data");
    assert_eq!(response.field("body"), "data");

    let response =
        client.send("GET /old HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n");
    assert!(
        response.head.contains("Connection: keep-alive"),
        "{}",
        response.head
    );
    assert_eq!(client.get("a.test", "/after").field("path"), "/after");
}
