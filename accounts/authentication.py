"""Bearer tokens for the API: django-oauth-toolkit's access tokens, checked in one query.

DOT's own DRF authentication runs every request through oauthlib's full request validation
(several milliseconds per request on a small machine); for the one thing the API accepts,
`Authorization: Bearer <token>`, this does the same checks directly: the token exists
(revoked tokens are deleted), has not expired, and its user is still active. Anything
unusual (a resource-restricted token, a token elsewhere than the header) goes through
DOT's full path. The query is compiled once per process (`common.prepared`): it runs on
every authenticated request.

A view may ask for one more row to be read in the same round trip as the token
(`read_with_token`); placing a bid reads its auction that way.

Whichever path a token takes, two rules are checked here, after it is found, so that no
view can forget them:
- its user must still be active (a token without a user, or of a deactivated user, is
  treated like an invalid token: the request goes on as anonymous, so writes get 401);
- its scopes must cover the method: `read` for the safe methods, `write` for the others
  (`InsufficientScope`, 403). A method the view does not implement is left to the view's
  405. The API's own logins issue `read write`; a third-party application gets what it
  asked for at `/o/authorize/`.
"""

import hashlib

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model
from oauth2_provider.settings import oauth2_settings
from rest_framework.permissions import SAFE_METHODS

from common.prepared import PreparedQuery, fetch_together

AccessToken = get_access_token_model()

# A SHA-256 hex digest is 64 hex digits: this placeholder can never equal one.
_token_by_checksum = PreparedQuery(
    lambda checksum: AccessToken.objects.select_related("user").filter(token_checksum=checksum),
    placeholder="not-a-checksum",
)


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth 2 access tokens, refused for a user who has been deactivated since the token
    was issued (django-oauth-toolkit alone keeps them valid until they expire), and only
    for the methods their scopes allow."""

    def authenticate(self, request):
        result = self._authenticate_token(request)
        if result is None:
            return None
        user, access_token = result
        if user is None or not user.is_active:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token's user is missing or deactivated.",
            }
            return None
        self._scope_check(request, access_token)
        return user, access_token

    def _authenticate_token(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if not scheme and not self._token_elsewhere(request):
            return None  # anonymous: no credentials at all, nothing for DOT to parse
        if scheme.lower() != "bearer" or not token:
            return super().authenticate(request)  # no bearer header: DOT decides
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        access_token = self._token_fetch(request, checksum)
        if access_token is not None and access_token.resource:
            return super().authenticate(request)  # audience-restricted: DOT checks it
        if access_token is None or access_token.is_expired() or not access_token.user_id:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token is invalid, expired or revoked.",
            }
            return None
        return access_token.user, access_token

    @staticmethod
    def _scope_check(request, access_token) -> None:
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is not None and not hasattr(view, request.method.lower()):
            return  # the view answers 405 whatever the token
        if request.method in SAFE_METHODS:
            needed = oauth2_settings.READ_SCOPE
        else:
            needed = oauth2_settings.WRITE_SCOPE
        if not access_token.allow_scopes([needed]):
            # Imported here: DRF imports this module while `rest_framework.views` (which
            # the errors module needs) is still loading.
            from accounts.errors import InsufficientScope

            raise InsufficientScope(
                f"This token's scope ({access_token.scope or 'none'}) does not include "
                f"{needed!r}, which {request.method} needs.",
                required_scope=needed,
            )

    @staticmethod
    def _token_fetch(request, checksum: str):
        """The token with its user; and, in the same round trip, the row the view asks for
        with `read_with_token(request) -> (PreparedQuery, value) | None`, handed back to it
        as `view.read_with_token_result` (the instance, or None for no such row)."""
        view = (getattr(request, "parser_context", None) or {}).get("view")
        companion = view.read_with_token(request) if hasattr(view, "read_with_token") else None
        if companion is None:
            return _token_by_checksum.fetch_one(checksum)
        access_token, view.read_with_token_result = fetch_together(
            [(_token_by_checksum, checksum), companion]
        )
        return access_token

    @staticmethod
    def _token_elsewhere(request) -> bool:
        """Whether a token may travel outside the header, where DOT also looks for one: an
        `access_token` query parameter or a form-encoded body."""
        if "access_token" in request.GET:
            return True
        return request.META.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
