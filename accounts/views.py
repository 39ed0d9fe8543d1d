"""Thin views for accounts and tokens: parse, call a service, render.

The token endpoints take no authentication at all (`authentication_classes = []`): a stale
`Authorization` header must not get in the way of logging in again or revoking it.
"""

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import (
    EmailPreferencesSerializer,
    EmailPreferencesUpdateInputSerializer,
    RegisterInputSerializer,
    RegisterSerializer,
    TokenCreateInputSerializer,
    TokenPairSerializer,
    TokenRefreshInputSerializer,
    TokenRevokeInputSerializer,
    TokenRevokeSerializer,
    UserSerializer,
)
from accounts.throttling import RegisterRateThrottle, client_address
from common.schema import problem_response
from common.serializers import validated

TAGS = ["accounts"]
# OpenAPI: these endpoints take no token at all (anonymous access, not "bearer optional").
NO_AUTH: list[dict] = [{}]
INVALID = problem_response("`validation_error`, with field errors under `errors`.")
THROTTLED = problem_response("`throttled`: too many attempts; see `Retry-After`.")
INVALID_TOKEN = problem_response(
    "`invalid_token`: unknown, revoked, already used or expired refresh token."
)


class PublicAuthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(PublicAuthView):
    throttle_classes = [RegisterRateThrottle]

    @extend_schema(
        tags=TAGS,
        auth=NO_AUTH,
        summary="Register a user",
        description=(
            "Creates the user and logs it in: the answer carries a first token pair. Every "
            "attempt counts against the client address's `register` rate."
        ),
        request=RegisterInputSerializer,
        responses={
            201: RegisterSerializer,
            400: problem_response(
                "`username_taken`, `email_taken` (both compared case-insensitively), "
                "`weak_password` (reasons under `errors.password`) or `validation_error`."
            ),
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(RegisterInputSerializer, request.data)
        user = services.user_register(**data)
        tokens = services.token_issue(user)
        body = {"id": user.pk, "username": user.username, "email": user.email, **asdict(tokens)}
        return Response(RegisterSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenView(PublicAuthView):
    @extend_schema(
        tags=TAGS,
        auth=NO_AUTH,
        summary="Log in: get a token pair",
        description=(
            "Send the access token as `Authorization: Bearer <access_token>`. Failed "
            "attempts count against the client address (`login` rate) and against the "
            "account (`login_account` rate). Once the address's failures are used up, "
            "every attempt from it is refused with 429; once the account's are, attempts "
            "on it from addresses that failed on it are refused, others are still checked."
        ),
        request=TokenCreateInputSerializer,
        responses={
            200: TokenPairSerializer,
            400: INVALID,
            401: problem_response(
                "`invalid_credentials`: unknown user, wrong password or inactive account."
            ),
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(TokenCreateInputSerializer, request.data)
        user = services.user_authenticate(**data, client_address=client_address(request))
        return Response(TokenPairSerializer(services.token_issue(user)).data)


class TokenRefreshView(PublicAuthView):
    @extend_schema(
        tags=TAGS,
        auth=NO_AUTH,
        summary="Refresh: exchange a refresh token for a new pair",
        description="The refresh token used and its access token stop working at once.",
        request=TokenRefreshInputSerializer,
        responses={200: TokenPairSerializer, 400: INVALID, 401: INVALID_TOKEN},
    )
    def post(self, request: Request) -> Response:
        data = validated(TokenRefreshInputSerializer, request.data)
        return Response(TokenPairSerializer(services.token_refresh(data["refresh_token"])).data)


class TokenRevokeView(PublicAuthView):
    @extend_schema(
        tags=TAGS,
        auth=NO_AUTH,
        summary="Revoke a token (log out)",
        description=(
            "Accepts an access token or a refresh token; both tokens of the pair stop "
            "working at once. An unknown token is answered 200 too (RFC 7009)."
        ),
        request=TokenRevokeInputSerializer,
        responses={
            200: OpenApiResponse(TokenRevokeSerializer, description="Revoked, or unknown."),
            400: INVALID,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(TokenRevokeInputSerializer, request.data)
        services.token_revoke(data["token"])
        return Response(TokenRevokeSerializer({"revoked": True}).data)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="The authenticated user",
        responses={
            200: UserSerializer,
            401: problem_response("`not_authenticated`: no valid token."),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)


class MyPreferencesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        summary="My email preferences",
        description=(
            "Which categories of email I receive; every one is on until I turn it off. "
            "Each email also carries a link that turns its own category off "
            "(`/api/v1/unsubscribe/{token}`)."
        ),
        responses={
            200: EmailPreferencesSerializer,
            401: problem_response("`not_authenticated`: no valid token."),
        },
    )
    def get(self, request: Request) -> Response:
        preferences = services.email_preferences_get(request.user)
        return Response(EmailPreferencesSerializer(preferences).data)

    @extend_schema(
        tags=TAGS,
        summary="Change my email preferences",
        description=(
            "Send any subset of the preferences as JSON booleans; the others keep their "
            "value. Answers with all of them. An unknown field is refused, not ignored. "
            "Emails already queued when a category is turned off may still arrive."
        ),
        request=EmailPreferencesUpdateInputSerializer,
        responses={
            200: EmailPreferencesSerializer,
            400: problem_response(
                "`validation_error`: a value that is not `true` or `false`, or an unknown "
                "field (each named under `errors`)."
            ),
            401: problem_response("`not_authenticated`: no valid token."),
        },
    )
    def patch(self, request: Request) -> Response:
        changes = validated(EmailPreferencesUpdateInputSerializer, request.data)
        preferences = services.email_preferences_update(request.user, **changes)
        return Response(EmailPreferencesSerializer(preferences).data)
