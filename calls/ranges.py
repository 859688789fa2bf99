"""Serve a stored file with HTTP Range support (RFC 9110 §14), so audio players can seek.

Django 5.2's FileResponse always sends the whole file with a 200, and browsers only let the
user seek an <audio> element whose source answers `Range: bytes=...` with 206 Partial
Content. We answer a single range; a multi-range request gets the whole file, which RFC 9110
§14.2 allows ("a server MAY ignore the Range header field").
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.files import File
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header, http_date

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRange(ValueError):
    """The range starts past the end of the file: answer 416."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte positions asked for, or None to send the whole file."""
    match = _SINGLE_RANGE.match(header or "")
    if not match or match.groups() == ("", ""):
        return None  # absent, multi-range or malformed: ignore it (RFC 9110 §14.2)
    first, last = match.groups()
    if not first:  # "bytes=-500": the last 500 bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return max(size - suffix, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # invalid, so ignored (RFC 9110 §14.1.1)
    if start >= size:
        raise UnsatisfiableRange(header)
    return start, min(int(last), size - 1) if last else size - 1


CHUNK_BYTES = 64 * 1024


def _chunks(file: File, length: int) -> Iterator[bytes]:
    try:
        while length > 0 and (data := file.read(min(CHUNK_BYTES, length))):
            length -= len(data)
            yield data
    finally:
        file.close()


async def _achunks(file: File, length: int) -> AsyncIterator[bytes]:
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while length > 0 and (data := await read(min(CHUNK_BYTES, length))):
            length -= len(data)
            yield data
    finally:
        file.close()


def ranged_file_response(
    request: HttpRequest, file: File, *, content_type: str, last_modified: float | None = None
) -> HttpResponseBase:
    """Answer with the whole of `file` (200) or the one range the request asks for (206)."""
    size = file.size
    validator = http_date(last_modified) if last_modified is not None else None
    try:
        byte_range = _requested_range(request, size, validator)
    except UnsatisfiableRange:
        response: HttpResponseBase = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    first, last = byte_range or (0, size - 1)
    length = last - first + 1
    file.open("rb")
    file.seek(first)
    # Exactly `length` bytes even for the whole file: a live call's recording grows while we
    # read it. Under ASGI the body must be an async iterator, or Django reads the whole file
    # into memory first to serve it.
    body = _achunks(file, length) if isinstance(request, ASGIRequest) else _chunks(file, length)
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Length"] = str(length)
    if disposition := content_disposition_header(False, os.path.basename(file.name or "")):
        response["Content-Disposition"] = disposition
    if byte_range is not None:
        response.status_code = 206
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    if validator:
        response["Last-Modified"] = validator
    return response


def _requested_range(
    request: HttpRequest, size: int, validator: str | None
) -> tuple[int, int] | None:
    header = request.headers.get("Range", "")
    if not header or request.method not in ("GET", "HEAD"):
        return None
    # If-Range: the client's partial copy is only still good if the file has not changed.
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range != validator:
        return None
    return parse_range(header, size)
