"""JSON that a database can store as it is: the one guard for every JSON we keep.

Python's json module reads more than JSON: NaN and ±Infinity (and numbers such as 1e999 that
overflow to infinity), lone surrogates spelt as `\\ud800` escapes, and nesting as deep as the
stack allows. PostgreSQL's jsonb refuses NaN, the infinities and the NUL character (`\\u0000`),
and no UTF-8 column holds a lone surrogate: a webhook or media frame carrying one would fail
when stored, and a webhook that Telnyx retries would fail for ever. `loads` refuses them all
while parsing, so that webhooks and media frames are refused for the same reasons, and
`check` holds what we build before storing it (a media event, a live snapshot) to the same
rules.

It is cheap enough for 50 media frames a second per call. The float and constant hooks run
only for floats and NaN/Infinity tokens, which carrier frames (string counters, base64 audio)
do not contain. The costly re-serialisation runs only for text that is not plain ASCII or
holds a `\\u` escape, and JSON cannot carry a NUL any other way (it refuses a raw one).
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotStorable(ValueError):
    """Python reads it as JSON, but no database would store it."""


def loads(text: str | bytes) -> Any:
    """Parse JSON, as `json.loads` does (bytes in UTF-8, -16 or -32), if a database can store it.

    Raises ValueError if `text` is not JSON, NotStorable (a ValueError) if it is not storable.
    """
    if isinstance(text, bytes):
        text = text.decode(json.detect_encoding(text), "surrogatepass")  # as json.loads does
    try:
        value = _DECODER.decode(text)
        if not text.isascii() or "\\u" in text:
            _check_strings(value)
    except RecursionError:
        raise NotStorable("it is nested too deeply") from None
    return value


def check(value: Any) -> Any:
    """`value` itself if a database can store it as JSON; else NotStorable, saying why.

    For what we build before storing it (a media event's payload, a live snapshot), so that
    it meets the same rules as what `loads` lets in, whatever it was made from.
    """
    try:
        _check_strings(value, allow_nan=False)
    except RecursionError:
        raise NotStorable("it is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, NotStorable):
            raise
        raise NotStorable(f"it is not JSON: {str(exc)[:80]}") from None
    return value


def _check_strings(value: Any, *, allow_nan: bool = True) -> None:
    # escapes control characters, NUL included
    stored = json.dumps(value, ensure_ascii=False, allow_nan=allow_nan)
    try:
        stored.encode()
    except UnicodeEncodeError:
        raise NotStorable("it holds a lone surrogate, which is not text") from None
    if "\\u0000" in stored:
        raise NotStorable("it holds a NUL character, which PostgreSQL's jsonb cannot store")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStorable(f"{text[:20]} is not a finite number")
    return value


def _refuse_constant(name: str) -> float:
    raise NotStorable(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
