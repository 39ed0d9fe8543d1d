"""One road out for errors: RFC 9457 problem details with a stable snake_case `code`.

Services raise `DomainError` subclasses (each app lists its own in `errors.py`). The DRF
exception handler below turns those, DRF's own exceptions and the database's last line of
defence (a constraint that fired) into `application/problem+json`. The Django-level
handlers at the bottom do the same for URLs no view matched and for crashes, under `/api/`.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import IntegrityError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.parsers import RequestTooLarge

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class DomainError(Exception):
    """A rule of the product said no. Subclasses set `code`, `status` and `title`."""

    code: str = "error"
    status: int = status.HTTP_400_BAD_REQUEST
    title: str = "Request refused"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def headers(self) -> dict[str, str]:
        return {}


class Busy(DomainError):
    code = "busy"
    status = status.HTTP_503_SERVICE_UNAVAILABLE
    title = "The resource is busy; retry shortly"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class ConstraintViolation(DomainError):
    code = "conflict"
    status = status.HTTP_409_CONFLICT
    title = "The request conflicts with the current state of the resource"


class IdempotencyKeyInvalid(DomainError):
    code = "validation_error"
    status = status.HTTP_400_BAD_REQUEST
    title = "Invalid input"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = status.HTTP_409_CONFLICT
    title = "The idempotency key was already used for another request"


def problem(status_code: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "status": status_code,
        "title": title,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


# DRF exception class -> (code, title). Subclasses are matched in order.
_DRF_CODES: list[tuple[type[exceptions.APIException], str, str]] = [
    (exceptions.NotAuthenticated, "not_authenticated", "Authentication required"),
    (exceptions.AuthenticationFailed, "authentication_failed", "Authentication failed"),
    (exceptions.PermissionDenied, "permission_denied", "Not allowed"),
    (exceptions.NotFound, "not_found", "Not found"),
    (exceptions.MethodNotAllowed, "method_not_allowed", "Method not allowed"),
    (exceptions.Throttled, "throttled", "Too many requests"),
    (exceptions.ParseError, "parse_error", "Malformed request body"),
    (RequestTooLarge, "request_too_large", "Request body too large"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", "Unsupported media type"),
    (exceptions.NotAcceptable, "not_acceptable", "Not acceptable"),
    (exceptions.ValidationError, "validation_error", "Invalid input"),
]


def _flatten_detail(detail: Any) -> Any:
    """DRF's ErrorDetail tree to plain strings (keeps its dict/list shape)."""
    if isinstance(detail, dict):
        return {key: _flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten_detail(value) for value in detail]
    return str(detail)


def _first_message(errors: Any) -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def _response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


# PostgreSQL's codes for a lock wait past `lock_timeout` and a statement cancelled (by
# `statement_timeout`), with the words of their messages for a driver that gives no code.
_TIMEOUTS = {
    "55P03": ("lock timeout", "The resource was locked for too long; retry shortly."),
    "57014": ("statement timeout", "The database took too long to answer; retry shortly."),
}


def _database_busy(exc: OperationalError) -> Busy | None:
    """A 503 `busy` for a database timeout (settings: DATABASE_LOCK_TIMEOUT_MS and
    DATABASE_STATEMENT_TIMEOUT_MS); None for any other database error."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    message = str(exc).lower()
    for code, (words, detail) in _TIMEOUTS.items():
        if sqlstate == code or words in message:
            return Busy(detail)
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error a view raises becomes problem+json."""
    if isinstance(exc, DomainError):
        body = problem(exc.status, exc.code, exc.title, exc.detail, **exc.extra)
        return _response(body, exc.headers())

    if isinstance(exc, IntegrityError):
        # A database constraint fired: the service let something through it should have
        # refused. Never the normal path, so it is logged loudly, but the client still
        # gets a clean 409 and nothing was written (the transaction rolled back).
        logger.error("Constraint violation reached the API: %s", exc)
        return problem_exception_handler(ConstraintViolation(), context)

    if isinstance(exc, OperationalError) and (busy := _database_busy(exc)) is not None:
        logger.warning("Database timeout: %s", exc)
        return problem_exception_handler(busy, context)

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a crash: Django's handler500 answers (problem+json under /api/)

    assert isinstance(exc, exceptions.APIException)
    code, title = "error", "Request failed"
    for exc_class, exc_code, exc_title in _DRF_CODES:
        if isinstance(exc, exc_class):
            code, title = exc_code, exc_title
            break

    extra: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten_detail(exc.detail)
        if not isinstance(errors, dict):
            errors = {"non_field_errors": errors}
        extra["errors"] = errors
        detail = _first_message(errors)
    else:
        detail = str(exc.detail)

    body = problem(response.status_code, code, title, detail, **extra)
    headers = {
        name: value
        for name, value in response.headers.items()
        if name.lower() in {"retry-after", "www-authenticate", "allow"}
    }
    return _response(body, headers)


# --- Django-level handlers (config/urls.py) ---------------------------------------------


def _wants_problem(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _json_problem(status_code: int, code: str, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem(status_code, code, title, detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return _json_problem(404, "not_found", "Not found", f"No resource at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_problem(request):
        return _json_problem(
            500, "server_error", "Internal server error", "The server failed to answer."
        )
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return _json_problem(400, "bad_request", "Bad request", "The request is malformed.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return _json_problem(403, "permission_denied", "Not allowed", "Not allowed.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
