"""The hot routes read requests by hand: they must read them exactly as Starlette would."""

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from app.kit.etags import if_none_match_hits
from app.kit.hot_routes import query_pairs as _query
from tests.fixtures.widget_client import WidgetClient

_QUERY_TEXT = st.text(alphabet="ab=&%+20Cé-_", max_size=40)


@given(_QUERY_TEXT)
def test_query_parameters_read_as_starlette_reads_them(text: str) -> None:
    raw = text.encode("utf-8")
    expected = QueryParams(raw.decode("latin-1"))
    assert _query({"query_string": raw}) == expected.multi_items()


def test_if_none_match_fast_path_agrees_with_the_full_comparison() -> None:
    assert if_none_match_hits('"abc"', "abc")
    assert if_none_match_hits('W/"abc"', "abc")
    assert if_none_match_hits('"x", "abc"', "abc")
    assert if_none_match_hits("*", "abc")
    assert not if_none_match_hits('"abcd"', "abc")
    assert not if_none_match_hits("abc", "abc")


async def test_head_on_the_feed_answers_like_get_without_a_body(widget: WidgetClient) -> None:
    polled = await widget.feed(user_id="42")
    head = await widget.client.head(
        "/v1/widget/announcements", params={"key": widget.tenant.publishable_key, "user_id": "42"}
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == polled.headers["etag"]
