//! PriorityClasses (`scheduling.k8s.io/v1`) and the Priority admission plugin, as upstream's:
//! the two system classes every cluster has, a class's rules (reserved `system-` names, the
//! highest value a user may give, value and preemption policy fixed once set, one global
//! default), and a new pod's `spec.priority` and `spec.preemptionPolicy` resolved from the
//! class it names or the global default. The scheduler's queue orders pods by that priority.

use std::borrow::Cow;

use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::handlers::{Call, store_error};
use crate::registry::table::{AGE, NAME, col};
use crate::registry::{self, Column, Kind, age};
use crate::status::StatusError;
use crate::validation::Causes;

/// Class names starting with this are the system's.
const SYSTEM_PREFIX: &str = "system-";
/// The highest value of a class that is not the system's.
const HIGHEST_USER_DEFINABLE: i32 = 1_000_000_000;
/// A pod's priority when it names no class and no class is the global default.
const DEFAULT_PRIORITY: i32 = 0;
const PREEMPT_LOWER: &str = "PreemptLowerPriority";

/// A system class: every cluster has it from its first start, and it cannot be deleted.
pub(crate) struct SystemClass {
    pub(crate) name: &'static str,
    pub(crate) value: i32,
    pub(crate) description: &'static str,
}

/// The system classes, as upstream's bootstrap creates them.
pub(crate) const SYSTEM_CLASSES: [SystemClass; 2] = [
    SystemClass {
        name: "system-node-critical",
        value: 2_000_001_000,
        description: "Used for system critical pods that must not be moved from their current node.",
    },
    SystemClass {
        name: "system-cluster-critical",
        value: 2_000_000_000,
        description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    },
];

/// Why a class named like a system class is not one: its name, value or default differ.
fn system_class_mismatch(name: &str, value: i32, global_default: bool) -> Option<String> {
    let Some(system) = SYSTEM_CLASSES.iter().find(|c| c.name == name) else {
        return Some(format!("{name} is not a known system priority class"));
    };
    if system.value != value {
        Some(format!(
            "value of {name} PriorityClass must be {}",
            system.value
        ))
    } else if global_default {
        Some(format!(
            "globalDefault of {name} PriorityClass must be false"
        ))
    } else {
        None
    }
}

impl Kind for PriorityClass {
    fn default(&mut self) {
        self.preemption_policy
            .get_or_insert_with(|| PREEMPT_LOWER.to_owned());
    }

    fn validate(&self, causes: &mut Causes) {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if name.starts_with(SYSTEM_PREFIX) {
            let global_default = self.global_default.unwrap_or(false);
            if let Some(why) = system_class_mismatch(name, self.value, global_default) {
                causes.forbidden(
                    "metadata.name",
                    format!(
                        "priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {why}"
                    ),
                );
            }
        } else if self.value > HIGHEST_USER_DEFINABLE {
            causes.forbidden(
                "value",
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE}"
                ),
            );
        }
        causes.one_of(
            "preemptionPolicy",
            self.preemption_policy.as_deref(),
            &[PREEMPT_LOWER, "Never"],
        );
    }

    fn validate_update(&self, old: &Self, causes: &mut Causes) {
        if self.value != old.value {
            causes.forbidden("value", "may not be changed in an update.");
        }
        causes.immutable(
            "preemptionPolicy",
            &self.preemption_policy,
            &old.preemption_policy,
        );
    }

    fn columns() -> &'static [Column] {
        const C: &[Column] = &[
            NAME,
            col(
                "Value",
                "integer",
                "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
            ),
            col(
                "Global-Default",
                "boolean",
                "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
            ),
            AGE,
            col(
                "PreemptionPolicy",
                "string",
                "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
            ),
        ];
        C
    }

    fn cells(&self, now: Timestamp) -> Vec<Value> {
        vec![
            Value::from(self.value),
            Value::from(self.global_default.unwrap_or(false)),
            age(self.metadata.creation_timestamp.as_ref(), now),
            Value::from(self.preemption_policy.clone().unwrap_or_default()),
        ]
    }
}

/// What admission needs of a stored class.
struct Class {
    name: String,
    value: i32,
    global_default: bool,
    preemption_policy: Option<String>,
}

/// The fields of a stored class that admission reads, decoded without building the rest:
/// every pod created without a class looks through every class for the global default.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored<'a> {
    #[serde(borrow)]
    metadata: StoredMeta<'a>,
    value: i32,
    global_default: Option<bool>,
    #[serde(borrow)]
    preemption_policy: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct StoredMeta<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

impl Class {
    fn of(stored: &[u8]) -> Option<Self> {
        let class: Stored<'_> = serde_json::from_slice(stored).ok()?;
        Some(Self {
            name: class.metadata.name.into_owned(),
            value: class.value,
            global_default: class.global_default.unwrap_or(false),
            preemption_policy: class.preemption_policy.map(Cow::into_owned),
        })
    }
}

/// The PriorityClass resource.
pub(crate) fn priority_classes() -> Result<&'static registry::Resource, StatusError> {
    registry::served("scheduling.k8s.io", "v1", "priorityclasses")
}

/// The class named `name`, if there is one.
fn class(call: &Call, name: &str) -> Result<Option<Class>, StatusError> {
    let key = priority_classes()?.key(None, name);
    let stored = call
        .server
        .store()
        .get(&key)
        .map_err(|e| store_error(call, name, e))?;
    Ok(stored.and_then(|stored| Class::of(&stored.value)))
}

/// The global default class; of several (two writes may race), the lowest, as upstream's.
fn default_class(call: &Call) -> Result<Option<Class>, StatusError> {
    Ok(crate::handlers::stored_objects(call, priority_classes()?)?
        .iter()
        .filter_map(|stored| Class::of(&stored.value))
        .filter(|class| class.global_default)
        .min_by_key(|class| class.value))
}

/// The Priority plugin on a new pod (after its creator's fields are recorded): the priority
/// and preemption policy of the class it names, or of the global default class (whose name
/// it then takes), or 0 and `PreemptLowerPriority`. A pod may state either only as the class
/// gives it.
pub(crate) fn admit_pod(call: &Call, name: &str, pod: &mut Value) -> Result<(), StatusError> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let forbidden = |why: String| StatusError::forbidden_object("", "pods", name, &why);
    let named = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (priority, policy) = if named.is_empty() {
        match default_class(call)? {
            Some(class) => {
                spec.insert("priorityClassName".to_owned(), Value::from(class.name));
                (class.value, class.preemption_policy)
            }
            None => (DEFAULT_PRIORITY, Some(PREEMPT_LOWER.to_owned())),
        }
    } else {
        let Some(class) = class(call, &named)? else {
            return Err(forbidden(format!(
                "no PriorityClass with name {named} was found"
            )));
        };
        (class.value, class.preemption_policy)
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != i64::from(priority)
    {
        return Err(forbidden(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        )));
    }
    spec.insert("priority".to_owned(), Value::from(priority));
    if let Some(policy) = policy {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str)
            && given != policy
        {
            return Err(forbidden(format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
            )));
        }
        spec.insert("preemptionPolicy".to_owned(), Value::from(policy));
    }
    Ok(())
}

/// An update of a pod keeps the priority and preemption policy admission gave it when the
/// update leaves them out (they cannot change; the pod's rules refuse any other change).
pub(crate) fn keep_pod_priority(pod: &mut Value, old: &Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["priority", "preemptionPolicy"] {
        if spec.get(field).is_none_or(Value::is_null)
            && let Some(kept) = old["spec"].get(field).filter(|v| !v.is_null())
        {
            spec.insert(field.to_owned(), kept.clone());
        }
    }
}

/// The Priority plugin on a class being created or updated: only one may be the global
/// default.
pub(crate) fn admit_class(call: &Call, name: &str, class: &Value) -> Result<(), StatusError> {
    if class["globalDefault"].as_bool() != Some(true) {
        return Ok(());
    }
    let creating = call.target.name.is_none();
    match default_class(call)? {
        Some(existing) if creating || existing.name != name => Err(forbidden_class(
            name,
            &format!(
                "PriorityClass {} is already marked as default. Only one default can exist",
                existing.name
            ),
        )),
        _ => Ok(()),
    }
}

/// A system class cannot be deleted (one at a time; upstream's collection delete does not
/// ask).
pub(crate) fn check_delete(name: &str) -> Result<(), StatusError> {
    if SYSTEM_CLASSES.iter().any(|c| c.name == name) {
        return Err(forbidden_class(
            name,
            "this is a system priority class and cannot be deleted",
        ));
    }
    Ok(())
}

/// A 403 about PriorityClass `name`.
fn forbidden_class(name: &str, why: &str) -> StatusError {
    StatusError::forbidden_object("scheduling.k8s.io", "priorityclasses", name, why)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{call, call_accepting, namespace, server};

    const CLASSES: &str = "/apis/scheduling.k8s.io/v1/priorityclasses";
    const PODS: &str = "/api/v1/namespaces/shop/pods";

    async fn cluster() -> crate::ApiServer {
        let server = server();
        crate::bootstrap::run(&server).await.unwrap();
        namespace(&server, "shop").await;
        server
    }

    async fn class(server: &crate::ApiServer, body: Value) -> (u16, Value) {
        call(server, "POST", CLASSES, body).await
    }

    fn pod(name: &str, spec: Value) -> Value {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "app", "image": "nginx"}]);
        json!({"metadata": {"name": name}, "spec": spec})
    }

    #[tokio::test]
    async fn every_cluster_has_the_system_classes_and_keeps_them() {
        let server = cluster().await;
        let (code, node) = call(
            &server,
            "GET",
            &format!("{CLASSES}/system-node-critical"),
            Value::Null,
        )
        .await;
        assert_eq!(code, 200, "{node}");
        assert_eq!(node["value"], 2_000_001_000);
        assert_eq!(node["preemptionPolicy"], "PreemptLowerPriority");
        let (code, table) = call_accepting(
            &server,
            "GET",
            CLASSES,
            Value::Null,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await;
        assert_eq!(code, 200, "{table}");
        let columns: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            columns,
            ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
        );
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "system-cluster-critical");
        assert_eq!(cells[1], 2_000_000_000);
        assert_eq!(cells[2], false);
        assert_eq!(cells[4], "PreemptLowerPriority");

        let (code, refused) = call(
            &server,
            "DELETE",
            &format!("{CLASSES}/system-node-critical"),
            Value::Null,
        )
        .await;
        assert_eq!(code, 403, "{refused}");
        assert_eq!(
            refused["message"],
            "priorityclasses.scheduling.k8s.io \"system-node-critical\" is forbidden: this is a system priority class and cannot be deleted"
        );
    }

    #[tokio::test]
    async fn a_class_keeps_to_its_rules() {
        let server = cluster().await;
        let cases = [
            (
                json!({"metadata": {"name": "system-mine"}, "value": 1}),
                "metadata.name",
                "Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class",
            ),
            (
                json!({"metadata": {"name": "huge"}, "value": 1_000_000_001}),
                "value",
                "Forbidden: maximum allowed value of a user defined priority is 1000000000",
            ),
            (
                json!({"metadata": {"name": "odd"}, "value": 1, "preemptionPolicy": "Sometimes"}),
                "preemptionPolicy",
                "Unsupported value: \"Sometimes\": supported values: \"PreemptLowerPriority\", \"Never\"",
            ),
        ];
        for (body, field, message) in cases {
            let (code, refused) = class(&server, body).await;
            assert_eq!(code, 422, "{refused}");
            let cause = &refused["details"]["causes"][0];
            assert_eq!(cause["field"], field, "{refused}");
            assert_eq!(cause["message"], message, "{refused}");
        }

        let (code, high) = class(
            &server,
            json!({"metadata": {"name": "high"}, "value": 1000}),
        )
        .await;
        assert_eq!(code, 201, "{high}");
        let (code, refused) = call(
            &server,
            "PATCH",
            &format!("{CLASSES}/high"),
            json!({"value": 2000}),
        )
        .await;
        assert_eq!(code, 422, "{refused}");
        assert_eq!(
            refused["details"]["causes"][0]["message"],
            "Forbidden: may not be changed in an update."
        );
    }

    #[tokio::test]
    async fn a_new_pod_takes_its_classes_priority() {
        let server = cluster().await;
        let (code, answer) = class(
            &server,
            json!({"metadata": {"name": "batch"}, "value": 1000, "preemptionPolicy": "Never"}),
        )
        .await;
        assert_eq!(code, 201, "{answer}");

        let (code, web) = call(&server, "POST", PODS, pod("web", json!({}))).await;
        assert_eq!(code, 201, "{web}");
        assert_eq!(web["spec"]["priority"], 0);
        assert_eq!(web["spec"]["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(web["spec"].get("priorityClassName"), None);
        // Admission set them after the field manager: the creator does not own them.
        let fields = &web["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"];
        for field in ["f:priority", "f:preemptionPolicy", "f:serviceAccountName"] {
            assert!(fields.get(field).is_none(), "{field} in {fields}");
        }
        assert_eq!(web["spec"]["serviceAccountName"], "default");
        assert_eq!(web["spec"]["serviceAccount"], "default");

        let (code, job) = call(
            &server,
            "POST",
            PODS,
            pod("job", json!({"priorityClassName": "batch"})),
        )
        .await;
        assert_eq!(code, 201, "{job}");
        assert_eq!(job["spec"]["priority"], 1000);
        assert_eq!(job["spec"]["preemptionPolicy"], "Never");

        // An update that leaves the priority out keeps it.
        let mut replaced = job.clone();
        for field in ["priority", "preemptionPolicy"] {
            replaced["spec"].as_object_mut().unwrap().remove(field);
        }
        let (code, updated) = call(&server, "PUT", &format!("{PODS}/job"), replaced).await;
        assert_eq!(code, 200, "{updated}");
        assert_eq!(updated["spec"]["priority"], 1000);

        let refusals = [
            (
                pod("ghost", json!({"priorityClassName": "ghost"})),
                "pods \"ghost\" is forbidden: no PriorityClass with name ghost was found",
            ),
            (
                pod(
                    "sneaky",
                    json!({"priorityClassName": "batch", "priority": 5}),
                ),
                "pods \"sneaky\" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name",
            ),
            (
                pod(
                    "eager",
                    json!({"priorityClassName": "batch", "preemptionPolicy": "PreemptLowerPriority"}),
                ),
                "pods \"eager\" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name",
            ),
        ];
        for (body, message) in refusals {
            let (code, refused) = call(&server, "POST", PODS, body).await;
            assert_eq!(code, 403, "{refused}");
            assert_eq!(refused["message"], message);
        }
    }

    #[tokio::test]
    async fn one_global_default_names_itself_in_pods_that_name_no_class() {
        let server = cluster().await;
        let (code, low) = class(
            &server,
            json!({"metadata": {"name": "low"}, "value": -10, "globalDefault": true}),
        )
        .await;
        assert_eq!(code, 201, "{low}");
        let (code, web) = call(&server, "POST", PODS, pod("web", json!({}))).await;
        assert_eq!(code, 201, "{web}");
        assert_eq!(web["spec"]["priorityClassName"], "low");
        assert_eq!(web["spec"]["priority"], -10);

        let (code, refused) = class(
            &server,
            json!({"metadata": {"name": "other"}, "value": 5, "globalDefault": true}),
        )
        .await;
        assert_eq!(code, 403, "{refused}");
        assert_eq!(
            refused["message"],
            "priorityclasses.scheduling.k8s.io \"other\" is forbidden: PriorityClass low is already marked as default. Only one default can exist"
        );
        // The default itself may be updated.
        let (code, updated) = call(
            &server,
            "PATCH",
            &format!("{CLASSES}/low"),
            json!({"description": "for everything else"}),
        )
        .await;
        assert_eq!(code, 200, "{updated}");
    }
}
