"""_EmbeddedServer's contract with uvicorn.Server, whose signal handling and main loop it
replaces."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from telephony.telnyx.simulator.server import serve_asgi
from tests.framework_pins import Pins, drift

# What _EmbeddedServer replaces or depends on, as reviewed (see tests/framework_pins.py).
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
UVICORN_PINS: Pins = {
    # Replaced: the host process keeps its signal handlers.
    "uvicorn.server.Server.capture_signals": ("0.54.0", "e1bbcd4770d1c8877454c17466d7bb229ec2cb9776e12703830ff64fc024758f"),
    # Replaced: the same ticks, woken by stop() instead of polled every 0.1 s.
    "uvicorn.server.Server.main_loop": ("0.54.0", "afccb353a119333f206ffa120abc9efdc46a1ac60fe93485acfda2a271d75a62"),
    "uvicorn.server.Server.on_tick": ("0.54.0", "60ea49b06ccf68c11e91a3b8676b56f3b8ab13c86e6c9fa4654731063d8f9bd0"),
    # Call the two replacements.
    "uvicorn.server.Server.serve": ("0.54.0", "112ef41af52167e35ebf82b8570d4aec9e64bdc952ed3905abb562fad5320ee5"),
    "uvicorn.server.Server._serve": ("0.54.0", "4575b7a50adfede86f6f1c508e7b2cea3bd04111aaf8fc8ded9f990cafa1eb8f"),
}
# fmt: on


@pytest.mark.parametrize("dotted", UVICORN_PINS)
def test_the_uvicorn_internals_the_embedded_server_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        UVICORN_PINS[dotted],
        override="_EmbeddedServer (telephony/telnyx/simulator/server.py)",
        pins_file="UVICORN_PINS in tests/telephony/telnyx/simulator/test_server.py",
    )
    assert problem is None, problem


async def _lifespan_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while scope["type"] == "lifespan":
        message = await receive()
        await send({"type": f"{message['type']}.complete"})
        if message["type"] == "lifespan.shutdown":
            return


async def test_uvicorn_still_leaves_the_host_process_signal_handlers_alone():
    handled = (signal.SIGINT, signal.SIGTERM)
    before = [signal.getsignal(sig) for sig in handled]
    async with serve_asgi(_lifespan_only):
        during = [signal.getsignal(sig) for sig in handled]
    assert during == before
    assert [signal.getsignal(sig) for sig in handled] == before
