"""Detectors of network identifiers: e-mail addresses, URLs, IPv4 and IPv6 addresses.

Each `find_*` function yields `(start, end, normalized value)` for every match in a text; the
normalized value (lower-cased e-mail, compressed IP, URL with lower-cased scheme and host) is
what pseudonyms are keyed on, so that spellings of the same value get the same placeholder.
The callers run each one only after a cheap pre-check (see `detector.py`).

- e-mail: `local@domain.tld`, the local part of Latin letters, digits and `._%+-`, the domain
  of dot-separated labels ending in a TLD of two or more letters (or a punycode `xn--` one). A
  Twitter handle (`@name`) has no local part and is not an address.
- URL: starts with `http://`, `https://`, `ftp://` (any case) or `www.`; runs over the ASCII
  characters RFC 3986 allows (so it ends at white space, quotes, angle brackets and non-ASCII
  text); trailing punctuation and an unbalanced closing bracket are left out (`(see
  https://x.org/a).` gives `https://x.org/a`). Bare domains (`example.com`) are not URLs
  here: they read like file names and abbreviations too often. IRIs with non-ASCII paths are
  cut at the first non-ASCII character.
- IPv4: four dot-separated numbers, not inside a longer dotted run (`1.2.3.4.5` and `v1.2.3.4`
  are not addresses), validated by `ipaddress` (each part 0-255, no leading zeros: `999.1.1.1`
  and `01.02.03.04` are not addresses). A four-part version string such as `1.2.3.4` cannot be
  told from an address and is taken as one.
- IPv6: colon-separated hex groups (with `::` and an embedded IPv4 tail), validated by
  `ipaddress`; a candidate with no decimal digit (`dead::beef`, `abc::def`) is rejected, as
  it reads like a C++ scope or a word far more often than like an address. Clock times
  (`12:30:45`) and MAC addresses are not valid IPv6 and are never matched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

Match = tuple[int, int, str]

#: Latin letters (ASCII, Latin-1, Latin Extended-A/B) and digits: CJK text glued to an address
#: ("请发至john@example.com谢谢") is not taken into it
_LATIN = "A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_EMAIL = re.compile(
    rf"(?<![{_LATIN}_.%+-])[{_LATIN}_%+-]+(?:\.[{_LATIN}_%+-]+)*"  # local part: no leading, trailing or double dot
    rf"@(?:[{_LATIN}](?:[{_LATIN}-]*[{_LATIN}])?\.)+"  # domain labels
    rf"(?:[A-Za-z]{{2,}}|xn--[A-Za-z0-9-]+)"  # a TLD of letters, or a punycode one
    rf"(?![{_LATIN}_-]|\.[{_LATIN}])"
)

#: the cheap pre-check: an "@" between two address characters (a handle "@name" has none before it)
EMAIL_HINT = re.compile(r"[\w.%+-]@[^\W_]")

#: URL characters: RFC 3986's unreserved and reserved ones and "%" (ASCII only, so that a URL
#: glued to CJK text ends where the text begins)
_URL = re.compile(
    r"(?<![A-Za-z0-9.@])(?:(?:https?|ftp)://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+", re.IGNORECASE
)
_URL_TRAILING = ".,;:!?'\"*"
_URL_CLOSERS = {")": "(", "]": "[", "}": "{"}

_IPV4 = re.compile(r"(?<![\w.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?!\w|\.[0-9])", re.ASCII)

_IPV6 = re.compile(
    r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}(?![\w:])", re.ASCII
)
#: the cheap pre-check: "::", or two colons within a run of hex digits ("2001:db8:")
IPV6_HINT = re.compile(r"::|[0-9A-Fa-f]:[0-9A-Fa-f]{1,4}:", re.ASCII)
_HAS_DIGIT = re.compile(r"[0-9]", re.ASCII)


def find_emails(text: str) -> Iterator[Match]:
    """E-mail addresses; the value is the address in lower case."""
    for match in _EMAIL.finditer(text):
        yield match.start(), match.end(), match.group().lower()


def _trim_url(url: str) -> str:
    """Drop trailing punctuation and closing brackets that the URL does not open."""
    balance = {closer: url.count(closer) - url.count(opener) for closer, opener in _URL_CLOSERS.items()}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _URL_CLOSERS and balance[last] > 0:
            balance[last] -= 1
        elif last not in _URL_TRAILING:
            break
        end -= 1
    return url[:end]


def _normalize_url(url: str) -> str:
    """Scheme and host in lower case (they are case-insensitive); path and query as written."""
    scheme_end = url.find("://")
    host_start = scheme_end + 3 if scheme_end >= 0 else 0
    host_end = len(url)
    for delimiter in "/?#":
        position = url.find(delimiter, host_start)
        if 0 <= position < host_end:
            host_end = position
    return url[:host_end].lower() + url[host_end:]


def find_urls(text: str) -> Iterator[Match]:
    """URLs with a scheme or a `www.` prefix; the value has its scheme and host lower-cased."""
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        prefix = 4 if url[:4].lower() == "www." else url.find("://") + 3
        if len(url) > prefix and url[prefix].isalnum():
            yield match.start(), match.start() + len(url), _normalize_url(url)


def find_ipv4(text: str) -> Iterator[Match]:
    """IPv4 addresses that `ipaddress` accepts; the value is the address as it prints."""
    for match in _IPV4.finditer(text):
        try:
            address = ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        yield match.start(), match.end(), str(address)


def find_ipv6(text: str) -> Iterator[Match]:
    """IPv6 addresses that `ipaddress` accepts; the value is the compressed form."""
    for match in _IPV6.finditer(text):
        candidate = match.group()
        if not _HAS_DIGIT.search(candidate):
            continue
        for trimmed in (candidate, candidate[:-1] if candidate.endswith(":") else ""):
            if not trimmed:
                continue
            try:
                address = ipaddress.IPv6Address(trimmed)
            except ValueError:
                continue
            yield match.start(), match.start() + len(trimmed), address.compressed
            break
