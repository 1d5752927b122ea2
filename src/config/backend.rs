//! One backend of the config, as written and as checked: every problem is reported at the path of
//! its field, and a backend with any problem is left out.

use super::{bedrock, Backend, BackendKind, Compat, MaxTokensField, Problems, VertexSettings, DEFAULT_MAX_TOKENS};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One secret name, or several tried in turn.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "SecretNames"))]
#[serde(untagged)]
pub(super) enum KeyNames {
    One(String),
    Several(Vec<String>),
}

/// A backend: a server of one wire dialect, the models it serves and how to reach it.
#[derive(Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "Backend"))]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    /// Names the backend in routes, response headers and usage records: 1 to 64 letters, digits
    /// or `-_.`.
    name: String,
    /// The backend's wire dialect.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "BackendKind"))]
    kind: String,
    /// The API's root URL; the kind's public one when not given (for `vertex`, the location's host;
    /// for `bedrock`, the region's).
    base_url: Option<String>,
    /// The Worker secret (or var) holding the backend's key, or several tried in turn. Never the
    /// key itself.
    api_key_env: Option<KeyNames>,
    /// The models served, as globs (`gpt-*`, `claude-{opus,sonnet}-*`, `**` for every model).
    models: Vec<String>,
    /// Bring your own key: each client's own key for the backend, sent the way its SDK sends a
    /// key (with the proxy's key in `x-llmproxy-key`), is passed on instead of a key from the
    /// worker's secrets. Not with `api_key_env`; for the kinds keyed by an API key only.
    #[serde(default)]
    byok: bool,
    /// Headers added to every upstream request (their values are redacted when the config is read
    /// through the admin API).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// The output limit sent to Anthropic backends when the client gave none.
    default_max_tokens: Option<u32>,
    /// Which Chat Completions field carries the output limit: `max_completion_tokens` unless
    /// `compat` names a server that wants `max_tokens`.
    max_tokens_field: Option<MaxTokensField>,
    /// `openai` only: the OpenAI-compatible server it is, for what its API does differently;
    /// implied by a `base_url` on `api.deepseek.com` or `api.x.ai`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Option<Compat>"))]
    compat: Option<String>,
    /// `vertex` only: the Google Cloud project.
    project: Option<String>,
    /// `vertex` only: the location (`us-east5`, `global`).
    location: Option<String>,
    /// `vertex` only: the secret holding the service account's JSON key.
    service_account_env: Option<String>,
    /// `vertex` only: `token_exchange` (the default) or `self_signed_jwt`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("enum" = ["token_exchange", "self_signed_jwt"])))]
    auth: Option<String>,
    /// `bedrock` only: the AWS region (`us-east-1`).
    region: Option<String>,
    /// `bedrock` only: the secret holding the SigV4 access key id (default `AWS_ACCESS_KEY_ID`).
    /// Not used when `api_key_env` names a Bedrock API key.
    access_key_env: Option<String>,
    /// `bedrock` only: the secret holding the secret access key (default `AWS_SECRET_ACCESS_KEY`).
    secret_key_env: Option<String>,
    /// `bedrock` only: the secret holding a session token, sent when it is set (default
    /// `AWS_SESSION_TOKEN`).
    session_token_env: Option<String>,
}

/// The backend at `at` (`backends[0]`), or None after its problems were added.
pub(super) fn parse(value: Value, at: &str, problems: &mut Problems) -> Option<Backend> {
    let mut raw: RawBackend = problems.parsed(value, at)?;
    let before = problems.len();
    let field = |name: &str| format!("{at}.{name}");
    let kind = BackendKind::parse(&raw.kind);
    if kind.is_none() {
        let message = format!("unknown kind `{}` (expected {})", raw.kind, BackendKind::NAMES);
        problems.add(field("kind"), message);
    }
    // The name is reported in a response header, so it must be one.
    if !is_token(&raw.name) || raw.name.len() > 64 {
        problems.add(field("name"), format!("`{}` must be 1 to 64 letters, digits or `-_.`", raw.name));
    }
    if raw.models.is_empty() {
        problems.add(field("models"), "at least one model pattern is needed");
    }
    for (i, _) in raw.models.iter().enumerate().filter(|(_, model)| model.is_empty()) {
        problems.add(field(&format!("models[{i}]")), "the pattern is empty");
    }
    if raw.default_max_tokens == Some(0) {
        problems.add(field("default_max_tokens"), "must be at least 1");
    }
    for name in raw.headers.keys().filter(|name| !is_token(name)) {
        problems.add(field("headers"), format!("`{name}` is not a valid header name"));
    }
    for (name, _) in raw.headers.iter().filter(|(_, value)| value.chars().any(char::is_control)) {
        problems.add(field(&format!("headers.{name}")), "the value holds a control character");
    }
    let api_key_env = match raw.api_key_env.take() {
        None => Vec::new(),
        Some(KeyNames::One(name)) => vec![name].into_iter().filter(|name| !name.is_empty()).collect(),
        Some(KeyNames::Several(names)) => {
            if names.iter().any(String::is_empty) {
                problems.add(field("api_key_env"), "a secret name is empty");
            }
            names
        }
    };
    let compat = compat(&raw, kind, at, problems);
    let kind = kind?;
    if raw.byok && !api_key_env.is_empty() {
        problems.add(field("byok"), "a backend takes its clients' keys or keys from api_key_env, not both");
    }
    // The kinds keyed by an API key are those with a usual secret for it.
    if raw.byok && kind.default_api_key_env().is_none() {
        problems.add(field("byok"), format!("`{}` backends take no API key", kind.name()));
    }
    let vertex = vertex_settings(kind, &raw, at, problems);
    let bedrock_fields = bedrock::Fields {
        region: raw.region.as_deref(),
        access_key_env: raw.access_key_env.as_deref(),
        secret_key_env: raw.secret_key_env.as_deref(),
        session_token_env: raw.session_token_env.as_deref(),
        has_api_key: !api_key_env.is_empty(),
    };
    let bedrock = bedrock::settings(kind == BackendKind::Bedrock, &bedrock_fields, at, problems);
    let base_url = raw.base_url.clone().unwrap_or_else(|| match (&vertex, &bedrock) {
        (Some(vertex), _) => crate::vertex::host(&vertex.location),
        (_, Some(bedrock)) => crate::bedrock::host(&bedrock.region),
        _ => kind.default_base_url().to_string(),
    });
    if kind != BackendKind::Mock {
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            problems.add(field("base_url"), format!("`{base_url}` is not an http(s) URL"));
        } else if base_url.split('/').nth(2).is_some_and(|authority| authority.contains('@')) {
            // The config is shown to admins and kept in revisions: credentials belong in secrets.
            problems.add(field("base_url"), "must not hold credentials: put the key in a secret named by api_key_env");
        }
    }
    if problems.len() > before {
        return None;
    }
    let compat = compat.or_else(|| Compat::implied(kind, &base_url));
    Some(Backend {
        name: raw.name,
        kind,
        base_url: super::normalise_base_url(&base_url),
        api_key_env,
        byok: raw.byok,
        models: raw.models,
        headers: raw.headers.into_iter().collect(),
        default_max_tokens: raw.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        max_tokens_field: raw.max_tokens_field.unwrap_or(Compat::max_tokens_field(compat)),
        compat,
        vertex,
        bedrock,
    })
}

/// The server named in `compat`, which only `openai` backends take.
fn compat(raw: &RawBackend, kind: Option<BackendKind>, at: &str, problems: &mut Problems) -> Option<Compat> {
    let name = raw.compat.as_deref()?;
    if kind.is_some_and(|kind| kind != BackendKind::OpenAi) {
        problems.add(format!("{at}.compat"), "only `openai` backends take it");
        return None;
    }
    let compat = Compat::parse(name);
    if compat.is_none() {
        problems.add(format!("{at}.compat"), format!("unknown server `{name}` (expected {})", Compat::NAMES));
    }
    compat
}

/// The Vertex fields: all required for `vertex` backends, none allowed for others.
fn vertex_settings(kind: BackendKind, raw: &RawBackend, at: &str, problems: &mut Problems) -> Option<VertexSettings> {
    let fields =
        [("project", &raw.project), ("location", &raw.location), ("service_account_env", &raw.service_account_env)];
    if kind != BackendKind::Vertex {
        for (name, _) in fields.iter().chain([&("auth", &raw.auth)]).filter(|(_, value)| value.is_some()) {
            problems.add(format!("{at}.{name}"), "only `vertex` backends take it");
        }
        return None;
    }
    for (name, _) in fields.iter().filter(|(_, value)| value.as_deref().is_none_or(str::is_empty)) {
        problems.add(format!("{at}.{name}"), "required for `vertex` backends");
    }
    // The project and location are parts of the Vertex URL.
    for (name, value) in &fields[..2] {
        if !value.as_deref().unwrap_or_default().bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            problems.add(format!("{at}.{name}"), "only letters, digits and `-_.` are allowed");
        }
    }
    let self_signed_jwt = match raw.auth.as_deref() {
        None | Some("token_exchange") => false,
        Some("self_signed_jwt") => true,
        Some(other) => {
            let message = format!("unknown mode `{other}` (expected token_exchange, self_signed_jwt)");
            problems.add(format!("{at}.auth"), message);
            false
        }
    };
    Some(VertexSettings {
        project: raw.project.clone().unwrap_or_default(),
        location: raw.location.clone().unwrap_or_default(),
        service_account_env: raw.service_account_env.clone().unwrap_or_default(),
        self_signed_jwt,
    })
}

pub(super) fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(backend: &str) -> Vec<String> {
        let text = format!(r#"{{"backends": [{backend}]}}"#);
        Config::check(&text).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_backend_takes_its_clients_keys_alone_and_only_if_its_kind_is_keyed() {
        let config =
            Config::from_json(r#"{"backends": [{"name": "o", "kind": "openai", "byok": true, "models": ["*"]}]}"#);
        let backend = &config.unwrap().backends[0];
        assert!(backend.byok && backend.api_key_env.is_empty());
        assert_eq!(
            problems(r#"{"name": "o", "kind": "openai", "byok": true, "api_key_env": "K", "models": ["*"]}"#),
            ["backends[0].byok: a backend takes its clients' keys or keys from api_key_env, not both"]
        );
        assert_eq!(
            problems(r#"{"name": "m", "kind": "mock", "byok": true, "models": ["*"]}"#),
            ["backends[0].byok: `mock` backends take no API key"]
        );
        let vertex = r#"{"name": "v", "kind": "vertex", "byok": true, "project": "p", "location": "global",
            "service_account_env": "SA", "models": ["*"]}"#;
        assert_eq!(problems(vertex), ["backends[0].byok: `vertex` backends take no API key"]);
        assert!(problems(r#"{"name": "o", "kind": "openai", "byok": "yes", "models": ["*"]}"#)[0]
            .starts_with("backends[0].byok: invalid type"));
    }
}
