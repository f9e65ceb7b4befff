"""Phone numbers, found and validated by `phonenumbers` (the Python port of libphonenumber).

`PhoneNumberMatcher` with `Leniency.VALID` does the finding: the number must be a valid number
(a real numbering plan, right length, a range that is assigned) of its region, numbers in
national format are read in the default region (`default_region`, an ISO 3166 code), and
numbers with a `+` country code in any region. libphonenumber also rejects what looks like a
date (`12/05/2019`), a timestamp or a page range, and a match glued to letters.

The matcher costs 60 µs to a millisecond a text (it parses every digit group it meets), so it
runs only on windows around runs of seven or more digits, each separated from the next by at
most three of ` ().-/` (`PHONE_RUN`), with some context on either side for the matcher's own
checks (a `+` or `(` before the number, a currency sign before a price, a letter glued after
it, a time after a date).
Numbers shorter than seven digits (short codes, extensions, most local numbers) are not
detected, by design, as they cannot be told from counts, prices and years. The value pseudonyms are keyed on is the E.164 form, so that
`(415) 555-2671` and `+1 415 555 2671` get the same placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

from foundry.runtime.errors import InvalidArgumentError

Match = tuple[int, int, str]

#: fewest digits a phone number must have here
MIN_PHONE_DIGITS = 7
#: a run of seven or more digits, each separated from the next by at most three of " ().-/",
#: not starting inside a word ("Cali79 415 555 2671" gives "415 555 2671")
PHONE_RUN = re.compile(r"(?<![A-Za-z0-9])[0-9](?:[ ().\-/]{0,3}[0-9]){6,}", re.ASCII)
#: characters of context on each side of a run that the matcher sees (before it: up to the
#: nearest letter or digit, which the run does not belong to)
WINDOW_CONTEXT = 8
_DIGITS = re.compile(r"[0-9]", re.ASCII)


def check_region(region: str) -> str:
    """`region` upper-cased if libphonenumber knows it ("ZZ": international numbers only)."""
    code = region.upper()
    if code != "ZZ" and code not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidArgumentError(
            f"unknown phone region {region!r}: expected an ISO 3166 alpha-2 code such as 'US', or 'ZZ'",
            reason="INVALID_PHONE_REGION",
        )
    return code


def _context_start(text: str, start: int) -> int:
    """Where the context before a run begins: back over at most `WINDOW_CONTEXT` characters
    ("+", "(", "$", spaces, ...), stopping at a letter or digit."""
    lowest = max(0, start - WINDOW_CONTEXT)
    while start > lowest:
        previous = text[start - 1]
        if previous.isascii() and previous.isalnum():
            break
        start -= 1
    return start


def _windows(text: str) -> list[tuple[int, int]]:
    """The stretches of `text` around digit runs that may hold a phone number, merged."""
    windows: list[tuple[int, int]] = []
    for run in PHONE_RUN.finditer(text):
        start, end = _context_start(text, run.start()), run.end() + WINDOW_CONTEXT
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def find_phones(text: str, region: str) -> Iterator[Match]:
    """Valid phone numbers in `text` (national ones read in `region`); the value is E.164."""
    for window_start, window_end in _windows(text):
        window = text[window_start:window_end]
        for match in PhoneNumberMatcher(window, region, leniency=Leniency.VALID):
            if len(_DIGITS.findall(match.raw_string)) < MIN_PHONE_DIGITS:
                continue
            number = phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
            yield window_start + match.start, window_start + match.end, number
