"""Errors have one road out: problem+json under /api/, whatever went wrong."""

import json

import pytest
from django.db import IntegrityError, OperationalError
from django.test import RequestFactory
from rest_framework import exceptions

from common.errors import DomainError, handler500, problem_exception_handler
from tests.common.assertions import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/auctions/1/nope", "/api/v2/auctions"])
def test_an_unknown_url_under_api_is_404_problem_not_html(api_client, method, path):
    response = getattr(api_client, method)(path)

    body = assert_problem(response, 404, "not_found")
    assert path in body["detail"]
    assert b"<html" not in response.content.lower()


def test_an_unknown_url_outside_api_is_not_a_problem(api_client):
    response = api_client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"] != "application/problem+json"


def test_an_unsupported_method_is_405_problem_with_allow(client_for):
    response = client_for("alice").delete("/api/v1/auctions")

    body = assert_problem(response, 405, "method_not_allowed")
    assert "DELETE" in body["detail"]
    assert set(response["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_a_crash_under_api_is_answered_with_a_500_problem():
    request = RequestFactory().get("/api/v1/auctions")

    response = handler500(request)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == "server_error"


# --- The DRF exception handler, directly --------------------------------------------------


class Teapot(DomainError):
    code = "teapot"
    status = 418
    title = "I am a teapot"


def body_of(response) -> dict:
    return dict(response.data)


def test_a_domain_error_becomes_a_problem_with_its_code_and_extras():
    response = problem_exception_handler(Teapot("Short and stout.", spout="one"), {})

    assert response.status_code == 418
    assert response.content_type == "application/problem+json"
    assert body_of(response) == {
        "type": "about:blank",
        "status": 418,
        "title": "I am a teapot",
        "detail": "Short and stout.",
        "code": "teapot",
        "spout": "one",
    }


def test_a_constraint_that_fired_is_a_409_conflict_not_a_500():
    response = problem_exception_handler(IntegrityError("duplicate key"), {})

    assert response.status_code == 409
    assert body_of(response)["code"] == "conflict"


def test_a_lock_timeout_is_a_503_busy_with_retry_after():
    error = OperationalError("canceling statement due to lock timeout")

    response = problem_exception_handler(error, {})

    assert response.status_code == 503
    assert body_of(response)["code"] == "busy"
    assert response["Retry-After"] == "1"


def test_another_database_error_is_left_to_the_500_handler():
    assert problem_exception_handler(OperationalError("disk I/O error"), {}) is None


def test_a_validation_error_lists_field_errors_under_errors():
    error = exceptions.ValidationError({"amount": ["A valid number is required."]})

    body = body_of(problem_exception_handler(error, {}))

    assert body["code"] == "validation_error"
    assert body["status"] == 400
    assert body["errors"] == {"amount": ["A valid number is required."]}
    assert body["detail"] == "amount: A valid number is required."


def test_a_validation_error_without_fields_is_listed_as_non_field_errors():
    body = body_of(problem_exception_handler(exceptions.ValidationError("Nope."), {}))

    assert body["errors"] == {"non_field_errors": ["Nope."]}
    assert body["detail"] == "Nope."


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (exceptions.NotAuthenticated(), 401, "not_authenticated"),
        (exceptions.AuthenticationFailed(), 401, "authentication_failed"),
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (exceptions.NotFound(), 404, "not_found"),
        (exceptions.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (exceptions.Throttled(wait=3), 429, "throttled"),
        (exceptions.ParseError(), 400, "parse_error"),
        (exceptions.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
    ],
)
def test_drf_errors_get_stable_snake_case_codes(exc, status, code):
    response = problem_exception_handler(exc, {})

    assert response.status_code == status
    assert body_of(response)["code"] == code


def test_a_throttled_answer_keeps_its_retry_after_header():
    response = problem_exception_handler(exceptions.Throttled(wait=7), {})

    assert response["Retry-After"] == "7"


def test_a_problem_is_rendered_as_problem_json_through_a_real_view(api_client):
    response = api_client.get("/api/v1/auctions/424242")

    body = assert_problem(response, 404, "not_found")
    assert body["type"] == "about:blank"
