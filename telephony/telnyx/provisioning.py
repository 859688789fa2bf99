"""Telnyx account set-up for phonebridge: the Call Control App, the number's routing, a preflight.

Reference: telnyx-protocol.md §3.5 (account resources) and "Common setup errors". Every request
goes through `TelnyxClient`; `manage.py provision_telnyx` only prints what these functions return.
What set-up changes is kept in `TelnyxProvisioning`, so teardown restores the number's previous
routing and deletes only an app that set-up itself created.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telephony.preflight import Check, host_check
from telephony.public_host import public_url
from telephony.telnyx.client import TelnyxClient, TelnyxError
from telephony.telnyx.models import TelnyxProvisioning
from telephony.telnyx.webhooks import load_public_key

SETUP_COMMAND = "uv run manage.py provision_telnyx"
WEBHOOK_PATH = "telnyx/events"
NEW_APP_ID = "<id of the new app>"
PROFILES_PAGE = "Mission Control > Voice > Outbound Voice Profiles"
PUBLIC_KEY_FIX = (
    "Copy the account's Ed25519 public key from Mission Control > Keys & Credentials > "
    "Public Key into TELNYX_PUBLIC_KEY."
)
ERROR_HINTS = {
    401: "Check TELNYX_API_KEY: copy a valid key from Mission Control > Keys & Credentials > API Keys.",
    403: "This API key may not do that: use a key of the account that owns the number.",
    429: "Telnyx is rate limiting this account: wait a minute, then run the command again.",
}


class ProvisioningError(Exception):
    """An expected failure whose message already says how to fix it."""


def describe_error(exc: TelnyxError) -> str:
    """One line for an operator: Telnyx's status, code, title and detail, then what to do."""
    if exc.status_code is None:
        return f"Telnyx did not answer ({exc}). Check the network and TELNYX_API_BASE_URL."
    text = f"Telnyx answered HTTP {exc.status_code}: {exc.for_humans()}"
    hint = ERROR_HINTS.get(exc.status_code)
    if hint is None and exc.status_code >= 500:
        hint = "Telnyx is having trouble: try again in a few minutes."
    return f"{text.rstrip('.')}. {hint}" if hint else text


def webhook_url(host: str) -> str:
    # public_url gives https for real hosts and http for loopback ones (the simulator's).
    return public_url(WEBHOOK_PATH, host=host)


@dataclass(frozen=True)
class ApiCall:
    """A mutating request: what set-up and teardown send, and what --dry-run prints."""

    method: str
    path: str
    body: dict[str, Any] | None = None

    def __str__(self) -> str:
        body = "" if self.body is None else " " + json.dumps(self.body)
        return f"{self.method} /{self.path}{body}"


Announce = Callable[[ApiCall], None]


# Set-up ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    phone_number: str
    webhook_url: str
    app_name: str = "phonebridge"
    app_id: str = ""  # TELNYX_CALL_CONTROL_APP_ID: preferred when it names an existing app
    profile_id: str = ""  # --outbound-voice-profile; "" keeps the app's or takes the first enabled


@dataclass
class SetupPlan:
    target: Target
    number: dict[str, Any]
    app: dict[str, Any] | None  # None: create one
    app_fields: dict[str, Any]  # the create body, or the PATCH body ({} when the app is right)
    profile: dict[str, Any] | None
    record: TelnyxProvisioning | None
    notes: list[str] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return str(self.app["id"]) if self.app else NEW_APP_ID

    @property
    def routes_number(self) -> bool:
        return self.app is None or self.number.get("connection_id") != self.app["id"]

    @property
    def app_call(self) -> ApiCall | None:
        if self.app is None:
            return ApiCall("POST", "call_control_applications", self.app_fields)
        if self.app_fields:
            return ApiCall("PATCH", f"call_control_applications/{self.app_id}", self.app_fields)
        return None

    def routing_call(self, app_id: str) -> ApiCall:
        body = {"connection_id": app_id}
        return ApiCall("PATCH", f"phone_numbers/{self.number['id']}", body)

    def calls(self) -> list[ApiCall]:
        calls = [self.app_call] if self.app_call else []
        if self.routes_number:
            calls.append(self.routing_call(self.app_id))
        return calls


@dataclass(frozen=True)
class SetupResult:
    app: dict[str, Any]
    number: dict[str, Any]
    created_app: bool
    updated_app: bool
    routed_from: str | None  # the number's previous connection when set-up re-routed it


async def plan_setup(client: TelnyxClient, target: Target) -> SetupPlan:
    """Read the account (GET only) and work out what set-up has to change."""
    number = await _number(client, target.phone_number)
    profiles = await client.list_outbound_voice_profiles()
    app, notes = await _find_app(client, target)
    profile = _choose_profile(profiles, target.profile_id, app)
    if profile is None:
        notes.append(
            f"No enabled outbound voice profile: inbound calls will work, outbound dials will "
            f"not. Create one in {PROFILES_PAGE}, then run this command again."
        )
    record = await active_record(target.phone_number)
    if record and record.app_created_by_us and (app is None or record.app_id != app["id"]):
        notes.append(
            f"App {record.app_id}, created by an earlier run, is no longer used for "
            f"{target.phone_number}; teardown will leave it alone (delete it in Mission Control)."
        )
    fields = _app_fields(app, target, profile)
    return SetupPlan(target, number, app, fields, profile, record, notes)


async def apply_setup(
    client: TelnyxClient, plan: SetupPlan, announce: Announce = lambda call: None
) -> SetupResult:
    """Make the plan's changes; `announce` hears of each request just before it is sent."""
    app, created, updated = plan.app, False, False
    if call := plan.app_call:
        announce(call)
        if app is None:
            app, created = await client.create_call_control_app(**plan.app_fields), True
        else:
            app, updated = await client.update_call_control_app(app["id"], **plan.app_fields), True
    assert app is not None
    # Saved before the number is touched: if routing fails, teardown still knows the app.
    record = await _remember_app(plan, app, created)
    number, routed_from = plan.number, None
    if number.get("connection_id") != app["id"]:
        routed_from = number.get("connection_id") or ""
        announce(plan.routing_call(app["id"]))
        number = await client.update_phone_number(number["id"], connection_id=app["id"])
        await _remember_routing(record, routed_from)
    return SetupResult(app, number, created, updated, routed_from)


async def active_record(phone_number: str = "") -> TelnyxProvisioning | None:
    return await TelnyxProvisioning.aactive(phone_number)


async def _number(client: TelnyxClient, phone_number: str) -> dict[str, Any]:
    number = await client.find_phone_number(phone_number)
    if number is None:
        raise ProvisioningError(
            f"{phone_number} is not a number on this Telnyx account: buy or port it "
            "(Mission Control > Numbers), or set TELNYX_PHONE_NUMBER to one of your numbers."
        )
    return number


async def _find_app(
    client: TelnyxClient, target: Target
) -> tuple[dict[str, Any] | None, list[str]]:
    notes: list[str] = []
    if target.app_id:
        app = await _app_by_id(client, target.app_id)
        if app is not None:
            return app, notes
        notes.append(
            f"TELNYX_CALL_CONTROL_APP_ID={target.app_id} is not an app on this account; "
            f"using the app named {target.app_name!r} instead."
        )
    return await _app_by_name(client, target.app_name), notes


async def _app_by_id(client: TelnyxClient, app_id: str) -> dict[str, Any] | None:
    try:
        return await client.get_call_control_app(app_id)
    except TelnyxError as exc:
        # A malformed id may get 400 or 422 rather than 404; either way there is no such app.
        if exc.status_code in (400, 404, 422):
            return None
        raise


async def _app_by_name(client: TelnyxClient, name: str) -> dict[str, Any] | None:
    # Telnyx's `contains` filter wants at least 3 characters (§3.5); the match must be exact.
    filters = {"filter[application_name][contains]": name} if len(name) >= 3 else {}
    apps = await client.list_call_control_apps(**filters)
    return next((app for app in apps if app.get("application_name") == name), None)


def _profile_id(app: dict[str, Any] | None) -> str | None:
    return ((app or {}).get("outbound") or {}).get("outbound_voice_profile_id")


def _choose_profile(
    profiles: list[dict[str, Any]], wanted: str, app: dict[str, Any] | None
) -> dict[str, Any] | None:
    enabled = [p for p in profiles if p.get("enabled")]
    if wanted:
        profile = next((p for p in profiles if str(p.get("id")) == wanted), None)
        if profile is None or not profile.get("enabled"):
            state = "is disabled" if profile else "is not on this account"
            raise ProvisioningError(
                f"Outbound voice profile {wanted} {state}. {_profile_choices(enabled)}"
            )
        return profile
    current = next((p for p in enabled if p.get("id") == _profile_id(app)), None)
    return current or (enabled[0] if enabled else None)


def _profile_choices(enabled: list[dict[str, Any]]) -> str:
    if not enabled:
        return f"There is no enabled profile: create or enable one in {PROFILES_PAGE}."
    names = ", ".join(f"{p['id']} ({p.get('name', '')})" for p in enabled)
    return f"Enabled profiles: {names}."


def _app_fields(
    app: dict[str, Any] | None, target: Target, profile: dict[str, Any] | None
) -> dict[str, Any]:
    # Telnyx defaults webhook_api_version to "1" (§3.5); phonebridge reads v2 only.
    wanted: dict[str, Any] = {
        "webhook_event_url": target.webhook_url,
        "webhook_api_version": "2",
        "active": True,
    }
    if app is None:
        if profile:
            wanted["outbound"] = {"outbound_voice_profile_id": profile["id"]}
        return {"application_name": target.app_name, **wanted}
    # Compare the version as text: the spec types it as a string, but be lenient about "2" vs 2.
    current = {**app, "webhook_api_version": str(app.get("webhook_api_version"))}
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    if profile and _profile_id(app) != profile["id"]:
        # Send the whole object back so channel limits survive if Telnyx replaces it.
        changes["outbound"] = {
            **(app.get("outbound") or {}),
            "outbound_voice_profile_id": profile["id"],
        }
    if not changes:
        return {}
    # The OpenAPI spec marks these two required on PATCH (§3.5), so every update carries them.
    required = {
        "application_name": app["application_name"],
        "webhook_event_url": target.webhook_url,
    }
    return {**required, **changes}


async def _remember_app(plan: SetupPlan, app: dict[str, Any], created: bool) -> TelnyxProvisioning:
    record = plan.record or TelnyxProvisioning(phone_number=plan.target.phone_number)
    unchanged = record.pk and record.app_id == app["id"] and not plan.calls()
    if unchanged:
        return record
    # Whether we created the app is a fact about that app: a different app starts afresh.
    owned = record.app_created_by_us and record.app_id == app["id"]
    record.app_created_by_us = owned or created
    record.app_id, record.app_name = app["id"], app.get("application_name", "")
    record.phone_number_id = plan.number["id"]
    record.webhook_event_url = app.get("webhook_event_url", "")
    await record.asave()
    return record


async def _remember_routing(record: TelnyxProvisioning, previous: str) -> None:
    # Keep the routing from before phonebridge's first set-up: that is what teardown restores.
    if not record.number_routed_by_us:
        record.number_routed_by_us, record.previous_connection_id = True, previous
        await record.asave(update_fields=["number_routed_by_us", "previous_connection_id"])


# Teardown --------------------------------------------------------------------------------


@dataclass
class TeardownPlan:
    record: TelnyxProvisioning
    number: dict[str, Any] | None  # as it is now (None: no longer on the account)
    app: dict[str, Any] | None  # as it is now (None: already deleted)
    notes: list[str] = field(default_factory=list)

    @property
    def restores_routing(self) -> bool:
        routed_to_us = (
            self.number is not None and self.number.get("connection_id") == self.record.app_id
        )
        return self.record.number_routed_by_us and routed_to_us

    @property
    def deletes_app(self) -> bool:
        return self.record.app_created_by_us and self.app is not None

    @property
    def previous_connection(self) -> str | None:
        # No previous connection: null unassigns the number (Telnyx documents no other way).
        return self.record.previous_connection_id or None

    @property
    def routing_call(self) -> ApiCall | None:
        if not self.restores_routing or self.number is None:
            return None
        body = {"connection_id": self.previous_connection}
        return ApiCall("PATCH", f"phone_numbers/{self.number['id']}", body)

    @property
    def delete_call(self) -> ApiCall | None:
        if not self.deletes_app:
            return None
        return ApiCall("DELETE", f"call_control_applications/{self.record.app_id}")

    def calls(self) -> list[ApiCall]:
        return [call for call in (self.routing_call, self.delete_call) if call is not None]


async def plan_teardown(client: TelnyxClient, record: TelnyxProvisioning) -> TeardownPlan:
    app = await _app_by_id(client, record.app_id)
    number = await client.find_phone_number(record.phone_number)
    plan = TeardownPlan(record, number, app)
    plan.notes += _teardown_notes(plan)
    return plan


def _teardown_notes(plan: TeardownPlan) -> list[str]:
    record, notes = plan.record, []
    if not record.app_created_by_us:
        notes.append(f"Kept app {record.app_id}: it existed before provisioning.")
    elif plan.app is None:
        notes.append(f"App {record.app_id} is already gone.")
    if not record.number_routed_by_us:
        notes.append(f"Left {record.phone_number} alone: it was routed to the app before.")
    elif plan.number is None:
        notes.append(f"{record.phone_number} is no longer on this account.")
    elif not plan.restores_routing:
        now = plan.number.get("connection_id") or "nothing"
        notes.append(f"Left {record.phone_number} alone: it now routes to {now}, not to our app.")
    return notes


async def apply_teardown(
    client: TelnyxClient, plan: TeardownPlan, announce: Announce = lambda call: None
) -> None:
    if (call := plan.routing_call) and plan.number is not None:
        announce(call)
        await client.update_phone_number(plan.number["id"], connection_id=plan.previous_connection)
    if call := plan.delete_call:
        announce(call)
        await client.delete_call_control_app(plan.record.app_id)
    await plan.record.amark_torn_down()


# Preflight -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    phone_number: str
    app_id: str
    app_name: str
    public_key: str
    host: str | None
    host_error: str = ""  # why there is no host: the fix to print
    to: str = ""


async def run_checks(client: TelnyxClient, preflight: Preflight) -> list[Check]:
    """Every check, read-only, in the order a new user should fix them."""
    try:
        profiles = await client.list_outbound_voice_profiles()
    except TelnyxError as exc:
        if exc.status_code != 401:
            raise
        fix = ERROR_HINTS[401]
        checks = [Check("API key", "fail", f"Telnyx refused it: {exc.for_humans()}", fix)]
        checks += [Check(name, "skip", "needs a valid API key") for name in ACCOUNT_CHECKS]
    else:
        checks = [Check("API key", "ok", "accepted by Telnyx")]
        checks += await _account_checks(client, preflight, profiles)
    host = await host_check(preflight.host, preflight.host_error)
    return [*checks, _public_key_check(preflight.public_key), host]


APP_CHECK = "Call Control App"
ACCOUNT_CHECKS = (
    APP_CHECK,
    "Webhook URL",
    "Webhook API version",
    "Outbound profile",
    "Phone number",
    "Destination",
)


async def _account_checks(
    client: TelnyxClient, preflight: Preflight, profiles: list[dict[str, Any]]
) -> list[Check]:
    app_check, app = await _app_check(client, preflight)
    checks = [app_check]
    if app is None:
        checks += [Check(name, "skip", "needs the app") for name in ACCOUNT_CHECKS[1:4]]
    else:
        checks += [
            _webhook_check(app, preflight),
            _version_check(app),
            _profile_check(app, profiles),
        ]
    checks.append(await _number_check(client, preflight, app))
    checks.append(await _destination_check(client, preflight.to))
    return checks


async def _app_check(
    client: TelnyxClient, preflight: Preflight
) -> tuple[Check, dict[str, Any] | None]:
    app = await _app_by_id(client, preflight.app_id) if preflight.app_id else None
    if app is None:
        return await _missing_app_check(client, preflight)
    if not app.get("active"):
        detail = f"{_app_label(app)} is inactive (dials fail with 10015 Invalid connection_id)"
        fix = f"Run `{SETUP_COMMAND}` to activate it, or activate it in Mission Control."
        return Check(APP_CHECK, "fail", detail, fix), app
    return Check(APP_CHECK, "ok", f"{_app_label(app)} exists and is active"), app


async def _missing_app_check(
    client: TelnyxClient, preflight: Preflight
) -> tuple[Check, dict[str, Any] | None]:
    """The setting is unset or wrong; the app set-up would use (if any) is checked on."""
    if preflight.app_id:
        problem = f"TELNYX_CALL_CONTROL_APP_ID={preflight.app_id} is not an app on this account"
    else:
        problem = "TELNYX_CALL_CONTROL_APP_ID is not set"
    named = await _app_by_name(client, preflight.app_name)
    if named:
        fix = f"Set TELNYX_CALL_CONTROL_APP_ID={named['id']} in .env (the app {preflight.app_name!r})."
    else:
        fix = f"Run `{SETUP_COMMAND}`, then put the TELNYX_CALL_CONTROL_APP_ID it prints in .env."
    detail = f"{problem} (dials fail with 10015 Invalid connection_id)"
    return Check(APP_CHECK, "fail", detail, fix), named


def _app_label(app: dict[str, Any]) -> str:
    return f"{app.get('application_name', '')!r} ({app['id']})"


def _webhook_check(app: dict[str, Any], preflight: Preflight) -> Check:
    current = app.get("webhook_event_url") or "(none)"
    if preflight.host is None:
        return Check(
            "Webhook URL", "fail", f"{current}; no public host to compare", preflight.host_error
        )
    expected = webhook_url(preflight.host)
    if current == expected:
        return Check("Webhook URL", "ok", current)
    fix = f"Run `{SETUP_COMMAND}` to point the app at {expected}."
    return Check("Webhook URL", "fail", f"{current}, expected {expected}", fix)


def _version_check(app: dict[str, Any]) -> Check:
    version = str(app.get("webhook_api_version") or "1")
    if version == "2":
        return Check("Webhook API version", "ok", "2")
    detail = f"{version}: the app sends API v{version} webhooks, phonebridge reads v2 only"
    fix = f"Run `{SETUP_COMMAND}` (it sets webhook_api_version 2)."
    return Check("Webhook API version", "fail", detail, fix)


def _profile_check(app: dict[str, Any], profiles: list[dict[str, Any]]) -> Check:
    name, profile_id = "Outbound profile", _profile_id(app)
    profile = next((p for p in profiles if profile_id and p.get("id") == profile_id), None)
    if profile is not None and profile.get("enabled"):
        return Check(name, "ok", f"{profile.get('name', '')!r} ({profile_id}) attached and enabled")
    if profile is not None:
        detail = f"{profile.get('name', '')!r} ({profile_id}) is disabled: outbound dials fail"
    elif profile_id:
        detail = f"{profile_id} is attached but not on this account: outbound dials fail"
    else:
        detail = "none attached to the app: outbound dials fail"
    enabled = [p for p in profiles if p.get("enabled")]
    if enabled:
        fix = f"Run `{SETUP_COMMAND} --outbound-voice-profile {enabled[0]['id']}`."
    else:
        fix = f"Create or enable a profile in {PROFILES_PAGE}, then run `{SETUP_COMMAND}`."
    return Check(name, "fail", detail, fix)


async def _number_check(
    client: TelnyxClient, preflight: Preflight, app: dict[str, Any] | None
) -> Check:
    name, phone = "Phone number", preflight.phone_number
    if not phone:
        fix = "Set TELNYX_PHONE_NUMBER in .env (E.164, such as +15551234567)."
        return Check(name, "fail", "TELNYX_PHONE_NUMBER is not set", fix)
    number = await client.find_phone_number(phone)
    if number is None:
        fix = "Set TELNYX_PHONE_NUMBER to a number you own (Mission Control > Numbers)."
        return Check(name, "fail", f"{phone} is not a number on this account", fix)
    connection = number.get("connection_id")
    if app is None:
        return Check(name, "skip", f"{phone} routes to {connection or 'nothing'}; needs the app")
    if connection == app["id"]:
        return Check(name, "ok", f"{phone} ({number['id']}) is routed to the app")
    detail = f"{phone} routes to {connection or 'nothing'}, not to app {app['id']}: calls to it never reach phonebridge"
    return Check(name, "fail", detail, f"Run `{SETUP_COMMAND}` to route it to the app.")


async def _destination_check(client: TelnyxClient, to: str) -> Check:
    if not to:
        return Check("Destination", "skip", "pass --to +E164 to check a number you will dial")
    if await client.is_verified_number(to):
        return Check("Destination", "ok", f"{to} is a verified number")
    detail = f"{to} is not verified: restricted (level 1) accounts may only dial verified numbers"
    fix = "Verify it (Mission Control > Numbers > Verified Numbers) or use an unrestricted account."
    return Check("Destination", "fail", detail, fix)


def _public_key_check(public_key: str) -> Check:
    if not public_key:
        return Check(
            "Public key",
            "fail",
            "TELNYX_PUBLIC_KEY is not set: every webhook gets 403",
            PUBLIC_KEY_FIX,
        )
    try:
        load_public_key(public_key)
    except ValueError as exc:
        return Check("Public key", "fail", f"TELNYX_PUBLIC_KEY {exc}", PUBLIC_KEY_FIX)
    return Check("Public key", "ok", "TELNYX_PUBLIC_KEY is an Ed25519 key")
