//! Issued keys: what a client presents, what the admin API is sent, and what a key's Durable
//! Object is told. The first byte picks what the rest is:
//!
//! 0. A presented key (and an admin API `group`): `keys::id_of` never panics, an id it returns
//!    `is_id` and is the id part of a key of the issued shape; a key `new_key` makes from the
//!    bytes is one `id_of` reads and `matches` its hash; `usage::summary_query` (whose `group` is
//!    the admin API's query) takes exactly the groups it names.
//! 1. JSON for `KeyPolicy::from_json`, and as a patch for `patched` of a few policies: neither
//!    panics, a policy accepted round-trips through serde_json (as a value and as text) and passes
//!    `from_json` again unchanged, an empty patch changes nothing, and a patch applied twice is
//!    applied once.
//! 2. JSON lines of `keys::object::Message`, each optionally after the milliseconds that passed
//!    (`60000 {"op": "read"}`), and 3. messages built from the bytes: applied in turn to one
//!    `KeyState`, with a clock that never goes back, nothing panics; an `Admitted` reply never
//!    leaves more requests in the last minute than the policy's `rpm`, and tells the window as it
//!    is; a lookup or admission with any hash but the created key's is `Unknown`, as is any once
//!    the key is revoked; the created key's lookups are `Known` with its policy.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use llmproxy::keys::object::{KeyState, Message, Reply};
use llmproxy::keys::{self, DenialReason, KeyPolicy, Window, WINDOW_MS};
use llmproxy::usage;
use serde_json::{json, Value};

/// The latest a clock can say (JavaScript's `Date` ends at 8.64e15 ms since the epoch).
const MAX_NOW: f64 = 8.64e15;

fn presented(text: &str, bytes: &[u8]) {
    if let Some(id) = keys::id_of(text) {
        assert!(keys::is_id(id), "id_of({text:?}) gave {id:?}, which is_id refuses");
        let secret = text
            .strip_prefix(keys::PREFIX)
            .and_then(|rest| rest.strip_prefix(id))
            .and_then(|rest| rest.strip_prefix('-'))
            .unwrap_or_else(|| panic!("{id:?} is not the id part of {text:?}"));
        assert_eq!(secret.len(), 40, "{text:?}: a secret of another length");
        assert!(!secret.contains('-'), "{text:?}");
    }
    if let Ok(random) = <&[u8; 52]>::try_from(bytes.get(..52).unwrap_or_default()) {
        let (id, key) = keys::new_key(random);
        assert_eq!(keys::id_of(&key), Some(id.as_str()), "a new key's id is not read back: {key}");
        assert!(keys::matches(&key, &keys::hash(&key)) && !keys::matches(text, &keys::hash(&format!("{text}x"))));
    }
    const GROUPS: [&str; 7] = ["key", "model", "backend", "client", "day", "hour", "minute"];
    match usage::summary_query(Some(text)) {
        Ok(sql) => assert!(GROUPS.contains(&text), "grouped by {text:?}: {sql}"),
        Err(message) => assert!(!GROUPS.contains(&text), "{text:?} refused: {message}"),
    }
}

/// A policy accepted comes back the same from its JSON, as a value and as text.
fn round_trips(policy: &KeyPolicy) {
    let value = serde_json::to_value(policy).expect("a policy is JSON");
    assert_eq!(KeyPolicy::from_json(value.clone()).as_ref(), Ok(policy), "through {value}");
    let text = serde_json::to_string(policy).expect("a policy is JSON");
    let reread: Value = serde_json::from_str(&text).expect("a policy's JSON text reads back");
    assert_eq!(KeyPolicy::from_json(reread).as_ref(), Ok(policy), "through {text}");
}

fn bases() -> [KeyPolicy; 2] {
    [
        KeyPolicy::from_json(json!({"name": "k"})).unwrap(),
        KeyPolicy::from_json(json!({"name": "ci", "models": ["gpt-*", "claude-*"], "rpm": 10, "tpm": 1000,
            "budget_usd": 5.0, "budget_period": "week", "expires_at": 1.8e12, "disabled": false}))
        .unwrap(),
    ]
}

fn policies(bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return };
    if let Ok(policy) = KeyPolicy::from_json(value.clone()) {
        round_trips(&policy);
    }
    for base in bases() {
        assert_eq!(base.patched(json!({})).as_ref(), Ok(&base), "an empty patch changed the policy");
        match base.patched(value.clone()) {
            Ok(policy) => {
                round_trips(&policy);
                assert_eq!(policy.patched(value.clone()).as_ref(), Ok(&policy), "patched twice by {value}");
            }
            Err(_) => {}
        }
        if !value.is_object() {
            assert!(base.patched(value.clone()).is_err(), "a patch that is not an object: {value}");
        }
    }
}

/// What the test knows of the key, from the messages it sent.
#[derive(Default)]
struct Model {
    created: Option<String>,
    revoked: bool,
    /// When each request was admitted.
    admitted: Vec<f64>,
}

fn replay(messages: Vec<(f64, Message)>) {
    let mut state = KeyState::default();
    let mut model = Model::default();
    let mut last = 0.0f64;
    for (now, message) in messages {
        assert!(now >= last && now <= MAX_NOW, "the clock went back");
        last = now;
        let before = state.issued.clone();
        let (reply, _changes) = state.apply(message.clone(), now);
        let policy = state.issued.as_ref().map(|issued| issued.policy.clone());
        let known = |hash: &str| model.created.as_deref() == Some(hash) && !model.revoked;
        match &message {
            Message::Lookup { hash } if !known(hash) => {
                assert_eq!(reply, Reply::Unknown, "looked up with {hash:?}, not the key's {:?}", model.created)
            }
            Message::Lookup { .. } => {
                assert_eq!(reply, Reply::Known { policy: policy.clone().unwrap() }, "the key's own lookup")
            }
            Message::Admit { hash, .. } if !known(hash) => {
                assert_eq!(reply, Reply::Unknown, "admitted with {hash:?}, not the key's {:?}", model.created)
            }
            Message::Admit { asked, model: resolved, tokens, .. } => {
                let policy = policy.clone().unwrap();
                match &reply {
                    Reply::Admitted { policy: told, admission } => {
                        assert_eq!(told, &policy, "admitted under another policy");
                        assert!(policy.is_usable(now), "admitted to an unusable key");
                        assert!(policy.allows_model(asked, resolved), "admitted to a model not allowed");
                        assert!(policy.tpm.is_none_or(|tpm| *tokens <= tpm), "more tokens than a minute's");
                        model.admitted.push(now);
                        let in_window = model.admitted.iter().filter(|at| **at > now - WINDOW_MS).count() as u64;
                        if let Some(rpm) = policy.rpm {
                            assert!(
                                in_window <= u64::from(rpm),
                                "{in_window} requests admitted in the last minute, over the rpm of {rpm}"
                            );
                        }
                        let told = admission.requests.map(|w: Window| (w.limit, w.remaining));
                        let rpm = policy.rpm.map(u64::from);
                        assert_eq!(told, rpm.map(|rpm| (rpm, rpm - in_window)), "the request window told");
                    }
                    Reply::Denied { denial } => {
                        if !policy.allows_model(asked, resolved) {
                            assert_eq!(denial.reason, DenialReason::Model, "{denial:?}");
                        }
                    }
                    other => panic!("an admission answered {other:?}"),
                }
            }
            Message::Settle { .. } => assert_eq!(reply, Reply::Settled),
            Message::Create { hash, policy } => match before {
                Some(_) => assert!(matches!(reply, Reply::Refused { status: 409, .. }), "created twice: {reply:?}"),
                None => {
                    assert!(
                        matches!(&reply, Reply::State { policy: p, revoked: false, .. } if p == policy),
                        "{reply:?}"
                    );
                    model.created = Some(hash.clone());
                }
            },
            Message::Update { .. } => match (&before, &reply) {
                (None, reply) => assert_eq!(reply, &Reply::Unknown),
                (Some(issued), Reply::Refused { status: 409, .. }) => assert!(issued.revoked),
                (Some(issued), Reply::Refused { status: 400, .. }) => {
                    assert_eq!(state.issued.as_ref(), Some(issued), "a refused update changed the key")
                }
                (Some(_), Reply::State { policy: told, .. }) => assert_eq!(Some(told), policy.as_ref()),
                (_, reply) => panic!("an update answered {reply:?}"),
            },
            Message::Revoke => match before {
                None => assert_eq!(reply, Reply::Unknown),
                Some(_) => {
                    assert!(matches!(reply, Reply::State { revoked: true, .. }), "{reply:?}");
                    model.revoked = true;
                }
            },
            Message::Read => match before {
                None => assert_eq!(reply, Reply::Unknown),
                Some(_) => assert!(matches!(reply, Reply::State { .. }), "{reply:?}"),
            },
        }
    }
}

/// `[<ms> ]<message JSON>` a line; lines that are not messages are skipped.
fn json_lines(bytes: &[u8]) -> Vec<(f64, Message)> {
    let mut now = 1_700_000_000_000.0f64;
    let mut messages = Vec::new();
    for line in bytes.split(|&b| b == b'\n') {
        let (delay, json) = match line.iter().position(|&b| b == b' ') {
            Some(space) => match std::str::from_utf8(&line[..space]).ok().and_then(|d| d.parse::<u64>().ok()) {
                Some(delay) => (delay, &line[space + 1..]),
                None => (0, line),
            },
            None => (0, line),
        };
        let Ok(message) = serde_json::from_slice::<Message>(json) else { continue };
        now = (now + delay as f64).min(MAX_NOW);
        messages.push((now, message));
    }
    messages
}

fn pick(u: &mut Unstructured, names: &[&str]) -> Result<String> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => u.arbitrary::<String>()?,
        _ => u.choose(names)?.to_string(),
    })
}

fn tokens(u: &mut Unstructured) -> Result<u64> {
    Ok(match u.int_in_range(0..=9u8)? {
        0 => u64::MAX,
        1 => u64::MAX / 2 + 1,
        2 => u.arbitrary()?,
        n => u64::from(n) * 100,
    })
}

/// A number JSON can carry.
fn finite(u: &mut Unstructured) -> Result<f64> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => {
            let f: f64 = u.arbitrary()?;
            if f.is_finite() {
                f
            } else {
                f64::MAX
            }
        }
        1 => 0.0,
        2 => f64::MAX,
        3 => -1.0,
        n => f64::from(n) * 0.25,
    })
}

/// A value of a policy field: mostly of the field's type, sometimes not.
fn policy_value(u: &mut Unstructured, field: &str) -> Result<Value> {
    if u.ratio(1, 8)? {
        return Ok(match u.int_in_range(0..=4u8)? {
            0 => Value::Null,
            1 => json!("x"),
            2 => json!(-1),
            3 => json!(1.5),
            _ => json!([]),
        });
    }
    Ok(match field {
        "name" => json!(pick(u, &["k", "ci", " "])?),
        "models" => {
            let n = u.int_in_range(0..=3u8)?;
            let mut models = Vec::new();
            for _ in 0..n {
                models.push(pick(u, &["gpt-*", "claude-*", "fast", "*", "[", ""])?);
            }
            json!(models)
        }
        "rpm" => json!(u.int_in_range(0..=4u32)?),
        "tpm" => json!(tokens(u)?),
        "budget_usd" | "expires_at" => json!(finite(u)?),
        "budget_period" => json!(pick(u, &["day", "week", "month"])?),
        _ => json!(u.arbitrary::<bool>()?),
    })
}

const FIELDS: [&str; 8] = ["name", "models", "rpm", "tpm", "budget_usd", "budget_period", "expires_at", "disabled"];

fn fields(u: &mut Unstructured, name: bool) -> Result<serde_json::Map<String, Value>> {
    let mut fields = serde_json::Map::new();
    if name {
        fields.insert("name".into(), json!("k"));
    }
    for field in FIELDS {
        if u.ratio(1, 3)? {
            fields.insert(field.into(), policy_value(u, field)?);
        }
    }
    Ok(fields)
}

fn message(u: &mut Unstructured) -> Result<Message> {
    let hash = |u: &mut Unstructured| pick(u, &["h", "h", "h2", ""]);
    let id = |u: &mut Unstructured| pick(u, &["a", "b", "c", "d"]);
    Ok(match u.int_in_range(0..=15u8)? {
        0 | 1 => Message::Lookup { hash: hash(u)? },
        2..=7 => Message::Admit {
            hash: hash(u)?,
            asked: pick(u, &["gpt-4o", "claude-x", "fast"])?,
            model: pick(u, &["gpt-4o", "claude-x", "gpt-4o-mini"])?,
            id: id(u)?,
            tokens: tokens(u)?,
            cost: finite(u)?,
        },
        8..=10 => Message::Settle { id: id(u)?, tokens: tokens(u)?, cost: finite(u)? },
        11 | 12 => {
            // A policy as the Durable Object reads it from its message, so unchecked; else one
            // the admin API would send.
            let fields = Value::Object(fields(u, true)?);
            let policy =
                serde_json::from_value(fields).unwrap_or_else(|_| KeyPolicy::from_json(json!({"name": "k"})).unwrap());
            Message::Create { hash: hash(u)?, policy }
        }
        13 => Message::Update { patch: Value::Object(fields(u, false)?) },
        14 => Message::Revoke,
        _ => Message::Read,
    })
}

fn built(data: &[u8]) -> Vec<(f64, Message)> {
    let mut u = Unstructured::new(data);
    let mut now = match u.int_in_range(0..=3u8) {
        Ok(0) => 0.0,
        Ok(1) => MAX_NOW - 1e9,
        Ok(2) => u.int_in_range(0..=MAX_NOW as u64).unwrap_or(0) as f64,
        _ => 1_700_000_000_000.0,
    };
    let mut messages = Vec::new();
    while !u.is_empty() && messages.len() < 200 {
        let delay = match u.int_in_range(0..=9u8) {
            Ok(0) => WINDOW_MS,
            Ok(1) => WINDOW_MS - 1.0,
            Ok(2) => WINDOW_MS + 1.0,
            Ok(3) => u.arbitrary::<u32>().map_or(0.0, f64::from),
            Ok(4) => 86_400_000.0 * 31.0,
            Ok(n) => f64::from(n - 5) * 1000.0,
            Err(_) => break,
        };
        now = (now + delay).min(MAX_NOW);
        let Ok(message) = message(&mut u) else { break };
        messages.push((now, message));
    }
    messages
}

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else { return };
    match mode % 4 {
        0 => presented(&String::from_utf8_lossy(rest), rest),
        1 => policies(rest),
        2 => replay(json_lines(rest)),
        _ => replay(built(rest)),
    }
});
