"""The bridge between a phone leg's audio and whatever answers it (an agent, or an echo).

Each kind is named once, as `Call.Bridge`, and mapped to its class in `BRIDGES`; the Stream
bridge's far side is prepared ahead of the media (`preparation`, with `stream_calls` for
Stream's REST API and `agent_server` for the Vision Agents server that sends the agent).

The media session (telephony.media) owns the carrier's side (codecs, pacing, marks,
recording); a bridge owns the other side. The session gives the bridge the caller's audio as
int16 PCM at the call's rate and receives the agent's audio and signals through `AgentSink`.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from calls.models import Call

# Each kind of bridge, by the dotted path of its class (loaded on first use: the Stream
# bridge's module is not needed by a worker that only echoes).
BRIDGES: dict[str, str] = {
    Call.Bridge.STREAM: "telephony.bridges.stream.StreamBridge",
    Call.Bridge.ECHO: "telephony.bridges.echo.EchoBridge",
}


@dataclass(frozen=True)
class CallInfo:
    call_id: uuid.UUID
    direction: str
    from_number: str
    to_number: str
    call_control_id: str
    stream_call_id: str = ""
    custom_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaFormat:
    """The caller's audio as announced in Telnyx's `start` frame."""

    encoding: str
    sample_rate: int
    channels: int = 1


class AgentSink(Protocol):
    """What a bridge may do to the phone leg. All methods are cheap and non-blocking."""

    def agent_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        """Play int16 mono audio to the caller (any rate; the session converts)."""

    def agent_utterance_end(self) -> None:
        """The agent stopped talking: pad and flush, and mark the end of what it said."""

    def interrupt(self) -> None:
        """Barge-in: drop what is queued and tell Telnyx to `clear` what it buffered."""

    def hang_up(self, reason: str) -> None:
        """The far side is gone (the agent left, the Stream call ended): end the phone call."""


class Bridge(abc.ABC):
    name: str = "bridge"
    # Its far side (a Stream call, an agent) is made ready by telephony.bridges.preparation
    # while the phone rings or is answered, not when the media arrives.
    prepares_ahead: ClassVar[bool] = False

    @classmethod  # noqa: B027 - most bridges load nothing heavy
    def load_at_start_up(cls) -> None:
        """Import what a first call would otherwise import on the event loop mid-call."""

    @abc.abstractmethod
    async def start(self, *, call: CallInfo, media_format: MediaFormat, sink: AgentSink) -> None:
        """Begin bridging; must return quickly (long joins run in the bridge's own task)."""

    @abc.abstractmethod
    def feed_caller_audio(self, samples: np.ndarray) -> None:
        """One frame of the caller's audio, int16 at `media_format.sample_rate`. Hot path."""

    async def dtmf(self, digit: str) -> None:  # noqa: B027 - optional for bridges
        """The caller pressed a key."""

    @abc.abstractmethod
    async def close(self, reason: str) -> None:
        """Tear down; called exactly once by the session, whatever ended the call."""

    def describe(self) -> dict[str, Any]:
        """Bridge-specific figures stored with the call's media statistics."""
        return {}


def _bridge_class(kind: str) -> type[Bridge]:
    try:
        path = BRIDGES[kind]
    except KeyError:
        raise ValueError(f"unknown bridge {kind!r}") from None
    cls: type[Bridge] = import_string(path)
    return cls


def create_bridge(kind: str | None = None) -> Bridge:
    return _bridge_class(kind or settings.BRIDGE)()


def load_configured_bridge() -> None:
    """Called once per worker at start-up; a misconfigured BRIDGE is left to the checks."""
    if settings.BRIDGE in BRIDGES:
        _bridge_class(settings.BRIDGE).load_at_start_up()


def prepares_ahead(call: Call) -> bool:
    """Whether the call's bridge must be prepared (telephony.bridges.preparation)."""
    return call.bridge in BRIDGES and _bridge_class(call.bridge).prepares_ahead
