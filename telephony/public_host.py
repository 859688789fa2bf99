"""The public host name Telnyx reaches us on, for webhook and media URLs.

PUBLIC_HOST (or its alias NGROK_URL) wins; otherwise a local ngrok agent's API on
127.0.0.1:4040 is asked for its https tunnel. Loopback hosts (the embedded simulator's) get
plain http/ws; anything else is assumed to terminate TLS (ngrok, a proxy).
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlparse

import httpx
from django.conf import settings

NGROK_API = "http://127.0.0.1:4040/api/tunnels"


class PublicHostUnknown(RuntimeError):
    pass


def normalize_host(value: str) -> str:
    """`https://abc.ngrok.app/` → `abc.ngrok.app` (users paste URLs as often as host names)."""
    value = value.strip()
    if "://" in value:
        value = urlparse(value).netloc
    return value.rstrip("/")


def detect_ngrok_host(timeout: float = 1.0) -> str | None:
    try:
        response = httpx.get(NGROK_API, timeout=timeout)
        tunnels = response.json().get("tunnels", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    for tunnel in tunnels:
        url = str(tunnel.get("public_url", ""))
        if url.startswith("https://"):
            return normalize_host(url)
    return None


@functools.cache
def _detected_host() -> str | None:
    return detect_ngrok_host()


def public_host() -> str:
    if settings.PUBLIC_HOST:
        return normalize_host(settings.PUBLIC_HOST)
    host = _detected_host()
    if host:
        return host
    raise PublicHostUnknown(
        "No public host: set PUBLIC_HOST (or NGROK_URL) in .env, or start `ngrok http 8000`."
    )


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def public_url(path: str, *, websocket: bool = False, host: str | None = None) -> str:
    host = host or public_host()
    secure = not is_loopback(host)
    scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
    return f"{scheme}://{host}/{path.lstrip('/')}"
