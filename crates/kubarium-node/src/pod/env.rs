//! A container's environment as the kubelet builds it (`makeEnvironmentVariables`):
//! `envFrom` first, then `env` in order (values with `$(VAR)` expansion, or from a
//! ConfigMap, Secret, the pod's fields or the container's resources), then the service
//! variables (`<SVC>_SERVICE_HOST`, Docker-link style `<SVC>_PORT_…`) the container did not
//! set. A missing ConfigMap, Secret or key that is not `optional` is an error whose message
//! is the kubelet's; the container then waits in `CreateContainerConfigError`.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, Service};

use super::downward::PodContext;
use super::sources::Lookup;

/// `$(VAR)` expansion as Kubernetes does it (`third_party/forked/golang/expansion`):
/// `$$` is a literal `$`, `$(NAME)` is replaced by `mapping(NAME)`, and anything else —
/// a lone `$`, an unterminated `$(` — stays as written.
pub(crate) fn expand(input: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let mut chars = after.chars();
        match chars.next() {
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    out.push_str(&mapping(&after[1..close]));
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Expands against `maps` in order; an unknown name stays `$(NAME)`.
fn lookup_in<'a>(maps: &'a [&'a HashMap<String, String>]) -> impl FnMut(&str) -> String + 'a {
    move |name| {
        maps.iter()
            .find_map(|m| m.get(name).cloned())
            .unwrap_or_else(|| format!("$({name})"))
    }
}

/// Expands `$(VAR)` in a container's command or args against its environment.
pub(crate) fn expand_all(values: &[String], env: &[(String, String)]) -> Vec<String> {
    let map: HashMap<String, String> = env.iter().cloned().collect();
    values
        .iter()
        .map(|v| expand(v, lookup_in(&[&map])))
        .collect()
}

/// Expands a `subPathExpr`; every variable must be set and non-empty.
pub(crate) fn expand_sub_path(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut missing = std::collections::BTreeSet::new();
    let expanded = expand(expr, |name| match map.get(name) {
        Some(value) if !value.is_empty() => (*value).to_owned(),
        _ => {
            missing.insert(name.to_owned());
            String::new()
        }
    });
    if missing.is_empty() {
        Ok(expanded)
    } else {
        Err(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

/// A variable set in insertion order, later sets replacing a value in place.
#[derive(Default)]
struct Ordered {
    names: Vec<String>,
    values: HashMap<String, String>,
}

impl Ordered {
    fn set(&mut self, name: String, value: String) {
        if self.values.insert(name.clone(), value).is_none() {
            self.names.push(name);
        }
    }
}

/// The environment of `container` in the pod of `context`, resolved.
pub(crate) fn resolve(
    context: &PodContext<'_>,
    container: &Container,
    lookup: &dyn Lookup,
) -> Result<Vec<(String, String)>, String> {
    let namespace = context.namespace();
    let links = context
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let service_env = service_variables(
        &lookup.services(namespace),
        &lookup.services("default"),
        namespace,
        links,
    );
    let mut env = Ordered::default();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.as_deref().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            let Some(map) = lookup.config_map(namespace, &reference.name) else {
                if reference.optional == Some(true) {
                    continue;
                }
                return Err(format!("configmap {:?} not found", reference.name));
            };
            for (key, value) in map.data.iter().flatten() {
                env.set(format!("{prefix}{key}"), value.clone());
            }
        } else if let Some(reference) = &source.secret_ref {
            let Some(secret) = lookup.secret(namespace, &reference.name) else {
                if reference.optional == Some(true) {
                    continue;
                }
                return Err(format!("secret {:?} not found", reference.name));
            };
            for (key, value) in secret.data.iter().flatten() {
                env.set(
                    format!("{prefix}{key}"),
                    String::from_utf8_lossy(&value.0).into_owned(),
                );
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) if !value.is_empty() => {
                expand(value, lookup_in(&[&env.values, &service_env]))
            }
            (_, Some(from)) => {
                if let Some(selector) = &from.field_ref {
                    context.field(selector)?
                } else if let Some(selector) = &from.resource_field_ref {
                    context.resource(selector, Some(container))?
                } else if let Some(key_ref) = &from.config_map_key_ref {
                    let optional = key_ref.optional == Some(true);
                    let Some(map) = lookup.config_map(namespace, &key_ref.name) else {
                        if optional {
                            continue;
                        }
                        return Err(format!("configmap {:?} not found", key_ref.name));
                    };
                    match map.data.as_ref().and_then(|d| d.get(&key_ref.key)) {
                        Some(value) => value.clone(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                key_ref.key, key_ref.name
                            ));
                        }
                    }
                } else if let Some(key_ref) = &from.secret_key_ref {
                    let optional = key_ref.optional == Some(true);
                    let Some(secret) = lookup.secret(namespace, &key_ref.name) else {
                        if optional {
                            continue;
                        }
                        return Err(format!("secret {:?} not found", key_ref.name));
                    };
                    match secret.data.as_ref().and_then(|d| d.get(&key_ref.key)) {
                        Some(value) => String::from_utf8_lossy(&value.0).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                key_ref.key, key_ref.name
                            ));
                        }
                    }
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        env.set(var.name.clone(), value);
    }
    let mut result: Vec<(String, String)> = env
        .names
        .iter()
        .map(|name| {
            let value = env.values.get(name).cloned().unwrap_or_default();
            (name.clone(), value)
        })
        .collect();
    let mut services: Vec<(String, String)> = service_env
        .into_iter()
        .filter(|(name, _)| !env.values.contains_key(name))
        .collect();
    services.sort();
    result.extend(services);
    Ok(result)
}

/// The service variables a container in `namespace` gets: its namespace's services when
/// `enableServiceLinks`, and always the `kubernetes` service of `default` (a service of the
/// same name in the pod's namespace wins).
fn service_variables(
    in_namespace: &[std::sync::Arc<Service>],
    in_default: &[std::sync::Arc<Service>],
    namespace: &str,
    links: bool,
) -> HashMap<String, String> {
    let mut chosen: BTreeMap<String, &Service> = BTreeMap::new();
    if links {
        for service in in_namespace {
            if let Some(name) = &service.metadata.name {
                chosen.insert(name.clone(), service);
            }
        }
    }
    if namespace != "default" || !links {
        for service in in_default {
            if service.metadata.name.as_deref() == Some("kubernetes") {
                chosen.entry("kubernetes".to_owned()).or_insert(service);
            }
        }
    }
    let mut env = HashMap::new();
    for (name, service) in chosen {
        let Some(spec) = &service.spec else { continue };
        let ip = match spec.cluster_ip.as_deref() {
            Some(ip) if !ip.is_empty() && ip != "None" => ip,
            _ => continue,
        };
        let prefix = name.to_uppercase().replace('-', "_");
        let ports = spec.ports.as_deref().unwrap_or_default();
        env.insert(format!("{prefix}_SERVICE_HOST"), ip.to_owned());
        if let Some(first) = ports.first() {
            env.insert(format!("{prefix}_SERVICE_PORT"), first.port.to_string());
        }
        for port in ports {
            if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
                let port_name = port_name.to_uppercase().replace('-', "_");
                env.insert(
                    format!("{prefix}_SERVICE_PORT_{port_name}"),
                    port.port.to_string(),
                );
            }
        }
        for (index, port) in ports.iter().enumerate() {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            let lower = protocol.to_lowercase();
            let url = format!("{lower}://{ip}:{}", port.port);
            if index == 0 {
                env.insert(format!("{prefix}_PORT"), url.clone());
            }
            let port_prefix = format!("{prefix}_PORT_{}_{}", port.port, protocol.to_uppercase());
            env.insert(port_prefix.clone(), url);
            env.insert(format!("{port_prefix}_PROTO"), lower);
            env.insert(format!("{port_prefix}_PORT"), port.port.to_string());
            env.insert(format!("{port_prefix}_ADDR"), ip.to_owned());
        }
    }
    env
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
