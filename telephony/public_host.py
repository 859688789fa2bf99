"""The public host name Telnyx reaches us on, for webhook and media URLs.

PUBLIC_HOST (or its alias NGROK_URL) wins; otherwise a local ngrok agent's API on
127.0.0.1:4040 is asked for its https tunnel. Loopback hosts (the embedded simulator's) get
plain http/ws; anything else is assumed to terminate TLS (ngrok, a proxy).

ngrok's answer is kept for a while: a tunnel found for FOUND_TTL_SECONDS (ngrok may be
restarted with a new URL), a failure only for FAILURE_TTL_SECONDS, so starting ngrok after
phonebridge works without a restart. The probe is a blocking HTTP request: code on an event
loop (answering, dialing) awaits `ensure_public_host()` first, which probes in a thread, and
then finds the answer cached.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from urllib.parse import urlparse

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

NGROK_API = "http://127.0.0.1:4040/api/tunnels"
FOUND_TTL_SECONDS = 300.0
FAILURE_TTL_SECONDS = 30.0


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


class _DetectedHost:
    """ngrok's last answer and until when it holds (time.monotonic())."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._host: str | None = None
        self._until = 0.0

    def cached(self) -> tuple[bool, str | None]:
        """(fresh, host): whether the last answer still holds, and what it was."""
        with self._lock:
            return time.monotonic() < self._until, self._host

    def __call__(self) -> str | None:
        """The host, probing ngrok (blocking) when the last answer has expired."""
        fresh, host = self.cached()
        if fresh:
            return host
        if _on_event_loop():  # the server's own callers await ensure_public_host() first
            logger.debug("asking ngrok for the public host on an event loop: it blocks")
        return self._store(detect_ngrok_host())

    async def refresh(self) -> str | None:
        """The host, probing ngrok in a thread when the last answer has expired."""
        fresh, host = self.cached()
        if fresh:
            return host
        return self._store(await asyncio.to_thread(detect_ngrok_host))

    def _store(self, host: str | None) -> str | None:
        ttl = FOUND_TTL_SECONDS if host else FAILURE_TTL_SECONDS
        with self._lock:
            self._host, self._until = host, time.monotonic() + ttl
        return host

    def cache_clear(self) -> None:
        with self._lock:
            self._host, self._until = None, 0.0


_detected_host = _DetectedHost()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def public_host() -> str:
    if settings.PUBLIC_HOST:
        return normalize_host(settings.PUBLIC_HOST)
    host = _detected_host()
    if host:
        return host
    raise _unknown()


async def ensure_public_host() -> str:
    """`public_host()` for code on an event loop: ngrok is asked in a thread, never on the
    loop, and the answer is cached for the `public_url()` calls that follow."""
    if settings.PUBLIC_HOST:
        return normalize_host(settings.PUBLIC_HOST)
    host = await _detected_host.refresh()
    if host:
        return host
    raise _unknown()


def _unknown() -> PublicHostUnknown:
    return PublicHostUnknown(
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
