-- One row per request: who asked what of which backend, what it used and cost, how long it took
-- and how it ended. Never prompt or answer text.
CREATE TABLE usage (
  at_ms INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  client TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  backend TEXT NOT NULL,
  model_asked TEXT NOT NULL,
  model_sent TEXT NOT NULL,
  status INTEGER NOT NULL,
  streamed INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL,
  -- Null when the model has no price in the config.
  cost_usd REAL,
  ttfb_ms INTEGER NOT NULL,
  total_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  error TEXT,
  -- 1: the tokens are the answer's own report; 0: an estimate (a stream cut short).
  usage_reported INTEGER NOT NULL
);
CREATE INDEX usage_by_time ON usage (at_ms);
CREATE INDEX usage_by_key ON usage (key_id, at_ms);

-- The issued keys, for listing; each key's hash, policy and counters live in its Durable Object.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  policy TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
