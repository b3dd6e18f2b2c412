"""The console's route class: its answers are HTML pages, never problem+json.

Every console route goes through here, so a refusal anywhere (a domain error raised by a
service, a missing session, a bad form) becomes a readable page with the right status,
and every answer carries the console's security headers.
"""

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse

from app.console.auth import PASSWORD_PAGE, NeedsPasswordChange, NeedsSignIn
from app.console.pages import Pages, secure
from app.errors import AppError
from app.kit.database import is_database_unavailable

logger = logging.getLogger("tidings.console")


class Refused(Exception):
    """A page refusing the request (a form with errors, a conflict): sent as it is, and the
    request's transaction is rolled back, since the exception passes through the session.

    Rendered before raising, while what the page shows is still loaded."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.console_pages
    return pages


def error_page(request: Request, status: int, title: str, detail: str) -> Response:
    return pages_of(request).render(
        "error.html", status_code=status, title=title, detail=detail, status=status
    )


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Refused as exc:
                response = exc.response
            except NeedsSignIn as exc:
                response = RedirectResponse(
                    f"/console/sign-in?next={quote(exc.return_to, safe='/')}", status_code=303
                )
            except NeedsPasswordChange:
                response = RedirectResponse(PASSWORD_PAGE, status_code=303)
            except AppError as exc:
                response = error_page(request, exc.status, exc.title, exc.detail)
                for name, value in exc.headers.items():
                    if name.lower() != "www-authenticate":
                        response.headers[name] = value
            except RequestValidationError:
                response = error_page(
                    request, 422, "Invalid address", "This address has a malformed part."
                )
            except StarletteHTTPException as exc:
                response = error_page(request, exc.status_code, "Error", str(exc.detail))
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                logger.warning("database unavailable: %s", type(exc).__name__)
                response = error_page(
                    request,
                    503,
                    "Unavailable",
                    "The database is not reachable right now; try again in a moment.",
                )
                response.headers["Retry-After"] = "2"
            return secure(response)

        return console_handler
