"""What phonebridge does to a live call, whichever carrier carries it.

Every caller (the admin, commands, webhook handlers, the media session, the bridges) goes
through these; each finds the call's carrier (telephony.carrier) and records on the Call what
the carrier's answer means for it. Failures raise CarrierError.
"""

from __future__ import annotations

import logging
import re

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony import admission
from telephony.carrier import CarrierError, carrier_for
from telephony.log_context import call_context
from telephony.numbers import validate_e164
from telephony.tasks import call_control

logger = logging.getLogger(__name__)

DTMF = re.compile(r"[0-9A-D*#wW]{1,32}")


@call_control
async def answer(*, call: Call, token: str) -> None:
    """Answer an inbound call, its audio streaming to the media URL for `token`.

    When the carrier will not answer for good (its retries are spent, or it refused), the
    caller must not ring on until the carrier gives up (30 s on Telnyx): the call is rejected
    as busy at once, else hung up, and failed with what the caller experienced. A call that
    is already over needs nothing more.

    A burst of calls is answered at this worker's pace (telephony.admission): a caller beyond
    it rings a moment longer, so that the calls in progress keep their audio on time.
    """
    with call_context(call.id):
        waited = await admission.wait_for_turn()
        if waited:
            logger.debug("answering after %.0f ms at the worker's pace", waited * 1000)
        try:
            await carrier_for(call).answer(call=call, token=token)
        except CarrierError as exc:
            if not exc.already_ended:
                logger.warning("answer failed: %s", exc.for_humans())
                await _end_unanswered(call, exc)


async def _end_unanswered(call: Call, error: CarrierError) -> None:
    carrier = carrier_for(call)
    ended_by = "nothing"
    try:
        await carrier.reject(call=call, busy=True)
        ended_by = "rejected as busy"
    except CarrierError as exc:
        if exc.already_ended:
            ended_by = "the caller"
        else:
            logger.warning("could not reject the call either: %s", exc.for_humans())
            try:
                await carrier.hang_up(call=call)
                ended_by = "hung up"
            except CarrierError as last:
                ended_by = "the caller" if last.already_ended else "nothing"
    rang = max((timezone.now() - call.created_at).total_seconds(), 0.0)
    heard = {
        "rejected as busy": f"the caller heard ringing for {rang:.1f} s, then a busy tone",
        "hung up": f"the caller heard ringing for {rang:.1f} s, then the line went dead",
        "the caller": f"the caller hung up after {rang:.1f} s of ringing",
        "nothing": f"the caller kept ringing until they or {carrier.name} gave up "
        f"(neither reject nor hangup went through; {rang:.1f} s so far)",
    }[ended_by]
    reason = f"answer failed ({error.for_humans()}); {heard}"
    details = {"error": error.for_humans(), "rang_s": round(rang, 1), "ended_by": ended_by}
    await sync_to_async(_record_unanswered)(call, reason, details)


def _record_unanswered(call: Call, reason: str, details: dict[str, object]) -> None:
    call.mark_failed(reason=reason)
    CallEvent.note(
        call.pk, source=CallEvent.Source.SYSTEM, type="answer.failed", payload={**details}
    )


@call_control
async def start_stream(*, call: Call, reason: str) -> bool:
    """Stream an answered call's audio again, to a fresh media token, after its stream was
    lost (`reason`). If the carrier refuses, the caller hears the apology and is hung up.
    True when the stream was asked for."""
    with call_context(call.id):
        token = await sync_to_async(call.issue_media_token)(ttl_seconds=settings.MEDIA_TOKEN_TTL)
        try:
            await carrier_for(call).start_stream(call=call, token=token)
        except CarrierError as exc:
            if exc.already_ended:
                return False
            logger.warning("could not restart the media stream: %s", exc.for_humans())
            await apologize_and_hang_up(
                call=call, reason=f"{reason}; restarting it failed: {exc.for_humans()}"
            )
            return False
        logger.warning("media stream restarted: %s", reason)
        await sync_to_async(CallEvent.note)(
            call.pk,
            source=CallEvent.Source.SYSTEM,
            type="media.restarted",
            payload={"reason": reason},
        )
        return True


@call_control
async def hang_up(*, call: Call) -> None:
    """Hang up a live call. A call the carrier says is already over is closed here too."""
    carrier = carrier_for(call)
    with call_context(call.id):
        if not call.call_control_id:
            reason = f"hung up before {carrier.name} knew the call"
            await sync_to_async(call.mark_failed)(reason=reason)
            return
        try:
            await carrier.hang_up(call=call)
        except CarrierError as exc:
            if not exc.already_ended:
                raise
            await sync_to_async(call.mark_ended)(at=timezone.now())


async def transfer(*, call: Call, to: str) -> None:
    to = validate_e164(to, field="Transfer to")
    with call_context(call.id):
        await carrier_for(call).transfer(call=call, to=to)


async def send_dtmf(*, call: Call, digits: str) -> None:
    if not DTMF.fullmatch(digits or ""):
        raise ValueError("DTMF digits are 0-9, A-D, * and #, with w/W for pauses.")
    with call_context(call.id):
        await carrier_for(call).send_dtmf(call=call, digits=digits)


async def start_transcription(*, call: Call) -> None:
    """The carrier transcribes both sides; its transcript events become the call's transcript."""
    with call_context(call.id):
        try:
            await carrier_for(call).start_transcription(call=call)
        except CarrierError as exc:
            # A transcript is a nice-to-have: the call goes on without one.
            logger.warning("could not start transcription: %s", exc.for_humans())


async def start_recording(*, call: Call) -> None:
    with call_context(call.id):
        await carrier_for(call).start_recording(call=call)


async def stop_recording(*, call: Call) -> None:
    with call_context(call.id):
        await carrier_for(call).stop_recording(call=call)


@call_control
async def apologize_and_hang_up(*, call: Call, reason: str, text: str | None = None) -> None:
    """The caller must not be left in silence: say sorry, hang up, record why it failed.

    The hangup follows the carrier's "speak ended" event (see the webhook handler); if
    speaking fails, we hang up at once.
    """
    with call_context(call.id):
        await sync_to_async(_note_apology)(call, reason)
        text = text or settings.APOLOGY_TEXT
        try:
            await carrier_for(call).speak(call=call, text=text, voice=settings.APOLOGY_VOICE)
        except CarrierError as exc:
            if exc.already_ended:
                return
            logger.warning("could not speak the apology (%s); hanging up", exc.for_humans())
            await hang_up(call=call)


def _note_apology(call: Call, reason: str) -> None:
    call.mark_failed(reason=reason)
    Call.objects.filter(pk=call.pk).update(
        custom_data={**call.custom_data, "hangup_after_speak": True}
    )
    call.refresh_from_db(fields=["custom_data"])
