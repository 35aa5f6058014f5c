//! What every cluster has from its first start: the four system namespaces, the
//! `kubernetes` service in `default` and the two system PriorityClasses, as kube-apiserver's
//! bootstrap controllers create them, and `kube-system/kube-dns` at the range's tenth
//! address, as kubeadm installs it: the cluster's DNS server answers there.

use serde_json::{Value, json};

use crate::registry;
use crate::{ApiServer, StatusError};

pub(crate) async fn run(server: &ApiServer) -> Result<(), StatusError> {
    let namespaces = registry::served("", "v1", "namespaces")?;
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let object = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name},
        });
        ensure(server, namespaces, None, name, object).await?;
    }
    let services = registry::served("", "v1", "services")?;
    let ip = server.service_range().first().to_string();
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    });
    ensure(server, services, Some("default"), "kubernetes", service).await?;
    // Created as they are stored: they do not pass through allocation.
    let dns_ip = server.service_range().dns().to_string();
    let dns = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubariumDNS"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": dns_ip,
            "clusterIPs": [dns_ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            ],
        },
    });
    ensure(server, services, Some("kube-system"), "kube-dns", dns).await?;
    let classes = crate::kinds::priority_classes()?;
    for class in &crate::kinds::SYSTEM_CLASSES {
        let object = json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": class.name},
            "value": class.value,
            "description": class.description,
        });
        ensure(server, classes, None, class.name, object).await?;
    }
    Ok(())
}

/// Creates `object` through the same defaults and validation as any create, unless it exists.
async fn ensure(
    server: &ApiServer,
    resource: &'static registry::Resource,
    namespace: Option<&str>,
    name: &str,
    mut object: Value,
) -> Result<(), StatusError> {
    let store = server.store();
    let key = resource.key(namespace, name);
    if store
        .get(&key)
        .map_err(|e| StatusError::internal(e.to_string()))?
        .is_some()
    {
        return Ok(());
    }
    crate::object::set_meta(
        &mut object,
        "uid",
        Some(Value::from(crate::object::new_uid())),
    );
    crate::object::set_meta(
        &mut object,
        "creationTimestamp",
        Some(Value::from(crate::object::now())),
    );
    let object = resource
        .rules
        .admit(object, registry::Stage::Create)
        .map_err(|e| StatusError::internal(format!("bootstrap {name} is invalid: {e:?}")))?;
    match store.create(&key, crate::handlers::render(object)).await {
        Ok(_) | Err(kubarium_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(StatusError::internal(e.to_string())),
    }
}
