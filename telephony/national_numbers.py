"""Phone numbers typed the way people say them at home, read with a default country.

`+44 20 7946 0958` is E.164 already; with DEFAULT_COUNTRY=GB, `020 7946 0958` means the same
number (the national trunk prefix 0 is dropped, the calling code added), and `0044…` or, in
the North American plan, `011…` are international dialling prefixes. Plain Python (no
Django), like telephony.numbers, which has the final say on what is a valid number.
"""

from __future__ import annotations

import re

from telephony.numbers import InvalidNumber, validate_e164

# ISO 3166 code → (calling code, national trunk prefix, international dialling prefix).
# Countries without a trunk prefix keep their leading digits (Italy's 0 is part of the number).
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "US": ("1", "1", "011"),
    "CA": ("1", "1", "011"),
    "GB": ("44", "0", "00"),
    "IE": ("353", "0", "00"),
    "FR": ("33", "0", "00"),
    "DE": ("49", "0", "00"),
    "AT": ("43", "0", "00"),
    "CH": ("41", "0", "00"),
    "NL": ("31", "0", "00"),
    "BE": ("32", "0", "00"),
    "LU": ("352", "", "00"),
    "IT": ("39", "", "00"),
    "ES": ("34", "", "00"),
    "PT": ("351", "", "00"),
    "SE": ("46", "0", "00"),
    "NO": ("47", "", "00"),
    "DK": ("45", "", "00"),
    "FI": ("358", "0", "00"),
    "PL": ("48", "", "00"),
    "CZ": ("420", "", "00"),
    "GR": ("30", "", "00"),
    "IL": ("972", "0", "00"),
    "ZA": ("27", "0", "00"),
    "IN": ("91", "0", "00"),
    "SG": ("65", "", "000"),
    "HK": ("852", "", "001"),
    "JP": ("81", "0", "010"),
    "AU": ("61", "0", "0011"),
    "NZ": ("64", "0", "00"),
    "BR": ("55", "0", "00"),
    "MX": ("52", "", "00"),
    "AR": ("54", "0", "00"),
}
_SEPARATORS = re.compile(r"[\s().\-/]")
_CALLING_CODE = re.compile(r"^\+?([1-9]\d{0,2})$")


def country_rules(country: str) -> tuple[str, str, str]:
    """(calling code, trunk prefix, international prefix) for an ISO code or a calling code.

    A bare calling code (`+44`) assumes the common conventions: trunk prefix 0, `00` abroad.
    """
    code = country.strip().upper()
    if code in COUNTRIES:
        return COUNTRIES[code]
    match = _CALLING_CODE.match(code)
    if match:
        return (match[1], "0", "00")
    raise ValueError(
        f"DEFAULT_COUNTRY={country!r} is neither a known ISO country code "
        f"({', '.join(sorted(COUNTRIES))}) nor a calling code such as +44."
    )


def to_e164(number: str, *, default_country: str = "", field: str = "number") -> str:
    """`number` in E.164, reading a national format with `default_country`; or InvalidNumber."""
    typed = _SEPARATORS.sub("", number or "")
    if typed.startswith("+") or not default_country:
        return validate_e164(typed, field=field)
    calling, trunk, international = country_rules(default_country)
    if typed.startswith(international):
        candidate = "+" + typed[len(international) :]
    elif calling == "1" and len(typed) == 10:
        candidate = "+1" + typed  # the North American plan: ten digits, no trunk prefix
    elif trunk and typed.startswith(trunk):
        candidate = f"+{calling}{typed[len(trunk) :]}"
    else:
        candidate = f"+{calling}{typed}"
    try:
        return validate_e164(candidate, field=field)
    except InvalidNumber:
        raise InvalidNumber(
            f"{field} {number!r} is neither an E.164 number (+ and the country code) nor a "
            f"national number of {default_country.strip().upper()} (DEFAULT_COUNTRY)."
        ) from None
