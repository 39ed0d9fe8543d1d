"""`Idempotency-Key`: a client may retry a create without creating anything twice.

How it works
------------
A client that sends `Idempotency-Key: <key>` with a request may send the very same request
again (after a timeout, a dropped connection) and is answered what the first was answered,
and nothing new is created. A view method opts in with `@idempotent`; when the header is
there, the whole request runs in one transaction:

1. insert the key row (user, key, scope = method and path, hash of the body) in a savepoint;
2. if the user already holds that key (the unique constraint fires), lock and read the row:
   - older than `IDEMPOTENCY_KEY_TTL`: forgotten; delete it and go on as new;
   - made for another operation or another body: 409 `idempotency_key_reused`;
   - with an answer: replay it (same status, same body, `Idempotent-Replayed: true`);
3. run the view: its service's `transaction.atomic()` nests as a savepoint, so the rows the
   service locks stay locked until this transaction commits (a few statements later), and
   its after-commit work (notifications) waits for this commit too;
4. store the answer in the key row and commit.

Only successful answers are stored. A view refuses by raising a domain error, which rolls
back the key row with everything else: after a 4xx the key is still free, and a retry is
evaluated afresh against the state of the moment.

Two requests with the same key at once never both run the view. On PostgreSQL the second
insert waits on the unique index until the first transaction ends, then fails (the first
committed: replay its answer) or succeeds (the first rolled back: run). On SQLite every
transaction starts with BEGIN IMMEDIATE, which serialises them. A transaction here takes
two locks, the key first and then whatever the service locks (an auction); nothing that
holds an auction's lock ever waits for a key, so the order cannot deadlock. A wait longer
than the database's lock timeout is a 503 `busy`, as for any lock.

Keys are per user: one user's key never matches another user's request. Without the header
none of this runs: no query, no extra transaction.
"""

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from common import clock
from common.errors import Busy, IdempotencyKeyInvalid, IdempotencyKeyReused
from common.models import IdempotencyKey

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
_KEY_FORM = re.compile(r"[\x20-\x7e]{1,255}")  # printable ASCII, as the column holds it
_REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    pattern="^[ -~]{1,255}$",
    description=(
        "Optional: 1 to 255 printable ASCII characters, a new one for each operation "
        "(a UUID is a good choice). A retry with the same key and the same body within 24 "
        "hours gets the first answer again, same status and body, with "
        "`Idempotent-Replayed: true`, and creates nothing new; a retry sent while the first "
        "request is still running waits for it. The same key with another body or on "
        "another operation is a 409 `idempotency_key_reused`. Keys belong to the user who "
        "sent them and are forgotten after 24 hours. Only a successful answer (201) is "
        "kept: after an error (a 4xx such as `bid_too_low`, a 503 `busy`) nothing was done, "
        "the key is still free, and a retry with it is evaluated afresh."
    ),
)
IDEMPOTENT_REPLAYED_HEADER = OpenApiParameter(
    _REPLAYED_HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    enum=["true"],
    response=[201],
    description="Present on a replayed answer: an earlier request with the same "
    "`Idempotency-Key` made it, and this one created nothing.",
)
# For the 409 of an operation's documented answers.
IDEMPOTENCY_KEY_REUSED = (
    "`idempotency_key_reused`: the `Idempotency-Key` was used before for another body or "
    "another operation."
)


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate a DRF view method (a POST that creates) to honour `Idempotency-Key`.

    Runs after authentication and permissions, so the user is known. Without the header the
    method runs exactly as undecorated.
    """

    @functools.wraps(view_method)
    def wrapper(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _key_read(request)
        # Anonymous writes are refused before a view method runs; were one let through, its
        # key could belong to nobody, so it would simply run.
        if key is None or not request.user.is_authenticated:
            return view_method(self, request, *args, **kwargs)
        return idempotent_response(
            request, key=key, produce=lambda: view_method(self, request, *args, **kwargs)
        )

    return wrapper


def idempotent_response(request: Request, *, key: str, produce: Callable[[], Response]) -> Response:
    """The answer of `produce()` for this request, or the stored answer of its first try.

    Transaction: one, around the key's insert (or lock), `produce()` (whose own transactions
    nest as savepoints) and the storing of its answer. A `produce()` that raises rolls back
    all of it, the key included. Locks the user's key row; the service may lock more.
    Raises `IdempotencyKeyReused` (409) when the key was used for another request.
    """
    scope = f"{request.method} {request.path.rstrip('/')}"
    # Parsing the body may fail (400, 415): it happens before anything is written.
    request_hash = _request_hash(request.data)
    with transaction.atomic():
        row, replay = _idempotency_key_claim(
            user=request.user, key=key, scope=scope, request_hash=request_hash
        )
        if replay is not None:
            return replay
        response = produce()
        if 200 <= response.status_code < 300:
            row.response_status = response.status_code
            # Through DRF's encoder, as the renderer will write it (a Decimal as the
            # renderer would, a datetime as ISO 8601), so a replay renders the same bytes.
            row.response_body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False)
            row.save(update_fields=["response_status", "response_body"])
        else:
            # An error answer returned rather than raised: keep the key free, as for one raised.
            row.delete()
    return response


def idempotency_keys_purge() -> int:
    """Delete the keys older than `IDEMPOTENCY_KEY_TTL`; returns how many.

    Transaction: one statement. Locks nothing beyond the rows it deletes. Idempotent. Only
    housekeeping: an expired key is ignored when met, purged or not.
    """
    deleted, _ = IdempotencyKey.objects.filter(
        created_at__lte=clock.now() - IDEMPOTENCY_KEY_TTL
    ).delete()
    return deleted


def _key_read(request: Request) -> str | None:
    """The request's `Idempotency-Key`, None without one; a malformed key is a 400."""
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is not None and not _KEY_FORM.fullmatch(key):
        message = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
        raise IdempotencyKeyInvalid(message, errors={"Idempotency-Key": [message]})
    return key


def _request_hash(data: Any) -> str:
    """sha256 of the body as canonical JSON (sorted keys; a Decimal as its string)."""
    canonical = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _idempotency_key_claim(
    *, user: AbstractBaseUser, key: str, scope: str, request_hash: str
) -> tuple[IdempotencyKey, Response | None]:
    """The user's key row for this request, with the answer to replay if it has one.

    Must run inside the request's transaction: the row (new, or locked) is held until the
    answer is stored. Raises `IdempotencyKeyReused` for a key made for another request.
    """
    # Each round either returns or finds the key gone (forgotten by us or another request,
    # or purged) and tries again: in practice a second round is the most ever needed.
    for _ in range(3):
        try:
            with transaction.atomic():  # a savepoint: the failed insert is undone alone
                row = IdempotencyKey.objects.create(
                    user=user, key=key, scope=scope, request_hash=request_hash
                )
            return row, None
        except IntegrityError:
            pass  # the user holds this key already (committed: any earlier holder has ended)
        row = IdempotencyKey.objects.select_for_update().filter(user=user, key=key).first()
        if row is None:
            continue  # deleted since the insert failed
        if row.created_at <= clock.now() - IDEMPOTENCY_KEY_TTL:
            row.delete()  # forgotten: this request is a new one
            continue
        if row.scope != scope or row.request_hash != request_hash:
            raise IdempotencyKeyReused(
                f"The Idempotency-Key {key!r} was used for another request "
                "(a different body or operation); use a new key for a new request."
            )
        if row.response_status is None:
            # Never committed this way (the key and its answer commit together); should one
            # be found, the request it was for did not finish, so this one runs.
            return row, None
        return row, _replay(row)
    raise Busy("The idempotency key is changing hands; retry shortly.")


def _replay(row: IdempotencyKey) -> Response:
    response = Response(json.loads(row.response_body), status=row.response_status)
    response[_REPLAYED_HEADER] = "true"
    return response
