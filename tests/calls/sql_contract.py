"""The contract of calls/sql.py, checked against the ORM on whatever database is configured.

calls/sql.py promises that its written-out statements read and write exactly what the ORM
does, on SQLite and PostgreSQL. Every check here does the same thing twice, once through
calls.sql and once through the ORM (the oracle), and compares what the database then holds,
value by value and type by type.

`check()` runs them all against the default database: tests/calls/test_sql.py calls it on
the test database (SQLite) in-process, and on a real PostgreSQL through `manage.py shell`.
Every row it writes is tagged with one run's unique prefix and deleted at the end, so it may
run any number of times against the same database.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce

from calls import sql
from calls.models import Call, CallEvent, CarrierCommand

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
T0 = dt.datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

# Every kind of JSON a column may hold: nested objects and lists, unicode in keys and
# values, quotes, floats (whole and not), negatives, booleans and null.
QUALITY = {
    "mos": 4.31,
    "jitter": {"avg_ms": 1.5, "max_ms": 12.0, "samples": [1, 2.25, -3, 0.1]},
    "packet_loss": 0.0,
    "codec": "PCMU",
    "note": "naïve “quoted” 'single' \"double\" 日本語 🎧",
    "flags": [True, False, None],
    "nested": [[1, [2, [3.5]]], {"a": {"b": {"c": []}}}],
}
CONVERSATION = {
    "turn_count": 2,
    "latency_p50_ms": 640,
    "turns": [
        {"at_ms": 1200, "latency_ms": 640.5, "agent_interrupted": False},
        {"at_ms": 9000, "latency_ms": 910, "barged_in": True},
    ],
}
LIVE_MEDIA = [{"level_db": -23.75, "lead_ms": 40}, "ünïcödé", 7, 0.25, None, True]


def check() -> None:
    """Run every check against the default database, and clean up after them."""
    run = Run()
    try:
        check_get(run)
        check_exists(run)
        check_first(run)
        check_update(run)
        check_insert(run)
        check_create(run)
    finally:
        run.clean_up()


class Run:
    """One run of the checks: the unique prefix of its rows' carrier and event ids."""

    def __init__(self) -> None:
        self.prefix = f"sql-contract:{uuid.uuid4()}:"

    def tag(self, name: str = "") -> str:
        return f"{self.prefix}{name or uuid.uuid4()}"

    def call(self, **fields: Any) -> Call:
        values: dict[str, Any] = {
            "direction": Call.Direction.INBOUND,
            "call_control_id": self.tag(),
            "created_at": T0,
            "last_activity_at": T0,
        }
        values.update(fields)
        return Call.objects.create(**values)

    def clean_up(self) -> None:
        CarrierCommand.objects.filter(path__startswith=self.prefix).delete()
        CallEvent.objects.filter(event_id__startswith=self.prefix).delete()
        Call.objects.filter(call_control_id__startswith=self.prefix).delete()


# Comparing values -----------------------------------------------------------------------


def difference(a: Any, b: Any, *, offsets: bool = True) -> str | None:
    """Why `a` and `b` differ, or None if they are the same value of the same type (booleans
    are not integers, 2 is not 2.0, a UUID is not its text) at every depth of JSON; datetimes
    must also agree on being aware and (with `offsets`) on their UTC offset. A choice given
    as its enum member is its value."""
    a, b = (x.value if isinstance(x, enum.Enum) else x for x in (a, b))
    if type(a) is not type(b):
        return f"{a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})"
    if isinstance(a, dict):
        if a.keys() != b.keys():
            return f"keys {sorted(a)} != {sorted(b)}"
        for key in a:
            found = difference(a[key], b[key], offsets=offsets)
            if found:
                return f"[{key!r}]: {found}"
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{len(a)} items != {len(b)} items: {a!r} != {b!r}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = difference(x, y, offsets=offsets)
            if found:
                return f"[{index}]: {found}"
        return None
    if isinstance(a, dt.datetime) and (a.tzinfo is None) != (b.tzinfo is None):
        return f"{a!r} != {b!r} (aware and naive)"
    if offsets and isinstance(a, dt.datetime) and a.utcoffset() != b.utcoffset():
        return f"{a!r} != {b!r} (UTC offsets differ)"
    if a != b:
        return f"{a!r} != {b!r}"
    return None


def stored(obj: models.Model, attname: str) -> Any:
    """The field's value as read from the database (a FileField's name, not its FieldFile)."""
    value = getattr(obj, attname)
    return value.name if isinstance(value, models.fields.files.FieldFile) else value


def differences(
    a: models.Model, b: models.Model, attnames: Sequence[str], *, offsets: bool = True
) -> dict[str, str]:
    """The fields of `attnames` that differ, with why (see `difference`)."""
    found = {
        name: difference(stored(a, name), stored(b, name), offsets=offsets) for name in attnames
    }
    return {name: why for name, why in found.items() if why}


ALL_FIELDS = [f.attname for f in Call._meta.concrete_fields]
# Every field but the two that tell twins apart.
TWIN_FIELDS = [name for name in ALL_FIELDS if name not in ("id", "call_control_id")]


def where() -> str:
    return f"on {connection.vendor}"


# get --------------------------------------------------------------------------------------


def full_call(run: Run) -> Call:
    """A call with every field away from its default, values of every kind."""
    return run.call(
        direction=Call.Direction.OUTBOUND,
        status=Call.Status.STREAMING,
        from_number="+1 (555) 'O\"Brien' ☎",
        to_number="+33 1 23 45 67 89",
        simulated=True,
        carrier=Call.Carrier.TWILIO,
        call_leg_id="leg-'quoted'-ü",
        call_session_id='session "double" 日本',
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        answered_at=dt.datetime(2026, 1, 2, 3, 4, 9, 1, tzinfo=UTC),
        streaming_started_at=dt.datetime(2026, 1, 2, 4, 4, 10, 999999, tzinfo=PARIS),
        streaming_stopped_at=dt.datetime(2026, 1, 2, 3, 9, 0, 500000, tzinfo=UTC),
        ended_at=dt.datetime(2026, 1, 2, 3, 9, 1, 250000, tzinfo=UTC),
        ringing_at=dt.datetime(2026, 1, 2, 3, 4, 6, 0, tzinfo=UTC),
        last_activity_at=dt.datetime(2026, 1, 2, 3, 9, 1, 250001, tzinfo=UTC),
        hangup_cause="normal_clearing",
        hangup_source="caller",
        sip_hangup_cause="200",
        call_quality_stats=QUALITY,
        failure_reason="line one\nline two; DROP TABLE calls_call; -- 'x'",
        amd_result="human",
        media_token_hash="a" * 64,
        media_token_expires_at=dt.datetime(2026, 1, 2, 3, 5, 0, 42, tzinfo=UTC),
        media_token_used_at=dt.datetime(2026, 1, 2, 3, 4, 10, 7, tzinfo=UTC),
        stream_id="stream-1",
        media_encoding="audio/PCMU",
        media_sample_rate=8000,
        frames_in=2_000_000_000,
        frames_out=123_456,
        bytes_in=2**40 + 7,
        bytes_out=2**33 + 1,
        frames_missing=1,
        frames_late=2,
        frames_duplicate=3,
        frames_malformed=4,
        max_inbound_gap_ms=250,
        underruns=5,
        max_lead_ms=180,
        first_inbound_ms=20,
        first_outbound_ms=0,
        conversation=CONVERSATION,
        frames_shed=6,
        frames_early=7,
        media_events_dropped=8,
        live_media=LIVE_MEDIA,
        recording="recordings/2026/01/02/call-ü'x'.wav",
        telnyx_recording_urls=[
            "https://example.test/a.mp3?x=1&y='2'",
            "https://example.test/ü.wav",
        ],
        bridge=Call.Bridge.ECHO,
        bridge_status=Call.BridgeStatus.JOINED,
        bridge_error="timeout: 'agent' did not join",
        stream_call_id="default:ü-123",
        agent_session_id="agent-session-42",
        bridge_join_ms=1234,
        custom_data={"greeting": "Bonjour, ça va ?", "instructions": ["be brief", {"tone": 0.5}]},
    )


def check_get(run: Run) -> None:
    full = full_call(run)
    oracle = Call.objects.get(pk=full.pk)
    defaults = [name for name in ALL_FIELDS if stored(oracle, name) == stored(Call(), name)]
    assert not defaults, f"the full call left fields at their defaults: {defaults}"
    bare = run.call()  # NULLs, empty strings, zeros, falses and JSON defaults
    for call in (full, bare):
        oracle = Call.objects.get(pk=call.pk)
        lookups = {
            "by id": sql.get(Call, "id", call.pk),
            "by id as text": sql.get(Call, "id", str(call.pk)),
            "by call_control_id": sql.get(Call, "call_control_id", call.call_control_id),
        }
        for how, got in lookups.items():
            assert got is not None, f"sql.get {how} found no call {where()}"
            assert type(got) is Call, f"sql.get {how} built a {type(got).__name__} {where()}"
            found = differences(got, oracle, ALL_FIELDS)
            assert not found, f"sql.get {how} read (got != ORM) {where()}: {found}"
            assert got._state.adding is False, f"sql.get {how}: _state.adding is True {where()}"
            assert got._state.db == "default", (
                f"sql.get {how}: _state.db is {got._state.db!r} {where()}"
            )
            assert not got.get_deferred_fields(), (
                f"sql.get {how} deferred {got.get_deferred_fields()} {where()}"
            )
    assert sql.get(Call, "id", uuid.uuid4()) is None, f"sql.get found an unknown id {where()}"
    assert sql.get(Call, "call_control_id", run.tag("nobody")) is None, (
        f"sql.get found an unknown call_control_id {where()}"
    )


# exists -----------------------------------------------------------------------------------


def check_exists(run: Run) -> None:
    event = CallEvent.objects.create(
        call=run.call(), event_id=run.tag("exists"), type="call.initiated", payload={"a": 1}
    )
    assert sql.exists(CallEvent, "event_id", event.event_id) is True, (
        f"sql.exists missed a stored event_id {where()}"
    )
    assert sql.exists(CallEvent, "event_id", run.tag("exists-not")) is False, (
        f"sql.exists found an event_id never stored {where()}"
    )


# first ------------------------------------------------------------------------------------


def check_first(run: Run) -> None:
    """sql.first reads what `.filter(...).order_by("-newest").values_list(...).first()` does:
    the same row, its values converted to the same types, with `>=` holding at its bound to
    the microsecond whatever zone the bound is given in."""
    call, other = run.call(), run.call()
    stops = [
        (T0, {"reason": "stopped by Telnyx", "n": 1}),
        (T1, {"reason": "socket closed", "ü": [1, 2.5, None, True]}),
        (EARLIER, {"reason": "the oldest"}),
    ]
    for index, (at, payload) in enumerate(stops):
        CallEvent.objects.create(
            call=call,
            event_id=run.tag(f"first:{index}"),
            type="media.stop",
            occurred_at=at,
            received_at=at,
            payload=payload,
        )
    CallEvent.objects.create(  # another call's newer stop, and this call's newer other event
        call=other, event_id=run.tag("first:other"), type="media.stop", received_at=T1
    )
    CallEvent.objects.create(
        call=call, event_id=run.tag("first:start"), type="media.start", received_at=T1
    )
    lookups = (("call", "="), ("type", "="), ("received_at", ">="))
    names = ("payload", "received_at", "event_id", "call")
    for since in (EARLIER, T0, T_PARIS, T1, T1 + dt.timedelta(microseconds=1)):
        for newest in ("received_at", "occurred_at"):
            got = sql.first(
                CallEvent, names, lookups, [call.pk, "media.stop", since], newest=newest
            )
            oracle = (
                CallEvent.objects.filter(call=call, type="media.stop", received_at__gte=since)
                .order_by(f"-{newest}")
                .values_list(*names)
                .first()
            )
            found = difference(got, oracle)
            assert found is None, f"sql.first since {since} (got != ORM) {where()}: {found}"
    equal = (("call", "="), ("type", "="))
    one = sql.first(CallEvent, ("id",), equal, [str(call.pk), "media.start"])
    oracle = CallEvent.objects.filter(call=call, type="media.start").values_list("id").first()
    assert difference(one, oracle) is None, f"sql.first by id as text {where()}"
    nothing = sql.first(CallEvent, ("id",), equal, [uuid.uuid4(), "media.stop"])
    assert nothing is None, f"sql.first found a row for an unknown call {where()}"
    try:
        sql.first(CallEvent, ("id",), (("type", "LIKE"),), ["media.%"])
    except ValueError:
        pass
    else:
        raise AssertionError(f"sql.first took an operator it does not know {where()}")


# update -----------------------------------------------------------------------------------


def orm_expression(name: str, value: object) -> Any:
    """The ORM's own spelling of one calls.sql assignment, as its docstrings define them."""
    field = Call._meta.get_field(name)
    assert isinstance(field, models.Field)
    if isinstance(value, sql.Once):
        if field.null:
            return Coalesce(F(name), Value(value.value, output_field=field))
        return Case(
            When(**{name: ""}, then=Value(value.value, output_field=field)), default=F(name)
        )
    if isinstance(value, sql.AtMost):
        return Case(
            When(**{f"{name}__gt": value.value}, then=Value(value.value, output_field=field)),
            default=F(name),
        )
    if isinstance(value, sql.Unless):
        otherwise = F(name) if value.otherwise is None else orm_expression(name, value.otherwise)
        if not hasattr(otherwise, "resolve_expression"):
            otherwise = Value(otherwise, output_field=field)
        return Case(
            When(**{value.column: value.equals}, then=Value(value.value, output_field=field)),
            default=otherwise,
        )
    return value


class Twins:
    """One UPDATE made to twin calls that start alike, one through calls.sql and the other
    through the ORM; then the two rows and the two row counts must be equal."""

    def __init__(
        self,
        label: str,
        start: Mapping[str, Any],
        values: Mapping[str, object],
        *,
        within: Mapping[str, Sequence[object]] | None = None,
        null: Mapping[str, bool] | None = None,
        rows: int = 1,
    ) -> None:
        self.label, self.start, self.values = label, dict(start), dict(values)
        self.within, self.null, self.rows = within, null, rows

    def run(self, run: Run) -> None:
        by_sql, by_orm = run.call(**self.start), run.call(**self.start)
        before = Call.objects.get(pk=by_sql.pk)
        sql_rows = sql.update(Call, by_sql.pk, self.values, within=self.within, null=self.null)
        lookups: dict[str, Any] = {"pk": by_orm.pk}
        lookups.update({f"{name}__in": list(v) for name, v in (self.within or {}).items()})
        lookups.update({f"{name}__isnull": v for name, v in (self.null or {}).items()})
        orm_rows = Call.objects.filter(**lookups).update(
            **{name: orm_expression(name, value) for name, value in self.values.items()}
        )
        what = f"{self.label} {where()}"
        assert sql_rows == orm_rows, (
            f"{what}: sql.update changed {sql_rows} rows, the ORM {orm_rows}"
        )
        assert orm_rows == self.rows, f"{what}: the ORM changed {orm_rows} rows, not {self.rows}"
        after_sql, after_orm = Call.objects.get(pk=by_sql.pk), Call.objects.get(pk=by_orm.pk)
        found = differences(after_sql, after_orm, TWIN_FIELDS)
        assert not found, f"{what}: the rows differ (sql != ORM): {found}"
        if not self.rows:
            changed = differences(after_sql, before, TWIN_FIELDS)
            assert not changed, f"{what}: sql.update matched no row but changed {changed}"


T1 = dt.datetime(2026, 3, 4, 5, 6, 8, 654321, tzinfo=UTC)  # after T0
T_PARIS = dt.datetime(2026, 3, 4, 6, 6, 7, 123457, tzinfo=PARIS)  # a microsecond after T0
EARLIER = dt.datetime(2026, 3, 4, 5, 6, 7, 123455, tzinfo=UTC)  # one microsecond before T0
RECONCILED = Call.RECONCILED_CAUSE


def update_cases() -> list[Twins]:
    unknown: dict[str, Any] = {"hangup_cause": "", "ended_at": None, "call_quality_stats": None}
    known: dict[str, Any] = {
        "hangup_cause": "timeout",
        "ended_at": T0,
        "call_quality_stats": {"mos": 1.0},
    }
    reconciled: dict[str, Any] = {
        "hangup_cause": RECONCILED,
        "hangup_source": "phonebridge",
        "ended_at": T0,
    }
    ended = {"media_token_expires_at": T1}
    # A carrier's hangup as Call._end_updates writes it (every Unless tests the column that
    # an earlier assignment of the same UPDATE sets: both must read the row as it was).
    hangup: dict[str, object] = {
        name: sql.Unless("hangup_cause", RECONCILED, value, otherwise=sql.Once(value))
        for name, value in {
            "hangup_cause": "normal_clearing",
            "hangup_source": "caller",
            "sip_hangup_cause": "16",
            "ended_at": T_PARIS,
        }.items()
    }
    hangup["media_token_expires_at"] = sql.AtMost(T0)
    hangup["call_quality_stats"] = sql.Once(QUALITY)
    cases = [
        # Plain values of every kind.
        Twins(
            "plain values",
            {},
            {
                "status": Call.Status.RINGING,
                "hangup_source": 'it\'s "quoted" ü 日本',
                "simulated": True,
                "frames_in": 2_000_000_000,
                "bytes_in": 2**40 + 7,
                "ringing_at": T_PARIS,
                "last_activity_at": T1,
                "live_media": LIVE_MEDIA,
                "conversation": CONVERSATION,
                "telnyx_recording_urls": ["https://example.test/ü.wav"],
                "custom_data": {"greeting": "¡hola!"},
            },
        ),
        Twins(
            "plain values: a JSON string and NULLs",
            known,
            {
                "live_media": "just text, ü",
                "call_quality_stats": None,
                "ended_at": None,
            },
        ),
        Twins(
            "plain values: a false boolean and zeros",
            {"simulated": True, "frames_in": 9},
            {
                "simulated": False,
                "frames_in": 0,
                "media_sample_rate": None,
            },
        ),
    ]
    for state, start in (("unknown", unknown), ("already known", known)):
        cases += [
            Twins(f"Once on a nullable datetime, {state}", start, {"ended_at": sql.Once(T1)}),
            Twins(f"Once on a non-null string, {state}", start, {"hangup_cause": sql.Once("busy")}),
            Twins(
                f"Once on a JSONField, {state}", start, {"call_quality_stats": sql.Once(QUALITY)}
            ),
            Twins(
                f"Once on all three with a plain value, {state}",
                start,
                {
                    "ended_at": sql.Once(T_PARIS),
                    "hangup_cause": sql.Once("user_busy"),
                    "call_quality_stats": sql.Once(CONVERSATION),
                    "status": Call.Status.BUSY,
                },
            ),
        ]
    whole_second = T0.replace(microsecond=0)  # SQLite's text for it has no fraction
    for state, expires, limit in (
        ("NULL", None, T0),
        ("above", T1, T0),
        ("equal", T0, T0),
        ("below", EARLIER, T0),
        ("above by a microsecond", T_PARIS, T0),
        ("above within the second of a whole-second limit", T0, whole_second),
        ("equal to a whole-second limit", whole_second, whole_second),
    ):
        cases.append(
            Twins(
                f"AtMost on a datetime {state}",
                {"media_token_expires_at": expires},
                {"media_token_expires_at": sql.AtMost(limit)},
            )
        )
    for state, lead in (("above", 500), ("below", 5), ("equal", 100), ("NULL", None)):
        cases.append(
            Twins(
                f"AtMost on an integer {state}",
                {"max_lead_ms": lead},
                {"max_lead_ms": sql.AtMost(100)},
            )
        )
    otherwise_kinds: dict[str, Any] = {
        "None (keep)": lambda v: None,
        "a plain value": lambda v: v,
        "Once": sql.Once,
    }
    for state, start in (("matching", reconciled), ("not matching", known), ("unknown", unknown)):
        for kind, otherwise in otherwise_kinds.items():
            values = {
                "hangup_cause": sql.Unless(
                    "hangup_cause", RECONCILED, "normal_clearing", otherwise("user_busy")
                ),
                "ended_at": sql.Unless("hangup_cause", RECONCILED, T_PARIS, otherwise(T1)),
            }
            cases.append(Twins(f"Unless {state}, otherwise {kind}", start, values))
        cases.append(
            Twins(
                f"Unless {state}, otherwise AtMost",
                {**start, **ended},
                {
                    "media_token_expires_at": sql.Unless(
                        "hangup_cause", RECONCILED, T_PARIS, otherwise=sql.AtMost(T0)
                    )
                },
            )
        )
        cases.append(Twins(f"a carrier's hangup, {state}", {**start, **ended}, hangup))
    live = {"status": Call.Status.RINGING, "media_token_used_at": None, "answered_at": None}
    claim = {"media_token_used_at": T1, "last_activity_at": T1}
    statuses = list(Call.LIVE_STATUSES)
    cases += [
        Twins("within, matching", live, claim, within={"status": statuses}),
        Twins("within, not matching", live, claim, within={"status": ["ended", "failed"]}, rows=0),
        Twins("within one, matching", live, claim, within={"status": ["ringing"]}),
        Twins("null True, matching", live, claim, null={"media_token_used_at": True}),
        Twins(
            "null True, not matching",
            {**live, "media_token_used_at": T0},
            claim,
            null={"media_token_used_at": True},
            rows=0,
        ),
        Twins(
            "null False, matching",
            {**live, "answered_at": T0},
            {"status": Call.Status.ENDED},
            null={"answered_at": False},
        ),
        Twins(
            "null False, not matching",
            live,
            {"status": Call.Status.ENDED},
            null={"answered_at": False},
            rows=0,
        ),
        Twins(
            "within and null, matching, with Once",
            live,
            {**claim, "answered_at": sql.Once(T0), "status": Call.Status.ANSWERED},
            within={"status": statuses},
            null={"media_token_used_at": True, "answered_at": True},
        ),
        Twins(
            "within matching, null not matching",
            {**live, "answered_at": T0},
            {**claim, "status": Call.Status.ANSWERED},
            within={"status": statuses},
            null={"media_token_used_at": True, "answered_at": True},
            rows=0,
        ),
    ]
    return cases


def check_update(run: Run) -> None:
    for case in update_cases():
        case.run(run)
    missing = uuid.uuid4()
    assert sql.update(Call, missing, {"status": Call.Status.ENDED}) == 0, (
        f"sql.update changed a row for an unknown id {where()}"
    )


# insert -----------------------------------------------------------------------------------


def events(run: Run, call: Call, name: str) -> list[CallEvent]:
    return [
        CallEvent(
            call_id=call.pk,
            event_id=run.tag(f"{name}:1"),
            source=CallEvent.Source.WEBHOOK,
            type="call.hangup",
            occurred_at=dt.datetime(2026, 5, 6, 7, 8, 9, 101112, tzinfo=UTC),
            received_at=dt.datetime(2026, 5, 6, 9, 8, 9, 131415, tzinfo=PARIS),
            payload={"cause": "normal_clearing", "quality": QUALITY, "ü": "日本 “x” 'y'"},
        ),
        CallEvent(
            call_id=call.pk,
            event_id=run.tag(f"{name}:2"),
            source=CallEvent.Source.STATE,
            type="state.ended",
            occurred_at=dt.datetime(2026, 5, 6, 7, 8, 9, 1, tzinfo=UTC),
            received_at=dt.datetime(2026, 5, 6, 7, 8, 9, 999999, tzinfo=UTC),
            payload={"status": "ended", "list": [[1, 2.5], [-0.125, [None, True, False]], []]},
        ),
        CallEvent(
            call_id=None,
            event_id=run.tag(f"{name}:3"),
            source=CallEvent.Source.MEDIA,
            type="media.dtmf",
            occurred_at=dt.datetime(2026, 5, 6, 7, 8, 10, tzinfo=UTC),
            received_at=dt.datetime(2026, 5, 6, 7, 8, 10, 500000, tzinfo=UTC),
            payload={},
        ),
    ]


def check_insert(run: Run) -> None:
    call = run.call()
    given, twins = events(run, call, "sql"), events(run, call, "orm")
    sql.insert(CallEvent, given, CallEvent.STORED_FIELDS)
    CallEvent.objects.bulk_create(twins)
    names = [
        f.attname for f in CallEvent._meta.concrete_fields if f.name in CallEvent.STORED_FIELDS
    ]
    for event, twin in zip(given, twins, strict=True):
        read = CallEvent.objects.get(event_id=event.event_id)
        read_twin = CallEvent.objects.get(event_id=twin.event_id)
        # The same instants as given (read back in UTC, whatever zone they were given in).
        found = differences(read, event, names, offsets=False)
        assert not found, f"sql.insert stored (read != given) {where()}: {found}"
        found = differences(read, read_twin, [n for n in names if n != "event_id"])
        assert not found, f"sql.insert stored (sql != bulk_create) {where()}: {found}"
        assert read.pk is not None, f"sql.insert stored no primary key {where()}"
    sql.insert(CallEvent, [], CallEvent.STORED_FIELDS)  # nothing to write: no statement


# create ---------------------------------------------------------------------------------


def check_create(run: Run) -> None:
    """sql.create stores what save(force_insert=True) stores, for a model whose key we make
    (Call, a UUID) and for models whose key the database makes (CallEvent, CarrierCommand),
    reads that key back, and leaves the object as saved."""
    made = full_call(run)
    Call.objects.filter(pk=made.pk).delete()
    twin = Call.objects.get(pk=full_call(run).pk)
    made.call_control_id = run.tag("created")
    sql.create(made)
    assert not made._state.adding, f"left unsaved {where()}"
    assert made._state.db == "default", f"no database {where()}"
    read = Call.objects.get(pk=made.pk)
    names = [
        f.attname for f in Call._meta.concrete_fields if f.name not in ("id", "call_control_id")
    ]
    found = differences(read, twin, names)
    assert not found, f"sql.create stored (sql != save) {where()}: {found}"

    call = run.call()
    event, event_twin = events(run, call, "sql-created")[0], events(run, call, "orm-created")[0]
    sql.create(event)
    event_twin.save(force_insert=True)
    assert event.pk is not None, f"no key read back {where()}"
    assert event.pk != event_twin.pk, f"another row's key {where()}"
    read_event = CallEvent.objects.get(pk=event.pk)
    assert read_event.event_id == event.event_id, f"another row's key {where()}"
    names = [f.attname for f in CallEvent._meta.concrete_fields if f.name not in ("id", "event_id")]
    found = differences(read_event, CallEvent.objects.get(pk=event_twin.pk), names)
    assert not found, f"sql.create stored (sql != save) {where()}: {found}"

    command = CarrierCommand(
        call=call,
        name="answer",
        command_id=uuid.uuid4(),
        path=run.tag("calls/x/actions/answer"),
        request_body={"stream_url": "wss://h/x/[redacted]", "n": [1, 2.5]},
    )
    sql.create(command)
    read_command = CarrierCommand.objects.get(pk=command.pk)
    names = [f.attname for f in CarrierCommand._meta.concrete_fields]
    found = differences(read_command, command, names, offsets=False)
    assert not found, f"sql.create stored (read != given) {where()}: {found}"
