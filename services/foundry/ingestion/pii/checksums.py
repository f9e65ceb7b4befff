"""The check-digit algorithms the PII detectors verify candidates with.

Each function takes the candidate's significant characters only (no spaces or dashes) and
answers whether its check digit (or letter) is right. All are pure and allocation-light: they
run on every candidate that the detectors' patterns find.
"""

from __future__ import annotations

_DIGIT_VALUES = {str(d): d for d in range(10)}
#: a digit doubled, its two digits added (Luhn)
_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10, ISO/IEC 7812-1): payment cards, Swedish personnummer.

    Doubling every second digit from the right catches every single-digit error and most
    adjacent transpositions; a random digit string passes with probability 1/10.
    """
    doubled = sum(_LUHN_DOUBLED[int(char)] for char in digits[-2::-2])
    return (sum(map(int, digits[-1::-2])) + doubled) % 10 == 0


def iban_mod97_valid(iban: str) -> bool:
    """ISO 13616 / ISO 7064 MOD 97-10: the country code and check digits moved to the end,
    letters as 10..35, the number taken mod 97 must be 1. `iban` is upper-case alphanumeric.

    A random candidate passes with probability about 1/97; the country's fixed length (checked
    by the caller) makes it rarer still.
    """
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        value = ord(char) - 48 if char <= "9" else ord(char) - 55  # "A" -> 10 ... "Z" -> 35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


#: ISO 7064 MOD 11-2 weights of the 17 leading digits: 2^(17 - i) mod 11
_MOD11_2_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_MOD11_2_CHECK = "10X98765432"


def iso7064_mod11_2_check(digits17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") of 17 digits (GB 11643-1999,
    the Chinese resident identity card number)."""
    total = sum(_DIGIT_VALUES[char] * weight for char, weight in zip(digits17, _MOD11_2_WEIGHTS, strict=True))
    return _MOD11_2_CHECK[total % 11]


# Verhoeff's dihedral-group tables (multiplication d, permutation p).
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """Verhoeff's dihedral check (Indian Aadhaar): catches every single-digit error and every
    adjacent transposition; a random digit string passes with probability 1/10."""
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][_DIGIT_VALUES[char]]]
    return check == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIE_PREFIX = {"X": "0", "Y": "1", "Z": "2"}


def spanish_id_valid(number: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter): the letter is
    "TRWAGMYFPDXBNJZSQVHLCKE"[n mod 23], with the NIE's X/Y/Z read as 0/1/2."""
    body, letter = number[:-1], number[-1]
    if body[0] in _NIE_PREFIX:
        body = _NIE_PREFIX[body[0]] + body[1:]
    return _DNI_LETTERS[int(body) % 23] == letter
