"""Tokens are stored hashed (`COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`): erase the plaintext of
the tokens issued before. Their checksums stay, so they keep working.

Not reversible in substance: the plaintext cannot be brought back, and nothing needs it.
"""

from django.db import migrations


def tokens_plaintext_erase(apps, schema_editor):
    for name in ("AccessToken", "RefreshToken"):
        apps.get_model("oauth2_provider", name).objects.exclude(token="").update(token="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_email_preferences"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [
        migrations.RunPython(tokens_plaintext_erase, migrations.RunPython.noop, elidable=True),
    ]
