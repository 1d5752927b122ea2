//! Reasoning signatures: opaque tokens that must go back to the provider that made them.

use base64::Engine;

/// The providers whose reasoning comes with an opaque token that must go back to that provider only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    /// OpenAI Responses `encrypted_content`.
    OpenAi,
    /// Gemini `thoughtSignature`.
    Gemini,
    /// Bedrock Converse `reasoningContent`: its signatures, and its redacted content, which
    /// Bedrock encrypts with its own key, so they go back to Converse only.
    Bedrock,
}

impl Provider {
    fn tag(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Gemini => "gemini",
            Self::Bedrock => "bedrock",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        [Self::Anthropic, Self::OpenAi, Self::Gemini, Self::Bedrock].into_iter().find(|p| p.tag() == tag)
    }
}

/// A reasoning signature (or encrypted reasoning) and the provider that made it. A client of
/// another dialect receives it sealed with its provider's name, gives it back unchanged on the
/// next turn, and the proxy then sends it only to that provider: any other would reject it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub provider: Provider,
    pub value: String,
}

/// What a sealed signature starts with (once decoded from base64, for Gemini clients).
const SEAL: &str = "llmproxy1.";

impl Signature {
    /// A signature a backend of `provider` made.
    pub fn native(provider: Provider, value: String) -> Self {
        Self { provider, value }
    }

    /// The signature as a client that speaks `client`'s dialect should hold it: its own provider's
    /// as it came, any other sealed as `llmproxy1.<provider>.<signature>`, and that base64-encoded
    /// for Gemini and Bedrock clients, which hold signatures (Bedrock: its redacted content) as
    /// bytes.
    pub fn for_client(&self, client: Option<Provider>) -> String {
        if client == Some(self.provider) {
            return self.value.clone();
        }
        let sealed = format!("{SEAL}{}.{}", self.provider.tag(), self.value);
        match client {
            Some(Provider::Gemini | Provider::Bedrock) => base64::engine::general_purpose::STANDARD.encode(sealed),
            _ => sealed,
        }
    }

    /// A signature a client sent back: sealed ones name their provider; anything else is the
    /// client's own provider's. SDKs may hand base64 back in the URL-safe alphabet.
    pub fn from_client(text: String, client: Provider) -> Self {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let unseal = |sealed: &str| {
            let (tag, value) = sealed.strip_prefix(SEAL)?.split_once('.')?;
            Provider::from_tag(tag).map(|provider| Self { provider, value: value.to_string() })
        };
        if let Some(signature) = unseal(&text) {
            return signature;
        }
        let decoded =
            STANDARD.decode(&text).or_else(|_| URL_SAFE.decode(&text)).ok().and_then(|b| String::from_utf8(b).ok());
        decoded.as_deref().and_then(unseal).unwrap_or(Self { provider: client, value: text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_reach_their_own_provider_raw_and_others_sealed() {
        let signature = Signature::native(Provider::Anthropic, "EqQBCkYIBxgC.x".into());
        assert_eq!(signature.for_client(Some(Provider::Anthropic)), "EqQBCkYIBxgC.x");
        let sealed = signature.for_client(Some(Provider::OpenAi));
        assert_eq!(sealed, "llmproxy1.anthropic.EqQBCkYIBxgC.x");
        assert_eq!(Signature::from_client(sealed, Provider::OpenAi), signature);
        let for_gemini = signature.for_client(Some(Provider::Gemini));
        assert_eq!(for_gemini, base64::engine::general_purpose::STANDARD.encode("llmproxy1.anthropic.EqQBCkYIBxgC.x"));
        assert_eq!(Signature::from_client(for_gemini.clone(), Provider::Gemini), signature);
        let url_safe = for_gemini.replace('+', "-").replace('/', "_");
        assert_eq!(Signature::from_client(url_safe, Provider::Gemini), signature);
        assert_eq!(Signature::from_client("EqQBCkYIBxgC.x".into(), Provider::Anthropic), signature);
        let gemini_own = Signature::from_client("EpEgCo4gAb4+9vvW".into(), Provider::Gemini);
        assert_eq!(
            gemini_own,
            Signature::native(Provider::Gemini, "EpEgCo4gAb4+9vvW".into()),
            "base64, but not a seal"
        );
    }
}
