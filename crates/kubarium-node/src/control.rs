//! Adding, removing, stopping and starting nodes, as API requests anyone can make: the app,
//! `kubariumd node …`, or kubectl. The pool's agents follow the Nodes (see the crate docs):
//! a Node labelled `kubarium.dev/managed-node=true` gets an agent, the annotation
//! `kubarium.dev/agent: stopped` stops it, deleting the Node ends it.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubarium_controllers::objects::Objects;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::node::{AGENT_ANNOTATION, MANAGED_LABEL, go_arch, next_worker_name};
use crate::{Error, Result};

/// Creates a managed Node called `name`, or the next free `kubarium-workerN`; the pool
/// gives it an agent. Returns its name.
pub async fn add_node(client: &Client, name: Option<&str>) -> Result<String> {
    let api = Objects::<Node>::all(client.clone());
    let name = match name {
        Some(name) => name.to_owned(),
        None => {
            let nodes = Api::<Node>::all(client.clone())
                .list_metadata(&ListParams::default())
                .await
                .map_err(Error::api("list", "nodes"))?;
            next_worker_name(
                nodes
                    .items
                    .iter()
                    .filter_map(|n| n.metadata.name.as_deref()),
            )
        }
    };
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                [
                    (MANAGED_LABEL, "true"),
                    ("kubernetes.io/hostname", name.as_str()),
                    ("kubernetes.io/os", "linux"),
                    ("kubernetes.io/arch", go_arch()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Node::default()
    };
    match api.create(&PostParams::default(), &node).await {
        Ok(_) => Ok(name),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::NodeExists { name }),
        Err(error) => Err(Error::api("create", format!("nodes/{name}"))(error)),
    }
}

/// The managed Node `name`, or why it is not one.
async fn managed(api: &Objects<Node>, name: &str) -> Result<Node> {
    let node = api
        .get_opt(name)
        .await
        .map_err(Error::api("get", format!("nodes/{name}")))?
        .ok_or_else(|| Error::NodeNotFound {
            name: name.to_owned(),
        })?;
    let is_managed = node
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(MANAGED_LABEL))
        .is_some_and(|value| value == "true");
    if is_managed {
        Ok(node)
    } else {
        Err(Error::NotManaged {
            name: name.to_owned(),
        })
    }
}

/// Deletes the managed Node `name`; its agent ends and its pods are garbage-collected.
pub async fn remove_node(client: &Client, name: &str) -> Result<()> {
    let api = Objects::<Node>::all(client.clone());
    managed(&api, name).await?;
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(Error::NodeNotFound {
            name: name.to_owned(),
        }),
        Err(error) => Err(Error::api("delete", format!("nodes/{name}"))(error)),
    }
}

async fn set_stopped(client: &Client, name: &str, stopped: bool) -> Result<()> {
    let api = Objects::<Node>::all(client.clone());
    managed(&api, name).await?;
    let value = if stopped {
        json!("stopped")
    } else {
        json!(null)
    };
    let patch = json!({ "metadata": { "annotations": { AGENT_ANNOTATION: value } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(Error::api("patch", format!("nodes/{name}")))?;
    Ok(())
}

/// Stops the agent of node `name`, as if its kubelet crashed: no Lease renewals, no status,
/// no pod sync, until [`start_node`]. Its containers keep running.
pub async fn stop_node(client: &Client, name: &str) -> Result<()> {
    set_stopped(client, name, true).await
}

/// Starts the agent of node `name` again after [`stop_node`].
pub async fn start_node(client: &Client, name: &str) -> Result<()> {
    set_stopped(client, name, false).await
}
