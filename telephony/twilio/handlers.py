"""What each Twilio callback does to our calls.

`record_event` runs in one transaction: the CallEvent row (unique on the event id built from
CallSid, status and SequenceNumber, telephony.twilio.webhooks) and the call's transitions are
written together or not at all. Anything that talks to Twilio or to a media stream is
returned as a follow-up, run once the reply is on its way.

Twilio's callbacks may come twice or out of order (each is a separate HTTP request); the
handlers only use the Call's monotonic transitions, so the final state does not depend on
the order. CallStatus values (https://www.twilio.com/docs/voice/api/call-resource#call-status-values):
queued, initiated, ringing, in-progress, completed, busy, no-answer, canceled, failed.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from calls.models import Call, CallEvent
from calls.payload_shapes import recording_entry
from calls.redaction import redact
from telephony import actions, reconcile, tasks
from telephony.bridges import preparation, prepares_ahead
from telephony.control import notify_stream
from telephony.log_context import call_context
from telephony.twilio.webhooks import TwilioEvent

logger = logging.getLogger(__name__)

FollowUp = Callable[[], Coroutine[Any, Any, object]]

# The hangup cause each final CallStatus means, in the vocabulary Call.mark_ended reads
# (Telnyx's): completed ends a connected call; the others never connected.
END_CAUSES = {
    "completed": "normal_clearing",
    "busy": "user_busy",
    "no-answer": "no_answer",
    "canceled": "originator_cancel",
    "failed": "failed",
}
# SIP answers to a failed call that mean the far end refused it (RFC 3261 403, 603, 607).
REFUSED_SIP = frozenset({"403", "603", "607"})


@dataclass
class Context:
    call: Call
    event: TwilioEvent
    follow_ups: list[FollowUp] = field(default_factory=list)

    def later(self, func: Callable[..., Coroutine[Any, Any, object]], /, **kwargs: object) -> None:
        self.follow_ups.append(functools.partial(func, **kwargs))


@dataclass(frozen=True)
class Outcome:
    duplicate: bool
    call_id: uuid.UUID | None
    follow_ups: tuple[FollowUp, ...] = ()

    def start_follow_ups(self, name: str) -> None:
        # Twilio does not retry a callback we answered, so nothing can be deferred to a
        # retry: call control always runs, best-effort work may be dropped (and counted).
        for follow_up in self.follow_ups:
            tasks.spawn(follow_up(), name=name)


def record_event(event: TwilioEvent) -> Outcome:
    """Store `event` and apply it. A duplicate delivery changes nothing."""
    if CallEvent.is_stored(event.id):
        return Outcome(duplicate=True, call_id=None)
    try:
        with transaction.atomic():
            return _record(event)
    except IntegrityError:
        if CallEvent.is_stored(event.id):  # a parallel delivery won
            return Outcome(duplicate=True, call_id=None)
        raise


def _record(event: TwilioEvent) -> Outcome:
    call = find_call(event)
    CallEvent.objects.create(
        call=call,
        event_id=event.id,
        source=CallEvent.Source.WEBHOOK,
        type=event.type,
        occurred_at=event.occurred_at,
        payload=redact({"params": event.params}),
    )
    if call is None:
        logger.info("stored %s for a call we do not know", event.type)
        return Outcome(duplicate=False, call_id=None)
    ctx = Context(call=call, event=event)
    with call_context(call.pk):
        handler = _handler(event)
        if handler is not None:
            handler(ctx)
        call.touch()
    return Outcome(duplicate=False, call_id=call.pk, follow_ups=tuple(ctx.follow_ups))


def find_call(event: TwilioEvent) -> Call | None:
    """The call by its CallSid, else by the `call` id our callback URL carries (an outbound
    call's callbacks may beat the dial's own answer), learning its CallSid then."""
    if call := Call.objects.filter(call_control_id=event.call_sid).first():
        return call
    try:
        ours = uuid.UUID(event.call_ref) if event.call_ref else None
    except ValueError:
        return None
    call = Call.objects.filter(pk=ours, carrier=Call.Carrier.TWILIO).first() if ours else None
    if call is None or call.call_control_id:
        return None  # another leg (a transfer's), or a call we never placed
    # Only if still unknown: the dial's reply may be attaching it at the same moment.
    Call.objects.filter(pk=call.pk, call_control_id__isnull=True).update(
        call_control_id=event.call_sid
    )
    call.refresh_from_db()
    return call if call.call_control_id == event.call_sid else None


def _handler(event: TwilioEvent) -> Callable[[Context], None] | None:
    if event.type.startswith("twilio.call."):
        return on_call_status
    return HANDLERS.get(event.type)


# Handlers ------------------------------------------------------------------------------


def on_call_status(ctx: Context) -> None:
    call, event = ctx.call, ctx.event
    status = event.get("CallStatus")
    if answered_by := event.get("AnsweredBy"):
        call.record_amd_result(answered_by[:32])
    if status == "ringing":
        call.mark_ringing(at=event.occurred_at)
    elif status == "in-progress":
        call.mark_answered(at=event.occurred_at)
    elif status in END_CAUSES:
        _end(ctx, status)
    # queued and initiated: stored for the timeline; the call exists already.


def _end(ctx: Context, status: str) -> None:
    call, event = ctx.call, ctx.event
    sip = event.get("SipResponseCode")[:16]
    cause = END_CAUSES[status]
    if status == "failed" and sip in REFUSED_SIP:
        cause = "call_rejected"
    call.mark_ended(at=event.occurred_at, cause=cause, sip_cause=sip)
    ctx.later(notify_stream, call_id=call.pk, action="hangup")
    if prepares_ahead(call):
        ctx.later(preparation.teardown, call_id=call.pk)


def on_stream_started(ctx: Context) -> None:
    ctx.call.mark_streaming(at=ctx.event.occurred_at)


def on_stream_stopped(ctx: Context) -> None:
    call, stopped_at = ctx.call, ctx.event.occurred_at
    call.mark_streaming_stopped(at=stopped_at)
    reconcile.stream_stopped(call, stopped_at, ctx.later)


def on_stream_error(ctx: Context) -> None:
    reason = ctx.event.get("StreamError")[:200] or "unknown"
    ctx.call.mark_failed(reason=f"media stream failed: {reason}", at=ctx.event.occurred_at)
    ctx.later(actions.hang_up, call=ctx.call)


def on_amd(ctx: Context) -> None:
    ctx.call.record_amd_result(ctx.event.get("AnsweredBy")[:32])


def on_recording_completed(ctx: Context) -> None:
    # https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback: RecordingUrl
    # has no extension; Twilio serves it as .wav or .mp3 (with the account's credentials).
    event = ctx.event
    url = event.get("RecordingUrl")
    entry = recording_entry(
        {
            "recording_id": event.get("RecordingSid"),
            "recording_urls": {"wav": f"{url}.wav", "mp3": f"{url}.mp3"} if url else {},
            "recording_started_at": event.get("RecordingStartTime"),
            "channels": event.get("RecordingChannels"),
        }
    )
    call = Call.objects.select_for_update().get(pk=ctx.call.pk)
    if entry not in call.telnyx_recording_urls:  # the carrier's recordings, whichever carrier
        call.telnyx_recording_urls = sorted(
            [*call.telnyx_recording_urls, entry], key=lambda e: str(e.get("started_at") or "")
        )
        call.save(update_fields=["telnyx_recording_urls"])


HANDLERS: dict[str, Callable[[Context], None]] = {
    "twilio.stream-started": on_stream_started,
    "twilio.stream-stopped": on_stream_stopped,
    "twilio.stream-error": on_stream_error,
    "twilio.amd": on_amd,
    "twilio.recording.completed": on_recording_completed,
    # Stored for the timeline only: twilio.voice (the view acts on it), recording
    # in-progress/absent/failed, and anything Twilio adds later.
}
