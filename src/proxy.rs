//! The orchestrator: what the Workers shell must do with a client request, in the same steps for
//! every dialect and backend — read the request, route it to its chain of targets, and encode it
//! for the target of each attempt (the shell runs the attempts, see `resilience`) — and, for the
//! answer, the `Exchange` that decodes and translates it back. It knows dialects and backend kinds
//! only through `codec::Codec` and `backend::Upstream`. Everything here is pure, so it is tested
//! natively.

use crate::backend::{self, BodyContext, ClientHeaders, HeaderList, SignedRequest, Upstream};
use crate::codec::{ClientContext, Framing, Operation};
use crate::config::{Backend, Config, SystemPromptRewrite, VertexSettings};
use crate::dialect::Dialect;
use crate::error::{ErrorKind, ProxyError};
pub use crate::exchange::Exchange;
use crate::ir::{self, Usage};
use crate::json_object;
use crate::keys::KeyPolicy;
use crate::mock;
use crate::peek::{Peek, RequestFields};
use crate::resilience::{Chain, ChainTarget};
use crate::routing;
use crate::system_prompt::Rewriter;
use std::borrow::Cow;
use std::cell::RefCell;

/// A client request as the shell received it.
pub struct Inbound<'a> {
    /// The dialect of the endpoint that was called.
    pub dialect: Dialect,
    pub operation: Operation,
    /// The model named in the URL (Gemini and Vertex paths), which the body then does not name.
    pub model: Option<&'a str>,
    /// Whether the URL asks for a stream (Gemini's `:streamGenerateContent`).
    pub stream: Option<bool>,
    /// How the client's stream is to be framed.
    pub framing: Framing,
    pub body: &'a [u8],
    /// The query string without `?`, forwarded when both sides speak the same dialect.
    pub query: &'a str,
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// Looks up a Worker secret or var by name.
    pub secret: &'a dyn Fn(&str) -> Option<String>,
    /// The client's own key, sent to backends that take it (`byok`) instead of one of theirs;
    /// never a key of the proxy (see `auth::own_key`).
    pub own_key: Option<&'a str>,
    /// Unix seconds, for ids and `created` stamps.
    pub now: u64,
    /// Draws the order of a balanced route.
    pub random: u64,
    /// The policy of the issued key the client presented: the models it may use.
    pub policy: Option<&'a KeyPolicy>,
    /// What the answer used is wanted (a usage record, a key's limits): a stream that reports
    /// usage only when asked is asked to.
    pub metered: bool,
}

/// What one attempt at a target is.
pub enum Attempt {
    Upstream(UpstreamCall),
    /// The mock's answer, or the proxy's own token estimate.
    Local(LocalAnswer),
}

/// A request routed to its chain of targets; each attempt is encoded for its target when it is
/// made, so only the targets tried cost a translation.
pub struct Plan<'a> {
    inbound: &'a Inbound<'a>,
    request: ClientRequest<'a>,
    pub chain: Chain<'a>,
}

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
    /// The key sent is the client's own (`byok`): its refusal is for the client to fix, not a
    /// failure of the backend.
    pub clients_key: bool,
}

pub struct LocalAnswer {
    pub stream: bool,
    /// How a streamed answer is framed.
    pub framing: Framing,
    /// The answer is the proxy's own token estimate, reported in `x-llmproxy-estimate`.
    pub estimated: bool,
    pub body: Vec<u8>,
    pub backend: String,
    pub dropped: Vec<String>,
    pub usage: Option<Usage>,
}

/// What the orchestrator reads of a client's request before it routes it.
struct ClientRequest<'a> {
    /// The model as the client named it, and as aliases resolved it.
    requested: String,
    model: String,
    stream: bool,
    context: ClientContext,
    /// The body as it goes on: the client's, or with its route's system prompt rewrite made.
    body: Cow<'a, [u8]>,
    /// The body as read into the IR by the plan or by the estimate, for the first attempt that
    /// translates it: an agent's request is read into the IR once.
    ir_read: RefCell<Option<ir::Request>>,
}

impl ClientRequest<'_> {
    /// The request in the IR: the reading kept, taken, or the body read now.
    fn in_ir(&self, dialect: Dialect) -> Result<ir::Request, ProxyError> {
        match self.ir_read.take() {
            Some(ir) => Ok(ir),
            None => dialect.codec().request_to_ir(&self.body),
        }
    }
}

/// Where an attempt goes: a backend, the model it knows, and the dialect it speaks for it.
struct Target<'a> {
    backend: &'a Backend,
    model: &'a str,
    dialect: Dialect,
}

pub fn plan<'a>(config: &'a Config, inbound: &'a Inbound<'a>) -> Result<Plan<'a>, ProxyError> {
    // JSON text is UTF-8 (RFC 8259), and a same-dialect body is forwarded as it came: fields the
    // peek skips are not checked otherwise.
    std::str::from_utf8(inbound.body)
        .map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: it is not UTF-8 ({e})")))?;
    let routed = match routed_early(config, inbound).map(|routed| unpeeked(config, inbound, routed)) {
        Some(Ok(plan)) => return Ok(plan),
        Some(Err(routed)) => Some(routed),
        None => None,
    };
    let Peek { model, stream, fields } = Peek::of(inbound.body, inbound.dialect.codec().context_fields())
        .map_err(|e| ProxyError::invalid(format!("the request body is not valid JSON: {e}")))?;
    let (request, chain) = match routed {
        Some(Routed { requested, model, chain }) => (read(config, inbound, stream, &fields, requested, model)?, chain),
        None => {
            let (requested, model) = resolve(config, inbound, inbound.model.map(Cow::Borrowed).or(model))?;
            let request = read(config, inbound, stream, &fields, requested, model)?;
            let chain = config.chain(&request.model, inbound.random)?;
            (request, chain)
        }
    };
    Ok(Plan { inbound, request, chain })
}

/// A request's model, as it asked for it and as aliases resolved it, and its chain.
struct Routed<'a> {
    requested: String,
    model: String,
    chain: Chain<'a>,
}

/// The route of a request whose model is known before its body is read through: named in its URL,
/// or its body's first field (see `peek::leading_model`). None when it is not, or when the model
/// cannot be routed: the whole pass then reads the body first, and a body that is not JSON is
/// told so before anything about its model.
fn routed_early<'a>(config: &'a Config, inbound: &Inbound) -> Option<Routed<'a>> {
    let requested = inbound.model.map(Cow::Borrowed).or_else(|| crate::peek::leading_model(inbound.body))?;
    let (requested, model) = resolve(config, inbound, Some(requested)).ok()?;
    let chain = config.chain(&model, inbound.random).ok()?;
    Some(Routed { requested, model, chain })
}

/// The plan of a request that every target of its chain translates, without the peek's pass over
/// its body: it is read into the IR now (which checks it whole), the first attempt takes that
/// reading, and its stream flag is the reading's. The peek's pass was about a fifth of what a
/// large request's translation cost. The route is handed back (`Err`) when a target speaks the
/// client's dialect, when the dialect's typed request cannot stand in for the peek
/// (`Codec::request_to_ir_in_context`), when the route rewrites the system prompt (the rewrite
/// keeps the last of a field named twice, which the peek refuses), or when anything is amiss: the
/// peek then plans the request, and says what is wrong as it says it for every request.
fn unpeeked<'a>(config: &'a Config, inbound: &'a Inbound<'a>, routed: Routed<'a>) -> Result<Plan<'a>, Routed<'a>> {
    let translated = |target: &ChainTarget| {
        spoken(inbound.dialect, backend::of(target.backend.kind), &target.model) != inbound.dialect
    };
    let rewrites = system_prompt_rewrite(config, &routed.model).is_some();
    if inbound.operation != Operation::Generate || rewrites || !routed.chain.targets.iter().all(translated) {
        return Err(routed);
    }
    let Some(Ok((ir, context))) = inbound.dialect.codec().request_to_ir_in_context(inbound.body, inbound.now) else {
        return Err(routed);
    };
    let Routed { requested, model, chain } = routed;
    let stream = inbound.stream.unwrap_or(ir.stream);
    let body = Cow::Borrowed(inbound.body);
    let request = ClientRequest { requested, model, stream, context, body, ir_read: RefCell::new(Some(ir)) };
    Ok(Plan { inbound, request, chain })
}

impl Plan<'_> {
    /// The dialect the client speaks, which its errors are told in.
    pub fn client(&self) -> Dialect {
        self.inbound.dialect
    }

    /// The model as the client named it.
    pub fn requested(&self) -> &str {
        &self.request.requested
    }

    /// The model after aliases.
    pub fn model(&self) -> &str {
        &self.request.model
    }

    /// Whether the answer is streamed.
    pub fn is_stream(&self) -> bool {
        self.request.stream && self.inbound.operation == Operation::Generate
    }

    /// What the request will use, before it is made: its prompt estimated (as token counting
    /// estimates it), and its output limit, or `default_output` when it sets none. A token count
    /// uses nothing.
    pub fn estimate(&self, default_output: u64) -> Result<Usage, ProxyError> {
        if self.inbound.operation == Operation::CountTokens {
            return Ok(Usage::default());
        }
        let request = self.request.in_ir(self.inbound.dialect)?;
        let output_tokens = request.max_tokens.map_or(default_output, u64::from);
        let estimate = Usage { input_tokens: request.estimated_input_tokens(), output_tokens, ..Usage::default() };
        self.request.ir_read.replace(Some(request));
        Ok(estimate)
    }

    /// The attempt at the chain's target `index`, with the key in the secret `key` (see
    /// `resilience::KeyRing`).
    pub fn attempt(&self, index: usize, key: Option<&str>) -> Result<Attempt, ProxyError> {
        let ChainTarget { backend, model } = self
            .chain
            .targets
            .get(index)
            .ok_or_else(|| ProxyError::internal(format!("the chain has no target {index}")))?;
        let upstream = backend::of(backend.kind);
        let dialect = spoken(self.inbound.dialect, upstream, model);
        let target = Target { backend, model, dialect };
        let (inbound, request) = (self.inbound, &self.request);
        let native_count = upstream.is_some_and(Upstream::counts_tokens) && dialect == inbound.dialect;
        match upstream {
            _ if inbound.operation == Operation::CountTokens && !native_count => {
                estimate_tokens(inbound, request, &target).map(Attempt::Local)
            }
            None => answer_locally(inbound, request, &target).map(Attempt::Local),
            Some(upstream) => encode(inbound, request, &target, upstream, key).map(Attempt::Upstream),
        }
    }
}

/// The model a request names (in its URL, else in its body), for the record of a request that was
/// refused before it was planned.
pub fn requested_model(inbound: &Inbound) -> Option<String> {
    let peek = || Peek::of(inbound.body, &[]).ok()?.model.map(Cow::into_owned);
    inbound.model.map(str::to_string).or_else(peek)
}

/// The model asked for (the URL's, else the body's), checked, and resolved: the two names.
fn resolve(config: &Config, inbound: &Inbound, requested: Option<Cow<str>>) -> Result<(String, String), ProxyError> {
    let requested = requested.filter(|m| !m.is_empty()).ok_or_else(|| {
        let mut error = ProxyError::invalid("`model` is required");
        error.param = Some("model".into());
        error
    })?;
    routing::check_model_name(&requested)?;
    let model = config.resolve_alias(&requested)?.to_string();
    routing::check_model_name(&model)?;
    if let Some(policy) = inbound.policy.filter(|policy| !policy.allows_model(&requested, &model)) {
        let mut error = ProxyError::new(
            403,
            ErrorKind::Permission,
            format!("key `{}` may not use the model `{requested}`", policy.name),
        );
        error.code = Some("model_not_allowed".into());
        return Err(error);
    }
    Ok((requested.into_owned(), model))
}

/// The request with its model resolved, and what the peek read of it: what the answer needs.
fn read<'a>(
    config: &Config,
    inbound: &Inbound<'a>,
    stream: Option<bool>,
    fields: &RequestFields,
    requested: String,
    model: String,
) -> Result<ClientRequest<'a>, ProxyError> {
    let stream = inbound.stream.or(stream).unwrap_or(false);
    let context = inbound.dialect.codec().client_context(fields, inbound.now);
    let body = rewritten(config, inbound, &model)?;
    Ok(ClientRequest { requested, model, stream, context, body, ir_read: RefCell::default() })
}

/// The client's body with its route's system prompt rewrite made: once, on the client's own JSON,
/// so every target, same dialect or not, gets it.
fn rewritten<'a>(config: &Config, inbound: &Inbound<'a>, model: &str) -> Result<Cow<'a, [u8]>, ProxyError> {
    Ok(match system_prompt_rewrite(config, model) {
        Some(rewrite) => {
            Cow::Owned(inbound.dialect.codec().rewrite_system_prompt(inbound.body, &mut Rewriter::new(rewrite))?)
        }
        None => Cow::Borrowed(inbound.body),
    })
}

/// The system prompt rewrite of the route `model` names, if it has one.
fn system_prompt_rewrite<'c>(config: &'c Config, model: &str) -> Option<&'c SystemPromptRewrite> {
    config.routes.get(model).and_then(|route| route.system_prompt.as_ref())
}

/// The dialect a target speaks to `model`: its upstream's; a backend that answers locally (the
/// mock) speaks the client's.
fn spoken(client: Dialect, upstream: Option<&dyn Upstream>, model: &str) -> Dialect {
    upstream.map_or(client, |upstream| upstream.dialect(model))
}

/// The call to `target`: the body in its dialect (the client's bytes when it is the client's,
/// else the request in the IR, see `ClientRequest::in_ir`), its URL, and its headers with the
/// backend's key.
fn encode(
    inbound: &Inbound,
    request: &ClientRequest,
    target: &Target,
    upstream: &dyn Upstream,
    key: Option<&str>,
) -> Result<UpstreamCall, ProxyError> {
    let same_dialect = target.dialect == inbound.dialect;
    let stream = request.stream && inbound.operation == Operation::Generate;
    let mut unasked_usage = false;
    let (body, dropped) = if same_dialect {
        // Gemini and Vertex-shaped paths name the model in the URL only.
        let mut body = match inbound.model {
            Some(_) => request.body.to_vec(),
            None => with_model(&request.body, &request.requested, target.model)?,
        };
        if inbound.metered && stream {
            if let Some(asking) = inbound.dialect.codec().with_usage_reported(&body, target.backend)? {
                (body, unasked_usage) = (asking, true);
            }
        }
        (body, Vec::new())
    } else {
        let mut ir = request.in_ir(inbound.dialect)?;
        ir.model = target.model.to_string();
        ir.stream = request.stream;
        target.dialect.codec().request_from_ir(ir, target.backend)?
    };
    let backend = &target.backend.name;
    let key = match key {
        _ if target.backend.byok => Some(inbound.own_key.map(str::to_string).ok_or_else(|| no_own_key(backend))?),
        None => None,
        Some(name) => Some(backend::required_secret(inbound.secret, target.backend, name)?),
    };
    let mut secrets: Vec<String> = key.iter().cloned().collect();
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    upstream.headers(key, &ClientHeaders { header: inbound.header, same_dialect }, &mut headers);
    let context = BodyContext {
        model: target.model,
        operation: inbound.operation,
        stream,
        model_in_url: same_dialect && inbound.model.is_some(),
    };
    let body = upstream.body(body, &context, &mut headers)?;
    headers.extend(target.backend.headers.iter().cloned());
    let mut url = upstream.url(target.backend, inbound.operation, request.stream, target.model)?;
    let forwarded = forwarded_query(inbound.query);
    if same_dialect && upstream.keeps_query() && !forwarded.is_empty() {
        url.push('?');
        url.push_str(&forwarded);
    }
    let signed = SignedRequest { url: &url, headers: &mut headers, body: &body };
    secrets.extend(upstream.sign(target.backend, signed, inbound.secret, inbound.now)?);
    Ok(UpstreamCall {
        url,
        headers,
        body,
        stream,
        exchange: Exchange {
            client: inbound.dialect,
            backend: target.dialect,
            context: request.context.clone(),
            metered: inbound.metered,
            unasked_usage,
            client_framing: inbound.framing,
            backend_framing: upstream.framing(target.model),
        },
        backend: target.backend.name.clone(),
        dropped,
        vertex: target.backend.vertex.clone(),
        secrets,
        clients_key: target.backend.byok,
    })
}

/// What a client is told when it brought no key of its own for a `byok` backend.
fn no_own_key(backend: &str) -> ProxyError {
    let header = crate::auth::PROXY_KEY_HEADER;
    let message = format!(
        "backend `{backend}` takes your own key for it: send it as your SDK sends its API key, with this proxy's key in the `{header}` header"
    );
    ProxyError::new(401, ErrorKind::Authentication, message)
}

/// The client's query without its `key` parameter, which is the proxy's key and never the
/// backend's business.
fn forwarded_query(query: &str) -> String {
    query.split('&').filter(|pair| !pair.is_empty() && !pair.starts_with("key=")).collect::<Vec<_>>().join("&")
}

/// The body with `model` replaced, when the route renamed it; otherwise the very same bytes.
/// Every other field is carried over unparsed.
fn with_model(body: &[u8], requested: &str, model: &str) -> Result<Vec<u8>, ProxyError> {
    if requested == model {
        return Ok(body.to_vec());
    }
    json_object::edit(body, |fields| {
        fields.insert("model".into(), json_object::to_raw(model)?);
        Ok(())
    })
}

/// Token counting where the backend has no count for the client's dialect: an estimate (about
/// four characters a token), marked as such in `x-llmproxy-estimate`. Not inlined, nor is the
/// mock's answer: `Plan::attempt` runs on every call, and a runtime that compiles it compiles
/// whatever was inlined into it.
#[inline(never)]
fn estimate_tokens(inbound: &Inbound, request: &ClientRequest, target: &Target) -> Result<LocalAnswer, ProxyError> {
    let codec = inbound.dialect.codec();
    let count = request.in_ir(inbound.dialect)?.estimated_input_tokens();
    let body = codec
        .token_count(count)
        .ok_or_else(|| ProxyError::not_found(format!("{:?} has no token counting endpoint", inbound.dialect)))?;
    Ok(LocalAnswer {
        stream: false,
        framing: inbound.framing,
        body: body.to_string().into_bytes(),
        backend: target.backend.name.clone(),
        estimated: true,
        dropped: Vec::new(),
        usage: None,
    })
}

/// The mock's answer, in the client's dialect.
#[inline(never)]
fn answer_locally(inbound: &Inbound, request: &ClientRequest, target: &Target) -> Result<LocalAnswer, ProxyError> {
    let codec = inbound.dialect.codec();
    let mut ir = request.in_ir(inbound.dialect)?;
    ir.model = target.model.to_string();
    let response = mock::answer(&ir, codec.answer_id(inbound.now));
    let usage = Some(response.usage);
    let body = if request.stream {
        let mut encoder = codec.encoder(&request.context);
        let mut out = Vec::new();
        for event in response.into_events() {
            encoder.event(event, &mut out);
        }
        crate::transcode::framing::reframe(inbound.framing, out)
    } else {
        codec.response_from_ir(response, &request.context)?
    };
    let (backend, dropped) = (target.backend.name.clone(), ir.dropped);
    let (stream, framing) = (request.stream, inbound.framing);
    Ok(LocalAnswer { stream, framing, estimated: false, body, backend, dropped, usage })
}

/// `GET /v1/models`: aliases and exact model names, in the list shape of the client's dialect;
/// with an issued key's policy, only the models it may use.
pub fn models_list(config: &Config, dialect: Dialect, policy: Option<&KeyPolicy>) -> Option<serde_json::Value> {
    let mut models = config.listed_models();
    if let Some(policy) = policy {
        models.retain(|(id, _)| policy.allows_model(id, config.resolve_alias(id).unwrap_or(id)));
    }
    dialect.codec().models_list(&models)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_every_target_translates_with_its_model_known_first_skips_the_peek() {
        let config = Config::from_json(
            r#"{"backends": [
                {"name": "anthropic", "kind": "anthropic", "models": ["claude-*"]},
                {"name": "mock", "kind": "mock", "models": ["mock-*"]}],
              "routes": {"claude-then-mock": {"targets": [{"backend": "anthropic", "model": "claude-x"}, {"backend": "mock"}]}}}"#,
        )
        .unwrap();
        let read_once = |dialect, body: &str| {
            let (header, secret) = (&|_: &str| None, &|_: &str| None);
            let (operation, framing, body) = (Operation::Generate, Framing::Sse, body.as_bytes());
            let inbound = Inbound {
                dialect,
                operation,
                model: None,
                stream: None,
                framing,
                body,
                query: "",
                header,
                secret,
                own_key: None,
                now: 1,
                random: 0,
                policy: None,
                metered: false,
            };
            plan(&config, &inbound).unwrap().request.ir_read.borrow().is_some()
        };
        let chat = |first_field: &str| format!(r#"{{{first_field},"messages":[{{"role":"user","content":"hi"}}]}}"#);
        assert!(read_once(Dialect::OpenAiChat, &chat(r#""model":"claude-x""#)));
        assert!(!read_once(
            Dialect::OpenAiChat,
            &format!(r#"{{"stream":false,{}"#, &chat(r#""model":"claude-x""#)[1..])
        ));
        assert!(!read_once(Dialect::Anthropic, &chat(r#""model":"claude-x""#)), "same dialect");
        assert!(
            !read_once(Dialect::OpenAiChat, &chat(r#""model":"claude-then-mock""#)),
            "the mock speaks the client's"
        );
    }
}
