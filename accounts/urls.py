"""Account and token URLs, relative to /api/v1/. Each answers with or without a trailing
slash, and never redirects (a redirected POST loses its body)."""

from accounts import views
from common.urls import route

urlpatterns = [
    *route("auth/register", views.RegisterView.as_view(), "auth-register"),
    *route("auth/token", views.TokenView.as_view(), "auth-token"),
    *route("auth/token/refresh", views.TokenRefreshView.as_view(), "auth-token-refresh"),
    *route("auth/token/revoke", views.TokenRevokeView.as_view(), "auth-token-revoke"),
    *route("me", views.MeView.as_view(), "me"),
    *route("me/preferences", views.MyPreferencesView.as_view(), "my-preferences"),
]
