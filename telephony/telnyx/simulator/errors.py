"""Telnyx REST error envelopes (telnyx-protocol.md §3.1).

Errors go out as `{"errors": [{"code": "90018", "title": ..., "detail": ...}]}`: the code is a
string of digits even though the OpenAPI spec calls it an integer, and clients such as pipecat
compare it as a string.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Telnyx error answer: HTTP status plus one entry of the `errors` list."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {title}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "title": self.title, "detail": self.detail}
        if self.pointer:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}


def call_ended() -> ApiError:
    return ApiError(
        422,
        "90018",
        "Call has already ended",
        "This call is no longer active and can't receive commands.",
    )


def call_not_answered() -> ApiError:
    return ApiError(
        422,
        "90034",
        "Call not answered yet",
        "This command can only be issued after the call is answered.",
    )


def unknown_call() -> ApiError:
    return ApiError(
        404, "90015", "Invalid Call Control ID", "The call_control_id provided was not valid."
    )


def unauthorized() -> ApiError:
    return ApiError(
        401, "10009", "Authentication failed", "The API key provided is missing or invalid."
    )


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "10005", "Resource not found", f"The requested {what} could not be found.")


def missing(parameter: str) -> ApiError:
    return ApiError(
        422,
        "10004",
        "Missing required parameter",
        f"The '{parameter}' parameter is required.",
        pointer=f"/{parameter}",
    )


def invalid_enum(parameter: str, allowed: tuple[str, ...] | tuple[int, ...]) -> ApiError:
    choices = ", ".join(str(value) for value in allowed)
    return ApiError(
        422,
        "10032",
        "Invalid value for parameter",
        f"The '{parameter}' parameter must be one of: {choices}.",
        pointer=f"/{parameter}",
    )


def not_e164(parameter: str) -> ApiError:
    return ApiError(
        422,
        "10016",
        "Phone number must be in +E.164 format",
        f"The '{parameter}' parameter must be a phone number in +E.164 format.",
        pointer=f"/{parameter}",
    )


def bad_request(detail: str, *, pointer: str | None = None, status: int = 422) -> ApiError:
    return ApiError(status, "10015", "Bad Request", detail, pointer=pointer)
