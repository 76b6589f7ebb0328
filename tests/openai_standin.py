"""A local stand-in for an OpenAI-compatible API, scripted by the tests: a real HTTP server.

The real service is a paid remote API, so the tests talk to this instead, over real HTTP, with
the real ``openai`` client. ``python -m tests.openai_standin`` serves on a free port of
127.0.0.1, prints the port on its first line, and exits when its stdin closes (so it never
outlives the test run that started it). ``StandIn`` starts it and drives it.

The API: ``POST /v1/chat/completions`` and ``POST /v1/embeddings``, with OpenAI's JSON shapes.
Each request takes the first scripted reply meant for its path; with none left it gets the
default: a valid description derived from the image sent (its size and average colour), or,
for embeddings, a 256-dimension bag-of-words vector per input (words hashed; not normalised, so
that the client's normalising is tested), so texts sharing words are near.

The control API, on the same server:

- ``POST /_script`` with ``{"replies": [reply, ...]}`` queues replies, each a dict of
  ``status`` (200), ``headers`` ({}), ``json`` (a body) or ``text`` (a raw body, text/plain),
  ``delay_s`` (wait before answering: a client timeout), ``path`` (only for requests to that
  path, e.g. "/v1/embeddings"; default any API path). ``chat_reply``, ``error_reply`` and
  ``raw_reply`` build them.
- ``GET /_requests``: every API request received, oldest first, as ``{"method", "path",
  "headers" (lowercase names), "json" (the parsed body, or None), "text" (when not JSON),
  "received_at" (epoch seconds)}``.
- ``POST /_reset``: forget the queued replies and the requests.
"""

import base64
import hashlib
import io
import json
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image, ImageStat

CHAT_PATH, EMBEDDINGS_PATH = "/v1/chat/completions", "/v1/embeddings"
EMBEDDING_DIMS = 256
_PLACES_PER_WORD = 3
_START_TIMEOUT_S = 20


def chat_reply(content, *, finish_reason="stop", refusal=None, usage=None, model=None, **reply):
    """A scripted 200 chat completion whose message says ``content`` (a dict is sent as JSON text).

    ``usage`` is merged into the default token counts (e.g. ``{"cost": 0.0001}``, as OpenRouter
    reports); ``model`` defaults to the one requested."""
    if not isinstance(content, str | None):
        content = json.dumps(content)
    body = _completion(content, finish_reason=finish_reason, refusal=refusal, model=model)
    body["usage"] |= usage or {}
    return {"json": body, "path": CHAT_PATH, **reply}


def error_reply(status, message, *, code=None, type="invalid_request_error", headers=None, **reply):
    """A scripted error with OpenAI's body: ``{"error": {"message", "type", "param", "code"}}``."""
    error = {"message": message, "type": type, "param": None, "code": code}
    return {"status": status, "json": {"error": error}, "headers": headers or {}, **reply}


def raw_reply(text, *, status=200, content_type="text/plain", **reply):
    """A scripted reply whose body is ``text`` as is (not JSON, or broken JSON)."""
    return {"status": status, "text": text, "headers": {"Content-Type": content_type}, **reply}


class StandIn:
    """The stand-in server in a process of its own: ``start()`` (or ``with``), then ``base_url``
    for the ``openai`` client (or OPENAI_BASE_URL), ``script``, ``requests``, ``reset``, ``stop``."""

    process: subprocess.Popen | None = None
    port = 0

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.openai_standin"],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the port, once it listens
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the OpenAI stand-in did not start (said {line!r})")
        self.port = int(line)
        return self

    def stop(self):
        if self.process is not None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # its cue to exit
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            assert self.process.stdout is not None
            self.process.stdout.close()
            self.process = None

    def script(self, replies):
        """Queue ``replies`` (after any already queued)."""
        self._control("POST", "/_script", {"replies": list(replies)})

    def requests(self, path=None):
        """The API requests received since the last reset (only those to ``path`` if given)."""
        received = self._control("GET", "/_requests")
        return [request for request in received if path is None or request["path"] == path]

    def reset(self):
        self._control("POST", "/_reset", {})

    def _control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.replies = []
        self.requests = []

    def take(self, path):
        with self.lock:
            for index, reply in enumerate(self.replies):
                if reply.get("path") in (None, path):
                    return self.replies.pop(index)
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State

    def log_message(self, format, *args):  # quiet: the tests read /_requests instead
        pass

    def do_GET(self):
        if self.path == "/_requests":
            with self.state.lock:
                self._answer(200, {"json": list(self.state.requests)})
        else:
            self._answer(404, error_reply(404, f"no route GET {self.path}"))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in ("/_script", "/_reset"):
            with self.state.lock:
                if self.path == "/_reset":
                    self.state.replies.clear()
                    self.state.requests.clear()
                else:
                    self.state.replies.extend(json.loads(body)["replies"])
            return self._answer(200, {"json": {"ok": True}})
        try:
            parsed, text = json.loads(body), None
        except ValueError:
            parsed, text = None, body.decode("utf-8", "replace")
        with self.state.lock:
            self.state.requests.append(
                {
                    "method": "POST",
                    "path": self.path,
                    "headers": {name.lower(): value for name, value in self.headers.items()},
                    "json": parsed,
                    "text": text,
                    "received_at": time.time(),
                }
            )
        reply = self.state.take(self.path) or _default_reply(self.path, parsed)
        time.sleep(reply.get("delay_s", 0))
        self._answer(reply.get("status", 200), reply)

    def _answer(self, status, reply):
        headers = dict(reply.get("headers") or {})
        if "text" in reply:
            payload = reply["text"].encode()
        else:
            payload = json.dumps(reply.get("json")).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
            self.close_connection = True


def _default_reply(path, request):
    if not isinstance(request, dict):
        return error_reply(400, "the body is not JSON")
    if path == CHAT_PATH:
        return {"json": _completion(json.dumps(_description(request)), model=request.get("model"))}
    if path == EMBEDDINGS_PATH:
        return {"json": _embeddings(request)}
    return error_reply(404, f"no route POST {path}", code="unknown_url")


def _completion(content, *, finish_reason="stop", refusal=None, model=None):
    tokens = len(content or "") // 4
    return {
        "id": "chatcmpl-standin" + hashlib.sha256(str(content).encode()).hexdigest()[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 300, "completion_tokens": tokens, "total_tokens": 300 + tokens},
    }


def _description(request):
    """What the default answer says: the size, shape and average colour of the image sent."""
    urls = re.findall(r"data:image/\w+;base64,([A-Za-z0-9+/=]+)", json.dumps(request.get("messages")))
    if not urls:
        return {"description": "no image was sent", "tags": [], "searchable_text": "no image"}
    with Image.open(io.BytesIO(base64.b64decode(urls[0]))) as image:
        width, height = image.size
        red, green, blue = (round(level) for level in ImageStat.Stat(image.convert("RGB")).mean)
    shape = "landscape" if width > height else "portrait" if height > width else "square"
    color = max((red, "red"), (green, "green"), (blue, "blue"))[1] if max(red, green, blue) > 60 else "black"
    description = f"A {shape} {color} test picture of {width}x{height} pixels."
    tags = ["standin", shape, color]
    return {
        "description": description,
        "detailed_description": f"{description} The stand-in saw only its size and colour.",
        "tags": tags,
        "categories": ["test"],
        "objects": [],
        "colors": [color],
        "mood": "neutral",
        "style": "photo",
        "composition": shape,
        "searchable_text": " ".join([description, *tags]),
    }


def _embeddings(request):
    texts = request.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    data = []
    for index, text in enumerate(texts):
        vector = _bag_of_words(str(text))
        if request.get("encoding_format") == "base64":  # the client's choice when none is given
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        else:
            embedding = vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(len(str(text).split()) for text in texts)
    return {
        "object": "list",
        "data": data,
        "model": request.get("model") or "text-embedding-3-small",
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _bag_of_words(text):
    """Signed feature hashing: each word adds +-3 at 3 places its SHA-512 picks (so texts that
    share words are near, others about orthogonal); never a unit vector."""
    vector = [0.0] * EMBEDDING_DIMS
    for word in re.findall(r"\w+", text.lower()) or [text]:
        digest = hashlib.sha512(word.encode()).digest()
        for place in range(_PLACES_PER_WORD):
            index = int.from_bytes(digest[4 * place : 4 * place + 4], "little")
            vector[index % EMBEDDING_DIMS] += 3.0 if digest[40 + place] & 1 else -3.0
    return vector if any(vector) else [1.0] * EMBEDDING_DIMS


def main():
    _Handler.state = _State()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the parent closes it, or dies
    server.shutdown()


if __name__ == "__main__":
    main()
