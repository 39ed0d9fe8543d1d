from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import email_preferences_update
from common.schema import problem_response
from notifications import preferences, selectors
from notifications.models import Notification
from notifications.serializers import (
    NotificationSerializer,
    UnsubscribedSerializer,
    UnsubscribePageSerializer,
)


class MyNotificationListView(GenericAPIView):
    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated]
    queryset = Notification.objects.none()  # for the schema: the rows come from selectors

    @extend_schema(
        summary="My notifications",
        description="What was or will be emailed to me, newest first, with delivery status: "
        "`pending` (queued or retrying), `sending`, `sent`, `failed` (gave up).",
        responses={200: NotificationSerializer(many=True), 401: problem_response("No token.")},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.notification_list(recipient=request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


INVALID_UNSUBSCRIBE_TOKEN = problem_response(
    "`invalid_token`: the link was not made by this service (forged, cut short, mangled)."
)


class UnsubscribeView(APIView):
    """The unsubscribe link every email carries, one category of email for one user.

    GET is for people: a page that asks, with a button. It changes nothing, because mail
    scanners and link previews open links nobody clicked. POST unsubscribes: the page's
    button, or a mail client's one-click unsubscribe (RFC 8058: a POST of
    `List-Unsubscribe=One-Click`, with no login, no cookie and no CSRF token). The signed
    token is the only credential, so the view takes no authentication at all, and
    `APIView` is exempt from CSRF. Idempotent.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # The one-click body says nothing the token does not: it is documented, never read.
    parser_classes = [FormParser, MultiPartParser]
    template_name = "notifications/web/unsubscribe.html"

    def get_renderers(self) -> list:
        # GET answers a page unless JSON is asked for. POST answers JSON (a mail client),
        # unless a browser posts the page's form: it asks for HTML.
        if getattr(self.request, "method", "GET") == "POST":
            return [JSONRenderer(), TemplateHTMLRenderer()]
        return [TemplateHTMLRenderer(), JSONRenderer()]

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are problem+json whatever the client accepts, never a page.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    @extend_schema(
        tags=["notifications"],
        auth=[{}],
        summary="Unsubscribe link: the confirmation page",
        description=(
            "The link in every email (also its `List-Unsubscribe` header). Answers a page "
            "with an Unsubscribe button (`text/html`), or the same facts as JSON when asked "
            "for `application/json`. Changes nothing."
        ),
        responses={
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="The page, with its Unsubscribe button."
            ),
            (200, "application/json"): UnsubscribePageSerializer,
            (400, "application/problem+json"): INVALID_UNSUBSCRIBE_TOKEN,
        },
    )
    def get(self, request: Request, token: str) -> Response:
        _user, field = preferences.unsubscribe_token_read(token)
        body = {"preference": field, "category": preferences.preference_label(field)}
        return Response(UnsubscribePageSerializer(body).data)

    @extend_schema(
        tags=["notifications"],
        auth=[{}],
        summary="Unsubscribe link: unsubscribe (RFC 8058 one-click)",
        description=(
            "Turns off the category of email the link was made for, for the user it was "
            "made for; no token, cookie or CSRF token needed. Mail clients post "
            "`List-Unsubscribe=One-Click` (RFC 8058); the body is optional. Idempotent. "
            "Answers JSON, or a page when the client asks for `text/html`."
        ),
        request=inline_serializer(
            "UnsubscribeOneClick",
            fields={
                "List-Unsubscribe": serializers.CharField(
                    required=False, help_text='"One-Click" (RFC 8058). Not checked.'
                )
            },
        ),
        responses={
            (200, "application/json"): OpenApiResponse(
                UnsubscribedSerializer, description="Unsubscribed."
            ),
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="A page saying so, for a browser."
            ),
            (400, "application/problem+json"): INVALID_UNSUBSCRIBE_TOKEN,
        },
    )
    def post(self, request: Request, token: str) -> Response:
        user, field = preferences.unsubscribe_token_read(token)
        email_preferences_update(user, **{field: False})
        body = {"unsubscribed": field, "category": preferences.preference_label(field)}
        return Response(UnsubscribedSerializer(body).data)
