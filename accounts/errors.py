"""What can go wrong with an account or a token, each with the contract's code and status."""

import math

from rest_framework import exceptions, status

from common.errors import DomainError

# The challenge a client gets with every 401 from the token endpoints (RFC 6750, section 3).
BEARER_CHALLENGE = 'Bearer realm="api"'


class UsernameTaken(DomainError):
    code = "username_taken"
    status = status.HTTP_400_BAD_REQUEST
    title = "The username is already taken"


class EmailTaken(DomainError):
    code = "email_taken"
    status = status.HTTP_400_BAD_REQUEST
    title = "The email address is already registered"


class WeakPassword(DomainError):
    """Carries the password validators' messages under `errors.password`."""

    code = "weak_password"
    status = status.HTTP_400_BAD_REQUEST
    title = "The password is too weak"


class InvalidCredentials(DomainError):
    """Unknown username, wrong password or inactive account: the client cannot tell which."""

    code = "invalid_credentials"
    status = status.HTTP_401_UNAUTHORIZED
    title = "Invalid username or password"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": BEARER_CHALLENGE}


class LoginThrottled(DomainError):
    """Too many failed logins from this address, or on this account from this address:
    the password was not checked. `Retry-After` says when to try again."""

    code = "throttled"
    status = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too many failed logins"

    def __init__(self, wait: float) -> None:
        self.wait = max(1, math.ceil(wait))
        super().__init__(f"Too many failed logins; try again in {self.wait} seconds.")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait)}


class InvalidToken(DomainError):
    """A refresh token that is unknown, revoked, already used or expired."""

    code = "invalid_token"
    status = status.HTTP_401_UNAUTHORIZED
    title = "The token is invalid, expired or revoked"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="invalid_token"'}


class InsufficientScope(DomainError, exceptions.PermissionDenied):
    """A valid token whose scopes do not cover the request: `write` for a change, `read`
    for a read (RFC 6750, section 3.1).

    Raised by the authentication class, which DRF runs lazily: being a DRF exception too,
    DRF marks the request anonymous before it propagates, so nothing that reads
    `request.user` afterwards runs the authentication again."""

    code = "insufficient_scope"
    status = status.HTTP_403_FORBIDDEN
    title = "The token's scope does not allow this request"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'{BEARER_CHALLENGE}, error="insufficient_scope"'}
