from __future__ import annotations

import pytest

from telephony.national_numbers import country_rules, to_e164
from telephony.numbers import InvalidNumber


@pytest.mark.parametrize(
    ("country", "typed", "e164"),
    [
        ("US", "(555) 123-4567", "+15551234567"),
        ("US", "1 555 123 4567", "+15551234567"),
        ("US", "011 44 20 7946 0958", "+442079460958"),
        ("GB", "020 7946 0958", "+442079460958"),
        ("GB", "0044 20 7946 0958", "+442079460958"),
        ("IT", "06 1234 5678", "+390612345678"),
        ("+44", "020 7946 0958", "+442079460958"),
        ("GB", "+1 555 123 4567", "+15551234567"),
    ],
)
def test_a_national_number_is_read_with_its_country(country, typed, e164):
    assert to_e164(typed, default_country=country) == e164


def test_without_a_country_only_e164_is_accepted():
    with pytest.raises(InvalidNumber, match=r"is not an E\.164 phone number"):
        to_e164("020 7946 0958")


def test_a_number_that_fits_neither_form_says_so():
    with pytest.raises(InvalidNumber, match="nor a national number of GB"):
        to_e164("12", default_country="gb")


def test_an_unknown_country_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="neither a known ISO country code"):
        country_rules("Narnia")
