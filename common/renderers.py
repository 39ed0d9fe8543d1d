"""The API's JSON renderer."""

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's, with one fallback: text that cannot be encoded as UTF-8 (a lone surrogate,
    which Python strings can hold) is written as `\\uXXXX` escapes instead of crashing the
    answer. The parser already refuses such text in bodies; this keeps any other road
    (an error message that echoes some input) from turning bad input into a 500."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _ASCII.render(data, accepted_media_type, renderer_context)


class _AsciiJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True


_ASCII = _AsciiJSONRenderer()
