"""What each notification says: its kind for a given recipient, its subject, its message.

One message per recipient, plain text and HTML, rendered from
`templates/notifications/<kind>.txt|.html`. The Message-ID is derived from the
notification's id, so a message sent twice after a crash is recognisably the same one.
Every message carries a one-click unsubscribe link for its category of email, in its text
and in `List-Unsubscribe` headers (RFC 2369, RFC 8058); see `preferences.py`.

Each (event, kind) is drafted once per delivery run: templates rendered with stand-ins for
the recipient, constant headers serialised. For SMTP, `message_bytes` then writes each
recipient's message by hand from the draft; `message` builds the same email as a Django
message object for every other email backend.
"""

import binascii
import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.utils import formatdate
from io import BytesIO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import BadHeaderError, forbid_multi_line_headers, sanitize_address
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
    text = header_text(subjects[kind])
    return text if len(text) <= 255 else text[:254] + "…"


# Characters that must never reach a header: control characters (CR and LF, but also those
# on which Python's header folding splits a line: \x0b \x0c \x1c-\x1e \x85) and the
# Unicode line and paragraph separators. The API refuses them in new text; rows written
# before it did are made harmless here, when their headers are built.
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """`value` with every run of characters that could start a header line of its own
    replaced by one space: safe for a Subject built from user text."""
    return _UNSAFE_IN_HEADER.sub(" ", value)


def header_address(address: str) -> str:
    """The recipient's address, refused (BadHeaderError) if it holds a character that could
    start a header line: an address cannot be repaired without mailing someone else."""
    if _UNSAFE_IN_HEADER.search(address):
        raise BadHeaderError(f"Recipient address with a control character: {address!r}")
    return address


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

# Addresses the fast path writes as they are: an ASCII dot-atom local part and an ASCII
# host name, which Django's `sanitize_address` would return unchanged. Anything else (a
# quoted local part, an internationalised address) goes through Django's message.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_NEWLINES = re.compile(r"\r\n?")
_LINE_LIMIT = 998  # RFC 5322: no line longer than this, without its CRLF
_FOLD_AT = 78  # RFC 5322: headers should fold before this


@dataclass(frozen=True)
class _Draft:
    """What every recipient of one (event, kind) shares: the bodies, rendered once with
    stand-ins for the recipient's name and unsubscribe link (newlines as "\\n"), and the
    message's constant headers, serialised once by the standard library."""

    text: str
    html: str
    unsubscribe_url: Callable[[int], str]  # user id -> the link for this kind of email
    head: bytes  # Content-Type (with the boundary), MIME-Version, Subject, From
    boundary: bytes
    envelope_from: str
    message_id_domain: str


@dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP: its envelope and its bytes (CRLF line endings)."""

    envelope_from: str
    recipient: str
    data: bytes


def _draft(notification: Notification, rendered: dict | None) -> _Draft:
    """Render the notification's templates with stand-ins for the recipient, and serialise
    the headers every recipient of its (event, kind) shares."""
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
    text = _NEWLINES.sub("\n", render_to_string(f"{template}.txt", context))
    html = _NEWLINES.sub("\n", render_to_string(f"{template}.html", context))
    # The boundary may occur in no part: "=_" never starts a quoted-printable escape,
    # and the random rest is checked against each recipient's bodies (`message_bytes`).
    boundary = f"=_{secrets.token_hex(16)}"
    envelope_from, from_header = _sender(settings.DEFAULT_FROM_EMAIL)
    head = b"".join(
        (
            b'Content-Type: multipart/alternative;\r\n boundary="%s"\r\n' % boundary.encode(),
            b"MIME-Version: 1.0\r\n",
            _header_lines("Subject", notification.subject),
            from_header,
        )
    )
    return _Draft(
        text=text,
        html=html,
        unsubscribe_url=_unsubscribe_url_maker(preference, rendered),
        head=head,
        boundary=boundary.encode(),
        envelope_from=envelope_from,
        message_id_domain=_mail_domain(),
    )


def _unsubscribe_url_maker(preference: str, rendered: dict | None) -> Callable[[int], str]:
    """The run's maker of unsubscribe links for `preference`: the end emails of a burst of
    closed auctions are one draft each, and reversing the URL for each costs more than
    the rest of the draft's headers."""
    key = ("unsubscribe", preference)
    maker = rendered.get(key) if rendered is not None else None
    if maker is None:
        maker = preferences.unsubscribe_url_maker(preference)
        if rendered is not None:
            rendered[key] = maker
    return maker


def _header_lines(name: str, value: str) -> bytes:
    """One header exactly as Django writes it (RFC 2047 words for non-ASCII text, folded at
    78 characters), serialised by the standard library: CRLF-terminated lines."""
    value = header_text(value)
    line = f"{name}: {value}"
    if value.isascii() and value.isprintable() and len(line) <= _FOLD_AT and value == value.strip():
        return f"{line}\r\n".encode()  # what the library writes too, without its cost
    headers = Message()
    headers[name] = forbid_multi_line_headers(name, value, "utf-8")[1]
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False).flatten(headers, linesep="\r\n")
    return buffer.getvalue().removesuffix(b"\r\n")  # the blank line that ends the headers


@functools.lru_cache(maxsize=4)
def _sender(from_email: str) -> tuple[str, bytes]:
    """The envelope sender and the From header of `from_email`, worked out once."""
    return sanitize_address(from_email, "utf-8"), _header_lines("From", from_email)


def _draft_for(notification: Notification, rendered: dict | None) -> _Draft:
    """The draft of this notification's (event, kind), from `rendered` when it has it."""
    key = (notification.event_id, notification.kind, notification.subject)
    draft = rendered.get(key) if rendered is not None else None
    if draft is None:
        draft = _draft(notification, rendered)
        if rendered is not None:
            rendered[key] = draft
    return draft


def _bodies(notification: Notification, draft: _Draft) -> tuple[str, str, str]:
    """The recipient's plain-text and HTML bodies, and their unsubscribe link."""
    unsubscribe_url = draft.unsubscribe_url(notification.recipient_id)
    name = notification.recipient.username
    text = draft.text.replace(_NAME, name).replace(_UNSUBSCRIBE, unsubscribe_url)
    html = draft.html.replace(_NAME, escape(name)).replace(_UNSUBSCRIBE, escape(unsubscribe_url))
    return text, html, unsubscribe_url


def message(
    notification: Notification, *, connection=None, rendered: dict | None = None
) -> EmailMultiAlternatives:
    """The email for one notification, addressed to its recipient alone, as a Django
    message: what every email backend accepts (files in development, memory in tests).

    `rendered`, a dict the caller keeps for one delivery run, holds the drafts of each
    (event, kind) already rendered, so that a batch of 500 announcements renders its
    templates once, not 500 times.
    """
    draft = _draft_for(notification, rendered)
    text, html, unsubscribe_url = _bodies(notification, draft)
    email = EmailMultiAlternatives(
        subject=header_text(notification.subject),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[header_address(notification.recipient.email)],
        connection=connection,
        headers={
            "Message-ID": _message_id(notification, draft),
            # RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click` to it.
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(html, "text/html")
    return email


def message_bytes(notification: Notification, *, rendered: dict | None = None) -> Outgoing | None:
    """The same email as `message`, serialised for SMTP without the `email` package's
    generator: the constant headers come from the draft, the recipient's own headers (To,
    Date, Message-ID, List-Unsubscribe) and parts are joined by hand, each part in 7bit,
    8bit or, when a line is too long for SMTP, quoted-printable, as Django would choose.

    Why: generating a message with `email.generator` costs more than everything else of
    a delivery (about 1.7 ms a message), and a fan-out sends thousands of nearly identical
    messages. Returns None when the recipient's address is not a plain ASCII address:
    the caller then sends `message(...)`, which knows how to encode any address.
    """
    address = notification.recipient.email
    if not _PLAIN_ADDRESS.fullmatch(address):
        return None
    draft = _draft_for(notification, rendered)
    text, html, unsubscribe_url = _bodies(notification, draft)
    boundary = draft.boundary
    text_part, html_part = _part(b"plain", text), _part(b"html", html)
    if boundary in text_part or boundary in html_part:
        return None  # cannot happen with a random boundary; Django's message then
    unsubscribe = f"List-Unsubscribe: <{unsubscribe_url}>"
    if len(unsubscribe) > _FOLD_AT:
        unsubscribe = f"List-Unsubscribe:\r\n <{unsubscribe_url}>"
    headers = (
        f"To: {address}\r\n"
        f"Date: {formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}\r\n"
        f"Message-ID: {_message_id(notification, draft)}\r\n"
        f"{unsubscribe}\r\n"
        # RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click` to it.
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        "\r\n"
    ).encode()
    data = b"".join(
        (
            draft.head,
            headers,
            b"--%s\r\n%s\r\n--%s\r\n%s\r\n--%s--\r\n"
            % (boundary, text_part, boundary, html_part, boundary),
        )
    )
    return Outgoing(envelope_from=draft.envelope_from, recipient=address, data=data)


def _part(subtype: bytes, body: str) -> bytes:
    """One text part (headers and body, CRLF line endings), encoded as Django's
    `SafeMIMEText` encodes it: as it is (7bit or 8bit) unless a line is longer than SMTP
    allows, then quoted-printable, which shortens long lines."""
    data = body.encode()
    if len(data) > _LINE_LIMIT and max(map(len, data.split(b"\n"))) > _LINE_LIMIT:
        encoding = b"quoted-printable"
        data = binascii.b2a_qp(data.replace(b"\n", b"\r\n"), istext=True)
    else:
        encoding = b"7bit" if data.isascii() else b"8bit"
        data = data.replace(b"\n", b"\r\n")
    return b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n\r\n%s' % (
        subtype,
        encoding,
        data,
    )


def _message_id(notification: Notification, draft: _Draft) -> str:
    return f"<notification-{notification.pk}@{draft.message_id_domain}>"


def _mail_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"
