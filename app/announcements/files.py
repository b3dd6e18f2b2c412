"""Announcements kept as markdown files with YAML front matter (``tidings announce``).

    ---
    title: Dark mode is here
    status: published
    category: new
    ---
    Switch it on in **Settings**.

The front matter holds the fields of the API; the rest of the file is the body. The slug
defaults to the file name without its extension, so a file keeps updating one announcement.
"""

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.announcements.schemas import AnnouncementCreate
from app.errors import field_errors_from_pydantic

_FENCE = "---"


class AnnouncementFileError(ValueError):
    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """``(front matter, body)``; ValueError when the front matter is missing or not a map."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != _FENCE:
        raise ValueError("the file must start with a '---' line opening its front matter")
    closing = next((i for i, line in enumerate(lines) if i and line.strip() == _FENCE), None)
    if closing is None:
        raise ValueError("the front matter is not closed by a '---' line")
    try:
        front = yaml.safe_load("".join(lines[1:closing])) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"the front matter is not valid YAML: {exc}") from None
    if not isinstance(front, dict):
        raise ValueError("the front matter must be a map of field: value")
    return front, "".join(lines[closing + 1 :])


def parse_announcement_file(path: Path) -> AnnouncementCreate:
    try:
        front, body = split_front_matter(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AnnouncementFileError(path, [str(exc)]) from None
    if "body" in front:
        raise AnnouncementFileError(path, ["body: write it below the front matter, not in it"])
    front.setdefault("slug", path.stem.lower())
    try:
        return AnnouncementCreate.model_validate({**front, "body": body.strip("\n")})
    except ValidationError as exc:
        problems = [
            f"{error['field']}: {error['message']}"
            for error in field_errors_from_pydantic(exc.errors())
        ]
        raise AnnouncementFileError(path, problems) from None
