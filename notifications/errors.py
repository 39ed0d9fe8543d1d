"""What can go wrong with notifications, each with a stable code and status."""

from rest_framework import status

from common.errors import DomainError


class InvalidUnsubscribeToken(DomainError):
    """An unsubscribe link that this service did not make (forged, truncated, mangled)."""

    code = "invalid_token"
    status = status.HTTP_400_BAD_REQUEST
    title = "The unsubscribe link is invalid"
