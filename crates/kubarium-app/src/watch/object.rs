//! One object, whole, for a details page: fetched once ([`get_object`]) or watched
//! ([`watch_object`]), always without `metadata.managedFields` (noise for people, and the
//! bulk of many objects).

use std::pin::pin;

use futures_util::StreamExt;
use kubarium_controllers::watch::Lean;
use kube::api::{DynamicObject, TypeMeta};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::{api, watch_error};
use crate::catalogue::{self, Kind};
use crate::ipc::resources::{ObjectUpdate, WatchState};
use crate::{Error, Result};

/// The object as the UI gets it: with its apiVersion and kind (list items come without),
/// without managed fields.
fn shown(kind: &Kind, mut object: DynamicObject) -> Value {
    object.metadata.managed_fields = None;
    object.types = Some(TypeMeta {
        api_version: kind.api.api_version.clone(),
        kind: kind.api.kind.clone(),
    });
    // A DynamicObject is JSON to begin with; encoding it back cannot fail.
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// `resource` `name` (in `namespace` for namespaced kinds), as JSON.
pub async fn get_object(
    client: kube::Client,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<Value> {
    let kind = catalogue::find(resource)?;
    let namespace = namespace_of(kind, namespace)?;
    let object = api::<DynamicObject>(client, kind, namespace)
        .get(name)
        .await?;
    Ok(shown(kind, object))
}

/// A namespaced kind needs a namespace to name one object.
fn namespace_of<'a>(kind: &Kind, namespace: Option<&'a str>) -> Result<Option<&'a str>> {
    match namespace {
        None if kind.info.namespaced => Err(Error::Local(format!(
            "{} are namespaced: say which namespace the object is in.",
            kind.info.kind
        ))),
        namespace => Ok(namespace),
    }
}

/// Watches `resource` `name` and hands `sink` the object on every change, `deleted` when it
/// is gone (or does not exist), and state changes, until `sink` returns false.
pub async fn watch_object(
    client: kube::Client,
    resource: &str,
    namespace: Option<String>,
    name: &str,
    mut sink: impl FnMut(ObjectUpdate) -> bool,
) -> Result<()> {
    let kind = catalogue::find(resource)?;
    let namespace = namespace_of(kind, namespace.as_deref())?;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = pin!(kubarium_controllers::watch::lean(
        api::<Lean>(client, kind, namespace),
        config
    ));
    let mut state = WatchState::Syncing;
    // Whether the (re-)list in progress found the object.
    let mut listed = false;
    while let Some(event) = events.next().await {
        let update = match event {
            Ok(event) => {
                if state == WatchState::Reconnecting
                    && !sink(ObjectUpdate::State {
                        state: WatchState::Live,
                        error: None,
                    })
                {
                    return Ok(());
                }
                state = WatchState::Live;
                match event {
                    Event::Init => {
                        listed = false;
                        continue;
                    }
                    Event::InitApply(Lean(object)) => {
                        listed = true;
                        ObjectUpdate::Object {
                            object: shown(kind, object),
                        }
                    }
                    Event::InitDone if listed => continue,
                    Event::InitDone | Event::Delete(_) => ObjectUpdate::Deleted,
                    Event::Apply(Lean(object)) => ObjectUpdate::Object {
                        object: shown(kind, object),
                    },
                }
            }
            Err(error) => {
                if state == WatchState::Reconnecting {
                    continue;
                }
                state = WatchState::Reconnecting;
                ObjectUpdate::State {
                    state: WatchState::Reconnecting,
                    error: Some(watch_error(name, error)),
                }
            }
        };
        if !sink(update) {
            break;
        }
    }
    Ok(())
}
