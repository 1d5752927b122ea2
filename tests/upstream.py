"""A scripted fake upstream on 127.0.0.1: it records every request the worker sends and answers
with whatever reply a test scripted for the request's model, so each test owns its own model name."""

import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WIRE = Path(__file__).resolve().parent.parent / "fixtures" / "wire"


@dataclass
class Reply:
    status: int = 200
    body: list = field(default_factory=list)  # pieces of the body, sent as separate chunks
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    # Before sending body[gate_at:], wait until this event is set (bounded by gate_timeout).
    gate: threading.Event | None = None
    gate_at: int = 1
    gate_timeout: float = 10.0
    # Whether the gate was opened before its timeout, once the reply got that far.
    gate_opened: bool | None = None
    # Drop the connection after the body pieces instead of ending the chunked body properly.
    cut: bool = False

    @classmethod
    def json(cls, value, status=200):
        return cls(status=status, body=[json.dumps(value).encode()])

    @classmethod
    def sse(cls, raw: bytes, **kw):
        """Raw SSE bytes, sent one event per chunk."""
        events = [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
        return cls(body=events, content_type="text/event-stream", **kw)


def wire(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def anthropic_sse_from_chunks(name: str) -> bytes:
    """A *.chunks.jsonl recording of Anthropic events framed as SSE (event name = payload type)."""
    out = []
    for line in wire(name).decode().splitlines():
        if line.strip():
            out.append(f"event: {json.loads(line)['type']}\ndata: {line}\n\n")
    return "".join(out).encode()


def model_of(path: str, body) -> str | None:
    """The model a request is for: in the body, or in the path for Gemini (`/models/{model}:method`)."""
    if isinstance(body, dict) and body.get("model"):
        return body["model"]
    match = re.search(r"/models/([^/:?]+):", path)
    return match.group(1) if match else None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: object


class FakeUpstream:
    def __init__(self):
        self.replies: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with upstream.lock:
                    upstream.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    model = model_of(self.path, body)
                    reply = upstream.replies.get(model) or Reply.json({"error": {"message": f"no reply scripted for {model}"}}, 599)
                self.answer(reply)

            def answer(self, reply: Reply):
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for i, piece in enumerate(reply.body):
                    if reply.gate is not None and i == reply.gate_at:
                        reply.gate_opened = reply.gate.wait(reply.gate_timeout)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                if reply.cut:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def script(self, model: str, reply: Reply):
        with self.lock:
            self.replies[model] = reply

    def requests_for(self, model: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if model_of(s.path, s.body) == model]

    def last(self, model: str) -> Seen:
        seen = self.requests_for(model)
        assert seen, f"the upstream saw no request for {model}"
        return seen[-1]
