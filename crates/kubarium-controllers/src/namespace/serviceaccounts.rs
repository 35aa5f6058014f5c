//! What every namespace holds from its start: the `default` ServiceAccount (upstream's
//! serviceaccount controller, recreating it if deleted while the namespace is active) and the
//! `kube-root-ca.crt` ConfigMap with the cluster CA under `ca.crt` (upstream's root CA
//! certificate publisher, keeping its data and description annotation as published).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::task::JoinSet;

use crate::objects::Objects;
use crate::{Context, Error, Result};

/// The ServiceAccount every active namespace has.
const DEFAULT_ACCOUNT: &str = "default";
/// The ConfigMap holding the cluster CA in every namespace.
pub(crate) const ROOT_CA: &str = "kube-root-ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub(super) fn start(ctx: &Context, tasks: &mut JoinSet<()>) {
    let namespaces = ctx.informers.store::<Namespace>();
    let accounts = Arc::new(Accounts {
        client: ctx.client.clone(),
        accounts: ctx.informers.store::<ServiceAccount>(),
    });
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Namespace>(), namespaces.clone())
            .watches_shared_stream(ctx.informers.deletions::<ServiceAccount>(), |account| {
                (account.metadata.name.as_deref() == Some(DEFAULT_ACCOUNT))
                    .then(|| account.metadata.namespace.clone())
                    .flatten()
                    .map(|ns| ObjectRef::<Namespace>::new(&ns))
            });
    tasks.spawn(
        controller
            .run(sync_account, retry, accounts)
            .for_each(|_| async {}),
    );
    let Some(ca) = ctx.config.ca_pem.clone() else {
        return;
    };
    let publisher = Arc::new(Publisher {
        client: ctx.client.clone(),
        config_maps: ctx.informers.store::<ConfigMap>(),
        ca,
    });
    let root_ca = |config_map: Arc<ConfigMap>| {
        (config_map.metadata.name.as_deref() == Some(ROOT_CA))
            .then(|| config_map.metadata.namespace.clone())
            .flatten()
            .map(|ns| ObjectRef::<Namespace>::new(&ns))
    };
    let controller =
        Controller::for_shared_stream(ctx.informers.subscribe::<Namespace>(), namespaces)
            .watches_shared_stream(ctx.informers.subscribe::<ConfigMap>(), root_ca)
            .watches_shared_stream(ctx.informers.deletions::<ConfigMap>(), root_ca);
    tasks.spawn(
        controller
            .run(publish, retry, publisher)
            .for_each(|_| async {}),
    );
}

fn retry<S>(_namespace: Arc<Namespace>, error: &Error, _state: Arc<S>) -> Action {
    tracing::debug!(%error, "namespace content sync failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

/// Whether a create failed only because the namespace is gone or going.
fn namespace_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s)
        if s.code == 404 || s.code == 409 || (s.code == 403 && s.message.contains("being terminated")))
}

fn active(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_none()
        && namespace
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Active")
            == "Active"
}

struct Accounts {
    client: Client,
    accounts: Store<ServiceAccount>,
}

async fn sync_account(namespace: Arc<Namespace>, state: Arc<Accounts>) -> Result<Action> {
    if !active(&namespace) {
        return Ok(Action::await_change());
    }
    let name = namespace.metadata.name.clone().unwrap_or_default();
    if state
        .accounts
        .get(&ObjectRef::new(DEFAULT_ACCOUNT).within(&name))
        .is_some()
    {
        return Ok(Action::await_change());
    }
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_ACCOUNT.into()),
            namespace: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match Objects::<ServiceAccount>::namespaced(state.client.clone(), &name)
        .create(&PostParams::default(), &account)
        .await
    {
        Ok(_) => Ok(Action::await_change()),
        Err(error) if namespace_gone(&error) => Ok(Action::await_change()),
        Err(error) => Err(Error::api(
            "create",
            format!("serviceaccounts {name}/default"),
        )(error)),
    }
}

struct Publisher {
    client: Client,
    config_maps: Store<ConfigMap>,
    ca: String,
}

/// The ConfigMap's data and annotations as published, or `None` when `current` is right.
pub(crate) fn root_ca_update(current: Option<&ConfigMap>, ca: &str) -> Option<ConfigMap> {
    let data: BTreeMap<String, String> = [("ca.crt".to_owned(), ca.to_owned())].into();
    let mut config_map = match current {
        Some(current) => {
            let described = current
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
                .is_some_and(|d| !d.is_empty());
            if current.data.as_ref() == Some(&data) && described {
                return None;
            }
            current.clone()
        }
        None => ConfigMap {
            metadata: ObjectMeta {
                name: Some(ROOT_CA.into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        },
    };
    config_map.data = Some(data);
    config_map
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
    Some(config_map)
}

async fn publish(namespace: Arc<Namespace>, state: Arc<Publisher>) -> Result<Action> {
    let name = namespace.metadata.name.clone().unwrap_or_default();
    let current = state
        .config_maps
        .get(&ObjectRef::new(ROOT_CA).within(&name));
    let Some(config_map) = root_ca_update(current.as_deref(), &state.ca) else {
        return Ok(Action::await_change());
    };
    let api = Objects::<ConfigMap>::namespaced(state.client.clone(), &name);
    let what = format!("configmaps {name}/{ROOT_CA}");
    match current {
        None => match api.create(&PostParams::default(), &config_map).await {
            Ok(_) => Ok(Action::await_change()),
            Err(error) if namespace_gone(&error) => Ok(Action::await_change()),
            Err(error) => Err(Error::api("create", what)(error)),
        },
        Some(_) => api
            .replace(ROOT_CA, &PostParams::default(), &config_map)
            .await
            .map(|_| Action::await_change())
            .map_err(Error::api("update", what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_ca_is_published_then_left_alone() {
        let made = root_ca_update(None, "PEM").unwrap();
        assert_eq!(made.data.as_ref().unwrap()["ca.crt"], "PEM");
        assert_eq!(
            made.metadata.annotations.as_ref().unwrap()[DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
        assert!(root_ca_update(Some(&made), "PEM").is_none());
        let mut edited = made.clone();
        edited.data = Some([("ca.crt".to_owned(), "other".to_owned())].into());
        assert_eq!(
            root_ca_update(Some(&edited), "PEM").unwrap().data,
            made.data
        );
    }

    #[test]
    fn only_active_namespaces_get_accounts() {
        let mut namespace = Namespace::default();
        assert!(active(&namespace));
        namespace.status = Some(k8s_openapi::api::core::v1::NamespaceStatus {
            phase: Some("Terminating".into()),
            ..Default::default()
        });
        assert!(!active(&namespace));
    }
}
