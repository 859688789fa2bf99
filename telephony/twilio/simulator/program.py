"""Running a call's TwiML, verb by verb, as Twilio's voice engine does.

A new document (the answer to a webhook, a <Redirect>, or a REST update with Twiml or Url)
replaces the one running: its stream stops first. When a document runs out of verbs, Twilio
hangs up. An inbound call is answered by the first verb that is not <Reject>.
Reference: https://www.twilio.com/docs/voice/twiml and, for updates,
https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from telephony.twilio.simulator import callbacks
from telephony.twilio.simulator.calls import SimCall
from telephony.twilio.simulator.media import TwilioMedia
from telephony.twilio.simulator.twiml import StreamSpec, TwimlError, Verb, parse

if TYPE_CHECKING:
    from telephony.twilio.simulator.carrier import Carrier

HTTP_RETRIEVAL_FAILURE = 11200  # https://www.twilio.com/docs/api/errors/11200
STREAM_CONNECTION_FAILED = 31920  # https://www.twilio.com/docs/api/errors/31920
_APOLOGY_S = 3.0  # "We are sorry, an application error has occurred. Goodbye."
_SECONDS_PER_CHAR = 0.06
_SECONDS_PER_DIGIT = 0.25  # <Play digits>: a tone and its gap; "w" is a half-second pause


class Program:
    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier

    async def fetch_and_run(self, call: SimCall, url: str) -> None:
        """Ask `url` for TwiML (the voice webhook, or a REST update's Url) and run it."""
        sender = self.carrier.webhooks
        faults = call.scenario.webhook_faults
        answer = await sender.fetch_twiml(url, callbacks.call_params(call), faults=faults)
        if not call.is_alive:
            return
        if not answer.ok:
            call.notifications.append(HTTP_RETRIEVAL_FAILURE)
            await self._apologise(call)
            return
        await self.run(call, answer.body)

    def replace(self, call: SimCall, *, twiml: str = "", url: str = "") -> None:
        """A REST update: stop what runs (and its stream), then run the new instructions."""
        previous = call.program
        call.program = call.spawn(
            self._replace(call, previous, twiml, url), name=f"twiml {call.sid}"
        )

    async def _replace(
        self, call: SimCall, previous: asyncio.Task[None] | None, twiml: str, url: str
    ) -> None:
        if previous is not None and not previous.done():
            previous.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await previous
        if call.media is not None:
            await call.media.stop()
        if twiml:
            await self.run(call, twiml)
        else:
            await self.fetch_and_run(call, url)

    async def run(self, call: SimCall, document: str) -> None:
        try:
            verbs, warnings = parse(document)
        except TwimlError as exc:
            call.notifications.append(exc.code)
            await self._apologise(call)
            return
        call.notifications.extend(warnings)
        for verb in verbs:
            if not call.is_alive:
                return
            if verb.name == "Reject":
                await self._reject(call, verb)
                return
            self._answer(call)
            if verb.name == "Hangup":
                break
            if verb.name == "Redirect":
                await self.fetch_and_run(call, verb.text)
                return
            await self._perform(call, verb)
        # Out of verbs: Twilio hangs up.
        await self.carrier.end_call(call, "completed", "twiml")

    async def _perform(self, call: SimCall, verb: Verb) -> None:
        if verb.stream is not None:
            media = self.start_stream(call, verb.stream)
            if verb.name == "Connect" and media is not None:
                await media.done.wait()  # <Connect> holds the call until the socket closes
        elif verb.name == "Play" and "digits" in verb.attributes:
            digits = verb.attributes["digits"]
            call.played.append({"verb": "Play", "digits": digits})
            await asyncio.sleep(sum(0.5 if d == "w" else _SECONDS_PER_DIGIT for d in digits))
        elif verb.name == "Say":
            call.played.append({"verb": "Say", "text": verb.text})
            await asyncio.sleep(call.scenario.scaled(len(verb.text) * _SECONDS_PER_CHAR))
        elif verb.name == "Pause":
            await asyncio.sleep(call.scenario.scaled(float(verb.attributes.get("length", "1"))))
        elif verb.name == "Dial":
            # The transfer target talks with the caller until one of them hangs up; the far
            # party's scenario decides when (hangup_by "never": until a REST update).
            call.played.append({"verb": "Dial", "number": verb.text})
            await call.ended.wait()

    def start_stream(self, call: SimCall, spec: StreamSpec) -> TwilioMedia | None:
        if spec.bidirectional and spec.track != "inbound_track":
            call.notifications.append(31941)  # <Connect><Stream> takes only inbound_track
            return None
        media = TwilioMedia(
            call,
            spec,
            on_connected=lambda m: self._stream_event(call, m, "stream-started"),
            on_ended=lambda m: self._stream_ended(call, m),
            on_failed=lambda m: self._stream_failed(call, m),
        )
        call.media = media
        call.spawn(media.run(), name=f"media {call.sid}")
        return media

    def _stream_ended(self, call: SimCall, media: TwilioMedia) -> None:
        if call.media is media:
            call.media = None
        self._stream_event(call, media, "stream-stopped")

    def _stream_failed(self, call: SimCall, media: TwilioMedia) -> None:
        if call.media is media:
            call.media = None
        call.notifications.append(STREAM_CONNECTION_FAILED)
        self._stream_event(call, media, "stream-error")

    def _stream_event(self, call: SimCall, media: TwilioMedia, event: str) -> None:
        url = media.spec.status_callback
        if url:
            params = callbacks.stream_params(call, media.stream_id, media.spec.name, event)
            self.carrier.send(call, url, event, params)

    def _answer(self, call: SimCall) -> None:
        if call.direction == "inbound" and call.answer_time is None:
            self.carrier.mark_answered(call)

    async def _reject(self, call: SimCall, verb: Verb) -> None:
        if call.answer_time is not None:
            await self.carrier.end_call(call, "completed", "twiml")
            return
        # busy: a busy signal and status busy; rejected (the default): "not in service" and
        # status no-answer (https://www.twilio.com/docs/voice/twiml/reject).
        busy = verb.attributes.get("reason", "rejected") == "busy"
        call.sip_response_code = 486 if busy else 603
        await self.carrier.end_call(call, "busy" if busy else "no-answer", "twiml")

    async def _apologise(self, call: SimCall) -> None:
        """What a caller hears when our server fails Twilio: an apology, then the end."""
        self._answer(call)
        call.played.append({"verb": "Say", "text": "An application error has occurred."})
        await asyncio.sleep(call.scenario.scaled(_APOLOGY_S))
        await self.carrier.end_call(call, "completed", "twiml")
