"""Offset page tokens for List RPCs: one parser, one page cut, the same errors everywhere.

A page token is the decimal offset of the page's first item, opaque to callers; an empty token
is the first page and an empty next token means the last page was returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from foundry.runtime.errors import FieldViolation, InvalidArgumentError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def offset(token: str, field: str = "page_token") -> int:
    """The offset a page token stands for; INVALID_ARGUMENT naming `field` for a foreign one."""
    if token and not token.isdigit():
        raise InvalidArgumentError(
            "invalid page token", violations=[FieldViolation(field, "not a page token of ours")]
        )
    return int(token or 0)


def page(items: Sequence[T], token: str, size: int, *, field: str = "page_token") -> tuple[Sequence[T], str]:
    """The page of `items` that `token` starts and `size` bounds (0: the default, capped at
    MAX_PAGE_SIZE), and the next page's token ("" after the last page)."""
    if size < 0:
        raise InvalidArgumentError(
            "negative page size", violations=[FieldViolation("page_size", "must be >= 0")]
        )
    start = offset(token, field)
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return items[start : start + size], str(start + size) if start + size < len(items) else ""
