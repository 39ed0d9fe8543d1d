"""What the bulk loader needs to know from the project's Django models, as JSON.

Run in the service's environment (`python -m bench.django_facts`), never imported by the
bench process, which stays free of Django. Prints:

- `password_hash`: `make_password(bench.data.PASSWORD)` with the project's own hashers;
- `defaults`: per table the bench writes, each concrete column whose model field has a
  default, with that default as the database would store it.

The loader gives those defaults to the database for the run (`ALTER COLUMN ... SET
DEFAULT`), so its `INSERT`s keep working when a migration adds a column with a default,
without the bench having to know about it. Django always writes every column itself, so
the service never sees the difference, and the database is dropped at the end.
"""

import json
import os

TABLES = ("auth_user", "auctions_auction", "auctions_bid")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.apps import apps
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from bench.data import PASSWORD

    defaults: dict[str, dict[str, object]] = {}
    for model in apps.get_models():
        table = model._meta.db_table
        if table not in TABLES:
            continue
        for field in model._meta.concrete_fields:
            if field.primary_key or not field.has_default():
                continue
            value = field.get_db_prep_save(field.get_default(), connection)
            defaults.setdefault(table, {})[field.column] = value
    print(json.dumps({"password_hash": make_password(PASSWORD), "defaults": defaults}, default=str))


if __name__ == "__main__":
    main()
