"""Restart recovery: nothing stays "live" forever.

A call is live in the database until a webhook or the media session says otherwise. If the
worker holding its media socket died, or a webhook was lost for good, the call would look
live forever. Live media sessions touch their call every HEARTBEAT_SECONDS
(telephony.media.heartbeat), and webhooks do on every event, so a live call that has been
quiet for RECONCILE_IDLE_SECONDS has no stream anywhere. For each, we ask its carrier
(Telnyx: `GET /calls/{id}`, available until 10 minutes after the end): a call still alive
there is an orphan and is hung up; the others are closed with the reason recorded.

Minutes are too long for a caller whose stream died with its worker, though: the carrier
says so at once (Telnyx's `streaming.stopped`), and `recover_stream` answers that within
seconds, by streaming again to a fresh token or, failing that, with the apology.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls import sql
from calls.models import Call, CallEvent
from telephony import actions
from telephony.carrier import CallState, CarrierError, carrier_for
from telephony.control import notify_stream
from telephony.log_context import call_context
from telephony.media.recording import recover as recover_recording
from telephony.tasks import call_control

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciled:
    call_id: str
    action: str  # "hung up", "closed", "failed", "skipped"
    reason: str


def _stale_calls(idle_seconds: int, limit: int) -> list[Call]:
    cutoff = timezone.now() - timedelta(seconds=idle_seconds)
    return list(
        Call.objects.filter(status__in=Call.LIVE_STATUSES, last_activity_at__lt=cutoff).order_by(
            "last_activity_at"
        )[:limit]
    )


async def reconcile_calls(*, idle_seconds: int | None = None, limit: int = 200) -> list[Reconciled]:
    idle = settings.RECONCILE_IDLE_SECONDS if idle_seconds is None else idle_seconds
    calls = await sync_to_async(_stale_calls)(idle, limit)
    return [await reconcile_call(call) for call in calls]


async def reconcile_call(call: Call) -> Reconciled:
    carrier = carrier_for(call)
    with call_context(call.pk):
        if not call.call_control_id:
            reason = f"reconciled: never reached {carrier.name}"
            await sync_to_async(call.mark_failed)(reason=reason)
            return await _done(call, "failed", reason)
        try:
            state = await carrier.call_state(call=call)
        except CarrierError as exc:
            logger.warning(
                "could not ask %s about a stale call: %s", carrier.name, exc.for_humans()
            )
            return Reconciled(str(call.pk), "skipped", exc.for_humans())
        if state is CallState.ALIVE:
            return await _hang_up_orphan(call)
        if state is CallState.FORGOTTEN:
            return await _close(call, f"reconciled: unknown to {carrier.name} (ended long ago)")
        return await _close(call, f"reconciled: {carrier.name} says the call has ended")


async def _hang_up_orphan(call: Call) -> Reconciled:
    reason = "reconciled: orphaned (no media stream, no activity); hung up"
    try:
        await actions.hang_up(call=call)  # a call already over is closed there
    except CarrierError as exc:
        return Reconciled(str(call.pk), "skipped", exc.for_humans())
    # The call.hangup webhook will bring Telnyx's cause, which replaces ours (Call.mark_ended).
    await sync_to_async(call.mark_ended)(
        at=timezone.now(), cause=Call.RECONCILED_CAUSE, source="phonebridge"
    )
    return await _done(call, "hung up", reason)


async def _close(call: Call, reason: str) -> Reconciled:
    await sync_to_async(call.mark_ended)(
        at=timezone.now(), cause=Call.RECONCILED_CAUSE, source="phonebridge"
    )
    return await _done(call, "closed", reason)


async def _done(call: Call, action: str, reason: str) -> Reconciled:
    logger.info("%s: %s", action, reason)
    # Its media session never finished (its worker died): finish the recording's header.
    await sync_to_async(recover_recording)(call)
    await sync_to_async(CallEvent.note)(
        call.pk,
        source=CallEvent.Source.SYSTEM,
        type="reconciled",
        payload={"action": action, "reason": reason},
    )
    return Reconciled(str(call.pk), action, reason)


_loop_task: asyncio.Task[None] | None = None


def ensure_periodic_reconciliation() -> None:
    """Start this worker's reconciliation loop once (called as the worker serves requests).

    Every worker runs one; transitions are guarded, so two workers reconciling the same call
    do no harm (the second hangup gets Telnyx's "already ended").
    """
    global _loop_task
    if settings.RECONCILE_INTERVAL <= 0 or (_loop_task is not None and not _loop_task.done()):
        return
    _loop_task = asyncio.get_running_loop().create_task(_periodically(), name="reconcile-calls")


async def _periodically() -> None:
    # Jitter so that workers started together do not all ask Telnyx at the same moment.
    await asyncio.sleep(random.uniform(1, 5))
    while True:
        try:
            done = await reconcile_calls()
            if done:
                logger.info("reconciled %d stale calls", len(done))
        except Exception:  # the loop must survive a database or Telnyx outage
            logger.exception("reconciliation failed; will try again")
        await asyncio.sleep(settings.RECONCILE_INTERVAL * random.uniform(0.8, 1.2))


# Lost streams -------------------------------------------------------------------------

# How long a media session may take to record its end after the carrier said the stream
# stopped (its stop frame and the webhook race; the session closes its bridge first). A
# worker that died records nothing, so this is also how long a lost stream waits: the restart
# still reaches Telnyx well within 5 s of its streaming.stopped.
STREAM_END_GRACE_SECONDS = 2.0
STREAM_END_POLL_SECONDS = 0.2
MAX_STREAM_RESTARTS = 3
# The end reasons a media session records (telephony.media.session and consumer) when its
# stream went away under it: the socket closed without the carrier's `stop`, the consumer
# failed, or the carrier's streaming.stopped reached us while the socket still looked open.
# Any other recorded end was a `stop` frame (a hangup) or the session's own decision (a bad
# peer, a hangup, a wrong token), which a new stream would not mend.
LOST_STREAM_ENDS = ("socket closed", "media consumer failed", "stop requested")


# A webhook handler's Context.later: schedule a follow-up with its keyword arguments.
Later = Callable[..., None]


@dataclass(frozen=True)
class _StreamEnd:
    settled: bool  # nothing more will be learnt by waiting
    lost: str = ""  # why the stream counts as lost, or "" when there is nothing to do


def stream_stopped(call: Call, stopped_at: datetime, later: Later) -> None:
    """What either carrier's "stream stopped" webhook schedules (with `later`, the handler's
    follow-ups), once the handler has recorded the stop on `call`."""
    # After the hangup (the usual end) there is no newer stream to protect and nothing to
    # recover, so no need to look for a restart.
    if call.is_live and call.restarted_stream_since(stopped_at):
        return  # about a stream since replaced: the new one must not be told to stop
    streaming = call.status in (Call.Status.ANSWERED, Call.Status.STREAMING)
    if streaming and _session_end(call) == _StreamEnd(settled=True):
        # Its media session has already recorded a normal end: the usual hang-up, whose
        # `stop` frame comes before this webhook (telnyx-protocol.md §1.2, observed order)
        # and call.hangup after it. No session is left to stop and nothing was lost, so
        # nothing is scheduled: when a burst of calls ends together, each end costs one
        # query here instead of a task, a trip to the database thread and three queries in
        # recover_stream. (When the webhook wins the race, recover_stream waits for the end.)
        return
    later(notify_stream, call_id=call.pk, action="stop")
    if streaming:
        # The call goes on without a stream: unless its media session ended normally (or the
        # hangup is on its way), the caller is in silence. A worker that died mid-call is
        # the usual cause; answer within seconds, not at the next reconciliation.
        later(recover_stream, call_id=call.pk, stopped_at=stopped_at)


@call_control
async def recover_stream(*, call_id: uuid.UUID, stopped_at: datetime) -> str:
    """The carrier stopped a live call's stream at `stopped_at`. Unless its media session
    ended normally, or the call is ending anyway, stream again with a fresh token (at most
    MAX_STREAM_RESTARTS times), or apologise and hang up. Returns what was done."""
    with call_context(call_id):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_END_GRACE_SECONDS
        while True:
            end = await sync_to_async(_stream_end)(call_id, stopped_at)
            if end.settled or loop.time() >= deadline:
                break
            await asyncio.sleep(STREAM_END_POLL_SECONDS)
        if not end.lost:
            return "nothing"
        call = await Call.objects.aget(pk=call_id)
        if not call.is_live:
            return "nothing"
        restarts = await CallEvent.objects.filter(call_id=call_id, type="media.restarted").acount()
        if restarts >= MAX_STREAM_RESTARTS:
            reason = f"{end.lost}; given up after {restarts} restarts"
            await actions.apologize_and_hang_up(call=call, reason=reason)
            return "apologised"
        return "restarted" if await actions.start_stream(call=call, reason=end.lost) else "failed"


# The newest media.stop a session recorded since its token was claimed: what its end was.
_STOP_SINCE = (("call", "="), ("type", "="), ("received_at", ">="))


def _stream_end(call_id: uuid.UUID, stopped_at: datetime) -> _StreamEnd:
    # Every normal end of a call asks this (Telnyx sends streaming.stopped before call.hangup),
    # all at once when a burst of calls ends: its statements are written out (calls/sql.py).
    call = sql.get(Call, "id", call_id)
    if call is None or call.status not in (Call.Status.ANSWERED, Call.Status.STREAMING):
        return _StreamEnd(settled=True)  # over (or purged), or never had a stream to lose
    if call.restarted_stream_since(stopped_at):
        return _StreamEnd(settled=True)  # about a stream that has since been replaced
    return _session_end(call)


def _session_end(call: Call) -> _StreamEnd:
    """How the media session of `call`'s current socket ended, as far as it has recorded."""
    claimed = call.media_token_used_at
    if claimed is None:
        return _StreamEnd(settled=True, lost="media stream stopped before a socket reached us")
    end = sql.first(
        CallEvent, ("payload",), _STOP_SINCE, [call.pk, "media.stop", claimed], newest="received_at"
    )
    if end is None:
        # Not recorded yet, or never will be: the worker that held the socket died.
        return _StreamEnd(settled=False, lost="media stream lost: its session never ended")
    (payload,) = end
    reason = str((payload if isinstance(payload, dict) else {}).get("reason") or "")
    if reason.startswith(LOST_STREAM_ENDS):
        return _StreamEnd(settled=True, lost=f"media stream lost ({reason})")
    return _StreamEnd(settled=True)
