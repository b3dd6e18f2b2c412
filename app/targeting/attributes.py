"""The attributes conditions see: the user's own, over the built-ins Tidings knows.

Built-ins: ``id`` (the user id, or the anonymous id), ``anonymous``, ``locale`` and
``device`` (``desktop``, ``mobile`` or ``tablet``, guessed from the User-Agent). These
names are Tidings': a user's own attribute of one of them is ignored. Otherwise an
anonymous visitor could say ``{"id": "vip-1", "anonymous": false}`` and be shown what was
meant for ``vip-1`` (``id`` is the one attribute identity verification vouches for).
"""

from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import lru_cache
from typing import Any, Final, Literal

import orjson

from app.errors import invalid_field
from app.kit.locales import normalize_locale
from app.targeting.conditions import MAX_ATTRIBUTE_ARRAY_ITEMS

MAX_ATTRIBUTE_KEYS: Final = 50
MAX_ATTRIBUTES_BYTES: Final = 8 * 1024

Device = Literal["desktop", "mobile", "tablet"]

# Lower-cased User-Agent fragments, checked in this order: tablets first, because iPad and
# Android tablet UAs also carry phone-like words ("Mobile/15E148" on iPad).
_TABLET_MARKERS: Final = ("ipad", "tablet", "kindle", "silk/")
_MOBILE_MARKERS: Final = ("iphone", "ipod", "mobi", "opera mini", "blackberry", "windows phone")


def device_from_user_agent(user_agent: str) -> Device:
    """A small heuristic, not a UA database: right for the browsers people actually use.

    iPadOS 13+ Safari presents itself as a Mac by default, so those iPads read as desktop.
    """
    ua = user_agent.lower()
    if any(marker in ua for marker in _TABLET_MARKERS):
        return "tablet"
    # Android phones say "Mobile"; Android tablets do not (Google's own guidance).
    if "android" in ua and "mobile" not in ua:
        return "tablet"
    if any(marker in ua for marker in _MOBILE_MARKERS):
        return "mobile"
    return "desktop"


def builtin_attributes(
    user_id: str | None, anonymous_id: str | None, locale: str | None, user_agent: str | None
) -> dict[str, Any]:
    """The built-in attributes; a built-in that cannot be known is left out (reads as null).

    ``locale`` is kept in canonical BCP 47 case (``pt_br`` → ``pt-BR``) and dropped when
    malformed; ``device`` is left out without a User-Agent.
    """
    attributes: dict[str, Any] = {"anonymous": user_id is None}
    key = user_id if user_id is not None else anonymous_id
    if key:
        attributes["id"] = key
    if locale:
        with suppress(ValueError):
            attributes["locale"] = normalize_locale(locale)
    device = device_of(user_agent)
    if device is not None:
        attributes["device"] = device
    return attributes


def device_of(user_agent: str | None) -> Device | None:
    """The built-in ``device``; ``None`` without a User-Agent."""
    if not user_agent or len(user_agent) > _CACHED_USER_AGENT_LENGTH:
        return device_from_user_agent(user_agent) if user_agent and user_agent.strip() else None
    return _cached_device(user_agent)


_CACHED_USER_AGENT_LENGTH: Final = 512


@lru_cache(maxsize=1024)
def _cached_device(user_agent: str) -> Device | None:
    # Every poll asks again; a site's visitors bring a few hundred distinct User-Agents.
    return device_from_user_agent(user_agent) if user_agent.strip() else None


BUILTIN_NAMES: Final = frozenset({"id", "anonymous", "locale", "device"})


def merge_attributes(
    user_attributes: Mapping[str, Any], builtins: Mapping[str, Any]
) -> dict[str, Any]:
    """The user's own attributes and the built-ins; a built-in's name is never the user's."""
    if BUILTIN_NAMES.isdisjoint(user_attributes):
        return {**user_attributes, **builtins}
    own = {name: value for name, value in user_attributes.items() if name not in BUILTIN_NAMES}
    return {**own, **builtins}


def validate_user_attributes(attributes: object, field: str = "attributes") -> dict[str, Any]:
    """Check attributes sent for a user: a JSON object of ≤ 50 keys and ≤ 8 KB as JSON.

    Raises a 422 on ``field``.
    """
    if not isinstance(attributes, dict):
        raise invalid_field(field, "must be a JSON object of attribute names to values")
    if len(attributes) > MAX_ATTRIBUTE_KEYS:
        raise invalid_field(
            field,
            f"has {len(attributes)} keys; at most {MAX_ATTRIBUTE_KEYS} are allowed "
            "(nest related values in an object)",
        )
    try:
        size = len(orjson.dumps(attributes))
    except (orjson.JSONEncodeError, TypeError):
        raise invalid_field(field, "must contain JSON values only, with string keys") from None
    if size > MAX_ATTRIBUTES_BYTES:
        raise invalid_field(
            field,
            f"is {size} bytes as JSON; at most {MAX_ATTRIBUTES_BYTES} are allowed "
            "(send only what targeting needs)",
        )
    long_array = _first_long_array(attributes, field)
    if long_array is not None:
        raise invalid_field(
            long_array,
            f"holds more than {MAX_ATTRIBUTE_ARRAY_ITEMS} items; at most "
            f"{MAX_ATTRIBUTE_ARRAY_ITEMS} are allowed in an array (it bounds what targeting "
            "costs per user)",
        )
    return attributes


def _first_long_array(value: object, path: str) -> str | None:
    """Where the first array of more than MAX_ATTRIBUTE_ARRAY_ITEMS items is, if any."""
    if isinstance(value, list):
        if len(value) > MAX_ATTRIBUTE_ARRAY_ITEMS:
            return path
        items: Iterable[tuple[object, object]] = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return None
    for key, item in items:
        found = _first_long_array(
            item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
        )
        if found is not None:
            return found
    return None


def within_array_bound(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Attributes stored before arrays were bounded, cut to the bound (targeting's cost
    assumes it); attributes within it are returned as they are."""
    if _first_long_array(attributes, "") is None:
        return attributes
    return {name: _cut(value) for name, value in attributes.items()}


def _cut(value: Any) -> Any:
    if isinstance(value, list):
        return [_cut(item) for item in value[:MAX_ATTRIBUTE_ARRAY_ITEMS]]
    if isinstance(value, dict):
        return {name: _cut(item) for name, item in value.items()}
    return value
