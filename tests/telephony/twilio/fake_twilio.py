"""A stand-in for Twilio's REST API answering the real TwilioClient over httpx.MockTransport.

It copies what Twilio does (each answer names the doc it copies): basic auth checked against
the account, form-encoded bodies read as Twilio reads them, 201 with the Call resource on a
create, 404 with error 20404 for an unknown sid, Twilio's error JSON
`{"code", "message", "more_info", "status"}`, and the call list filtered by To/From.
Scripted failures (`fail`, `time_out`) come first, in order, per path suffix; a failure may
be scripted to happen *after* Twilio acted (`acted=True`: the call is created, the answer
lost), which is what makes a blind retry of a create dangerous.

test_fake_contract.py pins these answers to Twilio's own package: the official SDK, its HTTP
client pointed here, creates, fetches, lists and updates calls, records, lists numbers and
reads the errors as TwilioRestExceptions.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from telephony.twilio.client import TwilioClient

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-test-auth-token"
BASE_URL = "https://api.twilio.test"


@dataclass
class Failure:
    status: int  # 0: no answer at all (a read timeout, after the request was sent)
    code: int = 0
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    acted: bool = False  # Twilio did the work before failing to answer
    method: str | None = None  # only requests with this method fail (None: any)


@dataclass
class FakeTwilio:
    requests: list[httpx.Request] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)
    numbers: list[dict[str, Any]] = field(default_factory=list)
    _sids: Any = field(default_factory=lambda: itertools.count(1))

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self._authorized(request):
            # https://www.twilio.com/docs/api/errors/20003: bad credentials are a 401.
            return _error(401, 20003, "Authenticate")
        path = request.url.path
        for suffix, queue in self.failures.items():
            if path.endswith(suffix) and queue and queue[0].method in (None, request.method):
                failure = queue.pop(0)
                if failure.acted:
                    self._route(request)
                if failure.status == 0:
                    raise httpx.ReadTimeout("simulated read timeout", request=request)
                return _error(failure.status, failure.code, failure.message, failure.headers)
        return self._route(request)

    def _authorized(self, request: httpx.Request) -> bool:
        # https://www.twilio.com/docs/usage/requests-to-twilio#authenticate-with-http:
        # HTTP basic auth, the Account SID (or an API key's SID) and its secret.
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) in {(ACCOUNT_SID, AUTH_TOKEN), ("SK" + "1" * 32, "key-secret")}

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/"
        if not path.startswith(prefix):
            return _error(404, 20404, "The requested resource was not found")
        tail = path[len(prefix) :]
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if tail == "Calls.json" and request.method == "POST":
            return self._create(form)
        if tail == "Calls.json":
            return self._list(request)
        if tail == "IncomingPhoneNumbers.json":
            return httpx.Response(200, json={"incoming_phone_numbers": self.numbers})
        sid = tail.removeprefix("Calls/").split("/")[0].removesuffix(".json")
        if sid not in self.calls:
            # https://www.twilio.com/docs/api/errors/20404
            return _error(404, 20404, f"The requested resource {path} was not found")
        if tail.endswith("/Recordings.json"):
            # https://www.twilio.com/docs/voice/api/recording#create-a-recording-resource
            return httpx.Response(201, json={"sid": "RE" + "2" * 32, "call_sid": sid})
        if "/Recordings/" in tail:
            return httpx.Response(200, json={"sid": "RE" + "2" * 32, "status": "stopped"})
        if request.method == "POST":
            return self._update(sid, form)
        return httpx.Response(200, json=self.calls[sid])

    def _create(self, form: dict[str, str]) -> httpx.Response:
        # https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource
        if not form.get("To", "").startswith("+"):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {form.get('To')}")
        sid = f"CA{next(self._sids):032x}"
        self.calls[sid] = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": form["To"],
            "from": form.get("From"),
            "status": "queued",
            "direction": "outbound-api",
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
            "_form": form,
        }
        return httpx.Response(201, json=self.calls[sid])

    def _update(self, sid: str, form: dict[str, str]) -> httpx.Response:
        # https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource:
        # a call that is over cannot take new TwiML (21220).
        call = self.calls[sid]
        if call["status"] in ("completed", "canceled", "busy", "no-answer", "failed"):
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if form.get("Status") == "completed":
            call["status"] = "completed"
        if "Twiml" in form:
            call["twiml"] = form["Twiml"]
        return httpx.Response(200, json=call)

    def _list(self, request: httpx.Request) -> httpx.Response:
        # https://www.twilio.com/docs/voice/api/call-resource#read-multiple-call-resources
        to, from_ = request.url.params.get("To"), request.url.params.get("From")
        found = [
            c
            for c in self.calls.values()
            if (to is None or c["to"] == to) and (from_ is None or c["from"] == from_)
        ]
        return httpx.Response(200, json={"calls": found, "next_page_uri": None})

    # Scripting -------------------------------------------------------------------------

    def fail(self, suffix: str, status: int, code: int = 0, message: str = "", **kw: Any) -> None:
        self.failures.setdefault(suffix, []).append(Failure(status, code, message, **kw))

    def time_out(self, suffix: str, *, acted: bool = False, method: str | None = None) -> None:
        self.failures.setdefault(suffix, []).append(Failure(0, acted=acted, method=method))

    def forms(self, suffix: str, method: str = "POST") -> list[dict[str, str]]:
        return [
            {k: v[0] for k, v in parse_qs(r.content.decode()).items()}
            for r in self.requests
            if r.url.path.endswith(suffix) and r.method == method
        ]

    def client(self, **kwargs: Any) -> TwilioClient:
        async def no_wait(seconds: float) -> None:
            self.sleeps.append(seconds)

        return TwilioClient(
            **{"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, **kwargs},
            base_url=BASE_URL,
            transport=httpx.MockTransport(self.handler),
            sleep=no_wait,
        )

    def new_sid(self) -> str:
        return "CA" + uuid.uuid4().hex


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    # https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return httpx.Response(status, json=body if code else {}, headers=headers or {})
