"""The fake carrier: an account plus call legs that move parked → answered → hangup.

Django-free on purpose: it runs inside phonebridge's ASGI server, in a standalone uvicorn
process (`manage.py simulate_call`) and inside tests, always on the caller's event loop.
Webhook sequences follow telnyx-protocol.md §2.5.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from telephony.simulation.carrier import CarrierBase
from telephony.simulation.scenario import Scenario, WebhookFaults
from telephony.telnyx.signing import WebhookSigner
from telephony.telnyx.simulator import errors, events
from telephony.telnyx.simulator.account import Account
from telephony.telnyx.simulator.calls import SimCall, StreamParams
from telephony.telnyx.simulator.clock import now_utc
from telephony.telnyx.simulator.dialing import Dialer
from telephony.telnyx.simulator.media import MediaCaller
from telephony.telnyx.simulator.webhooks import Event, WebhookSender


class Carrier(CarrierBase[SimCall]):
    def __init__(
        self,
        *,
        signing_seed: bytes | None = None,
        webhook_timeout_s: float = 2.0,
        webhook_max_attempts: int = 3,
        webhook_backoff_s: float = 1.0,
        webhook_faults: WebhookFaults | None = None,
        default_scenario: Scenario | None = None,
        dial_rate_limit: int | None = 150,
        seed: int | None = None,
    ) -> None:
        self.account = Account()
        self.signer = WebhookSigner(signing_seed)
        self.webhooks: WebhookSender = WebhookSender(
            self.signer,
            timeout_s=webhook_timeout_s,
            max_attempts=webhook_max_attempts,
            backoff_s=webhook_backoff_s,
            faults=webhook_faults,
            seed=seed,
        )
        # GET /calls/{id} still answers for 10 minutes after the end (§3.4): CALL_RETENTION_S.
        super().__init__(default_scenario=default_scenario, seed=seed)
        self.dial_rate_limit = dial_rate_limit  # per 5 s, as Telnyx's DPS limit (§3.3)
        self.user_id = str(uuid.uuid4())
        self.speak_seconds_per_char = 0.06
        self.playback_seconds = 3.0
        self.transcription_interval_s = 1.5
        self.transcript = ("Hello, can you hear me?", "I would like to book an appointment.")
        self._dialer = Dialer(self)

    def seed(self, **kwargs: Any) -> dict[str, Any] | None:
        """Create the account's starting state; see `Account.seed`."""
        return self.account.seed(**kwargs)

    @property
    def public_key_b64(self) -> str:
        return self.signer.public_key_b64

    def get_call(self, call_control_id: str) -> SimCall:
        call = self.find_call(call_control_id)
        if call is None:
            raise errors.unknown_call()
        return call

    async def end_on_close(self, call: SimCall) -> None:
        await self.end_call(call, "normal_clearing", "unknown")

    # Inbound calls

    async def start_inbound_call(self, scenario: Scenario | None = None, **changes: Any) -> SimCall:
        """Ring the number `scenario.to`; returns the call, whose `report` fills in as it runs."""
        scenario = self.inbound_scenario(scenario, changes)
        number = self.account.number_record(scenario.to)
        if number is None or not number["connection_id"]:
            raise ValueError(f"{scenario.to} is not a number routed to a Call Control App")
        app = self.account.dial_application(number["connection_id"])
        call = self.new_call(scenario, app, direction="incoming", state="parked")
        call.from_, call.to = scenario.from_, scenario.to
        self.emit(call, "call.initiated", events.initiated(call))
        call.spawn(self._ring(call), name=f"ring {call.call_control_id}")
        return call

    async def _ring(self, call: SimCall) -> None:
        scenario = call.scenario
        give_up = scenario.hangup_before_answer_s
        wait = scenario.scaled(scenario.ring_timeout_s if give_up is None else give_up)
        if not await call.wait_answered(wait):
            await self.end_call(call, "originator_cancel", "caller")

    # Outbound calls

    def dial(self, body: dict[str, Any]) -> SimCall:
        """`POST /calls`: the call is placed in the background, as on Telnyx."""
        return self._dialer.dial(body)

    # Shared lifecycle

    def new_call(
        self, scenario: Scenario, app: dict[str, Any], *, direction: str, state: str
    ) -> SimCall:
        call = SimCall(
            scenario=scenario,
            direction=direction,
            from_=scenario.from_,
            to=scenario.to,
            connection_id=app["id"],
            webhook_url=app["webhook_event_url"],
            failover_url=app.get("webhook_event_failover_url") or "",
            state=state,
        )
        return self.remember(call.call_control_id, call)

    def mark_answered(self, call: SimCall) -> None:
        call.state = "answered"
        call.answer_time = now_utc()
        call.answered.set()
        self.emit(call, "call.answered", events.answered(call))
        if call.stream is not None:
            self.start_stream(call, call.stream)
        call.spawn(self.far_end(call), name=f"far end {call.call_control_id}")

    def key_pressed(self, call: SimCall, digit: str) -> None:
        self.emit(call, "call.dtmf.received", events.dtmf(call, digit))

    @staticmethod
    def _far_end_name(call: SimCall) -> str:
        return "caller" if call.direction == "incoming" else "callee"

    def start_stream(self, call: SimCall, stream: StreamParams) -> None:
        call.stream = stream
        call.media = MediaCaller(
            call,
            stream,
            user_id=self.user_id,
            on_connected=lambda m: self.emit(
                call, "streaming.started", events.streaming(call, m.stream)
            ),
            on_ended=lambda m: self._stream_ended(call, m),
            on_failed=lambda m: self._stream_ended(call, m, failed=True),
        )
        call.spawn(call.media.run(), name=f"media {call.call_control_id}")

    def _stream_ended(self, call: SimCall, media: MediaCaller, *, failed: bool = False) -> None:
        if call.media is media:
            call.media = None
        if failed:
            payload = events.streaming_failed(call, media.stream, "connection_failed")
            self.emit(call, "streaming.failed", payload)
        else:
            self.emit(call, "streaming.stopped", events.streaming(call, media.stream))

    async def hang_up_far_end(self, call: SimCall) -> None:
        """The far party hangs up (the load generator's Ctrl-C or a stuck call)."""
        await self.end_call(call, "normal_clearing", self._far_end_name(call))

    async def end_call(self, call: SimCall, cause: str, source: str) -> None:
        """Hang up: stop the stream, then `streaming.stopped`, `call.hangup`, recording (§2.5)."""
        if not call.is_alive:
            return
        call.state = "hangup"
        call.end_time = now_utc()
        call.hangup_cause, call.hangup_source = cause, source
        await self._stop_activities(call)
        if call.media is not None:
            await call.media.stop()
        self.emit(call, "call.hangup", events.hangup(call))
        if call.recording is not None:
            self.emit(call, "call.recording.saved", events.recording_saved(call, call.recording))
            call.recording = None
        self.call_ended(call)

    async def _stop_activities(self, call: SimCall) -> None:
        for name in ("speaking", "playing", "transcribing"):
            task = getattr(call, name)
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            setattr(call, name, None)

    def emit(self, call: SimCall, event_type: str, payload: dict[str, Any]) -> str:
        app = self.account.applications.get(call.connection_id, {})
        event = Event(
            event_type,
            payload,
            url=call.webhook_url,
            failover_url=call.failover_url,
            timeout_s=app.get("webhook_timeout_secs") or None,
            faults=call.scenario.webhook_faults,
            time_scale=call.scenario.time_scale,
            api_version=str(app.get("webhook_api_version", "2")),
        )
        return self.webhooks.send(call.call_control_id, event)
