"""ASGI entry point: HTTP goes to Django, WebSockets to the routes each app declares."""

from __future__ import annotations

import gc
import importlib
import os

import httpx
from asgiref.typing import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")
# Build the Django application first: it sets up the app registry, which the consumers
# imported below need for their models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from phonebridge.lean import LeanASGIHandler, route_paths  # noqa: E402
from phonebridge.routing import websocket_urlpatterns  # noqa: E402
from telephony.http import tls_context  # noqa: E402
from telephony.reconcile import ensure_periodic_reconciliation  # noqa: E402
from telephony.telnyx.embedded import mount_simulator  # noqa: E402
from telephony.twilio.embedded import mount_simulator as mount_twilio_simulator  # noqa: E402


class WorkerTasks:
    """Starts this worker's background loops (reconciliation) once it serves its first scope."""

    def __init__(self, app: ASGI3Application) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] in ("http", "websocket"):
            ensure_periodic_reconciliation()
        return await self.app(scope, receive, send)


def _prepare_worker() -> None:
    """Do at start-up what would otherwise stall the event loop while calls are streaming."""
    # The URLconf (and the admin it imports) loads on the first request otherwise: the first
    # webhook of a fresh worker would hold up every stream for tens of milliseconds.
    get_resolver().url_patterns  # noqa: B018
    # httpx loads httpcore when its first client is made, and anyio its asyncio backend on
    # the first connection: a fresh worker's first carrier command (the first call's answer)
    # would import them, about 0.2 s of CPU with a burst of calls setting up around it, and
    # build the TLS context its clients share (telephony.http.tls_context, about 20 ms).
    httpx.AsyncHTTPTransport(verify=tls_context())
    importlib.import_module("anyio._backends._asyncio")  # what anyio imports on first use
    # Django, the apps and their modules are hundreds of thousands of objects that live as
    # long as the process. Freezing them keeps them out of the cyclic collector, whose full
    # collections would otherwise walk them all: a 40 ms pause mid-call at 150 calls.
    gc.collect()
    gc.freeze()


application = WorkerTasks(
    ProtocolTypeRouter(
        {
            # The embedded Telnyx and Twilio simulators answer under /_simulator/ in DEBUG only.
            "http": route_paths(
                ("/telnyx/events",),
                LeanASGIHandler(),
                mount_simulator(mount_twilio_simulator(django_asgi_app)),
            ),
            # django-stubs types path() for views only, not ASGI apps (typeddjango/django-stubs
            # PR 3354 proposes that), so a route list is never the list URLRouter is typed for.
            "websocket": URLRouter(websocket_urlpatterns),  # type: ignore[arg-type]
        }
    )
)


_prepare_worker()
