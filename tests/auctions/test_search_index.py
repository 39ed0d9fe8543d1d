"""`?search=`: a case-insensitive substring of the title or the description. On PostgreSQL
it is answered by the trigram indexes of migration 0004; on SQLite it is a plain filter.
The answers are the same either way."""

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from auctions import selectors
from auctions.filters import AuctionFilter
from tests.support.threads import postgres_only

pytestmark = pytest.mark.django_db

LOTS = {
    "vase": ("Murano VASE", "Blue glass."),
    "bowl": ("Bowl", "Goes with the vase of lot 1."),
    "clock": ("Clock", "Brass, 100% original, works."),
    "under": ("Snake_case sign", "A sign."),
    "chair": ("Chair", "Oak. " * 4000 + "A vaselike curve at the very end."),
}


@pytest.fixture
def lots(auction_create) -> dict[str, int]:
    return {
        name: auction_create(title=title, description=description).pk
        for name, (title, description) in LOTS.items()
    }


def search_ids(query: str) -> set[int]:
    response = APIClient().get("/api/v1/auctions", {"search": query, "page_size": 100})
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("vase", {"vase", "bowl", "chair"}),
        ("VaSe", {"vase", "bowl", "chair"}),
        ("murano", {"vase"}),
        ("100%", {"clock"}),
        ("e_c", {"under"}),
        ("ke_", {"under"}),
        ("glass.", {"vase"}),
        ("nothing like it", set()),
    ],
)
def test_search_finds_every_substring_of_title_or_description_in_any_case(lots, query, expected):
    assert search_ids(query) == {lots[name] for name in expected}


def _search_queryset(query: str):
    return AuctionFilter({"search": query}, queryset=selectors.auction_list()).qs


@postgres_only("the trigram indexes exist on PostgreSQL only")
@pytest.mark.parametrize("query", ["vase", "Murano", "100%", "e_c"])
def test_on_postgresql_the_search_can_use_the_trigram_indexes_and_finds_the_same(lots, query):
    queryset = _search_queryset(query)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A test table is tiny: without these, reading it whole (or along the order's
            # index) is cheaper than any search index. Bitmap scans stay allowed.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_indexscan = off")
        plan = queryset.explain()
        by_index = {auction.pk for auction in queryset}
    by_scan = {auction.pk for auction in _search_queryset(query)}

    assert "auction_title_trgm_idx" in plan, plan
    assert "auction_description_trgm_idx" in plan, plan
    assert by_index == by_scan


@postgres_only("the trigram indexes exist on PostgreSQL only")
def test_on_postgresql_the_trigram_indexes_are_gin_on_the_lookups_expression(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%_trgm_idx'"
        )
        definitions = dict(cursor.fetchall())

    assert set(definitions) == {"auction_title_trgm_idx", "auction_description_trgm_idx"}
    for definition in definitions.values():
        assert "USING gin" in definition
        assert "gin_trgm_ops" in definition
        assert "upper(" in definition
