//! One call's answer made the client's: whole or streamed, translated between the two dialects
//! or passed through, and an upstream's error in the client's terms, with no secret repeated.

use crate::codec::{ClientContext, Framing};
use crate::dialect::Dialect;
use crate::error::ProxyError;
use crate::ir::Usage;
use crate::transcode::Transcoder;

/// The two dialects of one call, and what translating between them needs of the client.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub client: Dialect,
    pub backend: Dialect,
    pub context: ClientContext,
    /// What the answer used is wanted.
    pub metered: bool,
    /// The stream's usage events were asked for by the proxy, not by the client.
    pub unasked_usage: bool,
    /// How the client's stream is framed, and the backend's.
    pub client_framing: Framing,
    pub backend_framing: Framing,
}

impl Exchange {
    /// An exchange between two dialects with no request context (a Chat client's usage chunk
    /// asked for, no namespaces, the clock at 0): what benchmarks and tests translate with.
    pub fn between(client: Dialect, backend: Dialect) -> Self {
        let context = ClientContext { include_usage: true, ..ClientContext::default() };
        let (client_framing, backend_framing) = (Framing::Sse, Framing::Sse);
        Self { client, backend, context, metered: false, unasked_usage: false, client_framing, backend_framing }
    }

    pub fn is_passthrough(&self) -> bool {
        self.client == self.backend
    }

    /// The stream translator for a successful streamed answer.
    pub fn transcoder(&self) -> Transcoder {
        let transcoder = if self.is_passthrough() {
            let transcoder = Transcoder::passthrough(self.client);
            if self.metered {
                transcoder.metered(self.unasked_usage)
            } else {
                transcoder
            }
        } else {
            let (decoder, encoder) = (self.backend.codec().decoder(), self.client.codec().encoder(&self.context));
            Transcoder::translate(self.client, decoder, encoder)
        };
        transcoder.framed(self.backend_framing, self.client_framing)
    }

    /// A whole successful answer from the backend, in the client's dialect (through the IR).
    pub fn translate_response(&self, body: &[u8]) -> Result<Vec<u8>, ProxyError> {
        self.translated(body).map(|(body, _)| body)
    }

    /// A whole successful answer for the client — the upstream's bytes when both sides speak
    /// the same dialect — and what it used, when that is known (or, passed through, wanted).
    pub fn answer(&self, body: Vec<u8>) -> Result<(Vec<u8>, Option<Usage>), ProxyError> {
        if self.is_passthrough() {
            let usage = match self.metered {
                true => self.backend.codec().response_to_ir(&body).ok().map(|response| response.usage),
                false => None,
            };
            return Ok((body, usage));
        }
        self.translated(&body).map(|(body, usage)| (body, Some(usage)))
    }

    fn translated(&self, body: &[u8]) -> Result<(Vec<u8>, Usage), ProxyError> {
        let mut response = self.backend.codec().response_to_ir(body)?;
        let usage = response.usage;
        response.fill_empty_arguments();
        Ok((self.client.codec().response_from_ir(response, &self.context)?, usage))
    }

    /// An upstream error answer, as the client's dialect reports it (same dialect: unchanged but
    /// for `secrets`, which no answer may repeat).
    pub fn translate_error(&self, status: u16, body: &[u8], secrets: &[&str]) -> Vec<u8> {
        // Bedrock's errors are its own shape, whatever the dialect of its bodies.
        if self.is_passthrough() && self.client_framing == self.backend_framing {
            return crate::error::redact(&String::from_utf8_lossy(body), secrets).into_bytes();
        }
        let error = ProxyError::from_upstream(status, body).redacted(secrets);
        self.client.error_body(&error).into_bytes()
    }
}
