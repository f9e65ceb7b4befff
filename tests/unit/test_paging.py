"""One page-token scheme for every List RPC."""

from __future__ import annotations

import pytest

from foundry.runtime import paging
from foundry.runtime.errors import InvalidArgumentError


def test_pages_walk_the_items_and_end_with_an_empty_token() -> None:
    items, token, seen = list(range(7)), "", []
    while True:
        page, token = paging.page(items, token, 3)
        seen.extend(page)
        if not token:
            break
    assert seen == items


def test_size_defaults_and_is_capped() -> None:
    items = list(range(paging.MAX_PAGE_SIZE + 5))
    assert len(paging.page(items, "", 0)[0]) == paging.DEFAULT_PAGE_SIZE
    assert paging.page(items, "", 10**6) == (items[: paging.MAX_PAGE_SIZE], str(paging.MAX_PAGE_SIZE))


@pytest.mark.parametrize(
    ("token", "size", "field"), [("abc", 1, "page_token"), ("-1", 1, "page_token"), ("", -1, "page_size")]
)
def test_bad_tokens_and_sizes_name_their_field(token: str, size: int, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        paging.page([1, 2], token, size)
    assert caught.value.violations[0].field == field
