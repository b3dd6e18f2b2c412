"""Audiences as stored on announcements: validated at write time, compiled for reads.

An audience is ``{condition?, segments?, rollout?, pages?}``; ``{}`` means everyone. A user
is in when the condition matches, every listed segment's condition matches, and the user's
key falls inside the rollout. ``pages`` is not decided here: the widget applies it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import invalid_field
from app.targeting.conditions import CompiledCondition, ConditionError, compile_condition
from app.targeting.rollout import hash_v2, in_rollout


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


@dataclass(frozen=True, slots=True)
class CompiledAudience:
    """An audience ready to test many users: conditions compiled once."""

    seed: str
    condition: CompiledCondition | None
    segments: tuple[tuple[str, CompiledCondition], ...]
    rollout: float | None

    def matches(self, attributes: Mapping[str, object], user_key: str) -> bool:
        if self.condition is not None and not self.condition.evaluate(attributes):
            return False
        if any(not condition.evaluate(attributes) for _, condition in self.segments):
            return False
        return self.rollout is None or in_rollout(self.seed, user_key, self.rollout)

    def explain(self, attributes: Mapping[str, object], user_key: str) -> tuple[bool, list[str]]:
        """The verdict of ``matches`` with readable reasons, every part evaluated."""
        reasons: list[str] = []
        verdict = True
        if self.condition is None:
            reasons.append("condition: none (everyone)")
        else:
            passed, lines = self.condition.explain(attributes)
            reasons.append(f"condition → {'pass' if passed else 'fail'}")
            reasons += [f"  {line}" for line in lines]
            verdict &= passed
        for segment_id, condition in self.segments:
            passed, lines = condition.explain(attributes)
            reasons.append(f"segment {segment_id} → {'pass' if passed else 'fail'}")
            reasons += [f"  {line}" for line in lines]
            verdict &= passed
        if self.rollout is not None:
            passed = in_rollout(self.seed, user_key, self.rollout)
            bucket = hash_v2(self.seed, user_key) * 100 if user_key else None
            where = f"bucket {bucket:.2f}" if bucket is not None else "no user key"
            reasons.append(f"rollout {self.rollout:g}%: {where} → {'in' if passed else 'out'}")
            verdict &= passed
        return verdict, reasons


def compile_audience(
    seed: str, audience: Mapping[str, Any], segment_conditions: Mapping[str, Any]
) -> CompiledAudience:
    """Compile a stored audience. ``segment_conditions`` maps segment id → condition.

    A segment that no longer exists matches nobody: deleting a segment that is in use is
    refused, so this only happens if the database was changed by hand.
    """
    condition = audience.get("condition")
    segments = tuple(
        (
            segment_id,
            compile_condition(segment_conditions[segment_id])
            if segment_id in segment_conditions
            else _NOBODY,
        )
        for segment_id in audience.get("segments") or ()
    )
    rollout = audience.get("rollout")
    return CompiledAudience(
        seed=seed,
        condition=compile_condition(condition) if condition else None,
        segments=segments,
        rollout=float(rollout) if rollout is not None else None,
    )


# Matches no one: the negation of "any of [everything]".
_NOBODY = compile_condition({"$nor": [{}]})
