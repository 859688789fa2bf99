"""Template filters for the call detail page: where a row falls in the call's recording."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from calls.regions import seconds_into

register = template.Library()


@register.filter
def seek_attr(at: datetime, recording_start: datetime | None) -> SafeString | str:
    """` data-seek="12.345"` for something that happened `at`, if the recording has it:
    the page's script seeks the player there when the row is clicked."""
    seconds = seconds_into(at, recording_start)
    if seconds is None:
        return ""
    return format_html(' data-seek="{}" title="Play the recording from here"', f"{seconds:.3f}")
