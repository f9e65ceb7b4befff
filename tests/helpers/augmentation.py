"""For tests and benchmarks: the bundled WNUT-17 splits, and a small real
OpenAI-compatible HTTP server on 127.0.0.1 whose answers a function decides (never a patched
client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from foundry.runtime.examples import Example, Split
from helpers.conll import read_conll

ROOT = Path(__file__).resolve().parents[2]  # the project root (tests/helpers/..)
WNUT = ROOT / "examples" / "data" / "wnut17"


WNUT_FILES = {
    Split.TRAIN: "wnut17train.conll",
    Split.VALIDATION: "emerging.dev.conll",
    Split.TEST: "emerging.test.annotated",
}


@lru_cache(maxsize=3)
def wnut(split: Split = Split.TRAIN) -> tuple[Example, ...]:
    """The WNUT-17 split as ingestion's CoNLL reader gives it."""
    return tuple(read_conll(WNUT / WNUT_FILES[split], split))


Reply = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | str, dict[str, str]]]


class ChatServer:
    """A real HTTP server on 127.0.0.1 that answers `/v1/chat/completions` through `reply`
    (status, body, headers); it records every request and the most requests in flight at once."""

    def __init__(self, reply: Reply, delay_s: float = 0.0) -> None:
        self.reply = reply
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append(
                        {"path": self.path, "auth": self.headers.get("Authorization"), **body}
                    )
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    if outer.delay_s:
                        threading.Event().wait(outer.delay_s)
                    status, payload, headers = outer.reply(body)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[ChatServer]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def completion(content: str) -> dict[str, Any]:
    return {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ]
    }


def last_user(body: dict[str, Any]) -> str:
    return str([m for m in body["messages"] if m["role"] == "user"][-1]["content"])


def rewriting_reply(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A deterministic stand-in for an LLM: rewrite requests (the rewriting system prompt) get the
    text after the prompt's last line break rewritten (evolution: with the method's first words),
    anything else a fixed answer that names the request's seed."""
    from foundry.augmentation.operators.llm import SYSTEM

    prompt = last_user(body)
    if body["messages"][0]["content"] == SYSTEM:
        text = prompt.rsplit("\n", 1)[-1]
        if "Translate" in prompt:
            return 200, completion(f"{text} (translated)"), {}
        if "more complex" in prompt:
            method = prompt.split("still answer. ", 1)[1].split(" ")[:2]
            return (
                200,
                completion(f"{text} ({' '.join(method)}) Explain each step and give two examples."),
                {},
            )
        return 200, completion(f"In other words: {text.lower()}"), {}
    return 200, completion(f"Here is a careful answer to: {prompt[:40]} (seed {body.get('seed')})."), {}
