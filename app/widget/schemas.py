"""Widget API bodies besides the feed's and the events' (app/feed/schemas.py,
app/ingest/schemas.py). Requests are parsed by hand on the hot path (hot_path.py); these
models validate envelopes and document the API in OpenAPI."""

from typing import Any

from pydantic import BaseModel, Field

from app.end_users.schemas import LocaleTag, VisitorFields


class IdentifyRequest(VisitorFields):
    locale: LocaleTag | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="At most 50 keys and 8 KB as JSON."
    )


def beacon_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI of a body sent as JSON, or as the same JSON in text/plain (sendBeacon)."""
    content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}},
        "text/plain": {
            "schema": {"type": "string", "description": "The same JSON, as sendBeacon sends it."}
        },
    }
    return {"requestBody": {"required": True, "content": content}}
