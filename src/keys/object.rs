//! What the Durable Object of one issued key does with each message it gets: it holds the key's
//! hash and policy and its meter, and answers lookups and admissions from the proxy and changes
//! from the admin API. One object per key, and one message at a time, so counts are exact
//! whatever the number of isolates. The shell stores what `Changes` names.

use super::{Admission, Denial, DenialReason, KeyPolicy, Meter};
use crate::tagged::internally_tagged;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
pub enum Message {
    /// Whether `hash` is the key's, and its policy.
    Lookup { hash: String },
    /// Admits request `id` of `model` (`asked` as the client named it), which reserves `tokens`
    /// and `cost`.
    Admit { hash: String, asked: String, model: String, id: String, tokens: u64, cost: f64 },
    /// The real usage of request `id`.
    Settle { id: String, tokens: u64, cost: f64 },
    /// Makes the key (admin API).
    Create { hash: String, policy: KeyPolicy },
    /// Changes some of its policy's fields (admin API).
    Update { patch: Value },
    /// Revokes it for good (admin API).
    Revoke,
    /// Its policy and what it used (admin API).
    Read,
}
internally_tagged!(Message, "op");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
pub enum Reply {
    Known {
        policy: KeyPolicy,
    },
    Admitted {
        policy: KeyPolicy,
        admission: Admission,
    },
    Denied {
        denial: Denial,
    },
    /// No such key, or not its hash.
    Unknown,
    Settled,
    State {
        policy: KeyPolicy,
        revoked: bool,
        usage: Value,
    },
    /// An admin change that cannot be made.
    Refused {
        status: u16,
        message: String,
    },
}
internally_tagged!(Reply, "reply");

/// The issued key an object holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issued {
    pub hash: String,
    pub policy: KeyPolicy,
    pub revoked: bool,
}

/// What a message changed, for the shell to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The key (hash, policy, revocation).
    pub key: bool,
    /// The entry of this request, and the spend.
    pub entry: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyState {
    pub issued: Option<Issued>,
    pub meter: Meter,
}

impl KeyState {
    pub fn apply(&mut self, message: Message, now: f64) -> (Reply, Changes) {
        let mut changes = Changes::default();
        let reply = match message {
            Message::Lookup { hash } => match self.usable_with(&hash) {
                Some(issued) => Reply::Known { policy: issued.policy.clone() },
                None => Reply::Unknown,
            },
            Message::Admit { hash, asked, model, id, tokens, cost } => {
                let Some(issued) = self.usable_with(&hash) else {
                    return (Reply::Unknown, changes);
                };
                let policy = issued.policy.clone();
                if !policy.allows_model(&asked, &model) {
                    let message = format!("key `{}` may not use the model `{asked}`", policy.name);
                    let denial = Denial {
                        reason: DenialReason::Model,
                        retry_after_seconds: 0,
                        message,
                        requests: None,
                        tokens: None,
                    };
                    return (Reply::Denied { denial }, changes);
                }
                match self.meter.admit(&policy, now, &id, tokens, cost) {
                    Ok(admission) => {
                        changes.entry = Some(id);
                        Reply::Admitted { policy, admission }
                    }
                    Err(denial) => Reply::Denied { denial },
                }
            }
            Message::Settle { id, tokens, cost } => {
                self.meter.settle(&id, tokens, cost);
                changes.entry = Some(id);
                Reply::Settled
            }
            Message::Create { hash, policy } => match &self.issued {
                Some(_) => Reply::Refused { status: 409, message: "the key exists already".into() },
                None => {
                    self.issued = Some(Issued { hash, policy, revoked: false });
                    changes.key = true;
                    self.state(now)
                }
            },
            Message::Update { patch } => match self.issued.as_mut() {
                None => Reply::Unknown,
                Some(issued) if issued.revoked => {
                    Reply::Refused { status: 409, message: "the key is revoked: issue a new one".into() }
                }
                Some(issued) => match issued.policy.patched(patch) {
                    Ok(policy) => {
                        issued.policy = policy;
                        changes.key = true;
                        self.state(now)
                    }
                    Err(message) => Reply::Refused { status: 400, message },
                },
            },
            Message::Revoke => match self.issued.as_mut() {
                None => Reply::Unknown,
                Some(issued) => {
                    changes.key = !issued.revoked;
                    issued.revoked = true;
                    self.state(now)
                }
            },
            Message::Read => self.state(now),
        };
        (reply, changes)
    }

    /// The key, if `hash` is its hash and it is not revoked.
    fn usable_with(&self, hash: &str) -> Option<&Issued> {
        self.issued.as_ref().filter(|issued| {
            !issued.revoked && constant_time_eq::constant_time_eq(issued.hash.as_bytes(), hash.as_bytes())
        })
    }

    fn state(&mut self, now: f64) -> Reply {
        match &self.issued {
            None => Reply::Unknown,
            Some(issued) => Reply::State {
                policy: issued.policy.clone(),
                revoked: issued.revoked,
                usage: self.meter.usage(&issued.policy, now),
            },
        }
    }
}

impl Admission {
    /// Whether a request admitted like this one left the key far from its limits: then the next
    /// request of the same isolate is sent upstream while its admission is asked (it still waits
    /// for it before anything reaches the client). Near a limit, admission comes first, so that a
    /// request refused costs the upstream nothing. Far: at least a fifth of every limit left.
    pub fn is_far_from_limits(&self, policy: &KeyPolicy) -> bool {
        let far = |window: &Option<super::Window>| window.is_none_or(|w| w.remaining * 5 >= w.limit);
        let budget_far = match (policy.budget_usd, self.budget_left_usd) {
            (Some(budget), Some(left)) => left * 5.0 >= budget,
            _ => true,
        };
        far(&self.requests) && far(&self.tokens) && budget_far
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn created(policy: Value) -> KeyState {
        let mut state = KeyState::default();
        let policy = KeyPolicy::from_json(policy).unwrap();
        let (reply, changes) = state.apply(Message::Create { hash: "h".into(), policy }, 0.0);
        assert!(matches!(reply, Reply::State { revoked: false, .. }) && changes.key, "{reply:?}");
        state
    }

    fn admit(state: &mut KeyState, hash: &str, model: &str, id: &str) -> Reply {
        let message = Message::Admit {
            hash: hash.into(),
            asked: model.into(),
            model: model.into(),
            id: id.into(),
            tokens: 10,
            cost: 0.0,
        };
        state.apply(message, 1.0).0
    }

    #[test]
    fn only_the_keys_hash_is_admitted_and_only_to_its_models() {
        let mut state = created(json!({"name": "ci", "models": ["gpt-*"], "rpm": 2}));
        assert_eq!(admit(&mut state, "not-h", "gpt-4o", "a"), Reply::Unknown);
        let Reply::Admitted { admission, .. } = admit(&mut state, "h", "gpt-4o", "a") else { panic!() };
        assert_eq!(admission.requests.unwrap().remaining, 1);
        let Reply::Denied { denial } = admit(&mut state, "h", "claude-x", "b") else { panic!() };
        assert_eq!(denial.reason, DenialReason::Model);
        assert!(denial.message.contains("`claude-x`"), "{}", denial.message);
        assert!(
            matches!(admit(&mut state, "h", "gpt-4o", "c"), Reply::Admitted { .. }),
            "a refused model used nothing"
        );
        let Reply::Denied { denial } = admit(&mut state, "h", "gpt-4o", "d") else { panic!() };
        assert_eq!(denial.reason, DenialReason::Requests);
        assert_eq!(KeyState::default().apply(Message::Lookup { hash: "h".into() }, 0.0).0, Reply::Unknown);
    }

    #[test]
    fn a_revoked_key_is_unknown_for_good_and_changes_are_checked() {
        let mut state = created(json!({"name": "ci"}));
        let (reply, _) = state.apply(Message::Update { patch: json!({"rpm": 0}) }, 0.0);
        assert!(matches!(reply, Reply::Refused { status: 400, .. }), "{reply:?}");
        let (reply, changes) = state.apply(Message::Update { patch: json!({"rpm": 5, "disabled": true}) }, 0.0);
        assert!(changes.key && matches!(&reply, Reply::State { policy, .. } if policy.rpm == Some(5)));
        assert!(
            matches!(admit(&mut state, "h", "m", "a"), Reply::Denied { denial } if denial.reason == DenialReason::Unusable)
        );
        let (reply, changes) = state.apply(Message::Revoke, 0.0);
        assert!(changes.key && matches!(reply, Reply::State { revoked: true, .. }));
        assert_eq!(state.apply(Message::Lookup { hash: "h".into() }, 0.0).0, Reply::Unknown);
        let (reply, _) = state.apply(Message::Update { patch: json!({"disabled": false}) }, 0.0);
        assert!(matches!(reply, Reply::Refused { status: 409, .. }), "no way back from a revocation");
        let policy = KeyPolicy::from_json(json!({"name": "again"})).unwrap();
        let (reply, _) = state.apply(Message::Create { hash: "h2".into(), policy }, 0.0);
        assert!(matches!(reply, Reply::Refused { status: 409, .. }));
    }

    #[test]
    fn far_from_limits_means_a_fifth_of_each_left() {
        let policy = KeyPolicy::from_json(json!({"name": "k", "rpm": 10, "budget_usd": 1.0})).unwrap();
        let window = |remaining| Some(crate::keys::Window { limit: 10, remaining, reset_seconds: 1.0 });
        let admission =
            |remaining, left| Admission { requests: window(remaining), tokens: None, budget_left_usd: Some(left) };
        assert!(admission(2, 0.2).is_far_from_limits(&policy));
        assert!(!admission(1, 0.9).is_far_from_limits(&policy));
        assert!(!admission(9, 0.1).is_far_from_limits(&policy));
    }
}
