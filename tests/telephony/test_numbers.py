"""E.164 numbers, as the admin, the dialer, provisioning and the simulator check them."""

from __future__ import annotations

import pytest

from telephony.numbers import InvalidNumber, is_e164, validate_e164


@pytest.mark.parametrize("number", ["+15557654321", "+4930123456", "+1234567"])
def test_it_accepts_e164_numbers(number):
    assert is_e164(number)


@pytest.mark.parametrize("number", ["5557654321", "+0123456789", "+123456", "+1234567890123456"])
def test_it_refuses_anything_else(number):
    assert not is_e164(number)


def test_validation_drops_what_people_type_between_digits():
    assert validate_e164("+1 (555) 765-43.21") == "+15557654321"


def test_validation_names_the_field_it_refuses():
    with pytest.raises(InvalidNumber, match=r"^To '555' is not an E\.164 phone number"):
        validate_e164("555", field="To")
