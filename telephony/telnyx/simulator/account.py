"""The simulated Telnyx account: API keys, Call Control Applications, numbers, profiles.

Resources are kept as the JSON objects the REST API returns (telnyx-protocol.md §3.5), so the
API layer serialises them as they are.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from typing import Any

from telephony.numbers import is_e164
from telephony.telnyx.simulator import errors
from telephony.telnyx.simulator.clock import iso_milli, now_utc

_MERGED_OBJECTS = ("inbound", "outbound")
_API_VERSIONS = ("1", "2")


def _new_id() -> str:
    # Telnyx resource ids are 19-digit numeric strings, e.g. "2963572552552678752".
    return str(random.randint(10**18, 10**19 - 1))


def _timestamps() -> dict[str, str]:
    stamp = iso_milli(now_utc())
    return {"created_at": stamp, "updated_at": stamp}


class Account:
    def __init__(self) -> None:
        self.api_keys: set[str] = set()
        self.applications: dict[str, dict[str, Any]] = {}
        self.phone_numbers: dict[str, dict[str, Any]] = {}
        self.outbound_voice_profiles: dict[str, dict[str, Any]] = {}
        self.verified_numbers: dict[str, dict[str, Any]] = {}

    # Call Control Applications

    def create_application(self, fields: dict[str, Any], *, app_id: str | None = None) -> dict:
        for required in ("application_name", "webhook_event_url"):
            if not fields.get(required):
                raise errors.missing(required)
        app: dict[str, Any] = {
            "id": app_id or _new_id(),
            "record_type": "call_control_application",
            "application_name": "",
            "webhook_event_url": "",
            "webhook_event_failover_url": "",
            # The OpenAPI default really is "1", a trap for clients that omit it (§3.5).
            "webhook_api_version": "1",
            "webhook_timeout_secs": None,
            "active": True,
            "anchorsite_override": "Latency",
            "dtmf_type": "RFC 2833",
            "first_command_timeout": False,
            "first_command_timeout_secs": 30,
            "call_cost_in_webhooks": False,
            "inbound": {"channel_limit": None, "shaken_stir_enabled": False, "sip_subdomain": None},
            "outbound": {"channel_limit": None, "outbound_voice_profile_id": None},
            "tags": [],
            **_timestamps(),
        }
        self._apply_application_fields(app, fields)
        self.applications[app["id"]] = app
        return copy.deepcopy(app)

    def update_application(self, app_id: str, fields: dict[str, Any]) -> dict:
        app = self._application(app_id)
        self._apply_application_fields(app, fields)
        app["updated_at"] = iso_milli(now_utc())
        return copy.deepcopy(app)

    def delete_application(self, app_id: str) -> dict:
        app = self._application(app_id)
        del self.applications[app_id]
        return copy.deepcopy(app)

    def get_application(self, app_id: str) -> dict:
        return copy.deepcopy(self._application(app_id))

    def list_applications(self, filters: dict[str, str], sort: str = "created_at") -> list[dict]:
        apps = list(self.applications.values())
        contains = filters.get("filter[application_name][contains]")
        if contains is not None:
            if len(contains) < 3:
                raise errors.bad_request(
                    "filter[application_name][contains] needs at least 3 characters.",
                    pointer="/filter[application_name][contains]",
                )
            apps = [a for a in apps if contains.lower() in a["application_name"].lower()]
        profile = filters.get("filter[outbound.outbound_voice_profile_id]")
        if profile is not None:
            apps = [a for a in apps if a["outbound"]["outbound_voice_profile_id"] == profile]
        return copy.deepcopy(_sorted(apps, sort))

    def _application(self, app_id: str) -> dict[str, Any]:
        if app_id not in self.applications:
            raise errors.not_found("call control application")
        return self.applications[app_id]

    def _apply_application_fields(self, app: dict[str, Any], fields: dict[str, Any]) -> None:
        version = fields.get("webhook_api_version")
        if version is not None and str(version) not in _API_VERSIONS:
            raise errors.invalid_enum("webhook_api_version", _API_VERSIONS)
        timeout = fields.get("webhook_timeout_secs")
        if timeout is not None and not (isinstance(timeout, int) and 0 <= timeout <= 30):
            raise errors.ApiError(
                422, "10033", "Value out of range", "webhook_timeout_secs must be 0-30 or null."
            )
        for name, value in fields.items():
            if name in ("id", "record_type", "created_at", "updated_at"):
                continue
            if name in _MERGED_OBJECTS and isinstance(value, dict):
                app[name] = {**app.get(name, {}), **value}
            else:
                app[name] = str(value) if name == "webhook_api_version" else value

    # Phone numbers

    def add_phone_number(self, number: str, *, connection_id: str | None = None) -> dict:
        if not is_e164(number):
            raise errors.not_e164("phone_number")
        number_id = _new_id()
        record: dict[str, Any] = {
            "id": number_id,
            "record_type": "phone_number",
            "phone_number": number,
            "status": "active",
            "connection_id": None,
            "connection_name": None,
            "tags": [],
            "customer_reference": None,
            "billing_group_id": None,
            **_timestamps(),
        }
        self.phone_numbers[number_id] = record
        if connection_id is not None:
            self.update_phone_number(number_id, {"connection_id": connection_id})
        return copy.deepcopy(record)

    def update_phone_number(self, number_id: str, fields: dict[str, Any]) -> dict:
        record = self._phone_number(number_id)
        if "connection_id" in fields:
            connection_id = fields["connection_id"]
            if connection_id and connection_id not in self.applications:
                raise errors.bad_request("Unknown connection_id.", pointer="/connection_id")
            record["connection_id"] = connection_id or None
            app = self.applications.get(connection_id or "")
            record["connection_name"] = app["application_name"] if app else None
        for name in ("tags", "customer_reference", "billing_group_id"):
            if name in fields:
                record[name] = fields[name]
        record["updated_at"] = iso_milli(now_utc())
        return copy.deepcopy(record)

    def get_phone_number(self, number_id: str) -> dict:
        return copy.deepcopy(self._phone_number(number_id))

    def list_phone_numbers(self, filters: dict[str, str]) -> list[dict]:
        keys = {"filter[phone_number]": "phone_number", "filter[connection_id]": "connection_id"}
        keys["filter[status]"] = "status"
        numbers = list(self.phone_numbers.values())
        for query_key, field_name in keys.items():
            if query_key in filters:
                wanted = filters[query_key]
                numbers = [n for n in numbers if _matches_number(n[field_name], wanted)]
        return copy.deepcopy(_sorted(numbers, "created_at"))

    def number_record(self, e164: str) -> dict[str, Any] | None:
        return next((n for n in self.phone_numbers.values() if n["phone_number"] == e164), None)

    def _phone_number(self, number_id: str) -> dict[str, Any]:
        if number_id not in self.phone_numbers:
            raise errors.not_found("phone number")
        return self.phone_numbers[number_id]

    # Outbound voice profiles and verified numbers

    def add_outbound_voice_profile(self, name: str, **fields: Any) -> dict:
        profile = {
            "id": _new_id(),
            "record_type": "outbound_voice_profile",
            "name": name,
            "enabled": True,
            "concurrent_call_limit": None,
            "whitelisted_destinations": ["US", "CA"],
            "daily_spend_limit": "100.00",
            "daily_spend_limit_enabled": False,
            "max_destination_rate": None,
            "traffic_type": "conversational",
            "service_plan": "global",
            "usage_payment_method": "rate-deck",
            "call_recording": {"call_recording_type": "none"},
            "connections_count": 0,
            "tags": [],
            **_timestamps(),
            **fields,
        }
        self.outbound_voice_profiles[profile["id"]] = profile
        return copy.deepcopy(profile)

    def list_outbound_voice_profiles(self) -> list[dict]:
        profiles = copy.deepcopy(_sorted(list(self.outbound_voice_profiles.values()), "created_at"))
        for profile in profiles:
            profile["connections_count"] = sum(
                1
                for app in self.applications.values()
                if app["outbound"].get("outbound_voice_profile_id") == profile["id"]
            )
        return profiles

    def verify_number(self, e164: str) -> dict:
        record = {"phone_number": e164, "record_type": "verified_number"}
        record["verified_at"] = iso_milli(now_utc())
        self.verified_numbers[e164] = record
        return copy.deepcopy(record)

    def get_verified_number(self, e164: str) -> dict:
        if e164 not in self.verified_numbers:
            raise errors.not_found("verified number")
        return copy.deepcopy(self.verified_numbers[e164])

    # Call routing

    def dial_application(self, connection_id: Any) -> dict[str, Any]:
        """The app a dial may use, or 10015 as Telnyx answers for a bad connection_id."""
        app = self.applications.get(str(connection_id)) if connection_id else None
        if app is None or not app["active"] or not app["webhook_event_url"]:
            raise errors.ApiError(
                422,
                "10015",
                "Invalid connection_id",
                "Only Call Control Apps with valid webhook URL are accepted.",
                pointer="/connection_id",
            )
        return app

    def seed(
        self,
        *,
        api_keys: Iterable[str] = (),
        connection_id: str | None = None,
        webhook_event_url: str | None = None,
        phone_number: str | None = None,
        application_name: str = "phonebridge (simulated)",
        verified_numbers: Iterable[str] = (),
    ) -> dict[str, Any] | None:
        """Create the starting state; returns the application when one was asked for."""
        self.api_keys.update(api_keys)
        for number in verified_numbers:
            self.verify_number(number)
        if webhook_event_url is None:
            return None
        profile = self.add_outbound_voice_profile(f"{application_name} profile")
        app = self.create_application(
            {
                "application_name": application_name,
                "webhook_event_url": webhook_event_url,
                "webhook_api_version": "2",
                "outbound": {"outbound_voice_profile_id": profile["id"]},
            },
            app_id=connection_id,
        )
        if phone_number:
            self.add_phone_number(phone_number, connection_id=app["id"])
        return app


def _matches_number(value: Any, wanted: str) -> bool:
    # A `+` in a query string may arrive decoded as a space.
    return str(value) == wanted or str(value) == "+" + wanted.lstrip(" +")


def _sorted(records: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    key = "application_name" if key == "connection_name" else key
    return sorted(records, key=lambda r: (str(r.get(key, "")), r["id"]), reverse=descending)
