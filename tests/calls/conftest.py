"""The admin console's cast: staff with and without each permission, calls with a history,
and a fake Telnyx answering the real client over httpx's MockTransport."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from calls.models import Call, CallEvent, CarrierCommand
from tests.fake_telnyx import FakeTelnyx

# An hour ago: long enough that the live panel has forgotten calls that ended then.
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)

# A conversation summary as telephony.media.conversation stores it.
CONVERSATION = {
    "turn_count": 2,
    "latency_p50_ms": 640,
    "latency_max_ms": 910,
    "caller_talk_ms": 4200,
    "agent_talk_ms": 7300,
    "caller_interruptions": 1,
    "agent_interruptions": 0,
    "long_silences": 1,
    "longest_silence_ms": 3500,
    "turns": [
        {"at_ms": 1200, "latency_ms": 640, "caller_ms": 2100, "agent_ms": 3000,
         "agent_interrupted": False, "barged_in": True},
        {"at_ms": 9000, "latency_ms": 910, "caller_ms": 2100, "agent_ms": 4300,
         "agent_interrupted": False, "barged_in": False},
    ],
}  # fmt: skip


def make_call(**fields: Any) -> Call:
    values: dict[str, Any] = {
        "direction": Call.Direction.INBOUND,
        "from_number": "+15557654321",
        "to_number": "+15550001111",
        "call_control_id": f"v3:{uuid.uuid4()}",
        "created_at": T0,
        "last_activity_at": T0,
    }
    values.update(fields)
    return Call.objects.create(**values)


def webhook_event(call: Call, event_type: str, at: datetime, **payload: Any) -> CallEvent:
    """A stored webhook, shaped like Telnyx's envelope (telnyx-protocol.md §2.1)."""
    event_id = str(uuid.uuid4())
    envelope = {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id,
            "occurred_at": at.isoformat(),
            "payload": {"call_control_id": call.call_control_id, **payload},
        },
        "meta": {"attempt": 1},
    }
    return CallEvent.objects.create(
        call=call,
        event_id=event_id,
        source=CallEvent.Source.WEBHOOK,
        type=event_type,
        occurred_at=at,
        payload=envelope,
    )


def transcription(call: Call, at: datetime, text: str, track: str, *, final: bool = True) -> None:
    data = {"transcript": text, "confidence": 0.93, "is_final": final, "transcription_track": track}
    webhook_event(call, "call.transcription", at, transcription_data=data)


def finished_call(**fields: Any) -> Call:
    """A call that went all the way, with webhooks, state changes, commands and a transcript."""
    call = make_call(**fields)
    webhook_event(call, "call.initiated", T0, **{"from": call.from_number, "to": call.to_number})
    call.mark_answered(at=T0 + timedelta(seconds=1))
    webhook_event(call, "call.answered", T0 + timedelta(seconds=1))
    CarrierCommand.objects.create(
        call=call,
        name="answer",
        path=f"calls/{call.call_control_id}/actions/answer",
        request_body={"stream_url": "wss://phonebridge.test/media"},
        status_code=200,
        ok=True,
        attempts=1,
        latency_ms=42,
        created_at=T0 + timedelta(milliseconds=300),
        finished_at=T0 + timedelta(milliseconds=342),
    )
    transcription(call, T0 + timedelta(seconds=2), "Hello, how can I help?", "outbound")
    transcription(call, T0 + timedelta(seconds=3), "I need an", "inbound", final=False)
    transcription(call, T0 + timedelta(seconds=4), "I need an appointment.", "inbound")
    webhook_event(call, "call.dtmf.received", T0 + timedelta(seconds=5), digit="5")
    CarrierCommand.objects.create(
        call=call,
        name="transfer",
        path=f"calls/{call.call_control_id}/actions/transfer",
        request_body={"to": "+15559990000"},
        status_code=422,
        ok=False,
        error_code="90034",
        error_title="Invalid destination",
        error_detail="The destination number is not reachable.",
        attempts=1,
        latency_ms=80,
        created_at=T0 + timedelta(seconds=6),
        finished_at=T0 + timedelta(seconds=6, milliseconds=80),
    )
    webhook_event(
        call,
        "call.hangup",
        T0 + timedelta(seconds=9),
        hangup_cause="normal_clearing",
        hangup_source="caller",
        sip_hangup_cause="200",
    )
    call.mark_ended(
        at=T0 + timedelta(seconds=9), cause="normal_clearing", source="caller", sip_cause="200"
    )
    call.refresh_from_db()
    return call


def staff(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def operator() -> User:
    """Can see calls, steer live ones and dial."""
    return staff("operator", "calls.view_call", "calls.change_call", "calls.dial_call")


@pytest.fixture
def viewer() -> User:
    """Can see calls, nothing more."""
    return staff("viewer", "calls.view_call")


@pytest.fixture
def operator_client(operator: User) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(viewer: User) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def fake_telnyx(monkeypatch: pytest.MonkeyPatch) -> FakeTelnyx:
    """Every Telnyx command answers from a FakeTelnyx. The admin reaches the carrier through
    async_to_sync, which may run each call on a fresh event loop, so a fresh client per
    command (httpx clients are bound to their loop)."""
    fake = FakeTelnyx()
    monkeypatch.setattr("telephony.telnyx.call_control.get_client", fake.client)
    return fake
