"""The first-party OAuth 2 application that owns every token `/api/v1/auth/*` issues.

The values are copied, not imported, from `accounts.services` on purpose: a migration
records the state of its day. `accounts.services` also creates the row on demand, so a
test database flushed by a transactional test still gets it back.
"""

from django.db import migrations

CLIENT_ID = "auction-first-party"


def application_create(apps, schema_editor):
    Application = apps.get_model("oauth2_provider", "Application")
    Application.objects.get_or_create(
        client_id=CLIENT_ID,
        defaults={
            "name": "Auction service (first party)",
            "client_type": "public",
            # Not "password": this public client has no secret, so allowing the password
            # grant would make /o/token/ an unthrottled way around the login throttle.
            # The service mints its tokens directly; /o/token/ may still refresh them.
            "authorization_grant_type": "authorization-code",
            "client_secret": "",
            "hash_client_secret": False,
            "redirect_uris": "",
            "skip_authorization": True,
            "algorithm": "",
        },
    )


def application_delete(apps, schema_editor):
    Application = apps.get_model("oauth2_provider", "Application")
    Application.objects.filter(client_id=CLIENT_ID).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_user_case_insensitive_unique"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [
        migrations.RunPython(application_create, application_delete),
    ]
