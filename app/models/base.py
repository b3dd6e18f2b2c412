"""Shared pieces of every table: naming conventions and timestamp columns."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.kit.db_types import UTCDateTime, json_type
from app.kit.time import utc_now

# Deterministic constraint names, so migrations can name what they drop on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def timestamp_field(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True)
    return Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


def json_field(default_factory: Any, *, nullable: bool = False) -> Any:
    return Field(
        default_factory=default_factory,
        sa_type=json_type(none_as_null=nullable),
        nullable=nullable,
    )


__all__ = ["SQLModel", "datetime", "json_field", "timestamp_field"]
