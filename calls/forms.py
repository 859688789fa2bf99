"""The operator console's forms: dialing a number and steering a live call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from telephony.actions import DTMF
from telephony.national_numbers import to_e164
from telephony.numbers import InvalidNumber, validate_e164


def _e164(value: str, field: str) -> str:
    try:
        return validate_e164(value, field=field)
    except InvalidNumber as exc:
        raise forms.ValidationError(str(exc), code="invalid_number") from exc


class UntruncatedCharField(forms.CharField):
    """A CharField whose widget has no `maxlength`: a browser silently cuts pasted text at
    `maxlength`, so a pasted number or greeting could be dialed or sent cut short. The length
    is still enforced, on the server, with an error that says so."""

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        return attrs


# What each answering machine detection mode does, in words (telnyx-protocol.md §2.5; Telnyx's
# "Answering Machine Detection" guide).
AMD_CHOICES = [
    ("", "Off: connect the agent as soon as the call is answered"),
    ("detect", "Detect: tell a person from a machine within a few seconds of the answer"),
    ("detect_beep", "Detect, and on a machine wait for its beep (to leave a message)"),
    ("detect_words", "Detect by the first words spoken (a long greeting means a machine)"),
    ("greeting_end", "Wait for the end of the greeting, person or machine"),
    ("premium", "Premium: Telnyx's more accurate detection (billed per call)"),
]


class DialForm(forms.Form):
    to = UntruncatedCharField(
        label="To",
        max_length=32,
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "+15551234567"}),
    )
    from_number = forms.ChoiceField(label="From")
    amd = forms.ChoiceField(
        label="Answering machine detection",
        required=False,
        choices=AMD_CHOICES,
        help_text="The result is on the call's timeline. Detection delays the agent's first "
        "words by a few seconds, except with Off.",
    )
    greeting = UntruncatedCharField(
        required=False,
        max_length=500,
        help_text="What the agent says first.",
        widget=forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"}),
    )
    instructions = UntruncatedCharField(
        required=False,
        max_length=4000,
        help_text="Extra instructions for the agent on this call.",
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offer_owned_numbers()
        self.fields["to"].help_text = _to_help()
        if settings.TELNYX_SIMULATOR:
            self._offer_far_ends()

    def _offer_owned_numbers(self) -> None:
        from telephony.telnyx.owned_numbers import owned_numbers

        owned = owned_numbers()
        field = self.fields["from_number"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(number, number) for number in owned.numbers]
        field.initial = owned.numbers[0] if owned.numbers else None
        field.help_text = (
            f"A number we own (from {owned.source})."
            if owned.numbers
            else "No number to dial from: set TELNYX_PHONE_NUMBER (or TELNYX_FROM_NUMBERS)."
        )

    def _offer_far_ends(self) -> None:
        from telephony.telnyx.embedded import FAR_ENDS

        self.fields["far_end"] = forms.ChoiceField(
            label="The far end (simulator)",
            choices=[(key, far_end.label) for key, far_end in FAR_ENDS.items()],
            initial="answers",
            help_text="How the simulated phone at the other end behaves on this dial.",
        )
        self.fields["far_end_keys"] = UntruncatedCharField(
            label="It presses (DTMF)",
            required=False,
            max_length=32,
            help_text="Keys it presses a second after answering, e.g. 1234#. Empty: it only "
            "speaks (a recorded voice, over and over).",
        )

    def clean_to(self) -> str:
        return _phone(self.cleaned_data["to"], "To")

    def clean_far_end_keys(self) -> str:
        keys = self.cleaned_data["far_end_keys"].strip()
        if keys and not DTMF.fullmatch(keys):
            raise forms.ValidationError("DTMF keys are 0-9, A-D, * and #.", code="invalid_dtmf")
        return keys

    def custom_data(self) -> dict[str, str]:
        """Greeting and instructions for the agent; empty ones are left out."""
        keys = ("greeting", "instructions")
        return {k: self.cleaned_data[k].strip() for k in keys if self.cleaned_data[k].strip()}


def _phone(value: str, field: str) -> str:
    """E.164, or a national number read with DEFAULT_COUNTRY."""
    try:
        return to_e164(value, default_country=settings.DEFAULT_COUNTRY, field=field)
    except InvalidNumber as exc:
        raise forms.ValidationError(str(exc), code="invalid_number") from exc


def _to_help() -> str:
    country = settings.DEFAULT_COUNTRY.strip().upper()
    if country:
        return (
            f"E.164 (+ and the country code, e.g. +15551234567), or a national number of "
            f"{country} (DEFAULT_COUNTRY) such as you would dial at home."
        )
    return "E.164: a '+', the country code and the number, e.g. +15551234567."


class TransferForm(forms.Form):
    to = forms.CharField(label="Transfer to", max_length=32)

    def clean_to(self) -> str:
        return _e164(self.cleaned_data["to"], "Transfer to")


class DtmfForm(forms.Form):
    digits = forms.CharField(max_length=32)

    def clean_digits(self) -> str:
        digits = self.cleaned_data["digits"].strip()
        if not DTMF.fullmatch(digits):
            raise forms.ValidationError("DTMF digits are 0-9, A-D, * and #, with w/W for pauses.")
        return digits


class SimulateInboundForm(forms.Form):
    from_number = forms.CharField(max_length=32)
    to_number = forms.CharField(max_length=32, required=False)
    duration_s = forms.FloatField(min_value=1, max_value=600, required=False)

    def clean_from_number(self) -> str:
        return _e164(self.cleaned_data["from_number"], "From")

    def clean_to_number(self) -> str:
        return _e164(self.cleaned_data["to_number"] or settings.TELNYX_PHONE_NUMBER, "To")
