//! [`ClusterBuilder`] → [`Cluster`]: the one way to start a local cluster.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Instant;

use http::HeaderValue;
use k8s_openapi::api::core::v1::Pod;
use kubarium_apiserver::{ApiServer, Authenticator, ServiceRange, UserInfo};
use kubarium_controllers::informers::Informers;
use kube::config::Kubeconfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::datadir::DataDir;
use crate::pki::Pki;
use crate::{Error, Result, kubeconfig};

/// Where the API server listens unless told otherwise: loopback, kube-apiserver's port.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6443));

/// Simulated nodes by default: enough to see scheduling spread pods and a DaemonSet put one
/// pod on each, few enough to stay light.
pub const DEFAULT_NODES: u32 = 3;

/// Where the built-in ingress controller serves HTTP on 127.0.0.1 unless told otherwise: an
/// unprivileged port, so nobody needs root for it.
pub const DEFAULT_INGRESS_HTTP_PORT: u16 = 8080;
/// The same for HTTPS.
pub const DEFAULT_INGRESS_HTTPS_PORT: u16 = 8443;

/// How node agents run pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Real containers in the local Docker engine.
    #[default]
    Docker,
    /// Simulated containers: for scale tests and machines without Docker.
    Hollow,
}

impl From<RuntimeKind> for kubarium_node::RuntimeKind {
    fn from(kind: RuntimeKind) -> Self {
        match kind {
            RuntimeKind::Docker => kubarium_node::RuntimeKind::Docker,
            RuntimeKind::Hollow => kubarium_node::RuntimeKind::Hollow,
        }
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Hollow => "hollow",
        })
    }
}

/// Where the key that seals Secrets at rest is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SecretsKey {
    /// Wherever this data dir's key already is; for a new data dir, the OS keychain when the
    /// session has one, else a file.
    #[default]
    Auto,
    /// The OS keychain (the Secret Service on Linux); fail if it cannot be used.
    Keychain,
    /// `DIR/pki/encryption.key`, mode 0600, beside the database.
    File,
}

impl std::fmt::Display for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretsKey::Auto => "auto",
            SecretsKey::Keychain => "keychain",
            SecretsKey::File => "file",
        })
    }
}

/// What a cluster was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// Holds the store, PKI, kubeconfig and logs.
    pub data_dir: PathBuf,
    /// Where the kubeconfig is written; `DIR/kubeconfig` by default.
    pub kubeconfig_path: PathBuf,
    /// The API server's TCP listen address.
    pub listen: SocketAddr,
    /// How many simulated nodes the cluster has.
    pub nodes: u32,
    /// How those nodes run pods.
    pub runtime: RuntimeKind,
    /// Where the key that seals Secrets is kept.
    pub secrets_key: SecretsKey,
    /// Whether nodes run containers that ask to be `privileged`.
    pub allow_privileged: bool,
    /// The ingress controller's HTTP port on 127.0.0.1 (0: any).
    pub ingress_http_port: u16,
    /// The ingress controller's HTTPS port on 127.0.0.1 (0: any).
    pub ingress_https_port: u16,
}

/// Configures and starts a local cluster.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    config: ClusterConfig,
}

impl ClusterBuilder {
    /// A cluster in `data_dir` with the defaults: kubeconfig `DIR/kubeconfig`, listening on
    /// [`DEFAULT_LISTEN`], [`DEFAULT_NODES`] Docker nodes.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            config: ClusterConfig {
                kubeconfig_path: data_dir.join("kubeconfig"),
                data_dir,
                listen: DEFAULT_LISTEN,
                nodes: DEFAULT_NODES,
                runtime: RuntimeKind::Docker,
                secrets_key: SecretsKey::Auto,
                allow_privileged: false,
                ingress_http_port: DEFAULT_INGRESS_HTTP_PORT,
                ingress_https_port: DEFAULT_INGRESS_HTTPS_PORT,
            },
        }
    }

    /// What the cluster will be started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Writes the kubeconfig to `path` instead of `DIR/kubeconfig`.
    pub fn kubeconfig_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.kubeconfig_path = path.into();
        self
    }

    /// Listens on `addr`; port 0 picks a free port (see [`Cluster::listen_addr`]).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// The number of simulated nodes.
    pub fn nodes(mut self, nodes: u32) -> Self {
        self.config.nodes = nodes;
        self
    }

    /// How nodes run pods.
    pub fn runtime(mut self, runtime: RuntimeKind) -> Self {
        self.config.runtime = runtime;
        self
    }

    /// Lets nodes run `privileged` containers (refused by default).
    pub fn allow_privileged(mut self, allow: bool) -> Self {
        self.config.allow_privileged = allow;
        self
    }

    /// Serves Ingresses on 127.0.0.1:`http` and :`https` (0: any free port, as the
    /// Ingresses' status then says).
    pub fn ingress_ports(mut self, http: u16, https: u16) -> Self {
        self.config.ingress_http_port = http;
        self.config.ingress_https_port = https;
        self
    }

    /// Where the key that seals Secrets is kept ([`SecretsKey::Auto`] by default).
    pub fn secrets_key(mut self, secrets_key: SecretsKey) -> Self {
        self.config.secrets_key = secrets_key;
        self
    }

    /// Starts the cluster: locks the data dir, loads or creates its PKI, binds the listener,
    /// writes the kubeconfig and starts serving. Must run inside a Tokio runtime.
    pub async fn start(self) -> Result<Cluster> {
        let started = Instant::now();
        let config = self.config;
        let data_dir = DataDir::open(&config.data_dir)?;
        if !config.listen.ip().is_loopback() {
            tracing::warn!(listen = %config.listen, "the API server listens beyond loopback: anyone who can reach it and holds the token can administer the cluster");
        }
        let pki = Pki::load_or_create(&data_dir.path().join("pki"), config.listen.ip())?;
        let tls = pki.serving.server_config()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let listen_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;

        let server_url = format!("https://{}", client_addr(listen_addr));
        let kubeconfig = kubeconfig::for_cluster(&server_url, &pki.ca_pem, &pki.admin_token);
        kubeconfig::write(&config.kubeconfig_path, &kubeconfig)?;

        // The cluster id and, on Docker, its network come first: the API server allocates
        // cluster IPs from the network's service range.
        let prepared = kubarium_node::network::prepare(data_dir.path(), config.runtime.into())
            .await
            .map_err(Error::Nodes)?;
        let service_range = match prepared.plan {
            Some(plan) => {
                let (base, prefix) = plan.service_range();
                ServiceRange::new(base, prefix)
            }
            None => ServiceRange::new(Ipv4Addr::new(10, 96, 0, 0), 16),
        };
        // Pods tolerate a failed node for as long as the node lifecycle controller is told
        // they do: 30 s, short enough to watch (upstream's 300 s is not).
        let mut controllers = kubarium_controllers::Config::new(data_dir.path().join("volumes"));
        let store = crate::storage::open(data_dir.path(), config.secrets_key).await?;
        let api = ApiServer::new(kubarium_apiserver::Config {
            authenticator: Authenticator::new()
                .with_token(&pki.admin_token, UserInfo::admin())
                .with_service_account_key(&pki.service_account_key),
            store,
            service_range,
            bookmark_interval: std::time::Duration::from_secs(60),
            default_toleration_seconds: controllers.default_toleration_seconds,
            service_account_admission: true,
        });
        api.bootstrap().await.map_err(Error::Bootstrap)?;
        let router = kubarium_apiserver::router(api.clone());
        // Each component is its own client, named by its user agent as upstream's are: the
        // field manager of its writes (`kubelet`, `kube-scheduler`…).
        let client_of = |component: &str| {
            in_process_client(router.clone(), &pki.admin_token, component).map_err(|reason| {
                Error::Pki {
                    path: data_dir.path().join("pki"),
                    reason,
                }
            })
        };
        let client = client_of("kubarium")?;
        controllers.ca_pem = Some(pki.ca_pem.clone());
        // One informer per kind for the whole process: the node pool follows the pods
        // through the control plane's cache rather than a watch and copies of its own.
        let informers = std::sync::Arc::new(Informers::new(client_of("kube-controller-manager")?));
        let pods = informers.events::<Pod>();
        let control_plane = kubarium_controllers::ControlPlane::start(
            informers,
            client_of("kube-scheduler")?,
            controllers,
        );
        let nodes = kubarium_node::NodePool::start(
            client_of("kubelet")?,
            kubarium_node::PoolConfig {
                nodes: config.nodes,
                runtime: config.runtime.into(),
                data_dir: data_dir.path().to_owned(),
                allow_privileged: config.allow_privileged,
                cluster_id: prepared.cluster_id,
                plan: prepared.plan,
                cluster_domain: kubarium_node::network::CLUSTER_DOMAIN.to_owned(),
                ..kubarium_node::PoolConfig::default()
            },
            pods,
        )
        .await
        .map_err(Error::Nodes)?;
        // The services controller drives the Docker plane (proxy, DNS and ingress
        // containers on the cluster network) when pods run on Docker, else the hollow plane,
        // whose units are records (LoadBalancer and Ingress status still work).
        let (plane, hollow_plane): (
            std::sync::Arc<dyn kubarium_node::network::plane::DataPlane>,
            _,
        ) = match nodes.data_plane() {
            Some(docker) => (std::sync::Arc::new(docker), None),
            None => {
                let hollow = std::sync::Arc::new(kubarium_node::HollowPlane::new());
                (hollow.clone(), Some(hollow))
            }
        };
        let services = kubarium_node::ServiceProxy::start(
            client_of("kube-proxy")?,
            plane,
            kubarium_node::ServicesConfig {
                plan: prepared.plan,
                ingress_http_port: config.ingress_http_port,
                ingress_https_port: config.ingress_https_port,
                ..kubarium_node::ServicesConfig::default()
            },
        )
        .await
        .map_err(Error::Services)?;
        api.connect_kubelet(std::sync::Arc::new(crate::kubelet::PoolKubelet::new(
            nodes.streams(),
        )));
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(kubarium_apiserver::serve(listener, tls, router, async {
            let _ = stopped.await;
        }));
        tracing::info!(
            url = %server_url,
            data_dir = %config.data_dir.display(),
            nodes = config.nodes,
            runtime = %config.runtime,
            elapsed = ?started.elapsed(),
            "cluster started",
        );
        Ok(Cluster {
            config,
            listen_addr,
            server_url,
            kubeconfig,
            client,
            api,
            control_plane,
            nodes,
            services,
            hollow_plane,
            stop,
            serving,
            _data_dir: data_dir,
        })
    }
}

/// An address clients can dial: a wildcard listen address is reached through loopback.
fn client_addr(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// A `kube::Client` that calls the router directly, as a tower `Service`: no socket, no TLS,
/// but the same authentication and handlers every remote client goes through. It calls
/// itself `component` in client-go's user agent form.
fn in_process_client(
    router: axum::Router,
    token: &str,
    component: &str,
) -> Result<kube::Client, String> {
    let mut authorization = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|e| format!("admin.token is not a valid header value: {e}"))?;
    authorization.set_sensitive(true);
    let user_agent = HeaderValue::try_from(user_agent(component))
        .map_err(|e| format!("{component:?} is not a valid user agent: {e}"))?;
    let service = tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<kube::client::Body>| {
            let headers = request.headers_mut();
            headers.insert(http::header::AUTHORIZATION, authorization.clone());
            headers.insert(http::header::USER_AGENT, user_agent.clone());
            request
        })
        .service(router);
    Ok(kube::Client::new(service, "default"))
}

/// client-go's user agent for `component`: `kubelet/v1.33.0+kubarium.0.1.0 (linux/amd64)
/// kubernetes/unknown` (the commit is unknown, as client-go says when it has none). The
/// server takes the part before the first `/` as the field manager of the client's writes.
pub fn user_agent(component: &str) -> String {
    let info = kubarium_apiserver::build_info();
    format!(
        "{component}/{} ({}) kubernetes/unknown",
        info.git_version, info.platform
    )
}

/// Names the client `config` makes `component`, in [`user_agent`]'s form, unless `config`
/// already carries a user agent. The server records its writes under that field manager.
pub fn name_client(config: &mut kube::Config, component: &str) {
    if config
        .headers
        .iter()
        .any(|(name, _)| name == http::header::USER_AGENT)
    {
        return;
    }
    // Built from the component's name and the build info, both ASCII.
    if let Ok(value) = HeaderValue::try_from(user_agent(component)) {
        config.headers.push((http::header::USER_AGENT, value));
    }
}

/// A running local cluster. Dropping it stops serving at once; [`Cluster::shutdown`] drains
/// requests in flight first.
pub struct Cluster {
    config: ClusterConfig,
    listen_addr: SocketAddr,
    server_url: String,
    kubeconfig: Kubeconfig,
    client: kube::Client,
    api: ApiServer,
    control_plane: kubarium_controllers::ControlPlane,
    nodes: kubarium_node::NodePool,
    services: kubarium_node::ServiceProxy,
    /// The services controller's data plane when it is the hollow one.
    hollow_plane: Option<std::sync::Arc<kubarium_node::HollowPlane>>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<()>,
    _data_dir: DataDir,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("config", &self.config)
            .field("server_url", &self.server_url)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// An in-process client with admin rights.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The kubeconfig written for external clients.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// Where that kubeconfig was written.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.config.kubeconfig_path
    }

    /// The API server's URL, e.g. `https://127.0.0.1:6443`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The address actually bound (differs from the requested one for port 0).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// Compacts the store's history up to now (a failure drill: watchers from older
    /// revisions get 410 Gone and re-list).
    pub async fn compact_history(
        &self,
    ) -> std::result::Result<i64, kubarium_apiserver::StatusError> {
        self.api.compact_history().await
    }

    /// The node agents: add, remove, stop and start nodes.
    pub fn nodes(&self) -> &kubarium_node::NodePool {
        &self.nodes
    }

    /// The services controller's units when they are hollow (records in memory): what a test
    /// inspects to see what the proxies, DNS and ingress would serve.
    pub fn hollow_plane(&self) -> Option<&kubarium_node::HollowPlane> {
        self.hollow_plane.as_deref()
    }

    /// What the cluster was started with.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Stops the cluster: `/readyz` turns unready and the listener closes at once (as
    /// kube-apiserver does with its default `--shutdown-delay-duration=0`), open requests get
    /// a few seconds to finish, then the data dir lock is released.
    pub async fn shutdown(self) {
        tracing::info!("cluster shutting down");
        // Units keep running: they go with the cluster's containers.
        self.services.shutdown().await;
        self.nodes.shutdown().await;
        self.control_plane.shutdown().await;
        self.api.begin_shutdown();
        let _ = self.stop.send(());
        if let Err(error) = self.serving.await {
            tracing::warn!(%error, "the API server task ended abnormally");
        }
        self.api.finish_shutdown().await;
        tracing::info!("cluster stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_client_reaches_the_api_server() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = ClusterBuilder::new(dir.path())
            .listen("127.0.0.1:0".parse().unwrap())
            .runtime(RuntimeKind::Hollow)
            .start()
            .await
            .unwrap();
        let version = cluster.client().apiserver_version().await.unwrap();
        assert_eq!(version.major, "1");
        assert_ne!(cluster.listen_addr().port(), 0);
        assert!(
            cluster
                .server_url()
                .ends_with(&cluster.listen_addr().port().to_string())
        );

        let err = ClusterBuilder::new(dir.path())
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::DataDirInUse { .. }), "{err}");
        cluster.shutdown().await;
    }

    #[tokio::test]
    async fn a_taken_port_names_the_flag_to_change() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = ClusterBuilder::new(dir.path())
            .listen(taken.local_addr().unwrap())
            .start()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("--listen 127.0.0.1:<port>"),
            "{err}"
        );
    }
}
