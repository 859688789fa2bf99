"""A carrier account's numbers as its API lists them, for the Dial page's "From".

Telnyx's and Twilio's lists are fetched the same way: at most every few minutes (a page load
should not wait on the carrier each time), merged after the configured numbers, and on a
failure the configured numbers alone, with the carrier's reason said under the field. Each
carrier supplies only how to ask (`listing`) and the setting it falls back to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import async_to_sync

from telephony.carrier import CarrierError

logger = logging.getLogger(__name__)

CACHE_SECONDS = 300.0

Listing = Callable[[], Coroutine[Any, Any, list[str]]]


class AccountNumbers:
    """One carrier's fetched list, cached per process (failures are not cached)."""

    def __init__(self, carrier: str, fallback_setting: str) -> None:
        self.carrier = carrier  # "Telnyx", "Twilio": said to the operator
        self.fallback_setting = fallback_setting  # where `configured` came from
        self._cached: tuple[float, tuple[list[str], str]] | None = None

    def get(self, configured: list[str], listing: Listing) -> tuple[list[str], str]:
        """The numbers and where they come from: `configured` then what `listing` returns, or
        `configured` alone with the reason when the carrier does not answer."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        try:
            # On the loop async_to_sync runs it on: carrier clients are per event loop.
            listed = async_to_sync(listing)()
        except CarrierError as exc:
            reason = exc.for_humans()
            logger.warning("could not list the %s account's numbers: %s", self.carrier, reason)
            return configured, f"{self.fallback_setting} ({self.carrier}: {reason})"
        found = (unique_numbers(configured + listed), f"your {self.carrier} account")
        self._cached = (now, found)
        return found

    def forget(self) -> None:
        self._cached = None


def unique_numbers(numbers: list[str]) -> list[str]:
    """`numbers` stripped, without blanks or repeats, in their first order."""
    return list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
