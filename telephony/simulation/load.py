"""Driving a real phonebridge server with simulated calls, and reporting on them.

This is what `manage.py simulate_call` runs, kept free of Django so it can be tested and
reused by benchmarks: ring the server `calls` times, `concurrency` at a time, or answer the
server's outbound dials, and summarise media and webhook figures per call and overall. It
drives either carrier's simulator through the few names they share (`SimulatedCarrier`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from telephony.simulation.playout import percentile
from telephony.simulation.report import CallReport
from telephony.simulation.scenario import Scenario


class SimulatedCall(Protocol):
    direction: str
    ended: asyncio.Event

    @property
    def report(self) -> CallReport: ...


class Delivery(Protocol):
    @property
    def ok(self) -> bool: ...

    @property
    def latency_ms(self) -> float: ...


class WebhookLog(Protocol):
    @property
    def deliveries(self) -> Sequence[Delivery]: ...


class SimulatedCarrier(Protocol):
    """What a carrier simulator offers the load generator (both carriers have these)."""

    default_scenario: Scenario
    call_listeners: list[Any]  # callables told of each call that ends

    @property
    def webhooks(self) -> WebhookLog: ...

    async def start_inbound_call(self, scenario: Scenario | None = None, **changes: Any) -> Any: ...

    async def hang_up_far_end(self, call: Any) -> None:
        """The far party hangs up (if the call is still up)."""
        ...


_GRACE_S = 30.0  # beyond ringing and talking, how long a call may take to wind down


@dataclass
class Summary:
    reports: list[CallReport] = field(default_factory=list)

    def add(self, report: CallReport) -> None:
        self.reports.append(report)

    @property
    def ok(self) -> int:
        return sum(1 for r in self.reports if r.outcome == "ok")

    @property
    def failed(self) -> int:
        return len(self.reports) - self.ok

    def lines(self, carrier: SimulatedCarrier) -> list[str]:
        media = [m for r in self.reports for m in r.media]
        rtt = [v for m in media for v in m.rtt_ms]
        deliveries = list(carrier.webhooks.deliveries)
        webhook_ms = [d.latency_ms for d in deliveries if d.ok]
        return [
            f"calls: {len(self.reports)} ok: {self.ok} failed: {self.failed}",
            f"frames sent: {sum(m.frames_sent for m in media)} "
            f"received: {sum(m.frames_received for m in media)} "
            f"errors sent: {sum(len(m.errors_sent) for m in media)}",
            f"rtt p50: {_ms(percentile(rtt, 50))} p99: {_ms(percentile(rtt, 99))} "
            f"max gap: {_ms(max((m.max_gap_ms for m in media), default=None))}",
            f"webhooks: {len(deliveries)} attempts, "
            f"{sum(1 for d in deliveries if not d.ok)} failed, "
            f"p50 {_ms(percentile(webhook_ms, 50))} p99 {_ms(percentile(webhook_ms, 99))}",
        ]


def call_line(report: CallReport) -> str:
    media = report.media
    rtt = [v for m in media for v in m.rtt_ms]
    return (
        f"{report.call_control_id[:24]:<24} {report.outcome:<18} "
        f"sent={sum(m.frames_sent for m in media)} recv={sum(m.frames_received for m in media)} "
        f"rtt p50={_ms(percentile(rtt, 50))} p99={_ms(percentile(rtt, 99))} "
        f"gap={_ms(max((m.max_gap_ms for m in media), default=None))} "
        f"marks={sum(m.marks_echoed for m in media)} "
        f"errors={sum(len(m.errors_sent) for m in media)} "
        f"hangup={report.hangup_cause}/{report.hangup_source}"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


async def ring_server(
    carrier: SimulatedCarrier,
    scenario: Scenario,
    *,
    calls: int,
    concurrency: int,
    stop: asyncio.Event,
    on_report: Callable[[CallReport], None],
) -> None:
    """Place `calls` inbound calls, `concurrency` at a time, until done or `stop` is set."""
    slots = asyncio.Semaphore(concurrency)
    limit = scenario.scaled(scenario.ring_timeout_s) + scenario.duration_s + _GRACE_S

    async def one() -> None:
        async with slots:
            if stop.is_set():
                return
            call = await carrier.start_inbound_call(scenario)
            await _until_ended(carrier, call, limit, stop)
            on_report(call.report)

    await asyncio.gather(*(one() for _ in range(calls)))


async def _until_ended(
    carrier: SimulatedCarrier, call: SimulatedCall, limit: float, stop: asyncio.Event
) -> None:
    stopped = asyncio.create_task(stop.wait())
    ended = asyncio.create_task(call.ended.wait())
    await asyncio.wait({stopped, ended}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    ended.cancel()
    # On Ctrl-C or a stuck call, the caller hangs up so the server sees a clean end.
    await carrier.hang_up_far_end(call)


async def answer_dials(
    carrier: SimulatedCarrier,
    scenario: Scenario,
    *,
    calls: int,
    serve_for: float | None,
    stop: asyncio.Event,
    on_report: Callable[[CallReport], None],
) -> None:
    """Let the server dial out; the far end follows `scenario`. Ends after `calls` (0: never)."""
    carrier.default_scenario = scenario
    finished = 0

    def ended(call: SimulatedCall) -> None:
        nonlocal finished
        if call.direction == "outgoing":
            on_report(call.report)
            finished += 1
            if calls and finished >= calls:
                stop.set()

    carrier.call_listeners.append(ended)
    try:
        await asyncio.wait_for(stop.wait(), serve_for)
    except TimeoutError:
        pass
    finally:
        carrier.call_listeners.remove(ended)
