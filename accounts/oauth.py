"""django-oauth-toolkit's doors (`/o/`), held to the same rules as the API's own.

DOT checks that a user is active when it logs in with a password, but not afterwards: a
refresh token, or an access token presented to DOT's own protected views or to
`/o/introspect/`, keeps working for a user deactivated since. Here, a token whose user is
deactivated is dead on every path. A token without a user (client credentials) has no
user to deactivate and is left to DOT's rules.
"""

import hashlib

from django.http import JsonResponse
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import IntrospectTokenView


def _user_is_refused(user) -> bool:
    return user is not None and not user.is_active


class AccountOAuth2Validator(OAuth2Validator):
    """DOT's validator (`OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]`) refusing tokens of
    deactivated users."""

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        return valid and not _user_is_refused(request.user)

    def validate_bearer_token(self, token, scopes, request):
        valid = super().validate_bearer_token(token, scopes, request)
        if valid and _user_is_refused(request.user):
            request.oauth2_error = {
                "error": "invalid_token",
                "error_description": "The access token's user is deactivated.",
            }
            return False
        return valid


class AccountIntrospectTokenView(IntrospectTokenView):
    """RFC 7662 introspection that calls the token of a deactivated user inactive."""

    @staticmethod
    def get_token_response(token_value=None):
        if token_value is not None:
            checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
            token = (
                get_access_token_model()
                .objects.select_related("user")
                .filter(token_checksum=checksum)
                .first()
            )
            if token is not None and _user_is_refused(token.user):
                return JsonResponse({"active": False})
        return IntrospectTokenView.get_token_response(token_value)
