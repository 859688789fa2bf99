"""The local admin/admin login `runserver` creates in DEBUG never works outside DEBUG."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core import checks
from django.test import Client

from calls.models import Call

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture
def local_admin(settings) -> User:
    return User.objects.create_superuser(
        settings.DEV_ADMIN_USERNAME, email="", password=settings.DEV_ADMIN_PASSWORD
    )


def log_in(client: Client) -> None:
    client.post(LOGIN, {"username": "admin", "password": "admin", "next": "/admin/"})


def test_the_local_login_works_in_debug(local_admin, settings):
    settings.DEBUG = True
    client = Client()
    log_in(client)
    assert client.get("/admin/calls/call/").status_code == 200


def test_the_local_login_is_refused_with_debug_off(local_admin, settings):
    settings.DEBUG = False
    client = Client()
    response = client.post(LOGIN, {"username": "admin", "password": "admin", "next": "/admin/"})
    assert response.status_code == 200  # the login form again, with its error
    assert "Please enter the correct username and password" in response.content.decode()
    assert client.get("/admin/calls/call/").status_code == 302


def test_a_session_opened_in_debug_ends_when_the_server_restarts_without_it(local_admin, settings):
    settings.DEBUG = True
    client = Client()
    log_in(client)
    settings.DEBUG = False  # the restart with DEBUG off and a real SECRET_KEY

    page = client.get("/admin/calls/call/")
    dial = client.post("/admin/calls/call/dial/", {"to": "+15551234567"})

    assert page.status_code == 302
    assert page["Location"].startswith(LOGIN)
    assert dial.status_code == 302
    assert not Call.objects.exists()  # refused before any dialing


def test_the_account_is_an_ordinary_one_once_its_password_changed(local_admin, settings):
    local_admin.set_password("a real password at last")
    local_admin.save()
    settings.DEBUG = False
    client = Client()
    client.post(LOGIN, {"username": "admin", "password": "a real password at last"})
    assert client.get("/admin/calls/call/").status_code == 200


def deploy_errors() -> list[str]:
    messages = checks.run_checks(include_deployment_checks=True)
    return [m.id for m in messages if m.id and m.id.startswith("phonebridge.")]


def test_check_deploy_reports_the_local_login_while_it_exists(local_admin, settings):
    assert "phonebridge.E005" in deploy_errors()
    local_admin.set_password("changed")
    local_admin.save()
    assert "phonebridge.E005" not in deploy_errors()


def test_check_without_deploy_leaves_the_local_login_alone(local_admin):
    assert not [m for m in checks.run_checks() if m.id == "phonebridge.E005"]
