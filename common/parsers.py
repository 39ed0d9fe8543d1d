"""JSON parsing that never turns money into a float, reads a bounded body, and hands the
views only text that can be written back out."""

import json
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser

# A `\uD800`-`\uDFFF` escape: the only way a JSON text can carry a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class RequestTooLarge(APIException):
    """413 `request_too_large` (common.errors maps it). A DRF exception, not a DomainError:
    DRF imports this module while common.errors is still being imported."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def body_size_limit() -> int | None:
    """The largest body accepted, in bytes (`DATA_UPLOAD_MAX_MEMORY_SIZE`; None: no limit)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a string in `value` (keys included) holds a surrogate that json.loads left
    unpaired: such a string cannot be encoded as UTF-8, so echoing it in an answer, or
    storing it, would fail later, far from the input that caused it."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


def read_bounded(stream) -> bytes:
    """The body, read in one call of at most the size limit plus one byte: a longer body is
    a 413 without the rest of it ever being read (the middleware has already refused any
    body whose Content-Length says it is too long)."""
    limit = body_size_limit()
    data = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise RequestTooLarge(f"The request body is over {limit} bytes.")
    return data


class DecimalJSONParser(JSONParser):
    """Parses JSON numbers with a fraction as `Decimal`, and refuses NaN and Infinity, lone
    surrogates (`"\\ud800"`) and charsets that are not text encodings."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = read_bounded(stream)
        try:
            text = raw.decode(encoding)
        except LookupError as exc:  # charset=zlib_codec: a codec, but not a text encoding
            raise UnsupportedMediaType(media_type) from exc
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        try:
            if not text.strip():
                return {}
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        # RecursionError: a body nested thousands of levels deep is bad input, not a crash.
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(data):
            raise ParseError(
                "JSON parse error - a string holds a lone surrogate (\\ud800-\\udfff)."
            )
        return data
