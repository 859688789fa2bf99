"""Workflows that combine Call rows with the Telnyx client. The admin and commands call these."""

from __future__ import annotations

import logging
import re
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import Call
from telephony import tasks
from telephony.log_context import call_context
from telephony.public_host import public_url
from telephony.telnyx.client import TelnyxError, encode_client_state, get_client

logger = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
AMD_MODES = ("detect", "detect_beep", "detect_words", "greeting_end", "premium")


class InvalidNumber(ValueError):
    pass


class CallFailed(Exception):
    """Telnyx refused a command; the failure is recorded on `call`."""

    def __init__(self, call: Call, error: TelnyxError) -> None:
        super().__init__(error.for_humans())
        self.call = call
        self.error = error


def validate_e164(number: str, *, field: str = "number") -> str:
    cleaned = re.sub(r"[\s().-]", "", number or "")
    if not E164.match(cleaned):
        raise InvalidNumber(
            f"{field} {number!r} is not an E.164 phone number: a '+', the country code and the "
            "number, digits only (for example +15551234567)."
        )
    return cleaned


def media_url(call: Call, token: str) -> str:
    return public_url(f"telnyx/media/{call.id}/{token}", websocket=True)


def stream_params(call: Call, token: str, *, for_answer: bool = False) -> dict[str, Any]:
    """The streaming fields of answer and dial (telnyx-protocol.md §1.5-1.7).

    rtp mode must be explicit (the default is mp3), and target legs `self` is sent explicitly
    because the default `opposite` is undocumented for an unbridged leg (§5 #2; a setting).
    """
    codec = settings.STREAM_BIDIRECTIONAL_CODEC
    params: dict[str, Any] = {
        "stream_url": media_url(call, token),
        "stream_track": "inbound_track",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": codec,
        "stream_bidirectional_target_legs": settings.STREAM_BIDIRECTIONAL_TARGET_LEGS,
    }
    if settings.STREAM_CODEC:
        params["stream_codec"] = settings.STREAM_CODEC
    if settings.MEDIA_AUTH_HEADER_REQUIRED and not for_answer:
        # Sent back by Telnyx as the x-telnyx-streaming-auth-token header (§1.1).
        params["stream_auth_token"] = token
    # Answer has no sampling-rate field (§1.7); L16 is 16 kHz on dial and streaming_start.
    if codec == "L16" and not for_answer:
        params["stream_bidirectional_sampling_rate"] = 16000
    return params


async def answer_inbound(*, call: Call, token: str) -> None:
    """Answer with bidirectional RTP streaming to the call's tokenized media URL.

    Answer cannot carry stream_auth_token (§1.1, §5 #3): when the header token is required,
    answer plainly and start the stream with streaming_start.
    """
    client_state = encode_client_state(str(call.id))
    with call_context(call.id):
        try:
            if settings.MEDIA_AUTH_HEADER_REQUIRED:
                await get_client().answer(
                    call.call_control_id, call=call, client_state=client_state
                )
                await get_client().streaming_start(
                    call.call_control_id,
                    call=call,
                    client_state=client_state,
                    **stream_params(call, token),
                )
                return
            await get_client().answer(
                call.call_control_id,
                call=call,
                client_state=client_state,
                **stream_params(call, token, for_answer=True),
            )
        except TelnyxError as exc:
            if not exc.already_ended:
                logger.warning("answer failed: %s", exc.for_humans())
                await sync_to_async(call.mark_failed)(reason=f"answer failed: {exc.for_humans()}")


async def place_call(
    *,
    to: str,
    from_: str | None = None,
    amd: str | None = None,
    custom_data: dict[str, Any] | None = None,
    timeout_secs: int | None = None,
) -> Call:
    """Dial `to`. The Call and its media token exist before the dial, so the media socket can
    never arrive before its call. Raises InvalidNumber, or CallFailed when Telnyx refuses."""
    to = validate_e164(to, field="To")
    from_ = validate_e164(from_ or settings.TELNYX_PHONE_NUMBER, field="From")
    if amd and amd not in AMD_MODES:
        raise ValueError(f"unknown answering machine detection mode {amd!r}")
    call, token = await sync_to_async(_create_outbound)(to, from_, amd, custom_data or {})
    with call_context(call.id):
        _start_preparation(call)
        params: dict[str, Any] = {
            "connection_id": settings.TELNYX_CALL_CONTROL_APP_ID,
            "to": to,
            "from": from_,
            "client_state": encode_client_state(str(call.id)),
            "timeout_secs": timeout_secs,
            "answering_machine_detection": amd,
            **stream_params(call, token),
        }
        try:
            dialed = await get_client().dial(call=call, **params)
        except TelnyxError as exc:
            await sync_to_async(call.mark_failed)(reason=f"dial failed: {exc.for_humans()}")
            _stop_preparation(call)
            raise CallFailed(call, exc) from exc
        await sync_to_async(_attach_ids)(
            call, dialed.call_control_id, dialed.call_leg_id, dialed.call_session_id
        )
    return call


def _start_preparation(call: Call) -> None:
    """The agent gets ready while the phone rings (telephony.bridges.preparation)."""
    if call.bridge == "stream":
        from telephony.bridges import preparation  # it imports this module

        tasks.spawn(preparation.prepare(call_id=call.pk), name=f"prepare:{call.pk}")


def _stop_preparation(call: Call) -> None:
    if call.bridge == "stream":
        from telephony.bridges import preparation

        tasks.spawn(preparation.teardown(call_id=call.pk), name=f"teardown:{call.pk}")


def _create_outbound(
    to: str, from_: str, amd: str | None, custom_data: dict[str, Any]
) -> tuple[Call, str]:
    call = Call(
        direction=Call.Direction.OUTBOUND,
        from_number=from_,
        to_number=to,
        simulated=settings.TELNYX_SIMULATOR,
        bridge=settings.BRIDGE,
        custom_data={**custom_data, **({"amd": amd} if amd else {})},
    )
    token = call.issue_media_token(ttl_seconds=settings.MEDIA_TOKEN_TTL)
    call.save()
    return call, token


def _attach_ids(call: Call, call_control_id: str, leg_id: str, session_id: str) -> None:
    # The call.initiated webhook may have attached them first (it finds the call by
    # client_state); only fill what is still empty.
    Call.objects.filter(pk=call.pk, call_control_id__isnull=True).update(
        call_control_id=call_control_id
    )
    Call.objects.filter(pk=call.pk, call_leg_id="").update(call_leg_id=leg_id)
    Call.objects.filter(pk=call.pk, call_session_id="").update(call_session_id=session_id)
    call.refresh_from_db()


async def hang_up(*, call: Call) -> None:
    """Hang up a live call. A call Telnyx says is already over is closed here too."""
    with call_context(call.id):
        if not call.call_control_id:
            await sync_to_async(call.mark_failed)(reason="hung up before Telnyx knew the call")
            return
        try:
            await get_client().hangup(call.call_control_id, call=call)
        except TelnyxError as exc:
            if not exc.already_ended:
                raise
            await sync_to_async(call.mark_ended)(at=timezone.now())


async def _call_action(call: Call, action: str, **params: Any) -> None:
    if not call.call_control_id:
        raise TelnyxError(f"{action}: the call has no Telnyx call_control_id yet")
    with call_context(call.id):
        await get_client().action(call.call_control_id, action, call=call, **params)


async def transfer(*, call: Call, to: str) -> None:
    await _call_action(call, "transfer", to=validate_e164(to, field="Transfer to"))


async def send_dtmf(*, call: Call, digits: str) -> None:
    if not re.fullmatch(r"[0-9A-D*#wW]{1,32}", digits or ""):
        raise ValueError("DTMF digits are 0-9, A-D, * and #, with w/W for pauses.")
    await _call_action(call, "send_dtmf", digits=digits)


async def start_transcription(*, call: Call) -> None:
    """Telnyx transcribes both sides and sends `call.transcription` webhooks (the transcript)."""
    try:
        await _call_action(
            call,
            "transcription_start",
            transcription_engine=settings.TRANSCRIPTION_ENGINE,
            transcription_tracks="both",
        )
    except TelnyxError as exc:
        # A transcript is a nice-to-have: the call goes on without one.
        logger.warning("could not start transcription: %s", exc.for_humans())


async def start_recording(*, call: Call) -> None:
    await _call_action(call, "record_start", format="wav", channels="dual")


async def stop_recording(*, call: Call) -> None:
    await _call_action(call, "record_stop")


async def apologize_and_hang_up(*, call: Call, reason: str, text: str | None = None) -> None:
    """The caller must not be left in silence: say sorry, hang up, record why it failed.

    The hangup follows `call.speak.ended` (see the webhook handler); if speaking fails, we
    hang up at once.
    """
    with call_context(call.id):
        await sync_to_async(_note_apology)(call, reason)
        text = text or settings.APOLOGY_TEXT
        try:
            await _call_action(call, "speak", payload=text, voice=settings.APOLOGY_VOICE)
        except TelnyxError as exc:
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
