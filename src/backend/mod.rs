//! The backend kinds of the config: for each, the dialect it speaks, where a call goes, how it is
//! authenticated and what it needs of the body beyond its dialect. This is the one place that
//! lists them; the mock answers locally and has none.

mod anthropic;
mod bedrock;
mod gemini;
mod openai;
mod vertex;

use crate::codec::{Framing, Operation};
use crate::config::{Backend, BackendKind};
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::json_object::{self, Fields};

/// Header names and values, in order.
pub type HeaderList = Vec<(String, String)>;

/// The client's headers, as a backend kind may pass some of them on.
pub struct ClientHeaders<'a> {
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The client speaks the backend's dialect, so its version headers mean what they say.
    pub same_dialect: bool,
}

/// What a backend's body depends on.
pub struct BodyContext<'a> {
    /// The model the backend knows.
    pub model: &'a str,
    pub operation: Operation,
    pub stream: bool,
    /// The client named the model in its URL, not its body (and, on Bedrock paths, the stream).
    pub model_in_url: bool,
}

/// What a signature covers of a call.
pub struct SignedRequest<'a> {
    pub url: &'a str,
    pub headers: &'a mut HeaderList,
    pub body: &'a [u8],
}

/// A remote backend kind.
pub trait Upstream: Sync {
    /// The dialect the backend speaks for `model`.
    fn dialect(&self, model: &str) -> Dialect;
    /// Where a call goes; `model` is the one the backend knows.
    fn url(&self, backend: &Backend, operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError>;
    /// Adds the backend's key, and what the client says in headers that the backend must hear.
    fn headers(&self, key: Option<String>, client: &ClientHeaders, headers: &mut HeaderList);
    /// The body as the backend takes it, from a body in its dialect. What the body and the
    /// headers carry may move between them (Bedrock's betas are body fields, Anthropic's are
    /// headers).
    fn body(&self, body: Vec<u8>, call: &BodyContext, headers: &mut HeaderList) -> Result<Vec<u8>, ProxyError> {
        let _ = (call, headers);
        Ok(body)
    }
    /// How the backend frames its streams for `model`.
    fn framing(&self, _model: &str) -> Framing {
        Framing::Sse
    }
    /// Signs the finished call, when the backend's authentication is a signature over it
    /// (Bedrock's SigV4); returns the credentials used, which no answer may repeat.
    fn sign(
        &self,
        backend: &Backend,
        request: SignedRequest,
        secret: &dyn Fn(&str) -> Option<String>,
        now: u64,
    ) -> Result<Vec<String>, ProxyError> {
        let _ = (backend, request, secret, now);
        Ok(Vec::new())
    }
    /// Whether a same-dialect call keeps the client's query (the backend's own key aside).
    fn keeps_query(&self) -> bool;
    /// Whether the backend counts tokens for clients of its dialect.
    fn counts_tokens(&self) -> bool;
}

/// The remote side of a backend kind; None for the mock, which answers locally.
pub fn of(kind: BackendKind) -> Option<&'static dyn Upstream> {
    match kind {
        BackendKind::OpenAi => Some(&openai::ChatCompletions),
        BackendKind::OpenResponses => Some(&openai::Responses),
        BackendKind::Anthropic => Some(&anthropic::Messages),
        BackendKind::Gemini => Some(&gemini::GenerateContent),
        BackendKind::Vertex => Some(&vertex::Vertex),
        BackendKind::Bedrock => Some(&bedrock::Bedrock),
        BackendKind::Mock => None,
    }
}

/// Where a call to `backend` goes (see `Upstream::url`).
pub fn url(backend: &Backend, operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError> {
    let upstream =
        of(backend.kind).ok_or_else(|| ProxyError::internal(format!("backend `{}` answers locally", backend.name)))?;
    upstream.url(backend, operation, stream, model)
}

/// The value of the Worker secret `name` that `backend` needs, without whitespace at its ends; an
/// error when it is unset or blank.
pub fn required_secret(
    secret: &dyn Fn(&str) -> Option<String>,
    backend: &Backend,
    name: &str,
) -> Result<String, ProxyError> {
    // No key holds whitespace at its ends; a secret pasted with a line break after it does.
    secret(name).map(|value| value.trim().to_string()).filter(|value| !value.is_empty()).ok_or_else(|| {
        ProxyError::internal(format!("backend `{}` needs the secret `{name}`, which is not set", backend.name))
    })
}

/// A Bedrock-shaped body's `anthropic_beta` list, moved into the `anthropic-beta` header that
/// Anthropic's API and Vertex read (joined to any the client sent as a header).
fn betas_into_header(fields: &mut Fields, headers: &mut HeaderList) {
    let Some(Ok(serde_json::Value::Array(betas))) = fields.remove("anthropic_beta").map(|raw| json_object::parse(&raw))
    else {
        return;
    };
    let betas: Vec<&str> = betas.iter().filter_map(serde_json::Value::as_str).collect();
    if betas.is_empty() {
        return;
    }
    match headers.iter_mut().find(|(name, _)| name == "anthropic-beta") {
        Some((_, value)) => *value = format!("{value},{}", betas.join(",")),
        None => headers.push(("anthropic-beta".into(), betas.join(","))),
    }
}
