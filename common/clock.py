"""The one clock of the product.

Every rule that depends on time (is the auction still open? is it due to close?) reads
`now()` from here, so tests move one clock and the code has one notion of "now".
"""

from datetime import UTC, datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return timezone.now()


def isoformat(instant: datetime) -> str:
    """An instant as the API renders it: ISO 8601 in UTC, `Z` for the offset (as DRF does)."""
    if instant.tzinfo is not UTC:  # the database's and the clock's instants are in UTC
        instant = instant.astimezone(UTC)
    text = instant.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
