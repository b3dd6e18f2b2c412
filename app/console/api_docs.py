"""``/docs`` from local files (Swagger UI from npm, no CDN), and ``/`` for browsers."""

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from app.console.routing import pages_of
from app.errors import NotFound

router = APIRouter(include_in_schema=False)

# Swagger UI sets inline styles on its elements: style-src needs 'unsafe-inline' here (and
# only here); scripts stay strict.
_DOCS_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)


@router.get("/docs")
async def api_reference(request: Request) -> Response:
    """The interactive API reference, drawn by Swagger UI served by Tidings itself."""
    response = pages_of(request).render("api_docs.html", openapi_url=request.app.openapi_url)
    response.headers["Content-Security-Policy"] = _DOCS_POLICY
    response.headers["Cache-Control"] = "no-cache"
    return response


@router.get("/")
async def root(request: Request) -> Response:
    """Browsers go to the console; API clients learn where the API is."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/console", status_code=303)
    raise NotFound(
        "Nothing here: the API is under /v1 (reference at /docs), the console at /console."
    )
