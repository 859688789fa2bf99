"""What each Telnyx webhook does to our calls.

`record_event` runs in one database transaction: the CallEvent row (unique on Telnyx's
`data.id`) and the call's transitions are written together or not at all, so a database
hiccup yields a non-2xx and Telnyx's retry finds nothing half-written. Anything that talks
to Telnyx or to a media stream is returned as a follow-up, run after the 2xx is sent.

Events may come twice or out of order (telnyx-protocol.md §2.2); handlers only use the
Call's monotonic transitions, so the final state does not depend on the order.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from calls import sql
from calls.models import Call, CallEvent
from calls.payload_shapes import recording_entry
from calls.redaction import redact
from telephony import actions, reconcile, tasks
from telephony.bridges import preparation, prepares_ahead
from telephony.control import notify_stream
from telephony.log_context import call_context
from telephony.telnyx.client import decode_client_state
from telephony.telnyx.webhooks import WebhookEvent

logger = logging.getLogger(__name__)

# A coroutine function run after the 2xx; what it returns is ignored.
FollowUp = Callable[[], Coroutine[Any, Any, object]]
# Reconciliation works in minutes; one write per second per call is precise enough.
ACTIVITY_RESOLUTION = timedelta(seconds=1)


@dataclass
class Context:
    call: Call
    event: WebhookEvent
    created: bool  # this event created the call
    own_leg: bool  # the event is about the call's own leg (not a transfer's other leg)
    media_token: str | None = None  # issued with the call's creation, for its answer
    follow_ups: list[FollowUp] = field(default_factory=list)

    def later(self, func: Callable[..., Coroutine[Any, Any, object]], /, **kwargs: object) -> None:
        self.follow_ups.append(functools.partial(func, **kwargs))


@dataclass(frozen=True)
class Outcome:
    duplicate: bool
    call_id: uuid.UUID | None
    follow_ups: tuple[FollowUp, ...] = ()
    # Room held in the best-effort lane for the follow-ups that are not call control.
    reservation: tasks.Reservation | None = None
    # Nothing was stored: there was no room to run the follow-ups, so Telnyx must retry.
    deferred: bool = False

    def start_follow_ups(self, name: str) -> None:
        """Run the follow-ups: call control in its own lane, the rest in the room reserved."""
        try:
            for follow_up in self.follow_ups:
                if tasks.is_call_control(follow_up):
                    tasks.spawn(follow_up(), name=name, critical=True)
                elif self.reservation is not None:
                    self.reservation.spawn(follow_up(), name=name)
                else:
                    tasks.spawn(follow_up(), name=name)  # no room was reserved: may be dropped
        finally:
            if self.reservation is not None:
                self.reservation.release()


class _NoRoom(Exception):
    """The event's follow-ups cannot be scheduled: roll its transaction back."""


def record_event(event: WebhookEvent, *, reserve_room: bool = False) -> Outcome:
    """Store `event` and apply it. A duplicate delivery changes nothing.

    With `reserve_room` (the webhook view), the best-effort follow-ups' room is reserved
    before the transaction commits: when there is none, nothing is stored (`deferred`), so
    that Telnyx's retry of the same event id is processed afresh rather than taken for a
    duplicate of work never done. The caller must then `start_follow_ups()`, which spends or
    releases the reservation.
    """
    if CallEvent.is_stored(event.id):
        return Outcome(duplicate=True, call_id=None)
    reservation: tasks.Reservation | None = None
    try:
        with transaction.atomic():
            outcome = _record(event)
            if reserve_room:
                best_effort = [f for f in outcome.follow_ups if not tasks.is_call_control(f)]
                reservation = tasks.reserve(len(best_effort))
                if reservation is None:
                    raise _NoRoom
        return dataclasses.replace(outcome, reservation=reservation)
    except _NoRoom:
        # telephony.tasks counts and reports the refusals, once per interval.
        logger.debug("no room for the follow-ups of %s %s: not stored", event.event_type, event.id)
        return Outcome(duplicate=False, call_id=None, deferred=True)
    except BaseException as exc:
        if reservation is not None:  # the commit failed after the room was taken
            reservation.release()
        # Two deliveries of one event raced: the other one stored it first.
        if isinstance(exc, IntegrityError) and CallEvent.is_stored(event.id):
            return Outcome(duplicate=True, call_id=None)
        raise


def _record(event: WebhookEvent) -> Outcome:
    found = _find_or_create_call(event)
    call = found.call
    stored = CallEvent(
        call=call,
        event_id=event.id,
        source=CallEvent.Source.WEBHOOK,
        type=event.event_type,
        occurred_at=event.occurred_at,
        payload=redact(event.envelope),  # Telnyx echoes our stream_url, token and all
    )
    if call is None:
        stored.save(force_insert=True)
        logger.info("stored %s for a call we do not know", event.event_type)
        return Outcome(duplicate=False, call_id=None)
    ctx = Context(
        call=call,
        event=event,
        created=found.created,
        own_leg=found.own_leg,
        media_token=found.media_token,
    )
    handler = HANDLERS.get(event.event_type)
    # The webhook's event and the state changes it causes go in one INSERT, at the end of
    # this transaction: a burst of new calls pays one write less per transition.
    with call.batched_events(stored), call_context(call.pk):
        _apply(ctx, handler)
    return Outcome(duplicate=False, call_id=call.pk, follow_ups=tuple(ctx.follow_ups))


def _apply(ctx: Context, handler: Callable[[Context], None] | None) -> None:
    call, own_leg = ctx.call, ctx.own_leg
    if own_leg:
        if handler is not None:
            handler(ctx)
        if call.last_activity_at < timezone.now() - ACTIVITY_RESOLUTION:
            call.touch()  # transitions touch it themselves; this covers the other events


# Finding the call ----------------------------------------------------------------------


class Found(NamedTuple):
    call: Call | None
    created: bool  # this event created the call
    own_leg: bool  # the event is about the call's own leg
    media_token: str | None = None  # issued with a new inbound call, for its answer


def _find_or_create_call(event: WebhookEvent) -> Found:
    payload = event.payload
    ccid = event.call_control_id
    if ccid and (call := sql.get(Call, "call_control_id", ccid)):
        return Found(call, False, True)
    if call := _by_client_state(payload.get("client_state")):
        if not call.call_control_id and ccid:
            _attach_leg(call, payload)
            return Found(call, False, True)
        return Found(call, False, call.call_control_id == ccid)
    session = payload.get("call_session_id")
    if session and (call := sql.get(Call, "call_session_id", session)):
        return Found(call, False, False)  # another leg of the same session (a transfer target)
    if not ccid:
        return Found(None, False, False)
    return _create_call(event)


def _by_client_state(value: object) -> Call | None:
    decoded = decode_client_state(value)
    try:
        call_id = uuid.UUID(decoded) if decoded else None
    except ValueError:
        return None
    return sql.get(Call, "id", call_id) if call_id else None


def _attach_leg(call: Call, payload: dict[str, object]) -> None:
    call.call_control_id = str(payload.get("call_control_id"))
    call.call_leg_id = call.call_leg_id or str(payload.get("call_leg_id") or "")
    call.call_session_id = call.call_session_id or str(payload.get("call_session_id") or "")
    call.save(update_fields=["call_control_id", "call_leg_id", "call_session_id"])


def _create_call(event: WebhookEvent) -> Found:
    # A call we have not seen: an inbound call (or an out-of-order event that beat its
    # call.initiated). Outbound calls always exist before they are dialed.
    payload = event.payload
    direction = (
        Call.Direction.OUTBOUND
        if payload.get("direction") == "outgoing"
        else Call.Direction.INBOUND
    )
    call = Call(
        direction=direction,
        from_number=str(payload.get("from") or "")[:64],
        to_number=str(payload.get("to") or "")[:64],
        call_control_id=str(payload.get("call_control_id")),
        call_leg_id=str(payload.get("call_leg_id") or "")[:64],
        call_session_id=str(payload.get("call_session_id") or "")[:64],
        simulated=settings.TELNYX_SIMULATOR,
        bridge=settings.BRIDGE,
    )
    # An inbound call.initiated is answered (on_initiated) with a media token: issued now,
    # it goes into the call's own INSERT rather than an UPDATE right after it.
    token = None
    if event.event_type == "call.initiated" and direction == Call.Direction.INBOUND:
        token = call.issue_media_token(ttl_seconds=settings.MEDIA_TOKEN_TTL)
    sql.create(call)
    return Found(call, True, True, token)


# Handlers ------------------------------------------------------------------------------


def on_initiated(ctx: Context) -> None:
    call, payload = ctx.call, ctx.event.payload
    if call.direction == Call.Direction.OUTBOUND:
        call.mark_ringing(at=ctx.event.occurred_at)
        return
    if not ctx.created:
        return  # a redelivery with a new id, or the call already ended: answer only once
    token = ctx.media_token or call.issue_media_token(ttl_seconds=settings.MEDIA_TOKEN_TTL)
    logger.info("inbound call from %s to %s: answering", payload.get("from"), payload.get("to"))
    ctx.later(actions.answer, call=call, token=token)
    if prepares_ahead(call):
        # Concurrently with answering, so the agent is there when the caller's audio is.
        ctx.later(preparation.prepare, call_id=call.pk)


def on_answered(ctx: Context) -> None:
    if ctx.call.mark_answered(at=ctx.event.occurred_at) and settings.TRANSCRIBE_CALLS:
        ctx.later(actions.start_transcription, call=ctx.call)


def on_hangup(ctx: Context) -> None:
    payload = ctx.event.payload
    stats = payload.get("call_quality_stats")
    ctx.call.mark_ended(
        at=ctx.event.occurred_at,
        cause=str(payload.get("hangup_cause") or "")[:64],
        source=str(payload.get("hangup_source") or "")[:32],
        sip_cause=str(payload.get("sip_hangup_cause") or "")[:16],
        quality_stats=stats if isinstance(stats, dict) else None,
    )
    ctx.later(notify_stream, call_id=ctx.call.pk, action="hangup")
    if prepares_ahead(ctx.call):
        # The media session's close does this too; whichever comes first (or the only one,
        # when no media socket ever came) dismisses the agent and ends the Stream call.
        ctx.later(preparation.teardown, call_id=ctx.call.pk)


def on_streaming_started(ctx: Context) -> None:
    ctx.call.mark_streaming(at=ctx.event.occurred_at)


def on_streaming_stopped(ctx: Context) -> None:
    call, stopped_at = ctx.call, ctx.event.occurred_at
    call.mark_streaming_stopped(at=stopped_at)
    reconcile.stream_stopped(call, stopped_at, ctx.later)


def on_streaming_failed(ctx: Context) -> None:
    # Without media the agent can neither hear nor speak: end the call and say why.
    reason = str(ctx.event.payload.get("failure_reason") or "unknown")
    ctx.call.mark_failed(reason=f"media stream failed: {reason}", at=ctx.event.occurred_at)
    ctx.later(actions.hang_up, call=ctx.call)


def on_machine_detection(ctx: Context) -> None:
    result = ctx.event.payload.get("result")
    if isinstance(result, str) and result:
        ctx.call.record_amd_result(result[:32])


def on_recording_saved(ctx: Context) -> None:
    # Plain text and https URLs only: the admin shows these as links (calls/payload_shapes.py).
    entry = recording_entry(ctx.event.payload)
    call = Call.objects.select_for_update().get(pk=ctx.call.pk)
    if entry not in call.telnyx_recording_urls:
        call.telnyx_recording_urls = sorted(
            [*call.telnyx_recording_urls, entry], key=lambda e: str(e.get("started_at") or "")
        )
        call.save(update_fields=["telnyx_recording_urls"])


def on_speak_ended(ctx: Context) -> None:
    if ctx.call.custom_data.get("hangup_after_speak"):
        ctx.later(actions.hang_up, call=ctx.call)


HANDLERS: dict[str, Callable[[Context], None]] = {
    "call.initiated": on_initiated,
    "call.answered": on_answered,
    "call.hangup": on_hangup,
    "streaming.started": on_streaming_started,
    "streaming.stopped": on_streaming_stopped,
    "streaming.failed": on_streaming_failed,
    "call.machine.detection.ended": on_machine_detection,
    "call.machine.premium.detection.ended": on_machine_detection,
    "call.speak.ended": on_speak_ended,
    "call.recording.saved": on_recording_saved,
    # Stored for the call's timeline and transcript; nothing to change on the call:
    # call.dtmf.received (the media stream forwards DTMF to the agent), call.transcription,
    # call.bridged, call.speak.started, call.machine.greeting.ended, and any unknown type.
}
