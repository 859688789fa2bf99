"""Restart recovery: nothing stays "live" forever.

A call is live in the database until a webhook or the media session says otherwise. If the
worker holding its media socket died, or a webhook was lost for good, the call would look
live forever. Live media sessions touch their call every HEARTBEAT_SECONDS
(telephony.media.heartbeat), and webhooks do on every event, so a live call that has been
quiet for RECONCILE_IDLE_SECONDS has no stream anywhere. For each, we ask its carrier (Telnyx: `GET /calls/{id}`, available until 10 minutes
after the end): a call still alive there is an orphan and is hung up; the others are closed
with the reason recorded.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony import actions
from telephony.carrier import CallState, CarrierError, carrier_for
from telephony.log_context import call_context

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
    # The call.hangup webhook will bring Telnyx's cause; until then, say why.
    await sync_to_async(call.mark_ended)(
        at=timezone.now(), cause="reconciled", source="phonebridge"
    )
    return await _done(call, "hung up", reason)


async def _close(call: Call, reason: str) -> Reconciled:
    await sync_to_async(call.mark_ended)(
        at=timezone.now(), cause="reconciled", source="phonebridge"
    )
    return await _done(call, "closed", reason)


async def _done(call: Call, action: str, reason: str) -> Reconciled:
    logger.info("%s: %s", action, reason)
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
