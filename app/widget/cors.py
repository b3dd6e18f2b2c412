"""Which pages may call a workspace's widget API: its ``allowed_origins``, echoed exactly."""

from app.errors import Forbidden
from app.feed.snapshot import WorkspaceSnapshot


def is_allowed_origin(origin: str, snapshot: WorkspaceSnapshot) -> bool:
    # No list yet means "anywhere": convenient while setting up, documented as such.
    return not snapshot.allowed_origins or origin in snapshot.allowed_origins


def refuse_foreign_origin(origin: str | None, snapshot: WorkspaceSnapshot) -> None:
    if origin is not None and not is_allowed_origin(origin, snapshot):
        raise Forbidden(
            f"Origin {origin} is not in this workspace's allowed_origins; add it with "
            "PATCH /v1/workspace."
        )


def add_cors_headers(
    headers: dict[str, str], origin: str | None, snapshot: WorkspaceSnapshot
) -> None:
    """Echo an allowed Origin exactly; a foreign one gets no CORS headers at all."""
    headers["Vary"] = "Origin"
    if origin is not None and is_allowed_origin(origin, snapshot):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = "ETag"
