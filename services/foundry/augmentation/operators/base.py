"""The one contract every augmentation operator follows, its counts, and what it may use.

An operator takes a batch of candidate `Example`s and returns a batch of the same length and
order: each item is either a new example (the operator changed it) or the very same object (it
could not: no mention to replace, no synonym known, ...). Randomness comes only from the seeded
numpy `Generator` it is given, so the same batch with the same generator gives the same output.
`prepare` sees the whole source set once before any batch, to build inventories (mentions per
type, tokens per tag, templates) in one pass. Operators know nothing of gRPC or storage
(datatrove's `PipelineStep`); what they need from outside (synonyms, a model, an LLM endpoint)
comes in an `OperatorContext`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from foundry.runtime.examples import Example, Task


class Family(StrEnum):
    RULE = "rule"
    MODEL = "model"
    LLM = "llm"


class Params(BaseModel):
    """Base of every operator's parameters: unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class OperatorReport:
    """Counts of one operator in a recipe run."""

    step: str
    #: candidates the operator was applied to (after its probability)
    applied: int = 0
    #: candidates it changed
    changed: int = 0
    #: accepted new examples it took part in
    created: int = 0
    wall_time_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rows_in": self.applied,
            "rows_out": self.applied,
            "rows_modified": self.changed,
            "rows_created": self.created,
            "drop_reasons": {},
            "counters": dict(sorted({**self.counters, "unchanged": self.applied - self.changed}.items())),
            "violations": [],
            "wall_time_s": round(self.wall_time_s, 6),
        }


@dataclass
class OperatorContext:
    """What operators may use beyond their batch; each field is built lazily by the core."""

    #: synonyms(source, params) -> a SynonymSource (see `foundry.augmentation.synonyms`)
    synonyms: Callable[..., Any] | None = None
    #: a `ChatClient` for the configured OpenAI-compatible endpoint, or None when not configured
    llm: Any = None
    #: base_model(name) -> a local Hugging Face folder (verified from the object store)
    base_model: Callable[[str], Any] | None = None


P = TypeVar("P", bound=Params)


class Operator(ABC, Generic[P]):
    """Base of every operator: class attributes describe it; `apply` does the work."""

    name: ClassVar[str]
    description: ClassVar[str]
    tasks: ClassVar[frozenset[Task]]
    family: ClassVar[Family] = Family.RULE
    params_type: ClassVar[type[Params]] = Params

    def __init__(self, params: P, context: OperatorContext) -> None:
        self.params = params
        self.context = context
        self.report = OperatorReport(self.name)

    @classmethod
    def available(cls, context: OperatorContext) -> bool:
        """Whether the operator can run on this server now."""
        return True

    def prepare(self, examples: Sequence[Example]) -> None:
        """See every source example once (inventories); default: nothing to prepare."""
        return None

    @abstractmethod
    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        """The batch, each item a new example or the same object when unchanged."""

    def apply(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        """`transform`, counted and timed."""
        started = time.perf_counter()
        out = self.transform(batch, rng)
        self.report.wall_time_s += time.perf_counter() - started
        self.report.applied += len(batch)
        self.report.changed += sum(1 for a, b in zip(batch, out, strict=True) if a is not b)
        return out


class Draws:
    """Uniform floats in [0, 1) drawn from a generator in blocks, handed out one at a time
    (numpy's per-call overhead would dominate token-level loops)."""

    __slots__ = ("_block", "_buffer", "_i", "_rng")

    def __init__(self, rng: np.random.Generator, block: int = 4096) -> None:
        self._rng = rng
        self._block = block
        self._buffer: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buffer):
            self._buffer = self._rng.random(self._block).tolist()
            self._i = 0
        value = self._buffer[self._i]
        self._i += 1
        return value

    def index(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        return min(int(self() * n), n - 1)

    def shuffle(self, items: list[Any]) -> None:
        """Fisher-Yates in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self.index(i + 1)
            items[i], items[j] = items[j], items[i]
