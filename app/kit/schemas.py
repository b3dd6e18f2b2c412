"""Base classes for request and response bodies."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class InputModel(BaseModel):
    """Request bodies: unknown (or server-owned) fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text or JSON; SQLite can. Refuse it on both,
        # here, so the same input gets the same answer (a 422, not a database error).
        if _contains_nul(value):
            raise ValueError("may not contain the NUL character (U+0000)")
        return value


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


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
