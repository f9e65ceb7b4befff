"""PII detection and masking for ingestion (the "pii" step).

- `detector`: `PiiDetector` runs the detectors of the selected types behind cheap pre-checks
  and resolves overlaps; `network` (e-mail, URL, IPv4, IPv6), `phone` (libphonenumber),
  `banking` (payment cards, IBAN), `national_ids` (CN, ES, IN, SE) hold the detectors and
  `checksums` their check-digit algorithms.
- `placeholders`: masks (`<EMAIL>`) and keyed pseudonyms (`<EMAIL_3f2a9c1d>`).
- `tokens`: token-classification rows, tags kept aligned and valid IOB2.
- `step`: `PiiStep`, the ingestion step, counting hits per type.
"""

from foundry.ingestion.pii.detector import SPECIFICITY, PiiDetector, PiiHit, resolve_overlaps
from foundry.ingestion.pii.placeholders import Placeholders, mask, replace_hits
from foundry.ingestion.pii.step import TAGS_REPAIRED_COUNTER, PiiStep, counter_name
from foundry.ingestion.pii.tokens import TokenRewrite, rewrite_tokens

__all__ = [
    "SPECIFICITY",
    "TAGS_REPAIRED_COUNTER",
    "PiiDetector",
    "PiiHit",
    "PiiStep",
    "Placeholders",
    "TokenRewrite",
    "counter_name",
    "mask",
    "replace_hits",
    "resolve_overlaps",
    "rewrite_tokens",
]
