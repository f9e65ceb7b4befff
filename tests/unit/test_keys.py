"""Object key validation: what is accepted, what is refused, and that the error names the key."""

from __future__ import annotations

import pytest

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.keys import MAX_KEY_BYTES, key_problem, validate_bucket, validate_key, validate_prefix

GOOD = [
    "a",
    "datasets/wnut17/shards/abc.parquet",
    "a/b/c.d",
    "dots.in.names/..hidden/x..y",
    "ünïcödé/文字/🙂",
    "with space/and-dash_underscore=eq+plus",
    "x" * MAX_KEY_BYTES,
    "é" * (MAX_KEY_BYTES // 2),
]

BAD = {
    "": "empty",
    "/abs/path": "leading '/'",
    "a//b": "empty segments",
    "a/": "empty segments",
    "a/../b": "'..'",
    "..": "'..'",
    "../escape": "'..'",
    "a/./b": "'.'",
    ".": "'.'",
    "a\\b": "backslash",
    "tab\there": "control",
    "new\nline": "control",
    "nul\x00": "control",
    "del\x7f": "control",
    "c1\x85": "control",
    "x" * (MAX_KEY_BYTES + 1): "at most 1024",
    "é" * (MAX_KEY_BYTES // 2 + 1): "at most 1024",
    "lone\ud800surrogate": "UTF-8",
}


@pytest.mark.parametrize("key", GOOD)
def test_good_keys_pass_unchanged(key: str) -> None:
    assert key_problem(key) is None
    assert validate_key(key) == key


@pytest.mark.parametrize(("key", "why"), list(BAD.items()))
def test_bad_keys_are_refused_naming_the_key(key: str, why: str) -> None:
    problem = key_problem(key)
    assert problem is not None and why in problem
    with pytest.raises(InvalidArgumentError) as caught:
        validate_key(key)
    # named in full when short; a long key only by its start (no request is echoed at full size)
    assert repr(key)[:400] in caught.value.message and len(caught.value.message) < 600
    assert caught.value.reason == "INVALID_OBJECT_KEY"
    assert caught.value.violations[0].field == "key"


def test_prefixes_may_be_empty_or_end_with_a_slash() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("datasets/") == "datasets/"
    assert validate_prefix("datasets/wn") == "datasets/wn"
    for bad in ("/", "a//", "../", "/x/"):
        with pytest.raises(InvalidArgumentError):
            validate_prefix(bad)


def test_a_bucket_name_is_checked_before_use() -> None:
    assert validate_bucket("my-data.2024") == "my-data.2024"
    for bad in ("˷ᔆ", "A", "ab", "a..b", "-ab"):
        with pytest.raises(InvalidArgumentError) as err:
            validate_bucket(bad)
        assert err.value.violations[0].field == "bucket"
