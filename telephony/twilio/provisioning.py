"""Twilio account set-up for phonebridge: point a number's voice webhooks at us, and back.

Reference: https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource. A Twilio
number carries its own voice configuration: VoiceUrl/VoiceMethod (the webhook for an incoming
call) and StatusCallback/StatusCallbackMethod (its call progress callbacks). Set-up sets them
to https://<public host>/twilio/voice and /twilio/status, POST; there is no application to
create, unlike Telnyx. Twilio ignores the voice URLs of a number that has a VoiceApplicationSid
or a TrunkSid, so set-up refuses such a number rather than detach someone's application.

Every request goes through `TwilioClient`; `manage.py provision_twilio` only prints what these
functions return. What set-up changed is kept in `TwilioProvisioning`, so teardown restores the
number's previous URLs, and only where they still point where set-up left them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.preflight import Check, host_check
from telephony.public_host import public_url
from telephony.twilio.client import TwilioClient, TwilioError
from telephony.twilio.models import TwilioProvisioning

SETUP_COMMAND = "uv run manage.py provision_twilio"
VOICE_PATH = "twilio/voice"
STATUS_PATH = "twilio/status"
NUMBERS_PAGE = "Console > Phone Numbers > Manage > Active numbers"
ACCOUNT_PAGE = "Console > Account Info"
METHOD = "POST"  # our views take POST only
SIGNING_FIX = (
    f"Copy the account's Auth Token from {ACCOUNT_PAGE} into TWILIO_AUTH_TOKEN: Twilio signs "
    "webhooks with it, even when the REST API is used with an API key."
)


class ProvisioningError(Exception):
    """An expected failure whose message already says how to fix it."""


def credentials_fix(*, api_key: bool) -> str:
    if api_key:
        return (
            "Check TWILIO_API_KEY and TWILIO_API_SECRET (Console > Account > API keys) and "
            "that TWILIO_ACCOUNT_SID is the account the key belongs to."
        )
    return f"Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: copy both from {ACCOUNT_PAGE}."


def describe_error(exc: TwilioError, *, api_key: bool = False) -> str:
    """One line for an operator: Twilio's status, code, message and link, then what to do."""
    if exc.status_code is None:
        return f"Twilio did not answer ({exc}). Check the network and TWILIO_API_BASE_URL."
    text = f"Twilio answered HTTP {exc.status_code}: {exc.for_humans()}"
    hint = ""
    if exc.status_code == 401:
        hint = credentials_fix(api_key=api_key)
    elif exc.status_code == 403:
        hint = "These credentials may not do that: use those of the account that owns the number."
    elif exc.status_code == 429:
        hint = "Twilio is rate limiting this account: wait a minute, then run the command again."
    elif exc.status_code >= 500:
        hint = "Twilio is having trouble: try again in a few minutes."
    return f"{text.rstrip('.')}. {hint}" if hint else text


def voice_url(host: str) -> str:
    # public_url gives https for real hosts and http for loopback ones (the simulator's).
    return public_url(VOICE_PATH, host=host)


def status_callback_url(host: str) -> str:
    return public_url(STATUS_PATH, host=host)


@dataclass(frozen=True)
class ApiCall:
    """A mutating request: what set-up and teardown send, and what --dry-run prints."""

    method: str
    path: str  # relative to /2010-04-01/Accounts/{AccountSid}/
    body: dict[str, str]

    def __str__(self) -> str:
        return f"{self.method} /{self.path} {json.dumps(self.body)}"


Announce = Callable[[ApiCall], None]


def _update_call(number: dict[str, Any], body: dict[str, str]) -> ApiCall:
    return ApiCall("POST", f"IncomingPhoneNumbers/{number['sid']}.json", body)


async def find_number(client: TwilioClient, phone_number: str) -> dict[str, Any] | None:
    # The PhoneNumber filter also matches partial numbers and patterns: keep the exact one.
    found = await client.list_incoming_numbers(phone_number)
    return next((n for n in found if n.get("phone_number") == phone_number), None)


async def not_owned_message(client: TwilioClient, phone_number: str) -> str:
    owned = sorted(str(n["phone_number"]) for n in await client.list_incoming_numbers())
    listing = ", ".join(owned) if owned else "none"
    return f"{phone_number} is not a number on this Twilio account (its numbers: {listing})"


def _overriding_routing(number: dict[str, Any]) -> str:
    """Why Twilio would ignore the number's VoiceUrl ("" when it would not)."""
    if number.get("trunk_sid"):
        return f"SIP trunk {number['trunk_sid']}"
    if number.get("voice_application_sid"):
        return f"TwiML app {number['voice_application_sid']}"
    return ""


# Set-up ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    phone_number: str
    voice_url: str
    status_callback: str

    @property
    def fields(self) -> dict[str, str]:
        return {
            "VoiceUrl": self.voice_url,
            "VoiceMethod": METHOD,
            "StatusCallback": self.status_callback,
            "StatusCallbackMethod": METHOD,
        }


# Twilio's form parameter → the instance's JSON property.
PROPERTIES = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
}


@dataclass
class SetupPlan:
    target: Target
    number: dict[str, Any]
    changes: dict[str, str]  # the update's form fields, {} when the number is right
    record: TwilioProvisioning | None
    notes: list[str] = field(default_factory=list)

    def calls(self) -> list[ApiCall]:
        return [_update_call(self.number, self.changes)] if self.changes else []


async def plan_setup(client: TwilioClient, target: Target) -> SetupPlan:
    """Read the account (GET only) and work out what set-up has to change."""
    number = await find_number(client, target.phone_number)
    if number is None:
        message = await not_owned_message(client, target.phone_number)
        raise ProvisioningError(
            f"{message}: buy or port it ({NUMBERS_PAGE}), or set TWILIO_PHONE_NUMBER to one "
            "of yours."
        )
    if overriding := _overriding_routing(number):
        raise ProvisioningError(
            f"{target.phone_number} is routed to {overriding}, so Twilio would ignore its "
            f"voice URL: in {NUMBERS_PAGE} > {target.phone_number}, configure it with a "
            "webhook instead, then run this command again."
        )
    changes = {
        name: value for name, value in target.fields.items() if _current(number, name) != value
    }
    # Twilio keeps each URL and its method apart: send both halves so none is left stale.
    changes = _pairs_of(changes, target.fields)
    plan = SetupPlan(target, number, changes, await active_record(target.phone_number))
    if plan.record and plan.record.voice_url != target.voice_url:
        plan.notes.append(
            f"An earlier set-up pointed {target.phone_number} at {plan.record.voice_url}; "
            "teardown will still restore what it had before that."
        )
    return plan


def _current(number: dict[str, Any], name: str) -> str:
    value = str(number.get(PROPERTIES[name]) or "")
    return value.upper() if name.endswith("Method") else value


def _pairs_of(changes: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    pairs = (("VoiceUrl", "VoiceMethod"), ("StatusCallback", "StatusCallbackMethod"))
    out: dict[str, str] = {}
    for url, method in pairs:
        if url in changes or method in changes:
            out[url], out[method] = wanted[url], wanted[method]
    return out


@dataclass(frozen=True)
class SetupResult:
    number: dict[str, Any]
    changed: bool
    before: dict[str, str]  # the number's four values before this run


async def apply_setup(
    client: TwilioClient, plan: SetupPlan, announce: Announce = lambda call: None
) -> SetupResult:
    """Make the plan's change; `announce` hears of the request just before it is sent."""
    before = {name: _current(plan.number, name) for name in PROPERTIES}
    # Saved before the number is touched: if the update fails midway, teardown still knows
    # what was there.
    await _remember(plan, before)
    if not plan.changes:
        return SetupResult(plan.number, False, before)
    for call in plan.calls():
        announce(call)
    number = await client.update_incoming_number(plan.number["sid"], **plan.changes)
    return SetupResult(number, True, before)


async def active_record(phone_number: str = "") -> TwilioProvisioning | None:
    return await TwilioProvisioning.aactive(phone_number)


async def _remember(plan: SetupPlan, before: dict[str, str]) -> None:
    record = plan.record or TwilioProvisioning(phone_number=plan.target.phone_number)
    if record.pk and not plan.changes:
        return
    # Keep what the number had before phonebridge's first change: that is what teardown
    # restores, however many times set-up runs (a new ngrok host each day, say).
    if plan.changes and not record.configured_by_us:
        record.configured_by_us = True
        record.previous_voice_url = before["VoiceUrl"]
        record.previous_voice_method = before["VoiceMethod"]
        record.previous_status_callback = before["StatusCallback"]
        record.previous_status_callback_method = before["StatusCallbackMethod"]
    record.number_sid = plan.number["sid"]
    record.voice_url = plan.target.voice_url
    record.status_callback = plan.target.status_callback
    await record.asave()


# Teardown --------------------------------------------------------------------------------


@dataclass
class TeardownPlan:
    record: TwilioProvisioning
    number: dict[str, Any] | None  # as it is now (None: no longer on the account)
    notes: list[str] = field(default_factory=list)

    @property
    def restores_voice(self) -> bool:
        return self._still_ours("voice_url", self.record.voice_url)

    @property
    def restores_status(self) -> bool:
        return self._still_ours("status_callback", self.record.status_callback)

    def _still_ours(self, prop: str, ours: str) -> bool:
        if not self.record.configured_by_us or self.number is None:
            return False
        return str(self.number.get(prop) or "") == ours

    @property
    def body(self) -> dict[str, str]:
        record, body = self.record, {}
        if self.restores_voice:
            body["VoiceUrl"] = record.previous_voice_url  # "" clears it, as it was
            if record.previous_voice_method:
                body["VoiceMethod"] = record.previous_voice_method
        if self.restores_status:
            body["StatusCallback"] = record.previous_status_callback
            if record.previous_status_callback_method:
                body["StatusCallbackMethod"] = record.previous_status_callback_method
        return body

    def calls(self) -> list[ApiCall]:
        if self.number is None or not self.body:
            return []
        return [_update_call(self.number, self.body)]


async def plan_teardown(client: TwilioClient, record: TwilioProvisioning) -> TeardownPlan:
    number = await find_number(client, record.phone_number)
    plan = TeardownPlan(record, number)
    plan.notes += _teardown_notes(plan)
    return plan


def _teardown_notes(plan: TeardownPlan) -> list[str]:
    record, number = plan.record, plan.number
    phone = record.phone_number
    if not record.configured_by_us:
        return [f"Left {phone} alone: it already pointed at phonebridge before set-up."]
    if number is None:
        return [f"{phone} is no longer on this Twilio account: nothing to restore."]
    notes = []
    if not plan.restores_voice:
        now = number.get("voice_url") or "nothing"
        notes.append(f"Left {phone}'s voice URL alone: it is now {now}, not ours.")
    if not plan.restores_status:
        now = number.get("status_callback") or "nothing"
        notes.append(f"Left {phone}'s status callback alone: it is now {now}, not ours.")
    return notes


async def apply_teardown(
    client: TwilioClient, plan: TeardownPlan, announce: Announce = lambda call: None
) -> None:
    for call in plan.calls():
        announce(call)
        await client.update_incoming_number(plan.record.number_sid, **call.body)
    await plan.record.amark_torn_down()


# Preflight -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    phone_number: str
    auth_token: str
    api_key: bool  # the REST API is used with TWILIO_API_KEY/SECRET rather than the token
    host: str | None
    host_error: str = ""  # why there is no host: the fix to print


CREDENTIALS = "Credentials"
NUMBER = "Phone number"
VOICE = "Voice URL"
STATUS = "Status callback"
NUMBER_CHECKS = (NUMBER, VOICE, STATUS)


async def run_checks(client: TwilioClient, preflight: Preflight) -> list[Check]:
    """Every check, read-only, in the order a new user should fix them."""
    token_accepted = False
    try:
        await client.list_incoming_numbers(preflight.phone_number)
    except TwilioError as exc:
        if exc.status_code not in (401, 403):
            raise
        fix = credentials_fix(api_key=preflight.api_key)
        checks = [Check(CREDENTIALS, "fail", f"Twilio refused them: {exc.for_humans()}", fix)]
        checks += [Check(name, "skip", "needs valid credentials") for name in NUMBER_CHECKS]
    else:
        how = "API key" if preflight.api_key else "Account SID and Auth Token"
        checks = [Check(CREDENTIALS, "ok", f"{how} accepted by Twilio")]
        checks += await _number_checks(client, preflight)
        token_accepted = not preflight.api_key  # the token itself was just accepted
    host = await host_check(preflight.host, preflight.host_error)
    return [*checks, _signing_check(preflight, token_accepted), host]


async def _number_checks(client: TwilioClient, preflight: Preflight) -> list[Check]:
    phone = preflight.phone_number
    if not phone:
        fix = "Set TWILIO_PHONE_NUMBER in .env (E.164, such as +15551234567)."
        missing = Check(NUMBER, "fail", "TWILIO_PHONE_NUMBER is not set", fix)
        return [missing, *(Check(n, "skip", "needs the number") for n in NUMBER_CHECKS[1:])]
    number = await find_number(client, phone)
    if number is None:
        fix = f"Set TWILIO_PHONE_NUMBER to one of them, or buy or port it ({NUMBERS_PAGE})."
        detail = await not_owned_message(client, phone)
        return [
            Check(NUMBER, "fail", detail, fix),
            *(Check(n, "skip", "needs the number") for n in NUMBER_CHECKS[1:]),
        ]
    if overriding := _overriding_routing(number):
        detail = f"{phone} is routed to {overriding}: Twilio ignores its voice URL"
        fix = (
            f"In {NUMBERS_PAGE} > {phone}, configure it with a webhook, then run `{SETUP_COMMAND}`."
        )
        number_check = Check(NUMBER, "fail", detail, fix)
    else:
        number_check = Check(NUMBER, "ok", f"{phone} ({number['sid']}) is on this account")
    return [
        number_check,
        _url_check(VOICE, number, "VoiceUrl", preflight, voice_url),
        _url_check(STATUS, number, "StatusCallback", preflight, status_callback_url),
    ]


def _url_check(
    name: str, number: dict[str, Any], param: str, preflight: Preflight, expected_for: Any
) -> Check:
    current = _current(number, param) or "(none)"
    method = _current(number, param.replace("Url", "") + "Method") or "POST"
    if preflight.host is None:
        return Check(name, "fail", f"{current}; no public host to compare", preflight.host_error)
    expected = expected_for(preflight.host)
    if current == expected and method == METHOD:
        return Check(name, "ok", f"{current} ({method})")
    shown = f"{current} ({method})" if current != "(none)" else current
    fix = f"Run `{SETUP_COMMAND}` to point it at {expected} ({METHOD})."
    return Check(name, "fail", f"{shown}, expected {expected} ({METHOD})", fix)


def _signing_check(preflight: Preflight, token_accepted: bool) -> Check:
    name = "Webhook signing"
    if not preflight.auth_token:
        detail = "TWILIO_AUTH_TOKEN is not set: every webhook gets 403"
        return Check(name, "fail", detail, SIGNING_FIX)
    if token_accepted:
        return Check(name, "ok", "TWILIO_AUTH_TOKEN, accepted by Twilio above, verifies webhooks")
    if preflight.api_key:
        # An API key cannot prove the token: only a webhook signed with it will.
        return Check(name, "ok", "TWILIO_AUTH_TOKEN is set (an API key cannot verify it)")
    return Check(name, "skip", "needs valid credentials")
