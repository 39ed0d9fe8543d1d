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
