"""The embedded Telnyx simulator: the one adapter between phonebridge and the simulator.

`phonebridge/asgi.py` wraps its HTTP app in `mount_simulator(...)`: paths under
`/_simulator/telnyx/v2/` go to the simulator while `settings.TELNYX_SIMULATOR` is on (DEBUG
with no Telnyx key), so the carrier's background tasks (webhooks, media sockets) run on the
server's own event loop; the admin's "Simulate inbound call" rings it through
`simulate_inbound_call`. No other production module imports `telephony.telnyx.simulator`,
and this one imports it only when the simulator is first used, so a production worker never
loads it. The simulator itself is Django-free; the settings are read here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telephony.telnyx.simulator.api import SimulatorAPI

# Where the simulator answers; equal to telephony.telnyx.simulator.api.DEFAULT_PREFIX (a test
# pins the two together), repeated here so that mounting it imports nothing.
DEFAULT_PREFIX = "/_simulator/telnyx/v2"

_embedded: SimulatorAPI | None = None
# The loop serving HTTP in this process; the admin's sync views reach the simulator through it.
_home_loop: asyncio.AbstractEventLoop | None = None


def build_simulator_app(
    *,
    api_key: str,
    signing_seed: bytes | None,
    webhook_event_url: str,
    connection_id: str | None = None,
    phone_number: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    **carrier_options: Any,
) -> SimulatorAPI:
    """A carrier seeded with one key, one app pointing at `webhook_event_url`, one number."""
    from telephony.telnyx.simulator.api import SimulatorAPI
    from telephony.telnyx.simulator.carrier import Carrier

    carrier = Carrier(signing_seed=signing_seed, **carrier_options)
    carrier.seed(
        api_keys=[api_key],
        connection_id=connection_id,
        webhook_event_url=webhook_event_url,
        phone_number=phone_number,
    )
    return SimulatorAPI(carrier, prefix)


def from_settings(settings: Any, *, prefix: str = DEFAULT_PREFIX) -> SimulatorAPI:
    """A simulator for phonebridge's simulator-mode settings (any object with the names)."""
    host = settings.SIMULATOR_HOST
    base = host if "://" in host else f"http://{host}"
    return build_simulator_app(
        api_key=settings.TELNYX_API_KEY,
        signing_seed=getattr(settings, "SIMULATOR_SIGNING_SEED", None),
        webhook_event_url=f"{base.rstrip('/')}/telnyx/events",
        connection_id=settings.TELNYX_CALL_CONTROL_APP_ID or None,
        phone_number=settings.TELNYX_PHONE_NUMBER or None,
        prefix=prefix,
    )


def embedded_simulator(
    settings: Any | None = None, *, prefix: str = DEFAULT_PREFIX
) -> SimulatorAPI:
    """This process's embedded simulator, built from settings on first use."""
    global _embedded
    if _embedded is None:
        source = settings if settings is not None else _django_settings()
        _embedded = from_settings(source, prefix=prefix)
    return _embedded


def reset_embedded_simulator() -> None:
    """Forget this process's simulator (tests change SIMULATOR_HOST between cases)."""
    global _embedded
    _embedded = None


def _django_settings() -> Any:
    # Imported here, not at the top: the package stays importable without Django.
    from django.conf import settings

    return settings


async def simulate_inbound_call(
    *, from_number: str, to_number: str, duration_s: float = 8.0, **scenario: Any
) -> str:
    """Ring `to_number` from `from_number` on the embedded simulator; returns the call id.

    Called from sync Django views through `async_to_sync`, which may run it on a loop of its
    own; the call then runs on the server's loop, which outlives the request.
    """
    carrier = embedded_simulator().carrier
    changes = {"from_": from_number, "to": to_number, "duration_s": duration_s, **scenario}
    home = _home_loop
    if home is None or not home.is_running() or home is asyncio.get_running_loop():
        call = await carrier.start_inbound_call(**changes)
    else:
        started = asyncio.run_coroutine_threadsafe(carrier.start_inbound_call(**changes), home)
        call = await asyncio.wrap_future(started)
    return call.call_control_id


def mount_simulator(app: Any, *, prefix: str = DEFAULT_PREFIX) -> SimulatorMount:
    """`app`, with the embedded simulator answering under `prefix` while it is switched on."""
    return SimulatorMount(app, prefix=prefix)


class SimulatorMount:
    """Send HTTP requests under the simulator's prefix to it and everything else to `app`.

    Without an explicit `simulator`, the embedded one answers, and only while
    `settings.TELNYX_SIMULATOR` is true (checked per request, so tests can switch it).
    """

    def __init__(
        self, app: Any, simulator: SimulatorAPI | None = None, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.app = app
        self._simulator = simulator
        self.prefix = simulator.prefix if simulator is not None else prefix.rstrip("/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        global _home_loop
        if scope["type"] == "http":
            _home_loop = asyncio.get_running_loop()
            path = scope.get("path", "")
            under = path == self.prefix or path.startswith(self.prefix + "/")
            if under and self._enabled():
                await self._target()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _enabled(self) -> bool:
        if self._simulator is not None:
            return True
        return bool(getattr(_django_settings(), "TELNYX_SIMULATOR", False))

    def _target(self) -> SimulatorAPI:
        return self._simulator or embedded_simulator(prefix=self.prefix)
