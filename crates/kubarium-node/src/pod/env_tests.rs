//! Tests of environment resolution against in-memory objects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, ConfigMapKeySelector, Container, EnvFromSource, EnvVar,
    EnvVarSource, ObjectFieldSelector, Pod, PodSpec, ResourceFieldSelector, ResourceRequirements,
    Secret, SecretEnvSource, SecretKeySelector, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;
use crate::NodeCapacity;

#[derive(Default)]
struct Objects {
    maps: HashMap<String, Arc<ConfigMap>>,
    secrets: HashMap<String, Arc<Secret>>,
    services: Vec<Arc<Service>>,
}

impl Lookup for Objects {
    fn config_map(&self, namespace: &str, name: &str) -> Option<Arc<ConfigMap>> {
        self.maps.get(&format!("{namespace}/{name}")).cloned()
    }
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(&format!("{namespace}/{name}")).cloned()
    }
    fn services(&self, namespace: &str) -> Vec<Arc<Service>> {
        self.services
            .iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }
}

fn objects() -> Objects {
    let mut objects = Objects::default();
    objects.maps.insert(
        "shop/settings".to_owned(),
        Arc::new(ConfigMap {
            data: Some(BTreeMap::from([
                ("colour".to_owned(), "blue".to_owned()),
                ("SIZE".to_owned(), "3".to_owned()),
            ])),
            ..ConfigMap::default()
        }),
    );
    objects.secrets.insert(
        "shop/db".to_owned(),
        Arc::new(Secret {
            data: Some(BTreeMap::from([(
                "password".to_owned(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Secret::default()
        }),
    );
    objects
}

fn pod(container: &Container) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some("web-0".to_owned()),
            namespace: Some("shop".to_owned()),
            uid: Some("1234".to_owned()),
            labels: Some(BTreeMap::from([("app".to_owned(), "web".to_owned())])),
            annotations: Some(BTreeMap::from([(
                "note".to_owned(),
                "say \"hi\"".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("kubarium-worker".to_owned()),
            service_account_name: Some("default".to_owned()),
            containers: vec![container.clone()],
            enable_service_links: Some(false),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }
}

fn resolve_in(container: &Container, objects: &Objects) -> Result<Vec<(String, String)>, String> {
    let pod = pod(container);
    let capacity = NodeCapacity::default();
    let context = PodContext {
        pod: &pod,
        pod_ip: Some("10.244.1.5".to_owned()),
        host_ip: "172.18.0.3".to_owned(),
        allocatable: &capacity,
    };
    resolve(&context, container, objects)
}

fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

fn from(name: &str, source: EnvVarSource) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: None,
        value_from: Some(source),
    }
}

fn field(name: &str, path: &str) -> EnvVar {
    from(
        name,
        EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_owned()),
                field_path: path.to_owned(),
            }),
            ..EnvVarSource::default()
        },
    )
}

fn map_key(name: &str, map: &str, key: &str, optional: Option<bool>) -> EnvVar {
    from(
        name,
        EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: map.to_owned(),
                key: key.to_owned(),
                optional,
            }),
            ..EnvVarSource::default()
        },
    )
}

fn secret_key(name: &str, secret: &str, key: &str, optional: Option<bool>) -> EnvVar {
    from(
        name,
        EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional,
            }),
            ..EnvVarSource::default()
        },
    )
}

fn container(env: Vec<EnvVar>) -> Container {
    Container {
        name: "app".to_owned(),
        env: Some(env),
        ..Container::default()
    }
}

fn show(env: &[(String, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn expansion_follows_kubernetes() {
    let vars = HashMap::from([
        ("A".to_owned(), "x".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ]);
    let cases = [
        ("$(A)", "x"),
        ("pre-$(A)-post", "pre-x-post"),
        ("$(A)$(A)", "xx"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$x"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("$(EMPTY)", ""),
        ("$A", "$A"),
        ("$", "$"),
        ("a$", "a$"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("100$", "100$"),
        ("é$é", "é$é"),
    ];
    for (input, expected) in cases {
        assert_eq!(expand(input, lookup_in(&[&vars])), expected, "{input}");
    }
}

#[test]
fn values_references_and_fields() {
    let mut c = container(vec![
        value("GREETING", "hello"),
        value("MESSAGE", "$(GREETING) from $(POD) $$(GREETING) $(LATER)"),
        field("POD", "metadata.name"),
        field("NAMESPACE", "metadata.namespace"),
        field("UID", "metadata.uid"),
        field("APP", "metadata.labels['app']"),
        field("NOTE", "metadata.annotations['note']"),
        field("MISSING_LABEL", "metadata.labels['nope']"),
        field("NODE", "spec.nodeName"),
        field("SA", "spec.serviceAccountName"),
        field("POD_IP", "status.podIP"),
        field("POD_IPS", "status.podIPs"),
        field("HOST_IP", "status.hostIP"),
        map_key("COLOUR", "settings", "colour", None),
        secret_key("PASSWORD", "db", "password", None),
        map_key("OPTIONAL_KEY", "settings", "nope", Some(true)),
        map_key("OPTIONAL_MAP", "nope", "nope", Some(true)),
        value("LATER", "set after"),
    ]);
    c.env_from = Some(vec![
        EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: "settings".to_owned(),
                optional: None,
            }),
            prefix: Some("CFG_".to_owned()),
            secret_ref: None,
        },
        EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "db".to_owned(),
                optional: None,
            }),
            ..EnvFromSource::default()
        },
        EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: "absent".to_owned(),
                optional: Some(true),
            }),
            ..EnvFromSource::default()
        },
    ]);
    let env = resolve_in(&c, &objects()).unwrap();
    insta::assert_snapshot!(show(&env), @r#"
    CFG_SIZE=3
    CFG_colour=blue
    password=hunter2
    GREETING=hello
    MESSAGE=hello from $(POD) $(GREETING) $(LATER)
    POD=web-0
    NAMESPACE=shop
    UID=1234
    APP=web
    NOTE=say "hi"
    MISSING_LABEL=
    NODE=kubarium-worker
    SA=default
    POD_IP=10.244.1.5
    POD_IPS=10.244.1.5
    HOST_IP=172.18.0.3
    COLOUR=blue
    PASSWORD=hunter2
    LATER=set after
    "#);
}

#[test]
fn env_overrides_env_from() {
    let mut c = container(vec![value("colour", "red")]);
    c.env_from = Some(vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: "settings".to_owned(),
            optional: None,
        }),
        ..EnvFromSource::default()
    }]);
    let env = resolve_in(&c, &objects()).unwrap();
    assert_eq!(show(&env), "SIZE=3\ncolour=red");
}

#[test]
fn missing_sources_fail_with_the_kubelets_messages() {
    let cases = [
        (
            map_key("X", "absent", "k", None),
            "configmap \"absent\" not found",
        ),
        (
            map_key("X", "settings", "k", None),
            "couldn't find key k in ConfigMap shop/settings",
        ),
        (
            secret_key("X", "absent", "k", None),
            "secret \"absent\" not found",
        ),
        (
            secret_key("X", "db", "k", None),
            "couldn't find key k in Secret shop/db",
        ),
        (
            map_key("X", "absent", "k", Some(false)),
            "configmap \"absent\" not found",
        ),
        (
            field("X", "spec.whatever"),
            "unsupported fieldPath: spec.whatever",
        ),
    ];
    for (var, message) in cases {
        assert_eq!(
            resolve_in(&container(vec![var]), &objects()).unwrap_err(),
            message
        );
    }
    let mut c = container(vec![]);
    c.env_from = Some(vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: "absent".to_owned(),
            optional: None,
        }),
        ..EnvFromSource::default()
    }]);
    assert_eq!(
        resolve_in(&c, &objects()).unwrap_err(),
        "configmap \"absent\" not found"
    );
}

fn resource(name: &str, resource: &str, divisor: Option<&str>) -> EnvVar {
    from(
        name,
        EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: None,
                resource: resource.to_owned(),
                divisor: divisor.map(|d| Quantity(d.to_owned())),
            }),
            ..EnvVarSource::default()
        },
    )
}

#[test]
fn resources_with_divisors_and_node_defaults() {
    let mut c = container(vec![
        resource("CPU_LIMIT", "limits.cpu", None),
        resource("CPU_LIMIT_M", "limits.cpu", Some("1m")),
        resource("CPU_REQUEST_M", "requests.cpu", Some("1m")),
        resource("MEMORY_LIMIT", "limits.memory", None),
        resource("MEMORY_LIMIT_MI", "limits.memory", Some("1Mi")),
        resource("MEMORY_REQUEST", "requests.memory", Some("1Mi")),
    ]);
    c.resources = Some(ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("250m".to_owned())),
            ("memory".to_owned(), Quantity("32Mi".to_owned())),
        ])),
        ..ResourceRequirements::default()
    });
    let env = resolve_in(&c, &objects()).unwrap();
    // No limits: the node's allocatable (4 CPUs, 8Gi) stands in, as upstream.
    insta::assert_snapshot!(show(&env), @r"
    CPU_LIMIT=4
    CPU_LIMIT_M=4000
    CPU_REQUEST_M=250
    MEMORY_LIMIT=8589934592
    MEMORY_LIMIT_MI=8192
    MEMORY_REQUEST=32
    ");
    c.resources = Some(ResourceRequirements {
        limits: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("1500m".to_owned())),
            ("memory".to_owned(), Quantity("100M".to_owned())),
        ])),
        ..ResourceRequirements::default()
    });
    c.env = Some(vec![
        resource("CPU", "limits.cpu", None),
        resource("MEMORY_MI", "limits.memory", Some("1Mi")),
    ]);
    let env = resolve_in(&c, &objects()).unwrap();
    assert_eq!(show(&env), "CPU=2\nMEMORY_MI=96");
}

fn service(namespace: &str, name: &str, ip: &str, ports: &[(Option<&str>, i32)]) -> Arc<Service> {
    Arc::new(Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some(ip.to_owned()),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| ServicePort {
                        name: n.map(str::to_owned),
                        port: *p,
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

#[test]
fn service_links() {
    let mut objects = objects();
    objects.services = vec![
        service(
            "default",
            "kubernetes",
            "10.96.0.1",
            &[(Some("https"), 443)],
        ),
        service("default", "other", "10.96.0.9", &[(None, 80)]),
        service(
            "shop",
            "web-api",
            "10.96.0.20",
            &[(Some("http"), 80), (Some("metrics"), 9090)],
        ),
        service("shop", "headless", "None", &[(None, 80)]),
    ];
    let c = container(vec![value("WEB_API_SERVICE_HOST", "mine")]);
    let without = resolve_in(&c, &objects).unwrap();
    insta::assert_snapshot!(show(&without), @r"
    WEB_API_SERVICE_HOST=mine
    KUBERNETES_PORT=tcp://10.96.0.1:443
    KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443
    KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1
    KUBERNETES_PORT_443_TCP_PORT=443
    KUBERNETES_PORT_443_TCP_PROTO=tcp
    KUBERNETES_SERVICE_HOST=10.96.0.1
    KUBERNETES_SERVICE_PORT=443
    KUBERNETES_SERVICE_PORT_HTTPS=443
    ");
    let mut p = pod(&c);
    if let Some(spec) = p.spec.as_mut() {
        spec.enable_service_links = None;
    }
    let capacity = NodeCapacity::default();
    let context = PodContext {
        pod: &p,
        pod_ip: None,
        host_ip: "172.18.0.3".to_owned(),
        allocatable: &capacity,
    };
    let with = resolve(&context, &c, &objects).unwrap();
    let names: Vec<&str> = with.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"WEB_API_SERVICE_PORT_METRICS"), "{names:?}");
    assert!(names.contains(&"WEB_API_PORT_9090_TCP_ADDR"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("OTHER_")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("HEADLESS_")),
        "{names:?}"
    );
    assert_eq!(
        with.iter()
            .filter(|(k, _)| k == "WEB_API_SERVICE_HOST")
            .count(),
        1
    );
    let expanded = resolve(
        &context,
        &container(vec![value(
            "URL",
            "http://$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT)",
        )]),
        &objects,
    )
    .unwrap();
    assert_eq!(
        expanded[0],
        ("URL".to_owned(), "http://10.96.0.20:80".to_owned())
    );
}

#[test]
fn command_args_and_sub_paths_expand() {
    let env = vec![
        ("NAME".to_owned(), "web".to_owned()),
        ("EMPTY".to_owned(), String::new()),
    ];
    assert_eq!(
        expand_all(&["echo $(NAME) $(NOPE) $$(NAME)".to_owned()], &env),
        vec!["echo web $(NOPE) $(NAME)".to_owned()]
    );
    assert_eq!(expand_sub_path("logs/$(NAME)", &env).unwrap(), "logs/web");
    assert_eq!(
        expand_sub_path("$(EMPTY)/$(NOPE)", &env).unwrap_err(),
        "missing value for EMPTY, NOPE"
    );
}

#[test]
fn only_a_pod_ip_field_ref_needs_the_sandbox_address() {
    let field = |name: &str, path: &str| EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let container = |env: Vec<EnvVar>| Container {
        name: "app".to_owned(),
        env: Some(env),
        ..Container::default()
    };
    use crate::pod::downward::needs_pod_ip;
    assert!(!needs_pod_ip(&Container::default()));
    assert!(!needs_pod_ip(&container(vec![
        field("NAME", "metadata.name"),
        field("HOST", "status.hostIP"),
    ])));
    assert!(needs_pod_ip(&container(vec![field("IP", "status.podIP")])));
    assert!(needs_pod_ip(&container(vec![
        field("NAME", "metadata.name"),
        field("IPS", "status.podIPs"),
    ])));
}
