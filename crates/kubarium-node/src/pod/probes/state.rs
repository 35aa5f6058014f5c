//! The kubelet's probe rules as pure values: each probe's timing with upstream's defaults,
//! the per-probe result tracker (thresholds, initial values, hold after a liveness or
//! startup failure), and what a container's results mean for `started` and `ready`.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Probe;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `startupProbe`: gates the other two until it succeeds.
    Startup,
    /// `readinessProbe`: drives the container's `ready`.
    Readiness,
    /// `livenessProbe`: a failure restarts the container.
    Liveness,
}

impl Kind {
    /// As the kubelet's events name it: `Liveness probe failed: …`.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Readiness => "Readiness",
            Kind::Liveness => "Liveness",
        }
    }

    /// As the `Killing` event names it: `failed liveness probe`.
    pub(crate) fn lower(self) -> &'static str {
        match self {
            Kind::Startup => "startup",
            Kind::Readiness => "readiness",
            Kind::Liveness => "liveness",
        }
    }

    /// The result a probe holds before it has run (the kubelet's `initialValue`).
    fn initial(self) -> Verdict {
        match self {
            Kind::Startup => Verdict::Unknown,
            Kind::Readiness => Verdict::Failure,
            Kind::Liveness => Verdict::Success,
        }
    }
}

/// A probe's standing result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not known yet (a startup probe that has not passed or failed).
    Unknown,
    /// Passed (as many times in a row as `successThreshold` asks).
    Success,
    /// Failed (as many times in a row as `failureThreshold` asks).
    Failure,
}

/// A probe's timing fields with upstream's defaults and floors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) initial_delay: Duration,
    pub(crate) period: Duration,
    pub(crate) timeout: Duration,
    pub(crate) success_threshold: u32,
    pub(crate) failure_threshold: u32,
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

impl Timing {
    /// `periodSeconds` 10, `timeoutSeconds` 1, `successThreshold` 1 (always 1 for liveness
    /// and startup), `failureThreshold` 3, as the API server's defaults; values below the
    /// minimum of 1 count as 1.
    pub(crate) fn of(probe: &Probe, kind: Kind) -> Self {
        let threshold = |value: Option<i32>, default: u32| {
            value
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(default)
                .max(1)
        };
        Self {
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: match kind {
                Kind::Readiness => threshold(probe.success_threshold, 1),
                Kind::Startup | Kind::Liveness => 1,
            },
            failure_threshold: threshold(probe.failure_threshold, 3),
        }
    }

    /// How long after `now` the first probe of a container that started at `started_at` is
    /// due: not before `initialDelaySeconds` have passed since the start.
    pub(crate) fn first_due(&self, started_at: Timestamp, now: Timestamp) -> Duration {
        let running = now.duration_since(started_at);
        let running = Duration::try_from(running).unwrap_or(Duration::ZERO);
        self.initial_delay.saturating_sub(running)
    }
}

/// One probe's results over time, as the kubelet's probe worker keeps them.
#[derive(Debug, Clone)]
pub(crate) struct Tracker {
    kind: Kind,
    success_threshold: u32,
    failure_threshold: u32,
    result: Verdict,
    last: Option<bool>,
    run: u32,
    on_hold: bool,
}

impl Tracker {
    pub(crate) fn new(kind: Kind, timing: &Timing) -> Self {
        Self {
            kind,
            success_threshold: timing.success_threshold,
            failure_threshold: timing.failure_threshold,
            result: kind.initial(),
            last: None,
            run: 0,
            on_hold: false,
        }
    }

    /// The standing result.
    pub(crate) fn result(&self) -> Verdict {
        self.result
    }

    /// A liveness or startup probe that failed stops probing until the container is
    /// replaced (it is about to be killed).
    pub(crate) fn on_hold(&self) -> bool {
        self.on_hold
    }

    /// Records one probe run; returns whether the standing result changed. A run of equal
    /// outcomes changes the result once it reaches its threshold.
    pub(crate) fn record(&mut self, success: bool) -> bool {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold {
            return false;
        }
        let before = self.result;
        self.result = if success {
            Verdict::Success
        } else {
            Verdict::Failure
        };
        if !success && matches!(self.kind, Kind::Liveness | Kind::Startup) {
            self.on_hold = true;
            self.run = 0;
        }
        before != self.result
    }
}

/// A container's probe results: `None` where it has no such probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Results {
    pub(crate) startup: Option<Verdict>,
    pub(crate) readiness: Option<Verdict>,
    pub(crate) liveness: Option<Verdict>,
}

impl Results {
    /// What a container with these probes holds before any of them has run.
    pub(crate) fn initial(startup: bool, readiness: bool, liveness: bool) -> Self {
        Self {
            startup: startup.then(|| Kind::Startup.initial()),
            readiness: readiness.then(|| Kind::Readiness.initial()),
            liveness: liveness.then(|| Kind::Liveness.initial()),
        }
    }

    /// Every probe passing: how hollow containers' probes count unless told otherwise.
    pub(crate) fn passing(startup: bool, readiness: bool, liveness: bool) -> Self {
        let pass = |has: bool| has.then_some(Verdict::Success);
        Self {
            startup: pass(startup),
            readiness: pass(readiness),
            liveness: pass(liveness),
        }
    }

    pub(crate) fn set(&mut self, kind: Kind, verdict: Verdict) {
        let slot = match kind {
            Kind::Startup => &mut self.startup,
            Kind::Readiness => &mut self.readiness,
            Kind::Liveness => &mut self.liveness,
        };
        *slot = Some(verdict);
    }

    /// The container's `started`: its startup probe passed, or it has none.
    pub(crate) fn started(&self) -> bool {
        self.startup.is_none_or(|v| v == Verdict::Success)
    }

    /// The container's `ready` (when running): started, and its readiness probe passed or
    /// it has none.
    pub(crate) fn ready(&self) -> bool {
        self.started() && self.readiness.is_none_or(|v| v == Verdict::Success)
    }

    /// The probe whose failure means the container must be restarted, if any.
    pub(crate) fn failed(&self) -> Option<Kind> {
        if self.startup == Some(Verdict::Failure) {
            Some(Kind::Startup)
        } else if self.liveness == Some(Verdict::Failure) {
            Some(Kind::Liveness)
        } else {
            None
        }
    }
}

/// Whether a probe of `kind` runs now: liveness and readiness wait for the container to
/// have started; a startup probe stops once it has.
pub(crate) fn runs(kind: Kind, started: bool) -> bool {
    match kind {
        Kind::Startup => !started,
        Kind::Readiness | Kind::Liveness => started,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: Option<i32>, failure: Option<i32>) -> Probe {
        Probe {
            success_threshold: success,
            failure_threshold: failure,
            ..Probe::default()
        }
    }

    #[test]
    fn timing_defaults_as_the_api_server() {
        let timing = Timing::of(&Probe::default(), Kind::Readiness);
        assert_eq!(timing.initial_delay, Duration::ZERO);
        assert_eq!(timing.period, Duration::from_secs(10));
        assert_eq!(timing.timeout, Duration::from_secs(1));
        assert_eq!(timing.success_threshold, 1);
        assert_eq!(timing.failure_threshold, 3);
        let odd = Probe {
            period_seconds: Some(0),
            timeout_seconds: Some(-4),
            success_threshold: Some(5),
            failure_threshold: Some(0),
            initial_delay_seconds: Some(7),
            ..Probe::default()
        };
        let liveness = Timing::of(&odd, Kind::Liveness);
        assert_eq!(liveness.period, Duration::from_secs(1));
        assert_eq!(liveness.timeout, Duration::from_secs(1));
        assert_eq!(liveness.success_threshold, 1, "liveness succeeds at once");
        assert_eq!(liveness.failure_threshold, 1);
        assert_eq!(Timing::of(&odd, Kind::Readiness).success_threshold, 5);
        let started = Timestamp::from_second(100).unwrap();
        assert_eq!(
            liveness.first_due(started, Timestamp::from_second(103).unwrap()),
            Duration::from_secs(4)
        );
        assert_eq!(
            liveness.first_due(started, Timestamp::from_second(200).unwrap()),
            Duration::ZERO
        );
    }

    #[test]
    fn readiness_flips_at_its_thresholds() {
        let timing = Timing::of(&probe(Some(2), Some(3)), Kind::Readiness);
        let mut tracker = Tracker::new(Kind::Readiness, &timing);
        assert_eq!(
            tracker.result(),
            Verdict::Failure,
            "not ready until it passes"
        );
        assert!(!tracker.record(true), "one success of two");
        assert!(!tracker.record(false), "a failure breaks the run");
        assert!(!tracker.record(true));
        assert!(tracker.record(true), "two in a row");
        assert_eq!(tracker.result(), Verdict::Success);
        assert!(!tracker.record(false));
        assert!(!tracker.record(false));
        assert!(tracker.record(false), "three failures in a row");
        assert_eq!(tracker.result(), Verdict::Failure);
        assert!(!tracker.on_hold(), "readiness keeps probing");
        assert!(!tracker.record(false), "no change, no news");
    }

    #[test]
    fn liveness_fails_at_its_threshold_and_holds() {
        let timing = Timing::of(&probe(None, None), Kind::Liveness);
        let mut tracker = Tracker::new(Kind::Liveness, &timing);
        assert_eq!(
            tracker.result(),
            Verdict::Success,
            "alive until proven dead"
        );
        assert!(!tracker.record(false));
        assert!(!tracker.record(true), "a success resets the run");
        assert!(!tracker.record(false));
        assert!(!tracker.record(false));
        assert!(tracker.record(false));
        assert_eq!(tracker.result(), Verdict::Failure);
        assert!(tracker.on_hold());
    }

    #[test]
    fn startup_is_unknown_until_it_passes_or_fails() {
        let timing = Timing::of(&probe(None, Some(2)), Kind::Startup);
        let mut tracker = Tracker::new(Kind::Startup, &timing);
        assert_eq!(tracker.result(), Verdict::Unknown);
        assert!(tracker.record(true), "one success starts the container");
        let mut failing = Tracker::new(Kind::Startup, &timing);
        assert!(!failing.record(false));
        assert!(failing.record(false));
        assert_eq!(failing.result(), Verdict::Failure);
        assert!(failing.on_hold());
    }

    #[test]
    fn startup_gates_the_other_probes() {
        let mut results = Results::initial(true, true, true);
        assert!(!results.started());
        assert!(!results.ready());
        assert_eq!(results.failed(), None);
        assert!(runs(Kind::Startup, results.started()));
        assert!(!runs(Kind::Liveness, results.started()));
        assert!(!runs(Kind::Readiness, results.started()));
        results.set(Kind::Startup, Verdict::Success);
        assert!(results.started());
        assert!(!results.ready(), "readiness has not passed yet");
        assert!(!runs(Kind::Startup, results.started()));
        assert!(runs(Kind::Liveness, results.started()));
        results.set(Kind::Readiness, Verdict::Success);
        assert!(results.ready());
        results.set(Kind::Liveness, Verdict::Failure);
        assert_eq!(results.failed(), Some(Kind::Liveness));
        let mut stuck = Results::initial(true, false, false);
        stuck.set(Kind::Startup, Verdict::Failure);
        assert_eq!(stuck.failed(), Some(Kind::Startup));
    }

    #[test]
    fn no_probes_means_started_and_ready() {
        let none = Results::initial(false, false, false);
        assert!(none.started() && none.ready());
        let only_liveness = Results::initial(false, false, true);
        assert!(only_liveness.ready(), "liveness does not gate readiness");
        assert!(Results::passing(true, true, true).ready());
    }
}
