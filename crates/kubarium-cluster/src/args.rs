//! The cluster flags `kubariumd` and the desktop app share, each with an environment
//! variable so launchers that cannot pass arguments (desktop entries, WebDriver) can set them.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{
    ClusterBuilder, DEFAULT_INGRESS_HTTP_PORT, DEFAULT_INGRESS_HTTPS_PORT, DEFAULT_LISTEN,
    DEFAULT_NODES, RuntimeKind, SecretsKey,
};

/// Where and how to run the local cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Where the cluster keeps its state, certificates, kubeconfig and logs
    /// [default: the platform's user data dir, e.g. ~/.local/share/kubarium]
    #[arg(long, value_name = "DIR", env = "KUBARIUM_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to write the kubeconfig (mode 0600) [default: DIR/kubeconfig]
    #[arg(long, value_name = "FILE", env = "KUBARIUM_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Address the API server listens on; keep it on loopback unless you mean otherwise
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN, env = "KUBARIUM_LISTEN")]
    pub listen: SocketAddr,
    /// Number of simulated nodes: kubarium-control-plane, then kubarium-worker,
    /// kubarium-worker2, … (nodes added later are kept across restarts); thousands are fine
    /// with --runtime hollow
    #[arg(long, value_name = "N", default_value_t = DEFAULT_NODES, env = "KUBARIUM_NODES",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub nodes: u32,
    /// How nodes run pods: real Docker containers, or hollow (simulated) ones
    #[arg(long, value_enum, default_value_t = RuntimeKind::Docker, env = "KUBARIUM_RUNTIME")]
    pub runtime: RuntimeKind,
    /// Where the key that seals Secrets at rest is kept: the OS keychain or a 0600 file
    /// beside the database (auto: where it already is; for a new data dir, the keychain when
    /// the session has one)
    #[arg(long, value_enum, default_value_t = SecretsKey::Auto, env = "KUBARIUM_SECRETS_KEY")]
    pub secrets_key: SecretsKey,
    /// Let pods run privileged containers (full access to the host through Docker); without
    /// it such containers wait in CreateContainerConfigError
    #[arg(long, env = "KUBARIUM_ALLOW_PRIVILEGED")]
    pub allow_privileged: bool,
    /// Port on 127.0.0.1 where the built-in ingress controller serves HTTP (0: any free port,
    /// see the Ingresses' status)
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_INGRESS_HTTP_PORT, env = "KUBARIUM_INGRESS_HTTP_PORT")]
    pub ingress_http_port: u16,
    /// Port on 127.0.0.1 where the built-in ingress controller serves HTTPS (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_INGRESS_HTTPS_PORT, env = "KUBARIUM_INGRESS_HTTPS_PORT")]
    pub ingress_https_port: u16,
}

impl ClusterArgs {
    /// The data directory these flags name, or the platform default.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::default_data_dir)
    }

    /// A builder configured by these flags.
    pub fn builder(&self) -> ClusterBuilder {
        let mut builder = ClusterBuilder::new(self.data_dir())
            .listen(self.listen)
            .nodes(self.nodes)
            .runtime(self.runtime)
            .secrets_key(self.secrets_key)
            .allow_privileged(self.allow_privileged)
            .ingress_ports(self.ingress_http_port, self.ingress_https_port);
        if let Some(path) = &self.kubeconfig {
            builder = builder.kubeconfig_path(path);
        }
        builder
    }
}
