"""POST /api/v1/auth/register: the username and the address reach email headers, so they
refuse control and invisible characters."""

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.helpers import PASSWORD, assert_problem

User = get_user_model()
URL = "/api/v1/auth/register"

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "bob", "email": "bob@example.com", "password": PASSWORD, **overrides}
    return client.post(URL, body, format="json")


@pytest.mark.parametrize(
    "email",
    [
        '"x\u000bX:y"@example.com',
        '"x\x0cBcc:all"@example.com',
        '"x\x1cy"@example.com',
        '"x\x7fy"@example.com',
        '"x\x01y"@example.com',
        '"x\ty"@example.com',
        "bob\u200b@example.com",
    ],
)
def test_an_address_with_a_control_or_invisible_character_is_400(api_client, email):
    response = register(api_client, email=email)

    body = assert_problem(response, 400, "validation_error")
    assert "email" in body["errors"]
    assert not User.objects.exists()


def test_a_quoted_local_part_without_control_characters_is_still_accepted(api_client):
    response = register(api_client, email='"bob.smith!"@example.com')

    assert response.status_code == 201, response.content
    assert User.objects.get().email == '"bob.smith!"@example.com'


@pytest.mark.parametrize("username", ["bob\u000bX", "bob\u2028x", "bob\u200bx", "bo\x85b"])
def test_a_username_with_a_control_or_invisible_character_is_400(api_client, username):
    response = register(api_client, username=username)

    body = assert_problem(response, 400, "validation_error")
    assert "username" in body["errors"]
    assert not User.objects.exists()
