//! Vertex AI authentication inside the worker: the service-account JWT signed with WebCrypto
//! (RSASSA-PKCS1-v1_5 / SHA-256), exchanged for an access token, or sent self-signed. Tokens are
//! kept per isolate until a few minutes before they expire; requests that need one while it is
//! being made wait for that one (single flight); a failure is not kept.

use crate::config::VertexSettings;
use crate::error::{ErrorKind, ProxyError};
use crate::vertex::{self, ServiceAccount};
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Crypto, CryptoKey};
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// Tokens are made again this long before they expire, so none expires on its way to Vertex.
const REFRESH_MARGIN_SECONDS: f64 = 300.0;
/// How often a request waiting for another request's mint looks again, and for how long at most.
const WAIT_STEP_MS: u64 = 20;
const WAIT_LIMIT_MS: f64 = 30_000.0;

enum Slot {
    /// A token and when to make a new one (ms since the epoch).
    Ready { token: String, refresh_at: f64 },
    /// Another request is making one.
    Minting,
}

thread_local! {
    /// Per service-account secret and mode.
    static TOKENS: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// The bearer token for a Vertex backend. A request that finds another one minting waits on
/// timers of its own until that token is filed: the Workers runtime cancels a request that waits
/// on another request's I/O.
pub async fn bearer(env: &Env, settings: &VertexSettings) -> Result<String, ProxyError> {
    let key = format!("{}:{}", settings.service_account_env, settings.self_signed_jwt);
    let started = js_sys::Date::now();
    loop {
        let now = js_sys::Date::now();
        let minting_elsewhere = TOKENS.with_borrow_mut(|tokens| match tokens.get(&key) {
            Some(Slot::Ready { token, refresh_at }) if now < *refresh_at => Err(token.clone()),
            Some(Slot::Minting) => Ok(true),
            _ => {
                tokens.insert(key.clone(), Slot::Minting);
                Ok(false)
            }
        });
        match minting_elsewhere {
            Err(token) => return Ok(token),
            Ok(true) if now - started < WAIT_LIMIT_MS => Delay::from(Duration::from_millis(WAIT_STEP_MS)).await,
            Ok(true) => return Err(ProxyError::bad_gateway("timed out waiting for a Vertex access token")),
            Ok(false) => {
                let result = mint(env, settings).await;
                TOKENS.with_borrow_mut(|tokens| match &result {
                    Ok((token, refresh_at)) => {
                        tokens.insert(key.clone(), Slot::Ready { token: token.clone(), refresh_at: *refresh_at })
                    }
                    // A failure is not kept: the next request tries again.
                    Err(_) => tokens.remove(&key),
                });
                return result.map(|(token, _)| token);
            }
        }
    }
}

/// Makes a token: the JWT, signed; exchanged at the key's `token_uri` unless self-signed.
async fn mint(env: &Env, settings: &VertexSettings) -> Result<(String, f64), ProxyError> {
    let secret = &settings.service_account_env;
    let json = env.secret(secret).map(|s| s.to_string()).or_else(|_| env.var(secret).map(|v| v.to_string())).map_err(
        |_| ProxyError::internal(format!("the Vertex backend needs the secret `{secret}`, which is not set")),
    )?;
    let account = ServiceAccount::from_json(&json, secret).map_err(|e| ProxyError::internal(e.to_string()))?;
    let started = js_sys::Date::now();
    let now = (started / 1000.0) as u64;
    let input = account.signing_input(now, settings.self_signed_jwt);
    let signature = sign(&account, input.as_bytes()).await?;
    let jwt = vertex::jwt(&input, &signature);
    let (token, lifetime) = if settings.self_signed_jwt {
        (jwt, vertex::JWT_LIFETIME_SECONDS)
    } else {
        let answer = exchange(&account.token_uri, &jwt).await?;
        (answer.token, answer.expires_in)
    };
    Ok((token, started + (lifetime as f64 - REFRESH_MARGIN_SECONDS) * 1000.0))
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
    let key: CryptoKey = JsFuture::from(import).await.map_err(|_| crypto_error("import the key"))?.unchecked_into();
    let signing = subtle.sign_with_object_and_u8_array(&algorithm, &key, data).map_err(|_| crypto_error("sign"))?;
    let signature = JsFuture::from(signing).await.map_err(|_| crypto_error("sign"))?;
    Ok(Uint8Array::new(&signature).to_vec())
}

/// The JWT-bearer grant at the token endpoint; a refusal is a 502 with the endpoint's reason.
async fn exchange(token_uri: &str, jwt: &str) -> Result<vertex::AccessToken, ProxyError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/x-www-form-urlencoded")
        .map_err(|e| ProxyError::internal(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&vertex::token_request(jwt))));
    let request = Request::new_with_init(token_uri, &init).map_err(|e| ProxyError::internal(e.to_string()))?;
    let failed =
        |why: String| ProxyError::new(502, ErrorKind::Api, format!("getting a Vertex access token failed: {why}"));
    let mut answer =
        Fetch::Request(request).send().await.map_err(|e| failed(format!("the token endpoint is unreachable: {e}")))?;
    let status = answer.status_code();
    let body = answer.bytes().await.unwrap_or_default();
    vertex::token_response(status, &body).map_err(failed)
}
