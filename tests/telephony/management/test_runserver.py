"""telephony's `runserver`: what it relies on in daphne's command and Django's autoreloader."""

from __future__ import annotations

import pytest
from django.core.management import get_commands
from django.utils import autoreload

from tests.framework_pins import Pins, drift

# What Command.handle relies on, as reviewed (see tests/framework_pins.py): daphne's handle
# ends in Django's run(), whose autoreloader runs the whole command again in a child process
# marked RUN_MAIN=true, so preparing only where RUN_MAIN is not "true" prepares once.
# One line per pin, as `python -m tests.framework_pins` prints it.
# fmt: off
RUNSERVER_PINS: Pins = {
    "daphne.management.commands.runserver.Command.handle": ("4.2.3", "81448c358b9670d7973ae17e42187546bfe33f25488df149d1bd2daf0ecf54ec"),
    "django.core.management.commands.runserver.Command.run": ("5.2.19", "2a4489bf5bd31dad6479e1406fcf3b6e7838548c23f7abd5895e5007ebe2260d"),
    "django.utils.autoreload.run_with_reloader": ("5.2.19", "cd89ac52cc3469f19f2d1cb95e3bb0c7f7c168dcba9aa8ba1c06a2495583d9fc"),
    "django.utils.autoreload.restart_with_reloader": ("5.2.19", "cd2f3711999a1ff79129ac35e39e1de92312563e23280a918081cb19859b09b4"),
}
# fmt: on


@pytest.mark.parametrize("dotted", RUNSERVER_PINS)
def test_the_internals_runserver_relies_on_are_still_the_reviewed_ones(dotted):
    problem = drift(
        dotted,
        RUNSERVER_PINS[dotted],
        override="Command.handle (telephony/management/commands/runserver.py)",
        pins_file="RUNSERVER_PINS in tests/telephony/management/test_runserver.py",
    )
    assert problem is None, problem


def test_the_autoreloader_still_marks_its_child_with_run_main():
    assert autoreload.DJANGO_AUTORELOAD_ENV == "RUN_MAIN"


def test_runserver_is_still_telephonys_rather_than_daphnes():
    # INSTALLED_APPS lists telephony before daphne, and the first app's command wins.
    assert get_commands()["runserver"] == "telephony"
