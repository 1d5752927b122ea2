use super::*;
use crate::config::{BreakerPolicy, Config};

fn config(retry: &str) -> Config {
    Config::from_json(&format!(
        r#"{{"backends": [
            {{"name": "a", "kind": "anthropic", "api_key_env": ["KA1", "KA2"], "models": ["claude-*"]}},
            {{"name": "b", "kind": "openai", "api_key_env": "KB", "models": ["gpt-*"]}},
            {{"name": "c", "kind": "mock", "models": ["mock-*"]}}],
          "routes": {{
            "r": {{"targets": [{{"backend": "a"}}, {{"backend": "b", "model": "gpt-5"}}]}},
            "w": {{"balance": true, "targets": [{{"backend": "a", "weight": 3}}, {{"backend": "b"}}, {{"backend": "c"}}]}}
          }},
          "retry": {retry}, "deadline_seconds": 10}}"#
    ))
    .unwrap()
}

fn failure(class: FailureClass) -> Failure {
    Failure { class, retry_after_ms: None }
}

fn all(_: &Backend) -> bool {
    true
}

#[test]
fn a_chain_is_its_route_or_the_one_matching_backend() {
    let config = config("{}");
    let chain = config.chain("r", 1).unwrap();
    let names: Vec<(&str, &str)> = chain.targets.iter().map(|t| (t.backend.name.as_str(), t.model.as_str())).collect();
    assert_eq!(names, [("a", "r"), ("b", "gpt-5")]);
    let single = config.chain("claude-x", 1).unwrap();
    assert_eq!((single.targets.len(), single.targets[0].backend.name.as_str()), (1, "a"));
    assert_eq!((single.retry.attempts, single.deadline_ms), (1, 10_000));
    assert_eq!(config.chain("nobody", 1).unwrap_err().status, 404);
}

#[test]
fn a_balanced_route_draws_its_order_by_weight_and_keeps_every_target() {
    let config = config("{}");
    let mut first = std::collections::BTreeMap::new();
    for seed in 0..4000 {
        let chain = config.chain("w", seed * 7919).unwrap();
        let mut names: Vec<&str> = chain.targets.iter().map(|t| t.backend.name.as_str()).collect();
        *first.entry(names[0]).or_insert(0) += 1;
        names.sort();
        assert_eq!(names, ["a", "b", "c"], "every target stays a fallback");
    }
    // Weights 3:1:1 — `a` goes first about three times in five.
    let share = f64::from(first["a"]) / 4000.0;
    assert!((0.55..0.65).contains(&share), "{first:?}");
    assert!(first["b"] > 600 && first["c"] > 600, "{first:?}");
}

#[test]
fn retryable_failures_are_tried_again_then_fall_back_then_give_up() {
    let config = config(r#"{"attempts": 2, "backoff_ms": 100, "max_backoff_ms": 400}"#);
    let chain = config.chain("r", 1).unwrap();
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    assert_eq!(attempts.first(&mut all), Next::Try { target: 0, wait_ms: 0 });
    assert!(attempts.may_follow());
    let Next::Try { target: 0, wait_ms } = attempts.after(&failure(FailureClass::Status(503)), 10.0, &mut all) else {
        panic!("the same target again")
    };
    assert!(wait_ms <= 100, "the first backoff is at most the base: {wait_ms}");
    assert_eq!(attempts.after(&failure(FailureClass::Timeout), 20.0, &mut all), Next::Try { target: 1, wait_ms: 0 });
    assert!(attempts.may_follow(), "the last target still has a retry");
    assert!(matches!(attempts.after(&failure(FailureClass::Connection), 30.0, &mut all), Next::Try { target: 1, .. }));
    assert!(!attempts.may_follow());
    assert_eq!(attempts.after(&failure(FailureClass::Status(500)), 40.0, &mut all), Next::GiveUp);
    assert_eq!(attempts.count(), 4);
}

#[test]
fn what_a_retry_cannot_fix_is_given_up_at_once() {
    let config = config(r#"{"attempts": 3}"#);
    let chain = config.chain("r", 1).unwrap();
    for status in [400, 404, 413, 422] {
        let mut attempts = Attempts::new(&chain, 0.0, 9);
        attempts.first(&mut all);
        assert_eq!(attempts.after(&failure(FailureClass::Status(status)), 1.0, &mut all), Next::GiveUp, "{status}");
    }
}

#[test]
fn retry_after_is_waited_up_to_its_cap_and_a_longer_one_moves_on() {
    let config = config(r#"{"attempts": 3, "retry_after_max_seconds": 5}"#);
    let chain = config.chain("r", 1).unwrap();
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    attempts.first(&mut all);
    let short = Failure { class: FailureClass::Status(429), retry_after_ms: Some(2000) };
    assert_eq!(attempts.after(&short, 0.0, &mut all), Next::Try { target: 0, wait_ms: 2000 });
    let long = Failure { class: FailureClass::Status(429), retry_after_ms: Some(60_000) };
    assert_eq!(attempts.after(&long, 0.0, &mut all), Next::Try { target: 1, wait_ms: 0 });
    assert_eq!(retry_after_ms(|n| (n == "retry-after").then(|| " 3 ".to_string())), Some(3000));
    assert_eq!(retry_after_ms(|n| (n == "retry-after-ms").then(|| "250.5".to_string())), Some(250));
    assert_eq!(retry_after_ms(|n| (n == "retry-after").then(|| "Wed, 21 Oct 2026 07:28:00 GMT".to_string())), None);
}

#[test]
fn the_deadline_ends_every_chain() {
    let config = config(r#"{"attempts": 5, "backoff_ms": 3000, "max_backoff_ms": 3000}"#);
    let chain = config.chain("r", 1).unwrap();
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    attempts.first(&mut all);
    let wait = Failure { class: FailureClass::Status(429), retry_after_ms: Some(4000) };
    assert_eq!(attempts.after(&wait, 7000.0, &mut all), Next::Try { target: 1, wait_ms: 0 }, "no time to wait");
    assert_eq!(attempts.after(&failure(FailureClass::Timeout), 10_000.0, &mut all), Next::GiveUp);
}

#[test]
fn a_refused_key_tries_the_backends_other_key_at_once() {
    let config = config("{}");
    let chain = config.chain("r", 1).unwrap();
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    attempts.first(&mut all);
    let refused = failure(FailureClass::KeyRejected);
    assert_eq!(attempts.after(&refused, 1.0, &mut all), Next::Try { target: 0, wait_ms: 0 }, "a has two keys");
    assert_eq!(attempts.after(&refused, 2.0, &mut all), Next::Try { target: 1, wait_ms: 0 });
    assert_eq!(attempts.after(&refused, 3.0, &mut all), Next::GiveUp, "b has one");
}

#[test]
fn a_clients_own_key_refused_is_the_clients_answer_and_no_failure_of_the_backend() {
    let config = config("{}");
    let chain = config.chain("r", 1).unwrap();
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    attempts.first(&mut all);
    assert_eq!(FailureClass::of_status(401, false), FailureClass::KeyRejected);
    for status in [401, 403] {
        let refused = failure(FailureClass::of_status(status, true));
        assert_eq!(refused.class, FailureClass::Status(status));
        assert!(!refused.retryable(chain.retry), "the breaker does not count it");
        assert_eq!(attempts.after(&refused, 1.0, &mut all), Next::GiveUp, "no fallback hides it");
    }
}

#[test]
fn open_breakers_are_skipped_unless_every_target_is_open() {
    let config = config(r#"{"attempts": 1}"#);
    let chain = config.chain("r", 1).unwrap();
    let mut only_b = |b: &Backend| b.name == "b";
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    assert_eq!(attempts.first(&mut only_b), Next::Try { target: 1, wait_ms: 0 });
    let mut none = |_: &Backend| false;
    let mut attempts = Attempts::new(&chain, 0.0, 9);
    assert_eq!(attempts.first(&mut none), Next::Try { target: 0, wait_ms: 0 }, "the first is tried anyway");
    assert_eq!(attempts.after(&failure(FailureClass::Timeout), 1.0, &mut none), Next::GiveUp);
}

#[test]
fn a_breaker_opens_after_failures_in_a_row_then_lets_one_probe_through() {
    let policy = BreakerPolicy { failures: 3, cooldown_ms: 1000 };
    let mut breakers = Breakers::default();
    for at in [0.0, 1.0] {
        breakers.failure("a", "status 503".into(), &policy, at);
        assert!(breakers.allows("a", &policy, at));
    }
    breakers.success("a", 2.0);
    for at in [3.0, 4.0, 5.0] {
        breakers.failure("a", "timeout".into(), &policy, at);
    }
    assert!(!breakers.allows("a", &policy, 500.0), "open");
    assert_eq!(breakers.status(["a", "b"].into_iter(), &policy, 500.0)["a"]["breaker"], "open");
    assert!(breakers.allows("a", &policy, 1006.0), "half-open: one probe");
    assert!(!breakers.allows("a", &policy, 1007.0), "and only one");
    breakers.success("a", 1100.0);
    assert!(breakers.allows("a", &policy, 1101.0));
    let status = breakers.status(["a", "b"].into_iter(), &policy, 1101.0);
    assert_eq!((status["a"]["breaker"].as_str(), status["b"]["breaker"].as_str()), (Some("closed"), Some("closed")));
    assert_eq!(status["a"]["last_failure"]["class"], "timeout");
    let off = BreakerPolicy { failures: 0, cooldown_ms: 1000 };
    for at in 0..10 {
        breakers.failure("b", "timeout".into(), &off, f64::from(at));
    }
    assert!(breakers.allows("b", &off, 10.0), "failures: 0 turns it off");
}

#[test]
fn keys_take_turns_and_a_refused_one_is_set_aside() {
    let config = config("{}");
    let a = &config.backends[0];
    let mut ring = KeyRing::default();
    assert_eq!((ring.pick(a, 0.0), ring.pick(a, 0.0), ring.pick(a, 0.0)), (Some("KA1"), Some("KA2"), Some("KA1")));
    ring.set_aside("a", "KA1", 0.0);
    assert_eq!((ring.pick(a, 1.0), ring.pick(a, 1.0)), (Some("KA2"), Some("KA2")));
    ring.set_aside("a", "KA2", 1.0);
    assert!(ring.pick(a, 2.0).is_some(), "with every key set aside one is still tried");
    assert_eq!(ring.pick(a, keys::SET_ASIDE_MS + 10.0), Some("KA1"), "set aside for a while only");
    assert_eq!(ring.pick(&config.backends[2], 0.0), None, "the mock has no key");
}

#[test]
fn routes_are_validated_by_field() {
    let bad = |routes: &str| {
        Config::from_json(&format!(r#"{{"backends": [{{"name": "a", "kind": "mock", "models": ["*"]}}], {routes}}}"#))
            .unwrap_err()
            .0
    };
    assert!(bad(r#""routes": {"r": {"targets": []}}"#).starts_with("routes.r.targets"));
    assert!(bad(r#""routes": {"r": {"targets": [{"backend": "zz"}]}}"#).contains("routes.r.targets[0].backend"));
    assert!(bad(r#""routes": {"r": {"targets": [{"backend": "a", "weight": 0}]}}"#).contains("weight"));
    assert!(bad(r#""routes": {"r": {"targets": [{"backend": "a"}], "retry": {"attempts": 0}}}"#)
        .contains("routes.r.retry.attempts"));
    assert!(bad(r#""retry": {"on": [200]}"#).contains("retry.on"));
    assert!(bad(r#""retry": {"backoff_ms": 10, "max_backoff_ms": 5}"#).contains("retry.max_backoff_ms"));
    assert!(bad(r#""routes": {"r": {"targets": [{"backend": "a"}], "tries": 2}}"#).contains("unknown field `tries`"));
}
