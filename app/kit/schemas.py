"""Base classes for request and response bodies."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

# How deeply a field's JSON value may nest. Real bodies stay far below (a condition tree at
# its own depth limit is about 35 levels); a deeper one is refused before any recursive
# code (validation, storage, rendering) can run out of stack on it.
MAX_NESTING = 64


class InputModel(BaseModel):
    """Request bodies: unknown (or server-owned) fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unstorable(cls, value: Any) -> Any:
        problem = unstorable_json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def unstorable_json_problem(value: Any, max_nesting: int = MAX_NESTING) -> str | None:
    """Why ``value`` (parsed JSON) cannot be accepted, or None.

    PostgreSQL cannot store U+0000 in text or JSON; SQLite can. It is refused on both,
    here, so the same input gets the same answer (a 422, not a database error). Nesting
    is bounded for the same reason. Walked with a stack, not recursion, so any depth of
    input is safe to look at.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "may not contain the NUL character (U+0000)"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_nesting:
                return f"is nested more than {max_nesting} levels deep"
            if isinstance(item, dict):
                pending.extend((key, depth) for key in item)
                pending.extend((child, depth + 1) for child in item.values())
            else:
                pending.extend((child, depth + 1) for child in item)
    return None


class PatchModel(InputModel):
    """Partial updates: every field is optional; read what was sent with ``changes()``.

    An explicit ``null`` is refused unless the field is listed in ``nullable_fields``
    (where null means "clear it"), so a typo'd null never wipes a required value.
    """

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable_fields:
            raise ValueError("may not be null; omit the field to leave it unchanged")
        return value

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
