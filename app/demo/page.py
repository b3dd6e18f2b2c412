"""The demo: a workspace with sample announcements and a host page with the widget live.

``tidings demo`` seeds it and serves ``/demo``; the page is a stand-in for a product's own
app, embedding the widget exactly as the README's snippet does. The public samples are on
the demo's public changelog, ``/changelog/demo``.
"""

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.audit import CLI_ACTOR
from app.announcements.schemas import AnnouncementCreate
from app.announcements.service import announcement_service
from app.errors import NotFound
from app.workspaces.schemas import WorkspaceCreate, WorkspaceUpdate
from app.workspaces.service import workspace_service

DEMO_SLUG = "demo"
SAMPLES = (
    {
        "slug": "demo-welcome",
        "title": "Welcome to Tidings",
        "category": "announcement",
        "body": "This feed is served by your own Tidings server. Open it, react, dismiss: "
        "every figure lands in `tidings stats`.",
        "pinned": True,
        "public": True,
    },
    {
        "slug": "demo-dark-mode",
        "title": "Dark mode is here",
        "category": "new",
        "display": "popover",
        "body": "Switch it on in **Settings → Appearance**.",
        "cta": {"label": "Try it", "url": "https://example.com/settings"},
        "audience": {"pages": ["/demo"]},
        "public": True,
    },
    {
        "slug": "demo-faster-search",
        "title": "Search is twice as fast",
        "category": "improvement",
        "body": "- Results as you type\n- Typo tolerance",
        "translations": {
            "de": {"title": "Die Suche ist doppelt so schnell", "body": "Ergebnisse beim Tippen."}
        },
        "public": True,
    },
    {
        "slug": "demo-csv-zeros",
        "title": "CSV exports keep leading zeros",
        "category": "fix",
        "body": "Postal codes and ids such as `00420` now open in spreadsheets as they are.",
        "public": True,
    },
    {
        "slug": "demo-pro-only",
        "title": "For Pro plans: audit log export",
        "category": "new",
        "body": "Shown only to users whose `plan` is `pro` (this page identifies as one).",
        "audience": {"condition": {"plan": "pro"}},
    },
)

router = APIRouter(include_in_schema=False)


async def seed_demo(session: AsyncSession) -> str:
    """Create (once) the demo workspace and its announcements; its publishable key."""
    try:
        workspace = await workspace_service.get_by_slug(session, DEMO_SLUG)
        keys = await workspace_service.list_keys(session, workspace.id)
        key = next(k.preview for k in keys if k.kind == "publishable" and k.revoked_at is None)
    except (NotFound, StopIteration):
        created = await workspace_service.create(
            session, WorkspaceCreate(name="Demo", slug=DEMO_SLUG)
        )
        workspace, key = created.workspace, created.publishable_key
    for sample in SAMPLES:
        data = AnnouncementCreate.model_validate({**sample, "status": "published"})
        await announcement_service.upsert_by_slug(session, workspace.id, data, actor=CLI_ACTOR)
    if workspace.changelog_name is None:
        # The public changelog at /changelog/demo, as a product team would set it up.
        await workspace_service.update(
            session, workspace, WorkspaceUpdate(changelog_name="Acme"), actor=CLI_ACTOR
        )
    return key


@router.get("/demo", response_class=HTMLResponse)
async def demo_page(request: Request) -> HTMLResponse:
    key = request.app.state.settings.demo_key
    if not key:
        raise NotFound("The demo page is served by `tidings demo` only.")
    return HTMLResponse(_PAGE.replace("{key}", escape(key)))


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme — Tidings demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1d2330}
header{display:flex;justify-content:space-between;align-items:center;padding:12px 24px;
background:#f4f5f8;border-bottom:1px solid #e2e4ea}
main{max-width:720px;margin:40px auto;padding:0 24px}
code{background:#f4f5f8;padding:2px 4px;border-radius:4px}</style></head>
<body><header><strong>Acme</strong><span>Signed in as Demo User (plan: pro)</span></header>
<main><h1>Your product, with Tidings</h1>
<p>The button at the bottom right is the widget: a feed with an unread badge. A popover
appears on this page once; dismiss it and it stays dismissed, on every device.</p>
<p>This page embeds it exactly as the README says. Engagement shows up in
<code>tidings stats</code>; the API reference is at <a href="/docs">/docs</a>.</p>
<p>The announcements marked public are also on the public changelog, with its feeds:
<a href="/changelog/demo">/changelog/demo</a>.</p></main>
<script>window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)};
tidings('identify',{user_id:'demo-user',attributes:{plan:'pro'}});</script>
<script async src="/widget.js" data-key="{key}"></script>
</body></html>
"""
