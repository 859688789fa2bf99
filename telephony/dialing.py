"""Placing an outbound call: the Call row, its media token, the agent's preparation, the dial.

The admin and commands call `place_call`; it sits above the bridges' preparation (which uses
telephony.actions) so that imports only ever point downhill.
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import Call
from telephony import tasks
from telephony.bridges import preparation, prepares_ahead
from telephony.carrier import CarrierError, DialedCall, carrier_for
from telephony.log_context import call_context
from telephony.numbers import validate_e164

AMD_MODES = ("detect", "detect_beep", "detect_words", "greeting_end", "premium")


class CallFailed(Exception):
    """The carrier refused to dial, or never answered; the failure is recorded on `call`."""

    def __init__(self, call: Call, error: CarrierError) -> None:
        super().__init__(dial_failure(error))
        self.call = call
        self.error = error


def dial_failure(error: CarrierError) -> str:
    """What the operator reads: "refused" only when the carrier answered with a client error;
    a server error is the carrier's own failure; no HTTP answer at all (a timeout, a refused
    connection) is "no response", since the carrier never saw or never judged the dial."""
    if error.status_code is None:
        why = _WHY.search(str(error))
        return f"No response from {error.carrier} when dialing ({why[1] if why else error})."
    if error.status_code >= 500:
        return f"{error.carrier} could not place the call: {error.for_humans()}"
    return f"{error.carrier} refused the call: {error.for_humans()}"


# The transport error's name, at the end of a no-response message: "… (ConnectError)".
_WHY = re.compile(r"\(([^()]+)\)\s*$")


async def place_call(
    *,
    to: str,
    from_: str | None = None,
    amd: str | None = None,
    custom_data: dict[str, Any] | None = None,
    timeout_secs: int | None = None,
) -> Call:
    """Dial `to`. The Call and its media token exist before the dial, so the media socket can
    never arrive before its call. Raises InvalidNumber, or CallFailed when the carrier refuses."""
    to = validate_e164(to, field="To")
    from_ = validate_e164(from_ or default_from_number(), field="From")
    if amd and amd not in AMD_MODES:
        raise ValueError(f"unknown answering machine detection mode {amd!r}")
    carrier = carrier_for_number(from_)
    call, token = await sync_to_async(_create_outbound)(to, from_, amd, custom_data or {}, carrier)
    with call_context(call.id):
        _start_preparation(call)
        try:
            dialed = await carrier_for(call).dial(
                call=call, token=token, amd=amd, timeout_secs=timeout_secs
            )
        except CarrierError as exc:
            await sync_to_async(call.mark_failed)(reason=dial_failure(exc))
            _stop_preparation(call)
            raise CallFailed(call, exc) from exc
        await sync_to_async(_attach_ids)(call, dialed)
    return call


def carrier_for_number(from_: str) -> str:
    """The carrier that owns `from_`: a caller id only works on the carrier it belongs to.
    A number configured for neither goes to PHONEBRIDGE_CARRIER."""
    if from_ in {settings.TWILIO_PHONE_NUMBER, *settings.TWILIO_FROM_NUMBERS} - {""}:
        return Call.Carrier.TWILIO
    if from_ in {settings.TELNYX_PHONE_NUMBER, *settings.TELNYX_FROM_NUMBERS} - {""}:
        return Call.Carrier.TELNYX
    return str(settings.PHONEBRIDGE_CARRIER)


def default_from_number() -> str:
    """The default carrier's own number."""
    if settings.PHONEBRIDGE_CARRIER == Call.Carrier.TWILIO:
        return str(settings.TWILIO_PHONE_NUMBER)
    return str(settings.TELNYX_PHONE_NUMBER)


# Critical, like call control: one task per operator's dial, so never a storm, and a dial
# whose agent was never prepared (or never dismissed) would fail, or leak, unseen.


def _start_preparation(call: Call) -> None:
    """The agent gets ready while the phone rings."""
    if prepares_ahead(call):
        tasks.spawn(preparation.prepare(call_id=call.pk), name=f"prepare:{call.pk}", critical=True)


def _stop_preparation(call: Call) -> None:
    if prepares_ahead(call):
        tasks.spawn(
            preparation.teardown(call_id=call.pk), name=f"teardown:{call.pk}", critical=True
        )


def _create_outbound(
    to: str, from_: str, amd: str | None, custom_data: dict[str, Any], carrier: str
) -> tuple[Call, str]:
    simulated = settings.TWILIO_SIMULATOR if carrier == "twilio" else settings.TELNYX_SIMULATOR
    call = Call(
        carrier=carrier,
        direction=Call.Direction.OUTBOUND,
        from_number=from_,
        to_number=to,
        simulated=simulated,
        bridge=settings.BRIDGE,
        custom_data={**custom_data, **({"amd": amd} if amd else {})},
    )
    token = call.issue_media_token(ttl_seconds=settings.MEDIA_TOKEN_TTL)
    call.save()
    return call, token


def _attach_ids(call: Call, dialed: DialedCall) -> None:
    # The carrier's "initiated" webhook may have attached them first (it finds the call by
    # Telnyx's client_state, or the call id in Twilio's callback URL); only fill what is
    # still empty.
    Call.objects.filter(pk=call.pk, call_control_id__isnull=True).update(
        call_control_id=dialed.call_control_id
    )
    Call.objects.filter(pk=call.pk, call_leg_id="").update(call_leg_id=dialed.call_leg_id)
    Call.objects.filter(pk=call.pk, call_session_id="").update(
        call_session_id=dialed.call_session_id
    )
    call.refresh_from_db()
