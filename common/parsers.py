"""JSON parsing that never turns money into a float."""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


class DecimalJSONParser(JSONParser):
    """Parses JSON numbers with a fraction as `Decimal`, and refuses NaN and Infinity."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
            if not text.strip():
                return {}
            return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
        # RecursionError: a body nested thousands of levels deep is bad input, not a crash.
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
