"""Outbound calls, `POST Calls.json`, and answering machine detection.

Reference: https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource (To,
From, Url or Twiml, StatusCallback, StatusCallbackEvent, StatusCallbackMethod, Timeout,
MachineDetection, AsyncAmd, AsyncAmdStatusCallback, Record). The answer (201, the call
`queued`) comes at once; the call then rings in the background: `initiated`, `ringing`,
then `answered` and the TwiML, or the end as busy / no-answer, as the far end's scenario says.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from telephony.numbers import is_e164
from telephony.twilio.simulator import callbacks, errors
from telephony.twilio.simulator.calls import CALLBACK_EVENTS, Callbacks, SimCall
from telephony.twilio.simulator.twiml import TwimlError, parse

if TYPE_CHECKING:
    from telephony.twilio.simulator.carrier import Carrier

Form = dict[str, list[str]]
_AMD_MODES = ("Enable", "DetectMessageEnd")
_AMD_DELAY_S = 1.0
_DEFAULT_TIMEOUT_S = 60  # how long Twilio lets an outbound call ring
# What AMD says of the scenario's far end (https://www.twilio.com/docs/voice/answering-machine-detection).
_ANSWERED_BY = {
    ("human", "Enable"): "human",
    ("human", "DetectMessageEnd"): "human",
    ("machine", "Enable"): "machine_start",
    ("machine", "DetectMessageEnd"): "machine_end_beep",
}
# How the far end's refusal reads on Twilio: the status and the SIP answer behind it.
_REFUSALS = {"user_busy": ("busy", 486), "call_rejected": ("busy", 603)}


def first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0].strip() if values else ""


class Dialer:
    def __init__(self, carrier: Carrier) -> None:
        self.carrier = carrier

    def dial(self, form: Form) -> SimCall:
        carrier = self.carrier
        to, from_ = _numbers(form, carrier)
        twiml, url = first(form, "Twiml"), first(form, "Url")
        if not twiml and not url and not first(form, "ApplicationSid"):
            raise errors.no_instructions()
        if twiml:
            try:
                parse(twiml)
            except TwimlError as exc:
                raise errors.invalid_twiml(str(exc)) from None
        amd = first(form, "MachineDetection") or None
        if amd is not None and amd not in _AMD_MODES:
            raise errors.invalid_parameter("MachineDetection", amd)
        far_end = carrier.outbound_scenarios.get(to, carrier.default_scenario)
        scenario = replace(far_end, direction="outgoing", from_=from_, to=to)
        call = SimCall(
            scenario,
            carrier.account.sid,
            "outbound-api",
            from_,
            to,
            callbacks=_callbacks(form),
            machine_detection=amd,
            twiml_url=url,
        )
        carrier.add_call(call)
        call.record_request("create", {k: v[0] for k, v in form.items() if k != "Twiml"})
        call.program = call.spawn(self._place(call, form), name=f"dial {call.sid}")
        return call

    async def _place(self, call: SimCall, form: Form) -> None:
        carrier, scenario = self.carrier, call.scenario
        call.status = "initiated"
        carrier.status_callback(call, "initiated")
        await asyncio.sleep(scenario.scaled(0.05))
        call.status = "ringing"
        carrier.status_callback(call, "ringing")
        outcome = scenario.dial_outcome
        if outcome in ("timeout", "no_answer"):
            timeout = int(first(form, "Timeout") or _DEFAULT_TIMEOUT_S)
            await asyncio.sleep(scenario.scaled(timeout))
            await carrier.end_call(call, "no-answer", "callee")
            return
        await asyncio.sleep(scenario.scaled(scenario.answer_delay_s))
        if outcome in _REFUSALS:
            status, call.sip_response_code = _REFUSALS[outcome]
            await carrier.end_call(call, status, "callee")
            return
        await self._answered(call, form)

    async def _answered(self, call: SimCall, form: Form) -> None:
        carrier = self.carrier
        if first(form, "Record").lower() == "true":
            carrier.recorder.start(call, _recording_options(form), source="OutboundAPI")
        if call.machine_detection and first(form, "AsyncAmd").lower() != "true":
            # Synchronous AMD: the TwiML waits for the verdict, which rides on its request.
            await asyncio.sleep(call.scenario.scaled(_AMD_DELAY_S))
            call.answered_by = self._verdict(call)
        carrier.mark_answered(call)
        if call.machine_detection and first(form, "AsyncAmd").lower() == "true":
            call.spawn(self._detect_async(call))
        twiml = first(form, "Twiml")
        if twiml:
            await carrier.program.run(call, twiml)
        else:
            await carrier.program.fetch_and_run(call, call.twiml_url)

    async def _detect_async(self, call: SimCall) -> None:
        delay = call.scenario.scaled(_AMD_DELAY_S)
        await asyncio.sleep(delay)
        call.answered_by = self._verdict(call)
        if call.callbacks.amd_url and call.is_alive:
            params = callbacks.amd_params(call, call.answered_by, int(delay * 1000))
            self.carrier.send(call, call.callbacks.amd_url, "amd", params)

    @staticmethod
    def _verdict(call: SimCall) -> str:
        key = (call.scenario.amd_result, call.machine_detection or "Enable")
        return _ANSWERED_BY.get(key, "unknown")


def _numbers(form: Form, carrier: Carrier) -> tuple[str, str]:
    to, from_ = first(form, "To"), first(form, "From")
    if not to:
        raise errors.missing("To")
    if not is_e164(to):
        raise errors.invalid_to(to)
    if not from_:
        raise errors.missing("From")
    if not is_e164(from_):
        raise errors.invalid_from(from_)
    if not carrier.account.may_call_from(from_):
        raise errors.from_not_owned(from_)
    return to, from_


def _callbacks(form: Form) -> Callbacks:
    # StatusCallbackEvent may repeat, or hold the events separated by spaces.
    events = tuple(e for value in form.get("StatusCallbackEvent", []) for e in value.split())
    unknown = [e for e in events if e not in CALLBACK_EVENTS]
    if unknown:
        raise errors.invalid_parameter("StatusCallbackEvent", " ".join(unknown))
    method = (first(form, "StatusCallbackMethod") or "POST").upper()
    if method not in ("GET", "POST"):
        raise errors.invalid_parameter("StatusCallbackMethod", method)
    return Callbacks(
        url=first(form, "StatusCallback"),
        method=method,
        events=events or ("completed",),
        amd_url=first(form, "AsyncAmdStatusCallback"),
    )


def _recording_options(form: Form) -> dict[str, str]:
    return {
        "RecordingChannels": first(form, "RecordingChannels") or "mono",
        "RecordingStatusCallback": first(form, "RecordingStatusCallback"),
        "RecordingStatusCallbackEvent": first(form, "RecordingStatusCallbackEvent"),
    }
