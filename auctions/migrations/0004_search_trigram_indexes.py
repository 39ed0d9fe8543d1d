"""Trigram indexes for the public `?search=` on PostgreSQL (pg_trgm, GIN, gin_trgm_ops).

The search is `title__icontains=q OR description__icontains=q`, which Django writes as
`UPPER(col::text) LIKE UPPER('%q%')`; a GIN index with `gin_trgm_ops` on that very
expression answers such a LIKE, whatever the position of the words. On SQLite nothing
happens: the search stays a plain filter there. The indexes are not in the models' state
(a GIN index cannot be built on SQLite); `Auction.Meta` says where they are.

Built CONCURRENTLY, so that writes to a large table are not blocked while they build.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.operations import AddIndexConcurrently, TrigramExtension
from django.db import migrations, models
from django.db.models.functions import Cast, Upper


class OnPostgreSQL(migrations.operations.base.Operation):
    """`operation` on PostgreSQL only, without a trace in the models' state."""

    reversible = True

    def __init__(self, operation):
        self.operation = operation

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"On PostgreSQL only: {self.operation.describe()}"


def trigram_index(field: str) -> GinIndex:
    # The same expression as the lookup's left-hand side: UPPER("field"::text).
    return GinIndex(
        OpClass(Upper(Cast(field, output_field=models.TextField())), name="gin_trgm_ops"),
        name=f"auction_{field}_trgm_idx",
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("auctions", "0003_hot_row_updates")]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION IF NOT EXISTS pg_trgm; nothing on SQLite
        OnPostgreSQL(AddIndexConcurrently("auction", trigram_index("title"))),
        OnPostgreSQL(AddIndexConcurrently("auction", trigram_index("description"))),
    ]
