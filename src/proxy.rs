//! Turns a client request into what the Workers shell must do: call an upstream (and how to
//! translate its answer back), or answer locally. Everything here is pure, so it is tested natively.

use crate::config::{Backend, BackendKind, Config};
use crate::dialect::{anthropic, openai_chat, Dialect};
use crate::error::ProxyError;
use crate::ir;
use crate::mock;
use crate::transcode::{StreamEncoder, Transcoder};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The `anthropic-version` sent to Anthropic backends when the client is not an Anthropic client.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A client request as the shell received it.
pub struct Inbound<'a> {
    /// The dialect of the endpoint that was called.
    pub dialect: Dialect,
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

pub struct UpstreamCall {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub stream: bool,
    pub exchange: Exchange,
    /// The name of the backend, reported to the client in `x-llmproxy-backend`.
    pub backend: String,
    /// Request fields the backend dialect could not carry, reported in `x-llmproxy-dropped`.
    pub dropped: Vec<String>,
}

pub struct LocalAnswer {
    pub status: u16,
    pub stream: bool,
    pub body: Vec<u8>,
    pub backend: String,
    pub dropped: Vec<String>,
}

/// The two dialects of one call, and what translating between them needs.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub client: Dialect,
    pub backend: Dialect,
    /// The client asked for a usage chunk at the end of a Chat stream.
    include_usage: bool,
    now: u64,
}

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    #[serde(borrow)]
    stream_options: Option<&'a RawValue>,
}

pub fn plan(config: &Config, inbound: &Inbound) -> Result<Plan, ProxyError> {
    let peek: Peek = serde_json::from_slice(inbound.body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let requested = peek
        .model
        .as_deref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            let mut error = ProxyError::invalid("`model` is required");
            error.param = Some("model".into());
            error
        })?;
    let model = config.resolve_alias(requested)?;
    let backend = config.route(model)?;
    let stream = peek.stream.unwrap_or(false);
    let include_usage = peek
        .stream_options
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        .and_then(|options| {
            options
                .get("include_usage")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false);

    let backend_dialect = match backend.kind {
        BackendKind::OpenAi => Dialect::OpenAiChat,
        BackendKind::Anthropic => Dialect::Anthropic,
        BackendKind::Mock => {
            return answer_locally(inbound, model, backend, stream, include_usage).map(Plan::Local)
        }
    };
    let exchange = Exchange {
        client: inbound.dialect,
        backend: backend_dialect,
        include_usage,
        now: inbound.now,
    };
    let (body, dropped) = if backend_dialect == inbound.dialect {
        (with_model(inbound.body, requested, model)?, Vec::new())
    } else {
        let mut request = to_ir(inbound.dialect, inbound.body)?;
        request.model = model.to_string();
        from_ir(backend_dialect, request, backend)?
    };
    let headers = upstream_headers(backend, backend_dialect == inbound.dialect, inbound)?;
    let mut url = match backend.kind {
        BackendKind::OpenAi => format!("{}/chat/completions", backend.base_url),
        _ => format!("{}/v1/messages", backend.base_url),
    };
    if backend_dialect == inbound.dialect && !inbound.query.is_empty() {
        url.push('?');
        url.push_str(inbound.query);
    }
    Ok(Plan::Upstream(UpstreamCall {
        url,
        headers,
        body,
        stream,
        exchange,
        backend: backend.name.clone(),
        dropped,
    }))
}

fn to_ir(dialect: Dialect, body: &[u8]) -> Result<ir::Request, ProxyError> {
    let invalid = |e: serde_json::Error| {
        ProxyError::invalid(format!("the request does not match the API: {e}"))
    };
    match dialect {
        Dialect::OpenAiChat => {
            openai_chat::request::to_ir(serde_json::from_slice(body).map_err(invalid)?)
        }
        Dialect::Anthropic => {
            anthropic::request::to_ir(serde_json::from_slice(body).map_err(invalid)?)
        }
    }
}

fn from_ir(
    dialect: Dialect,
    request: ir::Request,
    backend: &Backend,
) -> Result<(Vec<u8>, Vec<String>), ProxyError> {
    let (body, dropped) = match dialect {
        Dialect::OpenAiChat => {
            let (request, dropped) = openai_chat::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
        Dialect::Anthropic => {
            let (request, dropped) = anthropic::request::from_ir(request, backend)?;
            (serde_json::to_vec(&request), dropped)
        }
    };
    Ok((
        body.map_err(|e| {
            ProxyError::internal(format!("could not write the upstream request: {e}"))
        })?,
        dropped,
    ))
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

fn upstream_headers(
    backend: &Backend,
    same_dialect: bool,
    inbound: &Inbound,
) -> Result<Vec<(String, String)>, ProxyError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let key = match &backend.api_key_env {
        None => None,
        Some(name) => Some(
            (inbound.secret)(name)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| {
                    ProxyError::internal(format!(
                        "backend `{}` needs the secret `{name}`, which is not set",
                        backend.name
                    ))
                })?,
        ),
    };
    match backend.kind {
        BackendKind::OpenAi => {
            if let Some(key) = key {
                headers.push(("authorization".into(), format!("Bearer {key}")));
            }
        }
        BackendKind::Anthropic => {
            if let Some(key) = key {
                headers.push(("x-api-key".into(), key));
            }
            let version = same_dialect
                .then(|| (inbound.header)("anthropic-version"))
                .flatten();
            headers.push((
                "anthropic-version".into(),
                version.unwrap_or_else(|| ANTHROPIC_VERSION.into()),
            ));
            if let Some(beta) = (inbound.header)("anthropic-beta") {
                headers.push(("anthropic-beta".into(), beta));
            }
        }
        BackendKind::Mock => {}
    }
    headers.extend(backend.headers.iter().cloned());
    Ok(headers)
}

fn answer_locally(
    inbound: &Inbound,
    model: &str,
    backend: &Backend,
    stream: bool,
    include_usage: bool,
) -> Result<LocalAnswer, ProxyError> {
    let mut request = to_ir(inbound.dialect, inbound.body)?;
    request.model = model.to_string();
    let id = match inbound.dialect {
        Dialect::OpenAiChat => format!("chatcmpl-mock{}", inbound.now),
        Dialect::Anthropic => format!("msg_mock{}", inbound.now),
    };
    let response = mock::answer(&request, id);
    let exchange = Exchange {
        client: inbound.dialect,
        backend: inbound.dialect,
        include_usage,
        now: inbound.now,
    };
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
    Ok(LocalAnswer {
        status: 200,
        stream,
        body,
        backend: backend.name.clone(),
        dropped: request.dropped,
    })
}

impl Exchange {
    pub fn is_passthrough(&self) -> bool {
        self.client == self.backend
    }

    fn encoder(&self) -> Box<dyn StreamEncoder> {
        match self.client {
            Dialect::OpenAiChat => Box::new(openai_chat::stream::Encoder::new(
                self.now,
                self.include_usage,
            )),
            Dialect::Anthropic => Box::new(anthropic::stream::Encoder),
        }
    }

    /// The stream translator for a successful streamed answer.
    pub fn transcoder(&self) -> Transcoder {
        if self.is_passthrough() {
            return Transcoder::passthrough(self.client);
        }
        let decoder: Box<dyn crate::transcode::StreamDecoder> = match self.backend {
            Dialect::OpenAiChat => Box::<openai_chat::stream::Decoder>::default(),
            Dialect::Anthropic => Box::<anthropic::stream::Decoder>::default(),
        };
        Transcoder::translate(self.client, decoder, self.encoder())
    }

    /// A whole successful answer from the backend, in the client's dialect.
    pub fn translate_response(&self, body: &[u8]) -> Result<Vec<u8>, ProxyError> {
        let unreadable = |e: serde_json::Error| {
            ProxyError::bad_gateway(format!("the upstream answer is unreadable: {e}"))
        };
        let response = match self.backend {
            Dialect::OpenAiChat => {
                openai_chat::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?)?
            }
            Dialect::Anthropic => {
                anthropic::response::to_ir(serde_json::from_slice(body).map_err(unreadable)?)?
            }
        };
        self.encode_response(response)
    }

    fn encode_response(&self, response: ir::Response) -> Result<Vec<u8>, ProxyError> {
        let body = match self.client {
            Dialect::OpenAiChat => {
                serde_json::to_vec(&openai_chat::response::from_ir(response, self.now))
            }
            Dialect::Anthropic => serde_json::to_vec(&anthropic::response::from_ir(response)),
        };
        body.map_err(|e| ProxyError::internal(e.to_string()))
    }

    /// An upstream error answer, as the client's dialect reports it (same dialect: unchanged).
    pub fn translate_error(&self, status: u16, body: &[u8]) -> Vec<u8> {
        if self.is_passthrough() {
            return body.to_vec();
        }
        ProxyError::from_upstream(status, body)
            .to_body(self.client)
            .into_bytes()
    }
}

/// `GET /v1/models`: aliases and exact model names, in the list shape of the client's dialect.
pub fn models_list(config: &Config, dialect: Dialect) -> serde_json::Value {
    use serde_json::json;
    let models = config.listed_models();
    match dialect {
        Dialect::OpenAiChat => json!({
            "object": "list",
            "data": models.iter().map(|(id, owner)| json!({"id": id, "object": "model", "created": 0, "owned_by": owner})).collect::<Vec<_>>(),
        }),
        Dialect::Anthropic => json!({
            "data": models.iter().map(|(id, _)| json!({"type": "model", "id": id, "display_name": id, "created_at": "1970-01-01T00:00:00Z"})).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|(id, _)| *id),
            "last_id": models.last().map(|(id, _)| *id),
        }),
    }
}
