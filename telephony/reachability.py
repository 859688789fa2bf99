"""Whether the public host reaches this phonebridge: a carrier's webhooks go nowhere otherwise.

A provisioning preflight (any carrier's) fetches https://<public host>/healthz from outside,
through the tunnel or proxy the carrier will use, and explains what each answer means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from telephony.public_host import public_url

HEALTH_PATH = "healthz"
HEALTH_TIMEOUT = 5.0
TUNNEL_FIX = (
    "Start phonebridge (`uv run manage.py runserver`) and `ngrok http 8000`, and make "
    "PUBLIC_HOST the tunnel's host."
)


@dataclass(frozen=True)
class Reachability:
    status: Literal["ok", "fail"]
    detail: str
    fix: str = ""


async def probe(host: str) -> Reachability:
    """GET /healthz on `host` (https unless loopback) and say what the answer means."""
    url = public_url(HEALTH_PATH, host=host)
    try:
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT, follow_redirects=True) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return Reachability("fail", f"{url} did not answer ({type(exc).__name__})", TUNNEL_FIX)
    status = response.status_code
    if status == 200:
        return Reachability("ok", f"{url} answered 200")
    if status == 400:
        # Django answers 400 for a Host header outside ALLOWED_HOSTS.
        fix = f"Add {host.rsplit(':', 1)[0]} to ALLOWED_HOSTS."
        return Reachability("fail", f"{url} answered 400 (host not allowed?)", fix)
    if status == 503:
        fix = "phonebridge is reachable but degraded: see the body of /healthz for what is down."
        return Reachability("fail", f"{url} answered 503: {response.text[:200]}", fix)
    return Reachability("fail", f"{url} answered HTTP {status}, not phonebridge", TUNNEL_FIX)
