"""The announcement editor's form: HTML inputs to the API's fields and back, and the API's
field errors onto the inputs they are about. No rule lives here: the schemas and the
service validate, exactly as for the API; this only translates names and text formats."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.announcements.schemas import AnnouncementPublic
from app.console.audience_rows import Row, condition_of, rows_of
from app.errors import FieldError, field_errors_from_pydantic
from app.kit.locales import normalize_locale

LOCAL_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows
TEXT_INPUTS = (
    "title",
    "body",
    "slug",
    "category",
    "image_url",
    "cta_label",
    "cta_url",
    "display",
    "frequency",
    "priority",
    "publish_at",
    "expire_at",
    "schedule_tz",
    "audience_condition",
    "audience_rollout",
    "audience_pages",
)
FLAGS = ("pinned", "public")
MAX_TRANSLATIONS = 50
MAX_ROWS = 50


class EditorForm:
    """What the author typed (``values``, for showing again) and what it means (``fields``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.fields: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    @classmethod
    def blank(cls, tz: str = "UTC") -> "EditorForm":
        values: dict[str, Any] = {name: "" for name in TEXT_INPUTS}
        values.update(
            category="announcement",
            display="feed",
            frequency="until_dismissed",
            priority="0",
            schedule_tz=tz,
            pinned=False,
            public=False,
            audience_segments=[],
            translations=[],
            condition_rows=[],
            condition_rows_from=_canonical(None),
            rows_unavailable=False,
        )
        return cls(values)

    @classmethod
    def of(cls, announcement: AnnouncementPublic, tz: str = "UTC") -> "EditorForm":
        zone = _zone(tz) or ZoneInfo("UTC")
        audience = announcement.audience
        condition = audience.condition
        values: dict[str, Any] = {
            "title": announcement.title,
            "body": announcement.body,
            "slug": announcement.slug or "",
            "category": announcement.category,
            "image_url": announcement.image_url or "",
            "cta_label": announcement.cta.label if announcement.cta else "",
            "cta_url": announcement.cta.url if announcement.cta else "",
            "display": announcement.display.value,
            "frequency": announcement.frequency.value,
            "priority": str(announcement.priority),
            "publish_at": _local(announcement.publish_at, zone),
            "expire_at": _local(announcement.expire_at, zone),
            "schedule_tz": zone.key,
            "audience_condition": _pretty_json(condition) if condition else "",
            "audience_rollout": "" if audience.rollout is None else f"{audience.rollout:g}",
            "audience_pages": "\n".join(audience.pages),
            "audience_segments": list(audience.segments),
            "pinned": announcement.pinned,
            "public": announcement.public,
            "translations": [
                {"locale": locale, "title": text.title, "body": text.body}
                for locale, text in announcement.translations.items()
            ],
        }
        editor = cls(values)
        editor._show_rows(condition)
        editor._interpret()
        return editor

    def _show_rows(self, condition: dict[str, Any] | None) -> None:
        """Show ``condition`` as rows when rows can say it, and note what they were made of."""
        rows = rows_of(condition)
        self.values["rows_unavailable"] = rows is None
        self.values["condition_rows"] = [vars(row) for row in rows or []]
        self.values["condition_rows_from"] = _canonical(condition) if rows is not None else ""

    @classmethod
    def read(cls, form: FormData) -> "EditorForm":
        """The submitted form: values as typed, fields as the API names them."""
        values: dict[str, Any] = {name: _text(form, name) for name in TEXT_INPUTS}
        values.update({flag: form.get(flag) == "on" for flag in FLAGS})
        values["audience_segments"] = [
            value for value in form.getlist("audience_segments") if isinstance(value, str)
        ][:20]
        rows = (
            {
                "locale": _text(form, f"tr_locale_{index}").strip(),
                "title": _text(form, f"tr_title_{index}"),
                "body": _text(form, f"tr_body_{index}"),
            }
            for index in range(MAX_TRANSLATIONS + 1)
            if f"tr_locale_{index}" in form
        )
        # A row left blank (the one offered for a new language) is no translation.
        values["translations"] = [row for row in rows if any(row.values())]
        editor = cls(values)
        editor._take_rows_or_json(form)
        editor._interpret()
        return editor

    def _take_rows_or_json(self, form: FormData) -> None:
        """The condition comes from the rows, unless the raw JSON was edited since the page
        showed them (or rows could not show it): then from the JSON."""
        rows = [
            Row(
                _text(form, f"cond_attr_{index}", 200),
                _text(form, f"cond_op_{index}", 10),
                _text(form, f"cond_value_{index}", 2000),
            )
            for index in range(MAX_ROWS)
            if f"cond_attr_{index}" in form
        ]
        shown_from = _text(form, "condition_rows_from", 20_000)
        typed = self.values["audience_condition"]
        if form.get("condition_source") == "rows" and _canonical_text(typed) == shown_from:
            condition = condition_of(rows)
            self.values["audience_condition"] = _pretty_json(condition) if condition else ""
            self._show_rows(condition)
            return
        try:
            parsed = orjson.loads(typed) if typed.strip() else None
        except orjson.JSONDecodeError:
            self.values["rows_unavailable"] = True  # the JSON's error is shown by it
            self.values["condition_rows"] = []
            self.values["condition_rows_from"] = ""
            return
        self._show_rows(parsed if isinstance(parsed, dict) else None)

    def _interpret(self) -> None:
        v = self.values
        fields: dict[str, Any] = {
            "title": v["title"],
            "body": v["body"],
            "slug": v["slug"].strip() or None,
            "category": v["category"].strip(),
            "image_url": v["image_url"].strip() or None,
            "display": v["display"],
            "frequency": v["frequency"],
            "pinned": v["pinned"],
            "public": v["public"],
        }
        label, url = v["cta_label"].strip(), v["cta_url"].strip()
        fields["cta"] = {"label": label, "url": url} if label or url else None
        try:
            fields["priority"] = int(v["priority"].strip() or "0")
        except ValueError:
            self.errors["priority"] = "must be a whole number"
        zone = _zone(v["schedule_tz"].strip() or "UTC")
        if zone is None:
            self.errors["schedule_tz"] = "is not an IANA time zone (e.g. Europe/Berlin)"
        for name in ("publish_at", "expire_at"):
            fields[name] = self._moment(name, zone)
        fields["audience"] = self._audience()
        translations: dict[str, Any] = {}
        for index, row in enumerate(v["translations"]):
            if not row["locale"]:
                self.errors[f"tr_locale_{index}"] = "name the language (e.g. de or pt-BR)"
            translations[row["locale"]] = {"title": row["title"], "body": row["body"]}
        fields["translations"] = translations
        self.fields = fields

    def _moment(self, name: str, zone: ZoneInfo | None) -> datetime | None:
        text = self.values[name].strip()
        if not text:
            return None
        try:
            moment = datetime.strptime(text[:16], LOCAL_MINUTE)
        except ValueError:
            self.errors[name] = "must be a date and time (2026-12-24T09:00)"
            return None
        return moment.replace(tzinfo=zone) if zone else None

    def _audience(self) -> dict[str, Any]:
        v = self.values
        audience: dict[str, Any] = {
            "segments": v["audience_segments"],
            "pages": [line.strip() for line in v["audience_pages"].splitlines() if line.strip()],
        }
        condition_text = v["audience_condition"].strip()
        if condition_text:
            try:
                audience["condition"] = orjson.loads(condition_text)
            except orjson.JSONDecodeError:
                self.errors["audience_condition"] = "is not valid JSON"
        rollout = v["audience_rollout"].strip().rstrip("%")
        if rollout:
            try:
                audience["rollout"] = float(rollout)
            except ValueError:
                self.errors["audience_rollout"] = "must be a number from 0 to 100"
        return audience

    def validated(self, model: type[BaseModel]) -> BaseModel | None:
        """The fields as the API's schema reads them; ``None`` with ``errors`` set if not."""
        if self.errors:
            return None
        try:
            return model.model_validate(self.fields)
        except ValidationError as exc:
            self.add_errors(field_errors_from_pydantic(exc.errors()))
            return None

    def add_errors(self, errors: Sequence[FieldError]) -> None:
        """Put the API's field errors next to the inputs they are about."""
        for error in errors:
            name = self._input_for(error["field"])
            self.errors.setdefault(name, error["message"])

    def _input_for(self, field: str) -> str:
        head, _, rest = field.partition(".")
        head = head.split("[", 1)[0]
        if head == "cta":
            return "cta_url" if rest.startswith("url") else "cta_label"
        if head == "audience":
            part = rest.split("[", 1)[0].split(".", 1)[0]
            return (
                f"audience_{part}"
                if part in ("segments", "rollout", "pages")
                else ("audience_condition")
            )
        if head == "translations":
            locale, _, what = rest.partition(".")
            for index, row in enumerate(self.values["translations"]):
                if row["locale"] == locale or _normalized(row["locale"]) == locale:
                    return (
                        f"tr_{what}_{index}"
                        if what in ("title", "body")
                        else (f"tr_locale_{index}")
                    )
            return "translations"
        return head if head in TEXT_INPUTS or head in FLAGS else "form"


def what_to_fix(errors: Sequence[FieldError]) -> str:
    """Field errors as the one sentence a form's alert shows: "url: ...; kind: ..."."""
    return "; ".join(f"{error['field']}: {error['message']}" for error in errors)


def differences(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """The inputs whose values differ between two forms (a 412's "what changed")."""
    names = [*TEXT_INPUTS, *FLAGS, "audience_segments", "translations"]
    return [name for name in names if mine.get(name) != theirs.get(name) and name != "schedule_tz"]


def _text(form: FormData, name: str, max_length: int = 60_000) -> str:
    value = form.get(name)
    # Browsers send line breaks as CRLF; the API stores what an editor would: LF.
    return value[:max_length].replace("\r\n", "\n") if isinstance(value, str) else ""


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime(LOCAL_MINUTE) if moment else ""


def _canonical(condition: dict[str, Any] | None) -> str:
    return orjson.dumps(condition or {}, option=orjson.OPT_SORT_KEYS).decode()


def _canonical_text(text: str) -> str:
    try:
        parsed = orjson.loads(text) if text.strip() else {}
    except orjson.JSONDecodeError:
        return text
    return _canonical(parsed) if isinstance(parsed, dict) else text


def _pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def _normalized(locale: str) -> str:
    try:
        return normalize_locale(locale)
    except ValueError:
        return locale
