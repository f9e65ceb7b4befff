"""Checks of the examples a caller sends inline (PreviewAugment's `examples`): they did not come
through ingestion's validation, so what the operators rely on is checked here and a bad example
is INVALID_ARGUMENT naming its field (`examples[2].tags[5]`), before any operator runs."""

from __future__ import annotations

from collections.abc import Sequence

from foundry.domain.tags import TagError, parse_tag
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Task


def check_inline(examples: Sequence[Example], task: Task) -> None:
    """Raise `InvalidArgumentError` for the first inline example the operators cannot take."""
    for i, example in enumerate(examples):
        if task is Task.TOKEN_CLASSIFICATION:
            _check_tokens(example, f"examples[{i}]")


def _check_tokens(example: Example, where: str) -> None:
    tokens, tags = example.tokens or [], example.tags or []
    if not tokens:
        raise _invalid(f"{where}.tokens", "a token-classification example needs its tokens")
    if len(tags) != len(tokens):
        raise _invalid(f"{where}.tags", f"{len(tokens)} tokens but {len(tags)} tags")
    for j, tag in enumerate(tags):
        try:
            parse_tag(tag, j)
        except TagError as exc:
            raise _invalid(f"{where}.tags[{j}]", str(exc)) from None


def _invalid(field: str, description: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        "an inline example is not valid",
        reason="INVALID_EXAMPLE",
        violations=[FieldViolation(field, description)],
    )
