"""The auction list and detail read through SQL compiled once per process
(`selectors.auction_list_compiled`, `selectors.auction_get`): the same answers as the ORM,
a fixed number of queries per request, and the clock bound anew on every request."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.db.models import F
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from auctions import selectors, services
from auctions.filters import AuctionFilter
from auctions.models import Auction
from auctions.serializers import AuctionSerializer
from common import clock, pagination, prepared
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auctions"


@pytest.fixture
def compilations(monkeypatch):
    """Counts the statements compiled from now on (a fresh cache, so each question is new)."""
    monkeypatch.setattr(prepared, "_statements", prepared._StatementCache())
    calls = []
    original = prepared._statement_compile

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(prepared, "_statement_compile", counting)
    return calls


@pytest.fixture
def market(auction_create, bid_place, frozen_clock):
    """Auctions in every state the list renders: without bids, led, finished and closed
    with a winner, finished without a bid, with a reserve and a buy-now price, extended
    by a soft close. Some owners, leaders and winners are the same user."""
    ann, bob, cat = (UserFactory(username=name) for name in ("ann", "bob", "cat"))
    start = clock.now()
    plain = auction_create(owner=ann, title="Red lamp", end_time=start + timedelta(hours=2))
    frozen_clock.shift(1)
    led = auction_create(owner=ann, title="Blue chair", end_time=start + timedelta(hours=3))
    bid_place(led, bob, "100.00")
    bid_place(led, cat, "110.00")
    frozen_clock.shift(1)
    won = auction_create(owner=bob, title="Old lamp", end_time=start + timedelta(minutes=10))
    bid_place(won, cat, "150.00")
    frozen_clock.shift(1)
    auction_create(owner=cat, title="Desk", end_time=start + timedelta(minutes=10))
    frozen_clock.shift(1)
    reserved = auction_create(
        owner=bob,
        title="Lamp with reserve",
        description="A lamp.",
        end_time=start + timedelta(hours=1),
        reserve_price=Decimal("500.00"),
        buy_now_price=Decimal("900.00"),
        extension_seconds=120,
        max_end_time=start + timedelta(hours=5),
    )
    frozen_clock.move_to(start + timedelta(minutes=20))
    services.auction_close(won.pk)
    frozen_clock.move_to(reserved.end_time - timedelta(seconds=30))
    bid_place(reserved, ann, "200.00")  # in the last two minutes: extended
    assert Auction.objects.get(pk=reserved.pk).extension_count == 1
    assert Auction.objects.get(pk=won.pk).winner_id == cat.pk
    return plain, led, won


def orm_page(params: dict, *, page_size: int = 20, page: int = 1) -> dict:
    """What the list answers, computed the plain way: the filterset's queryset, model
    instances with their users, and the serializer."""
    now = clock.now()
    data = QueryDict(urlencode(params))
    filterset = AuctionFilter(data, queryset=selectors.auction_list(), now=now)
    assert filterset.is_valid()
    rows = list(filterset.qs)
    start = (page - 1) * page_size
    items = AuctionSerializer(rows[start : start + page_size], many=True, context={"now": now})
    return {"count": len(rows), "results": items.data}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "active"},
        {"status": "finished"},
        {"status": "all", "ordering": "end_time"},
        {"status": "active", "ordering": "-current_price"},
        {"ordering": "current_price"},
        {"ordering": "-end_time", "search": "lamp"},
        {"owner": "ann"},
        {"owner": "bob", "status": "finished"},
        {"search": "LAMP", "status": "active", "owner": "bob"},
        {"search": "nothing like it"},
        {"search": "50%_off\\"},  # LIKE's wildcards and escape, taken literally
        {"page_size": "2"},
        {"page_size": "2", "page": "2"},
    ],
)
def test_every_question_answers_what_the_orm_answers_first_and_second_time(
    api_client, market, params
):
    page_size = int(params.get("page_size", 20))
    page = int(params.get("page", 1))
    filters = {k: v for k, v in params.items() if k not in ("page", "page_size")}
    expected = orm_page(filters, page_size=page_size, page=page)

    for _ in range(2):  # compiled, then reused
        body = api_client.get(URL, params).json()
        assert body["count"] == expected["count"]
        assert body["results"] == expected["results"]


def test_the_clock_is_bound_anew_on_every_request(
    api_client, auction_create, frozen_clock, compilations
):
    soon = auction_create(end_time=clock.now() + timedelta(minutes=10))
    later = auction_create(end_time=clock.now() + timedelta(hours=1))

    def listed(status: str) -> list[int]:
        return [item["id"] for item in api_client.get(URL, {"status": status}).json()["results"]]

    assert listed("active") == [later.pk, soon.pk]
    compiled = len(compilations)
    assert compiled == 2  # the count and the first page

    frozen_clock.move_to(soon.end_time)
    assert listed("active") == [later.pk]
    frozen_clock.shift(3600)
    assert listed("active") == []
    assert len(compilations) == compiled  # the same statements, another instant each time

    assert listed("finished") == [later.pk, soon.pk]
    assert len(compilations) == compiled + 2  # another question


def test_a_page_is_one_query_once_its_large_count_is_cached(
    api_client, auction_create, bid_place, monkeypatch, django_assert_num_queries, frozen_clock
):
    monkeypatch.setattr(pagination, "LARGE_COUNT", 3)
    bidders = UserFactory.create_batch(3)
    for n in range(6):
        auction = auction_create()
        for step, bidder in enumerate(bidders[: n % 4]):
            bid_place(auction, bidder, 100 + 5 * step)

    with django_assert_num_queries(2):  # the count, then the page with every username
        first = api_client.get(URL).json()
    with django_assert_num_queries(1):  # the count is reused for a while
        second = api_client.get(URL).json()

    assert first == second
    assert first["count"] == 6
    assert {item["leader"] for item in first["results"]} == {None} | {
        bidder.username for bidder in bidders
    }


def test_an_exact_count_and_the_page_are_two_queries_however_many_users(
    api_client, market, django_assert_num_queries
):
    with django_assert_num_queries(2):
        body = api_client.get(URL, {"status": "all"}).json()
    assert body["count"] == 5
    assert {item["owner"] for item in body["results"]} == {"ann", "bob", "cat"}
    assert {item["winner"] for item in body["results"]} == {None, "cat"}


def test_the_detail_is_one_query_once_its_bids_are_read(
    api_client, auction_create, bid_place, django_assert_num_queries, frozen_clock
):
    auction = auction_create(owner=UserFactory(username="olga"))
    bid_place(auction, UserFactory(username="bob"), "100.00")
    url = f"{URL}/{auction.pk}"

    with django_assert_num_queries(2):  # the auction with its users, then its bids
        first = api_client.get(url).json()
    with django_assert_num_queries(1):  # the same bids, still counted by the row
        second = api_client.get(url).json()

    assert first == second
    assert (first["owner"], first["leader"], first["bids"][0]["bidder"]) == ("olga", "bob", "bob")


def test_the_detail_renders_what_the_orm_instance_renders(api_client, market):
    now = clock.now()
    for auction in Auction.objects.select_related("owner", "leader", "winner"):
        body = api_client.get(f"{URL}/{auction.pk}").json()
        body.pop("bids")
        assert body == AuctionSerializer(auction, context={"now": now}).data


def test_auction_get_attaches_the_users_with_their_usernames(market):
    _, led, won = market
    with CaptureQueriesContext(connection) as queries:
        auction = selectors.auction_get(won.pk)
        names = (auction.owner.username, auction.leader.username, auction.winner.username)
    assert names == ("bob", "cat", "cat")
    assert auction.leader is auction.winner  # one user, built once
    assert len(queries) == 1
    assert selectors.auction_get(led.pk).winner is None


def test_an_id_out_of_range_is_404_and_does_not_stop_the_reuse(
    api_client, auction_create, compilations
):
    auction = auction_create()

    assert api_client.get(f"{URL}/99999999999999999999").status_code == 404
    assert api_client.get(f"{URL}/{auction.pk}").status_code == 200
    compiled = len(compilations)
    assert api_client.get(f"{URL}/{auction.pk + 1000}").status_code == 404
    assert api_client.get(f"{URL}/{auction.pk}").status_code == 200
    assert len(compilations) == compiled


def test_a_query_that_uses_the_clock_in_another_way_is_answered_but_never_reused(
    auction_create, frozen_clock, compilations
):
    auction = auction_create(end_time=clock.now() + timedelta(minutes=30))

    def ending_within_an_hour(now):
        return Auction.objects.filter(closes_at__lte=now + timedelta(hours=1)).values_list("pk")

    def run():
        return selectors._values_run(
            ("test", "within an hour"),
            ending_within_an_hour,
            clock.now(),
            other=clock.now() + timedelta(days=1),
            field=selectors._CLOCK_FIELD,
        )

    assert [row[0] for row in run()] == [auction.pk]
    frozen_clock.shift(-7200)  # two hours earlier: the auction ends later than an hour from now
    assert run() == []
    assert len(compilations) == 1  # compiled once, found not reusable, then the ORM each time


def test_invalid_filters_are_400_every_time(api_client):
    for _ in range(2):
        assert api_client.get(URL, {"status": "open"}).status_code == 400
    assert api_client.get(URL, {"status": "active"}).status_code == 200


def _row_of(auction: Auction) -> list:
    return [getattr(auction, attname) for attname in selectors._AUCTION_ATTNAMES]


def test_a_list_row_builds_the_instance_from_db_builds(market):
    for auction in Auction.objects.all():
        built = selectors._instance_from_row(
            Auction, "default", selectors._AUCTION_ATTNAMES, _row_of(auction)
        )
        expected = Auction.from_db("default", selectors._AUCTION_ATTNAMES, _row_of(auction))
        assert type(built) is Auction
        assert (built._state.adding, built._state.db) == (False, "default")
        fields = {key: value for key, value in vars(built).items() if key != "_state"}
        assert fields == {key: value for key, value in vars(expected).items() if key != "_state"}
        assert built.min_next_bid == auction.min_next_bid
        assert built.closes_at == auction.closes_at


def test_a_list_row_goes_through_model_init_when_something_listens(market):
    from django.db.models.signals import post_init

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    auction = Auction.objects.first()
    post_init.connect(listener, sender=Auction)
    try:
        [built] = selectors._auctions_from_rows([[*_row_of(auction), None, None, None]])
    finally:
        post_init.disconnect(listener, sender=Auction)
    assert seen == [built]


def test_a_list_row_builds_users_as_from_db_builds_them(market):
    user = selectors._USER.objects.first()
    built = selectors._instance_from_row(
        selectors._USER, "default", ("id", "username"), (user.pk, user.username)
    )
    expected = selectors._USER.from_db("default", ("id", "username"), (user.pk, user.username))
    assert type(built) is type(expected)
    assert (built._state.adding, built._state.db) == (False, "default")
    assert vars(built).keys() - {"_state"} == vars(expected).keys() - {"_state"}
    assert built.get_deferred_fields() == expected.get_deferred_fields()
    assert (built.pk, built.username, built.email) == (user.pk, user.username, user.email)


def test_a_list_row_builds_users_through_model_init_when_something_listens(market):
    from django.db.models.signals import post_init

    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance)

    led = Auction.objects.filter(leader__isnull=False, winner__isnull=True)
    auction = led.exclude(leader=F("owner")).first()
    row = [*_row_of(auction), auction.owner.username, auction.leader.username, None]
    post_init.connect(listener, sender=selectors._USER)
    try:
        [built] = selectors._auctions_from_rows([row])
    finally:
        post_init.disconnect(listener, sender=selectors._USER)
    assert seen == [built.owner, built.leader]
    assert (built.owner.username, built.leader.username) == (
        auction.owner.username,
        auction.leader.username,
    )
