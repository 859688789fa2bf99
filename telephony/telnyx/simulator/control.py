"""Simulator-only endpoints, under `<prefix>/simulator/`: things Telnyx has no API for.

They let a developer (or the dev console) ring the server from the embedded simulator and read
what happened: `POST /simulator/inbound_calls` with scenario fields, `GET
/simulator/calls/{id}` for the call's report, `GET /simulator/public_key`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from telephony.simulation.playout import MediaStats
from telephony.simulation.report import CallReport
from telephony.simulation.scenario import scenario_from_dict
from telephony.telnyx.simulator import errors
from telephony.telnyx.simulator.rest import Handler, Request, Response, data

if TYPE_CHECKING:
    from telephony.telnyx.simulator.carrier import Carrier


async def _start_inbound(carrier: Carrier, request: Request) -> Response:
    try:
        scenario = scenario_from_dict(request.body, carrier.default_scenario)
        call = await carrier.start_inbound_call(scenario)
    except (ValueError, TypeError) as exc:
        raise errors.bad_request(str(exc)) from None
    return data(
        {"call_control_id": call.call_control_id, "call_session_id": call.call_session_id}, 201
    )


async def _report(carrier: Carrier, request: Request) -> Response:
    return data(report_dict(carrier.get_call(request.params["call_id"]).report))


async def _public_key(carrier: Carrier, request: Request) -> Response:
    return data({"public_key": carrier.public_key_b64})


def report_dict(report: CallReport) -> dict[str, Any]:
    return {
        "call_control_id": report.call_control_id,
        "direction": report.direction,
        "state": report.state,
        "outcome": report.outcome,
        "hangup_cause": report.hangup_cause,
        "hangup_source": report.hangup_source,
        "commands": report.commands,
        "media": [media_dict(m) for m in report.media],
    }


def media_dict(stats: MediaStats) -> dict[str, Any]:
    fields = {k: v for k, v in vars(stats).items() if not k.startswith("_") and k != "rtt_ms"}
    return {**fields, "rtt_p50_ms": stats.rtt_p50_ms, "rtt_p99_ms": stats.rtt_p99_ms}


CONTROL_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/simulator/inbound_calls"), _start_inbound),
    ("GET", re.compile(r"/simulator/calls/(?P<call_id>[^/]+)"), _report),
    ("GET", re.compile(r"/simulator/public_key"), _public_key),
]
