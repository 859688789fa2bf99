"""One simulated call leg and what the carrier remembers about it."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telephony.simulation.playout import MediaStats
from telephony.simulation.report import CallReport
from telephony.simulation.scenario import Scenario
from telephony.telnyx.simulator.clock import iso_micro, now_utc

COMMAND_ID_WINDOW_S = 60.0  # Telnyx ignores a repeated command_id for 60 s (§3.2)
ALIVE_STATES = ("parked", "bridging", "answered")


def new_call_control_id() -> str:
    # Real ids are `v3:` plus an opaque url-safe base64 blob (§2.1).
    return "v3:" + secrets.token_urlsafe(42)


@dataclass
class StreamParams:
    """The `stream_*` fields of a dial, answer or streaming_start (telnyx-protocol.md §1.7)."""

    url: str
    track: str = "inbound_track"
    codec: str = "default"
    bidirectional_mode: str | None = None  # None: the server may not send audio back
    bidirectional_codec: str = "PCMU"
    bidirectional_sampling_rate: int | None = None
    target_legs: str = "opposite"
    auth_token: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    stream_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(eq=False)
class SimCall:
    scenario: Scenario
    direction: str
    from_: str
    to: str
    connection_id: str
    webhook_url: str
    failover_url: str = ""
    call_control_id: str = field(default_factory=new_call_control_id)
    call_leg_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    call_session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: str = "parked"
    client_state: str | None = None
    start_time: datetime = field(default_factory=now_utc)
    answer_time: datetime | None = None
    end_time: datetime | None = None
    ended_at_monotonic: float | None = None
    hangup_cause: str | None = None
    hangup_source: str | None = None
    stream: StreamParams | None = None
    media: Any = None  # the running MediaCaller, if any
    # time.monotonic() at which the far party will hang up (Carrier.far_end): its quiet
    # tail is measured back from it.
    hangs_up_at: float | None = None
    recording: dict[str, Any] | None = None
    transcribing: asyncio.Task[None] | None = None
    speaking: asyncio.Task[None] | None = None
    playing: asyncio.Task[None] | None = None
    speak_queue: deque[dict[str, Any]] = field(default_factory=deque)
    bridged_with: str | None = None
    answering_machine_detection: str | None = None
    media_reports: list[MediaStats] = field(default_factory=list)
    commands: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    command_ids: dict[str, float] = field(default_factory=dict)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def is_alive(self) -> bool:
        return self.state in ALIVE_STATES

    @property
    def call_duration(self) -> int:
        end = self.end_time or now_utc()
        return int((end - self.start_time).total_seconds())

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str = "") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def first_use_of(self, command_id: str | None) -> bool:
        """Record `command_id`; False when it was already used on this call within 60 s."""
        if not command_id:
            return True
        now = time.monotonic()
        for stale in [k for k, at in self.command_ids.items() if now - at > COMMAND_ID_WINDOW_S]:
            del self.command_ids[stale]
        if command_id in self.command_ids:
            return False
        self.command_ids[command_id] = now
        return True

    def record_command(self, action: str, body: dict[str, Any], *, duplicate: bool) -> None:
        entry = {"action": action, "body": body, "duplicate": duplicate, "at": time.monotonic()}
        self.commands.append(entry)

    def to_api(self) -> dict[str, Any]:
        return {
            "call_control_id": self.call_control_id,
            "call_leg_id": self.call_leg_id,
            "call_session_id": self.call_session_id,
            "is_alive": self.is_alive,
            "record_type": "call",
            "client_state": self.client_state,
            "start_time": iso_micro(self.start_time),
            "end_time": iso_micro(self.end_time) if self.end_time else None,
            "call_duration": self.call_duration,
        }

    async def wait_answered(self, timeout: float) -> bool:
        return await _wait(self.answered, timeout)

    async def wait_ended(self, timeout: float) -> bool:
        return await _wait(self.ended, timeout)

    @property
    def report(self) -> CallReport:
        return _report(self)


def _report(call: SimCall) -> CallReport:
    return CallReport(
        call_control_id=call.call_control_id,
        direction=call.direction,
        state=call.state,
        ended=call.state == "hangup",
        answered=call.answer_time is not None,
        hangup_cause=call.hangup_cause,
        hangup_source=call.hangup_source,
        media=list(call.media_reports),
        commands=[c["action"] for c in call.commands if not c["duplicate"]],
    )


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
