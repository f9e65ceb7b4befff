"""The LLM client and the LLM operators against a real local HTTP server (never a patched client)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from foundry.augmentation.engine import Augmenter
from foundry.augmentation.llm_client import ChatClient, ChatOptions
from foundry.augmentation.operators import OperatorContext
from foundry.augmentation.operators.llm import SYSTEM
from foundry.augmentation.recipe import AcceptanceFilters, OperatorStep, Recipe, ResponseQualityFilter
from foundry.runtime.errors import FailedPreconditionError, UnavailableError
from foundry.runtime.examples import ChatMessage, Example, Split, Task
from helpers.augmentation import ChatServer, completion, rewriting_reply


def client(server: ChatServer, **kwargs: Any) -> ChatClient:
    options: dict[str, Any] = {"timeout_s": 5.0, "max_retries": 3, "retry_backoff_s": 0.01, **kwargs}
    return ChatClient(server.url, "test-model", api_key="k3y", **options)


def test_retries_transient_failures_then_answers() -> None:
    answers = iter(
        [(503, "overloaded", {}), (429, "slow down", {"Retry-After": "0"}), (200, completion("hi"), {})]
    )
    with ChatServer(lambda body: next(answers)).running() as server:
        assert client(server).complete([{"role": "user", "content": "hello"}], ChatOptions(seed=3)) == "hi"
    assert len(server.requests) == 3
    request = server.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k3y"
    assert request["model"] == "test-model" and request["seed"] == 3


def test_gives_up_as_unavailable_and_refusals_fail_at_once() -> None:
    with (
        ChatServer(lambda body: (500, "boom", {})).running() as server,
        pytest.raises(UnavailableError, match=r"failed 3 times.*HTTP 500"),
    ):
        client(server, max_retries=2).complete([{"role": "user", "content": "x"}])
    with (
        ChatServer(lambda body: (400, '{"error": "unknown model"}', {})).running() as server,
        pytest.raises(FailedPreconditionError, match="unknown model"),
    ):
        client(server).complete([{"role": "user", "content": "x"}])
    assert len(server.requests) == 1


def test_timeouts_are_retried_then_unavailable() -> None:
    with ChatServer(lambda body: (200, completion("late"), {}), delay_s=0.5).running() as server:
        started = time.perf_counter()
        with pytest.raises(UnavailableError, match="Timeout"):
            client(server, timeout_s=0.1, max_retries=1).complete([{"role": "user", "content": "x"}])
        assert time.perf_counter() - started < 5
    assert len(server.requests) == 2


def test_concurrency_is_limited_and_order_kept() -> None:
    def echo(body: dict[str, Any]) -> Any:
        return 200, completion(body["messages"][-1]["content"].upper()), {}

    with ChatServer(echo, delay_s=0.05).running() as server:
        replies = client(server, max_concurrency=3).complete_many(
            [[{"role": "user", "content": f"m{i}"}] for i in range(12)]
        )
    assert replies == [f"M{i}" for i in range(12)]
    assert 1 < server.max_in_flight <= 3


def chat_examples() -> list[Example]:
    return [
        Example(
            id=f"c{i}",
            split=Split.TRAIN,
            messages=[
                ChatMessage("system", "You are helpful."),
                ChatMessage("user", question),
                ChatMessage("assistant", f"A thorough answer about {question.lower()} with details."),
            ],
        )
        for i, question in enumerate(
            ["Explain photosynthesis", "How do vaccines work?", "Summarize the French revolution"]
        )
    ]


def run(recipe: Recipe, server: ChatServer, examples: list[Example], task: Task) -> Any:
    context = OperatorContext(llm=client(server))
    return Augmenter(recipe, recipe.build(task, context)).run(examples)


def test_instruction_evolution_end_to_end_with_regenerated_replies_and_provenance() -> None:
    recipe = Recipe(
        operators=(OperatorStep("instruction_evolution", {"temperature": 0.0}),),
        multiplier=2,
        seed=5,
        acceptance=AcceptanceFilters(response_quality=ResponseQualityFilter(min_response_chars=20)),
    )
    with ChatServer(rewriting_reply).running() as server:
        result = run(recipe, server, chat_examples(), Task.CHAT)
        again = run(recipe, server, chat_examples(), Task.CHAT)
    assert [e.messages for e in result.created] == [e.messages for e in again.created]
    assert len(result.created) == 6
    for new in result.created:
        messages = new.messages or []
        assert [m.role for m in messages] == ["system", "user", "assistant"]
        assert messages[1].content.endswith("Explain each step and give two examples.")
        assert messages[2].content.startswith("Here is a careful answer to:")
        assert new.provenance.operation == "augment:instruction_evolution"
        assert new.provenance.parent_ids[0] in {"c0", "c1", "c2"}
        assert new.meta["augment.method"]
    step = result.reports[0]
    assert step["counters"]["responses_regenerated"] == 6


def test_response_quality_filter_drops_refusals_and_echoes() -> None:
    def refusing(body: dict[str, Any]) -> Any:
        if body["messages"][0]["content"] == SYSTEM:
            return rewriting_reply(body)
        prompt = body["messages"][-1]["content"]
        reply = "I'm sorry, but I can't help with that." if "photosynthesis" in prompt else prompt
        return 200, completion(reply), {}

    recipe = Recipe(
        operators=(OperatorStep("instruction_paraphrase", {"regenerate_response": True}),),
        max_attempts=1,
        acceptance=AcceptanceFilters(response_quality=ResponseQualityFilter()),
    )
    with ChatServer(refusing).running() as server:
        result = run(recipe, server, chat_examples(), Task.CHAT)
    assert result.created == []
    assert result.acceptance.drop_reasons["refusal"] == 1
    assert result.acceptance.drop_reasons["echo"] == 2


def test_paraphrase_and_back_translation_keep_labels() -> None:
    texts = [
        Example(id=f"t{i}", split=Split.TRAIN, text=t, label=label)
        for i, (t, label) in enumerate([("Great food", "pos"), ("Awful service", "neg")])
    ]
    recipe = Recipe(
        operators=(OperatorStep("paraphrase"), OperatorStep("back_translation", {"pivot_language": "French"}))
    )
    with ChatServer(rewriting_reply).running() as server:
        result = run(recipe, server, texts, Task.TEXT_CLASSIFICATION)
        prompts = [r["messages"][-1]["content"] for r in server.requests]
    assert [(e.text, e.label) for e in result.created] == [
        ("In other words: great food (translated) (translated)", "pos"),
        ("In other words: awful service (translated) (translated)", "neg"),
    ]
    assert any("into French" in p for p in prompts) and any("into English" in p for p in prompts)
    assert all(e.provenance.operation == "augment:paraphrase+back_translation" for e in result.created)


def test_llm_operator_without_endpoint_is_failed_precondition() -> None:
    with pytest.raises(FailedPreconditionError, match="FOUNDRY_LLM_BASE_URL"):
        Recipe(operators=(OperatorStep("paraphrase"),)).build(Task.TEXT_CLASSIFICATION, OperatorContext())
