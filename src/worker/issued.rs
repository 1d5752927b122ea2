//! Issued keys in the shell: a caller's key checked against its Durable Object (bound as `KEYS`),
//! the admission of each of its requests, and their settlement once the answer has ended. The
//! isolate keeps each key's policy and whether its last admission left it far from its limits:
//! then a request is sent upstream while its admission is asked, and the admission is waited for
//! only before anything reaches the client (see `Admission::is_far_from_limits`).

use crate::error::{ErrorKind, ProxyError};
use crate::keys::object::{Message, Reply};
use crate::keys::{self, Admission, Denial, KeyPolicy};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, RequestInit};

pub const BINDING: &str = "KEYS";
/// How long an isolate trusts the policy it has of a key. Admissions are always the object's, so
/// a revocation or a limit takes effect at once; a change of models reaches the isolate's own
/// checks (the 403 before routing, `/v1/models`) within this time.
const POLICY_TTL_MS: f64 = 30_000.0;
/// The most keys an isolate remembers.
const REMEMBERED_KEYS: usize = 10_000;

struct Remembered {
    hash: String,
    policy: KeyPolicy,
    far: bool,
    at: f64,
}

thread_local! {
    static REMEMBERED: RefCell<HashMap<String, Remembered>> = RefCell::new(HashMap::new());
}

/// A caller with an issued key.
pub struct Caller {
    pub id: String,
    hash: String,
    pub policy: KeyPolicy,
    /// The key's last admission here left it far from its limits.
    pub far: bool,
}

/// Why a request was not admitted.
pub enum Refusal {
    Denied(Denial),
    Failed(ProxyError),
}

impl From<ProxyError> for Refusal {
    fn from(error: ProxyError) -> Self {
        Self::Failed(error)
    }
}

fn not_valid() -> ProxyError {
    ProxyError::new(401, ErrorKind::Authentication, "the API key is not valid")
}

/// The caller whose issued key (of id `id`) is `presented`, or a 401.
pub async fn caller(env: &Env, id: &str, presented: &str) -> Result<Caller, ProxyError> {
    let hash = keys::hash(presented);
    let now = js_sys::Date::now();
    let remembered = REMEMBERED.with_borrow(|keys| {
        keys.get(id)
            .filter(|key| {
                now - key.at < POLICY_TTL_MS && constant_time_eq::constant_time_eq(key.hash.as_bytes(), hash.as_bytes())
            })
            .map(|key| (key.policy.clone(), key.far))
    });
    if let Some((policy, far)) = remembered {
        return Ok(Caller { id: id.to_string(), hash, policy, far });
    }
    match send(env, id, &Message::Lookup { hash: hash.clone() }).await? {
        Reply::Known { policy } => {
            remember(id, &hash, &policy, false, now);
            Ok(Caller { id: id.to_string(), hash, policy, far: false })
        }
        _ => {
            REMEMBERED.with_borrow_mut(|keys| keys.remove(id));
            Err(not_valid())
        }
    }
}

fn remember(id: &str, hash: &str, policy: &KeyPolicy, far: bool, at: f64) {
    REMEMBERED.with_borrow_mut(|keys| {
        if keys.len() >= REMEMBERED_KEYS && !keys.contains_key(id) {
            keys.clear();
        }
        keys.insert(id.to_string(), Remembered { hash: hash.to_string(), policy: policy.clone(), far, at });
    });
}

/// What one admission asks of the key's object.
pub struct Ask<'a> {
    pub asked: &'a str,
    pub model: &'a str,
    pub request: &'a str,
    pub tokens: u64,
    pub cost: f64,
}

/// Admits a request of `caller`, or says why not.
pub async fn admit(env: &Env, caller: &Caller, ask: Ask<'_>) -> Result<Admission, Refusal> {
    let message = Message::Admit {
        hash: caller.hash.clone(),
        asked: ask.asked.to_string(),
        model: ask.model.to_string(),
        id: ask.request.to_string(),
        tokens: ask.tokens,
        cost: ask.cost,
    };
    let now = js_sys::Date::now();
    match send(env, &caller.id, &message).await? {
        Reply::Admitted { policy, admission } => {
            remember(&caller.id, &caller.hash, &policy, admission.is_far_from_limits(&policy), now);
            Ok(admission)
        }
        Reply::Denied { denial } => {
            remember(&caller.id, &caller.hash, &caller.policy, false, now);
            Err(Refusal::Denied(denial))
        }
        _ => {
            REMEMBERED.with_borrow_mut(|keys| keys.remove(&caller.id));
            Err(Refusal::Failed(not_valid()))
        }
    }
}

/// Replaces a request's reservation with what it used.
pub async fn settle(env: &Env, id: &str, request: &str, tokens: u64, cost: f64) {
    let message = Message::Settle { id: request.to_string(), tokens, cost };
    if let Err(error) = send(env, id, &message).await {
        worker::console_error!("could not settle a request of key {id}: {}", error.message);
    }
}

/// The error for a key object that could not be reached or answered what it should not.
fn unavailable(e: impl std::fmt::Display) -> ProxyError {
    ProxyError::new(503, ErrorKind::Api, format!("the key store failed: {e}"))
}

/// Sends `message` to the object of key `id`.
pub async fn send(env: &Env, id: &str, message: &Message) -> Result<Reply, ProxyError> {
    let namespace = env
        .durable_object(BINDING)
        .map_err(|_| ProxyError::internal("issued keys need the Durable Object binding KEYS (see the README)"))?;
    let stub = namespace.id_from_name(id).and_then(|object| object.get_stub()).map_err(unavailable)?;
    let body = serde_json::to_string(message).map_err(|e| ProxyError::internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(JsValue::from_str(&body)));
    let request = Request::new_with_init("https://key.object/", &init).map_err(unavailable)?;
    let mut response = stub.fetch_with_request(request).await.map_err(unavailable)?;
    Reply::from_json(&response.bytes().await.map_err(unavailable)?).map_err(unavailable)
}

/// 52 random bytes from the runtime's cryptographic source, for a new key.
pub fn random_key_bytes() -> Result<[u8; 52], ProxyError> {
    let mut bytes = [0u8; 52];
    let crypto: web_sys::Crypto = wasm_bindgen::JsCast::unchecked_into(
        js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(|_| ProxyError::internal("no crypto"))?,
    );
    crypto.get_random_values_with_u8_array(&mut bytes).map_err(|_| ProxyError::internal("no random values"))?;
    Ok(bytes)
}
