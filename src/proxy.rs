//! Turns a client request into what the Workers shell must do: call an upstream (and how to
//! translate its answer back), or answer locally. Everything here is pure, so it is tested natively.

use crate::config::{Backend, BackendKind, Config, VertexSettings};
use crate::dialect::{anthropic, gemini, openai_chat, openai_responses, Dialect};
use crate::error::ProxyError;
use crate::ir;
use crate::mock;
use crate::routing;
use crate::transcode::{StreamEncoder, Transcoder};
use crate::vertex;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The `anthropic-version` sent to Anthropic backends when the client is not an Anthropic client.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An answer (`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, Gemini's
    /// `:generateContent` and `:streamGenerateContent`).
    Generate,
    /// The prompt's token count (`/v1/messages/count_tokens`, Gemini's `:countTokens`).
    CountTokens,
}

/// A client request as the shell received it.
pub struct Inbound<'a> {
    /// The dialect of the endpoint that was called.
    pub dialect: Dialect,
    pub operation: Operation,
    /// The model named in the URL (Gemini paths), which the body then does not name.
    pub model: Option<&'a str>,
    /// Whether the URL asks for a stream (Gemini's `:streamGenerateContent`).
    pub stream: Option<bool>,
    pub body: &'a [u8],
    /// The query string without `?`, forwarded when both sides speak the same dialect.
    pub query: &'a str,
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// Looks up a Worker secret or var by name.
    pub secret: &'a dyn Fn(&str) -> Option<String>,
    /// Unix seconds, for ids and `created` stamps.
    pub now: u64,
}

pub enum Plan {
    Upstream(UpstreamCall),
    Local(LocalAnswer),
}

/// Header names and values, in order.
pub type HeaderList = Vec<(String, String)>;

pub struct UpstreamCall {
    pub url: String,
    pub headers: HeaderList,
    pub body: Vec<u8>,
    pub stream: bool,
    pub exchange: Exchange,
    /// The name of the backend, reported to the client in `x-llmproxy-backend`.
    pub backend: String,
    /// Request fields the backend dialect could not carry, reported in `x-llmproxy-dropped`.
    pub dropped: Vec<String>,
    /// For Vertex backends: the service account to authenticate with, as the shell must add an
    /// `Authorization: Bearer` token it gets from it.
    pub vertex: Option<VertexSettings>,
    /// The credentials sent with the call, which no answer to the client may repeat.
    pub secrets: Vec<String>,
}

pub struct LocalAnswer {
    pub stream: bool,
    /// The answer is the proxy's own token estimate, reported in `x-llmproxy-estimate`.
    pub estimated: bool,
    pub body: Vec<u8>,
    pub backend: String,
    pub dropped: Vec<String>,
}

/// The two dialects of one call, and what translating between them needs.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub client: Dialect,
    pub backend: Dialect,
    /// The client asked for a usage chunk at the end of a Chat stream.
    include_usage: bool,
    now: u64,
    /// A Responses client's `namespace` tools, whose calls are given back under their namespace.
    namespaces: Vec<String>,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow)]
    tools: Option<&'a RawValue>,
}

pub fn plan(config: &Config, inbound: &Inbound) -> Result<Plan, ProxyError> {
    // Fields the peek skips are not checked for UTF-8, and a same-dialect body is forwarded as it
    // came: JSON text must be UTF-8 (RFC 8259), so the whole body is checked here.
    std::str::from_utf8(inbound.body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: it is not UTF-8 ({e})")))?;
    let peek: Peek = serde_json::from_slice(inbound.body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let requested = inbound.model.or(peek.model.as_deref()).filter(|m| !m.is_empty()).ok_or_else(|| {
        let mut error = ProxyError::invalid("`model` is required");
        error.param = Some("model".into());
        error
    })?;
    routing::check_model_name(requested)?;
    let model = config.resolve_alias(requested)?;
    routing::check_model_name(model)?;
    let backend = config.route(model)?;
    let stream = inbound.stream.or(peek.stream).unwrap_or(false);
    let include_usage = peek
        .stream_options
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        .and_then(|options| options.get("include_usage").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let namespaces = match (inbound.dialect, peek.tools) {
        (Dialect::OpenAiResponses, Some(tools)) => {
            serde_json::from_str::<Vec<openai_responses::types::Tool>>(tools.get())
                .map(|tools| openai_responses::stream::namespaces_of(&tools))
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let backend_dialect = match backend.kind {
        BackendKind::OpenAi => Dialect::OpenAiChat,
        BackendKind::OpenResponses => Dialect::OpenAiResponses,
        BackendKind::Anthropic => Dialect::Anthropic,
        BackendKind::Gemini => Dialect::Gemini,
        BackendKind::Vertex => match vertex::Publisher::of(model) {
            vertex::Publisher::Anthropic => Dialect::Anthropic,
            vertex::Publisher::Google => Dialect::Gemini,
        },
        BackendKind::Mock => inbound.dialect,
    };
    let exchange =
        Exchange { client: inbound.dialect, backend: backend_dialect, include_usage, now: inbound.now, namespaces };
    let same_dialect = backend_dialect == inbound.dialect;
    let native_count = inbound.operation == Operation::CountTokens
        && same_dialect
        && matches!(backend.kind, BackendKind::Anthropic | BackendKind::Gemini | BackendKind::Vertex);
    if inbound.operation == Operation::CountTokens && !native_count {
        return estimate_tokens(inbound, backend);
    }
    if backend.kind == BackendKind::Mock {
        return answer_locally(inbound, model, backend, stream, exchange).map(Plan::Local);
    }
    let (mut body, dropped) = match (same_dialect, inbound.model) {
        // Vertex-shaped Claude paths name the model in the URL and Vertex's version in the body;
        // Anthropic's own API wants them the other way round.
        (true, Some(_)) if backend.kind == BackendKind::Anthropic => {
            (anthropic_api_body(inbound.body, model)?, Vec::new())
        }
        // Gemini names the model in the URL only.
        (true, Some(_)) => (inbound.body.to_vec(), Vec::new()),
        (true, None) => (with_model(inbound.body, requested, model)?, Vec::new()),
        (false, _) => {
            let mut request = to_ir(inbound.dialect, inbound.body)?;
            request.model = model.to_string();
            request.stream = stream;
            from_ir(backend_dialect, request, backend)?
        }
    };
    if backend.kind == BackendKind::Vertex && backend_dialect == Dialect::Anthropic {
        // Vertex counts Claude tokens at one shared endpoint, which needs the model in the body.
        let count = inbound.operation == Operation::CountTokens;
        body = vertex::claude_body(&body, count.then_some(model)).map_err(ProxyError::invalid)?;
    }
    let mut url = upstream_url(backend, inbound.operation, stream, model)?;
    let forwarded = forwarded_query(inbound.query);
    let own_query = matches!(backend.kind, BackendKind::Gemini | BackendKind::Vertex);
    if same_dialect && !own_query && !forwarded.is_empty() {
        url.push('?');
        url.push_str(&forwarded);
    }
    let (headers, secrets) = upstream_headers(backend, same_dialect, inbound)?;
    let stream = stream && inbound.operation == Operation::Generate;
    Ok(Plan::Upstream(UpstreamCall {
        url,
        headers,
        body,
        stream,
        exchange,
        backend: backend.name.clone(),
        dropped,
        vertex: backend.vertex.clone(),
        secrets,
    }))
}

/// Where a backend takes a request: the base URL and the path of the operation, with the model as
/// one path segment where the backend puts it in the path (Gemini, Vertex).
pub fn upstream_url(backend: &Backend, operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError> {
    Ok(match (backend.kind, operation) {
        (BackendKind::OpenAi, _) => format!("{}/chat/completions", backend.base_url),
        (BackendKind::OpenResponses, _) => format!("{}/responses", backend.base_url),
        (BackendKind::Anthropic, Operation::Generate) => format!("{}/v1/messages", backend.base_url),
        (BackendKind::Anthropic, Operation::CountTokens) => format!("{}/v1/messages/count_tokens", backend.base_url),
        (BackendKind::Gemini, operation) => {
            let method = match (operation, stream) {
                (Operation::CountTokens, _) => "countTokens",
                (Operation::Generate, true) => "streamGenerateContent?alt=sse",
                (Operation::Generate, false) => "generateContent",
            };
            format!("{}/v1beta/models/{}:{method}", backend.base_url, routing::model_path_segment(model)?)
        }
        (BackendKind::Vertex, operation) => {
            let Some(settings) = backend.vertex.as_ref() else {
                return Err(ProxyError::internal(format!("backend `{}` has no Vertex settings", backend.name)));
            };
            let publisher = vertex::Publisher::of(model);
            let model = routing::model_path_segment(model)?;
            let (model, method) = match (publisher, operation, stream) {
                (vertex::Publisher::Anthropic, Operation::CountTokens, _) => ("count-tokens", "rawPredict"),
                (vertex::Publisher::Anthropic, Operation::Generate, true) => (model.as_str(), "streamRawPredict"),
                (vertex::Publisher::Anthropic, Operation::Generate, false) => (model.as_str(), "rawPredict"),
                (vertex::Publisher::Google, Operation::CountTokens, _) => (model.as_str(), "countTokens"),
                (vertex::Publisher::Google, Operation::Generate, true) => {
                    (model.as_str(), "streamGenerateContent?alt=sse")
                }
                (vertex::Publisher::Google, Operation::Generate, false) => (model.as_str(), "generateContent"),
            };
            vertex::model_url(&backend.base_url, &settings.project, &settings.location, publisher, model, method)
        }
        (BackendKind::Mock, _) => {
            return Err(ProxyError::internal(format!("backend `{}` answers locally", backend.name)))
        }
    })
}

/// A Messages body for Anthropic's own API, from a Vertex-shaped request: the model in the body,
/// and no `anthropic_version` (the API takes the version as a header).
fn anthropic_api_body(body: &[u8], model: &str) -> Result<Vec<u8>, ProxyError> {
    let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not a JSON object: {e}")))?;
    fields.remove("anthropic_version");
    fields.insert("model".into(), model.into());
    serde_json::to_vec(&fields).map_err(|e| ProxyError::internal(e.to_string()))
}

/// The client's query without its `key` parameter, which is the proxy's key and never the
/// backend's business.
fn forwarded_query(query: &str) -> String {
    query.split('&').filter(|pair| !pair.is_empty() && !pair.starts_with("key=")).collect::<Vec<_>>().join("&")
}

/// Token counting where the backend has no count for the client's dialect: an estimate (about
/// four characters a token), marked as such in `x-llmproxy-estimate`.
fn estimate_tokens(inbound: &Inbound, backend: &Backend) -> Result<Plan, ProxyError> {
    let request = to_ir(inbound.dialect, inbound.body)?;
    let count = request.estimated_input_tokens();
    let body = match inbound.dialect {
        Dialect::Anthropic => serde_json::json!({ "input_tokens": count }),
        Dialect::Gemini => serde_json::json!({ "totalTokens": count }),
        other => return Err(ProxyError::not_found(format!("{other:?} has no token counting endpoint"))),
    };
    Ok(Plan::Local(LocalAnswer {
        stream: false,
        body: body.to_string().into_bytes(),
        backend: backend.name.clone(),
        estimated: true,
        dropped: Vec::new(),
    }))
}

fn to_ir(dialect: Dialect, body: &[u8]) -> Result<ir::Request, ProxyError> {
    let invalid = |e: serde_json::Error| ProxyError::invalid(format!("the request does not match the API: {e}"));
    match dialect {
        Dialect::OpenAiChat => openai_chat::request::to_ir(serde_json::from_slice(body).map_err(invalid)?),
        Dialect::Anthropic => anthropic::request::to_ir(serde_json::from_slice(body).map_err(invalid)?),
        Dialect::OpenAiResponses => openai_responses::request::to_ir(serde_json::from_slice(body).map_err(invalid)?),
        Dialect::Gemini => gemini::request::to_ir(serde_json::from_slice(body).map_err(invalid)?),
    }
}

fn from_ir(dialect: Dialect, request: ir::Request, backend: &Backend) -> Result<(Vec<u8>, Vec<String>), ProxyError> {
    let (body, dropped) = match dialect {
        Dialect::OpenAiChat => {
            let (request, dropped) = openai_chat::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
        Dialect::Anthropic => {
            let (request, dropped) = anthropic::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
        Dialect::OpenAiResponses => {
            let (request, dropped) = openai_responses::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
        Dialect::Gemini => {
            let (request, dropped) = gemini::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
    };
    Ok((body.map_err(|e| ProxyError::internal(format!("could not write the upstream request: {e}")))?, dropped))
}

/// The body with `model` replaced, when the route renamed it; otherwise the very same bytes.
/// Every other field is carried over unparsed.
fn with_model(body: &[u8], requested: &str, model: &str) -> Result<Vec<u8>, ProxyError> {
    if requested == model {
        return Ok(body.to_vec());
    }
    let mut fields: BTreeMap<Cow<str>, &RawValue> = serde_json::from_slice(body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not a JSON object: {e}")))?;
    let model = RawValue::from_string(serde_json::to_string(model).expect("strings serialize"))
        .expect("a JSON string is a JSON value");
    fields.insert(Cow::Borrowed("model"), &model);
    serde_json::to_vec(&fields).map_err(|e| ProxyError::internal(e.to_string()))
}

/// The headers of an upstream call, and the secret values among them.
fn upstream_headers(
    backend: &Backend,
    same_dialect: bool,
    inbound: &Inbound,
) -> Result<(HeaderList, Vec<String>), ProxyError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let key = match &backend.api_key_env {
        None => None,
        Some(name) => Some((inbound.secret)(name).filter(|k| !k.is_empty()).ok_or_else(|| {
            ProxyError::internal(format!("backend `{}` needs the secret `{name}`, which is not set", backend.name))
        })?),
    };
    let secret = key.clone();
    match backend.kind {
        BackendKind::OpenAi | BackendKind::OpenResponses => {
            if let Some(key) = key {
                headers.push(("authorization".into(), format!("Bearer {key}")));
            }
        }
        BackendKind::Anthropic => {
            if let Some(key) = key {
                headers.push(("x-api-key".into(), key));
            }
            let version = same_dialect.then(|| (inbound.header)("anthropic-version")).flatten();
            headers.push(("anthropic-version".into(), version.unwrap_or_else(|| ANTHROPIC_VERSION.into())));
            if let Some(beta) = (inbound.header)("anthropic-beta") {
                headers.push(("anthropic-beta".into(), beta));
            }
        }
        BackendKind::Gemini => {
            if let Some(key) = key {
                headers.push(("x-goog-api-key".into(), key));
            }
        }
        // The bearer token is the shell's to add (see `UpstreamCall::vertex`); Claude's betas go
        // through as on Anthropic's own API.
        BackendKind::Vertex => {
            if let Some(beta) = (inbound.header)("anthropic-beta") {
                headers.push(("anthropic-beta".into(), beta));
            }
        }
        BackendKind::Mock => {}
    }
    headers.extend(backend.headers.iter().cloned());
    Ok((headers, secret.into_iter().collect()))
}

fn answer_locally(
    inbound: &Inbound,
    model: &str,
    backend: &Backend,
    stream: bool,
    exchange: Exchange,
) -> Result<LocalAnswer, ProxyError> {
    let mut request = to_ir(inbound.dialect, inbound.body)?;
    request.model = model.to_string();
    let id = match inbound.dialect {
        Dialect::OpenAiChat => format!("chatcmpl-mock{}", inbound.now),
        Dialect::Anthropic => format!("msg_mock{}", inbound.now),
        Dialect::OpenAiResponses => format!("resp_mock{}", inbound.now),
        Dialect::Gemini => format!("mock{}", inbound.now),
    };
    let response = mock::answer(&request, id);
    let body = if stream {
        let mut encoder = exchange.encoder();
        let mut out = Vec::new();
        for event in response.into_events() {
            encoder.event(event, &mut out);
        }
        out
    } else {
        exchange.encode_response(response)?
    };
    Ok(LocalAnswer { stream, estimated: false, body, backend: backend.name.clone(), dropped: request.dropped })
}

/// A whole answer in a backend dialect, read into the IR.
fn response_to_ir(dialect: Dialect, body: &[u8]) -> Result<ir::Response, ProxyError> {
    let unreadable = |e: serde_json::Error| ProxyError::bad_gateway(format!("the upstream answer is unreadable: {e}"));
    match dialect {
        Dialect::OpenAiChat => openai_chat::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?),
        Dialect::Anthropic => anthropic::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?),
        Dialect::OpenAiResponses => {
            openai_responses::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?)
        }
        Dialect::Gemini => gemini::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?),
    }
}

/// The stream decoder for a backend dialect.
fn decoder(dialect: Dialect) -> Box<dyn crate::transcode::StreamDecoder> {
    match dialect {
        Dialect::OpenAiChat => Box::<openai_chat::stream::Decoder>::default(),
        Dialect::Anthropic => Box::<anthropic::stream::Decoder>::default(),
        Dialect::OpenAiResponses => Box::<openai_responses::stream::Decoder>::default(),
        Dialect::Gemini => Box::<gemini::stream::Decoder>::default(),
    }
}

impl Exchange {
    /// An exchange between two dialects with no request context (a Chat client's usage chunk
    /// asked for, no namespaces, the clock at 0): what benchmarks and tests translate with.
    pub fn between(client: Dialect, backend: Dialect) -> Self {
        Self { client, backend, include_usage: true, now: 0, namespaces: Vec::new() }
    }

    pub fn is_passthrough(&self) -> bool {
        self.client == self.backend
    }

    fn encoder(&self) -> Box<dyn StreamEncoder> {
        match self.client {
            Dialect::OpenAiChat => Box::new(openai_chat::stream::Encoder::new(self.now, self.include_usage)),
            Dialect::Anthropic => Box::<anthropic::stream::Encoder>::default(),
            Dialect::OpenAiResponses => {
                Box::new(openai_responses::stream::Encoder::new(self.now, self.namespaces.clone()))
            }
            Dialect::Gemini => Box::<gemini::stream::Encoder>::default(),
        }
    }

    /// The stream translator for a successful streamed answer.
    pub fn transcoder(&self) -> Transcoder {
        if self.is_passthrough() {
            return Transcoder::passthrough(self.client);
        }
        Transcoder::translate(self.client, decoder(self.backend), self.encoder())
    }

    /// A whole successful answer from the backend, in the client's dialect.
    pub fn translate_response(&self, body: &[u8]) -> Result<Vec<u8>, ProxyError> {
        let mut response = response_to_ir(self.backend, body)?;
        response.fill_empty_arguments();
        self.encode_response(response)
    }

    fn encode_response(&self, response: ir::Response) -> Result<Vec<u8>, ProxyError> {
        let body = match self.client {
            Dialect::OpenAiChat => serde_json::to_vec(&openai_chat::response::from_ir(response, self.now)),
            Dialect::Anthropic => serde_json::to_vec(&anthropic::response::from_ir(response)),
            Dialect::OpenAiResponses => {
                serde_json::to_vec(&openai_responses::response::from_ir(response, self.now, &self.namespaces))
            }
            Dialect::Gemini => serde_json::to_vec(&gemini::response::from_ir(response)),
        };
        body.map_err(|e| ProxyError::internal(e.to_string()))
    }

    /// An upstream error answer, as the client's dialect reports it (same dialect: unchanged but
    /// for `secrets`, which no answer may repeat).
    pub fn translate_error(&self, status: u16, body: &[u8], secrets: &[&str]) -> Vec<u8> {
        if self.is_passthrough() {
            return crate::error::redact(&String::from_utf8_lossy(body), secrets).into_bytes();
        }
        ProxyError::from_upstream(status, body).redacted(secrets).to_body(self.client).into_bytes()
    }
}

/// `GET /v1/models`: aliases and exact model names, in the list shape of the client's dialect.
pub fn models_list(config: &Config, dialect: Dialect) -> serde_json::Value {
    use serde_json::json;
    let models = config.listed_models();
    match dialect {
        Dialect::OpenAiChat | Dialect::OpenAiResponses => json!({
            "object": "list",
            "data": models.iter().map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner})).collect::<Vec<_>>(),
        }),
        Dialect::Anthropic => json!({
            "data": models.iter().map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"})).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|(id, _)| *id),
            "last_id": models.last().map(|(id, _)| *id),
        }),
        Dialect::Gemini => json!({
            "models": models.iter().map(|(id, _)| json!({
                "name": format!("models/{id}"),
                "displayName": id,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            })).collect::<Vec<_>>(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BlockStart, Delta, StopReason, StreamEvent};
    use crate::sse;
    use serde_json::{json, Value};

    const CONFIG: &str = r#"{"backends": [
        {"name": "openai", "kind": "openai", "api_key_env": "OPENAI_API_KEY", "models": ["gpt-*"]},
        {"name": "anthropic", "kind": "anthropic", "api_key_env": "ANTHROPIC_API_KEY", "models": ["claude-*"]},
        {"name": "mock", "kind": "mock", "models": ["mock-*"]}], "aliases": {"fast": "gpt-4o-mini"}}"#;

    fn plan_for(dialect: Dialect, body: Value, secrets: &[(&str, &str)]) -> Result<Plan, ProxyError> {
        let config = Config::from_json(CONFIG).unwrap();
        let body = body.to_string();
        let secret = |name: &str| secrets.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let header = |_: &str| None;
        let inbound = Inbound {
            dialect,
            operation: Operation::Generate,
            model: None,
            stream: None,
            body: body.as_bytes(),
            query: "",
            header: &header,
            secret: &secret,
            now: 1,
        };
        plan(&config, &inbound)
    }

    fn upstream(plan: Plan) -> UpstreamCall {
        match plan {
            Plan::Upstream(call) => call,
            Plan::Local(_) => panic!("expected an upstream call"),
        }
    }

    #[test]
    fn a_model_in_the_path_never_leaves_its_path_segment() {
        let hostile = "/v1beta/models/x%2F..%2F..%2F..%2Fv1%2Fprojects%2FOTHER%2FcustomJobs%23:generateContent";
        let endpoint = crate::endpoint::post(hostile).unwrap();
        for kind in [
            r#""kind": "gemini", "api_key_env": "K""#,
            r#""kind": "vertex", "project": "p", "location": "us-east5", "service_account_env": "SA""#,
        ] {
            let config =
                Config::from_json(&format!(r#"{{"backends": [{{"name": "b", {kind}, "models": ["**"]}}]}}"#)).unwrap();
            let (secret, header) = (|_: &str| Some("k".to_string()), |_: &str| None);
            let inbound = Inbound {
                dialect: Dialect::Gemini,
                operation: endpoint.operation,
                model: endpoint.model.as_deref(),
                stream: endpoint.stream,
                body: b"{\"contents\": []}",
                query: "",
                header: &header,
                secret: &secret,
                now: 1,
            };
            let error = plan(&config, &inbound).err().expect("refused, never sent");
            assert_eq!((error.status, error.param.as_deref()), (400, Some("model")), "{kind}");
            let encoded = upstream_url(&config.backends[0], Operation::Generate, false, "a:b@1").unwrap();
            assert!(encoded.ends_with("/models/a%3Ab@1:generateContent"), "{encoded}");
        }
    }

    #[test]
    fn a_body_that_is_not_utf8_is_refused_not_forwarded() {
        let config = Config::from_json(CONFIG).unwrap();
        let (secret, header) = (|_: &str| Some("k".to_string()), |_: &str| None);
        let body = b"{\"model\": \"gpt-4o\", \"messages\": [], \"user\": \"\x9b\xd7\"}";
        let inbound = Inbound {
            dialect: Dialect::OpenAiChat,
            operation: Operation::Generate,
            model: None,
            stream: None,
            body,
            query: "",
            header: &header,
            secret: &secret,
            now: 1,
        };
        let error = plan(&config, &inbound).err().expect("refused, never sent");
        assert_eq!(error.status, 400);
    }

    #[test]
    fn a_missing_backend_secret_is_named_but_never_invented() {
        let error = plan_for(Dialect::OpenAiChat, json!({"model": "claude-x", "messages": []}), &[])
            .err()
            .expect("no key, no call");
        assert_eq!(error.status, 500);
        assert!(error.message.contains("`ANTHROPIC_API_KEY`"));
    }

    #[test]
    fn aliases_are_rewritten_on_a_passthrough_and_nothing_else_changes() {
        let body = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "zeta": {"a": [1, 2.5]}});
        let call = upstream(plan_for(Dialect::OpenAiChat, body.clone(), &[("OPENAI_API_KEY", "k")]).unwrap());
        let sent: Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(sent, json!({"model": "gpt-4o-mini", "messages": body["messages"], "zeta": body["zeta"]}));
        assert_eq!(call.url, "https://api.openai.com/v1/chat/completions");
        assert!(call.headers.contains(&("authorization".into(), "Bearer k".into())));
    }

    /// Decodes a whole stream in pieces of `piece` bytes, tools without arguments given `{}` as
    /// the transcoder gives them.
    fn decode(dialect: Dialect, bytes: &[u8], piece: usize) -> Vec<StreamEvent> {
        let mut decoder = super::decoder(dialect);
        let mut parser = sse::Parser::new();
        let mut events = Vec::new();
        for chunk in bytes.chunks(piece) {
            parser.feed(chunk, &mut |e| decoder.event(e, &mut events).unwrap()).unwrap();
        }
        parser.finish(&mut |e| decoder.event(e, &mut events).unwrap());
        decoder.end(&mut events).unwrap();
        crate::ir::EmptyArguments::default().fill(&mut events);
        events
    }

    /// What a client would make of a stream: text, thinking, tool calls (id, name, arguments),
    /// stop reason and usage (in, out).
    type Meaning = (String, String, Vec<(String, String, Value)>, Option<StopReason>, (u64, u64));

    fn meaning(events: &[StreamEvent]) -> Meaning {
        let (mut text, mut thinking, mut tools, mut stop, mut usage) =
            (String::new(), String::new(), Vec::new(), None, (0, 0));
        let mut arguments: Vec<(usize, String)> = Vec::new();
        for event in events {
            match event {
                StreamEvent::BlockStart { index, block: BlockStart::ToolCall { id, name } } => {
                    tools.push((id.clone(), name.clone(), Value::Null));
                    arguments.push((*index, String::new()));
                }
                StreamEvent::Delta { delta: Delta::Text(t), .. } => text.push_str(t),
                StreamEvent::Delta { delta: Delta::Thinking(t), .. } => thinking.push_str(t),
                StreamEvent::Delta { index, delta: Delta::ToolArguments(a) } => {
                    arguments.iter_mut().find(|(i, _)| i == index).unwrap().1.push_str(a)
                }
                StreamEvent::Finish { stop_reason, usage: u, .. } => {
                    stop = stop_reason.clone();
                    usage = (u.input_tokens, u.output_tokens);
                }
                _ => {}
            }
        }
        for (tool, (_, args)) in tools.iter_mut().zip(arguments) {
            tool.2 = serde_json::from_str(&args).unwrap();
        }
        (text, thinking, tools, stop, usage)
    }

    fn translate(exchange: &Exchange, bytes: &[u8], piece: usize) -> Vec<u8> {
        let mut transcoder = exchange.transcoder();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            out.extend(transcoder.push(chunk));
        }
        out.extend(transcoder.end());
        out
    }

    /// A `*.chunks.jsonl` recording as SSE, each event named after its payload's `type` when it
    /// has one (Gemini's chunks have none).
    fn framed(jsonl: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
            let kind = serde_json::from_str::<Value>(line).unwrap()["type"].as_str().map(str::to_string);
            sse::write_event(&mut out, kind.as_deref(), line);
        }
        out
    }

    #[test]
    fn recorded_streams_keep_their_meaning_in_every_other_dialect() {
        let mut recordings: Vec<(Dialect, Vec<u8>)> = vec![
            (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse").to_vec()),
            (
                Dialect::Anthropic,
                framed(include_str!("../fixtures/wire/anthropic-thinking-signature.vercel.chunks.jsonl")),
            ),
            (Dialect::Anthropic, framed(include_str!("../fixtures/wire/anthropic-tool-use.vercel.chunks.jsonl"))),
            (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-tool.sdkpy.sse").to_vec()),
            (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-parallel-tools.sdkpy.sse").to_vec()),
        ];
        // Four Responses streams recorded back to back, each ending with `response.completed`.
        let responses = include_str!("../fixtures/wire/openai-responses-reasoning-fc.vercel.chunks.jsonl");
        let mut stream = String::new();
        for line in responses.lines() {
            stream.push_str(line);
            stream.push('\n');
            if line.contains("\"type\":\"response.completed\"") {
                recordings.push((Dialect::OpenAiResponses, framed(&std::mem::take(&mut stream))));
            }
        }
        for gemini in [
            include_str!("../fixtures/wire/gemini-functioncall-thoughtsig.vercel.chunks.jsonl"),
            include_str!("../fixtures/wire/gemini-partial-args.vercel.chunks.jsonl"),
            include_str!("../fixtures/wire/gemini-partial-args-no-args.vercel.chunks.jsonl"),
            include_str!("../fixtures/wire/vertex-partial-args-nested.vercel.chunks.jsonl"),
        ] {
            recordings.push((Dialect::Gemini, framed(gemini)));
        }
        recordings.push((
            Dialect::Anthropic,
            framed(include_str!("../fixtures/wire/anthropic-tool-no-args.vercel.chunks.jsonl")),
        ));
        assert_eq!(recordings.len(), 14);
        let dialects = [Dialect::OpenAiChat, Dialect::Anthropic, Dialect::OpenAiResponses, Dialect::Gemini];
        for (backend, recording) in recordings {
            let original = meaning(&decode(backend, &recording, recording.len()));
            assert!(!original.2.is_empty() || !original.0.is_empty(), "the recording holds text or tool calls");
            for client in dialects {
                let mut expected = original.clone();
                expected.3 = expected.3.map(|reason| as_told_to(client, reason, !original.2.is_empty()));
                let pair = Exchange::between(client, backend);
                for piece in [1, 7, 64, recording.len()] {
                    // Same dialect too: through the IR and back, not the passthrough.
                    let mut transcoder = Transcoder::translate(client, decoder(backend), pair.encoder());
                    let mut translated: Vec<u8> = recording.chunks(piece).flat_map(|c| transcoder.push(c)).collect();
                    translated.extend(transcoder.end());
                    let seen = meaning(&decode(client, &translated, 5));
                    assert_eq!(seen, expected, "{backend:?} → {client:?} in pieces of {piece}");
                }
            }
        }
    }

    #[test]
    fn captured_agent_requests_survive_a_round_trip_through_the_ir() {
        let config = Config::from_json(CONFIG).unwrap();
        let captures: [(Dialect, &str); 6] = [
            (Dialect::Anthropic, include_str!("../fixtures/captures/claude-code-tool-result.json")),
            (Dialect::Anthropic, include_str!("../fixtures/captures/opencode-anthropic-tools.json")),
            (Dialect::OpenAiChat, include_str!("../fixtures/captures/opencode-chat-tools.json")),
            (Dialect::OpenAiResponses, include_str!("../fixtures/captures/codex-tool-result.json")),
            (Dialect::Gemini, include_str!("../fixtures/captures/gemini-cli-tool-result.json")),
            (Dialect::Gemini, include_str!("../fixtures/captures/gemini-cli-router.json")),
        ];
        for (dialect, capture) in captures {
            let body = serde_json::from_str::<Value>(capture).unwrap()["body"].to_string();
            let ir = to_ir(dialect, body.as_bytes()).unwrap();
            let (again, _) = from_ir(dialect, ir.clone(), &config.backends[0]).unwrap();
            let back = to_ir(dialect, &again).unwrap();
            assert!(!ir.messages.is_empty() && (!ir.tools.is_empty() || ir.output_format.is_some()));
            // What the dialect can say in one way only: one system prompt, a thinking budget.
            let system = |r: &ir::Request| r.system.join("\n\n");
            let budget = |r: &ir::Request| r.reasoning.and_then(ir::Reasoning::budget_tokens);
            assert_eq!(system(&back), system(&ir), "{dialect:?} system");
            assert_eq!(budget(&back), budget(&ir), "{dialect:?} reasoning");
            assert_eq!(back.messages, ir.messages, "{dialect:?} messages");
            assert_eq!(back.tools, ir.tools, "{dialect:?} tools");
            assert_eq!(
                (&back.tool_choice, &back.output_format, back.temperature, back.top_p, &back.stop, back.stream),
                (&ir.tool_choice, &ir.output_format, ir.temperature, ir.top_p, &ir.stop, ir.stream),
                "{dialect:?} settings"
            );
            assert!(ir.max_tokens.is_none() || back.max_tokens == ir.max_tokens, "{dialect:?} max tokens");
        }
    }

    #[test]
    fn recorded_whole_answers_survive_a_round_trip_through_the_ir() {
        let recordings: [(Dialect, &[u8]); 5] = [
            (Dialect::OpenAiChat, include_bytes!("../fixtures/wire/openai-chat-text.vercel.json")),
            (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-text.vercel.json")),
            (Dialect::Anthropic, include_bytes!("../fixtures/wire/anthropic-tool-use.vercel.json")),
            (Dialect::OpenAiResponses, include_bytes!("../fixtures/wire/openai-responses-reasoning.vercel.json")),
            (Dialect::Gemini, include_bytes!("../fixtures/wire/gemini-text.vercel.json")),
        ];
        for (dialect, body) in recordings {
            let once = Exchange::between(dialect, dialect).translate_response(body).unwrap();
            let original = response_to_ir(dialect, body).unwrap();
            assert!(!original.content.is_empty());
            assert_eq!(response_to_ir(dialect, &once).unwrap(), original, "{dialect:?}");
        }
    }

    /// A stop reason as a client of `dialect` can tell it: Chat has one reason for a natural end
    /// and a stop sequence, Responses only completed or incomplete.
    fn as_told_to(dialect: Dialect, reason: StopReason, has_tool_calls: bool) -> StopReason {
        match dialect {
            Dialect::OpenAiChat => {
                openai_chat::response::stop_reason_to_ir(openai_chat::response::stop_reason_from_ir(&reason))
            }
            Dialect::Anthropic => {
                anthropic::response::stop_reason_to_ir(anthropic::response::stop_reason_from_ir(&reason))
            }
            Dialect::OpenAiResponses => match openai_responses::response::status_from_ir(Some(&reason)) {
                (_, Some(details)) if details.reason == "max_output_tokens" => StopReason::MaxTokens,
                (_, Some(_)) => StopReason::ContentFilter,
                _ if has_tool_calls => StopReason::ToolUse,
                _ => StopReason::EndTurn,
            },
            Dialect::Gemini => {
                gemini::response::stop_reason_to_ir(gemini::response::stop_reason_from_ir(&reason), has_tool_calls)
            }
        }
    }

    #[test]
    fn passthrough_streams_are_byte_identical_and_truncation_is_reported() {
        let recording = include_bytes!("../fixtures/wire/anthropic-tool-use.sdkpy.sse");
        let passthrough = Exchange::between(Dialect::Anthropic, Dialect::Anthropic);
        assert_eq!(translate(&passthrough, recording, 3), recording.to_vec());
        let cut = &recording[..recording.len() / 2];
        let whole_events = &cut[..cut.windows(2).rposition(|w| w == b"\n\n").unwrap() + 2];
        let out = translate(&passthrough, cut, 3);
        assert!(out.starts_with(whole_events), "every whole event arrives");
        let rest = String::from_utf8(out[whole_events.len()..].to_vec()).unwrap();
        let data = rest.strip_prefix("event: error\ndata: ").and_then(|r| r.strip_suffix("\n\n"));
        let error: Value = serde_json::from_str(data.expect("then one error event, never half an event")).unwrap();
        assert_eq!((error["type"].as_str(), error["error"]["type"].as_str()), (Some("error"), Some("api_error")));
    }

    #[test]
    fn whole_answers_translate_both_ways() {
        let anthropic_body = include_bytes!("../fixtures/wire/anthropic-tool-use.vercel.json");
        let to_chat = Exchange::between(Dialect::OpenAiChat, Dialect::Anthropic);
        let recorded: Value = serde_json::from_slice(anthropic_body).unwrap();
        let chat: Value = serde_json::from_slice(&to_chat.translate_response(anthropic_body).unwrap()).unwrap();
        let call = &chat["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["id"], recorded["content"][0]["id"]);
        let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(arguments["elements"][0]["location"], "San Francisco");
        assert_eq!(chat["choices"][0]["finish_reason"], "tool_calls");

        let chat_body = include_bytes!("../fixtures/wire/openai-chat-text.vercel.json");
        let to_anthropic = Exchange::between(Dialect::Anthropic, Dialect::OpenAiChat);
        let message: Value = serde_json::from_slice(&to_anthropic.translate_response(chat_body).unwrap()).unwrap();
        assert!(message["content"][0]["text"].as_str().unwrap().starts_with("**Holiday Name:** Galaxy Day"));
        assert_eq!(message["stop_reason"], "end_turn");
        assert_eq!(
            (message["usage"]["input_tokens"].as_u64(), message["usage"]["output_tokens"].as_u64()),
            (Some(16), Some(363))
        );
    }

    #[test]
    fn requests_survive_a_round_trip_through_the_ir() {
        let config = Config::from_json(CONFIG).unwrap();
        let chat = json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "R"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": "auto", "max_completion_tokens": 9, "temperature": 0.1, "stop": ["x"]});
        let ir = to_ir(Dialect::OpenAiChat, chat.to_string().as_bytes()).unwrap();
        let (back, dropped) = openai_chat::request::from_ir(ir, &config.backends[0]).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(serde_json::to_value(back).unwrap(), chat);

        let messages = json!({"model": "claude-x", "max_tokens": 9, "system": "S", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Q"}]},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "T", "signature": "sig"},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "R"}]}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "auto"},
            "stop_sequences": ["x"], "thinking": {"type": "enabled", "budget_tokens": 2048}});
        let ir = to_ir(Dialect::Anthropic, messages.to_string().as_bytes()).unwrap();
        let (back, dropped) = anthropic::request::from_ir(ir, &config.backends[1]).unwrap();
        assert!(dropped.is_empty());
        let mut back = serde_json::to_value(back).unwrap();
        back["max_tokens"] = json!(9);
        assert_eq!(back, messages);
    }
}
