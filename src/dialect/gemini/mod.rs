//! Gemini API (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`).

pub mod request;
pub mod response;
pub mod stream;
pub mod types;
