"""Packing keeps attention inside each conversation: a packed batch gives every token the same
logits as its conversation run alone (Llama and GPT-2), while the same packed tokens under a
plain causal mask do not; loss targets never cross a conversation boundary."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from foundry.domain.chattemplates import resolve_template
from foundry.runtime.examples import Task
from foundry.training.chat.encode import ChatEncoder
from foundry.training.chat.model import load_causal_lm
from foundry.training.chat.packing import block_causal_mask, pack_rows
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.models import load_tokenizer
from helpers.training_models import chat_examples, tiny_causal_lm

FIXTURE = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
EXAMPLES = chat_examples(FIXTURE)[:12]


def encoded(folder: Path) -> tuple[EncodedSplit, TokenizerInfo]:
    tokenizer = load_tokenizer(folder)
    info = TokenizerInfo.of(tokenizer)
    return ChatEncoder(resolve_template(tokenizer), info).encode(EXAMPLES, 256), info


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def model_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [m.content for e in chat_examples(FIXTURE) for m in e.messages or ()]
    return tiny_causal_lm(tmp_path_factory.mktemp(request.param) / "lm", texts, arch=request.param, seed=3)


def test_first_fit_decreasing_fills_sequences_without_overflow() -> None:
    lengths = np.array([90, 60, 50, 40, 30, 20, 10])
    sequence, start, count = pack_rows(lengths, 100)
    assert count == 3
    for s in range(count):
        rows = np.flatnonzero(sequence == s)
        spans = sorted((int(start[r]), int(start[r] + lengths[r])) for r in rows)
        assert spans[0][0] == 0 and spans[-1][1] <= 100
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # side by side, no gaps
    with pytest.raises(ValueError, match="does not fit"):
        pack_rows([101], 100)


def test_block_causal_mask_allows_exactly_earlier_tokens_of_the_same_conversation() -> None:
    mask = block_causal_mask(np.array([[0, 0, 1, 1, 1, -1]]))[0, 0]
    allowed = (mask == 0).int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],  # padding attends to itself only
    ]


def test_packed_logits_equal_each_conversation_alone(model_folder: Path) -> None:
    split, info = encoded(model_folder)
    rows = np.arange(split.num_rows)
    model = load_causal_lm(model_folder)
    model.train(False)
    packed = Collator(split, info, pack_length=256)(rows)
    single = Collator(split, info)(rows)
    assert packed.input_ids.shape[0] < single.input_ids.shape[0]  # fewer, fuller sequences
    assert packed.attention_mask.dim() == 4 and packed.position_ids is not None
    assert packed.num_tokens == single.num_tokens == int(split.lengths.sum())
    assert packed.num_label_tokens == single.num_label_tokens > 0
    with torch.no_grad():
        packed_logits = model(**packed.model_inputs()).logits
        single_logits = model(**single.model_inputs()).logits
        plain = model(input_ids=packed.input_ids).logits  # packed tokens, one causal mask
    sequence, start, _ = pack_rows(split.lengths, 256)
    worst = crossed = 0.0
    for row in rows:
        n, s, c = int(split.lengths[row]), int(sequence[row]), int(start[row])
        alone = single_logits[row, :n]
        worst = max(worst, float((packed_logits[s, c : c + n] - alone).abs().max()))
        crossed = max(crossed, float((plain[s, c : c + n] - alone).abs().max()))
        assert torch.equal(packed.labels[s, c : c + n], single.labels[row, :n])
        assert torch.equal(packed.position_ids[s, c : c + n], torch.arange(n))
    assert worst < 1e-4
    assert crossed > 1e-2  # without the block mask the conversations do see each other


def test_targets_are_shifted_per_conversation(model_folder: Path) -> None:
    split, info = encoded(model_folder)
    batch = Collator(split, info, pack_length=256)(np.arange(split.num_rows))
    sequence, start, _ = pack_rows(split.lengths, 256)
    for row in range(split.num_rows):
        n, s, c = int(split.lengths[row]), int(sequence[row]), int(start[row])
        labels = split.labels[split.offsets[row] : split.offsets[row + 1]]
        targets = batch.labels[s, c : c + n].numpy()
        assert np.array_equal(targets[:-1], labels[1:])
        assert targets[-1] == IGNORE_INDEX  # the last token of a conversation predicts nothing
    assert split.task is Task.CHAT
