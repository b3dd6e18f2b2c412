"""Webhook events as Slack incoming-webhook messages (Block Kit)."""

import html
import re
from typing import Any

import nh3

from app.webhooks.events import EventType

_LEADS = {
    EventType.published: "New",
    EventType.scheduled: "New",
    EventType.updated: "Updated",
    EventType.archived: "Archived",
    EventType.expired: "Ended",
}
_EXCERPT_LINES = 3
_EXCERPT_CHARS = 600
_BUTTON_LABEL_CHARS = 75


def _mrkdwn_escape(text: str) -> str:
    # Slack's mrkdwn gives &, < and > a meaning; everything else is text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_excerpt(body_html: str) -> str:
    """The body's first lines as plain text (tags gone, entities decoded, blank lines out)."""
    with_breaks = re.sub(r"</(p|h[1-6]|li|blockquote|pre|tr)>|<br\s*/?>", "\n", body_html)
    text = html.unescape(nh3.clean(with_breaks, tags=set()))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    excerpt = "\n".join([line for line in lines if line][:_EXCERPT_LINES])
    if len(excerpt) > _EXCERPT_CHARS:
        excerpt = excerpt[: _EXCERPT_CHARS - 1].rstrip() + "…"
    return excerpt


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` is the event as standard endpoints get it (its ``data.url`` absolute)."""
    data = body["data"]
    lead = _LEADS.get(EventType(body["type"]), "Announcement")
    title, url = str(data["title"]), str(data["url"])
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{lead}: *<{url}|{_mrkdwn_escape(title)}>*"},
        }
    ]
    excerpt = plain_excerpt(str(data.get("body_html") or ""))
    if excerpt:
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": excerpt}})
    cta = data.get("cta") or {"label": "Read more", "url": url}
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {
                        "type": "plain_text",
                        "text": str(cta["label"])[:_BUTTON_LABEL_CHARS],
                    },
                    "url": str(cta["url"]),
                }
            ],
        }
    )
    # "text" is what notifications and screen readers get when blocks are not shown.
    text = f"{lead}: {_mrkdwn_escape(title)} <{url}>"
    return {"text": text, "blocks": blocks, "unfurl_links": False}
