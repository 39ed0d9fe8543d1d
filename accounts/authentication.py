from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth 2 access tokens, refused for a user who has been deactivated since the token
    was issued (django-oauth-toolkit alone keeps them valid until they expire)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and not result[0].is_active:
            return None
        return result
