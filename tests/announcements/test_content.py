import re
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.announcements.content import (
    is_allowed_image_url,
    is_allowed_link_url,
    render_markdown,
    sanitize_html,
)

# The policy written out again, independently of content.py's constants, so that a
# mistake in the module's allowlists cannot vouch for itself.
PERMITTED_TAGS = frozenset(
    {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "strong", "em", "del", "s"}
    | {"ul", "ol", "li", "code", "pre", "blockquote", "a", "img"}
    | {"table", "thead", "tbody", "tr", "th", "td"}
)
PERMITTED_ATTRIBUTES = {
    "a": frozenset({"href", "title", "rel", "target"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "code": frozenset({"class"}),
    "ol": frozenset({"start"}),
}
# What WHATWG URL parsing throws away before it looks for a scheme.
_IGNORED_BY_BROWSERS = re.compile(r"[\x00-\x20\x7f]")


@dataclass
class Element:
    tag: str
    attributes: dict[str, str | None]


@dataclass
class ParsedFragment:
    elements: list[Element] = field(default_factory=list)
    text: str = ""
    problems: list[str] = field(default_factory=list)

    def all(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]


class _FragmentParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fragment = ParsedFragment()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fragment.elements.append(Element(tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.fragment.text += data

    def handle_comment(self, data: str) -> None:
        self.fragment.problems.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.fragment.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.fragment.problems.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.fragment.problems.append(f"declaration {data!r}")


def parse(html: str) -> ParsedFragment:
    parser = _FragmentParser()
    parser.feed(html)
    parser.close()
    return parser.fragment


def _scheme(url: str) -> str | None:
    cleaned = _IGNORED_BY_BROWSERS.sub("", url).lower()
    match = re.match(r"([a-z][a-z0-9+.-]*):", cleaned)
    return match.group(1) if match else None


def _url_problem(url: str, schemes: frozenset[str]) -> str | None:
    scheme = _scheme(url)
    if scheme not in schemes:
        return f"scheme {scheme!r}"
    if scheme in {"http", "https"} and not urlsplit(url).hostname:
        return "no host"
    return None


def forbidden_content(html: str) -> list[str]:
    """Everything in sanitized output that breaks the policy; empty means safe."""
    fragment = parse(html)
    problems = list(fragment.problems)
    for element in fragment.elements:
        where = f"<{element.tag}>"
        if element.tag not in PERMITTED_TAGS:
            problems.append(f"tag {where}")
            continue
        for name, value in element.attributes.items():
            if name not in PERMITTED_ATTRIBUTES.get(element.tag, frozenset()):
                problems.append(f"attribute {name!r} on {where}")
            elif value is None:
                problems.append(f"valueless attribute {name!r} on {where}")
        href = element.attributes.get("href")
        if href is not None and (
            problem := _url_problem(href, frozenset({"http", "https", "mailto"}))
        ):
            problems.append(f"href {href!r}: {problem}")
        src = element.attributes.get("src")
        if src is not None and (problem := _url_problem(src, frozenset({"https"}))):
            problems.append(f"src {src!r}: {problem}")
        if element.tag == "a" and (
            element.attributes.get("rel") != "noopener noreferrer"
            or element.attributes.get("target") != "_blank"
        ):
            problems.append(f"link without rel/target: {element.attributes}")
        css_class = element.attributes.get("class")
        if css_class is not None and not re.fullmatch(r"language-[\w+#.-]+", css_class):
            problems.append(f"class {css_class!r}")
    return problems


def assert_safe(html: str) -> None:
    assert forbidden_content(html) == [], html


class TestForbiddenContentCheck:
    """The checker the XSS tests rely on must itself catch what it is meant to catch."""

    @pytest.mark.parametrize(
        "html",
        [
            "<script>x</script>",
            "<svg></svg>",
            '<p onclick="x">a</p>',
            '<p style="color:red">a</p>',
            '<a href="java\tscript:x" rel="noopener noreferrer" target="_blank">a</a>',
            '<a href="https://x.example">a</a>',
            '<img src="http://x.example/i.png">',
            '<img src="//x.example/i.png">',
            "<!-- hi -->",
            '<code class="hero">x</code>',
        ],
    )
    def test_flags_unsafe_html(self, html: str) -> None:
        assert forbidden_content(html) != []


# -- XSS corpus ------------------------------------------------------------------------

HTML_VECTORS = {
    "script": "<script>alert(1)</script>",
    "script uppercase": "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "script split": "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "img onerror https": '<img src="https://example.com/i.png" onerror="alert(1)">',
    "details ontoggle": "<details open ontoggle=alert(1)><summary>s</summary>d</details>",
    "svg onload": "<svg onload=alert(1)>",
    "svg script": "<svg><script>alert(1)</script></svg>",
    "svg a xlink": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "svg animate": '<svg><animate attributeName="href" values="javascript:alert(1)"/></svg>',
    "mathml maction": (
        '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>'
    ),
    "mathml mglyph style": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "mathml annotation": (
        '<math><annotation-xml encoding="text/html">'
        "<img src=x onerror=alert(1)></annotation-xml></math>"
    ),
    "href javascript": '<a href="javascript:alert(1)">x</a>',
    "href mixed case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "href decimal entity": '<a href="&#106;avascript:alert(1)">x</a>',
    "href hex entity": '<a href="&#x6A;&#x61;vascript:alert(1)">x</a>',
    "href padded entity": '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
    "href named entity colon": '<a href="javascript&colon;alert(1)">x</a>',
    "href tab in scheme": '<a href="java\tscript:alert(1)">x</a>',
    "href entity tab in scheme": '<a href="java&#x09;script:alert(1)">x</a>',
    "href newline in scheme": '<a href="java\nscript:alert(1)">x</a>',
    "href leading control": '<a href="\x01 javascript:alert(1)">x</a>',
    "href leading space": '<a href="  javascript:alert(1)">x</a>',
    "href vbscript": '<a href="VBScript:msgbox(1)">x</a>',
    "href data html": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "href data mixed case": '<a href="DaTa:text/html,<script>alert(1)</script>">x</a>',
    "href protocol relative": '<a href="//evil.example/x">x</a>',
    "href backslash relative": '<a href="\\\\evil.example/x">x</a>',
    "href https backslashes": '<a href="https:\\\\evil.example">x</a>',
    "href credentials": '<a href="https://trusted.example@evil.example/">x</a>',
    "href unquoted onmouseover": "<a href=https://x.example onmouseover=alert(1)>x</a>",
    "img src javascript": '<img src="javascript:alert(1)">',
    "img src data": '<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">',
    "img src http": '<img src="http://example.com/i.png" alt="a">',
    "img src protocol relative": '<img src="//example.com/i.png" alt="a">',
    "img srcset": '<img srcset="javascript:alert(1) 1x" alt="a">',
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "form": '<form action="https://evil.example"><input name="p"><button>go</button></form>',
    "formaction": '<button formaction="javascript:alert(1)">x</button>',
    "style element": "<style>body{background:url(javascript:alert(1))}</style>",
    "style attribute": '<p style="background:url(javascript:alert(1))">x</p>',
    "base": '<base href="https://evil.example/">',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "object": '<object data="javascript:alert(1)"></object>',
    "embed": '<embed src="javascript:alert(1)">',
    "noscript breakout": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "textarea breakout": "<textarea></textarea><img src=x onerror=alert(1)></textarea>",
    "template": "<template><img src=x onerror=alert(1)></template>",
    "comment breakout": "<!--><img src=x onerror=alert(1)>-->",
    "cdata": "<![CDATA[<img src=x onerror=alert(1)>]]>",
    "target and rel override": '<a href="https://x.example" target="_self" rel="opener">x</a>',
    "event handler on allowed tag": '<p onmouseover="alert(1)">x</p>',
    "class on allowed tag": '<p class="modal-backdrop">x</p>',
    "id and name clobbering": '<img id="location" name="cookie" src="https://x.example/i.png">',
    "code class injection": '<code class="language-js hero">x</code>',
    "width not a number": '<img src="https://x.example/i.png" width="100%" height="1e9">',
    "xmp": "<xmp><img src=x onerror=alert(1)></xmp>",
    "unclosed attribute": '<a href="https://x.example" title="x>y<script>alert(1)</script>',
}


class TestSanitizeHtmlNeutralizes:
    @pytest.mark.parametrize("html", HTML_VECTORS.values(), ids=HTML_VECTORS.keys())
    def test_vector_is_neutralized(self, html: str) -> None:
        output = sanitize_html(html)
        assert_safe(output)
        assert sanitize_html(output) == output

    @pytest.mark.parametrize(
        "html",
        [
            HTML_VECTORS["script"],
            HTML_VECTORS["style element"],
            HTML_VECTORS["svg script"],
            HTML_VECTORS["iframe srcdoc"],
            HTML_VECTORS["template"],
        ],
    )
    def test_dangerous_element_content_is_removed_too(self, html: str) -> None:
        output = sanitize_html(html)
        assert "alert" not in output
        assert "javascript" not in output

    @pytest.mark.parametrize(
        "html",
        [
            HTML_VECTORS["href javascript"],
            HTML_VECTORS["href decimal entity"],
            HTML_VECTORS["href tab in scheme"],
            HTML_VECTORS["href leading control"],
            HTML_VECTORS["href data html"],
            HTML_VECTORS["href protocol relative"],
            HTML_VECTORS["href https backslashes"],
            HTML_VECTORS["href credentials"],
        ],
    )
    def test_refused_link_keeps_its_text_but_loses_its_href(self, html: str) -> None:
        (link,) = parse(sanitize_html(html)).all("a")
        assert "href" not in link.attributes
        assert parse(sanitize_html(html)).text == "x"

    def test_http_image_loses_src_but_keeps_alt(self) -> None:
        (image,) = parse(sanitize_html(HTML_VECTORS["img src http"])).all("img")
        assert image.attributes == {"alt": "a"}

    def test_author_target_and_rel_are_replaced(self) -> None:
        (link,) = parse(sanitize_html(HTML_VECTORS["target and rel override"])).all("a")
        assert link.attributes == {
            "href": "https://x.example",
            "target": "_blank",
            "rel": "noopener noreferrer",
        }

    def test_code_class_must_be_a_single_language_token(self) -> None:
        assert sanitize_html('<code class="language-js hero">x</code>') == "<code>x</code>"
        assert (
            sanitize_html('<code class="language-c++">x</code>')
            == '<code class="language-c++">x</code>'
        )

    def test_image_dimensions_must_be_plain_numbers(self) -> None:
        (image,) = parse(sanitize_html(HTML_VECTORS["width not a number"])).all("img")
        assert image.attributes == {"src": "https://x.example/i.png"}
        assert sanitize_html('<img src="https://x.example/i.png" width="64" height="32">') == (
            '<img src="https://x.example/i.png" width="64" height="32">'
        )

    def test_refused_href_does_not_reorder_attributes_between_passes(self) -> None:
        # Regression: nh3 swap-removes a filtered attribute, which once made a second
        # sanitize_html call reorder rel/target.
        once = sanitize_html('<a href="https://user:pw@x.example" title="t">x</a>')
        assert once == '<a title="t" target="_blank" rel="noopener noreferrer">x</a>'
        assert sanitize_html(once) == once


MARKDOWN_VECTORS = {
    "raw script": "<script>alert(1)</script>",
    "raw img onerror": "Hello <img src=x onerror=alert(1)> world",
    "raw details": "<details open ontoggle=alert(1)>",
    "raw svg": "<svg onload=alert(1)>",
    "raw math": '<math><maction xlink:href="javascript:alert(1)">x</maction></math>',
    "raw iframe": '<iframe src="https://evil.example"></iframe>',
    "raw style": "<style>*{display:none}</style>",
    "raw a javascript": '<a href="javascript:alert(1)">x</a>',
    "raw html block": "<div>\n<script>alert(1)</script>\n</div>",
    "link javascript": "[x](javascript:alert(1))",
    "link javascript mixed case": "[x](JaVaScRiPt:alert(1))",
    "link javascript entity": "[x](&#106;avascript:alert(1))",
    "link javascript hex entity": "[x](&#x6A;avascript:alert(1))",
    "link javascript escaped colon": "[x](javascript&#58;alert(1))",
    "link javascript angle brackets with space": "[x](<java script:alert(1)>)",
    "link javascript percent": "[x](javascript%3Aalert(1))",
    "link vbscript": "[x](vbscript:msgbox(1))",
    "link data": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "link protocol relative": "[x](//evil.example/path)",
    "link relative": "[x](/admin)",
    "link credentials": "[x](https://trusted.example@evil.example/)",
    "image data": "![x](data:image/png;base64,iVBORw0KGgo=)",
    "image javascript": "![x](javascript:alert(1))",
    "image http": "![x](http://example.com/i.png)",
    "image protocol relative": "![x](//example.com/i.png)",
    "reference link javascript": "[x][evil]\n\n[evil]: javascript:alert(1)",
    "reference link data": "[x][evil]\n\n[evil]: data:text/html,hi",
    "reference image http": "![x][pic]\n\n[pic]: http://example.com/i.png",
    "autolink javascript": "<javascript:alert(1)>",
    "autolink vbscript": "<vbscript:msgbox(1)>",
    "autolink data": "<data:text/html,hi>",
    "title quote injection": '[x](https://example.com "a\\" onmouseover=\\"alert(1)")',
    "title single quote injection": "[x](https://example.com 'a\\' onmouseover=\\'alert(1)')",
    "image title quote injection": (
        '![a" onerror="alert(1)](https://example.com/i.png "t\\" onerror=\\"alert(1)")'
    ),
    "fence info injection": '```js" onmouseover="alert(1)\ncode\n```',
    "fence info tag": '```"><script>alert(1)</script>\ncode\n```',
    "table cell html": "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
}


class TestRenderMarkdownNeutralizes:
    @pytest.mark.parametrize("markdown", MARKDOWN_VECTORS.values(), ids=MARKDOWN_VECTORS.keys())
    def test_vector_is_neutralized(self, markdown: str) -> None:
        output = render_markdown(markdown)
        assert_safe(output)
        assert sanitize_html(output) == output

    def test_raw_html_is_shown_as_text_not_interpreted(self) -> None:
        output = render_markdown(MARKDOWN_VECTORS["raw img onerror"])
        assert output == "<p>Hello &lt;img src=x onerror=alert(1)&gt; world</p>\n"
        assert parse(output).all("img") == []

    @pytest.mark.parametrize(
        "name",
        [
            "link protocol relative",
            "link relative",
            "link credentials",
            "link javascript angle brackets with space",
        ],
    )
    def test_refused_link_target_leaves_an_inert_link(self, name: str) -> None:
        (link,) = parse(render_markdown(MARKDOWN_VECTORS[name])).all("a")
        assert "href" not in link.attributes

    @pytest.mark.parametrize(
        "name", ["image http", "image protocol relative", "image data", "reference image http"]
    )
    def test_image_that_is_not_https_keeps_only_its_alt(self, name: str) -> None:
        (image,) = parse(render_markdown(MARKDOWN_VECTORS[name])).all("img")
        assert image.attributes == {"alt": "x"}

    def test_link_title_quotes_stay_inside_the_title(self) -> None:
        (link,) = parse(render_markdown(MARKDOWN_VECTORS["title quote injection"])).all("a")
        assert link.attributes["title"] == 'a" onmouseover="alert(1)'
        assert "onmouseover" not in link.attributes

    def test_unknown_fence_language_is_dropped(self) -> None:
        (code,) = parse(render_markdown(MARKDOWN_VECTORS["fence info injection"])).all("code")
        assert code.attributes == {}


# -- what must keep working ---------------------------------------------------------------


class TestRenderMarkdownFormatting:
    @pytest.mark.parametrize("level", range(1, 7))
    def test_headings(self, level: int) -> None:
        assert render_markdown("#" * level + " New") == f"<h{level}>New</h{level}>\n"

    def test_emphasis_strong_strikethrough_inline_code(self) -> None:
        assert render_markdown("*a* **b** ~~c~~ `d`") == (
            "<p><em>a</em> <strong>b</strong> <s>c</s> <code>d</code></p>\n"
        )

    def test_bullet_list(self) -> None:
        assert render_markdown("- one\n- two") == "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"

    def test_ordered_list_keeps_its_start_number(self) -> None:
        assert render_markdown("3. three\n4. four") == (
            '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n'
        )

    def test_fenced_code_keeps_language_and_escapes_content(self) -> None:
        assert render_markdown("```python\nif a < b:\n    pass\n```") == (
            '<pre><code class="language-python">if a &lt; b:\n    pass\n</code></pre>\n'
        )

    def test_indented_code_block(self) -> None:
        assert render_markdown("    x = 1") == "<pre><code>x = 1\n</code></pre>\n"

    def test_blockquote_rule_and_hard_break(self) -> None:
        assert render_markdown("> quoted\n\n---\n\nline  \nbreak") == (
            "<blockquote>\n<p>quoted</p>\n</blockquote>\n<hr>\n<p>line<br>\nbreak</p>\n"
        )

    def test_table_without_alignment_styles(self) -> None:
        output = render_markdown("| Plan | Seats |\n|:--|--:|\n| Pro | 10 |")
        assert [element.tag for element in parse(output).elements] == [
            "table",
            "thead",
            "tr",
            "th",
            "th",
            "tbody",
            "tr",
            "td",
            "td",
        ]
        assert_safe(output)

    def test_text_is_escaped(self) -> None:
        assert render_markdown("a < b & c > d") == "<p>a &lt; b &amp; c &gt; d</p>\n"


class TestRenderMarkdownLinksAndImages:
    def test_link_gets_rel_and_target(self) -> None:
        assert render_markdown('[Docs](https://example.com/docs "Read")') == (
            '<p><a href="https://example.com/docs" title="Read" target="_blank"'
            ' rel="noopener noreferrer">Docs</a></p>\n'
        )

    @pytest.mark.parametrize(
        ("markdown", "href"),
        [
            ("[x](http://example.com)", "http://example.com"),
            ("[x](HTTPS://EXAMPLE.COM/A)", "HTTPS://EXAMPLE.COM/A"),
            ("[x](mailto:team@example.com)", "mailto:team@example.com"),
            ("<https://example.com/a?b=1&c=2>", "https://example.com/a?b=1&c=2"),
            ("<team@example.com>", "mailto:team@example.com"),
            ("[x][ref]\n\n[ref]: https://example.com/r", "https://example.com/r"),
            ("[x](https://example.com/o'brien)", "https://example.com/o'brien"),
            ("[x](https://exämple.com/ü)", "https://xn--exmple-cua.com/%C3%BC"),
        ],
    )
    def test_allowed_link_targets_survive(self, markdown: str, href: str) -> None:
        (link,) = parse(render_markdown(markdown)).all("a")
        assert link.attributes["href"] == href
        assert link.attributes["rel"] == "noopener noreferrer"
        assert link.attributes["target"] == "_blank"

    def test_https_image_keeps_src_alt_and_title(self) -> None:
        assert render_markdown('![Dashboard](https://cdn.example.com/d.png "New")') == (
            '<p><img src="https://cdn.example.com/d.png" alt="Dashboard" title="New"></p>\n'
        )


# -- URL validators used by the API layer ---------------------------------------------------

URL_CASES: list[tuple[str, bool, bool]] = [
    # (url, is an allowed link, is an allowed image)
    ("https://example.com", True, True),
    ("https://example.com/path?q=1#frag", True, True),
    ("HTTPS://EXAMPLE.COM/x.png", True, True),
    ("https://example.com:8443/x", True, True),
    ("https://[2001:db8::1]/x", True, True),
    ("https://exämple.com/ü.png", True, True),
    ("http://example.com", True, False),
    ("http://localhost:8000/x", True, False),
    ("mailto:team@example.com", False, False),
    ("ftp://example.com/x", False, False),
    ("javascript:alert(1)", False, False),
    ("JavaScript:alert(1)", False, False),
    ("java\tscript:alert(1)", False, False),
    ("data:image/png;base64,AAAA", False, False),
    ("vbscript:msgbox(1)", False, False),
    ("//example.com/x", False, False),
    ("/relative", False, False),
    ("example.com", False, False),
    ("https:example.com", False, False),
    ("https:/example.com", False, False),
    ("https:///example.com", False, False),
    ("https://", False, False),
    ("https://:443/x", False, False),
    ("https://user:pw@example.com", False, False),
    ("https://trusted.example@evil.example", False, False),
    ("https://example.com:99999", False, False),
    ("https://example.com:port", False, False),
    ("https://[::1", False, False),
    (" https://example.com", False, False),
    ("https://example.com ", False, False),
    ("https://exa mple.com", False, False),
    ("https://example.com/\nx", False, False),
    ("https://example.com/\x00", False, False),
    ("https:\\\\evil.example", False, False),
    ('https://example.com/"onmouseover="x', False, False),
    ("https://example.com/<script>", False, False),
    ("", False, False),
]


class TestUrlValidators:
    @pytest.mark.parametrize(("url", "is_link", "is_image"), URL_CASES)
    def test_link_and_image_url_policy(self, url: str, is_link: bool, is_image: bool) -> None:
        assert is_allowed_link_url(url) is is_link
        assert is_allowed_image_url(url) is is_image


# -- properties -----------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    # Keep the example database out of the checkout; failures print their example anyway.
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

URL_PIECES = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "&#106;avascript:alert(1)",
    "java&#x09;script:alert(1)",
    "java\tscript:alert(1)",
    "\x01javascript:alert(1)",
    "vbscript:x",
    "data:text/html,<script>alert(1)</script>",
    "https://example.com/",
    "http://example.com/",
    "//evil.example",
    "/relative",
    "mailto:a@example.com",
    "https://u:p@example.com",
    "https:\\\\evil.example",
    "language-python",
    "42",
]
TAG_NAMES = [
    "a",
    "img",
    "p",
    "code",
    "pre",
    "ol",
    "table",
    "td",
    "tr",
    "b",
    "div",
    "script",
    "style",
    "svg",
    "math",
    "mtext",
    "mglyph",
    "annotation-xml",
    "foreignObject",
    "iframe",
    "noscript",
    "textarea",
    "template",
    "title",
    "xmp",
    "details",
    "form",
    "base",
    "meta",
    "object",
    "select",
]
ATTRIBUTE_NAMES = [
    "href",
    "src",
    "title",
    "alt",
    "class",
    "start",
    "width",
    "rel",
    "target",
    "style",
    "onerror",
    "onload",
    "ontoggle",
    "xlink:href",
    "formaction",
    "srcset",
    "id",
    "open",
]
# URLs assembled from parts that each matter to some rule: scheme and its casing, the
# slashes after it, credentials, a missing or odd host.
assembled_urls = st.builds(
    lambda scheme, slashes, userinfo, host, path: f"{scheme}{slashes}{userinfo}{host}{path}",
    st.sampled_from(["https:", "http:", "HTTPS:", "mailto:", "javascript:", "data:", "ftp:", ""]),
    st.sampled_from(["//", "", "/", "///", "\\\\", "/\\"]),
    st.sampled_from(["", "u:p@", "trusted.example@", "@"]),
    st.sampled_from(["example.com", "", "[::1]", "exämple.com", ":443", "example.com:99999"]),
    st.text(max_size=5),
)
urls = st.one_of(st.sampled_from(URL_PIECES), assembled_urls)
attribute_values = st.one_of(urls, st.text(max_size=12))
# Half of the draws come from the allowlisted names: the interesting cases are values the
# filter must judge on elements that survive, and uniform draws would rarely build one.
attribute = st.builds(
    lambda name, value, quote: f" {name}={quote}{value}{quote}",
    st.one_of(
        st.sampled_from(["href", "src", "title", "class", "width", "start"]),
        st.sampled_from(ATTRIBUTE_NAMES),
    ),
    attribute_values,
    st.sampled_from(['"', "'", ""]),
)
start_tag = st.builds(
    lambda name, attributes, self_closing: (
        f"<{name}{''.join(attributes)}{'/' if self_closing else ''}>"
    ),
    st.one_of(st.sampled_from(["a", "img", "code", "ol"]), st.sampled_from(TAG_NAMES)),
    st.lists(attribute, max_size=4),
    st.booleans(),
)
# Elements that survive, carrying only attributes that survive too, so that the values
# themselves are what the sanitizer has to judge (this is where idempotence broke once).
surviving_element = st.builds(
    lambda tag, attributes: f"<{tag}{''.join(attributes)}>x</{tag}>",
    st.sampled_from(["a", "img", "code", "ol"]),
    st.lists(
        st.builds(
            lambda name, value: f' {name}="{value}"',
            st.sampled_from(["href", "src", "title", "alt", "class", "start", "width"]),
            attribute_values,
        ),
        min_size=1,
        max_size=4,
    ),
)
end_tag = st.sampled_from(TAG_NAMES).map(lambda name: f"</{name}>")
html_noise = st.sampled_from(
    ["<", ">", "&", "&#", ";", '"', "'", "=", "/", "<!--", "-->", "<![CDATA[", "]]>", "<!", "\x00"]
)
html_like = st.lists(
    st.one_of(start_tag, surviving_element, end_tag, html_noise, st.text(max_size=8)),
    max_size=25,
).map("".join)

markdown_pieces = st.sampled_from(
    [
        "[",
        "]",
        "(",
        ")",
        "![",
        "](",
        "<",
        ">",
        "\n",
        "\n\n",
        "# ",
        "> ",
        "- ",
        "3. ",
        "```",
        "`",
        "*",
        "_",
        "~~",
        "|",
        "|---|",
        "---",
        '"',
        "'",
        "\\",
        " ",
        "\t",
        "[r]: ",
        "[r]",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">',
    ]
)
markdown_like = st.lists(
    st.one_of(markdown_pieces, st.sampled_from(URL_PIECES), st.text(max_size=8)), max_size=30
).map("".join)


links_and_images = st.builds(
    lambda tag, url, title: f'<{tag} {"href" if tag == "a" else "src"}="{url}" title="{title}">',
    st.sampled_from(["a", "img"]),
    urls,
    st.text(max_size=5),
)


class TestProperties:
    @PROPERTY_SETTINGS
    @given(st.text())
    def test_sanitize_is_idempotent_on_text(self, text: str) -> None:
        once = sanitize_html(text)
        assert sanitize_html(once) == once

    @PROPERTY_SETTINGS
    @given(html_like)
    def test_sanitize_is_idempotent_and_safe_on_html(self, html: str) -> None:
        once = sanitize_html(html)
        assert_safe(once)
        assert sanitize_html(once) == once

    @PROPERTY_SETTINGS
    @given(st.lists(links_and_images, min_size=1, max_size=3).map("".join))
    def test_sanitize_is_idempotent_and_safe_on_urls(self, html: str) -> None:
        once = sanitize_html(html)
        assert_safe(once)
        assert sanitize_html(once) == once

    @PROPERTY_SETTINGS
    @given(urls)
    def test_sanitizer_agrees_with_the_api_url_validators(self, url: str) -> None:
        # mailto has its own rule in the sanitizer; NUL and CR are rewritten by HTML parsing
        # before the sanitizer sees the value, so it judges a different string.
        assume(not url.lower().startswith("mailto:"))
        assume("\x00" not in url and "\r" not in url)
        quoted = escape(url, quote=True)
        (link,) = parse(sanitize_html(f'<a href="{quoted}">x</a>')).all("a")
        assert (link.attributes.get("href") == url) is is_allowed_link_url(url), link
        (image,) = parse(sanitize_html(f'<img src="{quoted}">')).all("img")
        assert (image.attributes.get("src") == url) is is_allowed_image_url(url), image

    @PROPERTY_SETTINGS
    @given(st.one_of(st.text(), markdown_like))
    def test_rendered_markdown_is_safe_and_already_clean(self, markdown: str) -> None:
        output = render_markdown(markdown)
        assert_safe(output)
        assert sanitize_html(output) == output
