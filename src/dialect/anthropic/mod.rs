//! Anthropic Messages (`POST /v1/messages`).

pub mod request;
pub mod response;
pub mod stream;
pub mod types;
