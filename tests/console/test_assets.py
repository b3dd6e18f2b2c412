"""The console's files and headers, over ASGI: fingerprinted, cached a year, gzipped, with
SRI hashes that match; pages carry a strict CSP and are never cached."""

import base64
import hashlib
import re

import httpx

from app.console.pages import CONTENT_SECURITY_POLICY


async def _sign_in_page(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.get("/console/sign-in")
    assert response.status_code == 200
    return response


class TestHeaders:
    async def test_pages_have_a_strict_csp_and_are_not_cached(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await _sign_in_page(client)
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in policy and "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert "<script>" not in response.text and " style=" not in response.text

    async def test_unknown_console_pages_are_html_404s(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/console/nothing/here")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "content-security-policy" in response.headers

    async def test_signed_out_visitors_are_sent_to_sign_in(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/console/w/acme/announcements?state=live")
        assert response.status_code == 303
        assert response.headers["location"] == (
            "/console/sign-in?next=/console/w/acme/announcements%3Fstate%3Dlive"
        )

    async def test_the_root_sends_browsers_to_the_console_and_tells_apis_where_to_go(
        self, client: httpx.AsyncClient
    ) -> None:
        browser = await client.get("/", headers={"Accept": "text/html,*/*"})
        assert browser.status_code == 303 and browser.headers["location"] == "/console"
        api = await client.get("/", headers={"Accept": "application/json"})
        assert api.status_code == 404 and "/v1" in api.json()["detail"]


class TestStaticFiles:
    async def test_every_linked_file_matches_its_integrity_and_is_cached_for_a_year(
        self, client: httpx.AsyncClient
    ) -> None:
        page = (await _sign_in_page(client)).text
        docs = (await client.get("/docs")).text
        links = re.findall(
            r'(?:href|src)="(/console/static/[^"]+)" integrity="([^"]+)"', page + docs
        )
        assert len(links) >= 4, links
        for url, integrity in links:
            response = await client.get(url, headers={"Accept-Encoding": "identity"})
            assert response.status_code == 200, url
            digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
            assert integrity == f"sha384-{digest}", url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"

    async def test_text_files_are_gzipped_and_revalidate_by_etag(
        self, client: httpx.AsyncClient
    ) -> None:
        url = re.search(
            r'href="(/console/static/[^"]+console\.css)"', (await _sign_in_page(client)).text
        )
        assert url is not None
        zipped = await client.get(url.group(1), headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["content-type"].startswith("text/css")
        again = await client.get(url.group(1), headers={"If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304

    async def test_an_old_fingerprint_gets_todays_file_uncached(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/console/static/000000000000/console.css")
        assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
        missing = await client.get("/console/static/000000000000/nope.js")
        assert missing.status_code == 404

    async def test_docs_use_local_files_only(self, client: httpx.AsyncClient) -> None:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "cdn" not in docs.text.lower() and "https://" not in docs.text
        assert "script-src 'self'" in docs.headers["content-security-policy"]
