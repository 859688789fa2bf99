"""The Twilio media WebSocket (`/twilio/media/<call uuid>/<token>`): telephony.media's consumer
with Twilio's Media Streams format.

Twilio sends no authentication header of its own on the upgrade (it only adds
X-Twilio-Signature, over a URL that holds our token anyway): the one-time token in the path
is the whole check, claimed exactly as for Telnyx. Twilio then sends `connected` and
`start`. Digits we are asked to send are played in-band here (telephony.twilio.dtmf).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import numpy as np

from telephony.log_context import call_context
from telephony.media.consumer import MediaConsumer
from telephony.twilio.dtmf import RATE, tones
from telephony.twilio.wire import WIRE

logger = logging.getLogger(__name__)

CHUNK_SAMPLES = RATE // 50  # one 20 ms frame


class MediaStreamConsumer(MediaConsumer):
    wire = WIRE
    _dtmf: asyncio.Task[None] | None = None

    async def stream_control(self, message: dict[str, Any]) -> None:
        if message.get("action") == "dtmf":
            self._send_digits(str(message.get("digits") or ""))
            return
        await super().stream_control(message)

    async def disconnect(self, code: int) -> None:
        if self._dtmf is not None:
            self._dtmf.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dtmf
        await super().disconnect(code)

    def _send_digits(self, digits: str) -> None:
        try:
            samples = tones(digits)
        except ValueError as exc:  # telephony.actions checked them; a stale message may not
            logger.warning("not sending DTMF: %s", exc)
            return
        # After any digits still playing, in the order they were asked for.
        self._dtmf = asyncio.ensure_future(self._play(samples, digits, self._dtmf))

    async def _play(
        self, samples: np.ndarray, digits: str, before: asyncio.Task[None] | None
    ) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        if self.session is None:
            return
        session = self.session
        # Fed in real time, 20 ms at a time, like a bridge's speech: queued all at once it
        # would count as audio lagging behind, which the pacer sheds (silence first).
        loop = asyncio.get_running_loop()
        began = loop.time()
        with call_context(session.call.pk):
            for index, offset in enumerate(range(0, len(samples), CHUNK_SAMPLES)):
                await asyncio.sleep(max(0.0, began + index * 0.02 - loop.time()))
                if session.finished:
                    return
                session.agent_audio(samples[offset : offset + CHUNK_SAMPLES], RATE)
            logger.info("sent DTMF %s in-band", digits)
