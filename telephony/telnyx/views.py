"""POST /telnyx/events: verify, store, answer 2xx fast, act afterwards."""

from __future__ import annotations

import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from phonebridge.lean import dropping_failed_connection, prepare_connection, writes_in_parallel
from telephony import metrics
from telephony.log_context import call_context
from telephony.telnyx.handlers import Outcome, record_event
from telephony.telnyx.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from telephony.telnyx.webhooks import (
    BadEnvelope,
    BadSignature,
    WebhookEvent,
    parse_event,
    verification_disabled,
    verify_signature,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@csrf_exempt
@require_POST
async def telnyx_webhook(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    response, event_type = await _handle(request)
    if response.status_code < 300:
        metrics.WEBHOOK_SECONDS.labels(metrics.event_label(event_type)).observe(
            time.perf_counter() - started
        )
    else:
        metrics.WEBHOOKS_REFUSED.labels(str(response.status_code)).inc()
    return response


async def _handle(request: HttpRequest) -> tuple[HttpResponse, str]:
    body = _read_body(request)
    if body is None:
        return _reply(413, "body larger than 1 MiB"), ""
    if not verification_disabled():
        try:
            verify_signature(
                body=body,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                public_key=settings.TELNYX_PUBLIC_KEY,
                tolerance=settings.TELNYX_WEBHOOK_TOLERANCE,
            )
        except BadSignature as exc:
            logger.warning("refused webhook from %s: %s", _client_ip(request), exc)
            return _reply(403, str(exc)), ""
    try:
        event = parse_event(body)
    except BadEnvelope as exc:
        logger.warning("refused webhook: %s", exc)
        return _reply(400, str(exc)), ""
    try:
        # PostgreSQL stores webhooks for different calls in parallel; SQLite has one writer,
        # and writers queueing on its lock back off in sleeps of up to 100 ms, so there all
        # writes share Django's one sync thread instead.
        parallel = writes_in_parallel()
        outcome: Outcome = await sync_to_async(_record, thread_sensitive=not parallel)(event)
    except DatabaseError:
        # Nothing was stored (one transaction); a non-2xx makes Telnyx deliver it again.
        logger.exception("could not store %s %s", event.event_type, event.id)
        return _reply(503, "temporarily unable to store the event"), event.event_type
    if outcome.deferred:
        # Nothing was stored: Telnyx's retry of this event id is processed, not deduplicated.
        return _reply(503, "too busy to act on the event now; retry"), event.event_type
    with call_context(outcome.call_id or "-"):
        logger.info(
            "%s %s%s", event.event_type, event.id, " (duplicate)" if outcome.duplicate else ""
        )
    outcome.start_follow_ups(f"{event.event_type}:{event.id}")
    status = "duplicate" if outcome.duplicate else "stored"
    return JsonResponse({"status": status}), event.event_type


def _record(event: WebhookEvent) -> Outcome:
    prepare_connection()  # served by LeanASGIHandler: no request signals do it
    with dropping_failed_connection():
        return record_event(event, reserve_room=True)


def _read_body(request: HttpRequest) -> bytes | None:
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    try:
        body = request.body
    except RequestDataTooBig:
        return None
    return body if len(body) <= MAX_BODY_BYTES else None


def _reply(status: int, reason: str) -> JsonResponse:
    return JsonResponse({"error": reason}, status=status)


def _client_ip(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", "?"))
