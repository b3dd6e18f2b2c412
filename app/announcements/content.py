"""Announcement bodies: markdown in, HTML that is safe to inject into any host page out.

Two independent layers, so a bug in one is not an XSS:

1. markdown-it-py renders with ``html=False``. Raw HTML typed into the markdown is escaped
   and shown as text instead of being passed on to the sanitizer. Letting the sanitizer
   strip it would also be safe today, but it would make nh3 the only barrier and would
   silently mangle content (``<textarea>``, ``<noscript>`` and friends keep or lose text in
   surprising ways). Escaping makes the author see what they typed.
2. nh3 (ammonia) cleans the result against explicit allowlists, and an attribute filter
   re-checks every surviving attribute value with the same URL rules the API uses for
   ``image_url`` and ``cta.url``.

The output is stored as ``body_html`` at write time, so this runs once per edit, not per view.
"""

import re
from collections.abc import Callable, Mapping
from html import escape
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Final
from urllib.parse import SplitResult, urlsplit

import nh3
from markdown_it import MarkdownIt

# Everything markdown-it emits with the extensions enabled below, and nothing else: raw
# HTML is escaped, so a tag markdown cannot produce has no legitimate way to get here.
# Tables (GFM) are enabled because release notes often compare plans or limits; they are
# inert structure. Their column alignment is lost: markdown-it writes it as a style
# attribute, and style attributes are never allowed.
ALLOWED_TAGS: Final = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote"}
    | {"strong", "em", "del", "s", "code", "pre"}
    | {"ul", "ol", "li"}
    | {"a", "img"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
)

# Whole elements whose content must vanish with them. Stripping only the tag would keep
# the text of a <script> or <style> visible, or re-parse the raw text of <noscript>,
# <textarea> or <xmp> as markup; SVG and MathML are other parsing worlds (mXSS).
DROPPED_WITH_CONTENT_TAGS: Final = frozenset(
    {"script", "style", "template", "noscript", "noembed", "noframes"}
    | {"iframe", "frame", "frameset", "object", "embed", "applet"}
    | {"textarea", "select", "xmp", "plaintext", "title"}
    | {"svg", "math"}
)

# ol[start] is needed because markdown-it emits it for lists that start at
# another number ("3. ..."); dropping it would renumber the author's list. code[class]
# carries the fence language (```python) for a highlighter on the changelog page; the
# filter below only lets through a single ``language-*`` token, so it cannot be used to
# borrow the host page's CSS classes.
ALLOWED_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "a": frozenset({"href", "title"}),
        "img": frozenset({"src", "alt", "title", "width", "height"}),
        "code": frozenset({"class"}),
        "ol": frozenset({"start"}),
    }
)

# What nh3 checks first. Images are narrowed to https by the attribute filter, because
# nh3 applies one scheme list to every URL attribute.
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})
LINK_REL: Final = "noopener noreferrer"
LINK_TARGET: Final = "_blank"

# Characters that are never part of a URL we produce (markdown-it percent-encodes them)
# but that browsers silently strip or reinterpret: whitespace and controls inside a scheme
# ("java\tscript:"), backslashes that WHATWG parsers read as slashes, and characters that
# only show up when someone is trying to break out of an attribute.
_UNSAFE_URL_CHARACTERS: Final = re.compile(r"[\x00-\x20\x7f-\x9f\"<>\\`]")
_CODE_LANGUAGE_CLASS: Final = re.compile(r"language-[A-Za-z0-9_+#.-]{1,32}")
_LIST_START: Final = re.compile(r"[0-9]{1,9}")
_IMAGE_DIMENSION: Final = re.compile(r"[0-9]{1,4}")


def _split_absolute_url(url: str) -> SplitResult | None:
    """Parse a URL that names a host, or return None if it is not one."""
    if not url or _UNSAFE_URL_CHARACTERS.search(url):
        return None
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a non-numeric or out-of-range port.
        _ = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    # "https://trusted.example@evil.example" reads as the first host but goes to the
    # second; no announcement needs credentials in a URL.
    if parts.username is not None or parts.password is not None:
        return None
    return parts


def _is_link_url_shape(url: str) -> bool:
    parts = _split_absolute_url(url)
    return parts is not None and parts.scheme in {"http", "https"}


def _is_image_url_shape(url: str) -> bool:
    parts = _split_absolute_url(url)
    return parts is not None and parts.scheme == "https"


def is_allowed_link_url(url: str) -> bool:
    """An absolute http(s) URL with a host: what a CTA or a body link may point to.

    Relative and protocol-relative URLs are refused because the HTML is shown inside
    arbitrary host pages, on the public changelog and in feed readers, where they would
    resolve against a different origin each time. The URL must also survive the
    sanitizer unchanged, so the API never accepts a link the HTML would then drop.
    """
    return _is_link_url_shape(url) and _survives(f'<a href="{escape(url)}">x</a>', "href", url)


def is_allowed_image_url(url: str) -> bool:
    """An absolute https URL with a host; http images are mixed content on https pages."""
    return _is_image_url_shape(url) and _survives(f'<img src="{escape(url)}">', "src", url)


class _AttributeReader(HTMLParser):
    def __init__(self, attribute: str) -> None:
        super().__init__()
        self.attribute = attribute
        self.values: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values += [value for name, value in attrs if name == self.attribute]


def _survives(html: str, attribute: str, url: str) -> bool:
    reader = _AttributeReader(attribute)
    reader.feed(sanitize_html(html))
    return reader.values == [url]


def _is_allowed_mailto_url(url: str) -> bool:
    return (
        len(url) > len("mailto:")
        and url[: len("mailto:")].lower() == "mailto:"
        and not _UNSAFE_URL_CHARACTERS.search(url)
    )


def _is_allowed_href(url: str) -> bool:
    return _is_link_url_shape(url) or _is_allowed_mailto_url(url)


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


def _is_free_text(_value: str) -> bool:
    # Text attributes are entity-escaped on output, so any value is inert.
    return True


# Every (tag, attribute) pair that may survive, with the check its value must pass. The
# filter sees the rel and target that nh3 itself adds, so those are listed too, pinned to
# the one value we set.
_ATTRIBUTE_VALUE_CHECKS: Final[Mapping[tuple[str, str], Callable[[str], bool]]] = MappingProxyType(
    {
        ("a", "href"): _is_allowed_href,
        ("a", "title"): _is_free_text,
        ("a", "rel"): lambda value: value == LINK_REL,
        ("a", "target"): lambda value: value == LINK_TARGET,
        ("img", "src"): _is_image_url_shape,
        ("img", "alt"): _is_free_text,
        ("img", "title"): _is_free_text,
        ("img", "width"): _matches(_IMAGE_DIMENSION),
        ("img", "height"): _matches(_IMAGE_DIMENSION),
        ("code", "class"): _matches(_CODE_LANGUAGE_CLASS),
        ("ol", "start"): _matches(_LIST_START),
    }
)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 has already applied the scheme list and dropped relative URLs; this second look
    # enforces what it cannot express (https-only images, value shapes) and would still
    # hold if a future nh3 default loosened. It must never raise: nh3 would report the
    # error out of band and drop the attribute.
    check = _ATTRIBUTE_VALUE_CHECKS.get((tag, attribute))
    if check is None or not check(value):
        return None
    return value


_cleaner: Final = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=DROPPED_WITH_CONTENT_TAGS,
    # nh3 only accepts a real dict here, not the read-only view.
    attributes=dict(ALLOWED_ATTRIBUTES),
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel=LINK_REL,
    # nh3 adds the attribute after removing any target the input carried, so an author's
    # target="_self" or a named window cannot survive.
    set_tag_attribute_values={"a": {"target": LINK_TARGET}},
    url_schemes=ALLOWED_URL_SCHEMES,
    url_relative="deny",
)

# The CommonMark preset turns raw HTML on; it is turned off here (see the module docstring).
# Linkify and typographer stay off: bare-URL linking needs an extra dependency, and
# typographic quotes would rewrite what the author typed.
_markdown: Final = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False}
).enable(["table", "strikethrough"])


def sanitize_html(html: str) -> str:
    """Clean an HTML fragment against the allowlists; idempotent."""
    # Two passes, because one is not idempotent: when the attribute filter rejects a value,
    # nh3 fills the gap with the element's last attribute (swap-remove), so a link whose
    # href was refused comes out as <a rel=... target=...>, and cleaning that again yields
    # <a target=... rel=...>. A second pass over already-clean HTML refuses nothing, so it
    # only restores the canonical order, and further passes change nothing.
    return _cleaner.clean(_cleaner.clean(html))


def render_markdown(markdown: str) -> str:
    """Render an announcement body to HTML that is safe to embed."""
    return sanitize_html(_markdown.render(markdown))
