"""The operator console's forms: dialing a number and steering a live call."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from calls.from_numbers import CarrierNumbers, from_numbers
from calls.models import Call
from telephony.actions import DTMF
from telephony.dialing import carrier_for_number
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


# What each answering machine detection mode does, in words, on either carrier
# (telnyx-protocol.md §2.5 and Telnyx's "Answering Machine Detection" guide; Twilio's
# MachineDetection, https://www.twilio.com/docs/voice/answering-machine-detection, mapped by
# telephony.twilio.call_control.AMD_MODES: Twilio has one detector, with or without waiting
# for the end of the greeting).
AMD_CHOICES = [
    ("", "Off: connect the agent as soon as the call is answered"),
    ("detect", "Detect: tell a person from a machine within a few seconds of the answer"),
    ("detect_beep", "Detect, and on a machine wait for its beep (to leave a message)"),
    (
        "detect_words",
        "Detect by the first words spoken (a long greeting means a machine; Twilio: as Detect)",
    ),
    ("greeting_end", "Wait for the end of the greeting, person or machine"),
    (
        "premium",
        "Premium: Telnyx's more accurate detection (billed per call; Twilio: as Detect)",
    ),
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
        "words by a few seconds on Telnyx, except with Off; on Twilio it runs beside the "
        "agent (AsyncAmd) and its verdict arrives a few seconds after the answer.",
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
        # Which carrier owns each offered number, as the page groups them.
        self.carrier_of: dict[str, str] = {}
        self._offer_owned_numbers()
        self.fields["to"].help_text = _to_help()
        if settings.TELNYX_SIMULATOR or settings.TWILIO_SIMULATOR:
            self._offer_far_ends()

    def _offer_owned_numbers(self) -> None:
        groups = from_numbers()
        field = self.fields["from_number"]
        assert isinstance(field, forms.ChoiceField)
        for group in groups:
            self.carrier_of.update(dict.fromkeys(group.numbers, group.carrier))
        offered = [g for g in groups if g.numbers]
        if len(offered) > 1:  # grouped, so the operator sees which carrier dials
            field.choices = [(g.label, [(n, n) for n in g.numbers]) for g in offered]
        else:
            field.choices = [(n, n) for g in offered for n in g.numbers]
        field.initial = offered[0].numbers[0] if offered else None
        field.help_text = _from_help(groups)

    def _offer_far_ends(self) -> None:
        from telephony.telnyx.embedded import FAR_ENDS

        # telephony.twilio.embedded.FAR_ENDS has the same keys, in Twilio's words.
        self.fields["far_end"] = forms.ChoiceField(
            label="The far end (simulator)",
            choices=[(key, far_end.label) for key, far_end in FAR_ENDS.items()],
            initial="answers",
            help_text="How the simulated phone at the other end behaves on this dial, on "
            "the embedded simulator of the From number's carrier.",
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

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        number = data.get("from_number")
        listed = self.carrier_of.get(number or "")
        if number and listed and carrier_for_number(number) != listed:
            # A number fetched from one carrier's account but configured nowhere would go out
            # on PHONEBRIDGE_CARRIER, which cannot use it as caller id.
            label = dict(Call.Carrier.choices)[listed]
            raise forms.ValidationError(
                f"{number} is a {label} number, but phonebridge would dial it through "
                f"{settings.PHONEBRIDGE_CARRIER}: add it to {listed.upper()}_FROM_NUMBERS.",
                code="carrier_mismatch",
            )
        if number and data.get("far_end") and not _simulated(carrier_for_number(number)):
            data["far_end"] = ""  # a real carrier's far end is a real phone
        return data

    def carrier(self) -> str:
        """The carrier the chosen From number dials through."""
        return carrier_for_number(self.cleaned_data["from_number"])

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


def _from_help(groups: list[CarrierNumbers]) -> str:
    said = []
    for group in groups:
        if group.numbers:
            said.append(f"{group.label}: from {group.source}")
        else:
            prefix = group.carrier.upper()
            said.append(
                f"{group.label}: no number to dial from; set {prefix}_PHONE_NUMBER "
                f"(or {prefix}_FROM_NUMBERS)"
            )
    if len(groups) == 1 and groups[0].numbers:
        return f"A number we own (from {groups[0].source})."
    if len(groups) == 1:
        return f"No number to dial from: {said[0].split('; ', 1)[1]}."
    return "A number we own; its carrier places the call. " + "; ".join(said) + "."


def _simulated(carrier: str) -> bool:
    return bool(getattr(settings, f"{carrier.upper()}_SIMULATOR", False))


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
