"""The official Kubernetes Python client against a Kubarium cluster.

Creates, reads, lists, watches, patches and deletes a Deployment and a ConfigMap, exactly
as any program using the client would. Exits non-zero, with the reason, on any surprise.
Usage: client.py KUBECONFIG
"""

import sys
import threading

from kubernetes import client, config, watch


def main(kubeconfig: str) -> None:
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    ns = "default"

    # ConfigMap: create, read, list, patch, watch, delete.
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-config", labels={"from": "python"}), data={"a": "1"})
    core.create_namespaced_config_map(ns, cm)
    read = core.read_namespaced_config_map("py-config", ns)
    assert read.data == {"a": "1"}, read.data
    listed = core.list_namespaced_config_map(ns, label_selector="from=python")
    assert [i.metadata.name for i in listed.items] == ["py-config"], listed.items

    seen = []
    started = threading.Event()

    def watcher():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, ns, label_selector="from=python",
                              resource_version=listed.metadata.resource_version, timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("a")))
            if event["type"] == "DELETED":
                w.stop()

    thread = threading.Thread(target=watcher)
    thread.start()
    core.patch_namespaced_config_map("py-config", ns, {"data": {"a": "2"}})
    patched = core.read_namespaced_config_map("py-config", ns)
    assert patched.data == {"a": "2"}, patched.data
    core.delete_namespaced_config_map("py-config", ns)
    thread.join(30)
    assert seen == [("MODIFIED", "py-config", "2"), ("DELETED", "py-config", "2")], seen

    # Deployment: create, read, list, patch (strategic and scale), delete.
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="py-web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "py-web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "py-web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="kubarium/demo:1")]),
            ),
        ),
    )
    apps.create_namespaced_deployment(ns, deployment)
    read = apps.read_namespaced_deployment("py-web", ns)
    assert read.spec.strategy.type == "RollingUpdate", read.spec.strategy
    assert read.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"
    names = [d.metadata.name for d in apps.list_namespaced_deployment(ns).items]
    assert "py-web" in names, names
    apps.patch_namespaced_deployment("py-web", ns, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "kubarium/demo:2"}]}}}})
    apps.patch_namespaced_deployment_scale("py-web", ns, {"spec": {"replicas": 3}})
    read = apps.read_namespaced_deployment("py-web", ns)
    assert read.spec.replicas == 3, read.spec.replicas
    assert read.spec.template.spec.containers[0].image == "kubarium/demo:2"
    assert read.metadata.generation == 3, read.metadata.generation
    apps.delete_namespaced_deployment("py-web", ns)
    try:
        apps.read_namespaced_deployment("py-web", ns)
        raise AssertionError("the deployment is still there")
    except client.exceptions.ApiException as error:
        assert error.status == 404, error
    print("python client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
