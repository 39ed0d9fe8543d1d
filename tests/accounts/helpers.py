"""Small assertions shared by the account tests."""

from rest_framework.test import APIClient

PASSWORD = "Tr0ub4dor&3-staple"


def bearer(client: APIClient, access_token: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["title"]
    assert body["detail"]
    return body


# The confidential application of the `password_app` fixture (tests/accounts/conftest.py).
PASSWORD_APP_ID = "mobile-app"
PASSWORD_APP_SECRET = "password-grant-app-secret-0123456789"


def o_token_password(
    client: APIClient,
    scope: str = "read write",
    username: str = "alice",
    password: str = PASSWORD,
    **extra: str,
):
    """The password grant at /o/token/, by the `password_app` application."""
    return client.post(
        "/o/token/",
        {
            "grant_type": "password",
            "username": username,
            "password": password,
            "scope": scope,
            "client_id": PASSWORD_APP_ID,
            "client_secret": PASSWORD_APP_SECRET,
        },
        **extra,
    )
