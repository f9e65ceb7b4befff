"""A small, robust client of an OpenAI-compatible chat completions endpoint (vLLM, TGI, llama.cpp
server, OpenAI itself): `POST {base_url}/chat/completions`.

- timeouts: connect and read (`timeout_s`) on every request;
- retries: connection errors, timeouts, 408, 409, 429 and 5xx are retried up to `max_retries`
  times with exponential backoff and full jitter (`retry_backoff_s * 2**attempt`), honouring a
  `Retry-After` header in seconds when the server sends one; other 4xx fail at once;
- concurrency: `complete_many` runs at most `max_concurrency` requests at once (a thread pool
  over one pooled urllib3 `PoolManager`, which is thread-safe) and returns answers in order.

Failures raise `UnavailableError` (the endpoint is down or keeps failing) or
`FailedPreconditionError` (it refused the request: bad model name, bad key), with the endpoint's
own message.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import urllib3

from foundry.runtime.errors import FailedPreconditionError, UnavailableError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
Message = Mapping[str, str]


@dataclass(frozen=True)
class ChatOptions:
    temperature: float = 0.7
    max_tokens: int = 256
    seed: int | None = None
    top_p: float | None = None


class ChatClient:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        retry_backoff_s: float = 0.5,
        max_concurrency: int = 8,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = urllib3.Timeout(connect=min(timeout_s, 10.0), read=timeout_s)
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.max_concurrency = max_concurrency
        self.pool = urllib3.PoolManager(maxsize=max_concurrency, retries=False)
        self.requests_sent = 0

    def complete(self, messages: Sequence[Message], options: ChatOptions = ChatOptions()) -> str:
        """The assistant's reply to `messages`."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "temperature": options.temperature,
            "max_tokens": options.max_tokens,
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if options.top_p is not None:
            body["top_p"] = options.top_p
        payload = json.dumps(body).encode("utf-8")
        problem = ""
        wait: float | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep(attempt, wait)
            self.requests_sent += 1
            try:
                response = self.pool.request(
                    "POST", self.url, body=payload, headers=self.headers, timeout=self.timeout
                )
            except urllib3.exceptions.HTTPError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
                continue
            if response.status == 200:
                return self._content(response.data)
            problem = f"HTTP {response.status}: {response.data[:300].decode('utf-8', 'replace')}"
            if response.status not in RETRY_STATUS:
                raise FailedPreconditionError(
                    f"the LLM endpoint {self.url} refused the request ({problem})",
                    reason="LLM_REQUEST_REFUSED",
                )
            wait = _retry_after(response.headers.get("Retry-After"))
        raise UnavailableError(
            f"the LLM endpoint {self.url} failed {self.max_retries + 1} times (last: {problem})",
            reason="LLM_UNAVAILABLE",
        )

    def _sleep(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after
        if delay is None:
            delay = random.uniform(0, self.retry_backoff_s * 2 ** (attempt - 1))  # full jitter
        time.sleep(min(delay, 60.0))

    def _content(self, data: bytes) -> str:
        try:
            reply = json.loads(data)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise UnavailableError(
                f"the LLM endpoint {self.url} sent an answer without choices[0].message.content ({exc})",
                reason="LLM_BAD_RESPONSE",
            ) from exc
        return str(content or "")

    def complete_many(
        self,
        conversations: Sequence[Sequence[Message]],
        options: Sequence[ChatOptions] | ChatOptions = ChatOptions(),
    ) -> list[str]:
        """Replies to every conversation, in order, at most `max_concurrency` at once."""
        per = list(options) if isinstance(options, Sequence) else [options] * len(conversations)
        if len(conversations) <= 1 or self.max_concurrency == 1:
            return [self.complete(c, o) for c, o in zip(conversations, per, strict=True)]
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(self.complete, conversations, per))

    def close(self) -> None:
        self.pool.clear()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
