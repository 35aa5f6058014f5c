//! Watches that feed the UI: a kube-runtime watcher per (cluster, resource, namespace), turned into rows and pushed as batches of changes.
