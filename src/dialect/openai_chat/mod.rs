//! OpenAI Chat Completions (`POST /v1/chat/completions`).

pub mod request;
pub mod response;
pub mod stream;
pub mod types;
