// The no-op forwarder Worker: sends each request unchanged to the upstream and streams the answer
// back. Any Worker proxy costs at least this much, so the benchmark measures llmproxy against it.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    url.protocol = "http:";
    url.host = env.UPSTREAM_HOST;
    return fetch(new Request(url, request));
  },
};
