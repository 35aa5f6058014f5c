//! A container's image, as the kubelet's image manager (`EnsureImageExists`) gets it: the
//! runtime makes it available per `imagePullPolicy`; the events say what happened
//! (`Pulling`, `Pulled`, `Failed`, `BackOff`, `ErrImageNeverPull`); a failed pull waits in
//! `ErrImagePull`, then `ImagePullBackOff` until its back-off (10 s doubling to 5 min, per
//! pod and image) has passed.

use std::time::{Duration, Instant};

use kubarium_controllers::events::EventType;

use super::Worker;
use crate::Error;
use crate::runtime::PullPolicy;

/// The first image pull back-off.
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// The longest.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How soon after a failed pull the worker looks again, to show `ImagePullBackOff`.
const AFTER_FAILURE: Duration = Duration::from_secs(1);

/// A failed pull's back-off, per container slot (the kubelet keys it by pod and image).
#[derive(Debug, Clone)]
pub(super) struct PullBackoff {
    image: String,
    delay: Duration,
    at: Instant,
    /// `<reason>: <message>` of the failure, for the back-off's waiting message.
    error: String,
}

impl PullBackoff {
    fn next(previous: Option<&PullBackoff>, image: &str, error: String) -> Self {
        let delay = match previous {
            Some(p) if p.image == image && p.at.elapsed() <= 2 * BACKOFF_MAX => {
                (p.delay * 2).min(BACKOFF_MAX)
            }
            _ => BACKOFF_INITIAL,
        };
        Self {
            image: image.to_owned(),
            delay,
            at: Instant::now(),
            error,
        }
    }

    fn remaining(&self, image: &str) -> Option<Duration> {
        (self.image == image)
            .then(|| self.delay.checked_sub(self.at.elapsed()))
            .flatten()
            .filter(|d| !d.is_zero())
    }
}

/// `1.234s` as Go prints a duration.
fn go_seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

impl Worker {
    /// Makes the slot's image available; `Err(when to look again)` with the slot waiting
    /// when it is not.
    pub(super) async fn ensure_image(
        &mut self,
        init: bool,
        index: usize,
        policy: PullPolicy,
    ) -> Result<(), Duration> {
        let slot = self.slot_at(init, index);
        let image = slot.image.clone();
        if let Some(remaining) = slot.pull_backoff.as_ref().and_then(|b| b.remaining(&image)) {
            let message = format!("Back-off pulling image {image:?}");
            self.event(slot, EventType::Normal, "BackOff", message.clone());
            let previous = slot
                .pull_backoff
                .as_ref()
                .map(|b| b.error.clone())
                .unwrap_or_default();
            let slot = self.slot(init, index);
            slot.waiting = Some((
                "ImagePullBackOff",
                format!("{message}: {previous}")
                    .trim_end_matches(": ")
                    .to_owned(),
            ));
            return Err(remaining);
        }
        let runtime = self.shared.runtime.clone();
        let result = runtime.ensure_image(&image, policy).await;
        let slot = self.slot_at(init, index);
        match result {
            Ok(ready) => {
                match ready.pulled {
                    Some((size, took)) => {
                        self.event(
                            slot,
                            EventType::Normal,
                            "Pulling",
                            format!("Pulling image {image:?}"),
                        );
                        let took = go_seconds(took);
                        self.event(
                            slot,
                            EventType::Normal,
                            "Pulled",
                            format!(
                                "Successfully pulled image {image:?} in {took} ({took} including waiting). Image size: {size} bytes."
                            ),
                        );
                    }
                    None => self.event(
                        slot,
                        EventType::Normal,
                        "Pulled",
                        format!("Container image {image:?} already present on machine"),
                    ),
                }
                Ok(())
            }
            Err(error) => {
                let (reason, message) = match error {
                    Error::Image { reason, message } => (reason, message),
                    other => ("ErrImagePull", other.to_string()),
                };
                let mut wake = AFTER_FAILURE;
                match reason {
                    "ErrImageNeverPull" => {
                        self.event(slot, EventType::Warning, reason, message.clone());
                    }
                    "InvalidImageName" => {
                        self.event(slot, EventType::Warning, "InspectFailed", message.clone());
                    }
                    _ => {
                        self.event(
                            slot,
                            EventType::Normal,
                            "Pulling",
                            format!("Pulling image {image:?}"),
                        );
                        self.event(
                            slot,
                            EventType::Warning,
                            "Failed",
                            format!("Failed to pull image {image:?}: {message}"),
                        );
                        let backoff = PullBackoff::next(
                            slot.pull_backoff.as_ref(),
                            &image,
                            format!("{reason}: {message}"),
                        );
                        wake = wake.min(backoff.delay);
                        self.slot(init, index).pull_backoff = Some(backoff);
                    }
                }
                let slot = self.slot_at(init, index);
                self.event(
                    slot,
                    EventType::Warning,
                    "Failed",
                    format!("Error: {reason}"),
                );
                if reason == "ErrImageNeverPull" || reason == "InvalidImageName" {
                    // Nothing changes until the pod does; look again now and then.
                    wake = BACKOFF_INITIAL;
                }
                self.slot(init, index).waiting = Some((reason, message));
                Err(wake)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes_per_image() {
        let first = PullBackoff::next(None, "a", String::new());
        assert_eq!(first.delay, BACKOFF_INITIAL);
        let mut b = first;
        for _ in 0..10 {
            b = PullBackoff::next(Some(&b), "a", String::new());
        }
        assert_eq!(b.delay, BACKOFF_MAX);
        let other = PullBackoff::next(Some(&b), "b", String::new());
        assert_eq!(other.delay, BACKOFF_INITIAL);
        assert!(b.remaining("a").is_some());
        assert!(b.remaining("b").is_none());
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_seconds(Duration::from_millis(250)), "250ms");
    }
}
