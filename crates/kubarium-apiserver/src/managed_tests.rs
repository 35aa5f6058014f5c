//! Field sets, the diff of a write and what each manager keeps owning.

use super::*;

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["x"]},
        "spec": {"containers": [{"name": "web", "image": "web:1"}], "tolerations": [{"key": "a"}]},
    })
}

#[test]
fn field_sets_read_like_fields_v1() {
    let set = FieldSet::of(&pod(), schema::root("Pod"));
    assert_eq!(
        set.to_json(),
        json!({
            "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
            "f:spec": {
                "f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}},
                "f:tolerations": {},
            },
        })
    );
    let path: Path = vec![
        "f:spec".into(),
        "f:containers".into(),
        "k:{\"name\":\"web\"}".into(),
        "f:image".into(),
    ];
    assert_eq!(lookup(&pod(), &path), Some(&json!("web:1")));
    assert!(set.contains(&path));
}

#[test]
fn updates_take_ownership_of_what_they_change() {
    let mut created = pod();
    record_update(&mut created, None, "kubectl-create", "v1", None, "Pod");
    let mut edited = created.clone();
    edited["spec"]["containers"][0]["image"] = json!("web:2");
    record_update(
        &mut edited,
        Some(&created),
        "kubectl-edit",
        "v1",
        None,
        "Pod",
    );
    let entries = entries(&edited);
    assert_eq!(entries.len(), 2);
    let image: Path = vec![
        "f:spec".into(),
        "f:containers".into(),
        "k:{\"name\":\"web\"}".into(),
        "f:image".into(),
    ];
    assert!(!entries[0].fields.contains(&image));
    assert!(entries[1].fields.contains(&image));
    assert_eq!(entries[1].manager, "kubectl-edit");
}

#[test]
fn an_update_disowns_what_it_changes_or_removes_and_keeps_other_entries_as_stored() {
    let mut created = pod();
    created["metadata"]["labels"]["tier"] = json!("front");
    record_update(&mut created, None, "kubectl-create", "v1", None, "Pod");
    let mut labelled = created.clone();
    labelled["metadata"]["annotations"] = json!({"note": "x"});
    record_update(
        &mut labelled,
        Some(&created),
        "annotator",
        "v1",
        None,
        "Pod",
    );
    let annotator = labelled["metadata"]["managedFields"][1].clone();
    // A stored time the writer would not produce shows the entry is kept as stored.
    labelled["metadata"]["managedFields"][1]["time"] = json!("2020-01-01T00:00:00Z");

    let mut edited = labelled.clone();
    edited["spec"]["containers"][0]["image"] = json!("web:2");
    edited["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("tier");
    record_update(
        &mut edited,
        Some(&labelled),
        "kubectl-edit",
        "v1",
        None,
        "Pod",
    );

    let entries = entries(&edited);
    let path = |p: &[&str]| p.iter().map(|e| (*e).to_owned()).collect::<Path>();
    let image = path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
    let tier = path(&["f:metadata", "f:labels", "f:tier"]);
    let app = path(&["f:metadata", "f:labels", "f:app"]);
    assert!(entries[0].fields.contains(&app));
    assert!(!entries[0].fields.contains(&image));
    assert!(!entries[0].fields.contains(&tier));
    assert_eq!(entries[2].manager, "kubectl-edit");
    assert_eq!(entries[2].fields.leaves(), vec![image]);
    let mut kept = annotator;
    kept["time"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(edited["metadata"]["managedFields"][1], kept);

    // A write that only removes a field takes it from its owner, and owns nothing.
    let tolerations = path(&["f:spec", "f:tolerations"]);
    assert!(entries[0].fields.contains(&tolerations));
    let mut removed = edited.clone();
    removed["spec"]
        .as_object_mut()
        .unwrap()
        .remove("tolerations");
    record_update(&mut removed, Some(&edited), "remover", "v1", None, "Pod");
    let after = super::entries(&removed);
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(!after[0].fields.contains(&tolerations));
    assert!(after[0].fields.contains(&app));
    assert_eq!(removed["metadata"]["managedFields"][1], kept);

    // A write that changes nothing keeps every entry as it was.
    let mut again = edited.clone();
    record_update(&mut again, Some(&edited), "kubectl-edit", "v1", None, "Pod");
    assert_eq!(again, edited);
}

/// The definition [`changes`] walks in one pass: the leaves of `new_set` (the field set
/// of `new`) whose values differ between `old` and `new`.
fn changed_by_definition(new_set: &FieldSet, old: Option<&Value>, new: Option<&Value>) -> FieldSet {
    let mut out = FieldSet::default();
    for (element, child) in &new_set.0 {
        let new_child = new.and_then(|n| step(n, element));
        let old_child = old.and_then(|o| step(o, element));
        if old_child == new_child || (element == "." && old_child.is_some()) {
            continue;
        }
        if child.0.is_empty() {
            out.0.insert(element.clone(), FieldSet::default());
        } else {
            let changed = changed_by_definition(child, old_child, new_child);
            if !changed.is_empty() {
                out.0.insert(element.clone(), changed);
            }
        }
    }
    out
}

/// The definition [`disown`] checks against the object itself: keep the leaves that
/// `changed` does not hold and `present` (the object's field set) holds as leaves.
fn disowned_by_definition(owned: &FieldSet, changed: &FieldSet, present: &FieldSet) -> FieldSet {
    let mut kept = FieldSet::default();
    for path in owned.leaves() {
        if !changed.contains(&path) && present.contains(&path) {
            kept.insert(&path);
        }
    }
    kept
}

/// A pod through its life, and edits of every shape a field can take.
fn revisions() -> Vec<Value> {
    let created = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "d", "uid": "u1", "resourceVersion": "1",
                     "labels": {"app": "web"}, "finalizers": ["a"], "annotations": {}},
        "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 80}],
                                 "env": [{"name": "A", "value": "1"}]}],
                 "tolerations": [{"key": "t"}], "volumes": []},
    });
    let mut bound = created.clone();
    bound["metadata"]["resourceVersion"] = json!("2");
    bound["spec"]["nodeName"] = json!("n1");
    bound["status"] =
        json!({"conditions": [{"type": "PodScheduled", "status": "True"}], "phase": "Pending"});
    let mut running = bound.clone();
    running["status"] = json!({
        "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}],
        "phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
        "containerStatuses": [{"name": "web", "ready": true, "state": {"running": {"startedAt": "t"}}}],
    });
    let mut edited = running.clone();
    edited["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
    edited["metadata"]["finalizers"] = json!(["a", "b"]);
    edited["spec"]["containers"][0]["env"] =
        json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]);
    edited["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "side", "image": "side:1"}));
    edited["spec"]["tolerations"] = json!([{"key": "u"}]);
    edited["spec"]["volumes"] = json!([{"name": "v", "emptyDir": {}}]);
    let mut trimmed = edited.clone();
    trimmed["metadata"]["labels"] = json!({"tier": "front"});
    trimmed["metadata"]["finalizers"] = json!(["b"]);
    trimmed["spec"]["containers"] = json!([{"name": "side", "image": "side:2"}]);
    trimmed["spec"]
        .as_object_mut()
        .unwrap()
        .remove("tolerations");
    trimmed["status"]["conditions"] =
        json!([{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]);
    trimmed["metadata"]["annotations"] = json!({"note": "x"});
    let mut reshaped = trimmed.clone();
    reshaped["spec"]["nodeName"] = json!({"odd": "shape"});
    reshaped["metadata"]["labels"] = json!("not a map");
    reshaped["spec"]["containers"] = json!([{"image": "no name"}, {"name": "side"}]);
    vec![created, bound, running, edited, trimmed, reshaped]
}

#[test]
fn the_one_walk_diff_and_disown_agree_with_their_definitions() {
    let ty = schema::root("Pod");
    let revisions = revisions();
    let mut pairs: Vec<(Option<&Value>, &Value)> = revisions.iter().map(|r| (None, r)).collect();
    for (i, old) in revisions.iter().enumerate() {
        for new in &revisions[i..] {
            pairs.push((Some(old), new));
            pairs.push((Some(new), old));
        }
    }
    for (old, new) in pairs {
        let present = FieldSet::of(new, ty);
        let changed = changes(old, new, ty);
        assert_eq!(
            changed,
            changed_by_definition(&present, old, Some(new)),
            "{old:?} -> {new}"
        );
        // Every revision's whole field set stands for what some manager owns.
        for owner in revisions.iter().map(|r| FieldSet::of(r, ty)) {
            let mut owned = owner.to_json();
            let fields = owned.as_object_mut().unwrap();
            disown(fields, Some(&changed), Some(new), ty, Level::Root);
            assert_eq!(
                FieldSet::from_json(&owned),
                disowned_by_definition(&owner, &changed, &present),
                "{new}"
            );
        }
    }
}

#[test]
fn an_update_moves_the_entries_it_leaves_alone_from_what_the_client_sent() {
    let [created, bound, ..] = &revisions()[..] else {
        unreachable!()
    };
    let mut created = created.clone();
    record_update(&mut created, None, "kubectl-create", "v1", None, "Pod");
    // The client sent a changed copy of an entry: the stored one wins, as before.
    for sent in [
        created["metadata"]["managedFields"].clone(),
        json!([{"manager": "forged"}]),
    ] {
        let mut update = bound.clone();
        update["metadata"]["managedFields"] = sent;
        record_update(
            &mut update,
            Some(&created),
            "kube-scheduler",
            "v1",
            Some("binding"),
            "Pod",
        );
        let managers: Vec<&str> = update["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["kubectl-create", "kube-scheduler"]);
        assert_eq!(
            update["metadata"]["managedFields"][0],
            created["metadata"]["managedFields"][0]
        );
    }
}

#[test]
fn removing_paths() {
    let mut value = pod();
    remove_path(
        &mut value,
        &[
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"web\"}".into(),
            ".".into(),
        ],
    );
    assert_eq!(value["spec"]["containers"], json!([]));
    remove_path(
        &mut value,
        &["f:metadata".into(), "f:labels".into(), "f:app".into()],
    );
    assert_eq!(value["metadata"]["labels"], json!({}));
    assert_eq!(
        manager_name(None, Some("kubectl/v1.32.0 (linux/amd64)")),
        "kubectl"
    );
}
