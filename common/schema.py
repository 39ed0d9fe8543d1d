"""OpenAPI helpers: the problem+json shape, documented once and reused by every view."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(default="about:blank")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable snake_case error code.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field errors: field name to messages.",
    )


def problem_response(description: str) -> OpenApiResponse:
    """A documented error response; `description` names the codes it may carry."""
    return OpenApiResponse(response=ProblemSerializer, description=description)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the OAuth 2 access tokens as what clients use: `Authorization: Bearer`."""

    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearer"
    priority = 1

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from `/api/v1/auth/token` or `/o/token/`.",
        }


def drop_trailing_slash_twins(endpoints: list, **kwargs) -> list:
    """Every URL also answers with a trailing slash; the schema lists each operation once,
    under the contract's spelling (no slash)."""
    paths = {path for path, *_ in endpoints}
    return [
        endpoint
        for endpoint in endpoints
        if not (endpoint[0].endswith("/") and endpoint[0].rstrip("/") in paths)
    ]


def problem_media_type(result: dict, generator, request, public: bool) -> dict:
    """Error answers are `application/problem+json`, as the exception handler sends them."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(code) >= 400 and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return result
