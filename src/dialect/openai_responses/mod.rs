//! OpenAI Responses (`POST /v1/responses`), as OpenAI and OpenResponses servers speak it.

pub mod request;
pub mod response;
pub mod stream;
pub mod types;
