use super::*;
use serde_json::json;

fn policy(fields: serde_json::Value) -> KeyPolicy {
    let mut value = json!({"name": "k"});
    value.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    KeyPolicy::from_json(value).unwrap()
}

#[test]
fn requests_per_minute_are_exact_in_a_sliding_window() {
    let policy = policy(json!({"rpm": 3}));
    let mut meter = Meter::default();
    for (i, at) in [0.0, 10_000.0, 20_000.0].into_iter().enumerate() {
        let admitted = meter.admit(&policy, at, &format!("r{i}"), 1, 0.0).unwrap();
        assert_eq!(admitted.requests.unwrap().remaining, 2 - i as u64);
    }
    let denied = meter.admit(&policy, 30_000.0, "r3", 1, 0.0).unwrap_err();
    assert_eq!((denied.reason, denied.retry_after_seconds), (DenialReason::Requests, 30), "the first leaves at 60 s");
    assert!(meter.admit(&policy, 60_001.0, "r4", 1, 0.0).is_ok(), "a sliding window, not a fixed one");
    assert!(meter.admit(&policy, 60_002.0, "r5", 1, 0.0).is_err());
}

#[test]
fn tokens_are_reserved_and_settled_with_the_real_usage() {
    let policy = policy(json!({"tpm": 1000}));
    let mut meter = Meter::default();
    meter.admit(&policy, 0.0, "a", 800, 0.0).unwrap();
    let denied = meter.admit(&policy, 1.0, "b", 300, 0.0).unwrap_err();
    assert_eq!(denied.reason, DenialReason::Tokens);
    assert_eq!(denied.tokens.unwrap().remaining, 200);
    meter.settle("a", 150, 0.0);
    let admitted = meter.admit(&policy, 2.0, "b", 300, 0.0).unwrap();
    assert_eq!(admitted.tokens.unwrap().remaining, 550, "the settled 150, then 300 more");
    let huge = meter.admit(&policy, 3.0, "c", 5000, 0.0).unwrap_err();
    assert!(huge.message.contains("more than key `k`'s 1000 a minute"), "{}", huge.message);
}

#[test]
fn a_budget_is_spent_per_period_and_settled_cost_replaces_the_reserved() {
    let policy = policy(json!({"budget_usd": 1.0, "budget_period": "day"}));
    let mut meter = Meter::default();
    let day = 20_000.0 * DAY_MS;
    meter.admit(&policy, day, "a", 0, 0.9).unwrap();
    let denied = meter.admit(&policy, day + 1.0, "b", 0, 0.2).unwrap_err();
    assert_eq!(denied.reason, DenialReason::Budget);
    assert_eq!(denied.retry_after_seconds, 86_400, "until the day ends");
    meter.settle("a", 0, 0.3);
    let admitted = meter.admit(&policy, day + 2.0, "b", 0, 0.2).unwrap();
    assert!((admitted.budget_left_usd.unwrap() - 0.5).abs() < 1e-9);
    assert!(meter.admit(&policy, day + DAY_MS, "c", 0, 0.9).is_ok(), "a new day, a new budget");
}

#[test]
fn a_disabled_or_expired_key_is_refused() {
    let mut meter = Meter::default();
    let disabled = policy(json!({"disabled": true}));
    assert_eq!(meter.admit(&disabled, 0.0, "a", 1, 0.0).unwrap_err().reason, DenialReason::Unusable);
    let expired = policy(json!({"expires_at": 10.0}));
    assert!(meter.admit(&expired, 5.0, "a", 1, 0.0).is_ok());
    assert_eq!(meter.admit(&expired, 10.0, "b", 1, 0.0).unwrap_err().reason, DenialReason::Unusable);
}

#[test]
fn budget_periods_start_on_utc_days_mondays_and_firsts_of_months() {
    // 2026-12-02T15:00:00Z, a Wednesday.
    let now = 1_796_223_600_000.0;
    assert_eq!(period_start(Period::Day, now), 1_796_169_600_000.0);
    assert_eq!(period_start(Period::Week, now), 1_795_996_800_000.0, "Monday 2026-11-30");
    assert_eq!(period_start(Period::Month, now), 1_796_083_200_000.0, "2026-12-01");
    assert_eq!(period_end(Period::Month, now), 1_798_761_600_000.0, "2027-01-01");
    assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
}

#[test]
fn a_meter_restored_from_its_entries_counts_as_the_one_that_wrote_them() {
    let policy = policy(json!({"rpm": 3, "tpm": 100}));
    let mut meter = Meter::default();
    meter.admit(&policy, 0.0, "old", 10, 0.5).unwrap();
    meter.admit(&policy, 50_000.0, "a", 20, 0.0).unwrap();
    meter.settle("a", 5, 0.0);
    meter.admit(&policy, 55_000.0, "b", 30, 0.0).unwrap();
    let entries: Vec<Entry> = ["old", "a", "b"].iter().map(|id| meter.entry(id).unwrap().clone()).collect();
    let (start, spent) = meter.spend();
    let now = 70_000.0;
    let mut restored = Meter::restore(entries, start, spent, now);
    assert_eq!(restored.usage(&policy, now), meter.usage(&policy, now));
    let denied = restored.admit(&policy, now, "c", 70, 0.0).unwrap_err();
    assert_eq!(
        (denied.reason, denied.tokens.unwrap().remaining),
        (DenialReason::Tokens, 65),
        "a: 5 used, b: 30 reserved"
    );
    restored.settle("old", 1, 0.1);
    assert!((restored.spend().1 - 0.1).abs() < 1e-12, "an old unsettled request still settles its cost");
}

#[test]
fn an_upstream_reporting_absurd_usage_saturates_the_minute_instead_of_overflowing_it() {
    // What a request used is the upstream's word: it may be any u64. Summed, it must neither
    // panic nor wrap around to a small count that lets requests through.
    let limited = policy(json!({"tpm": 1000}));
    let unlimited = policy(json!({}));
    let mut meter = Meter::default();
    meter.admit(&limited, 0.0, "a", 900, 0.0).unwrap();
    meter.settle("a", u64::MAX, 0.0);
    let denied = meter.admit(&limited, 1.0, "b", 100, 0.0).unwrap_err();
    assert_eq!((denied.reason, denied.retry_after_seconds), (DenialReason::Tokens, 60), "until `a` leaves");
    assert_eq!(denied.tokens.unwrap().remaining, 0);
    meter.admit(&unlimited, 2.0, "c", u64::MAX, 0.0).unwrap();
    assert_eq!(meter.usage(&unlimited, 3.0)["tokens_last_minute"], u64::MAX);
    assert!(meter.admit(&limited, 60_001.0, "d", 100, 0.0).is_err(), "`c` is still in the minute");
    assert!(meter.admit(&limited, 60_003.0, "d", 100, 0.0).is_ok(), "both left it");
}
