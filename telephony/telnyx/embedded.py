"""The embedded Telnyx simulator: the one adapter between phonebridge and the simulator.

`phonebridge/asgi.py` wraps its HTTP app in `mount_simulator(...)`: paths under
`/_simulator/telnyx/v2/` go to the simulator while `settings.TELNYX_SIMULATOR` is on (DEBUG
with no Telnyx key), so the carrier's background tasks (webhooks, media sockets) run on the
server's own event loop; the admin's "Simulate inbound call" rings it through
`simulate_inbound_call`. No other production module imports `telephony.telnyx.simulator`,
and this one imports it only when the simulator is first used, so a production worker never
loads it. The simulator itself is Django-free; the settings are read here.

The simulator reaches the server where it actually listens: `runserver` tells it its address
and port (`follow_server`), and under any other ASGI server the first request's `server`
address does. Without that, a server on any port but the default's rang nobody.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from telephony.telnyx.simulator.api import SimulatorAPI

# Where the simulator answers; equal to telephony.telnyx.simulator.api.DEFAULT_PREFIX (a test
# pins the two together), repeated here so that mounting it imports nothing.
DEFAULT_PREFIX = "/_simulator/telnyx/v2"

logger = logging.getLogger(__name__)

_embedded: SimulatorAPI | None = None
# The loop serving HTTP in this process; the admin's sync views reach the simulator through it.
_home_loop: asyncio.AbstractEventLoop | None = None
# Where this process was found to serve ("host:port"), once known; learnt once, so requests
# arriving on another interface never rebuild the carrier under live calls.
_served_at: str | None = None


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
    global _embedded, _served_at
    _embedded = None
    _served_at = None


def reachable_address(host: str, port: int | str) -> str:
    """`host:port` a client on this machine can connect to: a wildcard bind means loopback."""
    host = host.strip("[]") or "127.0.0.1"
    if host == "0.0.0.0":  # noqa: S104 - reading a bind address, not binding
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"{host}:{port}"


def follow_server(host: str, port: int | str) -> bool:
    """Point the simulator (and what was derived from its address) at where this server serves.

    Only the settings that were not given explicitly follow (`SIMULATOR_FOLLOWS_SERVER`, set
    by phonebridge/settings.py). Returns whether anything changed.
    """
    global _served_at
    settings = _django_settings()
    address = reachable_address(host, port)
    _served_at = address
    following = set(getattr(settings, "SIMULATOR_FOLLOWS_SERVER", ()))
    if not settings.TELNYX_SIMULATOR or "SIMULATOR_HOST" not in following:
        return False
    if address == settings.SIMULATOR_HOST:
        return False
    settings.SIMULATOR_HOST = address
    if "TELNYX_API_BASE_URL" in following:
        settings.TELNYX_API_BASE_URL = f"http://{address}{DEFAULT_PREFIX}"
    if "PUBLIC_HOST" in following:
        settings.PUBLIC_HOST = address
    _forget_carrier_and_clients()
    logger.info("Embedded Telnyx simulator: reaching this server at http://%s", address)
    return True


def _forget_carrier_and_clients() -> None:
    global _embedded
    _embedded = None
    # The REST clients were built with the old base URL.
    from telephony.telnyx.client import reset_clients

    reset_clients()


def _learn_from_scope(scope: dict[str, Any]) -> None:
    """Under a server that did not say where it serves, its first request tells."""
    server = scope.get("server")
    if _served_at is None and server and server[1] is not None:
        follow_server(str(server[0]), server[1])


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


class FarEnd(NamedTuple):
    label: str
    scenario: dict[str, Any]  # telephony.telnyx.simulator.scenario.Scenario fields


# What the far end of a test dial does (the Dial page offers these while the simulator is on).
FAR_ENDS: dict[str, FarEnd] = {
    "answers": FarEnd("Answers and talks (a person)", {"dial_outcome": "answer"}),
    "voicemail": FarEnd(
        "Voicemail picks up (a machine: answering machine detection says so)",
        {"dial_outcome": "answer", "amd_result": "machine"},
    ),
    "busy": FarEnd("Is busy (Telnyx hangs up with user_busy)", {"dial_outcome": "user_busy"}),
    "rejects": FarEnd("Rejects the call (call_rejected)", {"dial_outcome": "call_rejected"}),
    # Telnyx rings for 30 s before giving up; the simulator's clock runs 5x faster for it.
    "no_answer": FarEnd(
        "Does not answer (rings out: 30 s on Telnyx, 6 s here)",
        {"dial_outcome": "no_answer", "time_scale": 0.2},
    ),
}
FAR_END_TALKS_FOR_S = 10.0  # an answered far end hangs up after this long


def set_far_end(number: str, far_end: str, *, keys: str = "") -> None:
    """The next dials to `number` on the embedded simulator meet `far_end`, pressing `keys`."""
    carrier = embedded_simulator().carrier
    base = carrier.default_scenario
    changes = {**FAR_ENDS[far_end].scenario, "dtmf": keys, "duration_s": FAR_END_TALKS_FOR_S}
    carrier.outbound_scenarios[number] = dataclasses.replace(base, **changes)


# Where `manage.py simulate_call` asks a dev server which carrier it talks to, so that it can
# say at once that the server must be restarted, rather than ring unanswered for 30 s.
CARRIER_INFO_PATH = "/_simulator/carrier"


async def _send_carrier_info(send: Any) -> None:
    settings = _django_settings()
    body = json.dumps(
        {
            "telnyx_api_base_url": settings.TELNYX_API_BASE_URL,
            "telnyx_public_key": settings.TELNYX_PUBLIC_KEY,
        }
    ).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
            if _served_at is None and self._simulator is None:
                _learn_from_scope(scope)
            path = scope.get("path", "")
            if path == CARRIER_INFO_PATH and self._enabled():
                await _send_carrier_info(send)
                return
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
