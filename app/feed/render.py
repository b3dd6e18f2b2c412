"""A feed's JSON, assembled from bytes rendered once per announcement, locale and snapshot.

An item is the announcement's fields (the same for every user: ``RenderedItem.fragment``)
followed by the user's state. Most users have no state yet for most items, so the whole
item without state is rendered once too, auto-shown or not; the few combinations of state
are rendered once per process (``state_fragment``). A feed's answer is one join.
"""

import re
from functools import lru_cache

import orjson

from app.feed.items import CachedAnnouncement, PlannedItem, RenderedItem


def render_item(announcement: CachedAnnouncement, locale: str | None) -> RenderedItem:
    text = announcement.translations[locale] if locale else None
    static = {
        "id": announcement.id,
        "title": text["title"] if text else announcement.title,
        "body_html": text["body_html"] if text else announcement.body_html,
        "locale": locale,
        "category": announcement.category,
        "image_url": announcement.image_url,
        "cta": announcement.cta,
        "display": announcement.display,
        "pinned": announcement.pinned,
        "priority": announcement.priority,
        "published_at": announcement.published_at,
        "pages": list(announcement.pages),
        "frequency": announcement.frequency,
    }
    fragment = orjson.dumps(static)[:-1]
    return RenderedItem(
        announcement,
        locale,
        fragment,
        as_new=fragment + _NO_STATE + b",",
        as_new_auto_shown=fragment + _NEW_AUTO_SHOWN + b",",
    )


@lru_cache(maxsize=256)
def state_fragment(
    seen: bool, dismissed: bool, clicked: bool, reaction: str | None, auto_show: bool
) -> bytes:
    """The end of an item: the user's state; a few dozen combinations, each rendered once."""
    state = {
        "seen": seen,
        "dismissed": dismissed,
        "clicked": clicked,
        "reaction": reaction,
        "auto_show": auto_show,
    }
    return b"," + orjson.dumps(state)[1:]


_NO_STATE = state_fragment(False, False, False, None, False)
_NEW_AUTO_SHOWN = state_fragment(False, False, False, None, True)


_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def changelog_url(
    changelog_path: str | None, changelog_host: str | None, scheme: str, host: str | None, root: str
) -> bytes:
    """The feed's ``changelog_url`` as JSON: where the workspace's public changelog is, as
    the widget's own request reached this server (``null`` with nothing public to show).

    On the host name the workspace claimed it is that host's ``/``; otherwise the path on
    the host and scheme the request came in by (behind a proxy, what it forwarded)."""
    if changelog_path is None:
        return b"null"
    if changelog_host is not None:
        return orjson.dumps(f"{scheme}://{changelog_host}/")
    if host is None or not _HOST.fullmatch(host):
        return b"null"
    return orjson.dumps(f"{scheme}://{host}{root}{changelog_path}")


def feed_json(
    items: list[PlannedItem], unread_count: int, poll_after_s: int, changelog: bytes = b"null"
) -> bytes:
    # One join, each item's bytes copied once, into the answer; each item ends with a comma.
    parts = [b'{"announcements":[']
    for rendered, state, auto_show in items:
        if state is None:
            parts.append(rendered.as_new_auto_shown if auto_show else rendered.as_new)
        else:
            parts.append(rendered.fragment)
            parts.append(state_fragment(*state[:4], auto_show) + b",")
    if items:
        parts[-1] = parts[-1][:-1]  # the last item's comma
    parts += (
        b'],"unread_count":',
        str(unread_count).encode(),
        b',"poll_after_s":',
        str(poll_after_s).encode(),
        b',"changelog_url":',
        changelog,
        b"}",
    )
    return b"".join(parts)
