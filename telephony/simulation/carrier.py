"""What every simulated carrier keeps: its calls, the far ends of its dials, injected faults.

Each carrier's `Carrier` builds on this: Telnyx's and Twilio's differ in their accounts,
webhooks and call states, not in how they remember calls or shut down.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, Generic, Protocol, TypeVar

from telephony.simulation.faults import FaultInjector, FaultKind, FaultRule
from telephony.simulation.scenario import Scenario

CALL_RETENTION_S = 600.0  # how long an ended call still answers GET (both carriers: longer)


class _Call(Protocol):
    scenario: Scenario
    tasks: set[asyncio.Task[Any]]
    ended_at_monotonic: float | None
    ended: asyncio.Event
    media: Any  # the call's running media socket, if any (it can send_dtmf)
    hangs_up_at: float | None

    @property
    def is_alive(self) -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str = "") -> asyncio.Task[Any]: ...


class _Webhooks(Protocol):
    async def flush(self, timeout: float = ...) -> None: ...

    async def aclose(self) -> None: ...


CallT = TypeVar("CallT", bound=_Call)


class CarrierBase(abc.ABC, Generic[CallT]):
    webhooks: _Webhooks

    def __init__(self, *, default_scenario: Scenario | None, seed: int | None) -> None:
        self.faults = FaultInjector(seed)
        self.default_scenario = default_scenario or Scenario()
        # The far end of outbound dials, per destination number; the default otherwise.
        self.outbound_scenarios: dict[str, Scenario] = {}
        self.calls: dict[str, CallT] = {}
        self.call_listeners: list[Callable[[CallT], None]] = []  # told when a call ends

    def inject(self, kind: FaultKind, count: int | None = 1, **match: Any) -> FaultRule:
        """Answer the next `count` matching REST requests with a fault; see `FaultRule`."""
        return self.faults.add(FaultRule(kind, count=count, **match))

    def inbound_scenario(self, scenario: Scenario | None, changes: dict[str, Any]) -> Scenario:
        """The far party of an inbound call: `scenario` (or the default) with `changes`."""
        return replace(scenario or self.default_scenario, direction="incoming", **changes)

    def remember(self, call_id: str, call: CallT) -> CallT:
        """Keep `call`; the REST faults its scenario names apply to it alone."""
        self._forget_old_calls()
        self.calls[call_id] = call
        for rule in call.scenario.rest_faults:
            self.faults.add(replace(rule, call_control_id=call_id))
        return call

    def find_call(self, call_id: str) -> CallT | None:
        self._forget_old_calls()
        return self.calls.get(call_id)

    @abc.abstractmethod
    async def end_on_close(self, call: CallT) -> None:
        """Hang up a call still up when the simulator stops."""

    @abc.abstractmethod
    async def hang_up_far_end(self, call: CallT) -> None:
        """The far party hangs up, in the carrier's words for it."""

    def key_pressed(self, call: CallT, digit: str) -> None:
        """The far party pressed `digit` (after its tones went down the stream, if any): for
        carriers that also say so in a webhook. Nothing by default."""

    async def far_end(self, call: CallT) -> None:
        """The other party of an answered call talks, presses keys, and hangs up when the
        scenario says so."""
        scenario = call.scenario
        if scenario.dtmf:
            call.spawn(self._press_keys(call))
        if scenario.hangup_by == "caller":
            call.hangs_up_at = time.monotonic() + scenario.duration_s
            await asyncio.sleep(scenario.duration_s)
            await self.hang_up_far_end(call)

    async def _press_keys(self, call: CallT) -> None:
        await asyncio.sleep(call.scenario.dtmf_at_s)
        for digit in call.scenario.dtmf:
            if not call.is_alive:
                return
            if call.media is not None:
                await call.media.send_dtmf(digit)
            else:
                await asyncio.sleep(0.25)  # no stream: the tones reach nobody we can see
            self.key_pressed(call, digit)

    def call_ended(self, call: CallT) -> None:
        """The last step of a carrier's hang-up, once its own events are sent: the call keeps
        answering GET for CALL_RETENTION_S, its waiters wake, its other tasks stop and the
        listeners hear of it."""
        call.ended_at_monotonic = time.monotonic()
        call.ended.set()
        current = asyncio.current_task()
        for task in list(call.tasks):
            if task is not current:
                task.cancel()
        for listener in self.call_listeners:
            listener(call)

    async def aclose(self) -> None:
        for call in list(self.calls.values()):
            if call.is_alive:
                await self.end_on_close(call)
        tasks = [t for call in self.calls.values() for t in call.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.webhooks.flush(timeout=2.0)
        await self.webhooks.aclose()

    def _forget_old_calls(self) -> None:
        horizon = time.monotonic() - CALL_RETENTION_S
        for call_id, call in list(self.calls.items()):
            if call.ended_at_monotonic is not None and call.ended_at_monotonic < horizon:
                del self.calls[call_id]
