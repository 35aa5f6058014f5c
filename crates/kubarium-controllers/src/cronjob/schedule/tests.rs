//! Schedules checked against times worked out by hand (and robfig/cron's behaviour).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::Schedule;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn next(schedule: &str, after: &str) -> String {
    Schedule::parse(schedule)
        .unwrap()
        .next_after(at(after), &TimeZone::UTC)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[test]
fn every_minute_fires_at_the_next_whole_minute() {
    assert_eq!(
        next("* * * * *", "2025-03-01T10:00:00Z"),
        "2025-03-01T10:01:00Z"
    );
    assert_eq!(
        next("* * * * *", "2025-03-01T10:00:59.5Z"),
        "2025-03-01T10:01:00Z"
    );
}

#[test]
fn steps_ranges_lists_and_names() {
    assert_eq!(
        next("*/15 * * * *", "2025-03-01T10:16:00Z"),
        "2025-03-01T10:30:00Z"
    );
    assert_eq!(
        next("5/20 * * * *", "2025-03-01T10:26:00Z"),
        "2025-03-01T10:45:00Z"
    );
    assert_eq!(
        next("0 9-17/4 * * *", "2025-03-01T10:00:00Z"),
        "2025-03-01T13:00:00Z"
    );
    assert_eq!(
        next("0,30 * * * *", "2025-03-01T10:00:00Z"),
        "2025-03-01T10:30:00Z"
    );
    // 2025-03-01 is a Saturday.
    assert_eq!(
        next("0 3 * * MON-FRI", "2025-03-01T10:00:00Z"),
        "2025-03-03T03:00:00Z"
    );
    assert_eq!(
        next("0 0 1 jan *", "2025-03-01T10:00:00Z"),
        "2026-01-01T00:00:00Z"
    );
}

#[test]
fn restricted_day_fields_fire_on_either() {
    // The 15th, or any Sunday: Sunday 2025-03-02 comes first.
    assert_eq!(
        next("0 0 15 * SUN", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    // With a star in one day field, both must match.
    assert_eq!(
        next("0 0 * * SUN", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    assert_eq!(
        next("0 0 15 * *", "2025-03-01T10:00:00Z"),
        "2025-03-15T00:00:00Z"
    );
}

#[test]
fn descriptors() {
    assert_eq!(
        next("@hourly", "2025-03-01T10:00:00Z"),
        "2025-03-01T11:00:00Z"
    );
    assert_eq!(
        next("@daily", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    assert_eq!(
        next("@midnight", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    assert_eq!(
        next("@weekly", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    assert_eq!(
        next("@monthly", "2025-03-01T10:00:00Z"),
        "2025-04-01T00:00:00Z"
    );
    assert_eq!(
        next("@yearly", "2025-03-01T10:00:00Z"),
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(
        next("@annually", "2025-03-01T10:00:00Z"),
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(
        next("@every 90s", "2025-03-01T10:00:00.5Z"),
        "2025-03-01T10:01:30Z"
    );
    assert_eq!(
        next("@every 1h30m", "2025-03-01T10:00:00Z"),
        "2025-03-01T11:30:00Z"
    );
}

#[test]
fn leap_days_and_impossible_dates() {
    assert_eq!(
        next("0 0 29 2 *", "2025-03-01T10:00:00Z"),
        "2028-02-29T00:00:00Z"
    );
    assert_eq!(next("59 23 31 2 *", "2025-03-01T10:00:00Z"), "");
}

#[test]
fn time_zones() {
    let schedule = Schedule::parse("0 9 * * *").unwrap();
    let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
    let fired = schedule
        .next_after(at("2025-03-01T10:00:00Z"), &tokyo)
        .unwrap();
    assert_eq!(fired.to_string(), "2025-03-02T00:00:00Z");
    assert_eq!(
        next("CRON_TZ=Asia/Tokyo 0 9 * * *", "2025-03-01T10:00:00Z"),
        "2025-03-02T00:00:00Z"
    );
    // Across the spring-forward gap in New York, 02:30 does not exist: fired at 03:30 EDT.
    let york = TimeZone::get("America/New_York").unwrap();
    let fired = Schedule::parse("30 2 * * *")
        .unwrap()
        .next_after(at("2025-03-09T05:00:00Z"), &york)
        .unwrap();
    assert_eq!(fired.to_string(), "2025-03-09T07:30:00Z");
}

#[test]
fn malformed_schedules_are_refused() {
    for bad in [
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 7",
        "5-1 * * * *",
        "*/0 * * * *",
        "@often",
        "@every never",
        "TZ=Nowhere/Else * * * * *",
    ] {
        assert!(Schedule::parse(bad).is_err(), "{bad:?} parsed");
    }
}
