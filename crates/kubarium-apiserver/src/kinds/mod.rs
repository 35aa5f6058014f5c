//! Kind-specific rules: defaults, validation, `kubectl get` columns and selectable fields,
//! as kube-apiserver's registry strategies, defaulting functions and printers give them.

mod apps;
mod batch;
mod core;
mod other;
mod pod;
mod policy;
mod scheduling;
mod service;
mod serviceaccount;
mod shared;
mod storage;

pub(crate) use pod::admit_default_tolerations;
pub(crate) use scheduling::{
    SYSTEM_CLASSES, admit_class as admit_priority_class, admit_pod as admit_pod_priority,
    check_delete as check_priority_class_delete, keep_pod_priority, priority_classes,
};
pub use service::ServiceRange;
pub(crate) use service::{
    allocate as allocate_service, drop_type_dependent as drop_service_type_fields,
    keep_allocation as keep_service_allocation,
};
pub(crate) use serviceaccount::{
    admit as admit_service_account, default_name as default_service_account,
};
pub(crate) use shared::selector_matches;
pub(crate) use storage::default_class as default_storage_class;
