"""Email preferences: one optional row per user; no row means every email is on."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_first_party_application"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EmailPreferences",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "new_auction_announcements",
                    models.BooleanField(
                        default=True,
                        help_text="An email for every new auction.",
                        verbose_name="new auction announcements",
                    ),
                ),
                (
                    "outbid_notices",
                    models.BooleanField(
                        default=True,
                        help_text="An email when someone bids on an auction you bid on, or outbids you.",
                        verbose_name="bid and outbid notices",
                    ),
                ),
                (
                    "end_notices",
                    models.BooleanField(
                        default=True,
                        help_text="An email when an auction you bid on, or your own auction, ends.",
                        verbose_name="auction end notices",
                    ),
                ),
                (
                    "watch_reminders",
                    models.BooleanField(
                        default=True,
                        help_text="An email when an auction on your watchlist is about to end.",
                        verbose_name="watchlist reminders",
                    ),
                ),
                ("updated_at", models.DateTimeField()),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="email_preferences",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "email preferences",
                "verbose_name_plural": "email preferences",
            },
        ),
    ]
