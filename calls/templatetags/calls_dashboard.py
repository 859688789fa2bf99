"""{% calls_dashboard %}: the dashboard's figures, on its own page and on the Calls app's
index (which Django's admin renders itself, so a tag is how the figures get there)."""

from __future__ import annotations

from typing import Any

from django import template

from calls.dashboard import figures

register = template.Library()


@register.inclusion_tag("admin/calls/call/fragments/dashboard.html")
def calls_dashboard() -> dict[str, Any]:
    return figures()
