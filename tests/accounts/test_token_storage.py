"""Tokens at rest: only their SHA-256 is stored; a replayed refresh token kills its family."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from oauth2_provider.models import AccessToken, RefreshToken

from accounts import services
from common import clock
from tests.accounts.helpers import (
    PASSWORD,
    PASSWORD_APP_ID,
    PASSWORD_APP_SECRET,
    bearer,
    o_token_password,
)

pytestmark = pytest.mark.django_db


def stored(raw: str, model=AccessToken):
    return model.objects.get(token_checksum=services._checksum(raw))


def test_tokens_of_login_and_refresh_are_stored_without_their_plaintext(api_client, user):
    login = api_client.post(
        "/api/v1/auth/token", {"username": "alice", "password": PASSWORD}, format="json"
    ).json()
    refreshed = api_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": login["refresh_token"]}, format="json"
    ).json()

    assert AccessToken.objects.count() == 1  # the login's access token died with its refresh
    assert RefreshToken.objects.count() == 2
    assert set(AccessToken.objects.values_list("token", flat=True)) == {""}
    assert set(RefreshToken.objects.values_list("token", flat=True)) == {""}
    assert stored(refreshed["refresh_token"], RefreshToken).revoked is None
    assert bearer(api_client, refreshed["access_token"]).get("/api/v1/me").status_code == 200


def test_tokens_of_o_token_are_stored_without_their_plaintext(api_client, user, password_app):
    pair = o_token_password(api_client).json()

    assert stored(pair["access_token"]).token == ""
    assert stored(pair["refresh_token"], RefreshToken).token == ""
    assert bearer(api_client, pair["access_token"]).get("/api/v1/me").status_code == 200


def test_the_migration_erases_the_plaintext_of_earlier_tokens_which_keep_working(api_client, user):
    AccessToken.objects.create(
        user=user,
        token="an-old-plaintext-token",
        expires=clock.now() + timedelta(hours=1),
        scope="read write",
    )
    migration = importlib.import_module("accounts.migrations.0004_auth_tokens_plaintext_erased")

    migration.tokens_plaintext_erase(apps, None)

    assert stored("an-old-plaintext-token").token == ""
    assert bearer(api_client, "an-old-plaintext-token").get("/api/v1/me").status_code == 200


def test_replaying_a_rotated_refresh_token_at_o_token_revokes_its_family(
    api_client, user, password_app
):
    def refresh(token: str):
        return api_client.post(
            "/o/token/",
            {
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": PASSWORD_APP_ID,
                "client_secret": PASSWORD_APP_SECRET,
            },
        )

    first = o_token_password(api_client).json()
    second = refresh(first["refresh_token"]).json()

    replay = refresh(first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert refresh(second["refresh_token"]).status_code == 400  # the family is revoked
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()
