"""Twilio REST error answers.

Reference: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions:
a failed request answers `{"code": 21211, "message": "...", "more_info":
"https://www.twilio.com/docs/errors/21211", "status": 400}`, the code and status as numbers.
Each code below names its page under https://www.twilio.com/docs/api/errors/.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def unauthorized() -> ApiError:
    # 20003: "Permission Denied" / "Authenticate" when basic auth is missing or wrong.
    return ApiError(401, 20003, "Authenticate")


def not_found(path: str) -> ApiError:
    # 20404: the message names the path asked for, as Twilio's does.
    return ApiError(404, 20404, f"The requested resource {path} was not found")


def missing(name: str) -> ApiError:
    # 21201 "No 'To' number is specified", 21213 "No 'From' number is specified".
    codes = {"To": 21201, "From": 21213}
    return ApiError(400, codes.get(name, 21200), f"No '{name}' number is specified")


def invalid_to(number: str) -> ApiError:
    return ApiError(400, 21211, f"Invalid 'To' Phone Number: {number}")


def invalid_from(number: str) -> ApiError:
    return ApiError(400, 21212, f"Invalid 'From' Phone Number: {number}")


def from_not_owned(number: str) -> ApiError:
    # 21210: "Caller phone number not verified" — a From neither bought nor verified.
    return ApiError(
        400,
        21210,
        f"The source phone number provided, {number}, is not yet verified for your account. "
        "You may only make calls from phone numbers that you've verified or purchased from "
        "Twilio.",
    )


def no_instructions() -> ApiError:
    # 21205 "Invalid URL"; Twilio answers it when a call has neither Url, Twiml nor
    # ApplicationSid (its exact code for that case is an assumption: see the report).
    return ApiError(400, 21205, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required")


def invalid_twiml(detail: str) -> ApiError:
    # 21232 is Twilio's "Invalid TwiML" for an inline Twiml parameter it cannot parse.
    return ApiError(400, 21232, f"Twiml is not valid: {detail}")


def invalid_parameter(name: str, value: str) -> ApiError:
    # 21218 "Invalid ApplicationSid" is the nearest; 20001 is "Invalid parameter".
    return ApiError(400, 20001, f"Invalid value for {name}: {value!r}")


def not_in_progress() -> ApiError:
    # 21220: "Invalid call state for the requested action": updating a call that has ended.
    return ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")


def no_recording_in_progress() -> ApiError:
    # 21220 again: Twilio answers a recording update on a call with nothing recording so.
    return ApiError(400, 21220, "Invalid state for the requested action: no recording is active")
