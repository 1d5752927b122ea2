//! A `bedrock` backend's own fields: its region, and how it authenticates — SigV4 with an access
//! key held in secrets (the default), or a Bedrock API key sent as a bearer (`api_key_env`).

use super::Problems;

/// The secrets SigV4 signs with, when no environment names others.
pub const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
pub const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
pub const SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockSettings {
    /// The AWS region (`us-east-1`), which names the host and the signing scope.
    pub region: String,
    /// The secrets of a SigV4 signing key; None when the backend sends a Bedrock API key instead.
    pub signing: Option<SigningKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    pub access_key_env: String,
    pub secret_key_env: String,
    /// Used when the secret is set (temporary credentials).
    pub session_token_env: String,
}

/// The fields of a backend that only `bedrock` backends take, as written.
pub(super) struct Fields<'a> {
    pub region: Option<&'a str>,
    pub access_key_env: Option<&'a str>,
    pub secret_key_env: Option<&'a str>,
    pub session_token_env: Option<&'a str>,
    /// Whether the backend names an API key secret, which replaces signing.
    pub has_api_key: bool,
}

impl Fields<'_> {
    fn given(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("region", self.region),
            ("access_key_env", self.access_key_env),
            ("secret_key_env", self.secret_key_env),
            ("session_token_env", self.session_token_env),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|_| name))
    }
}

/// The Bedrock settings of a backend of `is_bedrock` kind at `at`; for other kinds, a problem
/// for each Bedrock field given.
pub(super) fn settings(
    is_bedrock: bool,
    fields: &Fields,
    at: &str,
    problems: &mut Problems,
) -> Option<BedrockSettings> {
    if !is_bedrock {
        for name in fields.given() {
            problems.add(format!("{at}.{name}"), "only `bedrock` backends take it");
        }
        return None;
    }
    let region = fields.region.unwrap_or_default();
    if region.is_empty() {
        problems.add(format!("{at}.region"), "required for `bedrock` backends");
    } else if !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        // The region is part of the host and of the signing scope.
        problems.add(format!("{at}.region"), "only lower-case letters, digits and `-` are allowed");
    }
    let keys = [fields.access_key_env, fields.secret_key_env, fields.session_token_env];
    if fields.has_api_key && keys.iter().any(Option::is_some) {
        let message = "a Bedrock API key (api_key_env) and SigV4 keys exclude each other";
        problems.add(format!("{at}.api_key_env"), message);
    }
    for (name, value) in ["access_key_env", "secret_key_env", "session_token_env"].iter().zip(keys) {
        if value == Some("") {
            problems.add(format!("{at}.{name}"), "the secret name is empty");
        }
    }
    let signing = (!fields.has_api_key)
        .then(|| SigningKeys::named(fields.access_key_env, fields.secret_key_env, fields.session_token_env));
    Some(BedrockSettings { region: region.to_string(), signing })
}

/// The settings of the zero-config mode's Bedrock backend: SigV4 with the default secrets.
pub(super) fn with_default_keys(region: String) -> BedrockSettings {
    BedrockSettings { region, signing: Some(SigningKeys::named(None, None, None)) }
}

impl SigningKeys {
    /// The secrets named, each defaulting to AWS's usual environment name.
    fn named(access_key_env: Option<&str>, secret_key_env: Option<&str>, session_token_env: Option<&str>) -> Self {
        Self {
            access_key_env: access_key_env.unwrap_or(ACCESS_KEY_ENV).to_string(),
            secret_key_env: secret_key_env.unwrap_or(SECRET_KEY_ENV).to_string(),
            session_token_env: session_token_env.unwrap_or(SESSION_TOKEN_ENV).to_string(),
        }
    }
}
