//! The Rust floor of scripts/bench: the least a Rust Worker (workers-rs, as llmproxy is built)
//! that reads what it passes on can cost. It reads the client's body and parses it, sends it on to
//! the upstream at the same path, and then hands a stream back untouched, or reads the whole
//! answer, parses it and writes it out again: what every Rust proxy does, and nothing more — no
//! routing, no translation, no deadlines, no checks.

use worker::{event, Context, Env, Error, Fetch, Headers, Method, Request, RequestInit, Response, Result};

fn parsed(bytes: &[u8]) -> Result<serde_json::Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::RustError(e.to_string()))
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let body = parsed(&req.bytes().await?)?;
    let stream = body.get("stream").and_then(serde_json::Value::as_bool).unwrap_or(false);
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(js_sys::Uint8Array::from(body.to_string().as_bytes()).into()));
    let url = format!("http://{}{}", env.var("UPSTREAM_HOST")?, req.path());
    let mut answer = Fetch::Request(Request::new_with_init(&url, &init)?).send().await?;
    if stream {
        return Ok(answer);
    }
    Response::from_json(&parsed(&answer.bytes().await?)?)
}
