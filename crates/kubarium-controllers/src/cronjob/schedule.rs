//! Cron schedules as kube-controller-manager reads them (robfig/cron's standard parser):
//! five fields — minute, hour, day of month, month (or `JAN`–`DEC`), day of week (0–6 or
//! `SUN`–`SAT`) — each `*`, `?`, a value, a range `a-b`, a step `/n` or a list of those;
//! the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
//! `@hourly` and `@every <duration>`; and a `TZ=` or `CRON_TZ=` prefix. As in cron, when
//! both day fields are restricted a day matching either one fires.
//!
//! Written here rather than taken from a crate: the cron crates on crates.io bring chrono
//! (the workspace uses jiff) and each departs from robfig in small ways (seconds fields,
//! day-of-week 7, the either-day rule) that would change when Jobs fire.

use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// How far ahead [`Schedule::next_after`] looks before it gives up (robfig's five years).
const SEARCH_YEARS: i16 = 5;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// A cron expression evaluated in `zone` (the controller's own zone when unset).
    Cron(Fields, Option<TimeZone>),
    /// `@every <duration>`: fixed intervals from the previous time, in whole seconds.
    Every(Duration),
}

/// The allowed values of each field as bit sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether the day-of-month or day-of-week field was `*`/`?` (the either-day rule).
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    /// Parses `text`; the error says what is wrong, in robfig's words where it has them.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (zone, rest) = match text
            .strip_prefix("CRON_TZ=")
            .or_else(|| text.strip_prefix("TZ="))
        {
            Some(rest) => {
                let (name, rest) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| format!("missing fields after time zone in {text:?}"))?;
                let zone = TimeZone::get(name)
                    .map_err(|e| format!("provided bad location {name}: {e}"))?;
                (Some(zone), rest.trim())
            }
            None => (None, text),
        };
        if rest.is_empty() {
            return Err("empty spec string".to_owned());
        }
        if let Some(descriptor) = rest.strip_prefix('@') {
            return descriptor_schedule(descriptor, zone);
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {rest:?}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[])?;
        let (hours, _) = field(fields[1], 0, 23, &[])?;
        let (days, any_day) = field(fields[2], 1, 31, &[])?;
        let (months, _) = field(fields[3], 1, 12, &MONTHS)?;
        let (weekdays, any_weekday) = field(fields[4], 0, 6, &WEEKDAYS)?;
        Ok(Schedule::Cron(
            Fields {
                minutes,
                hours,
                days,
                months,
                weekdays,
                any_day,
                any_weekday,
            },
            zone,
        ))
    }

    /// The first time the schedule fires strictly after `after`, evaluated in the
    /// schedule's own zone or else `zone`; `None` if it never does within five years.
    pub(crate) fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        match self {
            Schedule::Every(interval) => {
                let whole = Timestamp::from_second(after.as_second()).ok()?;
                whole
                    .checked_add(SignedDuration::try_from(*interval).ok()?)
                    .ok()
            }
            Schedule::Cron(fields, own) => fields.next_after(after, own.as_ref().unwrap_or(zone)),
        }
    }
}

fn descriptor_schedule(descriptor: &str, zone: Option<TimeZone>) -> Result<Schedule, String> {
    let cron = |text: &str| -> Result<Schedule, String> {
        let Schedule::Cron(fields, _) = Schedule::parse(text)? else {
            return Err("descriptor".to_owned());
        };
        Ok(Schedule::Cron(fields, zone.clone()))
    };
    match descriptor {
        "yearly" | "annually" => cron("0 0 1 1 *"),
        "monthly" => cron("0 0 1 * *"),
        "weekly" => cron("0 0 * * 0"),
        "daily" | "midnight" => cron("0 0 * * *"),
        "hourly" => cron("0 * * * *"),
        _ => match descriptor.strip_prefix("every ") {
            Some(duration) => {
                let parsed = go_duration(duration.trim())
                    .ok_or_else(|| format!("failed to parse duration @{descriptor}"))?;
                // robfig rounds down to whole seconds, and at least one.
                Ok(Schedule::Every(Duration::from_secs(
                    parsed.as_secs().max(1),
                )))
            }
            None => Err(format!("unrecognized descriptor: @{descriptor}")),
        },
    }
}

/// A Go duration such as `90s`, `1h30m` or `1.5h`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

/// One field: its bit set, and whether it was `*` or `?` without a step above one.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("failed to parse int from {step}"))?;
                (range, Some(step))
            }
            None => (part, None),
        };
        let (start, end, is_star) = if range == "*" || range == "?" {
            (min, max, true)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (value(a, names, min)?, value(b, names, min)?, false),
                None => {
                    let v = value(range, names, min)?;
                    // `a/n` runs from a to the end of the range.
                    (v, if step.is_some() { max } else { v }, false)
                }
            }
        };
        let step = step.unwrap_or(1);
        if start < min {
            return Err(format!(
                "beginning of range ({start}) below minimum ({min}): {part}"
            ));
        }
        if end > max {
            return Err(format!(
                "end of range ({end}) above maximum ({max}): {part}"
            ));
        }
        if start > end {
            return Err(format!(
                "beginning of range ({start}) beyond end of range ({end}): {part}"
            ));
        }
        if step == 0 {
            return Err(format!("step of range should be a positive number: {part}"));
        }
        star |= is_star && step == 1;
        bits |= (start..=end)
            .step_by(step as usize)
            .fold(0u64, |acc, v| acc | 1 << v);
    }
    Ok((bits, star))
}

fn value(text: &str, names: &[&str], offset: u32) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(position) = names.iter().position(|n| *n == lower) {
        return Ok(u32::try_from(position).unwrap_or(0) + offset);
    }
    text.parse()
        .map_err(|_| format!("failed to parse int from {text}"))
}

fn has(bits: u64, value: i8) -> bool {
    u32::try_from(value).is_ok_and(|v| v < 64 && bits & (1 << v) != 0)
}

impl Fields {
    fn day_matches(&self, date: Date) -> bool {
        let day = has(self.days, date.day());
        let weekday = has(self.weekdays, date.weekday().to_sunday_zero_offset());
        if self.any_day || self.any_weekday {
            day && weekday
        } else {
            day || weekday
        }
    }

    fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(zone.clone()).datetime();
        let minute = local.with().second(0).subsec_nanosecond(0).build().ok()?;
        let mut at = minute.checked_add(1.minute()).ok()?;
        let limit = local.year().saturating_add(SEARCH_YEARS);
        while at.year() <= limit {
            if !has(self.months, at.month()) {
                at = first_of_next_month(at)?;
                continue;
            }
            if !self.day_matches(at.date()) {
                at = at
                    .date()
                    .checked_add(1.day())
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !has(self.hours, at.hour()) {
                at = at
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if !has(self.minutes, at.minute()) {
                at = at.checked_add(1.minute()).ok()?;
                continue;
            }
            let instant = zone.to_ambiguous_timestamp(at).compatible().ok()?;
            if instant > after {
                return Some(instant);
            }
            at = at.checked_add(1.minute()).ok()?;
        }
        None
    }
}

fn first_of_next_month(at: DateTime) -> Option<DateTime> {
    let first = at.date().first_of_month().checked_add(1.month()).ok()?;
    Some(first.to_datetime(jiff::civil::Time::midnight()))
}

#[cfg(test)]
mod tests;
