"""Accounts and tokens: every write about a user or a token goes through this module.

Tokens are django-oauth-toolkit rows (`AccessToken` + `RefreshToken`) of one first-party
`Application`, so the API's `OAuth2Authentication`, `/o/introspect/` and `/o/revoke_token/`
all see them. The service mints them itself instead of running the password grant through
oauthlib: the first-party client has no secret to present, and the login throttle and the
problem+json errors live in front of this module, not inside oauthlib.

The rules mirror django-oauth-toolkit's, so a token behaves the same whichever door it
came through: a refresh token is good for `REFRESH_TOKEN_EXPIRE_SECONDS` after its access
token expires; using it revokes it and its access token (rotation), and the new pair joins
its token family; revoking either token of a pair kills both.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
    revoke_access_token,
    set_token_value,
)
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import generate_token

from accounts import selectors
from accounts.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidToken,
    UsernameTaken,
    WeakPassword,
)
from accounts.models import EmailPreferences
from accounts.throttling import login_attempt_check, login_failure_record, login_success_record
from common import clock

User = get_user_model()
Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()

FIRST_PARTY_CLIENT_ID = "auction-first-party"
TOKEN_SCOPE = "read write"
TOKEN_TYPE = "Bearer"


@dataclass(frozen=True)
class TokenPair:
    """What a client keeps after logging in: the raw tokens (the database has checksums)."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


# --- Users --------------------------------------------------------------------------------


def user_register(*, username: str, email: str, password: str) -> AbstractUser:
    """Create an active user after checking that the username and the email are free
    (both compared case-insensitively) and that the password passes Django's validators.

    Transaction: one transaction of its own (a savepoint inside the caller's). The check
    is a read, so two concurrent registrations may both pass it; the case-insensitive
    unique indexes on `auth_user` (migration 0001) then stop the second insert, and its
    IntegrityError is answered like the check would have: `UsernameTaken` / `EmailTaken`.
    Raises `WeakPassword` with the validators' messages. Not idempotent.
    """
    email = User.objects.normalize_email(email)
    _password_validate(password, username=username, email=email)
    try:
        with transaction.atomic():
            _user_identity_check_free(username=username, email=email)
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        # The race was lost: the winner is committed by now, so the check names it.
        _user_identity_check_free(username=username, email=email)
        raise


def user_authenticate(
    *, username: str, password: str, client_address: str, request: HttpRequest | None = None
) -> AbstractUser:
    """The active user with these credentials, or `InvalidCredentials`; every door that
    checks a password (the API's login, the admin's, `/o/token/`'s password grant) calls
    this. A success marks the client address as known for the account, which exempts it
    from the address's limit and, mostly, from the account's (`accounts.throttling`).

    Failed logins are limited per client address and per account (`accounts.throttling`):
    when a limit refuses the attempt, `LoginThrottled` is raised and the password is not
    checked; a failure is counted before `InvalidCredentials` is raised. Unknown username,
    wrong password and inactive account all give the same error, and Django's backend
    hashes a password even for an unknown username, so neither the answer nor its timing
    tells which. No transaction (the counters live in the cache).
    """
    login_attempt_check(username=username, address=client_address)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        login_failure_record(username=username, address=client_address)
        raise InvalidCredentials()
    login_success_record(username=username, address=client_address)
    return user


def _password_validate(password: str, *, username: str, email: str) -> None:
    # The validators compare the password with the user's attributes, so they get an
    # unsaved user carrying what will be saved.
    try:
        password_validation.validate_password(password, user=User(username=username, email=email))
    except ValidationError as exc:
        raise WeakPassword(exc.messages[0], errors={"password": list(exc.messages)}) from exc


def _user_identity_check_free(*, username: str, email: str) -> None:
    if selectors.user_username_is_taken(username):
        raise UsernameTaken(
            f"The username {username!r} is already taken.",
            errors={"username": ["A user with that username already exists."]},
        )
    if selectors.user_email_is_taken(email):
        raise EmailTaken(
            "The email address is already registered.",
            errors={"email": ["A user with that email address already exists."]},
        )


# --- Tokens -------------------------------------------------------------------------------


def token_issue(user: AbstractUser) -> TokenPair:
    """Mint a new access + refresh token pair for `user` (a login), in a new token family.

    Transaction: one transaction of its own (a savepoint inside the caller's); it writes
    two rows and locks nothing. Each call makes a new pair; earlier pairs keep working.
    """
    with transaction.atomic():
        return _token_pair_create(user, previous=None)


def token_refresh(refresh_token: str) -> TokenPair:
    """Exchange a live first-party refresh token for a new pair (rotation).

    The presented refresh token is revoked and its access token deleted, so neither works
    again. Raises `InvalidToken` when the token is unknown, revoked, already used, expired,
    orphaned, belongs to another application or to an inactive user. When
    `REFRESH_TOKEN_REUSE_PROTECTION` is on, replaying a used token also revokes its whole
    family, as `/o/token/` does.

    Transaction: one transaction; locks the refresh token's row, so of two concurrent
    refreshes with the same token exactly one succeeds. A family revocation runs after
    that transaction, in its own (it must survive the `InvalidToken` that follows), so a
    caller should not wrap this in a transaction of its own. Not idempotent by design.
    """
    with transaction.atomic():
        previous = (
            RefreshToken.objects.select_for_update(of=("self",))
            .select_related("access_token", "user")
            .filter(
                token_checksum=_checksum(refresh_token),
                application=_first_party_application(),
            )
            # Several rows may share a checksum once revoked; a live one comes first.
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        if previous is None:
            raise InvalidToken()
        if previous.revoked is None:
            if not _refresh_token_is_live(previous) or not previous.user.is_active:
                raise InvalidToken()
            previous.revoke()  # marks it revoked and deletes its access token
            return _token_pair_create(previous.user, previous=previous)

    # A used or revoked refresh token came back: someone may be replaying a stolen one.
    if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
        RefreshToken.revoke_family(previous.token_family)
    raise InvalidToken()


def token_revoke(token: str) -> None:
    """Revoke an access token or a refresh token at once (RFC 7009 semantics).

    Either token takes its partner with it: revoking an access token revokes the refresh
    token bound to it, and revoking a refresh token deletes its access token. Holding the
    token is the only proof asked for, whatever application it belongs to. An unknown or
    already revoked token is not an error.

    Transaction: one transaction; locks the refresh token's row while revoking it.
    Idempotent.
    """
    checksum = _checksum(token)
    with transaction.atomic():
        access_token = AccessToken.objects.filter(token_checksum=checksum).first()
        if access_token is not None:
            revoke_access_token(access_token)
        for refresh in RefreshToken.objects.filter(token_checksum=checksum, revoked__isnull=True):
            refresh.revoke()


def _first_party_application():
    """The application of every token this module mints (created by migration 0002).

    Created here too when missing: a transactional test flushes the tables, data
    migrations included, and the service must not depend on which test ran before.
    """
    application, _ = Application.objects.get_or_create(
        client_id=FIRST_PARTY_CLIENT_ID,
        defaults={
            "name": "Auction service (first party)",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "client_secret": "",
            "hash_client_secret": False,
            "skip_authorization": True,
            "algorithm": Application.NO_ALGORITHM,
        },
    )
    return application


def _token_pair_create(user: AbstractUser, *, previous) -> TokenPair:
    """Insert an access token and its refresh token. The caller holds a transaction."""
    expires_in = int(oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS)
    application = _first_party_application()
    raw_access, raw_refresh = generate_token(), generate_token()

    access = AccessToken(
        user=user,
        application=application,
        expires=clock.now() + timedelta(seconds=expires_in),
        scope=TOKEN_SCOPE,
        # Marks `previous` as consumed by rotation, which is how django-oauth-toolkit
        # tells a replayed refresh token from a revoked one.
        source_refresh_token=previous,
    )
    # set_token_value stores the raw token or only its checksum, as DOT is configured.
    set_token_value(access, raw_access)
    access.save()

    refresh = RefreshToken(
        user=user,
        application=application,
        access_token=access,
        token_family=previous.token_family if previous else uuid.uuid4(),
    )
    set_token_value(refresh, raw_refresh)
    refresh.save()

    return TokenPair(
        access_token=raw_access,
        refresh_token=raw_refresh,
        token_type=TOKEN_TYPE,
        expires_in=expires_in,
    )


def _refresh_token_is_live(refresh) -> bool:
    # Same rule as django-oauth-toolkit's validate_refresh_token: an unrevoked refresh
    # token without its access token is an orphan, and the refresh token dies
    # REFRESH_TOKEN_EXPIRE_SECONDS after its access token expires.
    if refresh.access_token is None:
        return False
    lifetime = refresh_token_expire_timedelta()
    return not lifetime or clock.now() < refresh.access_token.expires + lifetime


def _checksum(token: str) -> str:
    # Tokens are looked up by the SHA-256 that django-oauth-toolkit stores beside them.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- Email preferences --------------------------------------------------------------------


def email_preferences_get(user: AbstractUser) -> EmailPreferences:
    """The user's email preferences. A user who never changed them has no row: the answer
    is then an unsaved `EmailPreferences` with every email on. Reads only; no transaction.
    """
    return EmailPreferences.objects.filter(user=user).first() or EmailPreferences(user=user)


def email_preferences_update(user: AbstractUser, **changes: bool) -> EmailPreferences:
    """Set any of the user's email preferences (`EmailPreferences.FIELDS`); the others keep
    their value. The row is created on the first change, never before.

    Transaction: one (a savepoint inside the caller's); locks the user's preferences row
    (`update_or_create`, which also settles two concurrent first changes to one row).
    Idempotent. No change at all writes nothing.
    """
    unknown = set(changes) - set(EmailPreferences.FIELDS)
    if unknown:
        raise TypeError(f"Not an email preference: {', '.join(sorted(unknown))}")
    if not changes:
        return email_preferences_get(user)
    preferences, _ = EmailPreferences.objects.update_or_create(
        user=user, defaults={**changes, "updated_at": clock.now()}
    )
    return preferences


def tokens_expired_purge() -> None:
    """Delete expired OAuth tokens: django-oauth-toolkit's `clear_expired` (expired access
    tokens, refresh tokens REFRESH_TOKEN_EXPIRE_SECONDS after their access token expired,
    revoked ones, expired grants), CLEAR_EXPIRED_TOKENS_BATCH_SIZE rows per statement.
    Idempotent."""
    from oauth2_provider.models import clear_expired  # here: the imports above change often

    clear_expired()
