"""Email preferences in the outbox, and the one-click unsubscribe link every email carries."""

import re
from decimal import Decimal

import pytest
from django.core import signing
from django.test import Client
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.models import EmailPreferences
from auctions import services as auctions
from notifications import preferences, services
from notifications.models import Event, Notification
from tests.accounts.helpers import assert_problem
from tests.factories import EmailPreferencesFactory, UserFactory

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


def expand_all(kind: str) -> list[int]:
    """Expand the latest event of `kind` in-process; the ids of its notifications."""
    event = Event.objects.filter(kind=kind).latest("id")
    ids: list[int] = []
    more = True
    while more:
        batch, more = services.event_expand(event.pk)
        ids += batch
    return ids


def recipients(kind: str) -> dict[str, str]:
    """username -> notification kind, for the latest event of `kind`, once expanded."""
    expand_all(kind)
    event = Event.objects.filter(kind=kind).latest("id")
    return dict(Notification.objects.filter(event=event).values_list("recipient__username", "kind"))


def opt_out(user, **changes: bool) -> None:
    accounts.email_preferences_update(user, **changes)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def header(received, name: str) -> str:
    """A header's value, unfolded (a long one is folded onto a second line, RFC 5322)."""
    return re.sub(r"\r?\n[ \t]", " ", str(received.message[name])).strip()


def preference(user, field: str) -> bool:
    return getattr(accounts.email_preferences_get(user), field)


# --- Which emails a preference stops ------------------------------------------------------


def test_every_notification_and_event_kind_is_governed_by_a_preference():
    assert set(Notification.Kind.values) <= set(preferences.KIND_PREFERENCE)
    assert set(Event.Kind.values) <= set(preferences.EVENT_PREFERENCE)
    assert set(preferences.KIND_PREFERENCE.values()) == set(EmailPreferences.FIELDS)


def test_each_event_and_the_emails_it_yields_are_governed_by_the_same_preference():
    yields = {
        "auction_created": ["auction_created"],
        "bid_placed": ["new_bid", "outbid"],
        "auction_closed": ["auction_won", "auction_lost", "auction_ended_owner"],
        "auction_ending_soon": ["watch_reminder"],
    }
    for event_kind, kinds in yields.items():
        for kind in kinds:
            assert preferences.preference_for_kind(kind) == preferences.preference_for_event(
                event_kind
            )


def test_users_who_opted_out_of_announcements_get_no_outbox_row_for_a_new_auction(
    auction_create,
):
    ann, bob, cid = UserFactory(), UserFactory(), UserFactory()
    dan = EmailPreferencesFactory().user  # a row with every email on
    opt_out(ann, new_auction_announcements=False)
    opt_out(cid, outbid_notices=False, end_notices=False)  # other categories: still told

    auction_create(title="Lamp")

    assert recipients("auction_created") == {
        bob.username: "auction_created",
        cid.username: "auction_created",
        dan.username: "auction_created",
    }


def test_opting_out_of_outbid_notices_stops_bid_emails_but_not_the_end_ones(
    auction_create, frozen_clock
):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    opt_out(ann, outbid_notices=False)
    auction = auction_create(owner=owner)
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
    auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("105.00"))

    assert recipients("bid_placed") == {}  # ann was outbid, but asked not to hear of it

    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)
    assert recipients("auction_closed") == {
        owner.username: "auction_ended_owner",
        ann.username: "auction_lost",
        bob.username: "auction_won",
    }


def test_opting_out_of_end_notices_stops_every_end_email_but_not_bid_ones(
    auction_create, frozen_clock
):
    owner, ann, bob = UserFactory(), UserFactory(), UserFactory()
    opt_out(owner, end_notices=False)
    opt_out(bob, end_notices=False, new_auction_announcements=False)
    auction = auction_create(owner=owner)
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
    auctions.bid_place(auction.pk, bidder=bob, amount=Decimal("105.00"))
    assert recipients("bid_placed") == {ann.username: "outbid"}

    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)

    assert recipients("auction_closed") == {ann.username: "auction_lost"}


def test_turning_a_category_back_on_restores_the_emails(auction_create):
    ann = UserFactory()
    opt_out(ann, new_auction_announcements=False)
    opt_out(ann, new_auction_announcements=True)

    auction_create()

    assert recipients("auction_created") == {ann.username: "auction_created"}


# --- The link in the email ------------------------------------------------------------------


@pytest.fixture
def announcement(auction_create, mailbox):
    """Ann's email about a new auction, as the SMTP server received it."""
    ann = UserFactory(username="ann")
    auction_create(title="Clock")
    assert services.notification_deliver(expand_all("auction_created")) == 1
    [received] = mailbox.to(ann.email)
    return ann, received


def test_every_email_has_the_one_click_unsubscribe_headers(announcement, settings):
    ann, received = announcement
    url = preferences.unsubscribe_url(ann.pk, "new_auction_announcements")

    assert url.startswith(f"{settings.SITE_URL}/api/v1/unsubscribe/")
    assert header(received, "List-Unsubscribe") == f"<{url}>"
    assert header(received, "List-Unsubscribe-Post") == ONE_CLICK


def test_the_unsubscribe_link_is_in_the_text_and_the_html_part(announcement):
    ann, received = announcement
    url = preferences.unsubscribe_url(ann.pk, "new_auction_announcements")

    text = received.part("text/plain")
    assert f"To stop receiving new auction announcements: {url}" in text
    html = received.part("text/html")
    assert f'<a href="{url}">Unsubscribe</a> from new auction announcements' in html


def test_each_email_links_to_its_own_category(auction_create, frozen_clock, mailbox):
    owner, ann = UserFactory(), UserFactory()
    auction = auction_create(owner=owner)
    auctions.bid_place(auction.pk, bidder=ann, amount=Decimal("100.00"))
    frozen_clock.shift(3600)
    auctions.auction_close(auction.pk)
    services.notification_deliver(expand_all("auction_closed"))

    [won] = mailbox.to(ann.email)
    [token] = re.findall(r"/api/v1/unsubscribe/([^>]+)>", header(won, "List-Unsubscribe"))
    user, field = preferences.unsubscribe_token_read(token)
    assert (user, field) == (ann, "end_notices")


# --- Unsubscribing --------------------------------------------------------------------------


@pytest.fixture
def link(announcement) -> str:
    """The path of the unsubscribe link in Ann's email, taken from its header."""
    _ann, received = announcement
    return path_of(header(received, "List-Unsubscribe").strip("<>"))


def test_one_click_post_without_login_or_csrf_token_unsubscribes(announcement, link):
    ann, _ = announcement
    client = APIClient(enforce_csrf_checks=True)

    response = client.post(link, ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert response.json() == {
        "unsubscribed": "new_auction_announcements",
        "category": "new auction announcements",
    }
    assert preference(ann, "new_auction_announcements") is False
    assert preference(ann, "outbid_notices") is True  # only that category


def test_one_click_post_works_through_django_with_csrf_checks_on(announcement, link):
    ann, _ = announcement
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "a-stale-session"

    response = client.post(link + "/", ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert response.json()["unsubscribed"] == "new_auction_announcements"
    assert preference(ann, "new_auction_announcements") is False


def test_unsubscribing_twice_is_fine(announcement, link):
    ann, _ = announcement
    client = APIClient(enforce_csrf_checks=True)

    client.post(link, ONE_CLICK, content_type=FORM)
    response = client.post(link, ONE_CLICK, content_type=FORM)

    assert response.status_code == 200
    assert EmailPreferences.objects.filter(user=ann).count() == 1


def test_a_bad_bearer_token_does_not_get_in_the_way(announcement, link):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION="Bearer expired-long-ago")

    assert client.post(link, ONE_CLICK, content_type=FORM).status_code == 200


def test_once_unsubscribed_the_next_announcement_skips_the_user(announcement, link, auction_create):
    ann, _ = announcement
    APIClient().post(link, ONE_CLICK, content_type=FORM)
    bob = UserFactory()

    auction_create(title="Mirror")

    told = recipients("auction_created")
    assert bob.username in told
    assert ann.username not in told


def test_opening_the_link_shows_a_page_and_unsubscribes_nobody(announcement, link):
    ann, _ = announcement
    browser = Client(enforce_csrf_checks=True)

    response = browser.get(link, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "You will no longer receive new auction announcements by email" in page
    assert '<form method="post"' in page
    assert preference(ann, "new_auction_announcements") is True
    assert not EmailPreferences.objects.exists()


def test_opening_the_link_with_no_accept_header_shows_the_page_too(announcement, link):
    response = APIClient().get(link)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_opening_the_link_as_json_says_what_it_would_turn_off(announcement, link):
    ann, _ = announcement

    response = APIClient().get(link, HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json() == {
        "preference": "new_auction_announcements",
        "category": "new auction announcements",
    }
    assert preference(ann, "new_auction_announcements") is True


def test_the_pages_button_unsubscribes_and_answers_a_page(announcement, link):
    ann, _ = announcement
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(
        link, {"List-Unsubscribe": "One-Click"}, HTTP_ACCEPT="text/html,*/*;q=0.8"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "You will no longer receive new auction announcements" in response.content.decode()
    assert preference(ann, "new_auction_announcements") is False


def forged_tokens(user_id: int) -> list[str]:
    genuine = preferences.unsubscribe_token(user_id, "outbid_notices")
    signature = genuine.rsplit(":", 1)[1]
    other = preferences.unsubscribe_token(user_id + 1, "outbid_notices")
    return [
        "nonsense",
        genuine[:-1],  # cut short
        f"{other.rsplit(':', 1)[0]}:{signature}",  # another user's id, this signature
        signing.Signer(salt="another.purpose").sign_object([user_id, "outbid_notices"]),
        signing.Signer().sign_object([user_id, "outbid_notices"]),
        preferences.unsubscribe_token(user_id, "is_staff"),  # signed, not a preference
        preferences.unsubscribe_token(user_id + 1000, "outbid_notices"),  # no such user
        signing.Signer(salt=preferences.UNSUBSCRIBE_SALT).sign_object({"user": user_id}),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_mangled_token_is_400_invalid_token(method):
    ann = UserFactory()
    client = APIClient(enforce_csrf_checks=True)

    body = {"List-Unsubscribe": "One-Click"} if method == "post" else {}

    for token in forged_tokens(ann.pk):
        url = f"/api/v1/unsubscribe/{token}"
        response = getattr(client, method)(url, body, HTTP_ACCEPT="text/html")
        assert_problem(response, 400, "invalid_token")

    assert not EmailPreferences.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_on_the_link_are_405(method):
    ann = UserFactory()
    token = preferences.unsubscribe_token(ann.pk, "outbid_notices")

    response = getattr(APIClient(), method)(f"/api/v1/unsubscribe/{token}")

    assert_problem(response, 405, "method_not_allowed")
    assert not EmailPreferences.objects.exists()
