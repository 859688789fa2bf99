"""The REST resources the simulator serves, below /2010-04-01/Accounts/{AccountSid}.

Calls (https://www.twilio.com/docs/voice/api/call-resource): create, list (To, From, Status,
StartTime, StartTime>, StartTime<), fetch, update (Status=completed|canceled, Twiml, Url),
delete. Recordings of a call (https://www.twilio.com/docs/voice/api/recording): create, list,
update. IncomingPhoneNumbers
(https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource): list
(PhoneNumber), fetch, update (VoiceUrl, VoiceMethod, StatusCallback, …). The account itself
(https://www.twilio.com/docs/iam/api/account): fetch, for a credentials check.
"""

from __future__ import annotations

import re
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any

from telephony.twilio.simulator import errors
from telephony.twilio.simulator.account import API_VERSION
from telephony.twilio.simulator.calls import SimCall
from telephony.twilio.simulator.carrier import Carrier
from telephony.twilio.simulator.recordings import public
from telephony.twilio.simulator.rest import Handler, Request, page

Result = tuple[int, dict[str, Any] | None]
_SID = r"(?P<call_sid>CA[0-9a-f]{32})"


def _call_json(carrier: Carrier, call: SimCall) -> dict[str, Any]:
    return call.to_api(carrier.account.path(f"Calls/{call.sid}.json"))


def _dial(carrier: Carrier, request: Request) -> Result:
    call = carrier.dialer.dial(request.form)
    return 201, _call_json(carrier, call)


def _list_calls(carrier: Carrier, request: Request) -> Result:
    calls = [c for c in carrier.calls.values() if _listed(c, request)]
    calls.sort(key=lambda c: c.start_time, reverse=True)  # newest first, as Twilio lists
    return 200, page(request, "calls", [_call_json(carrier, c) for c in calls])


def _listed(call: SimCall, request: Request) -> bool:
    for name, value in (("To", call.to), ("From", call.from_), ("Status", call.status)):
        wanted = request.value(name).strip()
        if wanted and "+" + wanted.lstrip("+ ") != value and wanted != value:
            return False
    started = call.start_time.date()
    for name, keep in (
        ("StartTime", lambda d: started == d),
        ("StartTime>", lambda d: started >= d),
        ("StartTime<", lambda d: started <= d),
    ):
        raw = request.value(name)
        if raw and not keep(_day(name, raw)):
            return False
    return True


def _day(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        try:
            return parsedate_to_datetime(raw).date()
        except (TypeError, ValueError):
            raise errors.invalid_parameter(name, raw) from None


def _fetch_call(carrier: Carrier, request: Request) -> Result:
    return 200, _call_json(carrier, carrier.get_call(request.params["call_sid"]))


def _update_call(carrier: Carrier, request: Request) -> Result:
    call = carrier.get_call(request.params["call_sid"])
    status, twiml, url = request.value("Status"), request.value("Twiml"), request.value("Url")
    if not call.is_alive:
        raise errors.not_in_progress()
    call.record_request("update", {k: v[0] for k, v in request.form.items() if k != "Twiml"})
    if status:
        _end_by_api(carrier, call, status)
    elif twiml or url:
        carrier.program.replace(call, twiml=twiml, url=url)
    else:
        raise errors.no_instructions()
    return 200, _call_json(carrier, call)


def _end_by_api(carrier: Carrier, call: SimCall, status: str) -> None:
    if status not in ("completed", "canceled"):
        raise errors.invalid_parameter("Status", status)
    answered = call.answer_time is not None
    if status == "canceled" and answered:
        return  # "canceled" only ends a call still queued or ringing
    final = "completed" if answered else "canceled"
    call.spawn(carrier.end_call(call, final, "api"), name=f"hangup {call.sid}")


def _delete_call(carrier: Carrier, request: Request) -> Result:
    call = carrier.get_call(request.params["call_sid"])
    if call.is_alive:
        raise errors.not_in_progress()
    del carrier.calls[call.sid]
    return 204, None


def _start_recording(carrier: Carrier, request: Request) -> Result:
    call = carrier.get_call(request.params["call_sid"])
    form = {k: " ".join(v) for k, v in request.form.items()}
    call.record_request("recording_start", form)
    return 201, carrier.recorder.start(call, form, source="StartCallRecordingAPI")


def _list_recordings(carrier: Carrier, request: Request) -> Result:
    call = carrier.get_call(request.params["call_sid"])
    return 200, page(request, "recordings", [public(r) for r in call.recordings])


def _update_recording(carrier: Carrier, request: Request) -> Result:
    call = carrier.get_call(request.params["call_sid"])
    call.record_request("recording_update", {"Status": request.value("Status")})
    return 200, carrier.recorder.update(call, request.params["rec"], request.value("Status"))


def _list_numbers(carrier: Carrier, request: Request) -> Result:
    found = carrier.account.list_numbers(request.value("PhoneNumber") or None)
    return 200, page(request, "incoming_phone_numbers", found)


def _fetch_number(carrier: Carrier, request: Request) -> Result:
    return 200, carrier.account.get_number(request.params["pn"])


def _update_number(carrier: Carrier, request: Request) -> Result:
    fields = {k: v[0] for k, v in request.form.items()}
    return 200, carrier.account.update_number(request.params["pn"], fields)


def _fetch_account(carrier: Carrier, request: Request) -> Result:
    account = carrier.account
    return 200, {
        "sid": account.sid,
        "owner_account_sid": account.sid,
        "friendly_name": "phonebridge (simulated)",
        "status": "active",
        "type": "Full",
        "auth_token": account.auth_token,
        "uri": f"/{API_VERSION}/Accounts/{account.sid}.json",
    }


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"\.json"), _fetch_account),
    ("POST", re.compile(r"/Calls\.json"), _dial),
    ("GET", re.compile(r"/Calls\.json"), _list_calls),
    ("GET", re.compile(rf"/Calls/{_SID}\.json"), _fetch_call),
    ("POST", re.compile(rf"/Calls/{_SID}\.json"), _update_call),
    ("DELETE", re.compile(rf"/Calls/{_SID}\.json"), _delete_call),
    ("POST", re.compile(rf"/Calls/{_SID}/Recordings\.json"), _start_recording),
    ("GET", re.compile(rf"/Calls/{_SID}/Recordings\.json"), _list_recordings),
    (
        "POST",
        re.compile(rf"/Calls/{_SID}/Recordings/(?P<rec>RE[0-9a-f]{{32}}|Twilio\.CURRENT)\.json"),
        _update_recording,
    ),
    ("GET", re.compile(r"/IncomingPhoneNumbers\.json"), _list_numbers),
    ("GET", re.compile(r"/IncomingPhoneNumbers/(?P<pn>PN[0-9a-f]{32})\.json"), _fetch_number),
    ("POST", re.compile(r"/IncomingPhoneNumbers/(?P<pn>PN[0-9a-f]{32})\.json"), _update_number),
]
