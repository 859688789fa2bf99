"""The simulated Twilio account: its SID and auth token, API keys, and phone numbers.

IncomingPhoneNumber resources are kept as the JSON the REST API returns
(https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource), so the API
layer serialises them as they are.
"""

from __future__ import annotations

import base64
import copy
import hmac
import secrets
from email.utils import format_datetime
from typing import Any

from telephony.numbers import is_e164
from telephony.simulation.clock import now_utc
from telephony.twilio.simulator import errors

API_VERSION = "2010-04-01"
_METHODS = ("GET", "POST")
# IncomingPhoneNumber fields an update may set, by their form names.
_NUMBER_FIELDS = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceApplicationSid": "voice_application_sid",
}


def new_sid(prefix: str) -> str:
    """Twilio SIDs: two letters naming the resource, then 32 hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822(moment: Any = None) -> str:
    """Twilio's dates in resources and webhooks: "Thu, 26 Nov 2026 02:56:45 +0000"."""
    return format_datetime(moment or now_utc()).replace("-0000", "+0000")


class Account:
    def __init__(self, sid: str | None = None, auth_token: str | None = None) -> None:
        self.sid = sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.api_keys: dict[str, str] = {}  # SK… sid → secret
        self.numbers: dict[str, dict[str, Any]] = {}  # PN… sid → resource
        self.verified_caller_ids: set[str] = set()

    # Authentication: https://www.twilio.com/docs/usage/requests-to-twilio#authenticate-with-http

    def add_api_key(self) -> tuple[str, str]:
        key = (new_sid("SK"), secrets.token_urlsafe(24))
        self.api_keys[key[0]] = key[1]
        return key

    def authenticates(self, authorization: str) -> bool:
        """HTTP basic auth with the account SID and auth token, or an API key and secret."""
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        if user == self.sid:
            return hmac.compare_digest(password, self.auth_token)
        secret = self.api_keys.get(user)
        return secret is not None and hmac.compare_digest(password, secret)

    def path(self, tail: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.sid}/{tail}"

    # Incoming phone numbers

    def add_number(self, number: str, **fields: str) -> dict[str, Any]:
        if not is_e164(number):
            raise errors.invalid_parameter("PhoneNumber", number)
        sid = new_sid("PN")
        stamp = rfc2822()
        record: dict[str, Any] = {
            "account_sid": self.sid,
            "address_requirements": "none",
            "address_sid": None,
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": stamp,
            "date_updated": stamp,
            "emergency_status": "Inactive",
            "friendly_name": _friendly(number),
            "identity_sid": None,
            "origin": "twilio",
            "phone_number": number,
            "sid": sid,
            "sms_application_sid": "",
            "sms_fallback_method": "POST",
            "sms_fallback_url": "",
            "sms_method": "POST",
            "sms_url": "",
            "status": "in-use",
            "status_callback": "",
            "status_callback_method": "POST",
            "trunk_sid": None,
            "uri": self.path(f"IncomingPhoneNumbers/{sid}.json"),
            "voice_application_sid": "",
            "voice_caller_id_lookup": False,
            "voice_fallback_method": "POST",
            "voice_fallback_url": "",
            "voice_method": "POST",
            "voice_url": "",
            "bundle_sid": None,
            "voice_receive_mode": "voice",
        }
        self.numbers[sid] = record
        if fields:
            self.update_number(sid, fields)
        return copy.deepcopy(record)

    def update_number(self, sid: str, fields: dict[str, str]) -> dict[str, Any]:
        record = self._number(sid)
        for name, value in fields.items():
            key = _NUMBER_FIELDS.get(name)
            if key is None:
                continue  # Twilio ignores parameters it does not know
            if key.endswith("_method") and value.upper() not in _METHODS:
                raise errors.invalid_parameter(name, value)
            record[key] = value.upper() if key.endswith("_method") else value
        record["date_updated"] = rfc2822()
        return copy.deepcopy(record)

    def get_number(self, sid: str) -> dict[str, Any]:
        return copy.deepcopy(self._number(sid))

    def list_numbers(self, phone_number: str | None = None) -> list[dict[str, Any]]:
        found = list(self.numbers.values())
        if phone_number:
            # A "+" in a query string may arrive decoded as a space.
            wanted = "+" + phone_number.strip().lstrip("+")
            found = [n for n in found if n["phone_number"] == wanted]
        return copy.deepcopy(found)

    def number_record(self, e164: str) -> dict[str, Any] | None:
        return next((n for n in self.numbers.values() if n["phone_number"] == e164), None)

    def may_call_from(self, e164: str) -> bool:
        return self.number_record(e164) is not None or e164 in self.verified_caller_ids

    def _number(self, sid: str) -> dict[str, Any]:
        if sid not in self.numbers:
            raise errors.not_found(self.path(f"IncomingPhoneNumbers/{sid}.json"))
        return self.numbers[sid]


def _friendly(number: str) -> str:
    # Twilio's default friendly name for a NANP number: "(555) 000-1111".
    digits = number.removeprefix("+1")
    if number.startswith("+1") and len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return number
