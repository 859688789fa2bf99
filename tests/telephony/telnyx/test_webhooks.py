"""The Ed25519 accept/reject matrix and the envelope parser."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from telephony.telnyx.webhooks import (
    BadEnvelope,
    BadSignature,
    load_public_key,
    parse_event,
    verify_signature,
)

# A vector made once with OpenSSL (through `cryptography`), an Ed25519 implementation
# independent of the PyNaCl/libsodium one we verify with. The key is RFC 8032's test 2 key.
VECTOR_PUBLIC_KEY = "PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="
VECTOR_PUBLIC_KEY_DER = "MCowBQYDK2VwAyEAPUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw="
VECTOR_TIMESTAMP = "1795341600"
VECTOR_BODY = (
    b'{"data":{"record_type":"event","event_type":"call.initiated",'
    b'"id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2026-11-22T10:00:00.000000Z",'
    b'"payload":{"call_control_id":"v3:vector","direction":"incoming","from":"+35319605860",'
    b'"to":"+13129457420"}},"meta":{"attempt":1}}'
)
VECTOR_SIGNATURE = (
    "q8pJGTUkQJqvHu3ElD3RbZDqfgVT5BXmE/lNLc3c+a+hlTe2d8jwvX0UO/KLfsJLhIcx26oOBXrQDrndmWDIDw=="
)
# The example public key from Telnyx's Node SDK docs (telnyx-protocol.md §2.3).
TELNYX_NODE_SDK_EXAMPLE_KEY = "eu2zvPjhY6odxV34Z/EsRiERvTodkev4Fq0SlK90Izg="

BODY = b'{"data":{"id":"e1","event_type":"call.answered","payload":{}}}'


def signed(key: SigningKey, body: bytes = BODY, ts: int | None = None) -> dict[str, str]:
    timestamp = str(int(time.time()) if ts is None else ts)
    signature = base64.b64encode(key.sign(timestamp.encode() + b"|" + body).signature).decode()
    return {"signature": signature, "timestamp": timestamp}


def public_key_of(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(b"k" * 32)


def test_it_accepts_the_independent_openssl_vector():
    verify_signature(
        body=VECTOR_BODY,
        signature=VECTOR_SIGNATURE,
        timestamp=VECTOR_TIMESTAMP,
        public_key=VECTOR_PUBLIC_KEY,
        now=int(VECTOR_TIMESTAMP) + 1,
    )


def test_it_accepts_the_vector_with_the_key_in_der_form():
    verify_signature(
        body=VECTOR_BODY,
        signature=VECTOR_SIGNATURE,
        timestamp=VECTOR_TIMESTAMP,
        public_key=VECTOR_PUBLIC_KEY_DER,
        now=int(VECTOR_TIMESTAMP),
    )


def test_it_rejects_the_vector_with_one_byte_of_the_body_changed():
    with pytest.raises(BadSignature, match="does not match"):
        verify_signature(
            body=VECTOR_BODY.replace(b"+1312", b"+1313"),
            signature=VECTOR_SIGNATURE,
            timestamp=VECTOR_TIMESTAMP,
            public_key=VECTOR_PUBLIC_KEY,
            now=int(VECTOR_TIMESTAMP),
        )


def test_it_accepts_a_live_signature_from_openssl():
    private = Ed25519PrivateKey.generate()
    raw_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    ts = str(int(time.time()))
    signature = base64.b64encode(private.sign(ts.encode() + b"|" + BODY)).decode()
    verify_signature(
        body=BODY,
        signature=signature,
        timestamp=ts,
        public_key=base64.b64encode(raw_public).decode(),
    )


def test_it_accepts_a_pem_public_key(key):
    pem = (
        "-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(
            bytes.fromhex("302a300506032b6570032100") + bytes(key.verify_key)
        ).decode()
        + "\n-----END PUBLIC KEY-----\n"
    )
    verify_signature(body=BODY, public_key=pem, **signed(key))


def test_it_loads_the_telnyx_sdk_example_key():
    assert len(bytes(load_public_key(TELNYX_NODE_SDK_EXAMPLE_KEY))) == 32


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"signature": None}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"signature": ""}, "missing"),
        ({"timestamp": "yesterday"}, "not an integer"),
        ({"signature": "@@not-base64@@"}, "not valid base64"),
        ({"signature": base64.b64encode(b"x" * 63).decode()}, "not 64 bytes"),
        ({"signature": base64.b64encode(b"x" * 64).decode()}, "does not match"),
    ],
)
def test_it_rejects_malformed_headers(key, change, reason):
    headers = {**signed(key), **change}
    with pytest.raises(BadSignature, match=reason):
        verify_signature(body=BODY, public_key=public_key_of(key), **headers)


def test_it_rejects_a_signature_by_another_key(key):
    other = SigningKey(b"o" * 32)
    with pytest.raises(BadSignature, match="does not match"):
        verify_signature(body=BODY, public_key=public_key_of(key), **signed(other))


def test_it_rejects_a_stale_timestamp(key):
    with pytest.raises(BadSignature, match="tolerance"):
        verify_signature(
            body=BODY, public_key=public_key_of(key), **signed(key, ts=int(time.time()) - 301)
        )


def test_it_rejects_a_future_timestamp(key):
    with pytest.raises(BadSignature, match="tolerance"):
        verify_signature(
            body=BODY, public_key=public_key_of(key), **signed(key, ts=int(time.time()) + 301)
        )


def test_it_accepts_a_timestamp_just_inside_the_window(key):
    verify_signature(
        body=BODY, public_key=public_key_of(key), **signed(key, ts=int(time.time()) - 290)
    )


def test_a_signature_over_a_reserialized_body_does_not_verify(key):
    reserialized = json.dumps(json.loads(BODY), indent=1).encode()
    with pytest.raises(BadSignature, match="does not match"):
        verify_signature(body=reserialized, public_key=public_key_of(key), **signed(key))


@pytest.mark.parametrize("value", ["", "bm90IGEga2V5", base64.b64encode(b"z" * 33).decode(), "%%%"])
def test_a_bad_public_key_is_a_bad_signature_not_a_crash(key, value):
    with pytest.raises(BadSignature, match="TELNYX_PUBLIC_KEY"):
        verify_signature(body=BODY, public_key=value, **signed(key))


def test_it_parses_the_envelope():
    event = parse_event(VECTOR_BODY)
    assert event.id == "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"
    assert event.event_type == "call.initiated"
    assert event.call_control_id == "v3:vector"
    assert event.attempt == 1
    assert event.occurred_at.isoformat() == "2026-11-22T10:00:00+00:00"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"data": []}',
        b'{"data": {"event_type": "call.answered"}}',
        b'{"data": {"id": "x"}}',
        b'{"data": {"id": 5, "event_type": "call.answered"}}',
        b'{"data": {"id": "x", "event_type": "call.answered", "payload": "nope"}}',
        b"\xff\xfe",
    ],
)
def test_it_refuses_bodies_that_are_not_an_envelope(body):
    with pytest.raises(BadEnvelope):
        parse_event(body)


def test_a_nul_character_is_refused_because_postgresql_could_never_store_it():
    with pytest.raises(BadEnvelope, match="NUL"):
        parse_event(b'{"data": {"id": "x", "event_type": "e", "payload": {"from": "a\\u0000b"}}}')


def test_an_absurdly_long_call_control_id_is_refused():
    body = json.dumps(
        {"data": {"id": "x", "event_type": "e", "payload": {"call_control_id": "v3:" + "a" * 300}}}
    )
    with pytest.raises(BadEnvelope, match="longer"):
        parse_event(body.encode())


def test_an_impossible_occurred_at_falls_back_to_now():
    event = parse_event(
        b'{"data": {"id": "x", "event_type": "e", "occurred_at": "2026-13-45T99:00:00Z"}}'
    )
    assert event.occurred_at is not None
