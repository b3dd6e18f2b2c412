"""Audiences as stored on announcements: validated at write time, compiled for reads."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import invalid_field
from app.targeting.conditions import ConditionError, compile_condition


async def validate_audience(
    session: AsyncSession, workspace_id: str, audience: dict[str, Any]
) -> dict[str, Any]:
    """Check an audience (shape already checked by its schema) and return its stored form.

    The stored form leaves out empty parts, so ``{}`` means everyone.
    """
    stored: dict[str, Any] = {}
    condition = audience.get("condition")
    if condition:
        try:
            compile_condition(condition)
        except ConditionError as exc:
            field = f"audience.condition.{exc.path}" if exc.path else "audience.condition"
            raise invalid_field(field, exc.message, "condition_error") from None
        stored["condition"] = condition
    segments = audience.get("segments") or []
    for index, segment_id in enumerate(segments):
        # Saved segments arrive with their own endpoints; until then none can exist.
        raise invalid_field(f"audience.segments[{index}]", f"no segment {segment_id!r}")
    if audience.get("rollout") is not None:
        stored["rollout"] = audience["rollout"]
    if audience.get("pages"):
        stored["pages"] = list(dict.fromkeys(audience["pages"]))
    return stored
