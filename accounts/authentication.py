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
"""

import hashlib

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.models import get_access_token_model

from common.prepared import PreparedQuery, fetch_together

AccessToken = get_access_token_model()

# A SHA-256 hex digest is 64 hex digits: this placeholder can never equal one.
_token_by_checksum = PreparedQuery(
    lambda checksum: AccessToken.objects.select_related("user").filter(token_checksum=checksum),
    placeholder="not-a-checksum",
)


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth 2 access tokens, refused for a user who has been deactivated since the token
    was issued (django-oauth-toolkit alone keeps them valid until they expire)."""

    def authenticate(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if not scheme and not self._token_elsewhere(request):
            return None  # anonymous: no credentials at all, nothing for DOT to parse
        if scheme.lower() != "bearer" or not token:
            return self._dot_authenticate(request)  # no bearer header: DOT decides
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        access_token = self._token_fetch(request, checksum)
        if access_token is not None and access_token.resource:
            return self._dot_authenticate(request)  # audience-restricted: DOT checks it
        if access_token is None or access_token.is_expired() or not access_token.user_id:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token is invalid, expired or revoked.",
            }
            return None
        if not access_token.user.is_active:
            return None
        return access_token.user, access_token

    def _dot_authenticate(self, request):
        """DOT's full check, keeping only tokens that stand for a user. A token issued to
        an application alone (client credentials: no user) is no user of this API: it is
        treated as no credentials (anonymous reads work, writes are a 401)."""
        result = super().authenticate(request)
        if result is not None and result[0] is None:
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token does not belong to a user.",
            }
            return None
        return result

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
