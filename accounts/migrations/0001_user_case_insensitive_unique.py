"""Usernames and emails are unique whatever their case, down in the database.

`auth.User` is Django's, so there is no model here to carry a constraint: two expression
indexes on `auth_user` do it. The registration service checks first and maps a hit on
either index to `username_taken` / `email_taken`, so the index only ever decides a race.
The SQL is the same on SQLite and PostgreSQL. Blank emails (users made in the admin or
by `createsuperuser` without one) are left out of the email index.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE UNIQUE INDEX accounts_user_username_ci ON auth_user (lower(username))",
            reverse_sql="DROP INDEX accounts_user_username_ci",
        ),
        migrations.RunSQL(
            sql=(
                "CREATE UNIQUE INDEX accounts_user_email_ci ON auth_user (lower(email)) "
                "WHERE email <> ''"
            ),
            reverse_sql="DROP INDEX accounts_user_email_ci",
        ),
    ]
