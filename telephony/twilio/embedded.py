"""The embedded Twilio simulator: the one adapter between phonebridge and the Twilio simulator.

`phonebridge/asgi.py` wraps its HTTP app in `mount_simulator(...)`: paths under
`/_simulator/twilio/` go to the simulator while `settings.TWILIO_SIMULATOR` is on (DEBUG
without Twilio credentials), so its background work (webhooks, media sockets) runs on the
server's own event loop. Its account is the one phonebridge/settings.py made up for the
process (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), so its signatures verify; it owns
TWILIO_PHONE_NUMBER, whose VoiceUrl and StatusCallback point at this server. No other
production module imports `telephony.twilio.simulator`, and this one only when the simulator
is first used. The simulator is Django-free; the settings are read here.

It reaches the server where it actually listens, like Telnyx's (telephony/telnyx/embedded.py):
it follows SIMULATOR_HOST (which runserver, or the first request, sets), and when the Telnyx
simulator is off it learns that address from the first request itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from telephony.twilio.simulator.api import SimulatorAPI

# Where the simulator answers; equal to telephony.twilio.simulator.api.DEFAULT_PREFIX (a test
# pins the two together), repeated here so that mounting it imports nothing.
DEFAULT_PREFIX = "/_simulator/twilio"

_embedded: SimulatorAPI | None = None
_built_for: str | None = None  # the SIMULATOR_HOST the embedded carrier calls back
# The loop serving HTTP in this process; the admin's sync views reach the simulator through it.
_home_loop: asyncio.AbstractEventLoop | None = None


def build_simulator_app(
    *,
    account_sid: str,
    auth_token: str,
    server_url: str,
    phone_number: str,
    prefix: str = DEFAULT_PREFIX,
    **carrier_options: Any,
) -> SimulatorAPI:
    """A Twilio account owning `phone_number`, its webhooks pointing at `server_url`."""
    from telephony.twilio.simulator.api import SimulatorAPI
    from telephony.twilio.simulator.carrier import Carrier

    carrier = Carrier(account_sid=account_sid, auth_token=auth_token, **carrier_options)
    base = server_url.rstrip("/")
    carrier.seed(
        phone_number=phone_number,
        voice_url=f"{base}/twilio/voice",
        status_callback=f"{base}/twilio/status",
    )
    return SimulatorAPI(carrier, prefix)


def from_settings(settings: Any, *, prefix: str = DEFAULT_PREFIX) -> SimulatorAPI:
    """A simulator for phonebridge's simulator-mode settings (any object with the names)."""
    host = settings.SIMULATOR_HOST
    return build_simulator_app(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        server_url=host if "://" in host else f"http://{host}",
        phone_number=settings.TWILIO_PHONE_NUMBER or "+15550001111",
        prefix=prefix,
    )


def embedded_simulator(
    settings: Any | None = None, *, prefix: str = DEFAULT_PREFIX
) -> SimulatorAPI:
    """This process's embedded simulator, built from settings on first use."""
    global _embedded, _built_for
    source = settings if settings is not None else _django_settings()
    if _embedded is None:
        _embedded = from_settings(source, prefix=prefix)
        _built_for = source.SIMULATOR_HOST
    return _embedded


def reset_embedded_simulator() -> None:
    """Forget this process's simulator (tests change SIMULATOR_HOST between cases)."""
    global _embedded, _built_for
    _embedded = None
    _built_for = None


def follow_server_host(scope: dict[str, Any] | None = None) -> bool:
    """Keep up with where this server serves (SIMULATOR_HOST); True when anything changed.

    Only what was not given explicitly follows (`SIMULATOR_FOLLOWS_SERVER`). Telnyx's
    simulator, when on, moves SIMULATOR_HOST itself; otherwise the request's `server` does.
    """
    settings = _django_settings()
    following = set(getattr(settings, "SIMULATOR_FOLLOWS_SERVER", ()))
    if not settings.TWILIO_SIMULATOR:
        return False
    server = (scope or {}).get("server")
    learn = "SIMULATOR_HOST" in following and not settings.TELNYX_SIMULATOR
    if learn and _built_for is None and server and server[1] is not None:
        settings.SIMULATOR_HOST = _address(str(server[0]), server[1])
        if "PUBLIC_HOST" in following:
            settings.PUBLIC_HOST = settings.SIMULATOR_HOST
    host = settings.SIMULATOR_HOST
    wanted = f"http://{host}{DEFAULT_PREFIX}"
    changed = _built_for not in (None, host)
    if "TWILIO_API_BASE_URL" in following and wanted != settings.TWILIO_API_BASE_URL:
        settings.TWILIO_API_BASE_URL = wanted
        changed = True
    if changed:
        _forget_carrier_and_clients()
    return changed


def _address(host: str, port: int | str) -> str:
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - reading a bind address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _forget_carrier_and_clients() -> None:
    reset_embedded_simulator()
    # The REST clients were built with the old base URL.
    from telephony.twilio.client import reset_clients

    reset_clients()


def _django_settings() -> Any:
    # Imported here, not at the top: the package stays importable without Django.
    from django.conf import settings

    return settings


async def simulate_inbound_call(
    *, from_number: str, to_number: str, duration_s: float = 8.0, **scenario: Any
) -> str:
    """Ring `to_number` from `from_number` on the embedded simulator; returns the CallSid.
    The call runs on the server's loop, whichever loop this is awaited on."""
    from telephony.simulation.home_loop import run_at_home

    carrier = embedded_simulator().carrier
    scenario = {"from_": from_number, "to": to_number, "duration_s": duration_s, **scenario}
    call = await run_at_home(carrier.start_inbound_call(**scenario), _home_loop)
    return call.sid


class FarEnd(NamedTuple):
    label: str
    scenario: dict[str, Any]  # telephony.simulation.scenario.Scenario fields


# What the far end of a test dial does; the keys are the Dial page's (telephony.telnyx.embedded
# offers the same), the words Twilio's.
FAR_ENDS: dict[str, FarEnd] = {
    "answers": FarEnd("Answers and talks (a person)", {"dial_outcome": "answer"}),
    "voicemail": FarEnd(
        "Voicemail picks up (AMD says machine_start, or machine_end_beep)",
        {"dial_outcome": "answer", "amd_result": "machine"},
    ),
    "busy": FarEnd("Is busy (CallStatus busy, SIP 486)", {"dial_outcome": "user_busy"}),
    "rejects": FarEnd(
        "Rejects the call (CallStatus busy, SIP 603)", {"dial_outcome": "call_rejected"}
    ),
    # Twilio rings for Timeout (60 s by default); the simulator's clock runs 5x faster for it.
    "no_answer": FarEnd(
        "Does not answer (CallStatus no-answer after Timeout, 5x faster here)",
        {"dial_outcome": "no_answer", "time_scale": 0.2},
    ),
}
FAR_END_TALKS_FOR_S = 10.0  # an answered far end hangs up after this long


def set_far_end(number: str, far_end: str, *, keys: str = "") -> None:
    """The next dials to `number` on the embedded simulator meet `far_end`, pressing `keys`."""
    carrier = embedded_simulator().carrier
    changes = {**FAR_ENDS[far_end].scenario, "dtmf": keys, "duration_s": FAR_END_TALKS_FOR_S}
    carrier.outbound_scenarios[number] = dataclasses.replace(carrier.default_scenario, **changes)


def mount_simulator(app: Any, *, prefix: str = DEFAULT_PREFIX) -> SimulatorMount:
    """`app`, with the embedded Twilio simulator answering under `prefix` while it is on."""
    return SimulatorMount(app, prefix=prefix)


class SimulatorMount:
    """Send HTTP requests under the simulator's prefix to it and everything else to `app`.

    The embedded simulator answers only while `settings.TWILIO_SIMULATOR` is true (checked per
    request, so tests can switch it).
    """

    def __init__(self, app: Any, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        global _home_loop
        if scope["type"] == "http" and _enabled():
            _home_loop = asyncio.get_running_loop()
            follow_server_host(scope)
            path = scope.get("path", "")
            if path == self.prefix or path.startswith(self.prefix + "/"):
                await embedded_simulator(prefix=self.prefix)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _enabled() -> bool:
    return bool(getattr(_django_settings(), "TWILIO_SIMULATOR", False))
