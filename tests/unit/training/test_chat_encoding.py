"""Chat templates and assistant-only labels, on real conversations (tests/fixtures/chat): the
rendering equals transformers' `apply_chat_template`, and every token outside the assistant
spans is ignored, token by token."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from transformers import PreTrainedTokenizerBase

from foundry.domain.chattemplates import NAMED_TEMPLATES, ChatTemplate, resolve_template
from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Split, Task
from foundry.training.chat.encode import ChatEncoder
from foundry.training.data.labels import IGNORE_INDEX
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.models import load_tokenizer
from foundry.training.spec import BaseModelRef, CausalLmOptions, DatasetRef, JobSpec
from helpers.training_models import chat_examples, tiny_causal_lm

FIXTURE = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
EXAMPLES = chat_examples(FIXTURE)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    texts = [m.content for e in EXAMPLES for m in e.messages or ()]
    return load_tokenizer(tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", texts))


def as_dicts(messages: list[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def test_fixture_holds_a_few_dozen_real_conversations_with_every_shape() -> None:
    assert len(EXAMPLES) == 60
    turns = {len(e.messages or ()) for e in EXAMPLES}
    assert turns == {2, 3, 4}  # single turn, with a system prompt, two turns
    assert {e.split for e in EXAMPLES} == {Split.TRAIN, Split.VALIDATION, Split.TEST}


@pytest.mark.parametrize("name", ["", "chatml", "zephyr"])
def test_rendering_equals_transformers_apply_chat_template(
    tokenizer: PreTrainedTokenizerBase, name: str
) -> None:
    template = resolve_template(tokenizer, name=name)
    tokenizer_copy = tokenizer  # apply_chat_template with the same source
    for example in EXAMPLES[:12]:
        messages = as_dicts(example.messages or [])
        expected = tokenizer_copy.apply_chat_template(messages, chat_template=template.source, tokenize=False)
        assert template.render(example.messages or []).text == expected
        prompt = tokenizer_copy.apply_chat_template(
            messages[:1], chat_template=template.source, tokenize=False, add_generation_prompt=True
        )
        assert template.prompt((example.messages or [])[:1]) == prompt


def test_assistant_spans_hold_each_answer_and_its_end_of_turn_marker(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    template = resolve_template(tokenizer)  # the tokenizer's own: ChatML
    assert template.origin == "tokenizer" and template.end_of_turn == "<|im_end|>"
    for example in EXAMPLES:
        messages = example.messages or []
        rendered = template.render(messages)
        answers = [m.content for m in messages if m.role == "assistant"]
        assert [rendered.text[a:b] for a, b in rendered.assistant_spans] == [
            f"{a}<|im_end|>" for a in answers
        ]


@pytest.mark.parametrize("last_turn_only", [False, True])
def test_every_prompt_token_is_ignored_and_every_answer_token_trained(
    tokenizer: PreTrainedTokenizerBase, last_turn_only: bool
) -> None:
    template = resolve_template(tokenizer, last_turn_only=last_turn_only)
    info = TokenizerInfo.of(tokenizer)
    split = ChatEncoder(template, info).encode(EXAMPLES, 1024)
    assert split.task is Task.CHAT and split.num_rows == len(EXAMPLES) and not split.truncated.any()
    checked_prompt = checked_answer = 0
    for row, example in enumerate(EXAMPLES):
        rendered = template.render(example.messages or [])
        encoding = info.backend.encode(rendered.text, add_special_tokens=False)
        ids, labels = split.row(row), split.labels[split.offsets[row] : split.offsets[row + 1]]
        assert ids.tolist() == encoding.ids
        for token, label, (start, end) in zip(ids, labels, encoding.offsets, strict=True):
            inside = any(a <= start and end <= b for a, b in rendered.assistant_spans)
            outside = all(end <= a or start >= b for a, b in rendered.assistant_spans)
            assert inside or outside, f"token {start}:{end} straddles an assistant span"
            if inside:
                assert label == token
                checked_answer += 1
            else:
                assert label == IGNORE_INDEX, f"prompt token {rendered.text[start:end]!r} has a label"
                checked_prompt += 1
        trained = tokenizer.decode(ids[labels != IGNORE_INDEX].tolist())
        turns = [m.content for m in example.messages or [] if m.role == "assistant"]
        expected_turns = turns[-1:] if last_turn_only else turns
        assert trained == "".join(f"{t}<|im_end|>" for t in expected_turns)
    assert checked_prompt > 3 * checked_answer > 0


def test_default_system_prompt_is_prepended_only_where_none_is_given(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    template = resolve_template(tokenizer, default_system_prompt="Be terse.")
    with_system = next(e for e in EXAMPLES if (e.messages or [])[0].role == "system")
    without = next(e for e in EXAMPLES if (e.messages or [])[0].role != "system")
    assert template.render(without.messages or []).text.startswith("<|im_start|>system\nBe terse.<|im_end|>")
    assert "Be terse." not in template.render(with_system.messages or []).text


def test_long_conversations_are_truncated_and_counted(tokenizer: PreTrainedTokenizerBase) -> None:
    split = ChatEncoder(resolve_template(tokenizer), TokenizerInfo.of(tokenizer)).encode(EXAMPLES, 24)
    assert int(split.lengths.max()) == 24 and split.truncated.sum() > 0
    assert split.stats().num_truncated_tokens == int(split.truncated.sum())
    assert split.subset([0, 3]).num_rows == 2 and split.subset([0, 3]).labels.size == int(
        split.lengths[[0, 3]].sum()
    )


def test_bad_templates_and_conversations_are_refused_with_the_field(
    tokenizer: PreTrainedTokenizerBase,
) -> None:
    with pytest.raises(FailedPreconditionError, match=re.escape("<|start_header_id|>")) as missing:
        resolve_template(tokenizer, name="llama-3")
    assert missing.value.violations[0].field == "causal_lm.chat_template_name"
    with pytest.raises(InvalidArgumentError, match="not valid Jinja"):
        resolve_template(tokenizer, template="{% for m in messages %}")
    with pytest.raises(InvalidArgumentError) as unknown:
        JobSpec(
            Task.CHAT, BaseModelRef("imported", "lm"), DatasetRef("chat"), causal_lm=_options("vicuna")
        ).check()
    assert [v.field for v in unknown.value.violations] == ["causal_lm.chat_template_name"]
    reordering = ChatTemplate(  # renders the last message first: not prefix by prefix
        source="{% for m in messages|reverse %}{{ m['content'] }};{% endfor %}", origin="spec"
    )
    conversation = (EXAMPLES[2].messages or [])[:4]
    with pytest.raises(FailedPreconditionError, match="prefix by prefix"):
        reordering.render(conversation)
    encoder = ChatEncoder(resolve_template(tokenizer), TokenizerInfo.of(tokenizer))
    user_only = Example(id="q", messages=[ChatMessage("user", "hello?")])
    with pytest.raises(FailedPreconditionError, match="no assistant turn"):
        encoder.encode([user_only], 64)


def test_named_templates_are_the_well_known_ones() -> None:
    assert set(NAMED_TEMPLATES) == {"chatml", "llama-3", "zephyr"}
    llama3 = ChatTemplate(
        NAMED_TEMPLATES["llama-3"].source, "named:llama-3", {"bos_token": "<|begin_of_text|>"}
    )
    rendered = llama3.render([ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!")])
    assert rendered.text == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
    )
    assert [rendered.text[a:b] for a, b in rendered.assistant_spans] == ["Hello!<|eot_id|>"]


def _options(name: str) -> CausalLmOptions:
    return CausalLmOptions(chat_template_name=name)


def test_labels_column_survives_the_cache_format(tokenizer: PreTrainedTokenizerBase) -> None:
    from foundry.training.data.encoded import EncodedSplit

    split = ChatEncoder(resolve_template(tokenizer), TokenizerInfo.of(tokenizer)).encode(EXAMPLES[:10], 256)
    back, meta = EncodedSplit.from_npz(split.to_npz({"k": 1}))
    assert meta == {"k": 1} and back.task is Task.CHAT
    assert np.array_equal(back.labels, split.labels) and np.array_equal(back.input_ids, split.input_ids)
