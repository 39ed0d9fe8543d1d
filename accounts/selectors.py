"""Reads about users that more than one place asks."""

from django.contrib.auth import get_user_model

User = get_user_model()


def user_username_is_taken(username: str, *, exclude_pk: int | None = None) -> bool:
    """Whether another user has this username, whatever its case."""
    return User.objects.filter(username__iexact=username).exclude(pk=exclude_pk).exists()


def user_email_is_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    """Whether another user has this email address, whatever its case. Blank is never taken
    (the unique index leaves blank emails out too)."""
    if not email:
        return False
    return User.objects.filter(email__iexact=email).exclude(pk=exclude_pk).exists()
