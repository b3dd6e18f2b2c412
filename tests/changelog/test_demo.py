"""`tidings demo` seeds a public changelog at /changelog/demo."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo.page import SAMPLES, seed_demo
from tests.changelog.helpers import read_page


async def test_the_demo_changelog_shows_the_public_samples_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await seed_demo(session)
    await session.commit()
    response = await client.get("/changelog/demo")
    assert response.status_code == 200
    html = read_page(response.text)
    public = {sample["title"] for sample in SAMPLES if sample.get("public")}
    assert len(public) >= 3
    assert set(html.titles) == public
    assert "For Pro plans: audit log export" not in response.text
    assert "<title>Acme Changelog</title>" in response.text
    german = await client.get("/changelog/demo/demo-faster-search?locale=de")
    assert read_page(german.text).titles == ["Die Suche ist doppelt so schnell"]
    assert (await client.get("/changelog/demo/feed.atom")).status_code == 200
