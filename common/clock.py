"""The one clock of the product.

Every rule that depends on time (is the auction still open? is it due to close?) reads
`now()` from here, so tests move one clock and the code has one notion of "now".
"""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return timezone.now()
