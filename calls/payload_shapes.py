"""The shapes our pages read out of Telnyx payloads, checked where they are stored and again
where they are shown.

A webhook is signed, so it is Telnyx's, but its fields can still be odd: a `recording_urls`
that is not a {format: url} map (one with an `items` key once broke Django's template
lookup, `rec.urls.items`), a `javascript:` URL, a `confidence` integer too large for a float
(float() raises OverflowError). Stored values go through `recording_entry()`; pages read
them through `recording_links()` and `confidence()`, which never raise, so a row stored
before these checks cannot break a page either.
Reference: telnyx-protocol.md §2.4 (`call.recording.saved`, `call.transcription`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_URL = 4096
MAX_FORMATS = 8
MAX_TEXT = 128


def https_url(value: object) -> str | None:
    """`value` if it is an https URL with a host (Telnyx's are pre-signed S3 links)."""
    if not isinstance(value, str) or len(value) > MAX_URL:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    return value.strip()


def https_urls(value: object) -> dict[str, str]:
    """{format: url} keeping only short string formats with https URLs."""
    if not isinstance(value, dict):
        return {}
    urls = {}
    for name, url in list(value.items())[:MAX_FORMATS]:
        found = https_url(url)
        if isinstance(name, str) and name and found is not None:
            urls[name[:16]] = found
    return urls


def short_text(value: object) -> str | None:
    """A string or number as short text, anything else None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return str(value)[:MAX_TEXT]
    except ValueError:  # an integer with more digits than Python will print
        return None


def recording_entry(payload: dict[str, Any]) -> dict[str, Any]:
    """What we keep of a `call.recording.saved` payload: plain text and https URLs only."""
    return {
        "recording_id": short_text(payload.get("recording_id")),
        "urls": https_urls(payload.get("recording_urls")),
        "public_urls": https_urls(payload.get("public_recording_urls")),
        "started_at": short_text(payload.get("recording_started_at")),
        "ended_at": short_text(payload.get("recording_ended_at")),
        "channels": short_text(payload.get("channels")),
    }


def confidence(value: object) -> float | None:
    """A transcription confidence: a finite number from 0 to 1, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    linkable: bool  # an https URL: shown as a link; anything else only as text


@dataclass(frozen=True)
class Recording:
    recording_id: str
    channels: str
    links: tuple[Link, ...]


def recording_links(stored: object) -> list[Recording]:
    """The call's Telnyx recordings as pages show them, whatever was stored."""
    if not isinstance(stored, list):
        return []
    return [_recording(entry) for entry in stored if isinstance(entry, dict)]


def _recording(entry: dict[str, Any]) -> Recording:
    urls = entry.get("urls")
    links = tuple(
        Link(label=str(name)[:16], url=str(url)[:MAX_URL], linkable=https_url(url) is not None)
        for name, url in (urls.items() if isinstance(urls, dict) else ())
        if isinstance(url, str)
    )
    return Recording(
        recording_id=short_text(entry.get("recording_id")) or "?",
        channels=short_text(entry.get("channels")) or "",
        links=links,
    )
