"""Tiny BERT models for tests: built from a config and a vocabulary, never downloaded.

`tiny_bert(folder, vocab, task, labels)` writes a complete Hugging Face model folder, the same
shape as a real one (`config.json`, `model.safetensors`, `tokenizer.json`,
`tokenizer_config.json`), that every loader in Foundry accepts: `import_base_model`,
`load_task_model`, `AutoModelFor...from_pretrained`, `AutoTokenizer.from_pretrained`.

- `vocab`: the words of the test data (`vocab_from_texts` makes it from texts). The special
  tokens `[PAD]` (id 0), `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` come first; with `char_pieces`
  (default) every character of the words is added alone and as a `##` continuation too, so a
  word missing from the vocabulary still splits into sub-tokens instead of becoming `[UNK]`
  (useful for testing word-to-subword label alignment).
- `task`: None writes a headless `BertModel`, like an imported base model (MiniLM is one);
  a task writes `BertForTokenClassification` or `BertForSequenceClassification` with `labels`
  as its label map (`problem_type` multi-label for `MULTILABEL_CLASSIFICATION`).
- The tokenizer is a fast WordPiece tokenizer (lowercasing, BERT pre-tokenization,
  `[CLS] ... [SEP]` template), built by `transformers.BertTokenizer` from the vocabulary.
- Weights come from the config's initialisation under `torch.manual_seed(seed)`: the same
  arguments give the same bytes.

Default size: hidden 32, 2 layers, 2 heads, intermediate 64, 128 positions: about 10 k
parameters plus the embeddings, fast enough for CPU tests on 2 cores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizer,
    PreTrainedModel,
)

from foundry.runtime.examples import Example, Split, Task

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def vocab_from_texts(texts: Iterable[str], *, lowercase: bool = True) -> list[str]:
    """The distinct words and punctuation marks of `texts`, in order of first appearance."""
    seen: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(text.lower() if lowercase else text):
            seen.setdefault(word, None)
    return list(seen)


def build_vocab(words: Iterable[str], *, char_pieces: bool = True, lowercase: bool = True) -> list[str]:
    """Special tokens, then `words` (deduplicated), then single characters and `##` pieces."""
    tokens: dict[str, None] = dict.fromkeys(SPECIAL_TOKENS)
    chars: dict[str, None] = {}
    for raw in words:
        word = raw.lower() if lowercase else raw
        if not word or word.isspace():
            continue
        tokens.setdefault(word, None)
        for ch in word.removeprefix("##"):
            chars.setdefault(ch, None)
    if char_pieces:
        for ch in chars:
            tokens.setdefault(ch, None)
            tokens.setdefault(f"##{ch}", None)
    return list(tokens)


def tiny_bert_config(
    vocab_size: int,
    *,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 128,
) -> BertConfig:
    """A small BERT configuration (dropout kept at BERT's 0.1, so train/eval modes differ)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=0,
    )


def tiny_bert(
    folder: str | Path,
    vocab: Iterable[str],
    task: Task | None = None,
    labels: Sequence[str] = (),
    *,
    seed: int = 0,
    char_pieces: bool = True,
    lowercase: bool = True,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 128,
) -> Path:
    """Write a tiny BERT and its fast WordPiece tokenizer as a Hugging Face folder; return it.

    See the module docstring for what `vocab`, `task` and `labels` mean.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    tokens = build_vocab(vocab, char_pieces=char_pieces, lowercase=lowercase)
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(tokens)}, do_lower_case=lowercase)
    config = tiny_bert_config(
        len(tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _model_for(config, task, labels)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def _model_for(config: BertConfig, task: Task | None, labels: Sequence[str]) -> PreTrainedModel:
    if task is None:
        return BertModel(config)
    if not labels:
        raise ValueError("a task model needs labels")
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    if task is Task.TOKEN_CLASSIFICATION:
        return BertForTokenClassification(config)
    if task in (Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION):
        if task is Task.MULTILABEL_CLASSIFICATION:
            config.problem_type = "multi_label_classification"
        return BertForSequenceClassification(config)
    raise ValueError(f"tiny_bert builds encoders only, not {task.value}")


__all__ = ["SPECIAL_TOKENS", "build_vocab", "tiny_bert", "tiny_bert_config", "vocab_from_texts"]


def synthetic_ner_examples(
    count: int,
    *,
    people: Sequence[str],
    places: Sequence[Sequence[str]],
    templates: Sequence[Sequence[str]],
    place_stride: int = 3,
) -> list[Example]:
    """An easy NER dataset for tests: each template's "{P}" becomes a person (B-PER), each "{L}" a
    place of one or more words (B-LOC I-LOC ...); rows go 4:1:1 to train, validation and test."""
    examples = []
    for i in range(count):
        person, place = people[i % len(people)], places[(i * place_stride) % len(places)]
        tokens: list[str] = []
        tags: list[str] = []
        for word in templates[i % len(templates)]:
            if word == "{P}":
                tokens.append(person)
                tags.append("B-PER")
            elif word == "{L}":
                tokens.extend(place)
                tags.extend(["B-LOC"] + ["I-LOC"] * (len(place) - 1))
            else:
                tokens.append(word)
                tags.append("O")
        split = Split.TRAIN if i % 6 < 4 else (Split.VALIDATION if i % 6 == 4 else Split.TEST)
        examples.append(Example(id=f"ex-{i}", split=split, tokens=tokens, tags=tags))
    return examples
