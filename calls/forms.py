"""The operator console's forms: dialing a number and steering a live call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from telephony.actions import DTMF
from telephony.dialing import AMD_MODES
from telephony.numbers import InvalidNumber, validate_e164


def _e164(value: str, field: str) -> str:
    try:
        return validate_e164(value, field=field)
    except InvalidNumber as exc:
        raise forms.ValidationError(str(exc), code="invalid_number") from exc


class DialForm(forms.Form):
    to = forms.CharField(
        label="To",
        max_length=32,
        help_text="E.164: a '+', the country code and the number, e.g. +15551234567.",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "+15551234567"}),
    )
    from_number = forms.CharField(label="From", max_length=32)
    amd = forms.ChoiceField(
        label="Answering machine detection",
        required=False,
        choices=[("", "Off"), *((mode, mode) for mode in AMD_MODES)],
    )
    greeting = forms.CharField(
        required=False,
        max_length=500,
        help_text="What the agent says first.",
        widget=forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"}),
    )
    instructions = forms.CharField(
        required=False,
        max_length=4000,
        help_text="Extra instructions for the agent on this call.",
        widget=forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from_number"].initial = settings.TELNYX_PHONE_NUMBER

    def clean_to(self) -> str:
        return _e164(self.cleaned_data["to"], "To")

    def clean_from_number(self) -> str:
        return _e164(self.cleaned_data["from_number"], "From")

    def custom_data(self) -> dict[str, str]:
        """Greeting and instructions for the agent; empty ones are left out."""
        keys = ("greeting", "instructions")
        return {k: self.cleaned_data[k].strip() for k in keys if self.cleaned_data[k].strip()}


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
