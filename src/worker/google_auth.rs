//! Vertex AI authentication inside the worker: the service-account JWT signed with WebCrypto
//! (RSASSA-PKCS1-v1_5 / SHA-256), exchanged for an access token, or sent self-signed. Tokens are
//! kept per isolate. A token due for refresh keeps serving until it expires while one request
//! makes the next one in the background; requests that find no valid token wait for the request
//! making one (single flight). A failure is not kept, and a mint older than the token deadline is
//! abandoned: its request may have been cancelled, and it will never file a token.

use super::task::awaited;
use crate::config::VertexSettings;
use crate::error::{ErrorKind, ProxyError};
use crate::limits::Limits;
use crate::vertex::{self, ServiceAccount};
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Crypto, CryptoKey};
use worker::{Context, Env, Headers, Method, RequestInit};

/// Tokens are made again this long before they expire, so none expires on its way to Vertex.
const REFRESH_MARGIN_MS: f64 = 300_000.0;
/// How often a request waiting for another request's mint looks again.
const WAIT_STEP_MS: u64 = 20;

enum Slot {
    /// A token; when to make the next one and when it expires (ms since the epoch); and when a
    /// request began making the next one, if one is.
    Ready { token: String, refresh_at: f64, expires_at: f64, refreshing_since: Option<f64> },
    /// A request began making the first token at this time.
    Minting { since: f64 },
}

thread_local! {
    /// Per service-account secret and mode.
    static TOKENS: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// What a request does about the token.
enum Next {
    Use(String),
    /// Use this token, and make the next one after the answer, in the background.
    UseAndRefresh(String),
    Wait,
    Mint,
}

/// The bearer token for a Vertex backend. A request that finds another one minting waits on
/// timers of its own until that token is filed: the Workers runtime cancels a request that waits
/// on another request's I/O.
pub async fn bearer(
    env: &Env,
    ctx: &Context,
    settings: &VertexSettings,
    limits: &Limits,
) -> Result<String, ProxyError> {
    let key = format!("{}:{}", settings.service_account_env, settings.self_signed_jwt);
    let deadline = limits.token_ms as f64;
    let started = js_sys::Date::now();
    loop {
        let now = js_sys::Date::now();
        let next = TOKENS.with_borrow_mut(|tokens| match tokens.get_mut(&key) {
            Some(Slot::Ready { token, refresh_at, .. }) if now < *refresh_at => Next::Use(token.clone()),
            Some(Slot::Ready { token, expires_at, refreshing_since, .. }) if now < *expires_at => {
                if refreshing_since.is_some_and(|since| now - since < deadline) {
                    Next::Use(token.clone())
                } else {
                    *refreshing_since = Some(now);
                    Next::UseAndRefresh(token.clone())
                }
            }
            Some(Slot::Minting { since }) if now - *since < deadline => Next::Wait,
            _ => {
                tokens.insert(key.clone(), Slot::Minting { since: now });
                Next::Mint
            }
        });
        match next {
            Next::Use(token) => return Ok(token),
            Next::UseAndRefresh(token) => {
                let (env, settings, key, limits) = (env.clone(), settings.clone(), key.clone(), *limits);
                super::task::wait_until(ctx, async move {
                    let _ = mint_and_file(&env, &settings, &key, &limits).await;
                });
                return Ok(token);
            }
            // A mint that outlives its deadline is abandoned by the next look, so waiting ends.
            Next::Wait if now - started <= 2.0 * deadline => super::task::sleep(WAIT_STEP_MS).await,
            Next::Wait => return Err(ProxyError::gateway_timeout("timed out waiting for a Vertex access token")),
            Next::Mint => return mint_and_file(env, settings, &key, limits).await,
        }
    }
}

/// Mints a token and files it for the isolate; a failure clears the slot, or leaves a token that
/// is still valid in place, so that the next request tries again.
async fn mint_and_file(env: &Env, settings: &VertexSettings, key: &str, limits: &Limits) -> Result<String, ProxyError> {
    let result = mint(env, settings, limits).await;
    TOKENS.with_borrow_mut(|tokens| match &result {
        Ok((token, expires_at)) => {
            let slot = Slot::Ready {
                token: token.clone(),
                refresh_at: expires_at - REFRESH_MARGIN_MS,
                expires_at: *expires_at,
                refreshing_since: None,
            };
            tokens.insert(key.to_string(), slot);
        }
        Err(_) => match tokens.get_mut(key) {
            Some(Slot::Ready { refreshing_since, .. }) => *refreshing_since = None,
            _ => {
                tokens.remove(key);
            }
        },
    });
    result.map(|(token, _)| token)
}

/// Makes a token: the JWT, signed; exchanged at the key's `token_uri` unless self-signed. Returns
/// it with when it expires.
async fn mint(env: &Env, settings: &VertexSettings, limits: &Limits) -> Result<(String, f64), ProxyError> {
    let secret = &settings.service_account_env;
    let json = super::string_binding(env, secret).ok_or_else(|| {
        ProxyError::internal(format!("the Vertex backend needs the secret `{secret}`, which is not set"))
    })?;
    let account = ServiceAccount::from_json(&json, secret).map_err(|e| ProxyError::internal(e.to_string()))?;
    let started = js_sys::Date::now();
    let now = (started / 1000.0) as u64;
    let input = account.signing_input(now, settings.self_signed_jwt);
    let signature = sign(&account, input.as_bytes()).await?;
    let jwt = vertex::jwt(&input, &signature);
    let (token, lifetime) = if settings.self_signed_jwt {
        (jwt, vertex::JWT_LIFETIME_SECONDS)
    } else {
        let answer = exchange(&account.token_uri, &jwt, started + limits.token_ms as f64).await?;
        (answer.token, answer.expires_in)
    };
    Ok((token, started + lifetime as f64 * 1000.0))
}

fn crypto_error(what: &str) -> ProxyError {
    ProxyError::internal(format!("could not {what} with the service-account key"))
}

/// RS256 with WebCrypto: the PKCS#8 key imported for signing, then the signature.
async fn sign(account: &ServiceAccount, data: &[u8]) -> Result<Vec<u8>, ProxyError> {
    let der = account.private_key_der().map_err(|_| crypto_error("read the key"))?;
    let crypto: Crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| crypto_error("find WebCrypto"))?
        .unchecked_into();
    let subtle = crypto.subtle();
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"RSASSA-PKCS1-v1_5".into()).map_err(|_| crypto_error("sign"))?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).map_err(|_| crypto_error("sign"))?;
    let usages = Array::of1(&"sign".into());
    let import = subtle
        .import_key_with_object("pkcs8", &Uint8Array::from(der.as_slice()), &algorithm, false, &usages)
        .map_err(|_| crypto_error("import the key"))?;
    let key: CryptoKey = awaited(import).await.map_err(|_| crypto_error("import the key"))?.unchecked_into();
    let signing = subtle.sign_with_object_and_u8_array(&algorithm, &key, data).map_err(|_| crypto_error("sign"))?;
    let signature = awaited(signing).await.map_err(|_| crypto_error("sign"))?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// The JWT-bearer grant at the token endpoint, all of it by `deadline` (ms since the epoch); a
/// refusal is a 502 with the endpoint's reason.
async fn exchange(token_uri: &str, jwt: &str, deadline: f64) -> Result<vertex::AccessToken, ProxyError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/x-www-form-urlencoded")
        .map_err(|e| ProxyError::internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&vertex::token_request(jwt))));
    let failed =
        |why: String| ProxyError::new(502, ErrorKind::Api, format!("getting a Vertex access token failed: {why}"));
    let timed_out = || {
        ProxyError::gateway_timeout("the Vertex token endpoint did not answer in time (LLMPROXY_TOKEN_TIMEOUT_SECONDS)")
    };
    let left = || (deadline - js_sys::Date::now()).max(1.0) as u64;
    let answer = super::glue::fetch(token_uri, &init, left())
        .await
        .map_err(|e| failed(format!("the token endpoint is unreachable: {e}")))?
        .ok_or_else(timed_out)?;
    let status = answer.status();
    let body = super::glue::read(&answer, 64 * 1024, left(), None).await.map_err(|failure| match failure {
        super::glue::ReadFailure::TimedOut => timed_out(),
        super::glue::ReadFailure::Failed(why) => failed(why),
    })?;
    vertex::token_response(status, &body).map_err(|why| failed(crate::error::redact(&why, &[jwt])))
}
