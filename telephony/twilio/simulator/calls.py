"""One simulated Twilio call and what Twilio remembers about it.

Reference: https://www.twilio.com/docs/voice/api/call-resource (the resource's fields, and
its statuses: queued, initiated, ringing, in-progress, completed, busy, no-answer, canceled,
failed).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telephony.simulation.clock import now_utc
from telephony.simulation.playout import MediaStats
from telephony.simulation.report import CallReport
from telephony.simulation.scenario import Scenario
from telephony.twilio.simulator.account import API_VERSION, new_sid, rfc2822

ALIVE = ("queued", "initiated", "ringing", "in-progress")
ENDED = ("completed", "busy", "no-answer", "canceled", "failed")
# StatusCallbackEvent values, and the CallStatus each one reports.
# https://www.twilio.com/docs/voice/api/call-resource#statuscallbackevent
CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclass
class Callbacks:
    """Where Twilio reports on one call: StatusCallback and the events asked for."""

    url: str = ""
    method: str = "POST"
    events: tuple[str, ...] = ("completed",)
    amd_url: str = ""  # AsyncAmdStatusCallback
    recording_url: str = ""  # RecordingStatusCallback of the recording in progress
    recording_events: tuple[str, ...] = ("completed",)


@dataclass(eq=False)
class SimCall:
    scenario: Scenario
    account_sid: str
    direction: str  # "inbound" or "outbound-api", as Twilio spells it
    from_: str
    to: str
    sid: str = field(default_factory=lambda: new_sid("CA"))
    status: str = "queued"
    phone_number_sid: str | None = None
    callbacks: Callbacks = field(default_factory=Callbacks)
    machine_detection: str | None = None  # "Enable" or "DetectMessageEnd"
    answered_by: str | None = None
    sip_response_code: int | None = None
    twiml_url: str = ""  # where its TwiML comes from (the number's VoiceUrl, or Url)
    start_time: datetime = field(default_factory=now_utc)
    answer_time: datetime | None = None
    end_time: datetime | None = None
    ended_at_monotonic: float | None = None
    hung_up_by: str | None = None  # "caller", "callee", "api", "twiml"
    sequence: int = 0  # SequenceNumber of the next status callback
    media: Any = None  # the running TwilioMedia, if any
    # time.monotonic() at which the far party will hang up (Carrier.far_end): its quiet
    # tail is measured back from it.
    hangs_up_at: float | None = None
    program: asyncio.Task[None] | None = None  # the TwiML being executed
    recording: dict[str, Any] | None = None
    recordings: list[dict[str, Any]] = field(default_factory=list)
    played: list[dict[str, str]] = field(default_factory=list)  # <Play digits>, <Say>, <Dial>
    media_reports: list[MediaStats] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    notifications: list[int] = field(default_factory=list)  # error codes Twilio logged
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def call_control_id(self) -> str:
        return self.sid  # what the carrier-neutral load generator calls the leg's id

    @property
    def is_alive(self) -> bool:
        return self.status in ALIVE

    @property
    def duration(self) -> int:
        """Seconds from answer to end (CallDuration); 0 for a call never answered."""
        if self.answer_time is None:
            return 0
        end = self.end_time or now_utc()
        return int((end - self.answer_time).total_seconds())

    def next_sequence(self) -> int:
        value = self.sequence
        self.sequence += 1
        return value

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str = "") -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name or None)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def record_request(self, name: str, fields: dict[str, str]) -> None:
        self.requests.append({"name": name, "fields": fields, "at": time.monotonic()})

    def to_api(self, uri: str) -> dict[str, Any]:
        # https://www.twilio.com/docs/voice/api/call-resource#call-properties
        ended = self.end_time is not None
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.start_time),
            "date_updated": rfc2822(self.end_time or self.answer_time or self.start_time),
            "direction": self.direction,
            "duration": str(self.duration) if ended else None,
            "end_time": rfc2822(self.end_time) if self.end_time else None,
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": self.phone_number_sid,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": rfc2822(self.answer_time) if self.answer_time else None,
            "status": self.status,
            "subresource_uris": {
                "recordings": uri.removesuffix(".json") + "/Recordings.json",
                "notifications": uri.removesuffix(".json") + "/Notifications.json",
                "events": uri.removesuffix(".json") + "/Events.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": uri,
        }

    @property
    def report(self) -> CallReport:
        return CallReport(
            call_control_id=self.sid,
            direction="incoming" if self.direction == "inbound" else "outgoing",
            state=self.status,
            ended=not self.is_alive,
            answered=self.answer_time is not None,
            hangup_cause=None if self.status == "completed" else self.status,
            hangup_source=self.hung_up_by,
            media=list(self.media_reports),
            commands=[r["name"] for r in self.requests],
        )
