//! Gemini API (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`).

mod partial_args;
pub mod request;
pub mod response;
pub mod stream;
pub mod types;
