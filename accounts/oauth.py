"""django-oauth-toolkit's doors (`/o/`), held to the same rules as the API's own.

The password grant checks the password through `accounts.services.user_authenticate`, so
its failures count against the same per-address and per-account limits as the API's login.

DOT checks that a user is active when it logs in with a password, but not afterwards: an
authorization code, a refresh token, or an access token presented to DOT's own protected views or to
`/o/introspect/`, keeps working for a user deactivated since. Here, a token whose user is
deactivated is dead on every path. A token without a user (client credentials) has no
user to deactivate and is left to DOT's rules.
"""

import hashlib

from django.http import JsonResponse
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import IntrospectTokenView
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error

from accounts import services
from accounts.errors import InvalidCredentials, LoginThrottled
from accounts.throttling import client_address


def _user_is_refused(user) -> bool:
    return user is not None and not user.is_active


class AccountOAuth2Validator(OAuth2Validator):
    """DOT's validator (`OAUTH2_PROVIDER["OAUTH2_VALIDATOR_CLASS"]`) refusing tokens of
    deactivated users, and checking passwords with the login limits."""

    def validate_user(self, username, password, client, request, *args, **kwargs):
        http_request = self.build_http_request(request)  # its META is the real request's
        if "\x00" in username:
            return False  # no user has one, and PostgreSQL refuses it in a query
        try:
            request.user = services.user_authenticate(
                username=username,
                password=password,
                client_address=client_address(http_request),
                request=http_request,
            )
        except InvalidCredentials:
            return False
        except LoginThrottled as exc:
            raise CustomOAuth2Error(
                "throttled", description=exc.detail, status_code=429, request=request
            ) from exc
        return True

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        # An authorization code issued before its user's deactivation is dead too.
        valid = super().validate_code(client_id, code, client, request, *args, **kwargs)
        return valid and not _user_is_refused(request.user)

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
