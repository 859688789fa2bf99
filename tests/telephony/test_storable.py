"""The one guard for JSON we keep: webhooks and media frames are refused for the same reasons."""

from __future__ import annotations

import json

import pytest

from telephony import storable
from telephony.storable import NotStorable


@pytest.mark.parametrize(
    "text",
    [
        '{"event": "media", "media": {"payload": "/w=="}}',
        '{"name": "caf\\u00e9 \\ud83d\\ude00"}',  # escapes, a surrogate pair included
        '{"name": "café 😀"}',
        '{"n": 1.5, "m": -0.0, "big": 100000000000000000000000000}',
        "[]",
        "null",
    ],
)
def test_storable_json_parses_as_json_loads_does(text):
    assert storable.loads(text) == json.loads(text)
    assert storable.loads(text.encode()) == json.loads(text.encode())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"n": NaN}', "NaN"),
        ('{"n": -Infinity}', "Infinity"),
        ('{"n": 1e999}', "finite"),
        ('{"name": "\\ud800"}', "surrogate"),
        ('{"\\udfff": 1}', "surrogate"),
        ('{"name": "a\\u0000b"}', "NUL"),
        ('{"a\\u0000": 1}', "NUL"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
    ],
)
def test_json_no_database_stores_is_refused(text, why):
    with pytest.raises(NotStorable, match=why):
        storable.loads(text)


def test_a_lone_surrogate_in_utf8_bytes_is_refused_too():
    with pytest.raises(NotStorable, match="surrogate"):
        storable.loads(b'{"name": "\xed\xa0\x80"}')


@pytest.mark.parametrize("text", ["{not json", "", '"\x00"', "\x00", "\ufeff{}", b"\xff\xfe"])
def test_what_is_not_json_is_a_plain_value_error(text):
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the point: not NotStorable
        storable.loads(text)
    assert not isinstance(caught.value, NotStorable)


def test_utf8_with_a_byte_order_mark_is_read_as_json_loads_reads_it():
    assert storable.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"n": float("nan")}, "JSON"),
        ({"n": float("inf")}, "JSON"),
        ({"name": "\ud800"}, "surrogate"),
        ({"occurred_at": "a\x00b"}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ({"when": object()}, "JSON"),
    ],
)
def test_a_value_we_built_is_held_to_the_same_rules_before_it_is_stored(value, why):
    with pytest.raises(NotStorable, match=why):
        storable.check(value)


def test_a_storable_value_is_returned_as_it_is():
    value = {"digit": "5", "occurred_at": "2026-01-01T00:00:00Z", "n": [1, 2.5, None]}
    assert storable.check(value) is value
