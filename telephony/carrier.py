"""The carrier-neutral side of a phone call: what phonebridge asks of the carrier that carries
a call, and how a carrier says no.

A carrier lives in its own package (telephony/telnyx/, telephony/twilio/) with a `Carrier` subclass named
in CARRIERS by its dotted path, so this module imports no carrier and every carrier imports it.
"""

from __future__ import annotations

import abc
import enum
import functools
from dataclasses import dataclass

from django.utils.module_loading import import_string

from calls.models import Call

CARRIERS = {
    "telnyx": "telephony.telnyx.call_control.TelnyxCallControl",
    "twilio": "telephony.twilio.call_control.TwilioCallControl",
}


class CarrierError(Exception):
    """A request the carrier refused or that never got an answer.

    `permanent` says whether trying again later could help (a bad number will not get better;
    a timeout might). `code`, `title` and `detail` are the carrier's own words.
    """

    carrier = "Carrier"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str = "",
        title: str = "",
        detail: str = "",
        permanent: bool = True,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.title = title
        self.detail = detail
        self.permanent = permanent

    @property
    def already_ended(self) -> bool:
        """The carrier refused because the call is already over."""
        return False

    def for_humans(self) -> str:
        """What an operator reads: the carrier's code, title and detail, or our own message."""
        if self.code or self.title:
            text = f"{self.carrier} error {self.code}: {self.title}".strip()
            return f"{text}. {self.detail}" if self.detail else text
        return str(self)


class CallState(enum.Enum):
    """What the carrier says about a call we think is live (for reconciliation)."""

    ALIVE = "alive"
    ENDED = "ended"
    FORGOTTEN = "forgotten"  # the carrier no longer knows the call: it ended long ago


@dataclass(frozen=True)
class DialedCall:
    """The carrier's ids for a call it has started dialing."""

    call_control_id: str
    call_leg_id: str
    call_session_id: str


class Carrier(abc.ABC):
    """The commands phonebridge sends about one call. Failures raise CarrierError."""

    name: str = "carrier"

    @abc.abstractmethod
    async def answer(self, *, call: Call, token: str) -> None:
        """Answer an inbound call, streaming its audio to the media URL for `token`."""

    @abc.abstractmethod
    async def dial(
        self, *, call: Call, token: str, amd: str | None, timeout_secs: int | None
    ) -> DialedCall:
        """Ring `call.to_number` from `call.from_number`, streaming to the URL for `token`."""

    @abc.abstractmethod
    async def reject(self, *, call: Call, busy: bool = True) -> None:
        """Refuse a ringing inbound call: the caller hears a busy tone (`busy`), or is told
        the call was rejected."""

    @abc.abstractmethod
    async def start_stream(self, *, call: Call, token: str) -> None:
        """Stream an answered call's audio (again) to the media URL for `token`."""

    @abc.abstractmethod
    async def hang_up(self, *, call: Call) -> None: ...

    @abc.abstractmethod
    async def transfer(self, *, call: Call, to: str) -> None: ...

    @abc.abstractmethod
    async def send_dtmf(self, *, call: Call, digits: str) -> None: ...

    @abc.abstractmethod
    async def speak(self, *, call: Call, text: str, voice: str) -> None: ...

    @abc.abstractmethod
    async def start_recording(self, *, call: Call) -> None: ...

    @abc.abstractmethod
    async def stop_recording(self, *, call: Call) -> None: ...

    @abc.abstractmethod
    async def start_transcription(self, *, call: Call) -> None:
        """Transcribe both sides; the transcript arrives as the carrier's events."""

    @abc.abstractmethod
    async def call_state(self, *, call: Call) -> CallState: ...


def carrier_for(call: Call) -> Carrier:
    """The carrier that carries `call` (each call remembers its own: `Call.carrier`)."""
    return _carrier(call.carrier or "telnyx")


@functools.cache
def _carrier(name: str) -> Carrier:
    carrier: Carrier = import_string(CARRIERS[name])()
    return carrier
