//! The cluster's ingress unit: pure functions from Ingresses, IngressClasses, Services,
//! EndpointSlices and TLS Secrets to the `kubarium-infra ingress` configuration (the
//! contract's `# kubarium ingress v1` format) and its certificate files.
//!
//! Served: Ingresses whose class is `kubarium` (or any IngressClass whose controller is
//! `kubarium.dev/ingress`), and those with no class at all, which the default class
//! (`kubarium`) takes as the `DefaultIngressClass` admission plugin would have assigned them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};

use super::dns::SliceIndex;
use super::proxy::{CONFIG_PATH, ready_endpoints};
use crate::network::plane::{Protocol, PublishedPort, UnitFile, UnitKey, UnitSpec};

/// The IngressClass Kubarium creates and serves.
pub const CLASS_NAME: &str = "kubarium";
/// Its `spec.controller`.
pub const CONTROLLER: &str = "kubarium.dev/ingress";
/// The annotation that marks an IngressClass the default.
pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The legacy class annotation, still honoured by ingress controllers.
const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Where certificates go in the unit, relative to `/`.
const TLS_DIR: &str = "etc/kubarium/tls";
/// The ports the unit listens on inside its container.
pub(crate) const HTTP_PORT: u16 = 80;
/// See [`HTTP_PORT`].
pub(crate) const HTTPS_PORT: u16 = 443;

/// The IngressClass Kubarium makes when it is missing: `kubarium`, the default.
pub(crate) fn default_class() -> IngressClass {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": CLASS_NAME,
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
            "labels": {"app.kubernetes.io/managed-by": "kubarium"}
        },
        "spec": {"controller": CONTROLLER}
    }))
    .unwrap_or_default()
}

/// What the cluster holds that the ingress unit is made from.
pub(crate) struct Objects<'a> {
    pub(crate) ingresses: &'a [Arc<Ingress>],
    pub(crate) classes: &'a [Arc<IngressClass>],
    pub(crate) services: &'a [Arc<Service>],
    pub(crate) slices: &'a [Arc<EndpointSlice>],
    pub(crate) secrets: &'a [Arc<Secret>],
}

/// The ingress unit, and what the controller reports about it.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub(crate) spec: UnitSpec,
    /// The Ingresses served, oldest first: their status gets the published ports.
    pub(crate) served: Vec<Arc<Ingress>>,
    /// Problems to record as Warning events on the Ingress concerned.
    pub(crate) warnings: Vec<(Arc<Ingress>, String)>,
}

/// Whether Kubarium serves `ingress`.
pub(crate) fn is_served(ingress: &Ingress, classes: &[Arc<IngressClass>]) -> bool {
    let class = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .or_else(|| {
            ingress
                .metadata
                .annotations
                .as_ref()?
                .get(LEGACY_CLASS_ANNOTATION)
                .map(String::as_str)
        });
    match class {
        None | Some(CLASS_NAME) => true,
        Some(name) => classes.iter().any(|c| {
            c.metadata.name.as_deref() == Some(name)
                && c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
        }),
    }
}

fn full_name(ingress: &Ingress) -> String {
    format!(
        "{}/{}",
        ingress.metadata.namespace.as_deref().unwrap_or_default(),
        ingress.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The file a Secret's certificate and key are written to, relative to `/`.
fn pem_path(namespace: &str, secret: &str) -> String {
    format!("{TLS_DIR}/{namespace}_{secret}.pem")
}

/// Renders the unit at `ip` publishing `http_port` and `https_port` on 127.0.0.1.
pub(crate) fn render(
    ip: Option<Ipv4Addr>,
    http_port: u16,
    https_port: u16,
    objects: &Objects<'_>,
) -> Rendered {
    let mut served: Vec<Arc<Ingress>> = objects
        .ingresses
        .iter()
        .filter(|i| is_served(i, objects.classes))
        .cloned()
        .collect();
    // Oldest first, as ingress-nginx orders them: the oldest Ingress wins a conflict.
    served.sort_by(|a, b| {
        let created = |i: &Ingress| i.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a)
            .cmp(&created(b))
            .then_with(|| full_name(a).cmp(&full_name(b)))
    });
    let mut warnings = Vec::new();
    let mut config = format!("# kubarium ingress v1\nhttp {HTTP_PORT}\nhttps {HTTPS_PORT}\n");
    let mut files = Vec::new();
    // Host → PEM path, first Ingress first; the fallback is the first certificate.
    let mut certs: BTreeMap<String, String> = BTreeMap::new();
    let mut cert_order: Vec<String> = Vec::new();
    let mut fallback: Option<String> = None;
    let mut routes = String::new();
    let mut default = None;
    let index = SliceIndex::new(objects.slices);
    for ingress in &served {
        let namespace = ingress.metadata.namespace.as_deref().unwrap_or_default();
        let name = full_name(ingress);
        let Some(spec) = ingress.spec.as_ref() else {
            continue;
        };
        for tls in spec.tls.iter().flatten() {
            let Some(secret_name) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let Some(pem) = secret_pem(objects.secrets, namespace, secret_name) else {
                warnings.push((
                    ingress.clone(),
                    format!(
                        "TLS Secret {namespace}/{secret_name} is missing or is not of type kubernetes.io/tls with tls.crt and tls.key; HTTPS for {} uses the default certificate until it exists (kubectl create secret tls {secret_name} -n {namespace} --cert=… --key=…)",
                        hosts_text(tls.hosts.as_deref())
                    ),
                ));
                continue;
            };
            let path = pem_path(namespace, secret_name);
            if !files.iter().any(|f: &UnitFile| f.path == path) {
                files.push(UnitFile {
                    path: path.clone(),
                    mode: 0o600,
                    content: pem,
                });
            }
            fallback.get_or_insert_with(|| path.clone());
            for host in tls.hosts.iter().flatten().filter(|h| !h.is_empty()) {
                if !certs.contains_key(host) {
                    cert_order.push(host.clone());
                    certs.insert(host.clone(), path.clone());
                }
            }
        }
        if let Some(backend) = spec.default_backend.as_ref()
            && default.is_none()
        {
            match endpoints(objects, &index, namespace, backend) {
                Ok(list) => default = Some(format!("default {name} ->{list}\n")),
                Err(warning) => warnings.push((ingress.clone(), warning)),
            }
        }
        for rule in spec.rules.iter().flatten() {
            let host = rule
                .host
                .as_deref()
                .filter(|h| !h.is_empty())
                .unwrap_or("*");
            for path in rule.http.iter().flat_map(|h| &h.paths) {
                let path_text = path
                    .path
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/");
                if path_text.contains(char::is_whitespace) || host.contains(char::is_whitespace) {
                    continue;
                }
                match endpoints(objects, &index, namespace, &path.backend) {
                    Ok(list) => {
                        let _ = writeln!(
                            routes,
                            "route {host} {} {path_text} {name} ->{list}",
                            path.path_type
                        );
                    }
                    Err(warning) => warnings.push((ingress.clone(), warning)),
                }
            }
        }
    }
    for host in &cert_order {
        let _ = writeln!(config, "cert {host} /{}", certs[host]);
    }
    if let Some(path) = fallback {
        let _ = writeln!(config, "cert * /{path}");
    }
    config.push_str(&routes);
    if let Some(default) = default {
        config.push_str(&default);
    }
    files.insert(
        0,
        UnitFile {
            path: CONFIG_PATH.to_owned(),
            mode: 0o644,
            content: config.into_bytes(),
        },
    );
    Rendered {
        spec: UnitSpec {
            key: UnitKey::Ingress,
            ip,
            publish: vec![
                PublishedPort {
                    host: http_port,
                    container: HTTP_PORT,
                    protocol: Protocol::Tcp,
                },
                PublishedPort {
                    host: https_port,
                    container: HTTPS_PORT,
                    protocol: Protocol::Tcp,
                },
            ],
            files,
        },
        served,
        warnings,
    }
}

fn hosts_text(hosts: Option<&[String]>) -> String {
    match hosts {
        Some(hosts) if !hosts.is_empty() => hosts.join(", "),
        _ => "its hosts".to_owned(),
    }
}

/// The certificate chain then the key of a `kubernetes.io/tls` Secret.
fn secret_pem(secrets: &[Arc<Secret>], namespace: &str, name: &str) -> Option<Vec<u8>> {
    let secret = secrets.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata.name.as_deref() == Some(name)
    })?;
    if secret.type_.as_deref() != Some("kubernetes.io/tls") {
        return None;
    }
    let data = secret.data.as_ref()?;
    let cert = &data.get("tls.crt")?.0;
    let key = &data.get("tls.key")?.0;
    if cert.is_empty() || key.is_empty() {
        return None;
    }
    let mut pem = cert.clone();
    if !pem.ends_with(b"\n") {
        pem.push(b'\n');
    }
    pem.extend_from_slice(key);
    Some(pem)
}

/// ` ip:port ip:port…` of a backend's ready endpoints (empty when none: the unit answers
/// 503), or a warning when the backend cannot be served at all.
fn endpoints(
    objects: &Objects<'_>,
    index: &SliceIndex,
    namespace: &str,
    backend: &IngressBackend,
) -> Result<String, String> {
    let Some(target) = backend.service.as_ref() else {
        return Err(
            "resource backends are not supported by the kubarium ingress controller; use a Service backend".to_owned(),
        );
    };
    let mut list = String::new();
    let service = objects.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(namespace)
            && s.metadata.name.as_deref() == Some(target.name.as_str())
    });
    // A missing Service or port is not an error of the Ingress: it answers 503 until the
    // Service exists, as ingress-nginx does.
    let Some(service) = service else {
        return Ok(list);
    };
    let wanted = target.port.as_ref();
    let port = service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .find(|p| match wanted {
            Some(w) => match (w.number, w.name.as_deref()) {
                (Some(number), _) if number != 0 => p.port == number,
                (_, Some(name)) => p.name.as_deref() == Some(name),
                _ => false,
            },
            None => true,
        });
    let Some(port) = port else {
        return Ok(list);
    };
    for (ip, port) in ready_endpoints(port, index.of(namespace, &target.name), false) {
        let _ = write!(list, " {ip}:{port}");
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::{service, slice};

    fn ingress(
        namespace: &str,
        name: &str,
        created: &str,
        spec: serde_json::Value,
    ) -> Arc<Ingress> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": namespace, "name": name, "uid": format!("uid-{name}"), "creationTimestamp": created},
                "spec": spec
            }))
            .unwrap(),
        )
    }

    fn tls_secret(namespace: &str, name: &str) -> Arc<Secret> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"namespace": namespace, "name": name},
                "type": "kubernetes.io/tls",
                "data": {
                    "tls.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmNlcnQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQ==",
                    "tls.key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCmtleQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg=="
                }
            }))
            .unwrap(),
        )
    }

    fn config(rendered: &Rendered) -> String {
        String::from_utf8(rendered.spec.files[0].content.clone()).unwrap()
    }

    fn cluster() -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
        let services = vec![
            Arc::new(service(
                "default",
                "web",
                serde_json::json!({
                    "clusterIP": "10.96.0.20",
                    "ports": [{"name": "http", "port": 80, "targetPort": "web"}]
                }),
            )),
            Arc::new(service(
                "default",
                "api",
                serde_json::json!({
                    "clusterIP": "10.96.0.21",
                    "ports": [{"name": "grpc", "port": 9000}, {"name": "rest", "port": 8000, "targetPort": 8080}]
                }),
            )),
        ];
        let slices = vec![
            slice(
                "default",
                "web",
                serde_json::json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                serde_json::json!([
                    {"addresses": ["10.244.1.5"], "conditions": {"ready": true}},
                    {"addresses": ["10.244.1.6"], "conditions": {"ready": false}}
                ]),
            ),
            slice(
                "default",
                "api",
                serde_json::json!([
                    {"name": "grpc", "port": 9000, "protocol": "TCP"},
                    {"name": "rest", "port": 8080, "protocol": "TCP"}
                ]),
                serde_json::json!([{"addresses": ["10.244.2.7"], "conditions": {"ready": true}}]),
            ),
        ];
        (services, slices.into_iter().collect())
    }

    #[test]
    fn rules_hosts_paths_default_backend_tls_and_ports_by_name() {
        let (services, slices) = cluster();
        let ingresses = [
            ingress(
                "default",
                "site",
                "2026-11-28T10:00:00Z",
                serde_json::json!({
                    "ingressClassName": "kubarium",
                    "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
                    "tls": [{"hosts": ["web.example.com", "api.example.com"], "secretName": "site-tls"}],
                    "rules": [
                        {"host": "web.example.com", "http": {"paths": [
                            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                            {"path": "/healthz", "pathType": "Exact", "backend": {"service": {"name": "web", "port": {"name": "http"}}}}
                        ]}},
                        {"host": "api.example.com", "http": {"paths": [
                            {"path": "/v1", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "api", "port": {"name": "rest"}}}}
                        ]}},
                        {"http": {"paths": [
                            {"path": "/missing", "pathType": "Prefix", "backend": {"service": {"name": "nope", "port": {"number": 80}}}}
                        ]}}
                    ]
                }),
            ),
            ingress(
                "default",
                "wild",
                "2026-11-28T11:00:00Z",
                serde_json::json!({
                    "defaultBackend": {"service": {"name": "api", "port": {"number": 9000}}},
                    "tls": [{"hosts": ["*.example.org"], "secretName": "gone"}],
                    "rules": [{"host": "*.example.org", "http": {"paths": [
                        {"pathType": "ImplementationSpecific", "backend": {"service": {"name": "api", "port": {"number": 9000}}}}
                    ]}}]
                }),
            ),
        ];
        let secrets = [tls_secret("default", "site-tls")];
        let rendered = render(
            Some(Ipv4Addr::new(172, 18, 192, 2)),
            8080,
            8443,
            &Objects {
                ingresses: &ingresses,
                classes: &[],
                services: &services,
                slices: &slices,
                secrets: &secrets,
            },
        );
        insta::assert_snapshot!(config(&rendered), @"
        # kubarium ingress v1
        http 80
        https 443
        cert web.example.com /etc/kubarium/tls/default_site-tls.pem
        cert api.example.com /etc/kubarium/tls/default_site-tls.pem
        cert * /etc/kubarium/tls/default_site-tls.pem
        route web.example.com Prefix / default/site -> 10.244.1.5:8080
        route web.example.com Exact /healthz default/site -> 10.244.1.5:8080
        route api.example.com ImplementationSpecific /v1 default/site -> 10.244.2.7:8080
        route * Prefix /missing default/site ->
        route *.example.org ImplementationSpecific / default/wild -> 10.244.2.7:9000
        default default/site -> 10.244.1.5:8080
        ");
        let pem = &rendered.spec.files[1];
        assert_eq!(pem.path, "etc/kubarium/tls/default_site-tls.pem");
        assert_eq!(pem.mode, 0o600);
        insta::assert_snapshot!(String::from_utf8(pem.content.clone()).unwrap(), @"
        -----BEGIN CERTIFICATE-----
        cert
        -----END CERTIFICATE-----
        -----BEGIN PRIVATE KEY-----
        key
        -----END PRIVATE KEY-----
        ");
        assert_eq!(rendered.served.len(), 2);
        let warnings: Vec<String> = rendered
            .warnings
            .iter()
            .map(|(i, w)| format!("{}: {w}", full_name(i)))
            .collect();
        insta::assert_debug_snapshot!(warnings, @r#"
        [
            "default/wild: TLS Secret default/gone is missing or is not of type kubernetes.io/tls with tls.crt and tls.key; HTTPS for *.example.org uses the default certificate until it exists (kubectl create secret tls gone -n default --cert=… --key=…)",
        ]
        "#);
        assert_eq!(
            rendered.spec.publish,
            [
                PublishedPort {
                    host: 8080,
                    container: 80,
                    protocol: Protocol::Tcp
                },
                PublishedPort {
                    host: 8443,
                    container: 443,
                    protocol: Protocol::Tcp
                },
            ]
        );
    }

    #[test]
    fn only_kubarium_class_and_classless_ingresses_are_served() {
        let (services, slices) = cluster();
        let rule = |path: &str| {
            serde_json::json!([{"http": {"paths": [
                {"path": path, "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
            ]}}])
        };
        let classes = [
            Arc::new(default_class()),
            Arc::new(
                serde_json::from_value::<IngressClass>(serde_json::json!({
                    "metadata": {"name": "internal"},
                    "spec": {"controller": CONTROLLER}
                }))
                .unwrap(),
            ),
            Arc::new(
                serde_json::from_value::<IngressClass>(serde_json::json!({
                    "metadata": {"name": "nginx"},
                    "spec": {"controller": "k8s.io/ingress-nginx"}
                }))
                .unwrap(),
            ),
        ];
        let mut legacy = (*ingress(
            "default",
            "legacy",
            "2026-11-28T10:04:00Z",
            serde_json::json!({"rules": rule("/legacy-nginx")}),
        ))
        .clone();
        legacy.metadata.annotations =
            Some([(LEGACY_CLASS_ANNOTATION.to_owned(), "nginx".to_owned())].into());
        let ingresses = [
            ingress(
                "default",
                "a",
                "2026-11-28T10:00:00Z",
                serde_json::json!({"ingressClassName": "kubarium", "rules": rule("/kubarium")}),
            ),
            ingress(
                "default",
                "b",
                "2026-11-28T10:01:00Z",
                serde_json::json!({"rules": rule("/none")}),
            ),
            ingress(
                "default",
                "c",
                "2026-11-28T10:02:00Z",
                serde_json::json!({"ingressClassName": "nginx", "rules": rule("/nginx")}),
            ),
            ingress(
                "default",
                "d",
                "2026-11-28T10:03:00Z",
                serde_json::json!({"ingressClassName": "internal", "rules": rule("/internal")}),
            ),
            Arc::new(legacy),
        ];
        let rendered = render(
            None,
            8080,
            8443,
            &Objects {
                ingresses: &ingresses,
                classes: &classes,
                services: &services,
                slices: &slices,
                secrets: &[],
            },
        );
        insta::assert_snapshot!(config(&rendered), @"
        # kubarium ingress v1
        http 80
        https 443
        route * Prefix /kubarium default/a -> 10.244.1.5:8080
        route * Prefix /none default/b -> 10.244.1.5:8080
        route * Prefix /internal default/d -> 10.244.1.5:8080
        ");
        assert!(rendered.warnings.is_empty());
    }

    #[test]
    fn the_default_class_is_kubarium() {
        let class = default_class();
        assert_eq!(class.metadata.name.as_deref(), Some("kubarium"));
        assert_eq!(
            class.metadata.annotations.unwrap()[DEFAULT_CLASS_ANNOTATION],
            "true"
        );
        assert_eq!(class.spec.unwrap().controller.as_deref(), Some(CONTROLLER));
    }
}
