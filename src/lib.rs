//! An edge LLM proxy: clients speak OpenAI Chat Completions, OpenAI Responses, Anthropic Messages,
//! Gemini or Bedrock Converse, backends speak any of them, and requests are routed by model name. The core here is plain
//! Rust with no Workers dependency; `worker` (wasm32 only) is the thin shell that runs it on
//! Cloudflare Workers.

pub mod auth;
pub mod backend;
pub mod bedrock;
pub mod codec;
pub mod config;
pub mod cors;
pub mod dialect;
pub mod error;
pub mod eventstream;
pub mod exchange;
pub mod ir;
pub mod json_object;
pub mod keys;
pub mod limits;
pub mod mock;
pub mod peek;
pub mod proxy;
pub mod resilience;
pub mod routing;
pub mod sigv4;
pub mod sse;
pub mod system_prompt;
mod tagged;
pub mod transcode;
pub mod usage;
pub mod vertex;

#[cfg(target_arch = "wasm32")]
mod worker;
