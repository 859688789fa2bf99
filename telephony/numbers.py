"""Phone numbers in E.164 form: a '+', the country code and the number, 7 to 15 digits.

Plain Python, because the Telnyx simulator checks numbers too and must not import Django.
"""

from __future__ import annotations

import re

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class InvalidNumber(ValueError):
    pass


def is_e164(number: str) -> bool:
    return _E164.match(number) is not None


def validate_e164(number: str, *, field: str = "number") -> str:
    """`number` without the spaces, dots, dashes and brackets people type; or InvalidNumber."""
    cleaned = _SEPARATORS.sub("", number or "")
    if not is_e164(cleaned):
        raise InvalidNumber(
            f"{field} {number!r} is not an E.164 phone number: a '+', the country code and the "
            "number, digits only (for example +15551234567)."
        )
    return cleaned
