//! AWS Bedrock: Claude through `InvokeModel` with Anthropic's body (the model and `stream` in the
//! URL, the version and betas in the body), other models through `Converse`. Streams come back as
//! AWS event streams. Calls are signed with SigV4, or carry a Bedrock API key as a bearer.

use super::{required_secret, BodyContext, ClientHeaders, HeaderList, SignedRequest, Upstream};
use crate::bedrock;
use crate::codec::{Framing, Operation};
use crate::config::Backend;
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::json_object::{self, to_raw};
use crate::sigv4;

pub struct Bedrock;

impl Upstream for Bedrock {
    fn dialect(&self, model: &str) -> Dialect {
        if bedrock::is_claude(model) {
            Dialect::Anthropic
        } else {
            Dialect::BedrockConverse
        }
    }

    fn url(&self, backend: &Backend, _operation: Operation, stream: bool, model: &str) -> Result<String, ProxyError> {
        let method = match (bedrock::is_claude(model), stream) {
            (true, false) => "invoke",
            (true, true) => "invoke-with-response-stream",
            (false, false) => "converse",
            (false, true) => "converse-stream",
        };
        crate::routing::check_model_name(model)?;
        bedrock::model_url(&backend.base_url, model, method)
    }

    /// A Bedrock API key is a bearer; SigV4 signing comes last (see `sign`), over every header.
    fn headers(&self, key: Option<String>, client: &ClientHeaders, headers: &mut HeaderList) {
        if let Some(key) = key {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        }
        if let Some(beta) = (client.header)("anthropic-beta") {
            // Moved into the body by `body`.
            headers.push(("anthropic-beta".into(), beta));
        }
    }

    fn body(&self, body: Vec<u8>, call: &BodyContext, headers: &mut HeaderList) -> Result<Vec<u8>, ProxyError> {
        let betas: Vec<String> = headers
            .iter()
            .filter(|(name, _)| name == "anthropic-beta")
            .flat_map(|(_, value)| value.split(',').map(|beta| beta.trim().to_string()))
            .filter(|beta| !beta.is_empty())
            .collect();
        headers.retain(|(name, _)| name != "anthropic-beta");
        if !bedrock::is_claude(call.model) {
            return Ok(body);
        }
        json_object::edit(&body, |fields| {
            fields.remove("model");
            fields.remove("stream");
            fields.insert("anthropic_version".into(), to_raw(bedrock::ANTHROPIC_VERSION)?);
            if !betas.is_empty() {
                fields.insert("anthropic_beta".into(), to_raw(&betas)?);
            }
            Ok(())
        })
    }

    fn framing(&self, model: &str) -> Framing {
        if bedrock::is_claude(model) {
            Framing::EventStreamChunks
        } else {
            Framing::EventStreamEvents
        }
    }

    fn sign(
        &self,
        backend: &Backend,
        request: SignedRequest,
        secret: &dyn Fn(&str) -> Option<String>,
        now: u64,
    ) -> Result<Vec<String>, ProxyError> {
        let Some(settings) = backend.bedrock.as_ref() else {
            return Err(ProxyError::internal(format!("backend `{}` has no Bedrock settings", backend.name)));
        };
        let Some(keys) = settings.signing.as_ref() else {
            return Ok(Vec::new());
        };
        let required = |name: &str| required_secret(secret, backend, name);
        let access_key_id = required(&keys.access_key_env)?;
        let secret_access_key = required(&keys.secret_key_env)?;
        let session_token = secret(&keys.session_token_env).filter(|token| !token.is_empty());
        let credentials = sigv4::Credentials {
            access_key_id: &access_key_id,
            secret_access_key: &secret_access_key,
            session_token: session_token.as_deref(),
        };
        let scope = sigv4::Scope { region: &settings.region, service: bedrock::SIGNING_NAME };
        sigv4::sign("POST", request.url, request.headers, request.body, &credentials, &scope, now)
            .map_err(|e| ProxyError::internal(format!("could not sign the call to `{}`: {e}", backend.name)))?;
        Ok([Some(secret_access_key), session_token].into_iter().flatten().collect())
    }

    fn keeps_query(&self) -> bool {
        false
    }

    /// Bedrock's token counting takes another body; the proxy estimates instead.
    fn counts_tokens(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A Bedrock backend of the config, signing with the default secrets.
    fn backend_in(region: &str) -> Backend {
        let config = format!(r#"{{"backends":[{{"name":"b","kind":"bedrock","region":"{region}","models":["**"]}}]}}"#);
        crate::config::Config::from_json(&config).unwrap().backends.remove(0)
    }

    #[test]
    fn claude_bodies_move_model_stream_and_betas() {
        let mut headers = vec![("anthropic-beta".to_string(), "a-1, b-2".to_string())];
        let body = br#"{"model":"m","stream":true,"max_tokens":5}"#.to_vec();
        let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let call = |model| BodyContext { model, operation: Operation::Generate, stream: true, model_in_url: false };
        let body = Bedrock.body(body, &call(model), &mut headers).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["a-1", "b-2"], "max_tokens": 5})
        );
        assert!(headers.is_empty());
        let converse = br#"{"messages":[]}"#.to_vec();
        let kept = Bedrock.body(converse.clone(), &call("amazon.nova-pro-v1:0"), &mut headers);
        assert_eq!(kept.unwrap(), converse);
    }

    #[test]
    fn calls_are_signed_with_the_named_secrets_which_answers_may_not_repeat() {
        let backend = &backend_in("us-east-1");
        let secret = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string()),
            _ => None,
        };
        let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-x%3A0/invoke";
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        let request = SignedRequest { url, headers: &mut headers, body: b"{}" };
        let secrets = Bedrock.sign(backend, request, &secret, 1_718_886_896).unwrap();
        assert_eq!(secrets, ["wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"]);
        let authorization = &headers.iter().find(|(name, _)| name == "authorization").unwrap().1;
        assert!(authorization
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request"));
        assert!(headers.iter().all(|(name, _)| name != "x-amz-security-token"), "no session token is set");
        let unset = |_: &str| None;
        let request = SignedRequest { url, headers: &mut headers, body: b"{}" };
        let error = Bedrock.sign(backend, request, &unset, 1).unwrap_err();
        assert!(error.message.contains("`AWS_ACCESS_KEY_ID`, which is not set"), "{}", error.message);
    }

    #[test]
    fn each_model_goes_to_its_api() {
        let backend = &backend_in("eu-west-3");
        let url = |model, stream| Bedrock.url(backend, Operation::Generate, stream, model).unwrap();
        let host = "https://bedrock-runtime.eu-west-3.amazonaws.com";
        assert_eq!(
            url("anthropic.claude-3-haiku-20240307-v1:0", true),
            format!("{host}/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream")
        );
        assert_eq!(url("amazon.nova-pro-v1:0", false), format!("{host}/model/amazon.nova-pro-v1%3A0/converse"));
        assert_eq!(Bedrock.dialect("amazon.nova-pro-v1:0"), Dialect::BedrockConverse);
        assert_eq!(Bedrock.framing("amazon.nova-pro-v1:0"), Framing::EventStreamEvents);
        assert_eq!(Bedrock.framing("anthropic.claude-3-haiku-20240307-v1:0"), Framing::EventStreamChunks);
    }
}
