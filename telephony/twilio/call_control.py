"""Twilio as phonebridge's carrier: what each neutral command is in Twilio's REST API and TwiML.

Reference: https://www.twilio.com/docs/voice/api/call-resource (create, update),
https://www.twilio.com/docs/voice/twiml/stream (<Connect><Stream>, bidirectional) and
https://www.twilio.com/docs/voice/answering-machine-detection (MachineDetection, AsyncAmd).

Twilio acts on a live call by replacing its TwiML: answering, restarting the stream,
transferring and speaking are each an update with a new document. Any new TwiML ends the
<Connect><Stream> in progress, which is why DTMF is sent in-band on the stream instead
(telephony.twilio.dtmf).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from calls.models import Call
from telephony.carrier import CallState, Carrier, DialedCall
from telephony.control import notify_stream
from telephony.public_host import PublicHostUnknown, ensure_public_host, public_url
from telephony.twilio import twiml
from telephony.twilio.client import NOT_FOUND, TwilioError, get_client, new_attempt_id

# The neutral AMD modes (telephony.dialing.AMD_MODES) in Twilio's words. Twilio has one
# detector: "Enable" answers as soon as it knows human or machine; "DetectMessageEnd" waits
# for the greeting's end (the beep), which is what the beep and greeting-end modes want.
AMD_MODES = {
    "detect": "Enable",
    "detect_words": "Enable",
    "premium": "Enable",
    "detect_beep": "DetectMessageEnd",
    "greeting_end": "DetectMessageEnd",
}
STATUS_EVENTS = "initiated ringing answered completed"
LIVE_STATES = frozenset({"queued", "initiated", "ringing", "in-progress"})


def media_url(call: Call, token: str) -> str:
    return public_url(f"twilio/media/{call.id}/{token}", websocket=True)


def callback_url(path: str, call: Call, **query: str) -> str:
    """One of our webhooks, naming the call: callbacks that arrive before we know the
    CallSid (an outbound call's first) still find their call."""
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return public_url(f"twilio/{path}") + f"?call={call.id}{extra}"


def stream_twiml(call: Call, token: str, **kwargs: Any) -> str:
    """<Connect><Stream> to the call's tokenized media URL, with stream status callbacks."""
    return twiml.connect_stream(
        media_url(call, token),
        parameters={"call_id": str(call.id)},
        status_callback=callback_url("status", call),
        **kwargs,
    )


class TwilioCallControl(Carrier):
    name = "Twilio"

    async def answer(self, *, call: Call, token: str) -> None:
        """Answer by giving the ringing call its <Connect><Stream>. (The voice webhook answers
        inbound calls in its reply; this serves a call that was first told to wait.)"""
        await _learn_public_host()
        await get_client().update_call(
            _sid(call, "answer"), call=call, name="answer", Twiml=stream_twiml(call, token)
        )

    async def dial(
        self, *, call: Call, token: str, amd: str | None, timeout_secs: int | None
    ) -> DialedCall:
        await _learn_public_host()
        fields: dict[str, Any] = {
            "To": call.to_number,
            "From": call.from_number,
            "Twiml": stream_twiml(call, token),
            # The attempt id marks this dial's callbacks (telephony.twilio.client).
            "StatusCallback": callback_url("status", call, attempt=new_attempt_id()),
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": STATUS_EVENTS,
            "Timeout": timeout_secs,
        }
        if amd:
            fields |= {
                "MachineDetection": AMD_MODES[amd],
                # Async: the stream starts at once; the verdict comes to /twilio/amd.
                "AsyncAmd": True,
                "AsyncAmdStatusCallback": callback_url("amd", call),
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        created = await get_client().create_call(call=call, **fields)
        sid = str(created.get("sid") or "")
        if not sid:
            raise TwilioError("dial: Twilio's answer has no call sid", permanent=False)
        return DialedCall(call_control_id=sid, call_leg_id="", call_session_id="")

    async def reject(self, *, call: Call, busy: bool = True) -> None:
        await get_client().update_call(
            _sid(call, "reject"),
            call=call,
            name="reject",
            Twiml=twiml.reject("busy" if busy else "rejected"),
        )

    async def start_stream(self, *, call: Call, token: str) -> None:
        await _learn_public_host()
        await get_client().update_call(
            _sid(call, "stream"), call=call, name="stream", Twiml=stream_twiml(call, token)
        )

    async def hang_up(self, *, call: Call) -> None:
        # "completed" ends the call whether it is ringing or in progress.
        await get_client().update_call(
            _sid(call, "hangup"), call=call, name="hangup", Status="completed"
        )

    async def transfer(self, *, call: Call, to: str) -> None:
        # The call leaves our stream for <Dial>: its media session ends, the call goes on.
        # Twilio's default caller id (the caller's own on an inbound call) is kept.
        document = twiml.dial(to)
        await get_client().update_call(
            _sid(call, "transfer"), call=call, name="transfer", Twiml=document
        )

    async def send_dtmf(self, *, call: Call, digits: str) -> None:
        """In-band, on the media stream (telephony.twilio.dtmf says why): the consumer that
        holds the call's socket, on whichever worker, plays the tones as agent audio."""
        fresh = await Call.objects.aget(pk=call.pk)
        if not (fresh.media_token_used_at and fresh.status in _STREAMABLE):
            raise TwilioError(
                "send_dtmf: the call has no media stream to play the digits on", permanent=True
            )
        if not await notify_stream(call.pk, "dtmf", digits=digits):
            raise TwilioError("send_dtmf: the call's media stream could not be reached")

    async def speak(self, *, call: Call, text: str, voice: str) -> None:
        # `voice` names a Telnyx voice (APOLOGY_VOICE); Twilio's is TWILIO_SAY_VOICE.
        document = twiml.say(text, voice=settings.TWILIO_SAY_VOICE)
        await get_client().update_call(_sid(call, "speak"), call=call, name="speak", Twiml=document)

    async def start_recording(self, *, call: Call) -> None:
        await _learn_public_host()
        await get_client().start_recording(
            _sid(call, "recording_start"),
            call=call,
            status_callback=callback_url("recording", call),
        )

    async def stop_recording(self, *, call: Call) -> None:
        await get_client().stop_recording(_sid(call, "recording_stop"), call=call)

    async def start_transcription(self, *, call: Call) -> None:
        # Twilio's real-time transcription is TwiML (<Start><Transcription>), and new TwiML
        # would end the call's stream; phonebridge does not ask for it (README, Twilio).
        raise TwilioError(
            "Twilio calls are not transcribed by the carrier: phonebridge does not use "
            "Twilio's real-time transcription (it would restart the media stream). "
            "TRANSCRIBE_CALLS applies to Telnyx calls.",
            permanent=True,
        )

    async def call_state(self, *, call: Call) -> CallState:
        try:
            state = await get_client().fetch_call(_sid(call, "fetch_call"), call=call)
        except TwilioError as exc:
            if exc.status_code == 404 or exc.code == NOT_FOUND:
                return CallState.FORGOTTEN
            raise
        return CallState.ALIVE if state.get("status") in LIVE_STATES else CallState.ENDED


_STREAMABLE = (Call.Status.ANSWERED, Call.Status.STREAMING)


async def _learn_public_host() -> None:
    try:
        await ensure_public_host()
    except PublicHostUnknown as exc:
        raise TwilioError(str(exc)) from exc


def _sid(call: Call, command: str) -> str:
    if not call.call_control_id:
        raise TwilioError(f"{command}: the call has no Twilio CallSid yet")
    return call.call_control_id
