"""The embedded Telnyx simulator, wired into phonebridge's own server (DEBUG only).

`mount_simulator` routes `/_simulator/telnyx/v2/...` to the simulator's REST surface while
settings.TELNYX_SIMULATOR is on; the simulated carrier then sends its webhooks to this
server's /telnyx/events and opens its media sockets to /telnyx/media/..., over real sockets,
from tasks on the server's own event loop. The simulator package itself knows nothing of
Django (telephony/simulator/embedded.py builds it from a settings object).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from telephony.simulator.api import DEFAULT_PREFIX, SimulatorAPI
from telephony.simulator.calls import SimCall
from telephony.simulator.embedded import from_settings

_app: SimulatorAPI | None = None


def embedded_simulator() -> SimulatorAPI:
    global _app
    if not settings.TELNYX_SIMULATOR:
        raise RuntimeError("the embedded simulator runs only with DEBUG and no TELNYX_API_KEY")
    if _app is None:
        _app = from_settings(settings)
    return _app


def reset_embedded_simulator() -> None:
    """Forget the simulator (tests change SIMULATOR_HOST between cases)."""
    global _app
    _app = None


def mount_simulator(django_app: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and settings.TELNYX_SIMULATOR
            and path.startswith(DEFAULT_PREFIX)
        ):
            await embedded_simulator()(scope, receive, send)
            return
        await django_app(scope, receive, send)

    return app


async def simulate_inbound_call(
    *, from_number: str, to_number: str | None = None, duration_s: float = 8.0
) -> SimCall:
    """Ring our own number from `from_number`; the call then arrives through webhooks."""
    carrier = embedded_simulator().carrier
    return await carrier.start_inbound_call(
        from_=from_number, to=to_number or settings.TELNYX_PHONE_NUMBER, duration_s=duration_s
    )
