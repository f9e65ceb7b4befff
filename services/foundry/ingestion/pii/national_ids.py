"""Detectors of national identity numbers that carry a checksum; all count as NATIONAL_ID.

Only numbers with a real check digit and a distinctive shape are detected, so that invoice
numbers, timestamps and phone numbers are not taken for ids:

- China, resident identity card (GB 11643-1999): 18 characters, a 6-digit area code whose first
  digit is 1-8, a birth date YYYYMMDD (1900 to today, a real date), a 3-digit sequence and an
  ISO 7064 MOD 11-2 check character (0-9 or X). Date and checksum together let about one
  random 18-digit string in 10,000 through.
- Spain, DNI (8 digits and a letter) and NIE (X, Y or Z, 7 digits and a letter), with an
  optional dash before the letter: the letter is "TRWAGMYFPDXBNJZSQVHLCKE"[n mod 23]. The shape
  (digits glued to one letter) is rare in prose, and the letter passes one time in 23.
- India, Aadhaar: 12 digits, the first 2-9, Verhoeff check digit, written in three groups of
  four (`2345 6789 0124`, spaces or dashes) as on the card. The checksum alone passes one
  random number in ten, so the bare 12-digit form (`202401151230` is a timestamp) is not
  detected.
- Sweden, personnummer (and samordningsnummer, day + 60): YYMMDD or YYYYMMDD, a `-` or `+`
  separator (required: without it the number reads as a phone number), 4 digits; the last is
  the Luhn check digit over the 10-digit form, and the date must exist (in some century for
  the short form).

The value pseudonyms are keyed on is the id in upper case without separators (the Swedish one
in its 10-digit form, so both spellings of one person's number get one placeholder).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

from foundry.ingestion.pii.checksums import (
    iso7064_mod11_2_check,
    luhn_valid,
    spanish_id_valid,
    verhoeff_valid,
)

Match = tuple[int, int, str]

_CN_RESIDENT_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-8][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9A-Za-z])",
    re.ASCII,
)
_ES_ID = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{8}|[XYZxyz][0-9]{7})-?[A-Za-z](?![0-9A-Za-z])", re.ASCII)
_IN_AADHAAR = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9][ -])[2-9][0-9]{3}([ -])[0-9]{4}\1[0-9]{4}(?![0-9A-Za-z]|[ -][0-9])", re.ASCII
)
_SE_PERSONNUMMER = re.compile(
    r"(?<![0-9A-Za-z+-])(18|19|20)?([0-9]{6})[-+]([0-9]{4})(?![0-9A-Za-z])", re.ASCII
)


def _real_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def is_cn_resident_id(number: str) -> bool:
    """18 characters: area, a birth date from 1900 to today, sequence, MOD 11-2 check."""
    if len(number) != 18 or not number[:17].isdigit() or number[0] not in "12345678":
        return False
    birth = _real_date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    if birth is None or not datetime.date(1900, 1, 1) <= birth <= datetime.date.today():
        return False
    return iso7064_mod11_2_check(number[:17]) == number[17].upper()


def find_cn_resident_ids(text: str) -> Iterator[Match]:
    for match in _CN_RESIDENT_ID.finditer(text):
        number = match.group().upper()
        if is_cn_resident_id(number):
            yield match.start(), match.end(), number


def find_es_ids(text: str) -> Iterator[Match]:
    """Spanish DNI and NIE numbers with the right letter."""
    for match in _ES_ID.finditer(text):
        number = match.group().replace("-", "").upper()
        if spanish_id_valid(number):
            yield match.start(), match.end(), number


def find_in_aadhaar(text: str) -> Iterator[Match]:
    """Aadhaar numbers in their printed 4-4-4 form with a valid Verhoeff digit."""
    for match in _IN_AADHAAR.finditer(text):
        digits = match.group().replace(match.group(1), "")
        if verhoeff_valid(digits):
            yield match.start(), match.end(), digits


def _se_date_ok(century: str | None, yymmdd: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # samordningsnummer: day + 60
        day -= 60
    centuries = [int(century)] if century else [18, 19, 20]
    return any(_real_date(c * 100 + int(yymmdd[:2]), month, day) is not None for c in centuries)


def find_se_personnummer(text: str) -> Iterator[Match]:
    """Swedish personal identity (and co-ordination) numbers: real date, Luhn check digit."""
    for match in _SE_PERSONNUMMER.finditer(text):
        century, yymmdd, tail = match.groups()
        if not _se_date_ok(century, yymmdd):
            continue
        ten = yymmdd + tail
        if luhn_valid(ten):
            yield match.start(), match.end(), ten


def find_national_ids(text: str, digit_count: int) -> Iterator[Match]:
    """Every kind above that `digit_count` (the text's ASCII digits) leaves possible."""
    if digit_count >= 7:
        yield from find_es_ids(text)
    if digit_count >= 10:
        yield from find_se_personnummer(text)
    if digit_count >= 12:
        yield from find_in_aadhaar(text)
    if digit_count >= 17:
        yield from find_cn_resident_ids(text)
