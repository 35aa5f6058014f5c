// A minimal lesson for the Learn tests (a fixture; the real lessons are assets/lessons/*.yaml).

/** A small but complete lesson using every shape of check, action, capture and widget. */
export const EXAMPLE = `
id: example
title: Example
summary: A lesson for the tests.
minutes: 3
namespace: learn-example
docs: https://kubernetes.io/docs/concepts/workloads/pods/
explanation: |
  A **pod** runs \`containers\`.

  - one
  - two
setup: |
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: greeting}
  data: {greeting: hello}
steps:
  - id: run
    title: Run a pod
    text: Apply the pod in \${namespace}.
    way: yaml
    yaml: |
      apiVersion: v1
      kind: Pod
      metadata: {name: web, labels: {app: web}}
      spec:
        containers: [{name: web, image: kubarium.dev/demo:1}]
    highlight: [{kind: Pod, name: web}]
    hint: Wait a few seconds.
    show:
      - {pods: {labels: {app: web}}}
      - {file: {pod: web, container: web, path: /etc/web/greeting}}
    checks:
      - label: The pod web is Running
        object: {kind: Pod, name: web}
        where: [{path: status.phase, op: "==", value: Running}]
      - label: 1 pod is Ready
        count: {kind: Pod, labels: {app: web}, where: [{path: "status.conditions[type=Ready].status", op: "==", value: "True"}]}
        op: ">="
        value: 1
    showMe:
      - apply: |
          apiVersion: v1
          kind: Pod
          metadata: {name: web, labels: {app: web}}
          spec:
            containers: [{name: web, image: kubarium.dev/demo:1}]
      - wait: {label: web runs, object: {kind: Pod, name: web}, where: [{path: status.phase, op: "==", value: Running}]}
  - id: move
    title: Stop its node
    text: The pod runs on \${node}.
    way: terminal
    command: kubectl get pods -o wide
    capture:
      - {name: node, from: {kind: Pod, name: web, path: spec.nodeName}}
      - {name: data, exec: {pod: web, command: [cat, /etc/hostname]}}
    show:
      - {rollout: {deployment: web}}
      - {secret: {name: db}}
      - {probe: {label: Send requests, exec: {pod: web, command: [hit, "http://web/name", "10"]}}}
      - {probe: {label: Open blue, ingress: {host: blue.localhost, path: /api}, browser: true}}
    checks:
      - label: web is a new pod
        changed: {kind: Pod, name: web, path: metadata.uid}
      - label: the node \${node} is NotReady
        object: {kind: Node, name: "\${node}"}
        where: [{path: "status.conditions[type=Ready].status", op: "!=", value: "True"}]
      - label: the file says hello
        exec: {pod: web, command: [cat, /etc/web/greeting]}
        output: {contains: hello}
      - label: blue answers
        ingress: {host: blue.localhost, path: /api}
        output: {distinctLines: 1}
      - label: old is gone
        object: {kind: Pod, name: old}
        absent: true
    showMe:
      - nodeStop: {name: "\${node}"}
      - nodeStart: {name: "\${node}"}
      - nodeAdd: {as: added}
      - nodeRemove: {name: "\${added}"}
      - delete: {kind: Pod, name: web}
      - scale: {kind: Deployment, name: web, replicas: 3}
      - rolloutUndo: {kind: Deployment, name: web}
      - exec: {pod: web, container: web, command: [wget, -qO-, "http://localhost:8080/unready"]}
`;
