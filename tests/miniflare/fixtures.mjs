// The keys, routing config and upstream answers the Miniflare tests share.

export const CLIENT_KEY = "client-key-for-tests";
export const OPENAI_KEY = "sk-upstream-openai-secret";
export const ANTHROPIC_KEY = "sk-upstream-anthropic-secret";
export const GEMINI_KEY = "upstream-gemini-secret";
export const MAX_BODY_BYTES = 4096;

// Any URL will do: the harness answers every subrequest, so these hosts need not exist.
export const UPSTREAM = "http://upstream.test";

export function routingConfig() {
  return {
    backends: [
      { name: "openai", kind: "openai", base_url: `${UPSTREAM}/openai/v1`, api_key_env: "OPENAI_API_KEY",
        models: ["gpt-*"], headers: { "x-static": "from-config" } },
      { name: "anthropic", kind: "anthropic", base_url: `${UPSTREAM}/anthropic`, api_key_env: "ANTHROPIC_API_KEY",
        models: ["claude-*"] },
      { name: "gemini", kind: "gemini", base_url: `${UPSTREAM}/gemini-api`, api_key_env: "GEMINI_API_KEY",
        models: ["gemini-*"] },
      { name: "mock", kind: "mock", models: ["mock-*"] },
    ],
    aliases: { fast: "gpt-alias-target" },
  };
}

/** The vars of a worker with client auth, every backend key, a small body limit and no config cache. */
export function routingVars(extra = {}) {
  return {
    LLMPROXY_API_KEY: `another-key, ${CLIENT_KEY}`,
    OPENAI_API_KEY: OPENAI_KEY,
    ANTHROPIC_API_KEY: ANTHROPIC_KEY,
    GEMINI_API_KEY: GEMINI_KEY,
    LLMPROXY_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    LLMPROXY_CONFIG_TTL_SECONDS: "0",
    ...extra,
  };
}

export const AUTH = { authorization: `Bearer ${CLIENT_KEY}` };
export const USER_HI = [{ role: "user", content: "hi" }];

/** A whole Chat Completions answer. */
export const chatCompletion = (text, model = "gpt-x") => ({
  id: "chatcmpl-test", object: "chat.completion", created: 1, model,
  choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/** A whole Anthropic Messages answer. */
export const anthropicMessage = (text, model = "claude-x") => ({
  id: "msg_test", type: "message", role: "assistant", model, content: [{ type: "text", text }],
  stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 },
});

/** A whole Gemini answer. */
export const geminiAnswer = (text) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
});
