"""Audiences as stored on announcements: validated at write time, compiled for reads.

An audience is ``{condition?, segments?, rollout?, pages?}``; ``{}`` means everyone. A user
is in when the condition matches, every listed segment's condition matches, and the user's
key falls inside the rollout. ``pages`` is not decided here: the widget applies it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, FieldError, InvalidInput, invalid_field
from app.targeting.conditions import CompiledCondition, ConditionError, compile_condition
from app.targeting.repository import SegmentRepository
from app.targeting.rollout import hash_v2, in_rollout


def validated_condition(condition: object, field: str) -> CompiledCondition:
    """Compile a condition sent by a client; a 422 on ``field.<path>`` when it is invalid."""
    try:
        return compile_condition(condition)
    except ConditionError as exc:
        where = f"{field}.{exc.path}" if exc.path else field
        raise invalid_field(where, exc.message, "condition_error") from None


async def validate_audience(
    session: AsyncSession, workspace_id: str, audience: dict[str, Any]
) -> dict[str, Any]:
    """Check an audience (shape already checked by its schema) and return its stored form.

    The stored form leaves out empty parts, so ``{}`` means everyone. Segment ids must
    name segments of the workspace; repeated ids are kept once.
    """
    stored: dict[str, Any] = {}
    condition = audience.get("condition")
    if condition:
        validated_condition(condition, "audience.condition")
        stored["condition"] = condition
    segments: list[str] = list(audience.get("segments") or [])
    if segments:
        existing = await SegmentRepository(session).existing_ids(workspace_id, set(segments))
        unknown: list[FieldError] = [
            {
                "field": f"audience.segments[{index}]",
                "message": f"no segment {segment_id!r} in this workspace",
                "type": "unknown_segment",
            }
            for index, segment_id in enumerate(segments)
            if segment_id not in existing
        ]
        if unknown:
            summary = "; ".join(f"{error['field']}: {error['message']}" for error in unknown[:5])
            raise InvalidInput(summary, errors=unknown)
        stored["segments"] = list(dict.fromkeys(segments))
    if audience.get("rollout") is not None:
        stored["rollout"] = audience["rollout"]
    if audience.get("pages"):
        stored["pages"] = list(dict.fromkeys(audience["pages"]))
    return stored


async def record_segment_use(
    session: AsyncSession, workspace_id: str, announcement_id: str, audience: Mapping[str, Any]
) -> None:
    """Keep ``announcement_segments`` equal to the segments a stored audience lists.

    Call it after the announcement row is written. If a listed segment was deleted since
    ``validate_audience`` checked it, the foreign key refuses the link: 409, retry.
    """
    try:
        await SegmentRepository(session).replace_links(
            workspace_id, announcement_id, list(audience.get("segments") or [])
        )
    except IntegrityError:
        raise Conflict(
            "A segment in audience.segments was deleted while this change was saved; "
            "check the segments and retry."
        ) from None


async def current_segment_conditions(
    session: AsyncSession, workspace_id: str, audiences: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Segment id → its condition as it is now, for every segment the audiences list.

    Pass the result to ``compile_audience``; one query however many audiences.
    """
    wanted = {segment_id for audience in audiences for segment_id in audience.get("segments") or ()}
    segments = await SegmentRepository(session).get_many(workspace_id, wanted)
    return {segment.id: segment.condition for segment in segments}


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
        for _, condition in self.segments:
            if not condition.evaluate(attributes):
                return False
        return self.rollout is None or in_rollout(self.seed, user_key, self.rollout)

    def explain(
        self,
        attributes: Mapping[str, object],
        user_key: str,
        *,
        segment_names: Mapping[str, str] | None = None,
    ) -> tuple[bool, list[str]]:
        """The verdict of ``matches`` with readable reasons, every part evaluated.

        ``segment_names`` (id → name) makes the segment lines name what they test.
        """
        names = segment_names or {}
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
            label = f"segment {segment_id}"
            if segment_id in names:
                label += f" ({names[segment_id]})"
            reasons.append(f"{label} → {'pass' if passed else 'fail'}")
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
