"""What each notification says: its kind for a given recipient, its subject, its message.

One message per recipient, plain text and HTML, rendered from
`templates/notifications/<kind>.txt|.html`. The Message-ID is derived from the
notification's id, so a message sent twice after a crash is recognisably the same one.
Every message carries a one-click unsubscribe link for its category of email, in its text
and in `List-Unsubscribe` headers (RFC 2369, RFC 8058); see `preferences.py`.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils.html import escape

from notifications import preferences
from notifications.models import Event, Notification

Kind = Notification.Kind


def notification_kind(event: Event, user_id: int) -> str:
    """Which message `user_id` gets about `event`."""
    if event.kind == Event.Kind.AUCTION_CREATED:
        return Kind.AUCTION_CREATED
    if event.kind == Event.Kind.BID_PLACED:
        # Outbid: led before the incoming bid and not after it (a proxy may have defended).
        payload = event.payload
        was_leading = payload.get("previous_leader_id") == user_id
        still_leading = payload.get("leader_id", payload.get("bidder_id")) == user_id
        return Kind.OUTBID if was_leading and not still_leading else Kind.NEW_BID
    if event.kind == Event.Kind.AUCTION_ENDING_SOON:
        return Kind.WATCH_REMINDER  # the owner watching their own auction gets the same
    if user_id == event.auction.owner_id:
        return Kind.AUCTION_ENDED_OWNER
    return Kind.AUCTION_WON if event.payload.get("winner_id") == user_id else Kind.AUCTION_LOST


def subject(kind: str, event: Event) -> str:
    """The subject line; every one names the auction's title."""
    title = event.auction.title
    currency = event.auction.currency
    payload = event.payload
    subjects = {
        Kind.AUCTION_CREATED: f"New auction: {title}",
        Kind.NEW_BID: f"New bid on {title}: {payload.get('amount')} {currency}",
        Kind.OUTBID: f"You were outbid on {title}: now {payload.get('amount')} {currency}",
        Kind.AUCTION_WON: f"You won {title} for {payload.get('final_price')} {currency}",
        Kind.AUCTION_LOST: f"Auction ended: {title}",
        Kind.AUCTION_ENDED_OWNER: _owner_subject(title, currency, payload),
        Kind.WATCH_REMINDER: f"Ending soon: {title}",
    }
    text = subjects[kind]
    return text if len(text) <= 255 else text[:254] + "…"


def _owner_subject(title: str, currency: str, payload: dict) -> str:
    if payload.get("winner"):
        return (
            f"Your auction {title} sold to {payload['winner']} "
            f"for {payload.get('final_price')} {currency}"
        )
    if payload.get("reserve_not_met"):
        return f"Your auction {title} ended below its reserve price"
    return f"Your auction {title} ended with no bids"


def auction_url(auction_id: int) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/api/v1/auctions/{auction_id}"


# Stand-ins for what differs between the recipients of one (event, kind): the bodies are
# rendered once with these, then each recipient's values are put in their place. Random,
# so that no auction title or description can contain them.
_NAME = f"rcpt{secrets.token_hex(8)}name"
_UNSUBSCRIBE = f"rcpt{secrets.token_hex(8)}unsub"


def _bodies(notification: Notification) -> tuple[str, str]:
    """The plain-text and HTML bodies for this notification's (event, kind), rendered with
    stand-ins for the recipient's name and unsubscribe link."""
    event = notification.event
    preference = preferences.preference_for_kind(notification.kind)
    context = {
        "recipient": {"username": _NAME},
        "auction": event.auction,
        "event": event,
        "payload": event.payload,
        "auction_url": auction_url(event.auction_id),
        "subject": notification.subject,
        "unsubscribe_url": _UNSUBSCRIBE,
        "unsubscribe_category": preferences.preference_label(preference),
    }
    template = f"notifications/{notification.kind}"
    return (
        render_to_string(f"{template}.txt", context),
        render_to_string(f"{template}.html", context),
    )


def message(
    notification: Notification, *, connection=None, rendered: dict | None = None
) -> EmailMultiAlternatives:
    """The email for one notification, addressed to its recipient alone.

    `rendered`, a dict the caller keeps for one delivery run, holds the bodies of each
    (event, kind) already rendered, so that a batch of 500 announcements renders its
    templates once, not 500 times.
    """
    key = (notification.event_id, notification.kind)
    bodies = rendered.get(key) if rendered is not None else None
    if bodies is None:
        bodies = _bodies(notification)
        if rendered is not None:
            rendered[key] = bodies
    preference = preferences.preference_for_kind(notification.kind)
    unsubscribe_url = preferences.unsubscribe_url(notification.recipient_id, preference)
    name = notification.recipient.username
    text = bodies[0].replace(_NAME, name).replace(_UNSUBSCRIBE, unsubscribe_url)
    html = bodies[1].replace(_NAME, escape(name)).replace(_UNSUBSCRIBE, escape(unsubscribe_url))
    email = EmailMultiAlternatives(
        subject=notification.subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        connection=connection,
        headers={
            "Message-ID": f"<notification-{notification.pk}@{_mail_domain()}>",
            # RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click` to it.
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(html, "text/html")
    return email


def _mail_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"
