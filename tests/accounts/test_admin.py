"""The admin keeps working with the accounts app's indexes and first-party application."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from oauth2_provider.models import Application

from accounts import services
from tests.accounts.helpers import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/oauth2_provider/application/",
        "/admin/oauth2_provider/accesstoken/",
        "/admin/oauth2_provider/refreshtoken/",
    ],
)
def test_admin_pages_answer_200(admin_client, url, user):
    services.token_issue(user)

    assert admin_client.get(url).status_code == 200


def test_admin_shows_the_first_party_application(admin_client):
    application = Application.objects.get(client_id=services.FIRST_PARTY_CLIENT_ID)

    response = admin_client.get(f"/admin/oauth2_provider/application/{application.pk}/change/")

    assert response.status_code == 200


def test_admin_refuses_a_username_differing_only_in_case(admin_client, user):
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "ALICE", "password1": "Xy-12345678!", "password2": "Xy-12345678!"},
    )

    assert response.status_code == 200  # the form again, with an error; no 500
    assert get_user_model().objects.filter(username__iexact="alice").count() == 1


def test_admin_refuses_an_email_taken_in_another_case_instead_of_a_500(admin_client, user):
    bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)

    response = admin_client.post(
        f"/admin/auth/user/{bob.pk}/change/",
        {
            "username": "bob",
            "email": "ALICE@example.com",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"already exists" in response.content
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"


def test_admin_saves_a_user_keeping_its_own_email(admin_client, user):
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "alice",
            "email": "Alice@example.com",
            "first_name": "Alice",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.first_name == "Alice"


HEADER_INJECTION_EMAIL = '"x\x0bReply-To:phish@evil.example"@example.com'


def test_admin_refuses_an_email_with_control_characters(admin_client, user):
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "alice",
            "email": HEADER_INJECTION_EMAIL,
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert b"Control or invisible characters are not allowed" in response.content
    user.refresh_from_db()
    assert user.email == "alice@example.com"


def test_createsuperuser_refuses_an_email_with_control_characters():
    with pytest.raises(CommandError, match="Control or invisible characters"):
        call_command(
            "createsuperuser",
            interactive=False,
            username="root2",
            email=HEADER_INJECTION_EMAIL,
            stdout=io.StringIO(),
        )

    assert not get_user_model().objects.filter(username="root2").exists()
