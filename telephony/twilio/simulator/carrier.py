"""The fake Twilio: an account, calls that move ringing → in-progress → completed, and the
requests Twilio makes to our server about them.

Django-free, like the Telnyx simulator: it runs inside phonebridge's ASGI server, in a
standalone uvicorn process and inside tests, always on the caller's event loop. How a call's
TwiML runs is `program.py`; outbound dials and AMD are `dialing.py`; recordings are
`recordings.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from telephony.simulation.carrier import CarrierBase
from telephony.simulation.clock import now_utc
from telephony.simulation.scenario import Scenario, WebhookFaults
from telephony.twilio.simulator import callbacks, errors
from telephony.twilio.simulator.account import Account
from telephony.twilio.simulator.calls import Callbacks, SimCall
from telephony.twilio.simulator.dialing import Dialer
from telephony.twilio.simulator.program import Program
from telephony.twilio.simulator.recordings import Recorder
from telephony.twilio.simulator.webhooks import Callback, TwilioWebhookSender

DEFAULT_NUMBER = "+15550001111"
STREAM_CONNECTION_LOST = 31921  # https://www.twilio.com/docs/api/errors/31921 (closed by peer)


class Carrier(CarrierBase[SimCall]):
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        webhook_timeout_s: float = 5.0,
        webhook_faults: WebhookFaults | None = None,
        default_scenario: Scenario | None = None,
        seed: int | None = None,
    ) -> None:
        self.account = Account(account_sid, auth_token)
        self.webhooks: TwilioWebhookSender = TwilioWebhookSender(
            self.account.auth_token, timeout_s=webhook_timeout_s, faults=webhook_faults, seed=seed
        )
        super().__init__(default_scenario=default_scenario, seed=seed)
        self.program = Program(self)
        self.dialer = Dialer(self)
        self.recorder = Recorder(self)

    @property
    def auth_token(self) -> str:
        return self.account.auth_token

    def seed(
        self, *, phone_number: str = DEFAULT_NUMBER, voice_url: str = "", status_callback: str = ""
    ) -> dict[str, Any]:
        """Own `phone_number`, its voice webhook (and status callback) pointing at our server."""
        fields = {"VoiceUrl": voice_url, "StatusCallback": status_callback}
        return self.account.add_number(phone_number, **{k: v for k, v in fields.items() if v})

    def get_call(self, sid: str) -> SimCall:
        call = self.find_call(sid)
        if call is None:
            raise errors.not_found(self.account.path(f"Calls/{sid}.json"))
        return call

    def add_call(self, call: SimCall) -> SimCall:
        return self.remember(call.sid, call)

    async def end_on_close(self, call: SimCall) -> None:
        await self.end_call(call, "completed", "api")

    # Inbound calls

    async def start_inbound_call(self, scenario: Scenario | None = None, **changes: Any) -> SimCall:
        """Ring `scenario.to` (a number of the account with a VoiceUrl); returns the call."""
        scenario = self.inbound_scenario(scenario, changes)
        number = self.account.number_record(scenario.to)
        if number is None or not number["voice_url"]:
            raise ValueError(f"{scenario.to} is not a number of this account with a VoiceUrl")
        call = SimCall(
            scenario,
            self.account.sid,
            "inbound",
            scenario.from_,
            scenario.to,
            status="ringing",
            phone_number_sid=number["sid"],
            # A number's StatusCallback hears only of the call's end.
            callbacks=Callbacks(url=number["status_callback"], method="POST"),
            twiml_url=number["voice_url"],
        )
        self.add_call(call)
        call.spawn(self._ring(call), name=f"ring {call.sid}")
        return call

    async def _ring(self, call: SimCall) -> None:
        call.program = asyncio.current_task()  # a REST update replaces it
        give_up = call.scenario.hangup_before_answer_s
        if give_up is not None:
            call.spawn(self._caller_gives_up(call, call.scenario.scaled(give_up)))
        await self.program.fetch_and_run(call, call.twiml_url)

    async def _caller_gives_up(self, call: SimCall, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if call.answer_time is None:
            await self.end_call(call, "canceled", "caller")

    # The call's life

    def mark_answered(self, call: SimCall) -> None:
        if call.answer_time is not None or not call.is_alive:
            return
        call.status = "in-progress"
        call.answer_time = now_utc()
        call.answered.set()
        self.status_callback(call, "answered")
        call.spawn(self.far_end(call), name=f"far end {call.sid}")

    async def drop_stream(self, call: SimCall) -> None:
        """A fault: the media socket dies mid-call; Twilio then runs the TwiML after
        <Connect> (none: the call ends), as it does when a stream's socket is lost."""
        if call.media is not None:
            call.notifications.append(STREAM_CONNECTION_LOST)
            await call.media.drop()

    async def hang_up_far_end(self, call: SimCall) -> None:
        """The far party hangs up (the scenario's end, or the load generator stopping)."""
        by = "caller" if call.direction == "inbound" else "callee"
        await self.end_call(call, "completed" if call.answer_time else "canceled", by)

    async def end_call(self, call: SimCall, status: str, by: str) -> None:
        """The call is over: its stream stops, its recording completes, then `completed`."""
        if not call.is_alive:
            return
        call.status, call.hung_up_by = status, by
        call.end_time = now_utc()
        current = asyncio.current_task()
        if call.program is not None and call.program is not current:
            call.program.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call.program
        if call.media is not None:
            await call.media.stop()
        await self.recorder.finish(call)
        self.status_callback(call, "completed")
        self.call_ended(call)

    def status_callback(self, call: SimCall, event: str) -> None:
        """Tell StatusCallback of `event` if it was asked for (the final one always is)."""
        hooks = call.callbacks
        if not hooks.url or (event not in hooks.events and event != "completed"):
            return
        status = {"answered": "in-progress"}.get(event, event)
        if event == "completed":
            status = call.status
        self.send(call, hooks.url, f"status.{status}", callbacks.status_params(call, status))

    def send(self, call: SimCall, url: str, kind: str, params: dict[str, str]) -> str:
        scenario = call.scenario
        event = Callback(
            kind, params, url=url, faults=scenario.webhook_faults, time_scale=scenario.time_scale
        )
        return self.webhooks.send(call.sid, event)
