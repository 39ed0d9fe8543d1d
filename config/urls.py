"""Root URLs: the API under /api/v1/, OAuth 2 under /o/, admin, docs and health checks."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts.oauth import AccountIntrospectTokenView
from common import health

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("auctions.urls")),
    path("", include("notifications.urls")),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

if settings.BENCH_MODE:
    # The benchmark's floor (one primary-key SELECT through DRF); see bench/floor.py.
    from bench.floor import BenchFloorView

    api_v1.append(path("bench/floor", BenchFloorView.as_view(), name="bench-floor"))

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Before DOT's own: introspection that knows about deactivated users.
    path("o/introspect/", AccountIntrospectTokenView.as_view(), name="oauth2-introspect"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler400 = "common.errors.handler400"
handler403 = "common.errors.handler403"
handler404 = "common.errors.handler404"
handler500 = "common.errors.handler500"
