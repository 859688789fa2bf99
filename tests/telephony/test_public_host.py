"""The public host from ngrok's local API: a failure is not remembered for long, and asking
never blocks the event loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from telephony import public_host
from tests.live import free_port

TUNNELS = {
    "tunnels": [
        {"public_url": "http://abc123.ngrok.app", "proto": "http"},
        {"public_url": "https://abc123.ngrok.app", "proto": "https"},
    ]
}


class NgrokAgent:
    """ngrok's local agent API (GET /api/tunnels on 127.0.0.1:4040, answering a JSON list of
    tunnels with their public_url), over a real socket; it may answer slowly, as an agent
    busy starting a tunnel does. Counts the requests it gets."""

    def __init__(self, *, delay: float = 0.0, port: int | None = None) -> None:
        agent = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                agent.requests += 1
                time.sleep(delay)
                raw = json.dumps(TUNNELS).encode()
                self.send_response(200 if self.path == "/api/tunnels" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/tunnels"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_public_host(settings) -> Iterator[None]:
    settings.PUBLIC_HOST = ""
    public_host._detected_host.cache_clear()
    yield
    public_host._detected_host.cache_clear()


def test_a_failed_detection_is_retried_once_the_short_failure_time_is_over(
    no_public_host, monkeypatch
):
    monkeypatch.setattr(public_host, "FAILURE_TTL_SECONDS", 0.3)
    port = free_port()
    monkeypatch.setattr(public_host, "NGROK_API", f"http://127.0.0.1:{port}/api/tunnels")
    with pytest.raises(public_host.PublicHostUnknown, match="start `ngrok http 8000`"):
        public_host.public_host()
    agent = NgrokAgent(port=port)  # ngrok started after phonebridge
    try:
        with pytest.raises(public_host.PublicHostUnknown):
            public_host.public_host()  # the failure still holds for a moment
        assert agent.requests == 0
        time.sleep(0.35)
        assert public_host.public_host() == "abc123.ngrok.app"
        assert public_host.public_host() == "abc123.ngrok.app"
        assert agent.requests == 1  # a found tunnel is remembered
    finally:
        agent.close()


async def test_asking_on_the_event_loop_probes_in_a_thread(no_public_host, monkeypatch):
    agent = NgrokAgent(delay=0.3)
    monkeypatch.setattr(public_host, "NGROK_API", agent.url)
    probed_on: list[threading.Thread] = []
    real_probe = public_host.detect_ngrok_host

    def probe(timeout: float = 1.0) -> str | None:
        probed_on.append(threading.current_thread())
        return real_probe(timeout)

    monkeypatch.setattr(public_host, "detect_ngrok_host", probe)
    try:
        assert await public_host.ensure_public_host() == "abc123.ngrok.app"
        # The media URL built afterwards comes from the cache, without another request.
        url = public_host.public_url("telnyx/media/x", websocket=True)
    finally:
        agent.close()
    assert probed_on, "ngrok was never asked"
    assert threading.current_thread() not in probed_on  # never on the event loop's thread
    assert url.startswith("wss://abc123.ngrok.app/")
    assert agent.requests == 1


async def test_without_any_public_host_answering_fails_with_the_reason(
    no_public_host, monkeypatch, fake_telnyx
):
    from calls.models import Call
    from telephony.telnyx.call_control import TelnyxCallControl
    from telephony.telnyx.client import TelnyxError

    monkeypatch.setattr(public_host, "NGROK_API", f"http://127.0.0.1:{free_port()}/api/tunnels")
    telnyx = fake_telnyx()
    call = Call(direction="inbound", call_control_id="v3:x")
    with pytest.raises(TelnyxError, match="No public host"):
        await TelnyxCallControl().answer(call=call, token="t")
    assert telnyx.requests == []
