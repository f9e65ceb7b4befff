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

`chat_examples(path)` reads an OpenAI-messages JSONL file (tests/fixtures/chat) into chat
examples, split 4:1:1 (for the tiny causal LMs below).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizer,
    PreTrainedModel,
)

from foundry.runtime.examples import ChatMessage, Example, Split, Task

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


__all__ = [
    "SPECIAL_TOKENS",
    "build_vocab",
    "chat_examples",
    "tiny_bert",
    "tiny_bert_config",
    "tiny_causal_lm",
    "train_bpe_tokenizer",
    "vocab_from_texts",
]

# --- chat examples ---------------------------------------------------------------------------------


def chat_examples(path: str | Path, *, split_every: int = 6) -> list[Example]:
    """The conversations of an OpenAI-messages JSONL file as chat examples; of every
    `split_every` rows, the last but one goes to validation and the last to test."""
    import json

    examples = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        position = i % split_every
        split = (
            Split.TEST
            if position == split_every - 1
            else (Split.VALIDATION if position == split_every - 2 else Split.TRAIN)
        )
        messages = [ChatMessage(m["role"], m["content"]) for m in record["messages"]]
        examples.append(Example(id=str(record.get("id", f"chat-{i}")), split=split, messages=messages))
    return examples


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


# --- tiny causal LMs (chat SFT, generation) ----------------------------------------------------

#: special tokens of the tiny causal tokenizers: end of text (also padding), the ChatML markers
CAUSAL_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: ChatML, the tiny causal models' chat template (generation stops at `<|im_end|>`)
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 400) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` trained on `texts` (every byte is a token, so any
    text encodes), with `CAUSAL_SPECIAL_TOKENS` first (ids 0, 1, 2)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(CAUSAL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    return tokenizer


def tiny_causal_lm(
    folder: str | Path,
    texts: Iterable[str],
    *,
    arch: str = "llama",
    seed: int = 0,
    vocab_size: int = 400,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 64,
    max_position_embeddings: int = 256,
) -> Path:
    """Write a tiny causal LM (`arch` "llama": LlamaForCausalLM with grouped-query attention, or
    "gpt2": GPT2LMHeadModel) with a byte-level BPE tokenizer trained on `texts`, the ChatML chat
    template and a generation config (eos: `<|im_end|>` and `<|endoftext|>`) as a Hugging Face
    folder; return it. The same arguments give the same bytes."""
    from transformers import (
        GenerationConfig,
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    bpe = train_bpe_tokenizer(texts, vocab_size)
    end_of_text, eos = bpe.token_to_id("<|endoftext|>"), bpe.token_to_id("<|im_end|>")
    ids = {"pad_token_id": end_of_text, "bos_token_id": end_of_text, "eos_token_id": eos}
    model: PreTrainedModel
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if arch == "llama":
            model = LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=bpe.get_vocab_size(),
                    hidden_size=hidden_size,
                    num_hidden_layers=num_hidden_layers,
                    num_attention_heads=num_attention_heads,
                    num_key_value_heads=num_key_value_heads,
                    intermediate_size=intermediate_size,
                    max_position_embeddings=max_position_embeddings,
                    **ids,
                )
            )
        elif arch == "gpt2":
            model = GPT2LMHeadModel(
                GPT2Config(
                    vocab_size=bpe.get_vocab_size(),
                    n_embd=hidden_size,
                    n_layer=num_hidden_layers,
                    n_head=num_attention_heads,
                    n_inner=intermediate_size,
                    n_positions=max_position_embeddings,
                    **ids,
                )
            )
        else:
            raise ValueError(f"arch must be 'llama' or 'gpt2', not {arch!r}")
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        eos_token_id=[eos, end_of_text], pad_token_id=end_of_text, bos_token_id=end_of_text
    )
    model.save_pretrained(target)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(target)
    return target
