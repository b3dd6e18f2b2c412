"""The slack kind: a Block Kit message with the title linked to the permalink and a button."""

import httpx

from app.webhooks.slack import plain_excerpt
from tests.fixtures.tenants import Tenant
from tests.webhooks.conftest import add_endpoint, publish
from tests.webhooks.receiver import Receiver, verified

BODY = """Dark mode is **here** <script>alert(1)</script> & more.

- Switch it on in [Settings](https://app.example.com/settings)
- Pick a schedule

Third paragraph.

Fourth paragraph, not in the excerpt.
"""


class TestSlackMessage:
    async def test_message_shape(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        endpoint = await add_endpoint(client, tenant, receiver.url, kind="slack")
        announced = await publish(
            client,
            tenant,
            title="Dark mode <beta> & more",
            body=BODY,
            cta={"label": "Try it", "url": "https://app.example.com/settings"},
        )
        (received,) = await receiver.wait_for(1)
        message = verified(received, endpoint["secret"])  # signed like every delivery
        permalink = f"https://tidings.example.com/changelog/{tenant.slug}/{announced['id']}"
        assert message == {
            "text": f"New: Dark mode &lt;beta&gt; &amp; more <{permalink}>",
            "unfurl_links": False,
            "blocks": [
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": f"New: *<{permalink}|Dark mode &lt;beta&gt; &amp; more>*",
                    },
                },
                {
                    "type": "section",
                    "text": {
                        "type": "plain_text",
                        "text": "Dark mode is here <script>alert(1)</script> & more.\n"
                        "Switch it on in Settings\nPick a schedule",
                    },
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Try it"},
                            "url": "https://app.example.com/settings",
                        }
                    ],
                },
            ],
        }

    async def test_without_a_cta_the_button_opens_the_permalink(
        self, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
    ) -> None:
        await add_endpoint(client, tenant, receiver.url, kind="slack")
        announced = await publish(client, tenant, body="")
        (received,) = await receiver.wait_for(1)
        blocks = received.json()["blocks"]
        assert [block["type"] for block in blocks] == ["section", "actions"]  # type: ignore[attr-defined]
        button = blocks[1]["elements"][0]  # type: ignore[index]
        assert button["text"]["text"] == "Read more"
        assert button["url"].endswith(f"/changelog/{tenant.slug}/{announced['id']}")


class TestExcerpt:
    def test_long_text_is_cut_with_an_ellipsis(self) -> None:
        excerpt = plain_excerpt("<p>" + "word " * 300 + "</p>")
        assert len(excerpt) == 600 and excerpt.endswith("…")

    def test_entities_are_decoded_and_blank_lines_dropped(self) -> None:
        assert plain_excerpt("<h2>A &amp; B</h2>\n\n<p>x&lt;y</p>") == "A & B\nx<y"
