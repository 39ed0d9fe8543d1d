"""OpenAPI helpers: the problem+json shape, documented once and reused by every view."""

from types import SimpleNamespace

from django.contrib.auth.models import AnonymousUser
from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers


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


# --- Every answer the service gives, documented once ----------------------------------------
# Views declare the answers that belong to them (their codes, their shapes). The answers every
# operation of a kind can get (a field error, a refused token, a page past the last one, a
# body in a media type nobody parses, a throttle) are added here, from what the view is, so
# no view can forget one and the schema never promises less than the service answers.

# A string field refuses NUL (DRF's CharField does, whatever the field): say so. A field that
# trims whitespace and refuses blanks needs one character that is not whitespace.
# Whitespace is what `str.strip()` removes (DRF trims with it), spelt out: `\s` means a
# different set in ECMA-262, the regex dialect of OpenAPI. None lies above U+3000.
_SPACE = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = rf"^[^\u0000]*[^\u0000{_SPACE}][^\u0000]*$"


def money_pattern(min_value) -> str:
    """Money input as a string: at most 10 whole digits and 2 decimals, not below min_value
    (0 or a positive amount). Numbers are accepted as well; the schema documents strings."""
    if min_value is not None and min_value > 0:
        return r"^(?:0*[1-9]\d{0,9}(?:\.\d{1,2})?|0*\.(?:0[1-9]|[1-9]\d?))$"
    if min_value is not None:
        return r"^\d{1,10}(?:\.\d{1,2})?$"
    return r"^-?\d{1,10}(?:\.\d{1,2})?$"


STANDARD_ERRORS = {
    "400": "`validation_error`: a parameter or the body is not valid; field errors under `errors`.",
    "401": "`not_authenticated` / `authentication_failed`: the token is missing, unknown, "
    "expired or revoked.",
    "403": "`permission_denied`: the token does not allow this.",
    "404": "`not_found`: no such resource, or a page past the last one.",
    "406": "`not_acceptable`: none of the media types in `Accept` can be answered.",
    "413": "The body is larger than the service reads.",
    "415": "`unsupported_media_type`: the body's `Content-Type` is not one the operation reads.",
    "429": "`throttled`: too many requests; `Retry-After` says when to try again.",
}
# Answered by the HTTP server (gunicorn) before the request reaches the application: a
# request line or a header over its limits. Those pages are HTML, not problem+json.
SERVER_ERRORS = {
    "414": "URI Too Long: the request line is over the HTTP server's limit (4094 bytes).",
    "431": "Request Header Fields Too Large: a header is over the HTTP server's limit.",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, told the truth about who may call and what comes back.

    - security: an operation its permissions let an anonymous caller through lists `{}`
      (no token) next to the bearer scheme, whichever permission classes let it through;
    - responses: the standard problem+json errors of `STANDARD_ERRORS` where they can be
      answered, and the HTTP server's own refusals (`SERVER_ERRORS`) everywhere;
    - strings: the NUL that DRF and Django's forms refuse, and money's exact form, as
      patterns.
    """

    def get_auth(self) -> list:
        auths = super().get_auth()
        if {} not in auths and auths and self._anonymous_allowed():
            auths.append({})
        return auths

    def _anonymous_allowed(self) -> bool:
        request = SimpleNamespace(method=self.method, user=AnonymousUser(), auth=None)
        try:
            return all(p.has_permission(request, self.view) for p in self.view.get_permissions())
        except Exception:  # a permission that needs more than a method and a user
            return False

    def _map_basic_serializer(self, serializer, direction):
        self._direction = direction  # read by `_insert_field_validators`, which is not told
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema

    def _insert_field_validators(self, field, schema) -> None:
        super()._insert_field_validators(field, schema)
        if getattr(self, "_direction", "request") != "request":
            return  # what the service answers may quote what it refused
        if isinstance(field, serializers.DecimalField):
            schema["pattern"] = money_pattern(field.min_value)
        elif isinstance(field, serializers.CharField) and schema.get("type") == "string":
            blank_refused = field.trim_whitespace and not field.allow_blank
            schema.setdefault("pattern", NOT_BLANK if blank_refused else NO_NUL)
        # A field may state, as `schema_overrides`, rules that its validators do not show.
        schema.update(getattr(field, "schema_overrides", {}))

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] != "query":
                continue
            # An empty query parameter (`?status=`) is the parameter not given: django-filter
            # and DRF's form input both read it so.
            choices = schema.get("items", schema)
            if "enum" in choices and "" not in choices["enum"]:
                choices["enum"].append("")
                schema.pop("minLength", None)
            plain = not ({"enum", "pattern", "format"} & schema.keys())
            if schema.get("type") == "string" and plain:
                schema["pattern"] = NO_NUL  # query strings are form fields: NUL refused
        responses = operation["responses"]
        for code in self._standard_error_codes(operation):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    problem_response(STANDARD_ERRORS[code]), code
                )
        for code, description in SERVER_ERRORS.items():
            responses.setdefault(
                code, {"description": description, "content": {"text/html": {"schema": {}}}}
            )
        return operation

    def _standard_error_codes(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        bearer = any("bearer" in requirement for requirement in operation.get("security", []))
        codes = ["406"]
        if has_body or any(p["in"] in ("query", "header") for p in parameters):
            codes.append("400")
        if bearer:
            codes.append("401")
            if self.method not in permissions.SAFE_METHODS:
                codes.append("403")
        if any(p["in"] == "path" for p in parameters) or self._is_paginated():
            codes.append("404")
        if any(p["in"] == "query" and p["name"] == "format" for p in parameters):
            codes.append("404")  # an unknown `?format=`
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _is_paginated(self) -> bool:
        return self.method == "GET" and self._is_list_view() and self._get_paginator() is not None
