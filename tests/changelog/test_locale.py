"""?locale= and Accept-Language: the page's words and the announcements' translations."""

import httpx
import pytest

from tests.changelog.helpers import publish, read_page
from tests.fixtures.tenants import Tenant

TRANSLATED = {
    "title": "Search is twice as fast",
    "body": "Results as you type.",
    "translations": {
        "de": {"title": "Die Suche ist doppelt so schnell", "body": "Ergebnisse beim Tippen."},
        "fr-CA": {"title": "La recherche est deux fois plus rapide", "body": "Dès la frappe."},
    },
}


async def get(client: httpx.AsyncClient, tenant: Tenant, query: str = "", **headers: str) -> str:
    response = await client.get(f"/changelog/{tenant.slug}{query}", headers=headers)
    assert response.status_code == 200, response.text
    assert "Accept-Language" in response.headers["vary"]
    return response.text


class TestLocale:
    @pytest.mark.parametrize(
        ("how", "ui_word", "lang", "title"),
        [
            (
                {"query": "?locale=de"},
                "Änderungsprotokoll",
                "de",
                "Die Suche ist doppelt so schnell",
            ),
            (
                {"query": "?locale=de-AT"},
                "Änderungsprotokoll",
                "de",
                "Die Suche ist doppelt so schnell",
            ),
            (
                {"query": "?locale=de_CH"},
                "Änderungsprotokoll",
                "de",
                "Die Suche ist doppelt so schnell",
            ),
            # fr-FR finds the same language's closest tag (fr-CA), as the widget does.
            (
                {"query": "?locale=fr-FR"},
                "Journal des modifications",
                "fr",
                "La recherche est deux fois plus rapide",
            ),
            ({"query": "?locale=ja"}, "更新履歴", "ja", "Search is twice as fast"),
            ({"query": "?locale=pt-BR"}, "Changelog", "en", "Search is twice as fast"),
            (
                {"accept": "de-AT,de;q=0.9,en;q=0.5"},
                "Änderungsprotokoll",
                "de",
                "Die Suche ist doppelt so schnell",
            ),
            # pt is not offered: the next preference decides.
            (
                {"accept": "pt-BR, es;q=0.8, de;q=0.5"},
                "Registro de cambios",
                "es",
                "Die Suche ist doppelt so schnell",
            ),
            ({"accept": "en-GB,de;q=0"}, "Changelog", "en", "Search is twice as fast"),
            ({"accept": "!!, *;q=0.1"}, "Changelog", "en", "Search is twice as fast"),
            ({"query": "?locale=en", "accept": "de"}, "Changelog", "en", "Search is twice as fast"),
        ],
    )
    async def test_words_and_translations_follow_the_widgets_fallback(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        how: dict[str, str],
        ui_word: str,
        lang: str,
        title: str,
    ) -> None:
        await publish(client, tenant, **TRANSLATED)
        headers = {"Accept-Language": how["accept"]} if "accept" in how else {}
        text = await get(client, tenant, how.get("query", ""), **headers)
        html = read_page(text)
        assert html.html_lang == lang
        assert ui_word in html.text
        assert html.titles == [title]

    async def test_each_language_is_its_own_representation(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, **TRANSLATED)
        url = f"/changelog/{tenant.slug}"
        german = await client.get(url, headers={"Accept-Language": "de"})
        english = await client.get(url, headers={"Accept-Language": "en"})
        assert german.headers["etag"] != english.headers["etag"]
        crossed = await client.get(
            url, headers={"Accept-Language": "en", "If-None-Match": german.headers["etag"]}
        )
        assert crossed.status_code == 200

    async def test_the_translation_is_marked_with_its_language(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, **TRANSLATED)
        html = read_page(await get(client, tenant, "?locale=fr"))
        articles = [attrs for tag, attrs in html.elements if tag == "article"]
        assert articles[0]["lang"] == "fr-CA"

    async def test_german_dates_and_category_names(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        await publish(client, tenant, title="x", category="fix")
        text = read_page(await get(client, tenant, "?locale=de")).text
        assert "Fehlerbehebung" in text
        assert any(month in text for month in ("Dezember", "Januar", "November"))

    async def test_a_malformed_locale_parameter_is_a_422(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        for bad in ("d", "de--AT", "x" * 40):
            response = await client.get(f"/changelog/{tenant.slug}?locale={bad}")
            assert response.status_code == 422, bad
            assert response.headers["content-type"] == "application/problem+json"
