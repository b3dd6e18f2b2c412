"""A feed's JSON, assembled from bytes rendered once per announcement, locale and snapshot.

An item is the announcement's fields (the same for every user: ``RenderedItem.fragment``)
followed by the user's state. Most users have no state yet for most items, so the whole
item without state is rendered once too, auto-shown or not; the few combinations of state
are rendered once per process (``state_fragment``). A feed's answer is one join.
"""

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


def feed_json(items: list[PlannedItem], unread_count: int, poll_after_s: int) -> bytes:
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
        b"}",
    )
    return b"".join(parts)
