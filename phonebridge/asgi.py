"""ASGI entry point: HTTP goes to Django, WebSockets to the routes each app declares."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "phonebridge.settings")
# Build the Django application first: it sets up the app registry, which the consumers
# imported below need for their models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from phonebridge.lean import LeanASGIHandler, route_paths  # noqa: E402
from phonebridge.routing import websocket_urlpatterns  # noqa: E402
from telephony.reconcile import ensure_periodic_reconciliation  # noqa: E402
from telephony.simulator.embedded import mount_simulator  # noqa: E402


class WorkerTasks:
    """Starts this worker's background loops (reconciliation) once it serves its first scope."""

    def __init__(self, app):  # type: ignore[no-untyped-def]
        self.app = app

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] in ("http", "websocket"):
            ensure_periodic_reconciliation()
        return await self.app(scope, receive, send)


application = WorkerTasks(
    ProtocolTypeRouter(
        {
            # The embedded Telnyx simulator answers under /_simulator/ in DEBUG only.
            "http": route_paths(
                ("/telnyx/events",), LeanASGIHandler(), mount_simulator(django_asgi_app)
            ),
            "websocket": URLRouter(websocket_urlpatterns),
        }
    )
)
