"""The simulator's REST surface as a raw ASGI application (Twilio's 2010-04-01 API).

Form-encoded bodies in, JSON out, HTTP basic auth with the account SID and auth token or an
API key and secret (https://www.twilio.com/docs/usage/requests-to-twilio), Twilio's error body
for everything that fails (https://www.twilio.com/docs/usage/twilios-response), unknown routes
included (20404). The plumbing (lifespan, bodies, JSON answers) is telephony.simulation.asgi's.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from telephony.simulation.asgi import (
    BodyTooLarge,
    Receive,
    Response,
    Scope,
    SimulatorApp,
    read_body,
)
from telephony.twilio.simulator import errors
from telephony.twilio.simulator.carrier import Carrier
from telephony.twilio.simulator.faults import fault_error
from telephony.twilio.simulator.rest import Request
from telephony.twilio.simulator.routes import ROUTES

DEFAULT_PREFIX = "/_simulator/twilio"
MAX_BODY_BYTES = 1024 * 1024


class SimulatorAPI(SimulatorApp):
    content_type = b"application/json; charset=utf-8"

    def __init__(self, carrier: Carrier, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__(carrier, prefix)
        self.carrier: Carrier = carrier

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        try:
            request = await self._request(scope, receive)
            if not self.carrier.account.authenticates(request.authorization):
                raise errors.unauthorized()
            return self._route(request)
        except errors.ApiError as exc:
            return Response(exc.status, exc.body(), exc.headers)

    async def _request(self, scope: Scope, receive: Receive) -> Request:
        path = self.below_prefix(scope["path"])
        if path is None:
            raise errors.not_found(scope["path"])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await read_body(receive, MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            raise errors.ApiError(413, 20001, str(exc)) from None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return Request(scope["method"], path, query, form, headers.get("authorization", ""))

    def _route(self, request: Request) -> Response:
        account = f"/2010-04-01/Accounts/{self.carrier.account.sid}"
        if request.path.startswith("/2010-04-01/Accounts/") and not (
            request.path == account + ".json" or request.path.startswith(account + "/")
        ):
            raise errors.unauthorized()  # another account's resources: these keys may not
        tail = request.path[len(account) :]
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(tail)
            if match and method == request.method:
                request.params = match.groupdict()
                delay = self._fault(request, handler.__name__)
                status, body = handler(self.carrier, request)
                return Response(status, body, delay_s=delay)
        raise errors.not_found(request.path)

    def _fault(self, request: Request, handler: str) -> float:
        command = handler.removeprefix("_")  # "dial", "update_call", "start_recording"…
        rule = self.carrier.faults.pick(
            request.method, request.path, command, request.params.get("call_sid")
        )
        if rule is None:
            return 0.0
        if rule.kind == "timeout":
            return rule.delay_s
        raise fault_error(rule)
