"""What a user wants to receive by email. `auth.User` itself is Django's, as it is.

A user without an `EmailPreferences` row gets every email: rows are created only when a
user first changes something (`PATCH /api/v1/me/preferences`, or an unsubscribe link), so
registering writes nothing here and the notification queries treat "no row" as "all on".
Which preference governs which email is decided in one place, `notifications/preferences.py`.
"""

from django.conf import settings
from django.db import models


class EmailPreferences(models.Model):
    # The preferences, by field name; their verbose names are what the emails and the
    # unsubscribe page call each category.
    FIELDS = ("new_auction_announcements", "outbid_notices", "end_notices", "watch_reminders")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences"
    )
    new_auction_announcements = models.BooleanField(
        "new auction announcements",
        default=True,
        help_text="An email for every new auction.",
    )
    outbid_notices = models.BooleanField(
        "bid and outbid notices",
        default=True,
        help_text="An email when someone bids on an auction you bid on, or outbids you.",
    )
    end_notices = models.BooleanField(
        "auction end notices",
        default=True,
        help_text="An email when an auction you bid on, or your own auction, ends.",
    )
    watch_reminders = models.BooleanField(
        "watchlist reminders",
        default=True,
        help_text="An email when an auction on your watchlist is about to end.",
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "email preferences"
        verbose_name_plural = "email preferences"

    def __str__(self) -> str:
        return f"email preferences of user #{self.user_id}"
