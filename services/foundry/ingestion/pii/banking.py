"""Detectors of payment card numbers and IBANs; each candidate must pass its checksum.

Payment cards: a run of digit groups separated by single spaces or dashes (`4111 1111 1111
1111`, `3782-822463-10005`, `4111111111111111`), not glued to letters, digits or a decimal
point (a last group glued to a word, `... 1111 10am`, is left out). Within a run, the longest stretch of whole groups (leftmost first) that holds 13 to 19
digits, passes Luhn and starts with a known issuer prefix of a length that issuer uses is a
card; the rest of the run is left alone (a card followed by a year, `... 1111 2025`, is still
found). A random digit string passes Luhn one time in ten; the prefix and length table turns
most of the remainder away (an 18-digit number starting with 4 is never a Visa card).

IBAN: two letters, two check digits, then the BBAN in any case, with or without single spaces
(`DE89 3704 0044 0532 0130 00`, `GB82WEST12345698765432`). The country fixes the length
(SWIFT's IBAN registry, 89 countries); the candidate is cut at that length, must end there
(not followed by a letter or digit), and must pass ISO 7064 MOD 97-10 (random strings pass
one time in 97).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

from foundry.ingestion.pii.checksums import iban_mod97_valid, luhn_valid

Match = tuple[int, int, str]

# --- Payment cards -----------------------------------------------------------------------------------

#: (lowest prefix, highest prefix, lengths): issuer identification number ranges
_CARD_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset({13, 16, 19})),  # Visa
    ("51", "55", frozenset({16})),  # Mastercard
    ("2221", "2720", frozenset({16})),  # Mastercard 2-series
    ("34", "34", frozenset({15})),  # American Express
    ("37", "37", frozenset({15})),  # American Express
    ("6011", "6011", frozenset(range(16, 20))),  # Discover
    ("644", "649", frozenset(range(16, 20))),  # Discover
    ("65", "65", frozenset(range(16, 20))),  # Discover, RuPay
    ("3528", "3589", frozenset(range(16, 20))),  # JCB
    ("300", "305", frozenset(range(14, 20))),  # Diners Club International
    ("36", "36", frozenset(range(14, 20))),  # Diners Club International
    ("38", "39", frozenset(range(16, 20))),  # Diners Club
    ("62", "62", frozenset(range(16, 20))),  # UnionPay
    ("2200", "2204", frozenset(range(16, 20))),  # Mir
    ("50", "50", frozenset(range(12, 20))),  # Maestro
    ("56", "59", frozenset(range(12, 20))),  # Maestro
    ("60", "60", frozenset(range(16, 20))),  # RuPay, Maestro
    ("63", "63", frozenset(range(12, 20))),  # Maestro
    ("67", "67", frozenset(range(12, 20))),  # Maestro
)

#: the first digits of every range above
_ISSUER_FIRST_DIGITS = frozenset(low[0] for low, _, _ in _CARD_RANGES)

MIN_CARD_DIGITS = 13
MAX_CARD_DIGITS = 19

#: digit groups joined by single spaces or dashes, not preceded by a word char, dot or comma
_DIGIT_RUN = re.compile(r"(?<![\w.,-])[0-9]+(?:[ -][0-9]+)*", re.ASCII)
_GROUP = re.compile(r"[0-9]+", re.ASCII)


def _expand_ranges() -> dict[str, frozenset[int]]:
    """Every prefix of every range, written out ("2221" ... "2720"), with the lengths it allows."""
    table: dict[str, set[int]] = {}
    for low, high, lengths in _CARD_RANGES:
        for value in range(int(low), int(high) + 1):
            table.setdefault(str(value).zfill(len(low)), set()).update(lengths)
    return {prefix: frozenset(lengths) for prefix, lengths in table.items()}


_ISSUER_LENGTHS = _expand_ranges()
_EMPTY: frozenset[int] = frozenset()


def _known_issuer(digits: str) -> bool:
    length, table = len(digits), _ISSUER_LENGTHS
    return (
        length in table.get(digits[:1], _EMPTY)
        or length in table.get(digits[:2], _EMPTY)
        or length in table.get(digits[:3], _EMPTY)
        or length in table.get(digits[:4], _EMPTY)
    )


def is_card_number(digits: str) -> bool:
    """13-19 digits with a known issuer prefix and length that pass Luhn."""
    return MIN_CARD_DIGITS <= len(digits) <= MAX_CARD_DIGITS and _known_issuer(digits) and luhn_valid(digits)


def _glued_after(text: str, end: int) -> bool:
    """Whether the run continues into a word or a decimal part right after `end`."""
    if end >= len(text):
        return False
    following = text[end]
    if following.isascii() and (following.isalnum() or following == "_"):
        return True
    return following in ".," and end + 1 < len(text) and "0" <= text[end + 1] <= "9"


def find_cards(text: str) -> Iterator[Match]:
    """Payment card numbers; the value is the digits alone."""
    for run in _DIGIT_RUN.finditer(text):
        if run.end() - run.start() < MIN_CARD_DIGITS:
            continue
        groups = [(g.start() + run.start(), g.end() + run.start()) for g in _GROUP.finditer(run.group())]
        if _glued_after(text, run.end()):
            groups.pop()  # the last group belongs to a word or a decimal ("... 1111 10am")
        yield from _cards_in_groups(text, groups)


def _cards_in_groups(text: str, groups: list[tuple[int, int]]) -> Iterator[Match]:
    """The longest valid stretches of whole groups, left to right, without overlap.

    A stretch holds at most 19 digits, so each start tries at most 19 ends: linear in the run.
    """
    ends = [0]  # ends[i]: digits in groups[:i]
    for start, end in groups:
        ends.append(ends[-1] + end - start)
    run_digits = "".join(text[start:end] for start, end in groups)
    first = 0
    while first < len(groups):
        if text[groups[first][0]] not in _ISSUER_FIRST_DIGITS:
            first += 1
            continue
        last = bisect_right(ends, ends[first] + MAX_CARD_DIGITS) - 2  # the furthest end in reach
        found = -1
        while last >= first and ends[last + 1] - ends[first] >= MIN_CARD_DIGITS:
            digits = run_digits[ends[first] : ends[last + 1]]
            if is_card_number(digits):
                found = last
                break
            last -= 1
        if found < 0:
            first += 1
            continue
        yield groups[first][0], groups[found][1], digits
        first = found + 1


# --- IBAN ----------------------------------------------------------------------------------------------

#: IBAN length by country (SWIFT IBAN registry)
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

#: the pre-check's digit count: every IBAN of the registry's examples holds 12 or more (NL: 2
#: check digits, 4 bank letters, 10 account digits); 8 leaves room for alphanumeric accounts
MIN_IBAN_DIGITS = 8

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}", re.ASCII)


def _cut_iban(candidate: str, length: int) -> int:
    """How many characters of `candidate` hold its first `length` letters and digits (0: too few)."""
    seen = 0
    for position, char in enumerate(candidate):
        if char != " ":
            seen += 1
            if seen == length:
                return position + 1
    return 0


def find_ibans(text: str) -> Iterator[Match]:
    """IBANs of a registered country, of its length, passing MOD 97-10; the value is the IBAN
    in upper case without spaces."""
    position = 0
    while match := _IBAN.search(text, position):
        position = match.start() + 1
        candidate = match.group()
        length = IBAN_LENGTHS.get(candidate[:2].upper())
        if length is None:
            continue
        size = _cut_iban(candidate, length)
        end = match.start() + size
        if not size or (end < len(text) and text[end].isascii() and text[end].isalnum()):
            continue
        iban = candidate[:size].replace(" ", "").upper()
        if iban_mod97_valid(iban):
            yield match.start(), end, iban
            position = end
