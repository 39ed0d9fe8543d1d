"""Which email preference governs which email, and the signed one-click unsubscribe links.

Every email belongs to one category a user may turn off (`accounts.models.EmailPreferences`,
one boolean field per category). The two tables below are the only place that says which:
by event kind, for who is left out when an event is expanded
(`selectors.event_recipients`), and by notification kind, for which unsubscribe link an
email carries (`emails.message`). They agree: every notification kind an event yields is
governed by that event's preference, and a test checks it.

Opting out is honoured at expansion: an opted-out user gets no outbox row at all, so no
email. A notification expanded before the opt-out (usually a second or less before) is
still delivered: delivery stays a plain function of the outbox row.

The unsubscribe link carries a token signed with SECRET_KEY (and a salt of its own, so no
other signed value of the project is ever accepted as one) that names one user and one
preference. Whoever holds the link may turn that one category off for that one user, and
nothing else; turning it back on takes the user's own token (`PATCH /api/v1/me/preferences`).
The token never expires: a link in an old email must keep working.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core import signing
from django.urls import reverse

from accounts.models import EmailPreferences
from notifications.errors import InvalidUnsubscribeToken
from notifications.models import Event, Notification

Kind = Notification.Kind

# Event kind -> the preference that decides who hears of it at all.
EVENT_PREFERENCE: dict[str, str] = {
    Event.Kind.AUCTION_CREATED: "new_auction_announcements",
    Event.Kind.BID_PLACED: "outbid_notices",
    Event.Kind.AUCTION_CLOSED: "end_notices",
    "auction_ending_soon": "watch_reminders",  # the watchlist's reminder
}

# Notification kind -> the preference an email of that kind can be unsubscribed from.
KIND_PREFERENCE: dict[str, str] = {
    Kind.AUCTION_CREATED: "new_auction_announcements",
    Kind.NEW_BID: "outbid_notices",
    Kind.OUTBID: "outbid_notices",
    Kind.AUCTION_WON: "end_notices",
    Kind.AUCTION_LOST: "end_notices",
    Kind.AUCTION_ENDED_OWNER: "end_notices",
    "watch_reminder": "watch_reminders",  # the watchlist's reminder
}

UNSUBSCRIBE_SALT = "auction.unsubscribe"


def preference_for_event(event_kind: str) -> str:
    """The preference field that governs every email about an event of this kind."""
    try:
        return EVENT_PREFERENCE[event_kind]
    except KeyError:
        raise LookupError(f"No email preference governs events of kind {event_kind!r}") from None


def preference_for_kind(kind: str) -> str:
    """The preference field that governs emails of this notification kind."""
    try:
        return KIND_PREFERENCE[kind]
    except KeyError:
        raise LookupError(f"No email preference governs {kind!r} emails") from None


def preference_label(field: str) -> str:
    """What the emails and the unsubscribe page call a category ("auction end notices")."""
    return str(EmailPreferences._meta.get_field(field).verbose_name)


def unsubscribe_token(user_id: int, field: str) -> str:
    """A signed token naming one user and one preference field. Deterministic."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object([user_id, field])


def unsubscribe_token_read(token: str) -> tuple[AbstractUser, str]:
    """The user and the preference field a token names, or `InvalidUnsubscribeToken` when
    it was not made by `unsubscribe_token` (or its user is gone). Reads only."""
    try:
        user_id, field = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise InvalidUnsubscribeToken() from None
    user = get_user_model().objects.filter(pk=user_id).first() if type(user_id) is int else None
    if user is None or field not in EmailPreferences.FIELDS:
        raise InvalidUnsubscribeToken()
    return user, field


def unsubscribe_url(user_id: int, field: str) -> str:
    """The absolute one-click unsubscribe link (GET: a confirmation page; POST: done)."""
    return unsubscribe_url_maker(field)(user_id)


def unsubscribe_url_maker(field: str) -> Callable[[int], str]:
    """`user_id -> unsubscribe_url(user_id, field)`, for many users at once: the URL is
    reversed and the signer made once, not for each of the thousands of emails of a
    fan-out. (A token is made of URL-safe base64 and ":", which `reverse` writes as they
    are, so putting it in place of a stand-in gives the very URL `reverse` would.)"""
    signer = signing.Signer(salt=UNSUBSCRIBE_SALT)
    stand_in = "unsubscribe-token"
    path = reverse("unsubscribe", args=[stand_in])
    prefix, suffix = f"{settings.SITE_URL.rstrip('/')}{path}".split(stand_in)

    def make(user_id: int) -> str:
        return f"{prefix}{signer.sign_object([user_id, field])}{suffix}"

    return make
