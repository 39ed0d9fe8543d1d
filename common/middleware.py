"""Guards on a request body, applied to every route before any view or parser reads it.

- A body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (by its `Content-Length`) is a 413: nothing of
  it is read. Django enforces that setting only when `request.body` or `request.POST` is
  read, and then as a 400; DRF's parsers read the stream and skip it altogether. The JSON
  parser also reads at most that many bytes (`common.parsers`), for a stream that carries
  more than its length says.
- A `charset` that is not a text encoding Python knows (`charset=zlib_codec`, a codec from
  bytes to bytes, or a made-up name) is a 415: decoding the body with it would crash the
  parser (Django ignores unknown names, and accepts any codec it can look up).
"""

import codecs
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.http import parse_header_parameters

from common.errors import PROBLEM_CONTENT_TYPE, problem
from common.parsers import body_size_limit


def is_text_encoding(name: str) -> bool:
    """Whether `name` is a codec Python knows that turns bytes into text."""
    try:
        codecs.lookup(name)
        "x".encode(name)  # raises LookupError for a bytes-to-bytes codec (zlib_codec)
    except LookupError:
        return False
    return True


def _problem_response(status: int, code: str, title: str, detail: str) -> HttpResponse:
    return JsonResponse(
        problem(status, code, title, detail), status=status, content_type=PROBLEM_CONTENT_TYPE
    )


class RequestBodyGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_size_limit()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads such a body as empty too
        if limit is not None and length > limit:
            return _problem_response(
                413,
                "request_too_large",
                "Request body too large",
                f"The request body is {length} bytes; at most {limit} are accepted.",
            )
        content_type = request.META.get("CONTENT_TYPE")
        if content_type:
            _, params = parse_header_parameters(content_type)
            charset = params.get("charset")
            if charset is not None and not is_text_encoding(charset):
                return _problem_response(
                    415,
                    "unsupported_media_type",
                    "Unsupported media type",
                    f"Unsupported charset {charset!r}: send UTF-8.",
                )
        return self.get_response(request)
