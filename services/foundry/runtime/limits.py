"""Documented maxima of the request parameters that size work, checked before the work starts.

Each core keeps its limits as constants next to its validation (and the .proto field's comment
names the maximum); `Limits` collects every out-of-range value of one request and raises them
together as one `InvalidArgumentError` (INVALID_ARGUMENT, a BadRequest violation per field that
names the field and the allowed range). Negative values are always refused.
"""

from __future__ import annotations

import math
from collections.abc import Sized

from foundry.runtime.errors import FieldViolation, InvalidArgumentError


class Limits:
    """Collects violations: `whole`, `number` and `count`, then `check()` raises them."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def whole(self, field: str, value: int | None, maximum: int, minimum: int = 0) -> Limits:
        """An integer in [minimum, maximum] (None: unset, nothing to check)."""
        if value is not None and not minimum <= value <= maximum:
            self.violations.append(FieldViolation(field, f"must be in [{minimum}, {maximum}], got {value}"))
        return self

    def number(self, field: str, value: float | None, maximum: float, minimum: float = 0.0) -> Limits:
        """A finite number in [minimum, maximum] (None: unset)."""
        if value is not None and not (math.isfinite(value) and minimum <= value <= maximum):
            self.violations.append(
                FieldViolation(field, f"must be a finite number in [{minimum:g}, {maximum:g}], got {value:g}")
            )
        return self

    def count(self, field: str, items: Sized, maximum: int) -> Limits:
        """At most `maximum` entries in a repeated field."""
        if len(items) > maximum:
            self.violations.append(FieldViolation(field, f"at most {maximum} entries, got {len(items)}"))
        return self

    def check(self, what: str = "the request") -> None:
        """Raise every violation collected so far, as one INVALID_ARGUMENT."""
        if self.violations:
            raise InvalidArgumentError(
                f"{what} is out of bounds", reason="LIMIT_EXCEEDED", violations=self.violations
            )


__all__ = ["Limits"]
