"""Call commands, `POST /calls/{id}/actions/{action}` (telnyx-protocol.md §3.4).

Checks run in this order: unknown call (404/90015), repeated command_id (200, nothing
re-run), ended call (422/90018), body (10004/10032), not answered yet (422/90034).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from telephony.telnyx.simulator import errors, events, validation
from telephony.telnyx.simulator.calls import SimCall
from telephony.telnyx.simulator.carrier import Carrier

OK: dict[str, Any] = {"result": "ok"}
# Everything but these needs an answered call.
_BEFORE_ANSWER = ("answer", "reject", "hangup")

Handler = Callable[[Carrier, SimCall, dict[str, Any]], Awaitable[dict[str, Any]]]


async def run_command(carrier: Carrier, call_control_id: str, action: str, body: dict) -> dict:
    call = carrier.get_call(call_control_id)
    handler = HANDLERS.get(action)
    if handler is None:
        raise errors.not_found(f"action '{action}'")
    if not call.first_use_of(body.get("command_id")):
        call.record_command(action, body, duplicate=True)
        return OK
    previous_state = call.client_state
    try:
        _check(call, action, body)
        call.record_command(action, body, duplicate=False)
        if body.get("client_state") is not None:
            call.client_state = body["client_state"]
        if body.get("webhook_url"):
            call.webhook_url = body["webhook_url"]  # later webhooks of this call go there (§2.2)
        return await handler(carrier, call, body)
    except errors.ApiError:
        # A command that failed did nothing, so a retry with its command_id must run.
        call.command_ids.pop(body.get("command_id") or "", None)
        call.client_state = previous_state
        raise


def _check(call: SimCall, action: str, body: dict[str, Any]) -> None:
    if not call.is_alive:
        raise errors.call_ended()
    validation.action_body(action, body)
    if action not in _BEFORE_ANSWER and call.state != "answered":
        raise errors.call_not_answered()


async def _answer(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
    if call.direction != "incoming" or call.state != "parked":
        raise errors.bad_request("Only a ringing incoming call can be answered.")
    call.stream = validation.stream_params(body)
    result = dict(OK)
    if body.get("record") == "record-from-answer":
        call.recording = events.new_recording(call, _record_options(body))
        result["recording_id"] = call.recording["recording_id"]
    carrier.mark_answered(call)
    return result


def _record_options(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": body.get("record_format", "mp3"),
        "channels": body.get("record_channels", "dual"),
    }


async def _hangup(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
    # The server is the callee of an incoming call and the caller of one it dialed.
    source = "callee" if call.direction == "incoming" else "caller"
    await carrier.end_call(call, "normal_clearing", source)
    return OK


async def _reject(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
    if call.state != "parked":
        raise errors.bad_request("Only a ringing incoming call can be rejected.")
    cause = "user_busy" if body["cause"] == "USER_BUSY" else "call_rejected"
    await carrier.end_call(call, cause, "callee")
    return OK


async def _speak(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict[str, Any]:
    call.speak_queue.append(body)
    if call.speaking is None or call.speaking.done():
        call.speaking = call.spawn(_speak_queue(carrier, call))
    return OK


async def _speak_queue(carrier: Carrier, call: SimCall) -> None:
    """Consecutive speaks are queued; each lasts in proportion to its text."""
    while call.speak_queue:
        body = call.speak_queue.popleft()
        carrier.emit(call, "call.speak.started", events.speak(call))
        try:
            seconds = len(str(body["payload"])) * carrier.speak_seconds_per_char
            await asyncio.sleep(call.scenario.scaled(seconds))
        except asyncio.CancelledError:
            carrier.emit(call, "call.speak.ended", events.speak(call, "call_hangup"))
            raise
        carrier.emit(call, "call.speak.ended", events.speak(call, "completed"))


async def _playback_start(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.playing is not None and not call.playing.done():
        call.playing.cancel()
    call.playing = call.spawn(_play(carrier, call, body))
    return OK


async def _play(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> None:
    carrier.emit(call, "call.playback.started", events.playback(call, body))
    status = "completed"
    try:
        await asyncio.sleep(call.scenario.scaled(carrier.playback_seconds))
    except asyncio.CancelledError:
        status = "cancelled" if call.is_alive else "call_hangup"
        raise
    finally:
        carrier.emit(call, "call.playback.ended", events.playback(call, body, status))


async def _playback_stop(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.playing is not None and not call.playing.done():
        call.playing.cancel()
    return OK


async def _record_start(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.recording is not None:
        raise errors.bad_request("A recording is already in progress on this call.")
    call.recording = events.new_recording(call, body)
    return OK


async def _record_stop(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.recording is None:
        raise errors.bad_request("There is no recording in progress on this call.")
    carrier.emit(call, "call.recording.saved", events.recording_saved(call, call.recording))
    call.recording = None
    return OK


async def _streaming_start(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.media is not None:
        raise errors.bad_request("Only one media stream is supported per call.")
    stream = validation.stream_params(body, required_url=True)
    assert stream is not None
    carrier.start_stream(call, stream)
    return OK


async def _streaming_stop(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.media is not None:
        await call.media.stop()  # its end hook sends streaming.stopped
    return OK


async def _transcription_start(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.transcribing is not None and not call.transcribing.done():
        raise errors.ApiError(
            422, "90054", "Transcription already active", "Transcription is already running."
        )
    tracks = body.get("transcription_tracks") or "inbound"
    call.transcribing = call.spawn(_transcribe(carrier, call, tracks))
    return OK


async def _transcribe(carrier: Carrier, call: SimCall, tracks: str) -> None:
    """A fixed script of phrases stands in for speech recognition: interim, then final."""
    names = ("inbound", "outbound") if tracks == "both" else (tracks,)
    for phrase, track in zip(itertools.cycle(carrier.transcript), itertools.cycle(names)):
        await asyncio.sleep(call.scenario.scaled(carrier.transcription_interval_s))
        partial = phrase.split(" ")[: max(1, len(phrase.split(" ")) // 2)]
        for text, final in ((" ".join(partial), False), (phrase, True)):
            payload = events.transcription(call, text, is_final=final, track=track)
            carrier.emit(call, "call.transcription", payload)


async def _transcription_stop(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    if call.transcribing is not None:
        call.transcribing.cancel()
        call.transcribing = None
    return OK


async def _transfer(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    target = validation.e164(body, "to", sip_allowed=True)
    carrier.emit(call, "call.bridged", events.bridged(call, target))
    return OK


async def _bridge(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    other = carrier.get_call(str(body["call_control_id"]))
    if not other.is_alive:
        raise errors.call_ended()
    call.bridged_with, other.bridged_with = other.call_control_id, call.call_control_id
    carrier.emit(call, "call.bridged", events.bridged(call, call.to))
    carrier.emit(other, "call.bridged", events.bridged(other, other.to))
    return OK


async def _send_dtmf(carrier: Carrier, call: SimCall, body: dict[str, Any]) -> dict:
    return OK  # the tones go to the far party; Telnyx sends no webhook for them


HANDLERS: dict[str, Handler] = {
    "answer": _answer,
    "hangup": _hangup,
    "reject": _reject,
    "speak": _speak,
    "playback_start": _playback_start,
    "playback_stop": _playback_stop,
    "record_start": _record_start,
    "record_stop": _record_stop,
    "streaming_start": _streaming_start,
    "streaming_stop": _streaming_stop,
    "transcription_start": _transcription_start,
    "transcription_stop": _transcription_stop,
    "transfer": _transfer,
    "bridge": _bridge,
    "send_dtmf": _send_dtmf,
}
