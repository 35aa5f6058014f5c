//! What the action tests share: a real in-process cluster with hollow nodes (their pods go
//! Running and Ready; the scheduler and controllers run), and waiting for what the
//! controllers do next without timing assertions.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::PostParams;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::LocalCluster;
use crate::ipc::{ClusterPhase, ClusterStatus};

/// Generous: the machine is shared and noisy; only a hang should hit it.
const PATIENCE: Duration = Duration::from_secs(90);

/// A running hollow cluster and an admin client.
pub(crate) struct Hollow {
    pub(crate) local: Arc<LocalCluster>,
    pub(crate) client: Client,
    pub(crate) dir: tempfile::TempDir,
}

impl Hollow {
    pub(crate) async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalCluster::start(
            kubarium_cluster::ClusterBuilder::new(dir.path())
                .listen("127.0.0.1:0".parse().unwrap())
                .ingress_ports(0, 0)
                .runtime(kubarium_cluster::RuntimeKind::Hollow),
        );
        wait_for_phase(&mut local.subscribe(), ClusterPhase::Connected).await;
        let client = local.client().await.unwrap();
        Self { local, client, dir }
    }

    /// Creates `manifest`, an object of kind `K`, in `default`; returns that kind's API there.
    pub(crate) async fn create<K>(&self, manifest: Value) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
    {
        let object: K = serde_json::from_value(manifest).unwrap();
        let api = Api::<K>::namespaced(self.client.clone(), "default");
        api.create(&PostParams::default(), &object).await.unwrap();
        api
    }

    /// Creates Deployment `name` in `default` running `image`.
    pub(crate) async fn deployment(&self, name: &str, image: &str, replicas: i32) -> Deployment {
        Api::<Deployment>::namespaced(self.client.clone(), "default")
            .create(&PostParams::default(), &deployment(name, image, replicas))
            .await
            .unwrap()
    }

    pub(crate) async fn stop(self) {
        self.local.shutdown().await;
    }
}

/// Waits until the status reaches `phase`.
pub(crate) async fn wait_for_phase(
    rx: &mut watch::Receiver<ClusterStatus>,
    phase: ClusterPhase,
) -> ClusterStatus {
    tokio::time::timeout(PATIENCE, rx.wait_for(|s| s.phase == phase))
        .await
        .unwrap_or_else(|_| panic!("the cluster never became {phase:?}"))
        .unwrap()
        .clone()
}

/// A Deployment of one container.
pub(crate) fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}
            }
        }
    }))
    .unwrap()
}

/// Polls `check` until it gives something; panics naming `what` after [`PATIENCE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let polling = async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(PATIENCE, polling)
        .await
        .unwrap_or_else(|_| panic!("waited in vain for {what}"))
}

/// The ReplicaSets `deployment` controls, or `None` while it has none.
pub(crate) async fn owned_replicasets(
    client: &Client,
    deployment: &Deployment,
) -> Option<Vec<ReplicaSet>> {
    let owned: Vec<ReplicaSet> =
        super::rollout::controlled(client, "default", &deployment.metadata)
            .await
            .ok()?;
    (!owned.is_empty()).then_some(owned)
}

/// The hollow cluster as a remote cluster is reached: a plain-HTTP server on 127.0.0.1 that
/// hands every request to the in-process client and counts the evictions it passes on.
pub(crate) struct Front {
    url: String,
    evictions: watch::Receiver<usize>,
    serving: tokio::task::JoinHandle<()>,
}

impl Front {
    pub(crate) async fn start(client: Client) -> Self {
        let (count, evictions) = watch::channel(0);
        let count = Arc::new(count);
        let forward = move |request: axum::extract::Request| {
            let (client, count) = (client.clone(), Arc::clone(&count));
            async move {
                if request.method() == http::Method::POST
                    && request.uri().path().ends_with("/eviction")
                {
                    count.send_modify(|n| *n += 1);
                }
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let request = http::Request::from_parts(parts, body.to_vec().into());
                let response = client.send(request).await.unwrap();
                response.map(axum::body::Body::new)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(forward);
        let serving = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url,
            evictions,
            serving,
        }
    }

    /// A kubeconfig whose current context reaches the cluster through this front.
    pub(crate) fn kubeconfig(&self) -> kube::config::Kubeconfig {
        kube::config::Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: front\n\
             clusters: [{{name: front, cluster: {{server: '{}'}}}}]\n\
             users: [{{name: front, user: {{token: front}}}}]\n\
             contexts: [{{name: front, context: {{cluster: front, user: front}}}}]\n",
            self.url
        ))
        .unwrap()
    }

    /// Evictions passed on so far.
    pub(crate) fn evictions(&self) -> usize {
        *self.evictions.borrow()
    }

    /// Resolves once `n` evictions were passed on.
    pub(crate) async fn evictions_reach(&self, n: usize) {
        let mut evictions = self.evictions.clone();
        evictions.wait_for(|seen| *seen >= n).await.unwrap();
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.serving.abort();
    }
}
