"""The simulator's REST surface as a raw ASGI application (Telnyx API v2, §3).

No framework: the app must mount under phonebridge's ASGI router, run under uvicorn on its own,
and stay free of Django. JSON in and out, `Authorization: Bearer <key>`, Telnyx's error envelope
for everything that fails, including unknown routes (404/10005).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from telephony.simulation.asgi import BodyTooLarge, Receive, Scope, SimulatorApp, read_body
from telephony.telnyx.simulator import errors
from telephony.telnyx.simulator.carrier import Carrier
from telephony.telnyx.simulator.commands import run_command
from telephony.telnyx.simulator.control import CONTROL_ROUTES
from telephony.telnyx.simulator.faults import fault_error
from telephony.telnyx.simulator.rest import Handler, Request, Response, data, page

DEFAULT_PREFIX = "/_simulator/telnyx/v2"
MAX_BODY_BYTES = 1024 * 1024


class SimulatorAPI(SimulatorApp):
    def __init__(
        self,
        carrier: Carrier,
        prefix: str = DEFAULT_PREFIX,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__(carrier, prefix)
        self.carrier: Carrier = carrier
        self.max_body_bytes = max_body_bytes

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        try:
            request = await self._request(scope, receive)
            self._authenticate(request)
            return await self._route(request)
        except errors.ApiError as exc:
            return Response(exc.status, exc.body(), exc.headers)

    async def _request(self, scope: Scope, receive: Receive) -> Request:
        path = self.below_prefix(scope["path"])
        if path is None:
            raise errors.not_found("route")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await read_body(receive, self.max_body_bytes)
        except BodyTooLarge as exc:
            raise errors.ApiError(413, "10015", "Bad Request", str(exc)) from None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        return Request(scope["method"], path, query, headers, _json(raw))

    def _authenticate(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        accepted = self.carrier.account.api_keys
        # With no key configured any bearer key goes, so a bare dev setup still works.
        if scheme.lower() != "bearer" or not key or (accepted and key.strip() not in accepted):
            raise errors.unauthorized()

    async def _route(self, request: Request) -> Response:
        for method, pattern, handler in ROUTES:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                delay = self._fault(request)
                response = await handler(self.carrier, request)
                response.delay_s = delay
                return response
        raise errors.not_found("route")

    def _fault(self, request: Request) -> float:
        command = request.params.get("action") or ("dial" if request.path == "/calls" else None)
        rule = self.carrier.faults.pick(
            request.method, request.path, command, request.params.get("call_id")
        )
        if rule is None:
            return 0.0
        if rule.kind == "timeout":
            return rule.delay_s
        raise fault_error(rule)


def _json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise errors.bad_request("The request body is not valid JSON.", status=400) from None
    if not isinstance(body, dict):
        raise errors.bad_request("The request body must be a JSON object.", status=400)
    return body


# Calls


async def _dial(carrier: Carrier, request: Request) -> Response:
    call = carrier.dial(request.body)
    ids = {
        "call_control_id": call.call_control_id,
        "call_leg_id": call.call_leg_id,
        "call_session_id": call.call_session_id,
    }
    if call.recording is not None:
        ids["recording_id"] = call.recording["recording_id"]
    # Dialing is asynchronous, so a dial's answer always says is_alive false (§3.4).
    return data({**ids, "is_alive": False, "record_type": "call"})


async def _get_call(carrier: Carrier, request: Request) -> Response:
    return data(carrier.get_call(request.params["call_id"]).to_api())


async def _action(carrier: Carrier, request: Request) -> Response:
    params = request.params
    return data(await run_command(carrier, params["call_id"], params["action"], request.body))


# Account resources


async def _list_apps(carrier: Carrier, request: Request) -> Response:
    apps = carrier.account.list_applications(request.query, request.query.get("sort", "created_at"))
    return page(request, apps)


async def _create_app(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.create_application(request.body), 201)


async def _get_app(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.get_application(request.params["id"]))


async def _update_app(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.update_application(request.params["id"], request.body))


async def _delete_app(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.delete_application(request.params["id"]))


async def _list_numbers(carrier: Carrier, request: Request) -> Response:
    return page(request, carrier.account.list_phone_numbers(request.query))


async def _get_number(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.get_phone_number(request.params["id"]))


async def _update_number(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.update_phone_number(request.params["id"], request.body))


async def _list_profiles(carrier: Carrier, request: Request) -> Response:
    return page(request, carrier.account.list_outbound_voice_profiles())


async def _get_verified(carrier: Carrier, request: Request) -> Response:
    return data(carrier.account.get_verified_number(request.params["number"]))


def _route(method: str, pattern: str, handler: Handler) -> tuple[str, re.Pattern[str], Handler]:
    return method, re.compile(pattern), handler


_ID = r"(?P<id>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    _route("POST", r"/calls", _dial),
    _route("GET", r"/calls/(?P<call_id>[^/]+)", _get_call),
    _route("POST", r"/calls/(?P<call_id>[^/]+)/actions/(?P<action>[a-z_]+)", _action),
    _route("GET", r"/call_control_applications", _list_apps),
    _route("POST", r"/call_control_applications", _create_app),
    _route("GET", rf"/call_control_applications/{_ID}", _get_app),
    _route("PATCH", rf"/call_control_applications/{_ID}", _update_app),
    _route("DELETE", rf"/call_control_applications/{_ID}", _delete_app),
    _route("GET", r"/phone_numbers", _list_numbers),
    _route("GET", rf"/phone_numbers/{_ID}", _get_number),
    _route("PATCH", rf"/phone_numbers/{_ID}", _update_number),
    _route("GET", r"/outbound_voice_profiles", _list_profiles),
    _route("GET", r"/verified_numbers/(?P<number>[^/]+)", _get_verified),
    *CONTROL_ROUTES,
]
