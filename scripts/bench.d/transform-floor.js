// The transform floor Worker: sends each request unchanged to the upstream, like forwarder.js, but
// pipes the answer through a JavaScript TransformStream that reads every chunk before passing it
// on. A Worker that looks at the bytes of an answer (as any translating proxy must) costs at least
// this much, so the benchmark holds llmproxy's streams against it as well as against the no-op.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    url.protocol = "http:";
    url.host = env.UPSTREAM_HOST;
    const upstream = await fetch(new Request(url, request));
    // A running value over every chunk's length and first byte, kept outside the call, so that the
    // chunk's memory is read and the read is not optimised away.
    let seen = 0;
    const touch = new TransformStream({
      transform(chunk, controller) {
        seen = (seen + chunk.byteLength + (chunk[0] ?? 0)) | 0;
        controller.enqueue(chunk);
      },
    });
    return new Response(upstream.body.pipeThrough(touch), upstream);
  },
};
