"""The fuzz suites' storage cases against a real PostgreSQL: what phonebridge lets in is JSON
PostgreSQL's jsonb stores, and what it refuses as unstorable, PostgreSQL refuses too.

The rest of the fuzz suite runs on the test database (SQLite), which stores a NUL character
and lone surrogates without complaint: a guard that let them through would pass there and
fail in production, where an `error`, `start` or `dtmf` frame holding `\\u0000` reached
`CallEvent.payload` and its insert failed. Here every case goes to PostgreSQL as well.
PostgreSQL is started like the production tests' (tests/services.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings

from calls.models import Call, CallEvent
from telephony import storable
from tests.fuzz.media_cases import media_cases
from tests.fuzz.media_model import MediaCase
from tests.fuzz.test_media_fuzz import FUZZ_SETTINGS, play
from tests.fuzz.webhook_cases import Delivery, deliveries
from tests.services import postgres_server

pytestmark = pytest.mark.django_db(transaction=True)

CASES = 2_000


@pytest.fixture(scope="module")
def jsonb() -> Iterator[psycopg.Connection[Any]]:
    """A PostgreSQL table with one jsonb column, as CallEvent.payload is stored there."""
    with postgres_server() as pg, psycopg.connect(pg.url, autocommit=True) as connection:
        connection.execute("CREATE TABLE stored (payload jsonb NOT NULL)")
        yield connection


def postgres_stores(connection: psycopg.Connection[Any], text: str) -> bool:
    try:
        connection.execute("INSERT INTO stored VALUES (%s::jsonb)", (text,))
    except psycopg.DataError:  # NUL (\\u0000), NaN, Infinity: refused by jsonb
        return False
    except UnicodeEncodeError:  # a lone surrogate is no UTF-8: it cannot even be sent
        return False
    return True


def guard_verdict(text: str | bytes) -> str:
    try:
        storable.loads(text)
    except storable.NotStorable:
        return "unstorable"
    except ValueError:
        return "not json"
    return "stored"


@pytest.mark.parametrize(
    "text",
    [
        '{"event": "error", "payload": {"detail": "a\\u0000b"}}',
        '{"event": "start", "start": {"from": "\\u0000"}}',
        '{"event": "dtmf", "dtmf": {"digit": "1"}, "occurred_at": "\\u0000"}',
        '{"event": "error", "payload": {"code": NaN}}',
        '{"event": "error", "payload": {"code": -Infinity}}',
        '{"event": "start", "stream_id": "\\ud800"}',
    ],
)
def test_what_the_guard_calls_unstorable_postgresql_refuses_too(jsonb, text):
    assert guard_verdict(text) == "unstorable"
    # Python's own reading of it, written back as Python would store it.
    assert not postgres_stores(jsonb, json.dumps(json.loads(text)))


def test_every_media_frame_the_guard_lets_in_postgresql_stores(jsonb):
    seen: dict[str, int] = {"stored": 0, "unstorable": 0, "not json": 0}

    @settings(FUZZ_SETTINGS, max_examples=CASES)
    @given(case=media_cases())
    def run(case: MediaCase) -> None:
        for frame in case.frames:
            if frame.binary is not None:
                continue
            verdict = guard_verdict(frame.text)
            seen[verdict] += 1
            if verdict == "stored":
                assert postgres_stores(jsonb, frame.text), frame
            elif verdict == "unstorable" and "nested" not in _why(frame.text):
                assert not postgres_stores(jsonb, json.dumps(json.loads(frame.text))), frame

    run()
    assert min(seen.values()) > CASES // 100, seen  # every verdict, many times over


def test_every_webhook_body_the_guard_lets_in_postgresql_stores(jsonb):
    seen: dict[str, int] = {"stored": 0, "unstorable": 0, "not json": 0}

    @settings(FUZZ_SETTINGS, max_examples=CASES)
    @given(delivery=deliveries())
    def run(delivery: Delivery) -> None:
        verdict = guard_verdict(delivery.body)
        seen[verdict] += 1
        if verdict == "stored":
            text = delivery.body.decode(json.detect_encoding(delivery.body), "surrogatepass")
            assert postgres_stores(jsonb, text), delivery

    run()
    assert seen["stored"] > CASES // 2, seen
    assert seen["unstorable"] > 0, seen


def test_everything_the_media_session_stores_from_hostile_frames_postgresql_stores(
    runner, server_errors, jsonb, settings
):
    settings.RECORD_CALLS = False
    settings.MEDIA_MAX_BAD_FRAMES = 3
    settings.MEDIA_EARLY_ALLOWANCE_MS = 60_000
    call = Call.objects.create(direction="inbound", status="streaming", call_control_id="v3:pg")

    @settings_for_sessions
    @given(case=media_cases())
    def run(case: MediaCase) -> None:
        runner.run(play(call, case))
        assert not server_errors.take()

    run()
    events = CallEvent.objects.filter(call=call).values_list("type", "payload")
    types = set()
    for event_type, payload in events.iterator():
        types.add(event_type)
        assert postgres_stores(jsonb, json.dumps(payload)), (event_type, payload)
    call.refresh_from_db()
    for column in (call.live_media, call.conversation):
        assert postgres_stores(jsonb, json.dumps(column))
    assert {"media.start", "media.dtmf", "media.error", "media.bad_frame", "media.stop"} <= types


settings_for_sessions = settings(FUZZ_SETTINGS, max_examples=CASES // 4)


def _why(text: str) -> str:
    try:
        storable.loads(text)
    except ValueError as exc:
        return str(exc)
    return ""
