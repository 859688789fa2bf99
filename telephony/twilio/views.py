"""Twilio's webhooks: POST /twilio/voice (an inbound call: answered with TwiML), /twilio/status
(call and stream status callbacks), /twilio/recording and /twilio/amd.

Each verifies X-Twilio-Signature (403 otherwise), reads the form (400 with the reason when it
is not one of Twilio's), stores the callback once (telephony.twilio.handlers) and answers
fast. Twilio treats any non-2xx as an application error and, for the voice webhook, tells
the caller so: the voice webhook therefore answers TwiML even when it cannot take the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from calls.models import Call, CallEvent
from calls.redaction import redact
from phonebridge.lean import dropping_failed_connection, writes_in_parallel
from telephony import admission, metrics, tasks
from telephony.bridges import BRIDGES, preparation, prepares_ahead
from telephony.log_context import call_context
from telephony.public_host import PublicHostUnknown, ensure_public_host, public_url
from telephony.twilio import twiml
from telephony.twilio.call_control import stream_twiml
from telephony.twilio.handlers import Outcome, record_event
from telephony.twilio.webhooks import (
    SETTINGS_HEADER,
    SIGNATURE_HEADER,
    BadRequest,
    BadSignature,
    TwilioEvent,
    parse_event,
    parse_params,
    verify_signature,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024  # Twilio's forms are a few hundred bytes


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@csrf_exempt
@require_POST
async def voice(request: HttpRequest) -> HttpResponse:
    """An inbound call: register it, and answer with <Connect><Stream> to its media URL."""
    try:
        event = await _verified_event(request, "voice")
    except _Refused as exc:
        return _refuse(exc)
    no_host = ""
    try:
        await ensure_public_host()  # ngrok is asked off the loop; the answer is cached
    except PublicHostUnknown as exc:
        no_host = f"no media URL to give Twilio: {exc}"
    parallel = writes_in_parallel()
    # A burst of calls is answered at this worker's pace (telephony.admission): Twilio answers
    # when it gets our TwiML, so the reply waits for the call's turn (the call is registered,
    # and answered as of that turn, now).
    turn = admission.book()
    try:
        answer = await sync_to_async(_answer, thread_sensitive=not parallel)(
            event, no_host, turn.wait_s
        )
    except DatabaseError:
        # Nothing to record it in: the caller hears busy rather than Twilio's error message.
        logger.exception("could not register inbound call %s", event.call_sid)
        admission.give_back()
        return _twiml(twiml.reject("busy"))
    if answer.call_id is None:  # refused (busy): its turn goes to the next caller
        admission.give_back()
        return _twiml(answer.document)
    if answer.room is not None:
        # Concurrently with the stream opening, so the agent is there when the caller is.
        answer.room.spawn(preparation.prepare(call_id=answer.call_id), name="prepare")
    admission.observe(turn)
    if turn.wait_s > 0:
        await asyncio.sleep(turn.wait_s)
    return _twiml(answer.document)


@dataclass(frozen=True)
class _Answer:
    document: str
    call_id: uuid.UUID | None = None
    room: tasks.Reservation | None = None  # held for the agent's preparation


def _answer(event: TwilioEvent, no_host: str, wait: float = 0.0) -> _Answer:
    """The call and its answer, written together or not at all; `wait`: seconds until the
    answer's turn (telephony.admission)."""
    answer: _Answer | None = None
    try:
        with dropping_failed_connection(), transaction.atomic():
            answer = _register(event, no_host, wait)
        return answer
    except BaseException:
        if answer is not None and answer.room is not None:
            answer.room.release()  # the commit failed: the preparation will not be spawned
        raise


def _register(event: TwilioEvent, no_host: str, wait: float) -> _Answer:
    if CallEvent.is_stored(event.id):
        # Twilio asks once per call. A second request is a replay of a captured one: it
        # must never receive a media URL with a live token.
        logger.warning("refused a repeated voice webhook for %s", event.call_sid)
        return _Answer(twiml.reject("busy"))
    call = Call.objects.create(
        carrier=Call.Carrier.TWILIO,
        direction=Call.Direction.INBOUND,
        from_number=event.get("From")[:64],
        to_number=event.get("To")[:64],
        call_control_id=event.call_sid,
        simulated=settings.TWILIO_SIMULATOR,
        bridge=settings.BRIDGE,
    )
    with call_context(call.pk):
        CallEvent.objects.create(
            call=call,
            event_id=event.id,
            type=event.type,
            occurred_at=event.occurred_at,
            payload=redact({"params": event.params}),
        )
        room = tasks.reserve(1) if prepares_ahead(call) and not no_host else None
        refusal = no_host or _cannot_take(call, room)
        if refusal:
            _note_rejected(call, refusal)
            return _Answer(twiml.reject("busy"))
        try:
            return _stream(call, event, room, wait)
        except BaseException:
            if room is not None:
                room.release()
            raise


def _stream(call: Call, event: TwilioEvent, room: tasks.Reservation | None, wait: float) -> _Answer:
    token = call.issue_media_token(ttl_seconds=settings.MEDIA_TOKEN_TTL)
    document = stream_twiml(call, token)
    # Twilio answers the call when it runs this TwiML, which it gets at the answer's turn.
    call.mark_answered(at=event.occurred_at + timedelta(seconds=wait))
    logger.info("inbound call from %s to %s: streaming", call.from_number, call.to_number)
    return _Answer(document, call.pk, room)


def _cannot_take(call: Call, room: tasks.Reservation | None) -> str:
    """Why the call cannot be taken now, or "" (`room`: what was reserved for preparing it)."""
    if call.bridge and call.bridge not in BRIDGES:
        return f"bridge {call.bridge!r} is not available"
    if prepares_ahead(call) and room is None:
        return "over capacity: no room to prepare the agent"
    return ""


def _note_rejected(call: Call, reason: str) -> None:
    logger.warning("rejected inbound call: %s", reason)
    call.mark_failed(reason=f"{reason}; the caller heard a busy tone at once")
    CallEvent.note(
        call.pk,
        source=CallEvent.Source.SYSTEM,
        type="answer.rejected",
        payload={"reason": reason, "caller_heard": "a busy tone"},
    )


@csrf_exempt
@require_POST
async def status(request: HttpRequest) -> HttpResponse:
    return await _callback(request, "status")


@csrf_exempt
@require_POST
async def recording(request: HttpRequest) -> HttpResponse:
    return await _callback(request, "recording")


@csrf_exempt
@require_POST
async def amd(request: HttpRequest) -> HttpResponse:
    return await _callback(request, "amd")


async def _callback(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        event = await _verified_event(request, kind)
    except _Refused as exc:
        return _refuse(exc)
    parallel = writes_in_parallel()
    try:
        outcome: Outcome = await sync_to_async(_record, thread_sensitive=not parallel)(event)
    except DatabaseError:
        logger.exception("could not store %s for %s", event.type, event.call_sid)
        return _refuse(_Refused(503, "temporarily unable to store the callback"))
    with call_context(outcome.call_id or "-"):
        logger.info("%s %s%s", event.type, event.id, " (duplicate)" if outcome.duplicate else "")
    outcome.start_follow_ups(f"{event.type}:{event.call_sid}")
    return JsonResponse({"status": "duplicate" if outcome.duplicate else "stored"})


def _record(event: TwilioEvent) -> Outcome:
    with dropping_failed_connection():
        return record_event(event)


async def _verified_event(request: HttpRequest, kind: str) -> TwilioEvent:
    body = _read_body(request)
    content_type = request.content_type or ""
    urls = await _signed_url_candidates(request)
    try:
        verify_signature(
            urls=urls,
            body=body,
            content_type=content_type,
            signature=request.headers.get(SIGNATURE_HEADER),
            auth_token=settings.TWILIO_AUTH_TOKEN,
            signature_settings=request.headers.get(SETTINGS_HEADER),
        )
    except BadSignature as exc:
        logger.warning("refused Twilio webhook from %s: %s", request.META.get("REMOTE_ADDR"), exc)
        raise _Refused(403, str(exc)) from None
    try:
        params = parse_params(body, content_type)
        return parse_event(kind, params, {k: request.GET.get(k, "") for k in request.GET})
    except BadRequest as exc:
        logger.warning("refused Twilio webhook: %s", exc)
        raise _Refused(400, str(exc)) from None


async def _signed_url_candidates(request: HttpRequest) -> list[str]:
    """The URL Twilio requested, as far as we can tell: the public one first."""
    candidates = []
    path = request.get_full_path()
    with contextlib.suppress(PublicHostUnknown):
        candidates.append(public_url(path, host=await ensure_public_host()))
    with contextlib.suppress(DisallowedHost):
        candidates.append(request.build_absolute_uri(path))
    return candidates


def _read_body(request: HttpRequest) -> bytes:
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = request.body
    except (RequestDataTooBig, TooManyFieldsSent):
        raise _Refused(413, "body too large") from None
    if len(body) > MAX_BODY_BYTES:
        raise _Refused(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return body


def _refuse(refused: _Refused) -> HttpResponse:
    metrics.WEBHOOKS_REFUSED.labels(str(refused.status)).inc()
    return JsonResponse({"error": str(refused)}, status=refused.status)


def _twiml(document: str) -> HttpResponse:
    return HttpResponse(document, content_type="text/xml; charset=utf-8")
