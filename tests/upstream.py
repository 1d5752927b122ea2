"""A scripted fake upstream on 127.0.0.1: it records every request the worker sends and answers
with whatever reply a test scripted for the request's model, so each test owns its own model name."""

import base64
import json
import re
import socket
import struct
import time
import urllib.parse
import threading
import zlib
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
    # Given the request body, the reply to send instead, if any: a server that refuses some requests.
    refuses: object = None

    @classmethod
    def json(cls, value, status=200):
        return cls(status=status, body=[json.dumps(value).encode()])

    @classmethod
    def sse(cls, raw: bytes, **kw):
        """Raw SSE bytes, sent one event per chunk."""
        events = [e + b"\n\n" for e in raw.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
        return cls(body=events, content_type="text/event-stream", **kw)


def eventstream_message(headers: dict, payload: bytes) -> bytes:
    """One AWS event-stream message with string headers, CRCs included."""
    encoded = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
                       for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def eventstream_event(event_type: str, payload: bytes) -> bytes:
    return eventstream_message({":event-type": event_type, ":content-type": "application/json",
                                ":message-type": "event"}, payload)


def eventstream_exception(exception_type: str, message: str) -> bytes:
    return eventstream_message({":exception-type": exception_type, ":content-type": "application/json",
                                ":message-type": "exception"}, json.dumps({"message": message}).encode())


def invoke_stream(sse: bytes) -> list[bytes]:
    """Anthropic SSE events as Bedrock's InvokeModelWithResponseStream sends them: one `chunk`
    message per event, its JSON base64-encoded in `bytes`."""
    events = [e for e in sse.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    chunks = []
    for event in events:
        data = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data:
            chunks.append(eventstream_event("chunk", json.dumps({"bytes": base64.b64encode(data).decode()}).encode()))
    return chunks


def decode_eventstream(raw: bytes) -> list[tuple[dict, bytes]]:
    """Messages of an AWS event stream, both CRCs checked: (string headers, payload)."""
    messages = []
    while raw:
        total, headers_len = struct.unpack(">II", raw[:8])
        assert struct.unpack(">I", raw[8:12])[0] == zlib.crc32(raw[:8]), "prelude CRC"
        message, raw = raw[:total], raw[total:]
        assert struct.unpack(">I", message[-4:])[0] == zlib.crc32(message[:-4]), "message CRC"
        headers, at = {}, 12
        while at < 12 + headers_len:
            name_len = message[at]
            name = message[at + 1:at + 1 + name_len].decode()
            kind = message[at + 1 + name_len]
            assert kind == 7, f"header {name} is not a string"
            (value_len,) = struct.unpack(">H", message[at + 2 + name_len:at + 4 + name_len])
            headers[name] = message[at + 4 + name_len:at + 4 + name_len + value_len].decode()
            at += 4 + name_len + value_len
        messages.append((headers, message[12 + headers_len:-4]))
    return messages


def wire(name: str) -> bytes:
    return (WIRE / name).read_bytes()


def chat_sse_from_chunks(name: str) -> bytes:
    """A *.chunks.jsonl recording of Chat chunks framed as the SSE a server sends."""
    return "".join(f"data: {line}\n\n" for line in wire(name).decode().splitlines() if line.strip()).encode()


def anthropic_sse_from_chunks(name: str) -> bytes:
    """A *.chunks.jsonl recording of Anthropic events framed as SSE (event name = payload type)."""
    out = []
    for line in wire(name).decode().splitlines():
        if line.strip():
            out.append(f"event: {json.loads(line)['type']}\ndata: {line}\n\n")
    return "".join(out).encode()


def model_of(path: str, body) -> str | None:
    """The model a request is for: in the body, or in the path for Gemini (`/models/{model}:method`)
    and Bedrock (`/model/{model}/method`)."""
    if isinstance(body, dict) and body.get("model"):
        return body["model"]
    match = re.search(r"/models/([^/:?]+):", path)
    if match:
        return match.group(1)
    match = re.search(r"/model/([^/?]+)/", path)
    return urllib.parse.unquote(match.group(1)) if match else None


@dataclass
class TokenEndpoint:
    """A fake OAuth token endpoint at `/token-{name}` that checks the service-account JWT it is
    given (signature and claims) before answering."""
    public_key: object
    client_email: str
    key_id: str
    expires_in: int = 3600
    delay: float = 0.0
    refuse: bool = False
    exchanges: int = 0
    problems: list = field(default_factory=list)


def jwt_parts(jwt: str) -> tuple[dict, dict, bytes, bytes]:
    """Header, claims, signature and signed bytes of a JWT."""
    def b64(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    header, claims, signature = jwt.split(".")
    return json.loads(b64(header)), json.loads(b64(claims)), b64(signature), f"{header}.{claims}".encode()


def verify_jwt(jwt: str, public_key) -> tuple[dict, dict]:
    """Checks an RS256 signature; raises if it is wrong."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    header, claims, signature, signed = jwt_parts(jwt)
    public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    return header, claims


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: object
    raw: bytes = b""


class FakeUpstream:
    def __init__(self):
        self.replies: dict[str, Reply] = {}
        self.token_endpoints: dict[str, TokenEndpoint] = {}
        self.seen: list[Seen] = []
        # Bedrock: SigV4 keys (access key id -> secret) and region the fake checks signatures with,
        # as AWS does, and what it found wrong with any.
        self.aws_keys: dict[str, str] = {}
        self.aws_region = "us-east-1"
        self.signature_problems: list[str] = []
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.startswith("/token-"):
                    return self.token(self.path[len("/token-"):], raw)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                headers = {k.lower(): v for k, v in self.headers.items()}
                if headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
                    problem = self.signature_problem(headers, raw)
                    if problem:
                        with upstream.lock:
                            upstream.signature_problems.append(problem)
                        return self.answer(Reply.json({"message": problem}, 403))
                with upstream.lock:
                    upstream.seen.append(Seen("POST", self.path, headers, body, raw))
                    model = model_of(self.path, body)
                    reply = upstream.replies.get(model) or Reply.json({"error": {"message": f"no reply scripted for {model}"}}, 599)
                    reply = (reply.refuses and reply.refuses(body)) or reply
                self.answer(reply)

            def signature_problem(self, headers: dict, raw: bytes) -> str | None:
                """What AWS would refuse in the request's SigV4 signature, recomputed from it."""
                from aws_signature import verify
                access_key_id = headers["authorization"].split("Credential=", 1)[-1].split("/", 1)[0]
                secret = upstream.aws_keys.get(access_key_id)
                if secret is None:
                    return f"The security token included in the request is invalid ({access_key_id})"
                try:
                    verify("POST", f"http://127.0.0.1:{upstream.port}{self.path}", headers, raw, access_key_id, secret,
                           upstream.aws_region, "bedrock")
                except AssertionError as problem:
                    return f"The request signature we calculated does not match the signature you provided: {problem}"
                return None

            def token(self, name: str, raw: bytes):
                endpoint = upstream.token_endpoints[name]
                form = urllib.parse.parse_qs(raw.decode())
                with upstream.lock:
                    endpoint.exchanges += 1
                try:
                    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"], form
                    header, claims = verify_jwt(form["assertion"][0], endpoint.public_key)
                    token_uri = f"http://127.0.0.1:{upstream.port}/token-{name}"
                    assert header == {"alg": "RS256", "typ": "JWT", "kid": endpoint.key_id}, header
                    assert (claims["iss"], claims["aud"], claims["scope"]) == (
                        endpoint.client_email, token_uri, "https://www.googleapis.com/auth/cloud-platform"), claims
                    assert 0 < claims["exp"] - claims["iat"] <= 3600, claims
                except Exception as problem:  # a wrong JWT is what the test is about; it must fail it
                    endpoint.problems.append(repr(problem))
                    return self.answer(Reply.json({"error": "invalid_grant", "error_description": repr(problem)}, 400))
                time.sleep(endpoint.delay)
                if endpoint.refuse:
                    return self.answer(Reply.json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400))
                token = f"ya29.{name}-{endpoint.exchanges}"
                self.answer(Reply.json({"access_token": token, "expires_in": endpoint.expires_in, "token_type": "Bearer"}))

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
