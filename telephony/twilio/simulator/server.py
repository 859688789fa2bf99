"""Serving the Twilio simulator inside the current event loop (see telephony.simulation.server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telephony.simulation.server import RunningSimulator as ServedSimulator
from telephony.simulation.server import serve_simulator
from telephony.twilio.simulator.api import DEFAULT_PREFIX, SimulatorAPI
from telephony.twilio.simulator.carrier import Carrier


class RunningSimulator(ServedSimulator[Carrier, SimulatorAPI]):
    @property
    def account_sid(self) -> str:
        return self.carrier.account.sid

    @property
    def auth_token(self) -> str:
        return self.carrier.account.auth_token


@asynccontextmanager
async def running_simulator(
    carrier: Carrier | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[RunningSimulator]:
    """Serve a Twilio simulator's REST API; `options` go to `Carrier` when none is given."""
    carrier = carrier or Carrier(**options)
    app = SimulatorAPI(carrier, DEFAULT_PREFIX)
    async with serve_simulator(app, host=host, port=port) as served:
        yield RunningSimulator(carrier, app, served)
