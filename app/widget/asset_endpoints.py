"""``GET /widget.js`` and its versioned twin."""

from fastapi import APIRouter, Request, Response

from app.errors import NotFound, ServiceUnavailable
from app.kit.etags import if_none_match_hits
from app.widget.assets import WidgetAsset

router = APIRouter(tags=["widget"])

_SHORT_CACHE = "public, max-age=3600, stale-while-revalidate=86400"
_FOREVER = "public, max-age=31536000, immutable"


def _asset(request: Request) -> WidgetAsset:
    asset: WidgetAsset | None = request.app.state.widget_asset
    if asset is None:
        raise ServiceUnavailable(
            "The widget is not built: run `node widget/build.mjs` or set TIDINGS_WIDGET_PATH."
        )
    return asset


def _script(request: Request, asset: WidgetAsset, cache_control: str) -> Response:
    headers = {
        "Cache-Control": cache_control,
        "ETag": f'"{asset.version}"',
        "Vary": "Accept-Encoding",
        "X-Tidings-Widget-Version": asset.version,
        # The script is embedded by other origins: let them load it with integrity checks.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if if_none_match_hits(request.headers.get("if-none-match"), asset.version):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/widget.js", response_class=Response)
async def widget_script(request: Request) -> Response:
    """The embeddable widget. Cached for an hour; see the versioned URL for longer."""
    return _script(request, _asset(request), _SHORT_CACHE)


@router.get("/widget/{version}.js", response_class=Response)
async def versioned_widget_script(version: str, request: Request) -> Response:
    """The widget (or its UI chunk) at a fixed version (its content hash), cached forever."""
    asset = _asset(request)
    found = asset.by_version(version)
    if found is None:
        raise NotFound(f"This server serves widget version {asset.version}, not {version}.")
    return _script(request, found, _FOREVER)
