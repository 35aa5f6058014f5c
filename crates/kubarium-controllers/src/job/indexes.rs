//! Completion indexes of Indexed Jobs: the `batch.kubernetes.io/job-completion-index`
//! annotation on each pod, and the interval strings of `status.completedIndexes` and
//! `status.failedIndexes` (`"1,3-5,7"`), as upstream writes them.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

/// The annotation (and label) that carries a pod's completion index.
pub(crate) const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The pod's completion index, when it has a well-formed one.
pub(crate) fn of_pod(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse::<i32>()
        .ok()
        .filter(|index| *index >= 0)
}

/// Parses an interval string, keeping the indexes below `completions`. Malformed parts are
/// skipped, as upstream does.
pub(crate) fn parse(text: &str, completions: i32) -> BTreeSet<i32> {
    let mut indexes = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        indexes.extend((first.max(0)..=last.min(completions - 1)).filter(|i| *i >= first));
    }
    indexes
}

/// Formats indexes as upstream does: ascending, runs of two or more as `a-b`.
pub(crate) fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &index in indexes {
        run = match run {
            Some((first, last)) if index == last + 1 => Some((first, index)),
            Some(done) => {
                parts.push(interval(done));
                Some((index, index))
            }
            None => Some((index, index)),
        };
    }
    if let Some(done) = run {
        parts.push(interval(done));
    }
    parts.join(",")
}

fn interval((first, last): (i32, i32)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_runs() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
        assert_eq!(format(&set), "0-2,4,6-7");
        assert_eq!(format(&BTreeSet::new()), "");
    }

    #[test]
    fn parses_what_it_formats_and_clips_to_completions() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
        assert_eq!(parse("0-2,4,6-7", 10), set);
        assert_eq!(parse("0-2,4,6-7", 7), [0, 1, 2, 4, 6].into());
        assert_eq!(parse("x,3", 5), [3].into());
        assert_eq!(parse("", 5), BTreeSet::new());
    }
}
