"""The generation engine of one loaded chat model: continuous batching of decoding steps.

One asyncio task schedules; every ONNX Runtime call runs on the engine's own worker thread, so
the event loop keeps serving while a step computes. Each iteration either

- admits the generations that arrived (up to `max_batch_size` in all): their prompts run
  together, left-padded, in one prefill, and each picks its first token; their caches then join
  the running batch (the shorter side padded on the left, masked out), or
- runs one decoding step for every running generation at once: each row feeds its last token
  at its own position, with its own attention mask over the shared, left-padded cache.

A row that finishes (end of sequence, stop sequence, `max_new_tokens`, full context, deadline,
or a caller that went away) leaves the batch before the next step, and the cache's columns that
only padding uses are cut. Because padding is masked and positions count real tokens only, a row
computes what it would compute alone: batched greedy output equals one-by-one greedy output.

Per token, on the scheduler: choose it (`sampling`), then turn it into streamable text
(`IncrementalDetokenizer`, `StopMatcher`) and put a `GeneratedPiece` on the caller's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from foundry.domain.causallm import CausalSession, Floats, Ids, position_ids
from foundry.inference.generation.chat import ChatTokenizer
from foundry.inference.generation.sampling import choose_token, make_rng
from foundry.inference.generation.text import IncrementalDetokenizer, StopMatcher
from foundry.inference.generation.types import (
    FinishReason,
    GeneratedPiece,
    GenerationRequest,
    Usage,
)
from foundry.runtime.errors import DeadlineExceededError, FieldViolation, InvalidArgumentError

T = TypeVar("T")
DEFAULT_MAX_NEW_TOKENS_LIMIT = 4096


@dataclass(eq=False)
class _Stream:
    """One generation in flight."""

    request: GenerationRequest
    prompt_ids: list[int]
    max_new_tokens: int
    deadline: float | None
    detokenizer: IncrementalDetokenizer
    stops: StopMatcher
    rng: np.random.Generator
    queue: asyncio.Queue[GeneratedPiece | BaseException] = field(default_factory=asyncio.Queue)
    generated: list[int] = field(default_factory=list)
    submitted: float = field(default_factory=time.perf_counter)
    first_token_at: float = 0.0
    done: bool = False

    def finish(self, piece: GeneratedPiece | BaseException) -> None:
        self.done = True
        self.queue.put_nowait(piece)


@dataclass
class _Batch:
    """The running rows and their shared, left-padded cache."""

    streams: list[_Stream]
    cache: list[Floats]
    mask: Ids

    def keep(self, rows: list[int]) -> None:
        """Keep only `rows`; cut the columns that no kept row uses."""
        self.streams = [self.streams[r] for r in rows]
        index = np.asarray(rows, np.int64)
        mask = self.mask[index]
        used = np.flatnonzero(mask.any(axis=0))
        start = int(used[0]) if used.size else mask.shape[1]
        self.mask = np.ascontiguousarray(mask[:, start:])
        self.cache = [np.ascontiguousarray(c[index][:, :, start:]) for c in self.cache]

    def join(self, other: _Batch) -> None:
        """Append `other`'s rows, padding the shorter cache on the left."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        self.streams += other.streams
        self.mask = np.concatenate([_pad_left(self.mask, width, 1), _pad_left(other.mask, width, 1)])
        self.cache = [
            np.concatenate([_pad_left(a, width, 2), _pad_left(b, width, 2)])
            for a, b in zip(self.cache, other.cache, strict=True)
        ]


def _pad_left(array: Any, width: int, axis: int) -> Any:
    missing = width - array.shape[axis]
    if missing <= 0:
        return array
    pads = [(0, 0)] * array.ndim
    pads[axis] = (missing, 0)
    return np.pad(array, pads)


class GenerationEngine:
    """Streams generations of one model; see the module docstring."""

    def __init__(
        self,
        session: CausalSession,
        tokenizer: ChatTokenizer,
        *,
        max_batch_size: int = 8,
        max_new_tokens_limit: int = DEFAULT_MAX_NEW_TOKENS_LIMIT,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.session = session
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.max_new_tokens_limit = max_new_tokens_limit
        self._pending: deque[_Stream] = deque()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self._task: asyncio.Task[None] | None = None
        self._batch: _Batch | None = None
        #: decoding steps and prefills run, and the rows they carried (for tests and metrics)
        self.steps = 0
        self.step_rows = 0
        self.prefills = 0

    @property
    def active(self) -> int:
        """Generations running or waiting."""
        return len(self._pending) + (len(self._batch.streams) if self._batch else 0)

    async def generate(
        self, request: GenerationRequest, *, timeout_s: float | None = None
    ) -> AsyncIterator[GeneratedPiece]:
        """Stream `request`'s pieces; the last has the finish reason and usage. Raises
        `DeadlineExceededError` when `timeout_s` passes first (what was streamed stays streamed)."""
        stream = self._prepare(request, timeout_s)
        self._pending.append(stream)
        self._wake.set()
        self._ensure_running()
        try:
            while True:
                remaining = None if stream.deadline is None else stream.deadline - time.monotonic()
                try:
                    item = await asyncio.wait_for(stream.queue.get(), remaining)
                except TimeoutError:
                    item = _deadline_error(len(stream.generated))
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            stream.done = True  # a caller that stops listening frees its row at the next step

    def _prepare(self, request: GenerationRequest, timeout_s: float | None) -> _Stream:
        request.validate(self.max_new_tokens_limit)
        if request.messages:
            prompt_ids = self.tokenizer.encode_messages(request.messages)
        else:
            prompt_ids = self.tokenizer.encode_prompt(request.prompt)
        context = self.tokenizer.context_length
        max_new = request.params.max_new_tokens
        if context is not None:
            if len(prompt_ids) >= context:
                field_name = "messages" if request.messages else "prompt"
                raise InvalidArgumentError(
                    f"the prompt has {len(prompt_ids)} tokens; the model reads at most {context}",
                    reason="PROMPT_TOO_LONG",
                    violations=[
                        FieldViolation(field_name, f"{len(prompt_ids)} tokens, at most {context - 1}")
                    ],
                )
            max_new = min(max_new, context - len(prompt_ids))
        return _Stream(
            request=request,
            prompt_ids=prompt_ids,
            max_new_tokens=max_new,
            deadline=None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0),
            detokenizer=IncrementalDetokenizer(self.tokenizer.tokenizer, prompt_ids),
            stops=StopMatcher(request.params.stop),
            rng=make_rng(request.params.seed),
        )

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="generation-scheduler")

    async def close(self) -> None:
        """Stop scheduling (generations in flight end with an error) and release the worker thread."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        try:
            while True:
                self._retire()
                running = len(self._batch.streams) if self._batch else 0
                if self._pending and running < self.max_batch_size:
                    await self._admit(self.max_batch_size - running)
                elif running:
                    await self._decode()
                else:
                    self._wake.clear()
                    await self._wake.wait()
        except BaseException as exc:  # the scheduler died: tell every waiting caller
            for stream in [*self._pending, *(self._batch.streams if self._batch else [])]:
                if not stream.done:
                    stream.finish(exc if isinstance(exc, Exception) else RuntimeError("generation stopped"))
            self._pending.clear()
            self._batch = None
            raise

    def _retire(self) -> None:
        """Drop finished rows and expired or abandoned generations."""
        now = time.monotonic()
        for stream in [*self._pending, *(self._batch.streams if self._batch else [])]:
            if not stream.done and stream.deadline is not None and now >= stream.deadline:
                stream.finish(_deadline_error(len(stream.generated)))
        self._pending = deque(s for s in self._pending if not s.done)
        if self._batch is not None:
            rows = [i for i, s in enumerate(self._batch.streams) if not s.done]
            if not rows:
                self._batch = None
            elif len(rows) < len(self._batch.streams):
                self._batch.keep(rows)

    async def _admit(self, room: int) -> None:
        admitted = [self._pending.popleft() for _ in range(min(room, len(self._pending)))]
        out, mask = await self._call(self.session.prefill, [s.prompt_ids for s in admitted])
        self.prefills += 1
        joined = _Batch(admitted, out.cache, mask)
        if self._batch is None:
            self._batch = joined
        else:
            self._batch.join(joined)
        for row, stream in enumerate(admitted):
            if not stream.done:
                self._advance(stream, out.logits[row])

    async def _decode(self) -> None:
        batch = self._batch
        assert batch is not None
        rows = len(batch.streams)
        input_ids = np.asarray([[s.generated[-1]] for s in batch.streams], np.int64)
        mask = np.concatenate([batch.mask, np.ones((rows, 1), np.int64)], axis=1)
        out = await self._call(self.session.step, input_ids, mask, position_ids(mask)[:, -1:], batch.cache)
        self.steps += 1
        self.step_rows += rows
        batch.cache, batch.mask = out.cache, mask
        for row, stream in enumerate(batch.streams):
            if not stream.done:
                self._advance(stream, out.logits[row])

    def _advance(self, stream: _Stream, logits: Floats) -> None:
        """Choose `stream`'s next token and stream what it adds."""
        token = choose_token(logits, stream.request.params, stream.rng)
        now = time.perf_counter()
        if not stream.generated:
            stream.first_token_at = now
        stream.generated.append(token)
        if token in self.tokenizer.eos_ids and not stream.request.params.ignore_eos:
            text, stop = _flush(stream, "")
            reason = FinishReason.STOP_SEQUENCE if stop else FinishReason.END_OF_SEQUENCE
            stream.finish(self._last(stream, text, token, reason, now, stop or ""))
            return
        text, stop = stream.stops.push(stream.detokenizer.push(token))
        if stop is not None:
            stream.finish(self._last(stream, text, token, FinishReason.STOP_SEQUENCE, now, stop))
        elif len(stream.generated) >= stream.max_new_tokens:
            text, stop = _flush(stream, text)
            reason = FinishReason.STOP_SEQUENCE if stop else FinishReason.MAX_NEW_TOKENS
            stream.finish(self._last(stream, text, token, reason, now, stop or ""))
        else:
            stream.queue.put_nowait(GeneratedPiece(text, (token,)))

    def _last(
        self, stream: _Stream, text: str, token: int, reason: FinishReason, now: float, stop: str = ""
    ) -> GeneratedPiece:
        count = len(stream.generated)
        decode_s = now - stream.first_token_at
        usage = Usage(
            prompt_tokens=len(stream.prompt_ids),
            completion_tokens=count,
            time_to_first_token_ms=(stream.first_token_at - stream.submitted) * 1000,
            tokens_per_s=(count - 1) / decode_s if count > 1 and decode_s > 0 else 0.0,
        )
        return GeneratedPiece(text, (token,), reason, stop, usage)


def _flush(stream: _Stream, text: str) -> tuple[str, str | None]:
    """The end of the text at the last token: held bytes, then held stop-sequence prefixes."""
    more, stop = stream.stops.push(stream.detokenizer.flush())
    if stop is not None:
        return text + more, stop
    return text + more + stream.stops.flush(), None


def _deadline_error(generated: int) -> DeadlineExceededError:
    return DeadlineExceededError(
        f"the deadline passed after {generated} generated tokens", reason="GENERATION_DEADLINE_EXCEEDED"
    )


async def collect(pieces: AsyncIterator[GeneratedPiece]) -> tuple[str, list[int], GeneratedPiece]:
    """The whole text, token ids and last piece of a stream (tests, benchmarks, the CLI)."""
    text: list[str] = []
    ids: list[int] = []
    last: GeneratedPiece | None = None
    async for piece in pieces:
        text.append(piece.text)
        ids.extend(piece.token_ids)
        last = piece
    assert last is not None
    return "".join(text), ids, last


__all__ = ["DEFAULT_MAX_NEW_TOKENS_LIMIT", "GenerationEngine", "collect"]
