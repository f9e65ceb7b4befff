"""The generation engine on a tiny exported Llama: streaming, stop sequences, deadlines, sampling,
continuous batching (same greedy output as one by one), the chat template, request errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from foundry.domain.causallm import CausalSession
from foundry.inference.generation import (
    ChatTokenizer,
    FinishReason,
    GeneratedPiece,
    GenerationEngine,
    GenerationRequest,
    SamplingParams,
    collect,
)
from foundry.runtime.errors import DeadlineExceededError, InvalidArgumentError
from foundry.runtime.examples import ChatMessage
from foundry.training.export.causal import export_causal_lm
from helpers.training_models import tiny_causal_lm

CHAT = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
ROWS = [json.loads(line) for line in CHAT.read_text("utf-8").splitlines()]
TEXTS = [m["content"] for row in ROWS for m in row["messages"]]
PROMPTS = [row["messages"][0]["content"][: 10 + 9 * i] for i, row in enumerate(ROWS[:8])]


@dataclass(frozen=True)
class Model:
    folder: Path
    session: CausalSession
    tokenizer: ChatTokenizer

    def engine(self, **kwargs: int) -> GenerationEngine:
        return GenerationEngine(self.session, self.tokenizer, **kwargs)

    def solo(self, prompt: str, max_new_tokens: int) -> list[int]:
        ids = self.tokenizer.encode_prompt(prompt)
        return self.session.greedy(ids, max_new_tokens, sorted(self.tokenizer.eos_ids))[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    folder = tiny_causal_lm(tmp_path_factory.mktemp("llama"), TEXTS, arch="llama", seed=1)
    export = export_causal_lm(AutoModelForCausalLM.from_pretrained(folder), folder / "onnx", int8=False)
    return Model(folder, CausalSession(export.fp32.path), ChatTokenizer.from_folder(folder))


def greedy(prompt: str, max_new_tokens: int, stop: tuple[str, ...] = ()) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, params=SamplingParams(max_new_tokens=max_new_tokens, stop=stop))


async def pieces_of(stream: AsyncIterator[GeneratedPiece]) -> list[GeneratedPiece]:
    return [piece async for piece in stream]


async def test_streams_the_greedy_tokens_and_their_text(model: Model) -> None:
    engine = model.engine()
    try:
        pieces = await pieces_of(engine.generate(greedy(PROMPTS[3], 24)))
    finally:
        await engine.close()
    ids = [t for p in pieces for t in p.token_ids]
    assert ids == model.solo(PROMPTS[3], 24)
    assert len(pieces) == len(ids) and all(p.finish_reason is None for p in pieces[:-1])
    last = pieces[-1]
    assert last.finish_reason in (FinishReason.MAX_NEW_TOKENS, FinishReason.END_OF_SEQUENCE)
    assert "".join(p.text for p in pieces) == model.tokenizer.tokenizer.decode(ids, skip_special_tokens=True)
    assert last.usage is not None and last.usage.completion_tokens == len(ids)
    assert last.usage.prompt_tokens == len(model.tokenizer.encode_prompt(PROMPTS[3]))


async def test_batched_greedy_equals_one_by_one(model: Model) -> None:
    engine = model.engine(max_batch_size=8)
    try:
        results = await asyncio.gather(*(collect(engine.generate(greedy(p, 20))) for p in PROMPTS))
    finally:
        await engine.close()
    for prompt, (text, ids, _) in zip(PROMPTS, results, strict=True):
        assert ids == model.solo(prompt, 20)
        assert text == model.tokenizer.tokenizer.decode(ids, skip_special_tokens=True)
    assert engine.prefills == 1  # the 8 arrived together: one prefill
    assert engine.step_rows > 2 * engine.steps  # and decoded together


async def test_a_generation_joins_a_running_batch_with_the_same_output(model: Model) -> None:
    engine = model.engine(max_batch_size=4)
    try:
        first = engine.generate(greedy(PROMPTS[7], 30))
        head = [await anext(first) for _ in range(5)]
        second = asyncio.ensure_future(collect(engine.generate(greedy(PROMPTS[0], 12))))
        rest = await pieces_of(first)
        _, second_ids, _ = await second
    finally:
        await engine.close()
    assert [t for p in head + rest for t in p.token_ids] == model.solo(PROMPTS[7], 30)
    assert second_ids == model.solo(PROMPTS[0], 12)
    assert engine.prefills == 2


async def test_stop_sequence_split_across_tokens_is_never_streamed(model: Model) -> None:
    prompt = PROMPTS[5]
    ids = model.solo(prompt, 40)
    decode = model.tokenizer.tokenizer.decode
    texts = [decode(ids[: i + 1], skip_special_tokens=True) for i in range(len(ids))]
    # a stop string made of the end of one token's text and the start of the next one's
    cut = next(
        i
        for i in range(5, len(ids) - 1)
        if len(texts[i]) > len(texts[i - 1]) and len(texts[i + 1]) > len(texts[i])
    )
    stop = texts[i := cut][-1] + texts[i + 1][len(texts[i])]
    expected = texts[-1][: texts[-1].index(stop)]
    engine = model.engine()
    try:
        pieces = await pieces_of(engine.generate(greedy(prompt, 40, stop=(stop, "never-there"))))
    finally:
        await engine.close()
    assert "".join(p.text for p in pieces) == expected
    assert pieces[-1].finish_reason is FinishReason.STOP_SEQUENCE and pieces[-1].stop_sequence == stop


async def test_seeded_sampling_is_reproducible(model: Model) -> None:
    def sample(seed: int) -> GenerationRequest:
        params = SamplingParams(max_new_tokens=16, do_sample=True, temperature=1.5, top_p=0.95, seed=seed)
        return GenerationRequest(prompt=PROMPTS[2], params=params)

    engine = model.engine()
    try:
        alone = await collect(engine.generate(sample(7)))
        together = await asyncio.gather(*(collect(engine.generate(sample(s))) for s in (7, 8, 7)))
    finally:
        await engine.close()
    assert together[0][1] == together[2][1] == alone[1]
    assert together[1][1] != alone[1]


async def test_deadline_ends_the_stream_and_frees_the_row(model: Model) -> None:
    engine = model.engine()
    try:
        with pytest.raises(DeadlineExceededError):
            await pieces_of(engine.generate(greedy(PROMPTS[1], 200), timeout_s=0))
        stream = engine.generate(greedy(PROMPTS[1], 200), timeout_s=0.5)
        with pytest.raises(DeadlineExceededError, match="deadline passed"):
            async for _ in stream:
                await asyncio.sleep(0.6)  # a slow reader: the deadline passes while it holds a piece
        for _ in range(500):
            if engine.active == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.active == 0
        _, ids, _ = await collect(engine.generate(greedy(PROMPTS[1], 3)))
        assert ids == model.solo(PROMPTS[1], 3)
    finally:
        await engine.close()


async def test_a_caller_that_goes_away_frees_its_row(model: Model) -> None:
    engine = model.engine()
    try:
        stream = engine.generate(greedy(PROMPTS[4], 200))
        await anext(stream)
        await stream.aclose()
        for _ in range(500):
            if engine.active == 0:
                break
            await asyncio.sleep(0.01)
        assert engine.active == 0
    finally:
        await engine.close()


async def test_messages_get_the_chat_template_as_transformers_applies_it(model: Model) -> None:
    messages = ROWS[5]["messages"][:3]
    reference = AutoTokenizer.from_pretrained(model.folder).apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True
    )
    reference = (
        reference["input_ids"] if isinstance(reference, dict) or hasattr(reference, "keys") else reference
    )
    chat = tuple(ChatMessage(m["role"], m["content"]) for m in messages)
    assert model.tokenizer.encode_messages(chat) == list(reference)
    engine = model.engine()
    try:
        _, _, last = await collect(
            engine.generate(GenerationRequest(messages=chat, params=SamplingParams(max_new_tokens=4)))
        )
    finally:
        await engine.close()
    assert last.usage is not None and last.usage.prompt_tokens == len(reference)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (GenerationRequest(), "prompt"),
        (
            GenerationRequest(prompt="hi", params=SamplingParams(do_sample=True, temperature=-1)),
            "config.temperature",
        ),
        (GenerationRequest(messages=(ChatMessage("robot", "hi"),)), "messages[0].role"),
        (GenerationRequest(prompt="hello " * 400), "prompt"),
    ],
)
async def test_bad_requests_name_the_field(model: Model, request_: GenerationRequest, field: str) -> None:
    engine = model.engine()
    try:
        with pytest.raises(InvalidArgumentError) as caught:
            await pieces_of(engine.generate(request_))
    finally:
        await engine.close()
    assert [v.field for v in caught.value.violations] == [field]
