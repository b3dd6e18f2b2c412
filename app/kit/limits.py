"""The body limit's parts: its error, the declared length, and the 413 answer.

Enforced for every request by app/middleware.py (on the bytes received, not only the
declared ``Content-Length``) and by ``app.kit.bodies.read_body`` where a route reads a
body by hand.
"""

from starlette.responses import Response
from starlette.types import Scope

from app.errors import PayloadTooLarge, problem_response


class BodyTooLarge(PayloadTooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The body is over {limit // 1024} KB.")


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def body_too_large(limit: int) -> Response:
    error = BodyTooLarge(limit)
    # The unread rest of the body makes the connection useless for another request.
    return problem_response(
        error.status,
        title=error.title,
        detail=error.detail,
        slug=error.slug,
        headers={"Connection": "close"},
    )


# How long the end user's identifiers may be, wherever they arrive (query, body, column).
MAX_USER_ID_LENGTH = 256  # the host product's own user id
MAX_ANONYMOUS_ID_LENGTH = 64  # the widget's random id for a visitor who has not identified
MAX_USER_HASH_LENGTH = 128  # hex HMAC-SHA256 is 64; room for other encodings
MAX_EVENT_ID_LENGTH = 64
