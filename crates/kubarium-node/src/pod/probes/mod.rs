//! Liveness, readiness and startup probes, as the kubelet's prober: one task per running
//! container that has probes, with one timer per probe (`initialDelaySeconds`,
//! `periodSeconds`), which runs them (`exec`, `httpGet`, `tcpSocket`, `grpc`), applies the
//! thresholds, records `Unhealthy` events, and tells the pod worker only when a result
//! changes. The worker reads the results for each container's `started` and `ready` (so the
//! pod's `Ready` and `ContainersReady`), and kills a container whose liveness or startup
//! probe failed (`Killing`: `Container x failed liveness probe, will be restarted`); it is then
//! restarted per `restartPolicy` with the crash-loop back-off, as any exited container.
//!
//! Hollow containers run no process to probe: their probes count as passing, with no task
//! or timer, unless the pod is annotated `hollow.kubarium.dev/probes: fail`, which makes
//! every probe fail on its timers (a pod that never becomes Ready, a container restarted by
//! its liveness probe) — a way to rehearse probe failures without Docker.

mod check;
mod grpc;
mod state;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod, Probe};
use kubarium_controllers::events::{EventType, Recorder};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use self::check::{Outcome, Target};
use self::state::{Kind, Results, Timing, Tracker};
use super::Worker;
use crate::runtime::{ContainerId, ContainerState};

/// Pod annotation for hollow pods: `fail` makes their probes fail (else they pass).
pub(crate) const HOLLOW_PROBES_ANNOTATION: &str = "hollow.kubarium.dev/probes";

/// How a pod's probes are run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Against the container, for real.
    Run,
    /// Not run: every probe counts as passing (hollow pods).
    Pass,
    /// Not run: every probe fails on its timers (hollow pods so annotated).
    Fail,
}

/// What a container's probe task reports: its results, when one changed.
#[derive(Debug)]
pub(super) struct Update {
    container: String,
    id: ContainerId,
    results: Results,
}

/// A pod's probes: which containers have them, the running tasks, and the latest results.
pub(super) struct Probes {
    mode: Mode,
    /// Whether any container has a probe (the cheap path when none does).
    any: bool,
    tasks: HashMap<String, (ContainerId, AbortHandle)>,
    results: HashMap<String, (ContainerId, Results)>,
    /// The container last killed for a failed probe, so it is killed once.
    killed: HashMap<String, ContainerId>,
    channel: Option<(
        mpsc::UnboundedSender<Update>,
        mpsc::UnboundedReceiver<Update>,
    )>,
}

fn has_probes(container: &Container) -> (bool, bool, bool) {
    (
        container.startup_probe.is_some(),
        container.readiness_probe.is_some(),
        container.liveness_probe.is_some(),
    )
}

impl Probes {
    /// The probes of `pod`, whose containers run in `runtime`.
    pub(super) fn new(pod: &Pod, runtime: &str) -> Self {
        let any = pod.spec.as_ref().is_some_and(|spec| {
            spec.containers
                .iter()
                .any(|c| has_probes(c) != (false, false, false))
        });
        let annotation = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HOLLOW_PROBES_ANNOTATION));
        let mode = match (runtime, annotation.map(String::as_str)) {
            ("hollow", Some("fail")) => Mode::Fail,
            ("hollow", _) => Mode::Pass,
            _ => Mode::Run,
        };
        Self {
            mode,
            any,
            tasks: HashMap::new(),
            results: HashMap::new(),
            killed: HashMap::new(),
            channel: None,
        }
    }

    fn results_of(&self, container: &Container, id: &ContainerId) -> Results {
        let (startup, readiness, liveness) = has_probes(container);
        match self.mode {
            Mode::Pass => Results::passing(startup, readiness, liveness),
            Mode::Run | Mode::Fail => match self.results.get(&container.name) {
                Some((seen, results)) if seen == id => *results,
                _ => Results::initial(startup, readiness, liveness),
            },
        }
    }

    /// The container's `started` while it runs as `id`.
    pub(super) fn started(&self, pod: &Pod, name: &str, id: &ContainerId) -> bool {
        !self.any || container(pod, name).is_none_or(|c| self.results_of(c, id).started())
    }

    /// The container's `ready` while it runs as `id`.
    pub(super) fn ready(&self, pod: &Pod, name: &str, id: &ContainerId) -> bool {
        !self.any || container(pod, name).is_none_or(|c| self.results_of(c, id).ready())
    }

    /// The next result change of any container (never, when no probe task runs).
    pub(super) async fn changed(&mut self) -> Update {
        match self.channel.as_mut() {
            Some((_, receiver)) => match receiver.recv().await {
                Some(update) => update,
                None => std::future::pending().await,
            },
            None => std::future::pending().await,
        }
    }

    /// Keeps a change if it is about the container that runs now.
    pub(super) fn apply(&mut self, update: Update) {
        let current = self.tasks.get(&update.container).map(|(id, _)| id);
        if current == Some(&update.id) {
            self.results
                .insert(update.container, (update.id, update.results));
        }
    }

    fn stop(&mut self, name: &str) {
        if let Some((_, task)) = self.tasks.remove(name) {
            task.abort();
        }
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        for (_, task) in self.tasks.values() {
            task.abort();
        }
    }
}

fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .find(|c| c.name == name)
}

fn probe_of(container: &Container, kind: Kind) -> Option<&Probe> {
    match kind {
        Kind::Startup => container.startup_probe.as_ref(),
        Kind::Readiness => container.readiness_probe.as_ref(),
        Kind::Liveness => container.liveness_probe.as_ref(),
    }
}

impl Worker {
    /// Starts the probes of containers that started running, stops those of containers
    /// that no longer run. Cheap when the pod has no probes, or they are not run.
    pub(super) fn watch_probes(&mut self) {
        if !self.probes.any || self.probes.mode == Mode::Pass {
            return;
        }
        let pod = self.pod.clone();
        let host_network = pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        // With hostNetwork the pod's ports are the host's, and this process runs on it.
        let ip = if host_network {
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            self.ip.map(IpAddr::V4)
        };
        for index in 0..self.main.len() {
            let slot = &self.main[index];
            let running = match &slot.current {
                Some(status) => match status.state {
                    ContainerState::Running { started_at } => Some((status.id.clone(), started_at)),
                    _ => None,
                },
                None => None,
            };
            let name = slot.name.clone();
            let Some((id, started_at)) = running else {
                self.probes.stop(&name);
                continue;
            };
            if self.probes.tasks.get(&name).is_some_and(|(t, _)| *t == id) {
                continue;
            }
            self.probes.stop(&name);
            let Some(spec) = container(&pod, &name) else {
                continue;
            };
            if has_probes(spec) == (false, false, false) {
                continue;
            }
            let Some(ip) = ip else { continue };
            let reference = self.container_ref(&self.main[index]);
            let sender = self
                .probes
                .channel
                .get_or_insert_with(mpsc::unbounded_channel)
                .0
                .clone();
            let task = ProbeTask {
                target: Target {
                    runtime: self.shared.runtime.clone(),
                    id: id.clone(),
                    ip,
                    user_agent: check::user_agent(&self.shared.kubelet_version),
                },
                container: spec.clone(),
                started_at,
                fail: self.probes.mode == Mode::Fail,
                recorder: self.events(),
                reference,
                sender,
            };
            let abort = tokio::spawn(task.run()).abort_handle();
            self.probes.tasks.insert(name, (id, abort));
        }
    }

    /// Kills each running container whose liveness or startup probe failed, once, with the
    /// kubelet's `Killing` event; the worker then restarts it as any exited container.
    pub(super) async fn kill_unhealthy(&mut self) {
        if !self.probes.any || self.pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        let runtime = self.shared.runtime.clone();
        for index in 0..self.main.len() {
            let slot = &self.main[index];
            let Some(id) = slot.running().cloned() else {
                continue;
            };
            let Some(spec) = container(&self.pod, &slot.name) else {
                continue;
            };
            let Some(kind) = self.probes.results_of(spec, &id).failed() else {
                continue;
            };
            if self.probes.killed.get(&slot.name) == Some(&id) {
                continue;
            }
            let grace = self.grace_period(
                probe_of(spec, kind).and_then(|p| p.termination_grace_period_seconds),
            );
            let message = format!(
                "Container {} failed {} probe, will be restarted",
                slot.name,
                kind.lower()
            );
            self.event(slot, EventType::Normal, "Killing", message);
            let name = slot.name.clone();
            self.probes.killed.insert(name.clone(), id.clone());
            self.probes.stop(&name);
            if let Err(error) = runtime.stop_container(&id, grace).await {
                tracing::warn!(pod = self.name(), container = %name, %error, "could not stop an unhealthy container");
            }
            if let Ok(status) = runtime.container_status(&id).await {
                self.main[index].current = Some(status);
            }
        }
    }
}

/// One probe of a container, on its own timer.
struct Timer {
    kind: Kind,
    timing: Timing,
    action: Result<check::Action, String>,
    tracker: Tracker,
    next: Instant,
}

/// The probes of one running container.
struct ProbeTask {
    target: Target,
    container: Container,
    started_at: Timestamp,
    /// Hollow pods annotated to fail: no probe runs, each one fails.
    fail: bool,
    recorder: Recorder,
    reference: ObjectReference,
    sender: mpsc::UnboundedSender<Update>,
}

impl ProbeTask {
    async fn run(self) {
        let now = Instant::now();
        let wall = Timestamp::now();
        let mut timers: Vec<Timer> = [Kind::Startup, Kind::Readiness, Kind::Liveness]
            .into_iter()
            .filter_map(|kind| {
                let probe = probe_of(&self.container, kind)?;
                let timing = Timing::of(probe, kind);
                Some(Timer {
                    kind,
                    action: check::action(probe, &self.container),
                    tracker: Tracker::new(kind, &timing),
                    next: now + timing.first_due(self.started_at, wall),
                    timing,
                })
            })
            .collect();
        let (startup, readiness, liveness) = has_probes(&self.container);
        let mut results = Results::initial(startup, readiness, liveness);
        loop {
            let Some(next) = timers.iter().map(|t| t.next).min() else {
                return;
            };
            tokio::time::sleep_until(next).await;
            let mut changed = false;
            for index in 0..timers.len() {
                let now = Instant::now();
                let timer = &mut timers[index];
                if timer.next > now {
                    continue;
                }
                timer.next = now + timer.timing.period;
                if !state::runs(timer.kind, results.started()) {
                    continue;
                }
                let success = match self.probe(timer).await {
                    Some(success) => success,
                    None => continue,
                };
                if !timer.tracker.record(success) {
                    continue;
                }
                changed = true;
                results.set(timer.kind, timer.tracker.result());
                if timer.kind == Kind::Startup && results.started() {
                    // Started: the other probes run now (after their initial delay), as
                    // the kubelet triggers readiness at once.
                    let wall = Timestamp::now();
                    for other in timers.iter_mut().filter(|t| t.kind != Kind::Startup) {
                        other.next = now + other.timing.first_due(self.started_at, wall);
                    }
                }
            }
            if changed {
                let update = Update {
                    container: self.container.name.clone(),
                    id: self.target.id.clone(),
                    results,
                };
                if self.sender.send(update).is_err() {
                    return;
                }
            }
            // A failed liveness or startup probe holds until the container is replaced
            // (by a new task).
            if timers.iter().any(|t| t.tracker.on_hold()) || results.failed().is_some() {
                return;
            }
        }
    }

    /// Runs one probe with its events; `None` when it errored (its result is thrown away).
    async fn probe(&self, timer: &Timer) -> Option<bool> {
        let outcome = if self.fail {
            Outcome::Failure(format!(
                "hollow container (pod annotation {HOLLOW_PROBES_ANNOTATION}: fail)"
            ))
        } else {
            match &timer.action {
                Ok(action) => check::run(&self.target, action, timer.timing.timeout).await,
                Err(error) => Outcome::Error(error.clone()),
            }
        };
        let title = timer.kind.title();
        match outcome {
            Outcome::Success => Some(true),
            Outcome::Failure(output) => {
                self.unhealthy(format!("{title} probe failed: {output}"));
                Some(false)
            }
            Outcome::Error(error) => {
                self.unhealthy(format!(
                    "{title} probe errored and resulted in unknown state: {error}"
                ));
                None
            }
        }
    }

    fn unhealthy(&self, message: String) {
        self.recorder.record(
            self.reference.clone(),
            EventType::Warning,
            "Unhealthy",
            message,
        );
    }
}

impl Worker {
    /// What the probes say of a running container: `ready` (or `started`).
    pub(super) fn probe_says(&self, slot: &super::Slot, ready: bool) -> bool {
        match slot.running() {
            Some(id) if ready => self.probes.ready(&self.pod, &slot.name, id),
            Some(id) => self.probes.started(&self.pod, &slot.name, id),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodSpec;
    use kube::api::ObjectMeta;

    use super::*;

    fn pod(probed: bool, annotation: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                annotations: annotation
                    .map(|value| [(HOLLOW_PROBES_ANNOTATION.to_owned(), value.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".to_owned(),
                    readiness_probe: probed.then(Probe::default),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn id() -> ContainerId {
        ContainerId {
            runtime: "docker",
            id: "abc".to_owned(),
        }
    }

    #[test]
    fn probes_run_on_docker_and_pass_on_hollow_unless_told() {
        let probed = pod(true, None);
        let docker = Probes::new(&probed, "docker");
        assert_eq!(docker.mode, Mode::Run);
        assert!(docker.started(&probed, "app", &id()));
        assert!(
            !docker.ready(&probed, "app", &id()),
            "not ready before a probe"
        );
        let hollow = Probes::new(&probed, "hollow");
        assert_eq!(hollow.mode, Mode::Pass);
        assert!(hollow.ready(&probed, "app", &id()));
        let failing = pod(true, Some("fail"));
        let told = Probes::new(&failing, "hollow");
        assert_eq!(told.mode, Mode::Fail);
        assert!(!told.ready(&failing, "app", &id()));
        let plain = pod(false, None);
        let none = Probes::new(&plain, "docker");
        assert!(!none.any, "the cheap path");
        assert!(none.ready(&plain, "app", &id()));
    }

    #[test]
    fn only_the_current_containers_results_count() {
        let probed = pod(true, None);
        let mut probes = Probes::new(&probed, "docker");
        let passed = Results {
            readiness: Some(state::Verdict::Success),
            ..Results::default()
        };
        probes.apply(Update {
            container: "app".to_owned(),
            id: id(),
            results: passed,
        });
        assert!(!probes.ready(&probed, "app", &id()), "no task runs for it");
        let task = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { tokio::spawn(std::future::pending::<()>()).abort_handle() });
        probes.tasks.insert("app".to_owned(), (id(), task));
        probes.apply(Update {
            container: "app".to_owned(),
            id: id(),
            results: passed,
        });
        assert!(probes.ready(&probed, "app", &id()));
        let other = ContainerId {
            runtime: "docker",
            id: "def".to_owned(),
        };
        assert!(
            !probes.ready(&probed, "app", &other),
            "a new container starts over"
        );
    }
}
