"""OpenAPI helpers: the problem+json shape, documented once and reused by every view."""

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
