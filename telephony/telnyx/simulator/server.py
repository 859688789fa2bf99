"""Serving the Telnyx simulator inside the current event loop (see telephony.simulation.server).

`running_simulator()` is what tests and `manage.py simulate_call` use.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from telephony.simulation.server import RunningSimulator as ServedSimulator
from telephony.simulation.server import ServedApp, serve_asgi, serve_simulator
from telephony.telnyx.simulator.api import DEFAULT_PREFIX, SimulatorAPI
from telephony.telnyx.simulator.carrier import Carrier

__all__ = ["RunningSimulator", "ServedApp", "running_simulator", "serve_asgi"]


class RunningSimulator(ServedSimulator[Carrier, SimulatorAPI]):
    @property
    def public_key_b64(self) -> str:
        return self.carrier.public_key_b64


@contextlib.asynccontextmanager
async def running_simulator(
    carrier: Carrier | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    prefix: str = DEFAULT_PREFIX,
    **carrier_options: Any,
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator's REST API; `carrier_options` go to `Carrier` when none is given."""
    carrier = carrier or Carrier(**carrier_options)
    app = SimulatorAPI(carrier, prefix)
    async with serve_simulator(app, host=host, port=port) as served:
        yield RunningSimulator(carrier, app, served)
