"""Telnyx as phonebridge's carrier: Call Control commands about one call.

Reference: telnyx-protocol.md §1 (streaming fields) and §3 (commands). What only Telnyx needs
lives here: the streaming fields of answer and dial, the base64 client_state that carries our
call id back in every webhook, and the error codes of a call Telnyx has forgotten.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from calls.models import Call
from telephony.carrier import CallState, Carrier, DialedCall
from telephony.public_host import PublicHostUnknown, ensure_public_host, public_url
from telephony.telnyx.client import RejectCause, TelnyxError, encode_client_state, get_client
from telephony.telnyx.stream_auth import stream_auth_token

# GET /calls/{id} answers these (or 404) once Telnyx has forgotten the call, 10 minutes after
# its end.
FORGOTTEN_CALL_CODES = ("90015", "10005")


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
    if not for_answer:
        # Wherever Telnyx takes it (dial, streaming_start; not answer, §1.1), a token derived
        # from the path's goes as stream_auth_token: Telnyx sends it back as the
        # x-telnyx-streaming-auth-token upgrade header, which the consumer checks when present
        # (and requires with MEDIA_AUTH_HEADER_REQUIRED). The client stores both redacted.
        params["stream_auth_token"] = stream_auth_token(token)
    # Answer has no sampling-rate field (§1.7); L16 is 16 kHz on dial and streaming_start.
    if codec == "L16" and not for_answer:
        params["stream_bidirectional_sampling_rate"] = 16000
    return params


class TelnyxCallControl(Carrier):
    name = "Telnyx"

    async def answer(self, *, call: Call, token: str) -> None:
        """Answer with bidirectional RTP streaming to the call's tokenized media URL.

        Answer cannot carry stream_auth_token (§1.1, §5 #3): when the header token is
        required, answer plainly and start the stream with streaming_start.
        """
        call_control_id = _call_control_id(call, "answer")
        client_state = encode_client_state(str(call.id))
        await _learn_public_host()
        if settings.MEDIA_AUTH_HEADER_REQUIRED:
            await get_client().answer(call_control_id, call=call, client_state=client_state)
            await get_client().streaming_start(
                call_control_id, call=call, client_state=client_state, **stream_params(call, token)
            )
            return
        await get_client().answer(
            call_control_id,
            call=call,
            client_state=client_state,
            **stream_params(call, token, for_answer=True),
        )

    async def dial(
        self, *, call: Call, token: str, amd: str | None, timeout_secs: int | None
    ) -> DialedCall:
        await _learn_public_host()
        params: dict[str, Any] = {
            "connection_id": settings.TELNYX_CALL_CONTROL_APP_ID,
            "to": call.to_number,
            "from": call.from_number,
            "client_state": encode_client_state(str(call.id)),
            "timeout_secs": timeout_secs,
            "answering_machine_detection": amd,
            **stream_params(call, token),
        }
        return await get_client().dial(call=call, **params)

    async def reject(self, *, call: Call, busy: bool = True) -> None:
        cause: RejectCause = "USER_BUSY" if busy else "CALL_REJECTED"
        await get_client().reject(_call_control_id(call, "reject"), call=call, cause=cause)

    async def start_stream(self, *, call: Call, token: str) -> None:
        await _learn_public_host()
        await get_client().streaming_start(
            _call_control_id(call, "streaming_start"),
            call=call,
            client_state=encode_client_state(str(call.id)),
            **stream_params(call, token),
        )

    async def hang_up(self, *, call: Call) -> None:
        await get_client().hangup(_call_control_id(call, "hangup"), call=call)

    async def transfer(self, *, call: Call, to: str) -> None:
        await get_client().transfer(_call_control_id(call, "transfer"), call=call, to=to)

    async def send_dtmf(self, *, call: Call, digits: str) -> None:
        await get_client().send_dtmf(_call_control_id(call, "send_dtmf"), call=call, digits=digits)

    async def speak(self, *, call: Call, text: str, voice: str) -> None:
        await get_client().speak(
            _call_control_id(call, "speak"), call=call, payload=text, voice=voice
        )

    async def start_recording(self, *, call: Call) -> None:
        await get_client().record_start(_call_control_id(call, "record_start"), call=call)

    async def stop_recording(self, *, call: Call) -> None:
        await get_client().record_stop(_call_control_id(call, "record_stop"), call=call)

    async def start_transcription(self, *, call: Call) -> None:
        await get_client().transcription_start(
            _call_control_id(call, "transcription_start"),
            call=call,
            transcription_engine=settings.TRANSCRIPTION_ENGINE,
            transcription_tracks="both",
        )

    async def call_state(self, *, call: Call) -> CallState:
        try:
            state = await get_client().get_call(_call_control_id(call, "get_call"))
        except TelnyxError as exc:
            if exc.status_code == 404 or exc.code in FORGOTTEN_CALL_CODES:
                return CallState.FORGOTTEN
            raise
        return CallState.ALIVE if state.get("is_alive") else CallState.ENDED


async def _learn_public_host() -> None:
    """Before building a media URL: ngrok's API is asked off the event loop (in a thread),
    and no public host means no command, with the reason an operator can act on."""
    try:
        await ensure_public_host()
    except PublicHostUnknown as exc:
        raise TelnyxError(str(exc)) from exc


def _call_control_id(call: Call, command: str) -> str:
    """Every command names the call by the id Telnyx gave it."""
    if not call.call_control_id:
        raise TelnyxError(f"{command}: the call has no Telnyx call_control_id yet")
    return call.call_control_id
