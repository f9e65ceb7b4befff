"""Chat datasets round-trip through ingestion (OpenAI messages, ShareGPT, Alpaca) against a real
S3 server: every conversation comes back as it went in, PII in any message is masked, the
statistics count turns and prompt / response lengths in tokens of an imported base model's
tokenizer, and de-duplication works on the prompt and on the whole conversation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foundry.domain.base_models import import_base_model
from foundry.domain.dedup.content import ChatDedupScope
from foundry.domain.formats import Format, SourceSpec
from foundry.domain.textnorm import NormalizationOptions, TextNormalizer
from foundry.ingestion.core import IngestionCore, IngestSpec
from foundry.ingestion.options import (
    ConflictPolicy,
    DedupOptions,
    IngestRecipe,
    PiiOptions,
    StatisticsOptions,
)
from foundry.ingestion.settings import IngestionSettings
from foundry.runtime.datasets import iter_examples
from foundry.runtime.errors import NotFoundError
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training.models import load_tokenizer
from helpers.training_models import chat_examples, tiny_causal_lm

FIXTURES = Path(__file__).parents[2] / "fixtures" / "chat"
EXAMPLES = chat_examples(FIXTURES / "wnut17_chat.jsonl")
#: what ingestion's default normalization makes of a message (NFC, whitespace; newlines kept)
NORMALIZE = TextNormalizer(NormalizationOptions(), keep_newlines=True)


def normalized(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(role, NORMALIZE(content)) for role, content in messages]


@pytest.fixture
def tokenizer_model(store: ObjectStore, tmp_path: Path) -> Path:
    texts = [m.content for e in EXAMPLES for m in e.messages or ()]
    folder = tiny_causal_lm(tmp_path / "tiny-lm", texts, seed=2)
    import_base_model(store, "tiny-lm", folder, source="tests")
    return folder


def ingest(
    store: ObjectStore,
    settings: Settings,
    name: str,
    file: str,
    fmt: Format,
    recipe: IngestRecipe,
    data: bytes = b"",
) -> object:
    key = f"uploads/{name}/{file}"
    store.put_bytes(key, data or (FIXTURES / file).read_bytes())
    spec = IngestSpec(name, Task.CHAT, SourceSpec(format=fmt, file_name=file), recipe)
    return IngestionCore(store, IngestionSettings(**settings.model_dump())).import_object(spec, "", key)


def conversations(store: ObjectStore, outcome: object) -> dict[str, list[tuple[str, str]]]:
    manifest = outcome.manifest  # type: ignore[attr-defined]
    return {
        " | ".join(m.content for m in e.messages or [] if m.role == "user"): [
            (m.role, m.content) for m in e.messages or []
        ]
        for e in iter_examples(store, manifest)
    }


def test_openai_chat_round_trips_with_statistics_in_tokens(
    store: ObjectStore, settings: Settings, tokenizer_model: Path
) -> None:
    recipe = IngestRecipe(statistics=StatisticsOptions(tokenizer="tiny-lm"))
    outcome = ingest(store, settings, "chat-openai", "wnut17_chat.jsonl", Format.CHAT_OPENAI, recipe)
    manifest = outcome.manifest  # type: ignore[attr-defined]
    assert manifest.task is Task.CHAT and sum(manifest.split_counts.values()) == len(EXAMPLES)
    back = conversations(store, outcome)
    for example in EXAMPLES:
        messages = normalized([(m.role, m.content) for m in example.messages or []])
        key = " | ".join(c for r, c in messages if r == "user")
        assert back[key] == messages
    tokenizer = load_tokenizer(tokenizer_model)
    splits = manifest.statistics["splits"]
    chat = [s["chat"] for s in splits]
    assert all(c["prompt_length"]["unit"] == "LENGTH_UNIT_TOKENS" for c in chat)
    assert all(c["response_length"]["tokenizer"] == "tiny-lm" for c in chat)
    assert sum(c["turns"]["count"] for c in chat) == len(EXAMPLES)
    responses = [
        len(tokenizer(m.content, add_special_tokens=False)["input_ids"])
        for e in EXAMPLES
        for m in [[m for m in e.messages or [] if m.role == "assistant"][-1]]
    ]
    assert max(c["response_length"]["max"] for c in chat) == max(responses)
    assert min(c["response_length"]["min"] for c in chat) == min(responses)
    assert sum(c["role_counts"]["assistant"] for c in chat) == sum(
        1 for e in EXAMPLES for m in e.messages or [] if m.role == "assistant"
    )


def test_sharegpt_and_alpaca_round_trip(store: ObjectStore, settings: Settings) -> None:
    shared = ingest(
        store, settings, "chat-sharegpt", "wnut17_sharegpt.jsonl", Format.CHAT_SHAREGPT, IngestRecipe()
    )
    back = conversations(store, shared)
    for example in EXAMPLES[:12]:
        messages = normalized([(m.role, m.content) for m in example.messages or []])
        assert back[" | ".join(c for r, c in messages if r == "user")] == messages
    alpaca = ingest(store, settings, "chat-alpaca", "wnut17_alpaca.jsonl", Format.CHAT_ALPACA, IngestRecipe())
    records = [json.loads(line) for line in (FIXTURES / "wnut17_alpaca.jsonl").read_text().splitlines()]
    got = conversations(store, alpaca)
    for record in records:
        prompt = NORMALIZE(f"{record['instruction']}\n\n{record['input']}")
        assert got[prompt] == [("user", prompt), ("assistant", NORMALIZE(record["output"]))]


def test_pii_is_masked_and_duplicates_found_on_prompt_and_conversation(
    store: ObjectStore, settings: Settings
) -> None:
    base = [json.loads(line) for line in (FIXTURES / "wnut17_chat.jsonl").read_text().splitlines()[:10]]
    same_prompt = json.loads(json.dumps(base[1]))
    same_prompt["id"], same_prompt["messages"][-1]["content"] = "other-answer", "something else"
    exact_copy = json.loads(json.dumps(base[4]))
    exact_copy["id"] = "copy"
    leaky = {
        "id": "pii",
        "messages": [
            {"role": "user", "content": "Mail me at jane.doe@example.com please"},
            {"role": "assistant", "content": "Sure, jane.doe@example.com noted."},
        ],
    }
    data = "\n".join(json.dumps(r) for r in [*base, same_prompt, exact_copy, leaky]).encode()
    near_off = DedupOptions(near=False)
    whole = ingest(
        store, settings, "chat-dedup-conv", "c.jsonl", Format.CHAT_OPENAI,
        IngestRecipe(dedup=near_off, pii=PiiOptions(enabled=True)), data,
    )  # fmt: skip
    rows = list(iter_examples(store, whole.manifest))  # type: ignore[attr-defined]
    assert len(rows) == 12  # the exact copy went; the same prompt with another answer stayed
    masked = next(r for r in rows if (r.messages or [])[0].content.startswith("Mail me at"))
    assert all("jane.doe@example.com" not in m.content for m in masked.messages or [])
    assert all("example.com" not in m.content for r in rows for m in r.messages or [])
    by_prompt = ingest(
        store, settings, "chat-dedup-prompt", "c.jsonl", Format.CHAT_OPENAI,
        IngestRecipe(dedup=DedupOptions(near=False, chat_scope=ChatDedupScope.PROMPT)), data,
    )  # fmt: skip
    # the answers are what prompt duplicates must agree on: by default two answers to one prompt
    # are a label conflict, reported and kept; a dropping policy keeps one
    assert len(list(iter_examples(store, by_prompt.manifest))) == 12  # type: ignore[attr-defined]
    assert by_prompt.manifest.statistics["duplicates"]["label_conflict_groups"] == 1  # type: ignore[attr-defined]
    one_answer = ingest(
        store, settings, "chat-dedup-prompt-one", "c.jsonl", Format.CHAT_OPENAI,
        IngestRecipe(dedup=DedupOptions(
            near=False, chat_scope=ChatDedupScope.PROMPT, conflict_policy=ConflictPolicy.KEEP_MAJORITY
        )), data,
    )  # fmt: skip
    assert len(list(iter_examples(store, one_answer.manifest))) == 11  # type: ignore[attr-defined]


def test_an_unknown_tokenizer_is_refused_naming_the_field(store: ObjectStore, settings: Settings) -> None:
    recipe = IngestRecipe(statistics=StatisticsOptions(tokenizer="no-such-model"))
    with pytest.raises(NotFoundError) as error:
        ingest(store, settings, "chat-bad", "wnut17_chat.jsonl", Format.CHAT_OPENAI, recipe)
    assert error.value.violations[0].field == "recipe.statistics.tokenizer"
