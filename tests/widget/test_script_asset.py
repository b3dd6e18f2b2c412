"""Serving the built widget script."""

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.workspaces.test_auth import assert_problem

SCRIPT = b"(()=>{window.tidings=window.tidings||function(){};})();\n" * 20


@pytest.fixture
async def script_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "widget.js"
    path.write_bytes(SCRIPT)
    # No database access: the script is served from memory.
    settings = Settings(_env_file=None, widget_path=str(path))
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


class TestWidgetScript:
    async def test_served_with_cache_headers_and_version(
        self, script_client: httpx.AsyncClient
    ) -> None:
        response = await script_client.get("/widget.js", headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert response.content == SCRIPT
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "max-age=3600" in response.headers["cache-control"]
        version = response.headers["x-tidings-widget-version"]
        assert response.headers["etag"] == f'"{version}"'

        pinned = await script_client.get(f"/widget/{version}.js")
        assert pinned.status_code == 200
        assert "immutable" in pinned.headers["cache-control"]
        assert_problem(await script_client.get("/widget/000000000000.js"), 404)

    async def test_gzip_and_revalidation(self, script_client: httpx.AsyncClient) -> None:
        raw = await script_client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.content == SCRIPT  # httpx decodes it
        assert int(raw.headers["content-length"]) == len(gzip.compress(SCRIPT, 9, mtime=0))
        again = await script_client.get(
            "/widget.js", headers={"If-None-Match": raw.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""

    async def test_missing_build_is_a_clear_503(self, tmp_path: Path) -> None:
        settings = Settings(_env_file=None, widget_path=str(tmp_path / "absent.js"))
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            body = assert_problem(await client.get("/widget.js"), 503)
            assert "widget/build.mjs" in str(body["detail"])
