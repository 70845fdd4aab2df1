"""Reading request bodies within SageMaker's 6 MB payload limit, whatever the client claims.

werkzeug refuses a Content-Length over `max_content_length` before reading anything, and reads a
chunked body (gunicorn sets `wsgi.input_terminated` for one) through a stream that stops at
`max_content_length`. That stream stops quietly at the limit, so the limit is set one byte past
SageMaker's: a body that fills it is known to be too large, and nothing beyond it is ever read.
"""

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's payload limit


class LimitedRequest(Request):
    """A request whose body is never read past MAX_BODY_BYTES + 1 bytes."""

    max_content_length = MAX_BODY_BYTES + 1


def read_body(request: Request) -> bytes | None:
    """The body, or None when it exceeds MAX_BODY_BYTES."""
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None
    return None if len(body) > MAX_BODY_BYTES else body
