//! Vertex AI: where a model lives (the regional host and the publisher path), the paths agents set
//! up for Vertex call, and the service-account JWT the worker signs to get a token. Signing itself
//! is the Workers shell's (WebCrypto); everything around it is here.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

/// A Vertex publisher path, as agents set up for Vertex call it:
/// `/{v1|v1beta1}/[projects/{p}/locations/{l}/]publishers/{publisher}/models/{model}:{method}`.
/// The project and location are the client's, and not used. Returns the publisher, the model
/// (percent-decoded) and the method.
pub fn publisher_path(path: &str) -> Option<(&str, String, &str)> {
    let rest = path.strip_prefix("/v1/").or_else(|| path.strip_prefix("/v1beta1/"))?;
    let rest = match rest.strip_prefix("projects/") {
        Some(project) => {
            let (_, after) = project.split_once("/locations/")?;
            after.split_once('/')?.1
        }
        None => rest,
    };
    let (publisher, model_method) = rest.strip_prefix("publishers/")?.split_once("/models/")?;
    let (model, method) = model_method.rsplit_once(':')?;
    let model = percent_encoding::percent_decode_str(model).decode_utf8().ok()?.into_owned();
    Some((publisher, model, method))
}

/// What Vertex wants in Claude bodies instead of an `anthropic-version` header.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The audience of a self-signed JWT used directly as the bearer.
pub const SELF_SIGNED_AUDIENCE: &str = "https://aiplatform.googleapis.com/";
/// Tokens live an hour; the JWT asking for one may not ask for more.
pub const JWT_LIFETIME_SECONDS: u64 = 3600;

/// The model's publisher on Vertex, which decides the path and the body's dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publisher {
    Google,
    Anthropic,
}

impl Publisher {
    /// Claude models are Anthropic's (`claude-…`, with `@version` allowed); the rest are Google's.
    pub fn of(model: &str) -> Self {
        if model.starts_with("claude") {
            Self::Anthropic
        } else {
            Self::Google
        }
    }
}

/// The API host of a location: regional hosts for regions, one host for `global`, and the
/// multi-region `us` and `eu` endpoints.
pub fn host(location: &str) -> String {
    match location {
        "global" => "https://aiplatform.googleapis.com".to_string(),
        "us" | "eu" => format!("https://aiplatform.{location}.rep.googleapis.com"),
        region => format!("https://{region}-aiplatform.googleapis.com"),
    }
}

/// `{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`.
pub fn model_url(base: &str, project: &str, location: &str, publisher: Publisher, model: &str, method: &str) -> String {
    let publisher = match publisher {
        Publisher::Google => "google",
        Publisher::Anthropic => "anthropic",
    };
    format!("{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}")
}

/// The fields of a service-account key the worker uses. The key never leaves the worker.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key: String,
    pub private_key_id: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".to_string()
}

impl ServiceAccount {
    /// Reads the JSON key held in the secret `secret`; errors name the secret and the field, never
    /// a value.
    pub fn from_json(text: &str, secret: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(text.as_bytes())
            .map_err(|_| format!("{secret}: the service-account key is not JSON"))?;
        for field in ["client_email", "private_key", "private_key_id"] {
            if value.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(format!("{secret}: the service-account key has no `{field}`"));
            }
        }
        let account: Self = serde_json::from_slice(text.as_bytes())
            .map_err(|_| format!("{secret}: the service-account key has a field of the wrong type"))?;
        account.private_key_der().map_err(|why| format!("{secret}: `private_key` {why}"))?;
        Ok(account)
    }

    /// The PKCS#8 DER bytes inside the PEM `private_key`, for WebCrypto's `importKey("pkcs8")`.
    pub fn private_key_der(&self) -> Result<Vec<u8>, &'static str> {
        let body = self
            .private_key
            .trim()
            .strip_prefix("-----BEGIN PRIVATE KEY-----")
            .and_then(|rest| rest.trim_end().strip_suffix("-----END PRIVATE KEY-----"))
            .ok_or("is not a PEM PKCS#8 private key")?;
        let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD.decode(base64).map_err(|_| "is not valid base64")
    }

    /// The JWT's `header.claims`, to be signed with RS256. With `self_signed` the JWT itself is
    /// the bearer (audience Vertex); otherwise it is exchanged at `token_uri` for an access token.
    pub fn signing_input(&self, now: u64, self_signed: bool) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let claims = if self_signed {
            json!({"iss": self.client_email, "sub": self.client_email, "aud": SELF_SIGNED_AUDIENCE,
                   "iat": now, "exp": now + JWT_LIFETIME_SECONDS})
        } else {
            json!({"iss": self.client_email, "scope": SCOPE, "aud": self.token_uri,
                   "iat": now, "exp": now + JWT_LIFETIME_SECONDS})
        };
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
    }
}

/// The signed JWT.
pub fn jwt(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The form body of the token exchange.
pub fn token_request(jwt: &str) -> String {
    format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}")
}

/// An access token and how many seconds it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

/// Reads the token endpoint's answer; a failure carries the endpoint's reason.
pub fn token_response(status: u16, body: &[u8]) -> Result<AccessToken, String> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let reason = ["error_description", "error"]
            .iter()
            .find_map(|field| value.get(*field).and_then(Value::as_str))
            .map_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect(), str::to_string);
        return Err(format!("the token endpoint answered HTTP {status}: {reason}"));
    }
    let token = value.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    match token {
        Some(token) => Ok(AccessToken {
            token: token.to_string(),
            expires_in: value.get("expires_in").and_then(Value::as_u64).unwrap_or(JWT_LIFETIME_SECONDS),
        }),
        None => Err("the token endpoint answered without an access_token".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway key's PEM shape; the bytes need only be base64 for these tests.
    const KEY: &str =
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8w\nggE7AgEAAkEA\n-----END PRIVATE KEY-----\n";

    fn account() -> ServiceAccount {
        let json = json!({"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com",
                          "private_key": KEY, "private_key_id": "kid1", "token_uri": "http://127.0.0.1:9/token"});
        ServiceAccount::from_json(&json.to_string(), "VERTEX_SA").unwrap()
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn hosts_per_location() {
        assert_eq!(host("us-east5"), "https://us-east5-aiplatform.googleapis.com");
        assert_eq!(host("global"), "https://aiplatform.googleapis.com");
        assert_eq!(host("eu"), "https://aiplatform.eu.rep.googleapis.com");
        assert_eq!(
            model_url("https://h", "p", "us-east5", Publisher::Anthropic, "claude-sonnet-4-5@20250929", "rawPredict"),
            "https://h/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
        );
        assert_eq!(Publisher::of("claude-opus-4-1@20250805"), Publisher::Anthropic);
        assert_eq!(Publisher::of("gemini-2.5-pro"), Publisher::Google);
    }

    #[test]
    fn jwt_claims_for_exchange_and_self_signed() {
        let account = account();
        let input = account.signing_input(1000, false);
        let (header, claims) = input.split_once('.').unwrap();
        assert_eq!(decode(header), json!({"alg": "RS256", "typ": "JWT", "kid": "kid1"}));
        assert_eq!(
            decode(claims),
            json!({"iss": "sa@p.iam.gserviceaccount.com", "scope": SCOPE, "aud": "http://127.0.0.1:9/token",
                   "iat": 1000, "exp": 4600})
        );
        let self_signed = decode(account.signing_input(1000, true).split_once('.').unwrap().1);
        assert_eq!(self_signed["aud"], SELF_SIGNED_AUDIENCE);
        assert_eq!(self_signed["sub"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(jwt("a.b", &[0xfb, 0xff]), "a.b.-_8");
        assert!(token_request("a.b.c").ends_with("&assertion=a.b.c"));
    }

    #[test]
    fn bad_keys_are_named_without_their_values() {
        let error = ServiceAccount::from_json("{\"client_email\":\"x\"}", "VERTEX_SA").unwrap_err();
        assert_eq!(error, "VERTEX_SA: the service-account key has no `private_key`");
        let bad_pem = json!({"client_email": "x", "private_key": "secret-material", "private_key_id": "k"});
        let error = ServiceAccount::from_json(&bad_pem.to_string(), "VERTEX_SA").unwrap_err();
        assert!(error.contains("`private_key` is not a PEM") && !error.contains("secret-material"));
        assert_eq!(ServiceAccount::from_json("nope", "S").unwrap_err(), "S: the service-account key is not JSON");
        assert!(!format!("{:?}", account()).contains("PRIVATE KEY"));
    }

    #[test]
    fn token_answers_and_failures() {
        assert_eq!(
            token_response(200, br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#),
            Ok(AccessToken { token: "ya29.x".into(), expires_in: 3599 })
        );
        let failure = token_response(400, br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#);
        assert_eq!(failure, Err("the token endpoint answered HTTP 400: Invalid JWT Signature.".into()));
        assert!(token_response(200, b"{}").is_err());
    }
}
