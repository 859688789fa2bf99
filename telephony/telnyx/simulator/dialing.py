"""Outbound dials, `POST /calls` (telnyx-protocol.md §2.5, §3.2-3.4).

The answer comes at once; the call then rings in the background: `call.initiated`, then
`call.answered` (plus AMD and streaming events) or `call.hangup` with timeout, no_answer,
user_busy or call_rejected, as the far end's scenario says.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telephony.telnyx.simulator import events, validation
from telephony.telnyx.simulator.calls import SimCall
from telephony.telnyx.simulator.faults import FaultRule, fault_error

if TYPE_CHECKING:
    from telephony.telnyx.simulator.carrier import Carrier

_DPS_WINDOW_S = 5.0
_COMMAND_ID_WINDOW_S = 60.0
_AMD_DELAY_S = 1.0
_GREETING_MODES = ("detect_beep", "greeting_end")


class Dialer:
    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier
        self._dial_times: deque[float] = deque()
        self._command_ids: dict[str, tuple[float, SimCall]] = {}

    def dial(self, body: dict[str, Any]) -> SimCall:
        carrier = self.carrier
        app = carrier.account.dial_application(body.get("connection_id"))
        to, from_ = validation.dial_body(body)
        repeated = self._repeated(body.get("command_id"))
        if repeated is not None:
            return repeated  # "Telnyx will ignore other Dial commands with the same command_id"
        self._check_rate()
        far_end = carrier.outbound_scenarios.get(to, carrier.default_scenario)
        scenario = replace(far_end, direction="outgoing", from_=from_, to=to)
        call = carrier.new_call(scenario, app, direction="outgoing", state="bridging")
        call.from_, call.to = from_, to
        call.client_state = body.get("client_state")
        call.webhook_url = body.get("webhook_url") or call.webhook_url
        call.stream = validation.stream_params(body)
        call.answering_machine_detection = body.get("answering_machine_detection")
        if body.get("record") == "record-from-answer":
            options = {"format": body.get("record_format", "mp3"), "channels": "dual"}
            call.recording = events.new_recording(call, options)
        if body.get("command_id"):
            self._command_ids[body["command_id"]] = (time.monotonic(), call)
        call.spawn(self._place(call, body), name=f"dial {call.call_control_id}")
        return call

    def _repeated(self, command_id: str | None) -> SimCall | None:
        now = time.monotonic()
        for key, (at, _) in list(self._command_ids.items()):
            if now - at > _COMMAND_ID_WINDOW_S:
                del self._command_ids[key]
        entry = self._command_ids.get(command_id or "")
        return entry[1] if entry else None

    def _check_rate(self) -> None:
        limit = self.carrier.dial_rate_limit
        if limit is None:
            return
        now = time.monotonic()
        while self._dial_times and now - self._dial_times[0] > _DPS_WINDOW_S:
            self._dial_times.popleft()
        if len(self._dial_times) >= limit:
            raise fault_error(FaultRule("dps"))
        self._dial_times.append(now)

    async def _place(self, call: SimCall, body: dict[str, Any]) -> None:
        carrier, scenario = self.carrier, call.scenario
        carrier.emit(call, "call.initiated", events.initiated(call))
        outcome = scenario.dial_outcome
        if outcome in ("timeout", "no_answer"):
            await asyncio.sleep(scenario.scaled(body.get("timeout_secs") or 30))
            cause = "no_answer" if body.get("retry_on_timeout") is False else outcome
            await carrier.end_call(call, cause, "callee")
            return
        await asyncio.sleep(scenario.scaled(scenario.answer_delay_s))
        if outcome != "answer":
            await carrier.end_call(call, outcome, "callee")
        elif call.is_alive:
            carrier.mark_answered(call)
            if call.answering_machine_detection not in (None, "disabled"):
                call.spawn(self._detect_machine(call))
            if body.get("time_limit_secs"):
                call.spawn(self._time_limit(call, float(body["time_limit_secs"])))

    async def _detect_machine(self, call: SimCall) -> None:
        await asyncio.sleep(call.scenario.scaled(_AMD_DELAY_S))
        result, mode = call.scenario.amd_result, call.answering_machine_detection
        if mode == "premium":
            premium = {"human": "human_residence"}.get(result, result)
            payload = events.machine_detection(call, premium)
            self.carrier.emit(call, "call.machine.premium.detection.ended", payload)
            return
        payload = events.machine_detection(call, result)
        self.carrier.emit(call, "call.machine.detection.ended", payload)
        if result == "machine" and mode in _GREETING_MODES:
            greeting = events.machine_detection(call, "beep_detected")
            self.carrier.emit(call, "call.machine.greeting.ended", greeting)

    async def _time_limit(self, call: SimCall, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.carrier.end_call(call, "time_limit", "unknown")
